"""A fleet of simulated chargers in one process, for load tests (``python -m simulators load``).

Thousands of stations run as one small asyncio task each (plus the reader task of
its open socket) on the ``websockets`` client with msgspec framing; the ``ocpp``
library's ChargePoint is too heavy to instantiate thousands of times.

The protocol is kept apart from the behaviour, so OCPP 2.0.1 slots in later:

- ``intents``: what a station says and hears, in version-neutral terms (a boot, a
  status, a transaction start, a meter report, a server's RemoteStart ...).
- ``v16``: the OCPP 1.6J encoding of those intents (message shapes only, no I/O).
  A 2.0.1 encoding (TransactionEvent instead of Start/Stop/MeterValues, its own
  subprotocol and error names) implements the same ``station.Encoding`` protocol.
- ``link``: OCPP-J framing over one websocket, version-neutral.
- ``station``: the behaviour (boot, statuses, heartbeats, sessions, faults,
  reconnects, answers to server calls); ``outbox``: the queue of transaction
  messages a charger keeps while offline.
- ``scenario`` (+ ``scenarios/*.toml``), ``runner`` (ramp-up, end), ``metrics``,
  ``progress``, ``report``, ``html_report``, ``identities`` (names, provisioning CSVs)
  and ``command`` (the ``load`` and ``provision`` subcommands).

Client only: nothing here imports the server packages.
"""

from simulators.fleet.runner import FleetOptions, FleetResult, run_fleet
from simulators.fleet.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["FleetOptions", "FleetResult", "Scenario", "ScenarioError", "load_scenario", "run_fleet"]
