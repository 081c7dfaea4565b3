"""The version-neutral OCPP domain: what a charger reports and what the system decides.

Nothing here imports ``ocpp``, ``websockets`` or piccolo: protocol adapters
turn OCPP calls into the commands of :mod:`csms.domain.commands`, and storage
sits behind the interfaces of :mod:`csms.domain.ports`.
"""
