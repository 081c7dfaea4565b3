"""`python -m simulators load`: arguments and scenarios it refuses before any traffic."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.cli import main

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--url", "http://127.0.0.1:9000/ocpp"], "expected a ws:// or wss:// URL"),
        (["--url", "ws://127.0.0.1:1/ocpp", "--scenario", "nope"], "no scenario 'nope'"),
        (["--url", "ws://127.0.0.1:1/ocpp", "--tag-prefix", "X" * 15], "shorten --tag-prefix"),
    ],
)
def test_load_refuses_bad_arguments_with_exit_status_2(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad URL, an unknown scenario or names OCPP would refuse: exit 2, a one-line reason,
    and no report written."""
    report_dir = tmp_path / "report"
    code = main(["load", *arguments, "--duration", "1", "--report-dir", str(report_dir)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not report_dir.exists()


def test_load_refuses_a_scenario_file_with_a_typo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scenario file with an unknown key is refused with the file and the key named."""
    scenario = tmp_path / "typo.toml"
    scenario.write_text("[reconnects]\nper_hour = 5\n")
    code = main(["load", "--url", "ws://127.0.0.1:1/ocpp", "--scenario", str(scenario)])
    assert code == 2
    err = capsys.readouterr().err
    assert "typo.toml: [reconnects]: unknown key(s) per_hour" in err
