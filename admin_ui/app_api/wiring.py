"""Builds the drivers' app API's context from the settings: the part of the
composition root (``csms.bootstrap``) that concerns the app, kept here so
that the node's module stays small. Only the composition root and tests
call it."""

from __future__ import annotations

from typing import Any

from admin_ui.app_api.context import AppContext
from admin_ui.app_api.limits import limiter_for
from admin_ui.app_api.service import DriverCharging
from billing.documents.model import from_json
from billing.documents.pdf import render_pdf
from billing.ports import IssuedDocument
from billing.storage.cdrs import PiccoloCdrs
from billing.storage.runs import SqlBillingStore
from billing.storage.sources import SqlDirectory
from billing.storage.tariffs import PiccoloTariffLookup
from crm.changes import CrmChangeListener, IgnoreChanges
from crm.drivers.mail import OutboxSender, SmtpSender
from crm.drivers.ports import MailSender
from crm.drivers.service import DriverAccounts
from crm.storage.drivers import PiccoloDriverStore
from csms.commands.service import CommandService
from csms.settings import Settings
from csms.storage.access import PiccoloStationAccessSource
from csms.storage.driver_app import PiccoloDriverAppReads


def _pdf(document: IssuedDocument) -> bytes:
    return render_pdf(from_json(document.content))


def mailer(settings: Settings, store: PiccoloDriverStore) -> MailSender:
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
    commands: CommandService | None = None,
    changes: CrmChangeListener | None = None,
    engine: Any = None,
) -> AppContext:
    store = PiccoloDriverStore()
    accounts = DriverAccounts(
        store=store,
        mailer=mailer(settings, store),
        changes=changes or IgnoreChanges(),
        password_strength=settings.password_hashing,
        access_minutes=settings.app_access_minutes,
        refresh_days=settings.app_refresh_days,
    )
    directory = SqlDirectory(engine)
    documents = SqlBillingStore(engine)
    charging = DriverCharging(
        reads=PiccoloDriverAppReads(),
        access=PiccoloStationAccessSource(),
        tariffs=PiccoloTariffLookup(),
        directory=directory,
        cdrs=PiccoloCdrs(),
        documents=documents,
        render_pdf=_pdf,
        commands=commands or CommandService(),
    )
    return AppContext(
        accounts=accounts,
        charging=charging,
        limiter=limiter_for(settings.redis_url),
        rate_limit=settings.app_rate_limit,
        rate_window=settings.app_rate_window,
        closers=[directory.close, documents.close],
    )
