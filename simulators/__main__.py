"""``python -m simulators``: see ``python -m simulators --help``."""

from simulators.cli import main

raise SystemExit(main())
