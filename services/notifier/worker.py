"""The notifier's worker objects: settings, the Service, its Faust app, codec and logger.

Every module of the notifier that registers or uses something on the app imports it from here, and
app.py (the module `faust -A` runs) imports those modules: the imports form no cycle, so any of
them can be imported first.
"""

from __future__ import annotations

from referral_bus import logging as rb_logging
from referral_bus.settings import NotifierSettings
from referral_bus.worker import Service

settings = NotifierSettings()
service = Service("notifier", settings)
app = service.app
log = rb_logging.get_logger()
codec = service.codec
