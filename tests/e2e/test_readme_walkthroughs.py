"""The README's walkthroughs run as written, in order, on a fresh database
against a real node, so the README cannot drift from the product.

Convention (also stated in the README's "Walkthroughs" note): a fenced
``sh``/``bash`` block right after a line ``<!-- walkthrough: NAME -->`` is a
step of walkthrough NAME; the blocks of one name run in README order in one
bash shell (variables, ``cd`` and background jobs carry over), in a fresh
temporary directory. In a block:

- a line ending with ``\\`` continues on the next; a here-document
  (``<<'EOF'`` ... ``EOF``) belongs to its command;
- a line starting with ``#`` is a comment or the output the command above it
  prints; when the first such line after a command starts with an HTTP status
  (``# 409 {...}``) or an error body with one (``# {"status_code":409,...}``),
  the last ``curl`` of that command must answer it; when it shows a JSON
  object, the command's output must start with the same first key;
- every command must exit 0 (or N where its comment or the line after it
  says ``exit N``), and every ``curl`` must answer below 400 unless
  the line after it shows the status it answers;
- a command ending with ``&`` (``csms serve``, a simulator) runs in the
  background; whatever the walkthrough started is stopped at its end.

What the test substitutes, and nothing else: the README's addresses
``localhost:8000`` / ``127.0.0.1:8000`` / ``127.0.0.1:9000`` become free
ports (``CSMS_HTTP_PORT`` / ``CSMS_OCPP_PORT`` are set to them, as the
README's configuration table says a user would), and on a PostgreSQL run
(``CSMS_DATABASE_URL=postgresql://...``) the walkthrough's
``export CSMS_DATABASE_URL=sqlite:///...`` names a new database on that server
instead, created and dropped by the test as tests/conftest.py does.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = re.compile(r"^<!--\s*walkthrough:\s*([\w-]+)\s*-->\s*$")
FENCE = re.compile(r"^```(sh|bash)\s*$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
STATUS = re.compile(r"^#\s*(?:(\d{3})\b|\{\"status_code\":\s*(\d{3})\b)")
# The first key of a JSON object the README shows after a command.
JSON_SHOWN = re.compile(r'^#\s*(?:\d{3}\s+)?(\{"[^"]+")')
EXIT = re.compile(r"#.*\bexit (\d+)\b")
HTTP_MARK = "@@HTTP"
# Seconds a whole walkthrough may take, and one curl.
WALKTHROUGH_SECONDS = 150
CURL_SECONDS = 60


@dataclass
class Step:
    """One command of a walkthrough, with the README line it starts on and
    the output the README shows after it."""

    command: str
    line: int
    expected: list[str] = field(default_factory=list)

    @property
    def expected_exit(self) -> int:
        """0, or what the command's comment or the line after it says:
        ``# exit 1``."""
        last = self.command.splitlines()[-1]
        comment = last[last.index(" #") :] if " #" in last else ""
        for text in (comment, *self.expected[:1]):
            found = EXIT.search(text)
            if found:
                return int(found.group(1))
        return 0

    @property
    def expected_status(self) -> int | None:
        if self.expected:
            found = STATUS.match(self.expected[0])
            if found:
                return int(found.group(1) or found.group(2))
        return None


def walkthroughs(text: str) -> dict[str, list[Step]]:
    """The walkthroughs of a README, by name, each its steps in order."""
    lines = text.splitlines()
    found: dict[str, list[Step]] = {}
    index = 0
    while index < len(lines):
        marker = MARKER.match(lines[index].strip())
        index += 1
        if not marker:
            continue
        while index < len(lines) and not lines[index].strip():
            index += 1
        if index >= len(lines) or not FENCE.match(lines[index].strip()):
            raise AssertionError(f"README line {index}: a walkthrough marker without a sh block")
        index += 1
        block: list[tuple[int, str]] = []
        while index < len(lines) and lines[index].strip() != "```":
            block.append((index + 1, lines[index]))
            index += 1
        found.setdefault(marker.group(1), []).extend(_steps(block))
    return found


