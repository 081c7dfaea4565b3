"""Settings read once from ``CSMS_*`` environment variables.

Operators' scripts rely on these names: add new ones, never rename old ones.
Every setting is documented in the README's configuration table.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal, get_args

UnknownStationPolicy = Literal["reject", "pending", "accept"]

DEFAULT_DATABASE_URL = "sqlite:///var/csms.sqlite"


class SettingsError(ValueError):
    """A ``CSMS_*`` variable holds a value the product cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    # Every Redis key and pub/sub channel of this installation starts with
    # it, so several installations (staging beside production, parallel test
    # runs) can share one Redis without seeing each other's stations.
    redis_prefix: str = "csms:"
    ocpp_host: str = "0.0.0.0"
    ocpp_port: int = 9000
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    heartbeat_interval: int = 300
    unknown_stations: UnknownStationPolicy = "reject"
    log_level: str = "INFO"
    # A station silent for 2 x heartbeat_interval + offline_grace seconds is
    # marked offline and its socket closed.
    offline_grace: int = 60
    # WebSocket keepalive: a ping every ping_interval seconds; no pong within
    # ping_timeout closes the socket. 0 disables pings.
    ping_interval: float = 60.0
    ping_timeout: float = 30.0
    # Listen backlog: thousands of chargers reconnect at once after a restart.
    ocpp_backlog: int = 16384
    # Several gateway processes on one machine may listen on the same port
    # (SO_REUSEPORT; the kernel spreads connections over them), each with
    # its own CSMS_NODE_NAME.
    ocpp_reuse_port: bool = False
    # Open sessions without any meter value for this many hours are closed by
    # the stale-session rule (a later StopTransaction from the charger still
    # replaces what the rule wrote).
    stale_session_hours: int = 24
    # Days to keep the raw OCPP message log; 0 keeps it forever.
    message_log_days: int = 30
    # Longest time a charger's call waits for the database before it gets a
    # CALLERROR InternalError (and retries).
    write_timeout: float = 10.0
    # PostgreSQL: group-commit batches that may be committing at once, each
    # on its own connection (a station's writes still commit in order).
    # SQLite has one writer and always commits one batch at a time.
    write_batches_in_flight: int = 2
    # How long a login lasts: a browser session (sliding) and an API token.
    login_session_hours: int = 12
    api_token_days: int = 30
    # argon2id cost of password hashes: "standard" (RFC 9106 low-memory,
    # 64 MiB, ~50 ms a login) or "fast" (for tests and demos only).
    password_hashing: str = "standard"
    # Name of this process in logs and in the station table (many nodes later).
    node_name: str = "node-1"
    # Remote commands: seconds to wait for a charger's answer, and how many
    # commands may wait for one charger behind the one in flight (one more is
    # answered "busy" at once).
    command_timeout: float = 30.0
    command_queue: int = 10
    # Hosted files (firmware images, chargers' uploads) live under this
    # directory; several nodes need it on a volume they share.
    files_dir: str = "var/files"
    # The absolute URL chargers reach the HTTP port at (firmware downloads,
    # log uploads), e.g. https://csms.example.com; empty:
    # http://{http_host}:{http_port}.
    public_url: str = ""
    # Largest firmware image operators may upload, and largest file a
    # charger may upload (diagnostics, logs), in bytes.
    firmware_max_bytes: int = 512 * 1024 * 1024
    upload_max_bytes: int = 100 * 1024 * 1024
    # Hours an upload location given to a charger stays valid.
    upload_slot_hours: float = 24.0
    # Entries per SendLocalList for stations without a value of their own.
    local_list_items_per_message: int = 100
    # Seconds a drain spreads its chargers' disconnects over; above 0,
    # SIGTERM drains the gateway before it stops (csms node drain always does).
    drain_seconds: float = 0.0
    # TLS (wss) for OCPP security profiles 2 and 3: a second listener on
    # ocpp_tls_port beside the plain ws port when a certificate is set. The
    # cert file holds the server's chain (PEM), the key file its key; with a
    # client CA file, client certificates are asked for and checked (profile 3).
    ocpp_tls_cert: str = ""
    ocpp_tls_key: str = ""
    ocpp_tls_client_ca: str = ""
    ocpp_tls_port: int = 9443
    # The wss URL stations are told to use when their profile is raised
    # (2.0.1 SetNetworkProfile), e.g. wss://csms.example.com:9443/ocpp/
    ocpp_public_wss_url: str = ""
    # The CA that signs chargers' CSRs (SignCertificate), PEM files, and how
    # long the certificates it issues are valid.
    ca_cert: str = ""
    ca_key: str = ""
    ca_validity_days: int = 365
    # Seconds between rounds of rating completed sessions into CDRs in a
    # process that runs the web app (csms serve, csms web); 0: this process
    # does not rate (run `csms billing rater` instead).
    rating_interval: float = 5.0
    # Processes that price sessions for the rater (charging periods, tariffs,
    # CDR detail), so the CPU work of rating stays off the event loop that
    # answers chargers; 0: price in the rater's own process, between calls.
    rating_workers: int = 1
    # The drivers' app API (/app/v1): lifetimes of access and refresh
    # tokens; attempts at login, registration, verification and password
    # reset per e-mail and per client address within a window of seconds
    # (counted in Redis when CSMS_REDIS_URL is set); mail to drivers goes
    # to the mail_outbox table unless an SMTP host is set.
    app_access_minutes: int = 15
    app_refresh_days: int = 30
    app_rate_limit: int = 10
    app_rate_window: float = 300.0
    app_smtp_host: str = ""
    app_smtp_port: int = 587
    app_smtp_user: str = ""
    app_smtp_password: str = ""
    app_smtp_from: str = "noreply@localhost"
    app_smtp_starttls: bool = True
    # OCPP connections: the largest frame a charger may send, in bytes (a
    # larger one closes its socket with 1009); bytes of frames read ahead of
    # the call being answered (beyond them the socket is not read, so a
    # charger that sends without waiting for answers is held back); seconds
    # a charger may keep frames waiting behind every call before its socket
    # is closed with 1008 (0: never); characters of one frame kept in the
    # message log (and of DataTransfer data kept in station events), the
    # rest cut with a marker.
    ocpp_max_frame_bytes: int = 1024 * 1024
    ocpp_max_queued_bytes: int = 2 * 1024 * 1024
    ocpp_flood_seconds: float = 10.0
    message_log_max_chars: int = 64 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(f"CSMS_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, field.type, raw)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        if self.unknown_stations not in get_args(UnknownStationPolicy):
            raise SettingsError(
                "CSMS_UNKNOWN_STATIONS must be one of reject, pending, accept; "
                f"got {self.unknown_stations!r}"
            )
        if not (
            self.database_url.startswith("sqlite://")
            or self.database_url.startswith(("postgresql://", "postgres://"))
        ):
            raise SettingsError(
                "CSMS_DATABASE_URL must start with sqlite:// or postgresql://; "
                f"got {self.database_url!r}"
            )
        if not self.redis_prefix or any(c.isspace() or c in "*?[]\\" for c in self.redis_prefix):
            # Key patterns (SCAN MATCH) are built from it: no glob characters.
            raise SettingsError(
                "CSMS_REDIS_PREFIX must be a non-empty name without spaces or *?[]\\, "
                f"got {self.redis_prefix!r}"
            )
        if self.password_hashing not in ("standard", "fast"):
            raise SettingsError(
                f"CSMS_PASSWORD_HASHING must be standard or fast, got {self.password_hashing!r}"
            )
        if self.drain_seconds < 0:
            raise SettingsError("CSMS_DRAIN_SECONDS must be 0 or a positive number of seconds")
        if self.heartbeat_interval <= 0:
            raise SettingsError("CSMS_HEARTBEAT_INTERVAL must be a positive number of seconds")
        if self.command_timeout <= 0:
            raise SettingsError("CSMS_COMMAND_TIMEOUT must be a positive number of seconds")
        if self.command_queue < 0:
            raise SettingsError("CSMS_COMMAND_QUEUE must be 0 or more")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"CSMS_PUBLIC_URL must start with http:// or https://, got {self.public_url!r}"
            )
        for name in ("firmware_max_bytes", "upload_max_bytes", "local_list_items_per_message"):
            if getattr(self, name) < 1:
                raise SettingsError(f"CSMS_{name.upper()} must be a positive number")
        if self.upload_slot_hours <= 0:
            raise SettingsError("CSMS_UPLOAD_SLOT_HOURS must be a positive number of hours")
        if bool(self.ocpp_tls_cert) != bool(self.ocpp_tls_key):
            raise SettingsError("CSMS_OCPP_TLS_CERT and CSMS_OCPP_TLS_KEY go together")
        if self.ocpp_tls_client_ca and not self.ocpp_tls_cert:
            raise SettingsError("CSMS_OCPP_TLS_CLIENT_CA needs CSMS_OCPP_TLS_CERT and _KEY")
        if bool(self.ca_cert) != bool(self.ca_key):
            raise SettingsError("CSMS_CA_CERT and CSMS_CA_KEY go together")
        if self.rating_interval < 0:
            raise SettingsError("CSMS_RATING_INTERVAL must be 0 or a positive number of seconds")
        if not 1 <= self.write_batches_in_flight <= 8:
            raise SettingsError("CSMS_WRITE_BATCHES_IN_FLIGHT must be a number from 1 to 8")
        if not 0 <= self.rating_workers <= 64:
            raise SettingsError("CSMS_RATING_WORKERS must be a number of processes from 0 to 64")
        if self.ca_validity_days <= 0:
            raise SettingsError("CSMS_CA_VALIDITY_DAYS must be a positive number of days")
        for name in ("ocpp_port", "http_port", "ocpp_tls_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise SettingsError(f"CSMS_{name.upper()} must be a port number, got {port}")
        for name in ("ocpp_max_frame_bytes", "ocpp_max_queued_bytes", "message_log_max_chars"):
            if getattr(self, name) < 1:
                raise SettingsError(f"CSMS_{name.upper()} must be a positive number")
        if self.ocpp_flood_seconds < 0:
            raise SettingsError("CSMS_OCPP_FLOOD_SECONDS must be 0 or a positive number of seconds")

    @property
    def offline_after(self) -> float:
        """Seconds of silence after which a connected station counts as gone."""
        return 2 * self.heartbeat_interval + self.offline_grace


def _parse(name: str, annotation: object, raw: str) -> object:
    text = str(annotation)
    try:
        if text.startswith("int"):
            return int(raw)
        if text.startswith("float"):
            return float(raw)
    except ValueError:
        raise SettingsError(f"CSMS_{name.upper()} must be a number, got {raw!r}") from None
    if text.startswith("bool"):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"CSMS_{name.upper()} must be yes or no, got {raw!r}")
    if name == "unknown_stations":
        return raw.strip().lower()
    if name == "log_level":
        return raw.strip().upper()
    return raw.strip()


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()
