"""What the operators' API and pages need from the running system, handed
over by the composition root (``csms.bootstrap``) so that this package
imports no node and no storage.

The storage behind the services comes in as :class:`StoragePorts`: each
field typed by the port its service declares (``csms.domain``,
``billing``, ``crm``), made by ``csms.bootstrap.storage_ports``. An app
built without a node (tests of the API, tools) gets the root's default
ports on first use of :class:`ApiContext`; ``admin_ui`` never imports
``csms.storage``, ``crm.storage``, ``billing.storage`` or piccolo itself
(``tests/unit/test_layering.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from billing.ports import BillingStore, Directory
from billing.runs.service import BillingRuns
from billing.services.cdrs import CdrStore
from billing.services.layouts import LayoutStore
from billing.services.reports import ReportStore
from billing.tariffs.ports import TariffStore
from crm.access import Visibility
from crm.audit import AuditEntry, AuditFilter, AuditRecord
from crm.changes import CrmChangeListener, IgnoreChanges
from crm.drivers.service import DriverAccounts
from crm.services.auth import AuthService
from csms.commands.service import CommandService
from csms.domain.device_model import DeviceModelStore
from csms.domain.files import FileService
from csms.domain.local_list import LocalListService
from csms.domain.ports import StaleSessionStore
from csms.domain.sessions_view import SessionsViewStore
from csms.domain.station_admin import (
    IgnoreStationChanges,
    ProfileCache,
    StationChangeListener,
    StationStore,
)
from csms.domain.station_security import SecurityStore, StationSecurity
from csms.domain.views import MeterValueView

# A session's meter values (its transaction id), for the pages' charts.
MeterReader = Callable[[int], Awaitable[list[MeterValueView]]]
# A station's latest OCPP messages (its charge point id, limit=N), oldest first.
MessageReader = Callable[..., Awaitable[list[Any]]]


class AuditLog(Protocol):
    """Where operator changes are kept (``crm.audit``): written by the
    audit trail, read by GET /audit-log."""

    async def add(self, record: AuditRecord, at: datetime) -> None: ...

    async def page(
        self, visibility: Visibility, where: AuditFilter, *, limit: int, offset: int
    ) -> tuple[list[AuditEntry], int]: ...


class CdrReports(CdrStore, ReportStore, Protocol):
    """CDRs, read one by one and summed up in reports."""


@dataclass(slots=True)
class BillingStores:
    """Billing runs' storage; ``close`` releases its connections."""

    store: BillingStore
    directory: Directory
    close: Callable[[], Awaitable[None]]


@dataclass(slots=True)
class StoragePorts:
    """The storage of every service the API and the pages call."""

    stations: StationStore
    sessions: SessionsViewStore
    device_model: DeviceModelStore
    security: SecurityStore
    audit_log: AuditLog
    cdrs: CdrReports
    tariffs: TariffStore
    layouts: LayoutStore
    meter_values: MeterReader
    message_log: MessageReader
    stale_sessions: StaleSessionStore
    # Billing runs' stores, made on first use (they hold connections).
    billing: Callable[[], BillingStores]


def default_ports() -> StoragePorts:
    """The composition root's storage, for an app built without a node."""
    from csms.bootstrap import storage_ports

    return storage_ports()


@dataclass(slots=True)
class ApiContext:
    auth: AuthService = field(default_factory=AuthService)
    crm_changes: CrmChangeListener = field(default_factory=IgnoreChanges)
    station_changes: StationChangeListener = field(default_factory=IgnoreStationChanges)
    # The storage behind the services (the composition root's).
    ports: StoragePorts = field(default_factory=default_ports)
    # The stale-session rule's inactivity limit (CSMS_STALE_SESSION_HOURS).
    stale_session_hours: int = 24
    # The gateway's cache of station profiles (None: no gateway here).
    station_profiles: ProfileCache | None = None
    # The node's security service (profiles, secrets, certificates).
    security: StationSecurity | None = None
    # Remote commands (a node without a gateway answers NotConnected).
    commands: CommandService = field(default_factory=CommandService)
    # Local authorisation lists and hosted files (firmware, chargers' uploads).
    local_lists: LocalListService | None = None
    files: FileService | None = None
    # Billing runs, CDRs and documents.
    billing: BillingRuns | None = None
    # Drivers' accounts (registration codes for operators; the app API).
    drivers: DriverAccounts | None = None

    def billing_runs(self) -> BillingRuns:
        """The node's billing runs, or runs on the root's stores (made once)."""
        if self.billing is None:
            stores = self.ports.billing()
            self.billing = BillingRuns(stores.store, stores.directory)
        return self.billing
