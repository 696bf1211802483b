"""Customer names and e-mail addresses kept out of prompts: each replaced by a placeholder
before the call and put back in what the model wrote, so the owner reads the real ones."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Redactor:
    """One call's placeholders: `[CUSTOMER_1]` for each name given, `[EMAIL_1]` for each address
    found. `hide` text going out, `restore` text coming back."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = sorted({n.strip() for n in names if n and len(n.strip()) > 1}, key=len)[::-1]
        self.hidden: dict[str, str] = {}

    def _holder(self, real: str, kind: str) -> str:
        for holder, known in self.hidden.items():
            if known.casefold() == real.casefold():
                return holder
        holder = f"[{kind}_{sum(h.startswith(f'[{kind}_') for h in self.hidden) + 1}]"
        self.hidden[holder] = real
        return holder

    def hide(self, text: str) -> str:
        text = EMAIL.sub(lambda m: self._holder(m.group(), "EMAIL"), text)
        for name in self.names:
            holder = self._holder(name, "CUSTOMER")
            text = re.sub(re.escape(name), holder.replace("\\", "\\\\"), text, flags=re.I)
        return text

    def restore(self, value: Any) -> Any:
        """`value` (text, or lists and dicts of it) with the placeholders replaced back."""
        if isinstance(value, str):
            for holder, real in self.hidden.items():
                value = value.replace(holder, real)
            return value
        if isinstance(value, list):
            return [self.restore(v) for v in value]
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        return value
