"""Telling a uniqueness violation apart from other database errors, on both
SQLite and PostgreSQL, so a race between two creators still ends in a 409
rather than a 500."""

from __future__ import annotations


def is_unique_violation(error: BaseException) -> bool:
    name = type(error).__name__
    if name == "UniqueViolationError":  # asyncpg
        return True
    return name == "IntegrityError" and "UNIQUE" in str(error).upper()


def is_reference_violation(error: BaseException) -> bool:
    """A row is still referred to by a foreign key."""
    name = type(error).__name__
    if name == "ForeignKeyViolationError":  # asyncpg
        return True
    return name == "IntegrityError" and "FOREIGN KEY" in str(error).upper()
