"""The Litestar application: health endpoints now; the operators' pages, the
operators' REST API and the drivers' app API grow here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar, MediaType, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

# Returns the readiness of each dependency: name to "ok" or what is wrong.
ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


def create_app(*, readiness: ReadinessCheck, debug: bool = False) -> Litestar:
    @get("/healthz", media_type=MediaType.JSON, sync_to_thread=False)
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @get("/readyz", media_type=MediaType.JSON)
    async def readyz() -> Response[dict[str, Any]]:
        """Ready: the database (and every other dependency) answers."""
        checks = await readiness()
        ready = all(state == "ok" for state in checks.values())
        return Response(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
        )

    # logging_config=None: the process (CLI, tests) owns the logging set-up.
    return Litestar(route_handlers=[healthz, readyz], debug=debug, logging_config=None)
