"""Simulated charge points for exercising the CSMS over real websockets.

A client only: nothing here imports the server packages.

- ``simulators.ocpp16``: an OCPP 1.6J charge point (``ChargePoint16``, ``connect16``).
- ``simulators.meter``: the energy meter / EV battery model shared by all versions.
- ``simulators.common``: version-neutral helpers (URLs, auth, tasks, frame tracing).
- ``simulators.cli``: the command line, ``python -m simulators --help``.
"""
