"""Setting up entities, groups and users with the csms command, then
logging in to the API as the user the CLI made."""

from __future__ import annotations

import json
import re

import httpx

from csms.bootstrap import Node
from tests.e2e.test_cli import csms


def test_an_operator_sets_up_a_tree_a_group_and_users_with_the_cli(db: None) -> None:
    """Entities, a subtree, groups and a user of two entities; mistakes exit 1."""
    assert csms("entity", "add", "Stadtwerke", "--kind", "operator").returncode == 0
    assert csms("entity", "add", "Nord", "--parent", "1", "--kind", "cpo").returncode == 0
    assert csms("entity", "add", "Nord-West", "--parent", "2").returncode == 0
    tree = json.loads(csms("entity", "list", "--json").stdout)
    assert [(n["name"], [c["name"] for c in n["children"]]) for n in tree] == [
        ("Stadtwerke", ["Nord"])
    ]
    assert tree[0]["children"][0]["children"][0]["name"] == "Nord-West"
    cycle = csms("entity", "move", "1", "--parent", "3")
    assert cycle.returncode == 1 and "descendants" in cycle.stderr
    bad_zone = csms("entity", "add", "X", "--time-zone", "Mars/Base")
    assert bad_zone.returncode == 1 and "time zone" in bad_zone.stderr

    group = csms(
        "group",
        "add",
        "Staff",
        "--entity",
        "2",
        "--scope",
        "subtree",
        "--permission",
        "entities:read",
        "--hide",
        "entities.comment",
    )
    assert group.returncode == 0, group.stderr
    bad_permission = csms("group", "add", "Bad", "--entity", "1", "--permission", "x:y")
    assert bad_permission.returncode == 1 and "unknown resource" in bad_permission.stderr
    user = csms(
        "user",
        "add",
        "dana@example.com",
        "--entity",
        "2",
        "--entity",
        "1",
        "--group",
        "1",
        "--generate-password",
    )
    assert user.returncode == 0, user.stderr
    assert re.search(r"password \(shown once\): \S{16,}", user.stdout)
    listed = json.loads(csms("user", "list", "--json").stdout)
    assert [(u["email"], u["entity_ids"], u["group_ids"]) for u in listed] == [
        ("dana@example.com", [1, 2], [1])
    ]
    duplicate = csms("user", "add", "DANA@example.com", "--entity", "1")
    assert duplicate.returncode == 1 and "exists" in duplicate.stderr


async def test_a_user_made_by_the_cli_logs_in_over_http(node: Node) -> None:
    """The CLI's user logs in at the node's API and sees its subtree."""
    import asyncio

    def setup() -> str:
        csms("entity", "add", "Root")
        csms("entity", "add", "Child", "--parent", "1")
        csms(
            "group",
            "add",
            "Readers",
            "--entity",
            "1",
            "--scope",
            "subtree",
            "--permission",
            "entities:read",
        )
        out = csms(
            "user", "add", "ops@example.com", "--entity", "1", "--group", "1", "--generate-password"
        )
        match = re.search(r"password \(shown once\): (\S+)", out.stdout)
        assert match, out.stdout + out.stderr
        return match.group(1)

    password = await asyncio.to_thread(setup)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}") as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": "ops@example.com", "password": password}
        )
        assert login.status_code == 201, login.text
        token = login.json()["token"]
        listed = await client.get("/api/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert [e["name"] for e in listed.json()["items"]] == ["Root", "Child"]
