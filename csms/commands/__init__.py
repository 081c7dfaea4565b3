"""Remote commands: what an operator (API, CLI, billing, the drivers' app)
asks a station to do, in version-neutral terms, and what comes back.

``csms.commands`` is the one way into a station from the system's side:

    outcome = await commands.send("CP-1", RemoteStart(id_tag="ABC", connector_id=1))

The outcome is one of the structs in :mod:`csms.commands.outcomes`: the
charger's answer, a timeout, busy (that charger's queue is full), not
connected, a CALLERROR, or not supported by the station's OCPP version.
Nothing here imports ``ocpp``, ``websockets`` or piccolo; the protocol layer
translates commands into each version's calls (``csms.protocol.v16.calls``,
``csms.protocol.v201.calls``), and the node directory finds the node that
holds a station's socket when there are several.
"""