def _steps(block: list[tuple[int, str]]) -> list[Step]:
    steps: list[Step] = []
    position = 0
    while position < len(block):
        number, line = block[position]
        position += 1
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if steps:
                steps[-1].expected.append(stripped)
            continue
        command = [line]
        while command[-1].rstrip().endswith("\\") and position < len(block):
            command.append(block[position][1])
            position += 1
        heredoc = HEREDOC.search(" ".join(command))
        if heredoc:
            terminator = heredoc.group(2)
            while position < len(block):
                command.append(block[position][1])
                position += 1
                if command[-1].strip() == terminator:
                    break
        steps.append(Step("\n".join(command), number))
    return steps


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _substituted(command: str, http_port: int, ocpp_port: int, database_url: str | None) -> str:
    command = re.sub(r"\b(localhost|127\.0\.0\.1):8000\b", f"127.0.0.1:{http_port}", command)
    command = re.sub(r"\b127\.0\.0\.1:9000\b", f"127.0.0.1:{ocpp_port}", command)
    if database_url is not None:
        command = re.sub(
            r"export CSMS_DATABASE_URL=sqlite:///\S+",
            f"export CSMS_DATABASE_URL={shlex.quote(database_url)}",
            command,
        )
    return command


def _script(steps: list[Step], work: Path, http_port: int, ocpp_port: int, db: str | None) -> str:
    """One bash script: each step's output, error output and exit status in
    files of its own; curl reports each answer's status on standard error."""
    parts = [
        "exec </dev/null",
        f"curl() {{ command curl --max-time {CURL_SECONDS} "
        f"-w '%{{stderr}}\\n{HTTP_MARK} %{{http_code}}\\n' \"$@\"; }}",
    ]
    for number, step in enumerate(steps):
        command = _substituted(step.command, http_port, ocpp_port, db)
        parts.append(f"echo {number} > {work}/current")
        parts.append(
            f"{{\n{command}\n}} > {work}/out.{number} 2> {work}/err.{number}\n"
            f"echo $? > {work}/rc.{number}"
        )
    parts.append(f"echo done > {work}/current")
    return "\n".join(parts) + "\n"


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Ends the walkthrough's shell and whatever it started in the background
    (one process group, ours): SIGTERM, then SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


async def _admin_execute(base_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(base_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _fresh_postgres() -> tuple[str, str, str] | None:
    """On a PostgreSQL run: a new database on that server (url, name, the
    admin url to drop it with)."""
    url = os.environ.get("CSMS_DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgres://")):
        return None
    name = f"csms_walkthrough_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    asyncio.run(_admin_execute(admin, f'CREATE DATABASE "{name}"'))
    return urlunsplit(parts._replace(path=f"/{name}")), name, admin


def run_walkthrough(name: str, steps: list[Step]) -> list[str]:
    """Runs the steps; gives back what went wrong, one line each."""
    http_port, ocpp_port = _free_port(), _free_port()
    postgres = _fresh_postgres()
    home = Path(tempfile.mkdtemp(prefix=f"csms-walkthrough-{name}-"))
    work = home / ".walkthrough"
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CSMS_")
        or key in ("CSMS_REDIS_URL", "CSMS_PASSWORD_HASHING", "CSMS_LOG_LEVEL")
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(README.parent),
        CSMS_HTTP_PORT=str(http_port),
        CSMS_OCPP_PORT=str(ocpp_port),
        CSMS_PASSWORD_HASHING="fast",
    )
    script = home / ".walkthrough.sh"
    script.write_text(_script(steps, work, http_port, ocpp_port, postgres[0] if postgres else None))
    process = subprocess.Popen(["bash", str(script)], cwd=home, env=env, start_new_session=True)
    problems: list[str] = []
    try:
        try:
            process.wait(WALKTHROUGH_SECONDS)
        except subprocess.TimeoutExpired:
            current = (work / "current").read_text().strip()
            problems.append(f"walkthrough {name}: still running after {WALKTHROUGH_SECONDS} s")
            if current.isdigit():
                step = steps[int(current)]
                problems.append(f"  at README line {step.line}: {step.command.splitlines()[0]}")
    finally:
        _stop_group(process)
        if postgres is not None:
            asyncio.run(
                _admin_execute(postgres[2], f'DROP DATABASE IF EXISTS "{postgres[1]}" WITH (FORCE)')
            )
    try:
        return problems + _outcomes(steps, work)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _outcomes(steps: list[Step], work: Path) -> list[str]:
    """What each step's files say went wrong."""
    problems: list[str] = []
    for number, step in enumerate(steps):
        rc_file = work / f"rc.{number}"
        if not rc_file.exists():
            break
        out = (work / f"out.{number}").read_text(errors="replace")
        err = (work / f"err.{number}").read_text(errors="replace")
        statuses = [int(s) for s in re.findall(rf"^{HTTP_MARK} (\d{{3}})$", err, flags=re.M)]
        err_text = re.sub(rf"^{HTTP_MARK} \d{{3}}$\n?", "", err, flags=re.M).strip()
        where = f"README line {step.line}: {step.command.splitlines()[0].strip()}"
        detail = f"\n    out: {out.strip()[-600:]}\n    err: {err_text[-600:]}"
        rc = int(rc_file.read_text().strip() or "0")
        if rc != step.expected_exit:
            problems.append(f"{where}\n  exit status {rc}, not {step.expected_exit}{detail}")
        expected = step.expected_status
        if expected is not None:
            if not statuses or statuses[-1] != expected:
                problems.append(
                    f"{where}\n  answered {statuses}, the README shows {expected}{detail}"
                )
            statuses = statuses[:-1]
        shown = (
            re.match(r'^#\s*(?:\d{3}\s+)?(\{"[^"]+")', step.expected[0]) if step.expected else None
        )
        if shown and not out.lstrip().startswith(shown.group(1)):
            problems.append(
                f"{where}\n  printed no {shown.group(1)}...: the README shows it{detail}"
            )
        failed = [s for s in statuses if s >= 400 or s == 0]
        if failed:
            problems.append(f"{where}\n  curl answered {failed}{detail}")
    return problems


