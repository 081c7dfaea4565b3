"""The composition root: builds a running node from the settings.

Only this module (and :mod:`csms.cli`, which uses it) knows every package;
nothing imports it but the CLI and the tests. It also chooses the storage
behind the web app's services (:func:`storage_ports`, the drivers' app's
:func:`driver_app_ports`): the web app (``admin_ui``) never imports storage,
it is handed these (or, built without a node, asks this module for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from admin_ui.api.context import ApiContext, BillingStores, StoragePorts
from admin_ui.app import create_app
from admin_ui.app_api.context import AppContext
from admin_ui.app_api.wiring import DriverAppPorts
from billing.rating.rater import Rater
from billing.rating.workers import RatingWorkers
from billing.runs.service import BillingRuns
from billing.services.tariffs import TariffService
from billing.storage.cdrs import PiccoloCdrs
from billing.storage.layouts import PiccoloLayouts
from billing.storage.runs import SqlBillingStore
from billing.storage.sources import SqlDirectory, SqlRatingQueue
from billing.storage.tariffs import PiccoloTariffLookup, PiccoloTariffs
from crm.login_limits import login_throttle
from crm.services.auth import AuthService
from crm.storage.audit import PiccoloAuditLog
from crm.storage.drivers import PiccoloDriverStore
from crm.storage.login_attempts import RedisAttempts
from crm.storage.logins import PiccoloLogins
from csms.commands.remote_nodes import BusRemoteNodes
from csms.commands.service import CommandService
from csms.domain.admission import Admission
from csms.domain.authorization import Authorizer
from csms.domain.bus import Bus
from csms.domain.certificates import CertificateAuthority
from csms.domain.files import FileService
from csms.domain.group_commit import GroupCommitter
from csms.domain.invalidation import TOPIC, BroadcastInvalidation, change_handler
from csms.domain.live import LiveFeed, LivePublisher, PublishingSink
from csms.domain.local_list import LocalListService
from csms.domain.node_directory import (
    REFRESH_SECONDS,
    MemoryNodeDirectory,
    NodeDirectory,
    NodePresence,
)
from csms.domain.presence import Presence
from csms.domain.runtime import StationRuntime
from csms.domain.stale_sessions import StaleSessionRule
from csms.domain.station_cache import CachedStationDirectory
from csms.domain.station_security import StationSecurity
from csms.domain.writes import StoreLastSeen, WriteGroup
from csms.gateway.cluster import RecordingHandler, drop_taken
from csms.gateway.draining import DEFAULT_DRAIN_SECONDS, Drainer, decode_request, drain_topic
from csms.gateway.registry import ConnectionRegistry
from csms.gateway.server import Gateway
from csms.gateway.tls import server_context
from csms.log_redaction import redact_secrets_in_logs
from csms.logsummary import OUTAGE_LOGGERS, summarise
from csms.messaging import bus_from_url
from csms.messaging.in_process import InProcessHub
from csms.metrics import Metrics
from csms.protocol.commanding import LocalCommandExecutor
from csms.protocol.ocppj import Dialect
from csms.protocol.payloads import PayloadCodec
from csms.protocol.rpc import Router
from csms.protocol.serving import ExchangeRecorder, OcppService, VersionSupport
from csms.protocol.v16.calls import Calls16
from csms.protocol.v16.handlers import ChargePointHandlers16
from csms.protocol.v201.calls import Calls201
from csms.protocol.v201.codec import PayloadCodec201
from csms.protocol.v201.handlers import ChargingStationHandlers201
from csms.settings import Settings
from csms.storage.access import PiccoloStationAccessSource, PiccoloStationStore
from csms.storage.commands import PiccoloChargerTransactions
from csms.storage.database import (
    close_database,
    current_engine,
    is_sqlite,
    open_database,
    ping,
    share_the_gil_with_sqlite_threads,
)
from csms.storage.device_model import PiccoloDeviceModel
from csms.storage.driver_app import PiccoloDriverAppReads
from csms.storage.files import DiskBlobs, PiccoloFiles
from csms.storage.local_list import PiccoloHeldLists, PiccoloMediaRecords, PiccoloStationRefs
from csms.storage.maintenance import PiccoloMaintenance
from csms.storage.media import PiccoloSessionMediaLookup
from csms.storage.security import PiccoloSecurityStore
from csms.storage.session_queries import PiccoloSessionsView
from csms.storage.sessions import (
    PiccoloActiveSessions,
    PiccoloSessionQueries,
    PiccoloStaleSessionStore,
)
from csms.storage.stations import PiccoloStationDirectory
from csms.storage.writes import PiccoloWriteSink

log = logging.getLogger(__name__)

# How long /readyz waits for one dependency's check.
READINESS_TIMEOUT = 1.0

# Last-seen times are merged in memory; a station's last_seen_at is written
# this long after it was first heard since its last write (so at most this
# plus a tick old), a tick's stations at a time (csms.domain.presence says
# why). Silent stations are checked every SILENCE_CHECK_SECONDS.
PRESENCE_FLUSH_SECONDS = 5.0
PRESENCE_FLUSH_TICK_SECONDS = 0.25
SILENCE_CHECK_SECONDS = 15.0
STALE_SESSION_CHECK_SECONDS = 300.0
MESSAGE_LOG_PRUNE_SECONDS = 3600.0
# Logins past their expiry are refused anyway; the rows go once an hour.
EXPIRED_LOGIN_PURGE_SECONDS = 3600


# -- the web app's storage --------------------------------------------------------------


def _billing_stores(engine: Any = None) -> Callable[[], BillingStores]:
    def make() -> BillingStores:
        store, directory = SqlBillingStore(engine), SqlDirectory(engine)

        async def close() -> None:
            await store.close()
            await directory.close()

        return BillingStores(store, directory, close)

    return make


def storage_ports(engine: Any = None) -> StoragePorts:
    """The storage behind the operators' API and pages (``ApiContext.ports``)."""
    cdrs = PiccoloCdrs()
    return StoragePorts(
        stations=PiccoloStationStore(),
        sessions=PiccoloSessionsView(),
        device_model=PiccoloDeviceModel(),
        security=PiccoloSecurityStore(),
        audit_log=PiccoloAuditLog(),
        cdrs=cdrs,
        tariffs=PiccoloTariffs(),
        layouts=PiccoloLayouts(),
        meter_values=PiccoloSessionQueries().meter_values,
        message_log=PiccoloMaintenance().messages,
        stale_sessions=PiccoloStaleSessionStore(),
        billing=_billing_stores(engine),
    )


