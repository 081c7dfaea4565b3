"""Schema migrations: piccolo's, run from the product's own CLI."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import Finder

from csms.storage.database import prepare_database

# In dependency order: the CRM's tables come before the ones that refer to
# them, billing's after the sessions and stations it prices.
APPS = ("crm", "csms", "billing")


class MigrationError(RuntimeError):
    pass


async def pending_migrations() -> list[str]:
    """``app:migration_id`` of every migration not yet applied."""
    manager = BaseMigrationManager()
    await manager.create_migration_table()
    finder = Finder()
    pending = []
    for app_name in APPS:
        app_config = finder.get_app_config(app_name)
        modules = manager.get_migration_modules(app_config.resolved_migrations_folder_path)
        applied = set(await Migration.get_migrations_which_ran(app_name=app_name))
        pending += [f"{app_name}:{m}" for m in sorted(modules) if m not in applied]
    return pending


async def migrate() -> list[str]:
    """Applies every pending migration; returns what it applied."""
    await prepare_database()
    todo = await pending_migrations()
    for app_name in APPS:
        chatter = io.StringIO()
        with contextlib.redirect_stdout(chatter):
            result = await run_forwards(app_name=app_name)
        if not result.success:
            raise MigrationError(
                f"migrating {app_name} failed: {result.message}\n{chatter.getvalue()}"
            )
    return todo
