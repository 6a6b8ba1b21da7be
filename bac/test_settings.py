"""Settings for the test suite: the same settings, with the embedded defaults where unset."""

import os
import tempfile

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("BAC_VAR_DIR", os.path.join(tempfile.gettempdir(), "bac-test-var"))

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SMS_BACKEND = "notifications.sms.MemorySMSBackend"
SECURE_SSL_REDIRECT = False