def driver_app_ports(engine: Any = None) -> DriverAppPorts:
    """The storage behind the drivers' app API (``admin_ui.app_api.wiring``)."""
    directory = SqlDirectory(engine)
    documents = SqlBillingStore(engine)
    return DriverAppPorts(
        drivers=PiccoloDriverStore(),
        reads=PiccoloDriverAppReads(),
        access=PiccoloStationAccessSource(),
        tariffs=PiccoloTariffLookup(),
        directory=directory,
        cdrs=PiccoloCdrs(),
        documents=documents,
        closers=[directory.close, documents.close],
    )


def redis_attempts(redis_url: str, prefix: str) -> RedisAttempts:
    """Attempt counters in Redis, shared by every node (the app's limits)."""
    return RedisAttempts(redis_url, prefix=prefix)


@dataclass(slots=True)
class Periodic:
    """Runs a coroutine function every ``interval`` seconds; a failure is
    logged and the next round runs anyway."""

    name: str
    interval: float
    work: Callable[[], Awaitable[Any]]
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic task %s failed", self.name)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our event loop; the node handles signals itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class InProcessCluster:
    """Nodes of one process (tests) that share a bus and a node directory,
    as the processes of an installation share Redis."""

    hub: InProcessHub = field(default_factory=InProcessHub)
    table: dict[str, str] = field(default_factory=dict)

    def directory(self, node: str) -> MemoryNodeDirectory:
        return MemoryNodeDirectory(node, self.table)


def node_directory(settings: Settings) -> NodeDirectory:
    """Redis when a URL is set, else this process alone."""
    if settings.redis_url:
        from csms.messaging.redis_directory import RedisNodeDirectory

        return RedisNodeDirectory(
            settings.redis_url, settings.node_name, prefix=settings.redis_prefix
        )
    return MemoryNodeDirectory(settings.node_name)


