"""Drivers of the app (the drivers' app API, ``admin_ui.app_api``): their
registration with an entity, logins and tokens, mail, and their media.

``model`` holds the values and checks (no I/O), ``ports`` the interfaces
storage and mail implement, ``service`` the use cases, ``mail`` the senders.
Storage is :mod:`crm.storage.drivers`; the composition root wires it.
"""
