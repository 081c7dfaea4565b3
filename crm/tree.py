"""The entity tree as a value: who is whose parent, computed in memory.

Entities number in the hundreds or thousands, so the whole tree is read in
one query (id, parent) and every question about it (descendants, ancestors,
may this entity move there) is answered here, free of I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from crm.errors import InvalidInput


class TreeError(InvalidInput):
    """A change that would break the tree (a cycle, an unknown parent)."""


class EntityTree:
    """Parent links of every entity; ``None`` is the parent of a root."""

    __slots__ = ("_children", "_parents")

    def __init__(self, parents: Mapping[int, int | None]) -> None:
        self._parents = dict(parents)
        self._children: dict[int, list[int]] = {}
        for child, parent in self._parents.items():
            if parent is not None:
                self._children.setdefault(parent, []).append(child)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int | None]]) -> EntityTree:
        return cls(dict(rows))

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._parents

    def __len__(self) -> int:
        return len(self._parents)

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(self._parents)

    def parent(self, entity_id: int) -> int | None:
        return self._parents[entity_id]

    def children(self, entity_id: int) -> list[int]:
        return list(self._children.get(entity_id, ()))

    def subtree(self, entity_id: int) -> frozenset[int]:
        """The entity and all its descendants (empty if it is unknown)."""
        if entity_id not in self._parents:
            return frozenset()
        found = {entity_id}
        todo = [entity_id]
        while todo:
            for child in self._children.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return frozenset(found)

    def ancestors(self, entity_id: int) -> list[int]:
        """Parent, grandparent, ... up to the root."""
        chain: list[int] = []
        current = self._parents.get(entity_id)
        while current is not None and current not in chain:
            chain.append(current)
            current = self._parents.get(current)
        return chain

    def is_in_subtree(self, entity_id: int, root_id: int) -> bool:
        """Whether ``entity_id`` is ``root_id`` or one of its descendants."""
        return entity_id == root_id or root_id in self.ancestors(entity_id)

    def check_move(self, entity_id: int, new_parent_id: int | None) -> None:
        """TreeError unless ``entity_id`` may hang under ``new_parent_id``."""
        if new_parent_id is None:
            return
        if new_parent_id not in self._parents:
            raise TreeError(f"there is no entity {new_parent_id}")
        if self.is_in_subtree(new_parent_id, entity_id):
            if new_parent_id == entity_id:
                raise TreeError("an entity cannot be its own parent")
            raise TreeError(
                f"entity {entity_id} cannot move under entity {new_parent_id}: "
                "that is one of its own descendants"
            )

    def moved(self, entity_id: int, new_parent_id: int | None) -> EntityTree:
        self.check_move(entity_id, new_parent_id)
        parents = dict(self._parents)
        parents[entity_id] = new_parent_id
        return EntityTree(parents)
