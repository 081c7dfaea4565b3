"""piccolo's configuration: the engine from CSMS_DATABASE_URL and the apps.

Installed as a top-level module, so the ``piccolo`` command (used to write
migrations: ``piccolo migrations new csms --auto``) and the product find it
wherever they run.
"""

from piccolo.conf.apps import AppRegistry

from csms.settings import get_settings
from csms.storage.database import engine_from_url

DB = engine_from_url(get_settings().database_url)

APP_REGISTRY = AppRegistry(apps=["crm.piccolo_app", "csms.piccolo_app", "billing.piccolo_app"])
