"""Named parameters for asyncpg, which speaks only positional `$n`.

A statement is written with `:name` placeholders and turned into `$n` text once, at import; its
arguments are then taken from a mapping of names to values, in that order, so a new column is
one line in the SQL and one entry where its values are gathered. `::type` casts are left as
they are. No SQL is composed from input: the text is the module's constant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL text with `$n` placeholders, and the parameter name of each `n` (from 1)."""

    text: str
    names: tuple[str, ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """The arguments in `$n` order, from a mapping of the names to their values."""
        return [values[name] for name in self.names]


def statement(sql: str) -> Statement:
    """Number the `:name` placeholders of `sql` in order of first use; a name used twice is one
    parameter."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return Statement(_NAME.sub(number, sql), tuple(names))