@dataclass
class Node:
    """One running CSMS process: the OCPP gateway and the web app."""

    settings: Settings
    serve_ocpp: bool = True
    serve_http: bool = True
    # Set for several nodes in one process (tests): their bus and directory.
    cluster: InProcessCluster | None = None
    metrics: Metrics = field(init=False)
    _sink: PiccoloWriteSink = field(init=False)
    writer: GroupCommitter = field(init=False)
    # Which stations changed, for the operators' live pages (any node's).
    live: LiveFeed = field(init=False, default_factory=LiveFeed)
    _live_publisher: LivePublisher = field(init=False, default_factory=LivePublisher)
    runtime: StationRuntime = field(init=False)
    authorizer: Authorizer = field(init=False)
    bus: Bus = field(init=False)
    # Remote commands to any station (through the node holding its socket).
    commands: CommandService = field(init=False)
    # Security profiles, secrets, certificates, security events.
    security: StationSecurity = field(init=False)
    # Which node holds which station (many nodes), and commands for
    # stations held by another node.
    node_directory: NodeDirectory = field(init=False)
    presence: NodePresence | None = field(init=False, default=None)
    remote_nodes: BusRemoteNodes = field(init=False)
    drainer: Drainer | None = field(init=False, default=None)
    # Set when the node asks its process to exit (a drain finished).
    exit_requested: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _drain_task: asyncio.Task[None] | None = field(init=False, default=None)
    api: ApiContext = field(init=False)
    gateway: Gateway = field(init=False)
    directory: CachedStationDirectory = field(init=False)
    stale_rule: StaleSessionRule = field(init=False)
    recorder: ExchangeRecorder = field(init=False)
    _periodic: list[Periodic] = field(init=False, default_factory=list)
    _http: _EmbeddedUvicorn | None = field(init=False, default=None)
    _http_task: asyncio.Task[None] | None = field(init=False, default=None)
    _maintenance: PiccoloMaintenance = field(init=False, default_factory=PiccoloMaintenance)
    # Rates completed sessions into CDRs (processes that serve the web app).
    rater: Rater | None = field(init=False, default=None)
    _billing_closers: list[Callable[[], Awaitable[None]]] = field(init=False, default_factory=list)

    async def start(self) -> None:
        settings = self.settings
        engine = current_engine()
        share_the_gil_with_sqlite_threads(engine)
        await open_database(engine)
        # No password, secret or token in any log line, whichever library logs.
        redact_secrets_in_logs()
        # A storage outage fails every call alike: one traceback, then counts.
        summarise(*OUTAGE_LOGGERS)
        self.metrics = Metrics()
        self._sink = PiccoloWriteSink(engine)
        await self._sink.open()
        self.writer = GroupCommitter(
            PublishingSink(self._sink, self._live_publisher),
            observer=self.metrics,
            timeout=settings.write_timeout,
            in_flight=1 if is_sqlite(engine) else settings.write_batches_in_flight,
        )
        self.metrics.watch_write_queue(lambda: self.writer.pending)
        self.writer.start()
        self.directory = CachedStationDirectory(PiccoloStationDirectory())
        presence = Presence(settings.offline_after)
        self.authorizer = Authorizer(
            PiccoloSessionMediaLookup(), PiccoloActiveSessions(), PiccoloStationAccessSource()
        )
        # A change made here reaches this node's cache at once and the other
        # processes' (gateways, the CLI) through the bus.
        if self.cluster is not None:
            self.bus = self.cluster.hub.bus()
            self.node_directory = self.cluster.directory(settings.node_name)
        else:
            self.bus = bus_from_url(settings.redis_url, settings.redis_prefix)
            self.node_directory = node_directory(settings)
        self.bus.subscribe(TOPIC, change_handler(self.authorizer, settings.node_name))
        # Every subscription is made before the bus starts (Redis needs it).
        self.remote_nodes = BusRemoteNodes(self.bus, settings.node_name)
        self.remote_nodes.subscribe()
        self._live_publisher.bus = self.bus
        self.live.subscribe_to(self.bus)
        if self.serve_ocpp:
            self.presence = NodePresence(
                self.node_directory,
                self.bus,
                held=lambda: [entry.charge_point_id for entry in self.gateway.registry],
                holds=lambda charge_point_id: (
                    self.gateway.registry.get(charge_point_id) is not None
                ),
                drop=lambda charge_point_id, node: drop_taken(
                    self.gateway, self.metrics, charge_point_id, node
                ),
            )
            self.presence.subscribe()
            self.bus.subscribe(drain_topic(settings.node_name), self._drain_requested)
        await self.bus.start()
        await self.node_directory.start()
        invalidation = BroadcastInvalidation(self.bus, settings.node_name, self.authorizer)
        # The node directory finds a station held by another node, the bus
        # reaches it; the gateway sets the local executor when it starts.
        self.commands = CommandService(
            locator=self.node_directory,
            remote=self.remote_nodes,
            node_name=settings.node_name,
            default_timeout=settings.command_timeout,
        )
        self.security = StationSecurity(
            PiccoloSecurityStore(),
            self.commands,
            cache=self.directory,
            ca=(
                CertificateAuthority.from_files(
                    settings.ca_cert, settings.ca_key, settings.ca_validity_days
                )
                if settings.ca_cert
                else None
            ),
            public_wss_url=settings.ocpp_public_wss_url,
        )
        self.api = ApiContext(
            auth=AuthService(
                password_strength=settings.password_hashing,
                session_hours=settings.login_session_hours,
                token_days=settings.api_token_days,
                throttle=login_throttle(settings.redis_url, settings.redis_prefix),
            ),
            crm_changes=invalidation,
            station_changes=invalidation,
            ports=storage_ports(engine),
            # A station created or removed is looked up afresh at its connect.
            station_profiles=self.directory,
            commands=self.commands,
            security=self.security,
            stale_session_hours=settings.stale_session_hours,
        )
        self.api.local_lists = LocalListService(
            store=PiccoloHeldLists(),
            media=PiccoloMediaRecords(),
            access=PiccoloStationAccessSource(),
            commands=self.commands,
            stations=PiccoloStationRefs(),
            items_per_message=settings.local_list_items_per_message,
        )
        self.api.files = FileService(
            store=PiccoloFiles(),
            blobs=DiskBlobs(settings.files_dir),
            commands=self.commands,
            stations=PiccoloStationRefs(),
            public_url=self.public_url,
            firmware_max_bytes=settings.firmware_max_bytes,
            upload_max_bytes=settings.upload_max_bytes,
            slot_hours=settings.upload_slot_hours,
        )
        self.runtime = StationRuntime(
            writer=self.writer,
            authorizer=self.authorizer,
            directory=self.directory,
            presence=presence,
            heartbeat_interval=settings.heartbeat_interval,
            node_name=settings.node_name,
        )
        self.stale_rule = StaleSessionRule(
            PiccoloStaleSessionStore(), inactive_hours=settings.stale_session_hours
        )
        self.recorder = ExchangeRecorder(
            self.runtime, self.metrics, message_log_max_chars=settings.message_log_max_chars
        )
        if self.serve_ocpp:
            await self._start_gateway()
        if self.serve_http:
            await self._start_http()

    async def _start_gateway(self) -> None:
        settings = self.settings
        # Stations this node held when it last stopped are not connected now.
        await self._maintenance.reset_presence(settings.node_name)
        loaded = await self.directory.preload()
        service = OcppService(
            runtime=self.runtime,
            versions={
                "ocpp1.6": VersionSupport(
                    Router(
                        ChargePointHandlers16(self.runtime, security=self.security),
                        PayloadCodec("1.6"),
                    ),
                    Dialect.OCPP16,
                ),
                "ocpp2.0.1": VersionSupport(
                    Router(
                        ChargingStationHandlers201(self.runtime, security=self.security),
                        PayloadCodec201(),
                    ),
                    Dialect.OCPP201,
                ),
            },
            recorder=self.recorder,
        )
        assert self.presence is not None
        self.gateway = Gateway(
            admission=Admission(
                self.directory,
                self.writer,
                settings.unknown_stations,
                secrets=PiccoloSecurityStore(),
            ),
            registry=ConnectionRegistry(),
            handler=RecordingHandler(service, self.presence),
            metrics=self.metrics,
            host=settings.ocpp_host,
            port=settings.ocpp_port,
            backlog=settings.ocpp_backlog,
            reuse_port=settings.ocpp_reuse_port,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_message_size=settings.ocpp_max_frame_bytes,
            max_queued_bytes=settings.ocpp_max_queued_bytes,
            flood_seconds=settings.ocpp_flood_seconds,
            tls=(
                server_context(
                    settings.ocpp_tls_cert, settings.ocpp_tls_key, settings.ocpp_tls_client_ca
                )
                if settings.ocpp_tls_cert
                else None
            ),
            tls_port=settings.ocpp_tls_port,
        )
        self.drainer = Drainer(self.gateway, self.metrics, settings.node_name)
        # Entries a previous run of this node left go before it takes any.
        await self.presence.start()
        sessions = PiccoloChargerTransactions()
        self.commands.local = LocalCommandExecutor(
            self.gateway.registry,
            {"ocpp1.6": Calls16(sessions), "ocpp2.0.1": Calls201(sessions, sessions)},
            queue_limit=settings.command_queue,
        )
        # Commands other nodes send for stations held here.
        self.remote_nodes.local = self.commands.local
        await self.gateway.start()
        self._periodic = [
            Periodic("node-directory-refresh", REFRESH_SECONDS, self.presence.refresh),
            Periodic("presence-flush", PRESENCE_FLUSH_TICK_SECONDS, self._flush_due_presence),
            Periodic("silence-check", SILENCE_CHECK_SECONDS, self.check_silent_stations),
            Periodic("stale-sessions", STALE_SESSION_CHECK_SECONDS, self.stale_rule.run),
            Periodic("message-log-prune", MESSAGE_LOG_PRUNE_SECONDS, self._prune_message_log),
        ]
        for periodic in self._periodic:
            periodic.start()
        log.info(
            "OCPP gateway listening on ws://%s:%d/ocpp/{charge_point_id} (%d stations known)",
            settings.ocpp_host,
            self.gateway.port,
            loaded,
        )
        if self.gateway.tls_port is not None:
            log.info(
                "OCPP gateway listening on wss://%s:%d/ocpp/{charge_point_id}%s",
                settings.ocpp_host,
                self.gateway.tls_port,
                " (client certificates checked)" if settings.ocpp_tls_client_ca else "",
            )

    def _start_billing(self) -> None:
        """Billing runs for the API, and the rater where the settings say:
        in the web app's process, never in a gateway-only one, so rating
        takes nothing from the chargers' event loop there."""
        engine = current_engine()
        store, directory = SqlBillingStore(engine), SqlDirectory(engine)
        self._billing_closers += [store.close, directory.close]
        self.api.billing = BillingRuns(store, directory)
        if self.settings.rating_interval > 0:
            queue = SqlRatingQueue(engine)
            self._billing_closers.append(queue.close)
            workers = (
                RatingWorkers(self.settings.rating_workers)
                if self.settings.rating_workers
                else None
            )
            self.rater = Rater(queue, directory, PiccoloTariffLookup(), workers=workers)
            self._billing_closers.append(self.rater.close)
            rating = Periodic("rating", self.settings.rating_interval, self.rater.rate_all)
            self._periodic.append(rating)
            rating.start()

    def _start_drivers_app(self) -> AppContext:
        """The drivers' app API: accounts (mail to the outbox, or SMTP when
        configured), rate limits (Redis when configured), and stations,
        charging and history through this node's commands and billing."""
        from admin_ui.app_api import wiring

        context = wiring.drivers_app(
            self.settings,
            ports=driver_app_ports(current_engine()),
            commands=self.commands,
            changes=self.api.crm_changes,
        )
        self.api.drivers = context.accounts
        self._billing_closers.append(context.close)
        # Drivers' tokens past their expiry are refused anyway; the rows go.
        purge = Periodic(
            "expired-driver-tokens", EXPIRED_LOGIN_PURGE_SECONDS, context.accounts.purge
        )
        self._periodic.append(purge)
        purge.start()
        return context

    async def _start_http(self) -> None:
        settings = self.settings
        expired_logins = Periodic("expired-logins", EXPIRED_LOGIN_PURGE_SECONDS, self._purge_logins)
        self._periodic.append(expired_logins)
        expired_logins.start()
        self._start_billing()
        # Tariffs, their assignments and community partners (billing).
        tariffs = TariffService(self.api.ports.tariffs)
        app = create_app(
            readiness=self.readiness,
            metrics=self.metrics.exposition,
            api=self.api,
            tariffs=tariffs,
            drivers=self._start_drivers_app(),
            live=self.live,
        )
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            lifespan="on",
            access_log=False,
            # Logging stays as the CLI configured it.
            log_config=None,
        )
        self._http = _EmbeddedUvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(), name="http")
        while not self._http.started:
            if self._http_task.done():
                # Startup failed (port taken...): surface the error.
                self._http_task.result()
                raise RuntimeError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        log.info("HTTP listening on http://%s:%d", settings.http_host, self.http_port)

    @property
    def ocpp_port(self) -> int:
        return self.gateway.port

    @property
    def ocpp_tls_port(self) -> int | None:
        """The wss listener's port, None without TLS."""
        return self.gateway.tls_port

    def public_url(self) -> str:
        """Where chargers reach the HTTP port: CSMS_PUBLIC_URL, else the
        address it listens on."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        port = self.http_port if self._http is not None else self.settings.http_port
        return f"http://{self.settings.http_host}:{port}"

    @property
    def http_port(self) -> int:
        assert self._http is not None
        return int(self._http.servers[0].sockets[0].getsockname()[1])

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state; a check that does not answer within
        READINESS_TIMEOUT counts as "timed out" (a hung database makes
        /readyz answer 503 at once, not hang with it)."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(ping(), READINESS_TIMEOUT)
            checks["database"] = "ok"
        except TimeoutError:
            checks["database"] = f"timed out after {READINESS_TIMEOUT:g} s"
        except Exception as error:
            checks["database"] = f"unreachable: {type(error).__name__}: {error}"
        if self.serve_ocpp:
            checks["gateway"] = "ok" if self.gateway.accepting else "draining"
        return checks

    def _drain_requested(self, payload: bytes) -> None:
        try:
            request = decode_request(payload)
        except Exception as error:
            log.warning("dropped a malformed drain request: %s", error)
            return
        seconds = request.seconds
        if seconds is None:
            seconds = self.settings.drain_seconds or DEFAULT_DRAIN_SECONDS
        log.info("drain requested over the bus (%.0f s)", seconds)
        self._drain_task = asyncio.create_task(self._drain_and_exit(seconds), name="drain")

    async def _drain_and_exit(self, seconds: float) -> None:
        try:
            await self.drain(seconds)
        finally:
            self.exit_requested.set()

    async def drain(self, seconds: float) -> None:
        """Stops accepting stations and moves this node's chargers away over
        ``seconds`` (csms.gateway.draining); the caller stops the node."""
        if self.drainer is not None:
            await self.drainer.drain(seconds)

    async def _flush_due_presence(self) -> None:
        self._flush_presence(timedelta(seconds=PRESENCE_FLUSH_SECONDS))

    def _flush_presence(self, heard_for: timedelta | None = None) -> None:
        seen = self.runtime.presence.take_unflushed(heard_for)
        if seen:
            self.writer.submit_nowait(WriteGroup((StoreLastSeen(seen),)))

    async def check_silent_stations(self) -> None:
        """Closes the sockets of stations silent for too long (offline)."""
        for station_pk in self.runtime.presence.silent():
            entry = self.gateway.registry.by_pk(station_pk)
            self.runtime.presence.forget(station_pk)
            if entry is None:
                continue
            log.warning(
                "station %s silent for over %.0f s; marking it offline and closing its socket",
                entry.charge_point_id,
                self.settings.offline_after,
            )
            await self.gateway.close_station(entry.charge_point_id, "no message received")

    async def _purge_logins(self) -> None:
        purged = await PiccoloLogins().purge_expired(datetime.now(UTC))
        if purged:
            log.info("removed %d expired login(s)", purged)

    async def _prune_message_log(self) -> None:
        days = self.settings.message_log_days
        if days > 0:
            await self._maintenance.prune_message_log(datetime.now(UTC) - timedelta(days=days))

    async def stop(self) -> None:
        for periodic in self._periodic:
            await periodic.stop()
        if self.drainer is not None:
            await self.drainer.stop()
        if self._drain_task is not None:
            await asyncio.gather(self._drain_task, return_exceptions=True)
        if self.serve_ocpp:
            await self.gateway.stop()
            self._flush_presence()
            if self.presence is not None:
                # The closes' entries are deleted before the directory goes.
                await self.presence.stop()
        if self._http is not None and self._http_task is not None:
            # Live pages' event streams end, so the server can stop.
            self.live.close()
            self._http.should_exit = True
            await self._http_task
        await self.security.close()
        for close in self._billing_closers:
            await close()
        await self.writer.stop()
        await self._live_publisher.close()
        await self._sink.close()
        await self.remote_nodes.stop()
        await self.bus.stop()
        await self.node_directory.stop()
        await close_database()
