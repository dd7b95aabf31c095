"""Plain text tables for the commands' reports."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def format_table(rows: Mapping[str, Mapping[str, Any]], columns: tuple[str, ...]) -> str:
    """A plain text table: one row per name, one column per key, numbers with 2 decimals."""
    header = ["", *columns]
    body = [[name, *(_cell(r.get(c)) for c in columns)] for name, r in rows.items()]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(line, widths)) for line in [header, *body]]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
