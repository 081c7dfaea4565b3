"""Limits on wrong logins (issue 14, item 6): per account and per client
address, answered 429 with Retry-After, the same whether the account exists
or not; counted in this process or, with CSMS_REDIS_URL, in Redis so that
they hold across nodes. Small limits keep the tests fast; the defaults (10
per account, 50 per address, 15 minutes) are checked apart."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from admin_ui.api.context import ApiContext
from crm.login_limits import LoginLimits, LoginThrottle, MemoryAttempts
from crm.passwords import hash_password
from crm.services.auth import AuthService
from crm.storage.login_attempts import RedisAttempts
from tests.world import PASSWORD, api_client, make_entity, make_user

REDIS_URL = os.environ.get("CSMS_REDIS_URL", "")
LIMITS = LoginLimits(per_account=3, per_address=8, window_seconds=60)
LOGIN = "/api/v1/auth/login"


async def _user(email: str) -> None:
    root = await make_entity("Root")
    await make_user([root], email=email, password_hash=hash_password(PASSWORD, "fast"))


def _context(throttle: LoginThrottle) -> ApiContext:
    return ApiContext(auth=AuthService(password_strength="fast", throttle=throttle))


@pytest.fixture(params=["memory", "redis"])
async def throttles(request: pytest.FixtureRequest) -> AsyncIterator[list[LoginThrottle]]:
    """Two nodes' throttles: one count in this process, or one Redis with a
    key prefix of this test's own."""
    if request.param == "memory":
        counter = MemoryAttempts()
        yield [LoginThrottle(LIMITS, counter), LoginThrottle(LIMITS, counter)]
        return
    if not REDIS_URL:
        pytest.skip("CSMS_REDIS_URL is not set")
    prefix = f"csms-test:{secrets.token_hex(6)}:"
    counters = [RedisAttempts(REDIS_URL, prefix), RedisAttempts(REDIS_URL, prefix)]
    yield [LoginThrottle(LIMITS, c) for c in counters]
    # (The test client ran the app, and these counters' connections, in its
    # own event loop, now closed.) The test's keys are removed.
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    assert keys, "the failures were counted in Redis"
    await redis.delete(*keys)
    await redis.aclose()


async def test_an_account_is_locked_after_its_failures_even_for_the_right_password(
    db: None, throttles: list[LoginThrottle]
) -> None:
    """After 3 wrong passwords the 4th attempt, right or wrong, is 429 with a
    Retry-After within the window; another account is unaffected."""
    await _user("ops@example.com")
    await _user("other@example.com")
    async with api_client(_context(throttles[0])) as client:
        wrong = [
            await client.post(LOGIN, json={"email": "ops@example.com", "password": "x" * 12})
            for _ in range(3)
        ]
        locked = await client.post(LOGIN, json={"email": "ops@example.com", "password": PASSWORD})
        other = await client.post(LOGIN, json={"email": "other@example.com", "password": PASSWORD})
    assert [w.status_code for w in wrong] == [401, 401, 401]
    assert locked.status_code == 429, locked.text
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    assert "try again later" in locked.json()["detail"]
    assert other.status_code == 201


async def test_the_lock_holds_on_another_node(db: None, throttles: list[LoginThrottle]) -> None:
    """Failures counted by one node lock the account on the other (the same
    process's count, or Redis)."""
    await _user("ops@example.com")
    async with api_client(_context(throttles[0])) as first:
        for _ in range(3):
            await first.post(LOGIN, json={"email": "ops@example.com", "password": "x" * 12})
    async with api_client(_context(throttles[1])) as second:
        locked = await second.post(LOGIN, json={"email": "ops@example.com", "password": PASSWORD})
    assert locked.status_code == 429


async def test_an_unknown_account_is_answered_like_a_known_one(
    db: None, throttles: list[LoginThrottle]
) -> None:
    """Wrong logins for an e-mail nobody has get the same answers, in the
    same order, as for one that exists: 401 three times, then 429."""
    await _user("ops@example.com")
    answers: dict[str, list[tuple[int, str]]] = {}
    async with api_client(_context(throttles[0])) as client:
        for email in ("ops@example.com", "nobody@example.com"):
            answers[email] = []
            for _ in range(4):
                answer = await client.post(LOGIN, json={"email": email, "password": "x" * 12})
                answers[email].append((answer.status_code, answer.json()["detail"]))
    assert answers["ops@example.com"] == answers["nobody@example.com"]
    assert [status for status, _ in answers["nobody@example.com"]] == [401, 401, 401, 429]


async def test_an_address_is_locked_after_its_failures_over_many_accounts(
    db: None, throttles: list[LoginThrottle]
) -> None:
    """8 failures from one address, spread over accounts, lock the address:
    even a right password for an untouched account is 429; a good login in
    between does not reset the address's count."""
    await _user("ops@example.com")
    async with api_client(_context(throttles[0])) as client:
        statuses = []
        for index in range(8):
            if index == 4:
                good = await client.post(
                    LOGIN, json={"email": "ops@example.com", "password": PASSWORD}
                )
                assert good.status_code == 201
            answer = await client.post(
                LOGIN, json={"email": f"guess{index}@example.com", "password": "x" * 12}
            )
            statuses.append(answer.status_code)
        locked = await client.post(LOGIN, json={"email": "ops@example.com", "password": PASSWORD})
    assert statuses == [401] * 8
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1


async def test_a_good_login_forgets_the_accounts_failures(
    db: None, throttles: list[LoginThrottle]
) -> None:
    """Two failures, a success, then three more failures are needed to lock."""
    await _user("ops@example.com")
    wrong = {"email": "ops@example.com", "password": "x" * 12}
    async with api_client(_context(throttles[0])) as client:
        for _ in range(2):
            await client.post(LOGIN, json=wrong)
        good = await client.post(LOGIN, json={"email": "ops@example.com", "password": PASSWORD})
        after = [(await client.post(LOGIN, json=wrong)).status_code for _ in range(4)]
    assert good.status_code == 201
    assert after == [401, 401, 401, 429]


async def test_the_window_ends_and_the_account_opens_again() -> None:
    """With a clock moved past the window, the locked account may try again."""
    now = [1000.0]
    throttle = LoginThrottle(LIMITS, MemoryAttempts(clock=lambda: now[0]))
    for _ in range(3):
        await throttle.failed("ops@example.com", "10.0.0.1")
    with pytest.raises(PermissionError):
        await throttle.check("ops@example.com", "10.0.0.1")
    now[0] += 61
    await throttle.check("ops@example.com", "10.0.0.1")


def test_the_limits_come_from_the_environment() -> None:
    """Defaults 10 / 50 / 900 s; the CSMS_LOGIN_* variables set them; a
    nonsense value is refused naming the variable."""
    assert LoginLimits.from_env({}) == LoginLimits(10, 50, 900)
    assert LoginLimits.from_env(
        {
            "CSMS_LOGIN_FAILURES_PER_ACCOUNT": "5",
            "CSMS_LOGIN_FAILURES_PER_ADDRESS": "20",
            "CSMS_LOGIN_FAILURE_WINDOW": "60",
        }
    ) == LoginLimits(5, 20, 60)
    with pytest.raises(ValueError, match="CSMS_LOGIN_FAILURE_WINDOW"):
        LoginLimits.from_env({"CSMS_LOGIN_FAILURE_WINDOW": "0"})
