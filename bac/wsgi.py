import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bac.settings")
application = get_wsgi_application()

# The results lookup API (/results/api/lookup) is answered before Django's request machinery:
# the same answer as its Django view, at a fraction of the cost (see results.api).
from results.api import LookupFastPath  # noqa: E402

application = LookupFastPath(application)
