"""The drivers' app API: mail through SMTP when configured, and rate limits
that hold across nodes when they count in Redis."""

from __future__ import annotations

import os
import secrets
import socketserver
import threading
from collections.abc import Iterator

import pytest

from admin_ui.app_api.limits import limiter_for
from crm.drivers.mail import SmtpSender
from crm.drivers.model import Mail
from tests.drivers_app_helpers import (
    APP,
    PASSWORD,
    app_context,
    drivers_client,
    entity_with_code,
    mails,
    registration,
    unique_email,
)

REDIS_URL = os.environ.get("CSMS_REDIS_URL", "")


class SmtpSink:
    """Just enough of an SMTP server, on a thread of its own (the app may
    send from another thread's loop), to take messages."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        sink = self

        class Session(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                def say(line: str) -> None:
                    self.wfile.write(f"{line}\r\n".encode())

                say("220 sink")
                sender, recipients = "", []
                while line := self.rfile.readline().decode().rstrip("\r\n"):
                    verb = line.split(" ", 1)[0].upper()
                    if verb == "MAIL":
                        sender = line.split(":", 1)[1].strip("<> ")
                    elif verb == "RCPT":
                        recipients.append(line.split(":", 1)[1].strip("<> "))
                    elif verb == "DATA":
                        say("354 go on")
                        body = []
                        while (data := self.rfile.readline().decode()) != ".\r\n":
                            body.append(data)
                        sink.messages.append((sender, recipients, "".join(body)))
                    elif verb == "QUIT":
                        say("221 bye")
                        return
                    say("250 ok")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


async def test_the_smtp_sender_sends_the_mail(smtp: SmtpSink) -> None:
    """SmtpSender hands the mail to the server: sender, recipient, subject
    and body."""
    sender = SmtpSender(host="127.0.0.1", port=smtp.port, sender="app@csms.example", starttls=False)
    await sender.send(
        Mail(recipient="erika@example.com", kind="verify", subject="Hello", body="the code")
    )
    ((frm, to, data),) = smtp.messages
    assert (frm, to) == ("app@csms.example", ["erika@example.com"])
    assert "Subject: Hello" in data and "the code" in data


async def test_with_an_smtp_host_registration_mail_goes_there_not_to_the_outbox(
    db: None, smtp: SmtpSink
) -> None:
    """CSMS_APP_SMTP_HOST set: the verification mail is sent by SMTP and
    the outbox stays empty."""
    _, code = await entity_with_code()
    email = unique_email()
    context = app_context(
        app_smtp_host="127.0.0.1", app_smtp_port=smtp.port, app_smtp_starttls=False
    )
    async with drivers_client(context) as client:
        answer = await client.post(f"{APP}/registrations", json=registration(code, email))
    assert answer.status_code == 202
    assert [to for _, to, _ in smtp.messages] == [[email]]
    assert await mails(email) == []


@pytest.mark.skipif(not REDIS_URL, reason="CSMS_REDIS_URL is not set")
async def test_limits_counted_in_redis_hold_across_nodes(db: None) -> None:
    """Two nodes (app contexts) sharing Redis share the count: attempts on
    one use up the allowance on the other."""
    prefix = os.environ["CSMS_REDIS_PREFIX"] + f"app-{secrets.token_hex(6)}:"
    first, second = app_context(app_rate_limit=2), app_context(app_rate_limit=2)
    first.limiter = limiter_for(REDIS_URL, prefix)
    second.limiter = limiter_for(REDIS_URL, prefix)
    email = unique_email()
    body = {"email": email, "password": PASSWORD}
    async with drivers_client(first) as a:
        answers = [(await a.post(f"{APP}/login", json=body)).status_code for _ in range(2)]
    async with drivers_client(second) as b:
        answers.append((await b.post(f"{APP}/login", json=body)).status_code)
    assert answers == [401, 401, 429]
