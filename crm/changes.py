"""How the CRM tells the rest of the system that something authorisation
depends on has changed.

``crm`` must not import ``csms`` (the dependency points the other way), so it
announces changes through this small interface; the composition root
connects it to the message bus, whose subscribers (the authorisation caches
of every node) drop what they hold.
"""

from __future__ import annotations

from typing import Protocol


class CrmChangeListener(Protocol):
    def media_changed(self, uids: frozenset[str]) -> None:
        """These media were added, edited, blocked or removed."""
        ...

    def entities_changed(self) -> None:
        """The entity tree changed (an entity was added, moved or deactivated)."""
        ...


class IgnoreChanges:
    """For tools that change the CRM with nothing running to tell (tests,
    the CLI of a stopped system)."""

    def media_changed(self, uids: frozenset[str]) -> None:
        return None

    def entities_changed(self) -> None:
        return None


class RecordedChanges:
    """Keeps what was announced; the in-memory twin for tests."""

    def __init__(self) -> None:
        self.media: list[frozenset[str]] = []
        self.entity_changes = 0

    def media_changed(self, uids: frozenset[str]) -> None:
        self.media.append(uids)

    def entities_changed(self) -> None:
        self.entity_changes += 1
