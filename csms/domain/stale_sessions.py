"""The stale-session rule: closing transactions a charger never stops.

Chargers lose StopTransactions (a full queue, a reset, a bug), and an open
session locks its driver out (ConcurrentTx) and never gets billed. Two rules
close them, both visible to operators (``csms session stale``) and logged as
a station event:

- superseded: the same connector has since started a later session. The old
  one is closed at the later one's start.
- inactive: no meter value has arrived for ``inactive_hours``. It is closed
  at its last sign of activity.

Either way the stop reading is the last energy register the system holds. A
charger that later delivers the real StopTransaction overwrites what a rule
wrote: the charger's own data wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from crm.access import Principal
from csms.domain.ports import OpenSession, StaleSessionStore
from csms.domain.station_scope import StationFinder

log = logging.getLogger(__name__)


class StaleFinding(msgspec.Struct, frozen=True):
    session: OpenSession
    rule: str
    stopped_at: datetime


@dataclass(slots=True)
class StaleSessionRule:
    store: StaleSessionStore
    inactive_hours: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def describe(self) -> str:
        return (
            "an open session is closed when its connector has started a later session "
            f"(rule 'superseded') or when no meter value arrived for {self.inactive_hours} h "
            "(rule 'inactive'); a later StopTransaction from the charger replaces the closure"
        )

    async def find(self) -> list[StaleFinding]:
        findings: dict[int, StaleFinding] = {}
        for session, later_start in await self.store.superseded():
            findings[session.session_id] = StaleFinding(session, "superseded", later_start)
        cutoff = self.clock() - timedelta(hours=self.inactive_hours)
        for session in await self.store.inactive_since(cutoff):
            if session.session_id not in findings:
                stopped_at = session.last_activity_at or session.started_at or cutoff
                findings[session.session_id] = StaleFinding(session, "inactive", stopped_at)
        return sorted(findings.values(), key=lambda f: f.session.session_id)

    async def close(self, findings: list[StaleFinding]) -> list[StaleFinding]:
        closed = []
        now = self.clock()
        for finding in findings:
            if await self.store.close_by_rule(
                finding.session, rule=finding.rule, stopped_at=finding.stopped_at, now=now
            ):
                log.info(
                    "closed stale session %d by rule %s",
                    finding.session.session_id,
                    finding.rule,
                )
                closed.append(finding)
        return closed

    async def run(self) -> list[StaleFinding]:
        return await self.close(await self.find())


@dataclass(slots=True)
class StaleSessionReview:
    """The stale-session rule as an operator meets it (the API and the
    pages; the CLI runs the rule for the whole system): the sessions it
    would close at the stations the operator may read, and closing those at
    the stations they may update, now rather than at the node's next
    round."""

    rule: StaleSessionRule
    find_station: StationFinder[Any]

    async def findings(self, principal: Principal, action: str = "read") -> list[StaleFinding]:
        principal.require("stations", action)
        visibility = principal.visible("stations", action)
        allowed: dict[int, bool] = {}
        shown = []
        for finding in await self.rule.find():
            pk = finding.session.station_pk
            if pk not in allowed:
                allowed[pk] = await self.find_station(visibility, pk) is not None
            if allowed[pk]:
                shown.append(finding)
        return shown

    async def close(self, principal: Principal) -> list[StaleFinding]:
        """Closes what the rule finds at the stations ``principal`` may
        update; answers those it closed (a charger's own stop may have come
        first)."""
        return await self.rule.close(await self.findings(principal, "update"))
