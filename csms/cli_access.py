"""CLI commands (see csms.cli for conventions). Filled in by the issue-3 work."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def register(commands: Any, listing: Callable[[argparse.ArgumentParser], None]) -> None:
    return None
