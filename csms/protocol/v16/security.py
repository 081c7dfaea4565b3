"""OCPP 1.6 security extension (Improved security for OCPP 1.6-J): the calls
a charge point makes about certificates and security events.

A mixin of :class:`csms.protocol.v16.handlers.ChargePointHandlers16`; its
dependencies are that class's fields.
"""

from __future__ import annotations


class SecurityHandlers16:
    """SignCertificate and SecurityEventNotification (1.6 security extension)."""
