"""The state of a sign-in, activation or reset between its steps, kept in the session.

Nothing here authenticates anyone: the session only learns who is signed in through
`django.contrib.auth.login`, after the second factor. Until then it holds this record, signed
so that it cannot be forged even if sessions one day move into cookies, and with its own expiry
so that a half-finished sign-in left on a shared computer does not stay usable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from django.core import signing
from django.http import HttpRequest
from django.utils import timezone

SESSION_KEY = "identity.pending"
_SALT = "identity.pending"
# Long enough to receive a code, ask for another one and choose a password; short enough that
# an abandoned attempt dies quickly.
PENDING_SECONDS = 15 * 60


class Flow:
    SIGN_IN = "sign_in"
    ACTIVATION = "activation"
    RESET = "reset"


class Step:
    CHOOSE_CHANNEL = "choose"  # pick SMS or e-mail for the one-time code
    CODE = "code"  # enter the one-time code
    TOTP = "totp"  # enter the authenticator code
    ENROL = "enrol"  # set up the authenticator app


@dataclass(frozen=True)
class Pending:
    flow: str
    step: str
    expires_at: float
    user_id: int | None = None
    candidate_id: int | None = None
    channel: str = ""
    next_url: str = ""
    username: str = ""  # as typed, for the records of a reset asked for an unknown username
    # For a reset asked for an unknown staff username: wrong codes are counted here, so that
    # the page behaves as it would for a real account.
    decoy_attempts: int = 0

    def but(self, **changes: object) -> Pending:
        return replace(self, **changes)


def start(request: HttpRequest, flow: str, step: str, **fields: object) -> Pending:
    """Begin a flow, replacing any other one, under a new session key."""
    # A new key after the password (or identity check) means that a session id planted in the
    # browser beforehand is not the one that carries the half-authenticated state.
    request.session.cycle_key()
    state = Pending(
        flow=flow,
        step=step,
        expires_at=timezone.now().timestamp() + PENDING_SECONDS,
        **fields,  # type: ignore[arg-type]
    )
    save(request, state)
    return state


def save(request: HttpRequest, state: Pending) -> None:
    request.session[SESSION_KEY] = signing.dumps(asdict(state), salt=_SALT)


def load(request: HttpRequest, flow: str) -> Pending | None:
    """The pending state of `flow`, or None if there is none, it expired or it was tampered with."""
    raw = request.session.get(SESSION_KEY)
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=_SALT)
        state = Pending(**data)
    except (signing.BadSignature, TypeError):
        clear(request)
        return None
    if state.flow != flow:
        return None
    if state.expires_at <= timezone.now().timestamp():
        clear(request)
        return None
    return state


def clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
