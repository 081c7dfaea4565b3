"""Builds the drivers' app API's context from the settings and the storage
the composition root (``csms.bootstrap.driver_app_ports``) chose: the part
of the root that concerns the app, kept here so that the node's module
stays small. Only the composition root and tests call it; it imports no
storage (without ``ports`` it asks the root for its default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from admin_ui.app_api.context import AppContext
from admin_ui.app_api.limits import limiter_for
from admin_ui.app_api.service import CdrFacts, Documents, DriverCharging
from billing.documents.model import from_json
from billing.ports import Directory, IssuedDocument
from billing.tariffs.lookup import TariffLookup
from crm.changes import CrmChangeListener, IgnoreChanges
from crm.drivers.mail import Outbox, OutboxSender, SmtpSender
from crm.drivers.ports import DriverStore, MailSender
from crm.drivers.service import DriverAccounts
from csms.commands.service import CommandService
from csms.domain.access_rules import StationAccessSource
from csms.domain.driver_app import DriverAppReads
from csms.settings import Settings


class DriverRecords(DriverStore, Outbox, Protocol):
    """Drivers' accounts and the mail outbox (one store)."""


@dataclass(slots=True)
class DriverAppPorts:
    """The storage behind the drivers' app, as the services' ports."""

    drivers: DriverRecords
    reads: DriverAppReads
    access: StationAccessSource
    tariffs: TariffLookup
    directory: Directory
    cdrs: CdrFacts
    documents: Documents
    # What closes the stores' connections.
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def _pdf(document: IssuedDocument) -> bytes:
    from billing.documents.pdf import render_pdf  # slow to import: as BillingRuns.pdf

    return render_pdf(from_json(document.content))


def mailer(settings: Settings, store: Outbox) -> MailSender:
    if settings.app_smtp_host:
        return SmtpSender(
            host=settings.app_smtp_host,
            port=settings.app_smtp_port,
            sender=settings.app_smtp_from,
            user=settings.app_smtp_user,
            password=settings.app_smtp_password,
            starttls=settings.app_smtp_starttls,
        )
    return OutboxSender(store)


def drivers_app(
    settings: Settings,
    *,
    ports: DriverAppPorts | None = None,
    commands: CommandService | None = None,
    changes: CrmChangeListener | None = None,
    engine: Any = None,
) -> AppContext:
    if ports is None:
        from csms.bootstrap import driver_app_ports

        ports = driver_app_ports(engine)
    store = ports.drivers
    accounts = DriverAccounts(
        store=store,
        mailer=mailer(settings, store),
        changes=changes or IgnoreChanges(),
        password_strength=settings.password_hashing,
        access_minutes=settings.app_access_minutes,
        refresh_days=settings.app_refresh_days,
    )
    charging = DriverCharging(
        reads=ports.reads,
        access=ports.access,
        tariffs=ports.tariffs,
        directory=ports.directory,
        cdrs=ports.cdrs,
        documents=ports.documents,
        render_pdf=_pdf,
        commands=commands or CommandService(),
    )
    return AppContext(
        accounts=accounts,
        charging=charging,
        limiter=limiter_for(settings.redis_url, f"{settings.redis_prefix}app:"),
        rate_limit=settings.app_rate_limit,
        rate_window=settings.app_rate_window,
        closers=list(ports.closers),
    )
