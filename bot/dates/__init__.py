"""The pieces behind `bot.deadlines`: how a refusal is worded, days and clock times in a
calendar, the working-time words ("4h", "eod", "fri 3pm") and the calendar dates ("24 Nov",
"2026-11-24"). Callers use `bot.deadlines`; these modules only serve it."""
