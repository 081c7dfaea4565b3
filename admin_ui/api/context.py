"""What the operators' API needs from the running system, handed over by the
composition root (``csms.bootstrap``) so that the API imports no node."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.runs.service import BillingRuns
from crm.changes import CrmChangeListener, IgnoreChanges
from crm.drivers.service import DriverAccounts
from crm.services.auth import AuthService
from csms.commands.service import CommandService
from csms.domain.files import FileService
from csms.domain.local_list import LocalListService
from csms.domain.station_admin import IgnoreStationChanges, StationChangeListener
from csms.domain.station_security import StationSecurity


@dataclass(slots=True)
class ApiContext:
    auth: AuthService = field(default_factory=AuthService)
    crm_changes: CrmChangeListener = field(default_factory=IgnoreChanges)
    station_changes: StationChangeListener = field(default_factory=IgnoreStationChanges)
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
