import pytest

async def test_x(bot) -> None:
    print(await bot.say("/case open Acme: invoice 1043 charged twice promise tomorrow 17:00"))
    print(await bot.say("/case ask C-1 @dana was invoice 1042 charged twice?"))
    print(await bot.say("/case answer R-1 yes, refunded", as_="dana"))
    print(await bot.say("/case ask C-1 was invoice 1043 charged twice? by tomorrow 12:00", as_="alex"))
    out = await bot.say("/case confirm 2", as_="jo")
    print(out)
    out = await bot.say("/case confirm 2", as_="alex")
    print(out)
    print(await bot.say("/case confirm 2", as_="alex"))
    print(await bot.say("could you ask billing whether it was charged twice", as_="alex"))
    print(await bot.say("could you ask billing whether it was charged twice", as_="alex"))
