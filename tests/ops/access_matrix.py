"""Who may reach the operations endpoints (format: tests/privacy/matrix.py).

Liveness and readiness are public by design (load balancers probe them; they say nothing but
"ok" or which dependency class is down). /metrics answers loopback or a bearer token only: the
test client comes from 127.0.0.1, hence 200 for every persona here; tests/ops/test_ops.py shows
a remote client refused.
"""

from tests.privacy.matrix import PUBLIC, Entry

ENTRIES = {
    "ops:healthz": Entry(PUBLIC),
    "ops:readyz": Entry(PUBLIC),
    "ops:metrics": Entry(PUBLIC),
}
