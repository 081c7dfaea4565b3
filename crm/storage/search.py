"""Case-insensitive "contains" filters for list endpoints, on both databases."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw


def _escaped(text: str) -> str:
    # A user's % or _ is a character to find, not a wildcard.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def icontains(column: Column, text: str) -> Any:
    pattern = f"%{_escaped(text)}%"
    if column._meta.engine_type == "sqlite":
        # SQLite's LIKE ignores ASCII case already (piccolo warns on ILIKE),
        # but knows no escape character unless told.
        return WhereRaw(
            f"{column._meta.get_full_name(with_alias=False)} LIKE {{}} ESCAPE '\\'", pattern
        )
    return column.ilike(pattern)
