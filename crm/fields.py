"""Field-level access: the fields a user's groups hide are taken out of an
answer when its struct is built, so the API, the UI and exports all leave
them out the same way.

A hideable field (see :data:`crm.access.HIDEABLE_FIELDS`) is declared on its
answer struct as ``T | msgspec.UnsetType = msgspec.UNSET``; UNSET fields are
not encoded at all, so a hidden field is absent, not null.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


def without_hidden(item: S, hidden: frozenset[str]) -> S:
    """``item`` with every hidden field unset."""
    if not hidden:
        return item
    present = [name for name in item.__struct_fields__ if name in hidden]
    if not present:
        return item
    return msgspec.structs.replace(item, **dict.fromkeys(present, msgspec.UNSET))
