"""Database tables of the CRM (piccolo app ``crm``).

Only storage modules import this.
"""

from __future__ import annotations

from piccolo.columns import Serial, Timestamptz, Varchar
from piccolo.table import Table


class IdTag(Table, tablename="id_tag"):
    """An identifier a driver presents at a charger (RFID UID, app token).

    The minimal authorisation list of the OCPP core; the media registry of the
    multi-entity kernel replaces it and takes over its rows.
    """

    id = Serial(primary_key=True)
    # OCPP 1.6 idTag (CiString20); 2.0.1 idTokens are up to 36 characters.
    uid = Varchar(length=36, unique=True)
    parent_uid = Varchar(length=36, default="")
    # Accepted, Blocked, Expired (Invalid is what an unknown uid gets).
    status = Varchar(length=16, default="Accepted")
    expires_at = Timestamptz(null=True, default=None)
    note = Varchar(length=255, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()
