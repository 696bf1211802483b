"""Refusals: the user asked for something ownit will not do; nothing is written."""


class Refusal(Exception):
    """A specific, user-facing reason; raising it rolls the transaction back."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class NotFound(Refusal):
    pass


class NotAllowed(Refusal):
    pass
