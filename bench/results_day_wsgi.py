"""What gunicorn serves in the results-day benchmark: the production WSGI application
(ops.wsgi: request ids and metrics around bac.wsgi, Django with the lookup's fast path) and, on
/bench/hello, (a) a bare WSGI "hello"."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "results_day_settings")

from ops.wsgi import application as production  # noqa: E402

HELLO = b"hello"
HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]


def hello(environ, start_response):
    start_response("200 OK", HELLO_HEADERS)
    return [HELLO]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/bench/hello":
        return hello(environ, start_response)
    return production(environ, start_response)
