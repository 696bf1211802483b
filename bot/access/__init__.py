"""Who sees and does what, decided in one place (docs/SECURITY.md).

The command service asks `authorize` once, before any command runs, with the `Need` the command
states; services themselves keep no permission checks. `admit` decides who counts as a person.
"""

from __future__ import annotations

from bot.access.decide import Grant, authorize
from bot.access.membership import admit, full_member, outsider
from bot.access.needs import Capability, Need
from bot.access.notice import tell_owner

__all__ = [
    "Capability",
    "Grant",
    "Need",
    "admit",
    "authorize",
    "full_member",
    "outsider",
    "tell_owner",
]
