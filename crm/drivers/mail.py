"""Mail to drivers: the default sender keeps it in the outbox table and
logs that it did (never the body: it holds tokens); the SMTP sender sends
it (``CSMS_APP_SMTP_*``)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from crm.clock import utcnow
from crm.drivers.model import Mail

log = logging.getLogger(__name__)


class Outbox(Protocol):
    async def add_mail(self, mail: Mail, now: datetime) -> int: ...


@dataclass(slots=True)
class OutboxSender:
    """Writes each mail to the outbox table (a relay or an operator takes it
    from there) and logs the fact, without the body."""

    outbox: Outbox
    clock: Callable[[], datetime] = utcnow

    async def send(self, mail: Mail) -> None:
        mail_id = await self.outbox.add_mail(mail, self.clock())
        log.info("mail %s (%s) queued in the outbox as %d", mail.kind, mail.subject, mail_id)


@dataclass(slots=True)
class SmtpSender:
    """Sends through an SMTP server (STARTTLS unless ``starttls`` is off),
    in a thread."""

    host: str
    port: int = 587
    sender: str = "noreply@localhost"
    user: str = ""
    password: str = ""
    starttls: bool = True
    timeout: float = 10.0

    def _send_now(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(message)

    async def send(self, mail: Mail) -> None:
        await asyncio.to_thread(self._send_now, mail)
        log.info("mail %s (%s) sent through %s", mail.kind, mail.subject, self.host)
