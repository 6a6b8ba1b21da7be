"""Settings for the test suite: the same settings, with the embedded defaults where unset."""

import os
import re
import tempfile

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("BAC_VAR_DIR", os.path.join(tempfile.gettempdir(), "bac-test-var"))

# Parallel workers each get their own Redis database: the suite clears the cache between
# tests, and Redis clears a whole database at once.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if os.environ.get("REDIS_URL") and _worker.startswith("gw"):
    _base = re.match(r"(.*?)(?:/(\d+))?$", os.environ["REDIS_URL"])
    _db = int(_base.group(2) or 10) + int(_worker[2:]) + 1
    os.environ["REDIS_URL"] = f"{_base.group(1)}/{_db}"

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SMS_BACKEND = "notifications.sms.MemorySMSBackend"
SECURE_SSL_REDIRECT = False
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="bac-test-media-"))  # noqa: F405
LANGUAGE_CODE = "en"  # tests assert English unless they ask for another language
# Other apps' tests publish results without expecting diplomas to appear; diploma tests that
# want the issuance on publication turn it on.
DIPLOMAS_AUTO_ISSUE = False
