"""What gunicorn serves in the results-day benchmark: the production WSGI application
(bac.wsgi, with its lookup fast path) and, on /bench/hello, (a) a bare WSGI "hello"."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "results_day_settings")

from bac.wsgi import application as production  # noqa: E402

HELLO = b"hello"
HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]


def hello(environ, start_response):
    start_response("200 OK", HELLO_HEADERS)
    return [HELLO]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/bench/hello":
        return hello(environ, start_response)
    return production(environ, start_response)
