"""OCPP 2.0.1: the calls a charging station makes about certificates and
security events.

A mixin of :class:`csms.protocol.v201.handlers.ChargingStationHandlers201`;
its dependencies are that class's fields.
"""

from __future__ import annotations


class SecurityHandlers201:
    """SignCertificate and SecurityEventNotification."""
