"""Rating: from what a charger reported to priced charge detail records.

``periods`` turns a session's meter values and connector states into OCPI
charging periods; ``signed`` verifies signed meter values (OCMF). Both are
pure: no I/O, no database, no OCPP library.
"""