WALKTHROUGHS = walkthroughs(README.read_text())


def test_the_readme_marks_its_walkthroughs() -> None:
    """The README has walkthrough blocks, each command parsed with its
    continuation lines and here-documents."""
    assert set(WALKTHROUGHS) >= {"billing", "commands", "entities"}
    for steps in WALKTHROUGHS.values():
        assert steps[0].command.startswith("export CSMS_DATABASE_URL=sqlite:///var/")
        assert any(s.command.startswith("csms serve &") for s in steps)
    entities = WALKTHROUGHS["entities"]
    (cards,) = [s for s in entities if "cards.csv <<" in s.command]
    assert cards.command.splitlines()[-1] == "EOF" and "#" not in cards.command
    (rule,) = [s for s in entities if s.expected_status == 409 and "access-rules" in s.command]
    assert rule.command.startswith("curl") and rule.command.count("\n") == 1
    (bad,) = [s for s in entities if s.command.startswith("csms tariff import bad.json")]
    assert bad.expected_exit == 1 and bad.expected[0].startswith("# csms: not a valid")


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, Future[list[str]]]]:
    """Every walkthrough started at once (each its own node, ports, database
    and directory), so the module takes as long as the longest. With Redis
    one after the other: the nodes would share its node directory, where
    each walkthrough's CP-1 is one key."""
    workers = 1 if os.environ.get("CSMS_REDIS_URL") else len(WALKTHROUGHS)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield {
            name: pool.submit(run_walkthrough, name, steps)
            for name, steps in sorted(WALKTHROUGHS.items())
        }


@pytest.mark.parametrize("name", sorted(WALKTHROUGHS))
def test_a_readme_walkthrough_runs_as_written(
    name: str, outcomes: dict[str, Future[list[str]]]
) -> None:
    """Every command of the walkthrough exits 0 against a real node on a
    fresh database, and every HTTP answer is a success or the status the
    README shows after it."""
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    assert not missing, f"the README's walkthroughs need {missing} (apt-get install {missing})"
    problems = outcomes[name].result(timeout=WALKTHROUGH_SECONDS * len(WALKTHROUGHS) + 60)
    assert not problems, "\n".join(problems)
