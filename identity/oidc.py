"""Sign-in through the national digital identity provider (OpenID Connect).

Authorization code flow with PKCE (S256). Each attempt gets its own `state`, `nonce` and code
verifier, kept in the session and consumed by the first callback that presents them, so a
replayed callback finds nothing to match. The ID token is verified here with `cryptography`:
signature against the provider's JWKS (taken from the discovery document, cached, fetched again
when a token names a key id we do not know), issuer, audience, expiry, issue time and nonce.

The verified claims (names, birth date, CNIE number) are stored as the candidate's identity
source of kind "idp" under the claim names verification/compare.py reads. The provider's
authentication counts as strong: it replaces the password and the one-time code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from audit.services import Change, record_changes
from candidates.identifiers import normalize_cnie
from candidates.models import Candidate, IdentitySource
from exams.models import ExamSession

from .models import Role, User
from .ratelimit import client_address
from .services import complete_sign_in, record_event

SESSION_KEY = "identity.oidc"
# An attempt left unfinished longer than this is dropped: the provider's pages are quick.
ATTEMPT_SECONDS = 10 * 60
# Claims kept as the identity source, under the names verification/compare.py maps.
STORED_CLAIMS = (
    "given_name",
    "family_name",
    "given_name#ar",
    "family_name#ar",
    "birthdate",
    "gender",
    "nationalities",
    "place_of_birth",
)
SUPPORTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA")

# SignInEvent reasons of this flow (the field's choices are labels, not a constraint).
REASON_REFUSED = "oidc_refused"
REASON_NO_FILE = "oidc_no_file"
REASON_ACCOUNT = "oidc_account"


class OIDCError(Exception):
    """The sign-in through the provider is refused; `message` is what the person should read."""

    def __init__(self, message: str, reason: str = REASON_REFUSED, detail: str = "") -> None:
        super().__init__(detail or message)
        self.message = message
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    cnie_claim: str
    auth_method: str
    redirect_uri: str
    use_userinfo: bool
    leeway: int
    timeout: int
    cache_seconds: int


def config() -> Config | None:
    """The provider's configuration, or None when the sign-in is not configured."""
    issuer = getattr(settings, "OIDC_ISSUER", "")
    client_id = getattr(settings, "OIDC_CLIENT_ID", "")
    if not issuer or not client_id:
        return None
    scopes = list(getattr(settings, "OIDC_SCOPES", ["openid"]))
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return Config(
        issuer=issuer.rstrip("/"),
        client_id=client_id,
        client_secret=getattr(settings, "OIDC_CLIENT_SECRET", ""),
        scopes=tuple(scopes),
        cnie_claim=getattr(settings, "OIDC_CNIE_CLAIM", "cnie") or "cnie",
        auth_method=getattr(settings, "OIDC_TOKEN_AUTH_METHOD", "client_secret_basic"),
        redirect_uri=getattr(settings, "OIDC_REDIRECT_URI", ""),
        use_userinfo=getattr(settings, "OIDC_USE_USERINFO", False),
        leeway=getattr(settings, "OIDC_LEEWAY_SECONDS", 60),
        timeout=getattr(settings, "OIDC_HTTP_TIMEOUT_SECONDS", 10),
        cache_seconds=getattr(settings, "OIDC_CACHE_SECONDS", 3600),
    )


def enabled() -> bool:
    return config() is not None


def _now() -> float:
    return time.time()


def _unavailable(detail: str) -> OIDCError:
    return OIDCError(
        _(
            "The national digital identity service cannot be reached right now. Try again "
            "later or sign in with your Massar code and password."
        ),
        detail=detail,
    )


def _invalid_token(detail: str) -> OIDCError:
    return OIDCError(
        _(
            "The answer of the national digital identity service could not be verified, so "
            "you have not been signed in. Start again."
        ),
        detail=detail,
    )


# --- HTTP ---------------------------------------------------------------------------------------


def _http_json(
    conf: Config,
    url: str,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise _unavailable(f"refused URL scheme: {url}")
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    # The scheme was checked just above.
    request = urllib.request.Request(url, data=body, headers={"Accept": "application/json"})  # noqa: S310
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=conf.timeout) as response:  # noqa: S310
            payload = json.loads(response.read(1_000_000))
    except urllib.error.HTTPError as error:
        try:
            payload = json.loads(error.read(100_000))
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        payload.setdefault("error", f"http_{error.code}")
        payload["_status"] = error.code
        return payload
    except (OSError, ValueError) as error:
        raise _unavailable(f"{url}: {error}") from None
    if not isinstance(payload, dict):
        raise _unavailable(f"{url}: not a JSON object")
    return payload


def discovery(conf: Config) -> dict[str, Any]:
    key = f"oidc:discovery:{conf.issuer}"
    document = cache.get(key)
    if document is None:
        document = _http_json(conf, f"{conf.issuer}/.well-known/openid-configuration")
        if "error" in document:
            raise _unavailable(f"discovery: {document['error']}")
        if document.get("issuer", "").rstrip("/") != conf.issuer:
            raise _unavailable(f"discovery names another issuer: {document.get('issuer')!r}")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not document.get(field):
                raise _unavailable(f"discovery lacks {field}")
        cache.set(key, document, conf.cache_seconds)
    return document


def jwks(conf: Config, refresh: bool = False) -> list[dict[str, Any]]:
    key = f"oidc:jwks:{conf.issuer}"
    keys = None if refresh else cache.get(key)
    if keys is None:
        document = _http_json(conf, discovery(conf)["jwks_uri"])
        keys = document.get("keys")
        if "error" in document or not isinstance(keys, list):
            raise _unavailable("the JWKS could not be read")
        cache.set(key, keys, conf.cache_seconds)
    return keys


# --- JOSE ---------------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(text: str) -> int:
    return int.from_bytes(_b64decode(text), "big")


_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def _verify_signature(jwk: dict[str, Any], alg: str, signed: bytes, signature: bytes) -> bool:
    kty = jwk.get("kty")
    try:
        if alg[:2] in ("RS", "PS") and kty == "RSA":
            public = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
            digest = _HASHES[alg[2:]]()
            if public.key_size < 2048:
                return False
            pad = (
                padding.PKCS1v15()
                if alg.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            )
            public.verify(signature, signed, pad, digest)
            return True
        if alg == "ES256" and kty == "EC" and jwk.get("crv") == "P-256":
            public = ec.EllipticCurvePublicNumbers(
                _int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()
            ).public_key()
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
            return True
        if alg == "EdDSA" and kty == "OKP" and jwk.get("crv") == "Ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(_b64decode(jwk["x"])).verify(
                signature, signed
            )
            return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return False


def _candidate_keys(keys: list[dict[str, Any]], kid: str | None, alg: str) -> list[dict]:
    usable = [
        k
        for k in keys
        if isinstance(k, dict)
        and k.get("use", "sig") == "sig"
        and k.get("alg", alg) == alg
        and (kid is None or k.get("kid") == kid)
    ]
    return usable


def verify_id_token(conf: Config, token: str, nonce: str) -> dict[str, Any]:
    """The claims of a valid ID token issued to us for this attempt; OIDCError otherwise."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise _invalid_token("the ID token is not a compact JWS")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except ValueError:
        raise _invalid_token("the ID token cannot be decoded") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _invalid_token("the ID token is not made of JSON objects")
    alg = header.get("alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise _invalid_token(f"unsupported signature algorithm {alg!r}")
    if "crit" in header:
        raise _invalid_token("critical header parameters are not supported")
    kid = header.get("kid")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    keys = _candidate_keys(jwks(conf), kid, alg)
    if not keys and kid is not None and cache.add(f"oidc:jwks-refresh:{conf.issuer}", 1, 30):
        # The provider may have rotated its keys since we cached them. At most one fetch every
        # 30 seconds, so that tokens with made-up key ids cannot make us hammer the provider.
        keys = _candidate_keys(jwks(conf, refresh=True), kid, alg)
    if not any(_verify_signature(k, alg, signed, signature) for k in keys):
        raise _invalid_token("bad ID token signature or unknown key")

    now = _now()
    if claims.get("iss") != conf.issuer:
        raise _invalid_token(f"ID token issuer {claims.get('iss')!r}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if conf.client_id not in audiences:
        raise _invalid_token(f"ID token audience {audience!r}")
    if len(audiences) > 1 and claims.get("azp") != conf.client_id:
        raise _invalid_token("ID token for several audiences without us as azp")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise _invalid_token("ID token without exp or iat")
    if exp + conf.leeway < now:
        raise _invalid_token("ID token expired")
    if iat - conf.leeway > now:
        raise _invalid_token("ID token issued in the future")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not constant_time_compare(token_nonce, nonce):
        raise _invalid_token("ID token nonce does not match this attempt")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _invalid_token("ID token without subject")
    return claims


# --- the flow -------------------------------------------------------------------------------------


def redirect_uri(conf: Config, request: HttpRequest) -> str:
    """The callback address: OIDC_REDIRECT_URI when set (behind a proxy), else this site's."""
    return conf.redirect_uri or request.build_absolute_uri(reverse("identity:oidc_callback"))


def begin(request: HttpRequest, next_url: str = "") -> str:
    """Start an attempt; the provider's authorization URL to send the browser to."""
    conf = config()
    if conf is None:
        raise OIDCError(_("Sign-in with the national digital identity is not available."))
    endpoint = discovery(conf)["authorization_endpoint"]
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    challenge = _b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
    callback = redirect_uri(conf, request)
    request.session[SESSION_KEY] = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "redirect_uri": callback,
        "next": next_url,
        "expires_at": _now() + ATTEMPT_SECONDS,
    }
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": conf.client_id,
            "redirect_uri": callback,
            "scope": " ".join(conf.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{query}"


def _exchange(conf: Config, code: str, attempt: dict[str, Any]) -> dict[str, Any]:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": attempt["redirect_uri"],
        "code_verifier": attempt["verifier"],
    }
    headers: dict[str, str] = {}
    if conf.auth_method == "client_secret_post":
        data["client_id"] = conf.client_id
        data["client_secret"] = conf.client_secret
    else:
        # RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
        pair = f"{urllib.parse.quote_plus(conf.client_id)}:{urllib.parse.quote_plus(conf.client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    answer = _http_json(conf, discovery(conf)["token_endpoint"], data=data, headers=headers)
    if "error" in answer:
        if answer["error"] == "invalid_grant":
            raise OIDCError(
                _(
                    "This sign-in has already been used or has expired. Start again from "
                    "the sign-in page."
                ),
                detail=f"token endpoint: {answer['error']}",
            )
        raise _unavailable(f"token endpoint: {answer['error']}")
    if not isinstance(answer.get("id_token"), str):
        raise _invalid_token("the token endpoint returned no ID token")
    return answer


def _userinfo(conf: Config, access_token: str, subject: str) -> dict[str, Any]:
    endpoint = discovery(conf).get("userinfo_endpoint")
    if not endpoint or not access_token:
        return {}
    info = _http_json(conf, endpoint, headers={"Authorization": f"Bearer {access_token}"})
    if "error" in info:
        raise _unavailable(f"userinfo: {info['error']}")
    if info.get("sub") != subject:
        raise _invalid_token("userinfo is about another subject")
    return info


def finish(request: HttpRequest) -> tuple[dict[str, Any], str]:
    """Check the provider's answer to this attempt: (verified claims, next URL) or OIDCError.

    The attempt is taken out of the session before anything else, so it serves once only.
    """
    conf = config()
    if conf is None:
        raise OIDCError(_("Sign-in with the national digital identity is not available."))
    attempt = request.session.pop(SESSION_KEY, None)
    params = request.GET
    error = params.get("error")
    if error:
        if error == "access_denied":
            raise OIDCError(
                _(
                    "The sign-in with the national digital identity was cancelled or refused. "
                    "You have not been signed in."
                ),
                detail=f"provider error: {error}",
            )
        raise OIDCError(
            _(
                "The national digital identity service could not sign you in. Try again or "
                "sign in with your Massar code and password."
            ),
            detail=f"provider error: {error}",
        )
    if not isinstance(attempt, dict) or attempt.get("expires_at", 0) < _now():
        raise OIDCError(
            _(
                "This sign-in has already been used or has expired. Start again from the "
                "sign-in page."
            ),
            detail="no pending attempt in the session",
        )
    state = params.get("state", "")
    if not constant_time_compare(state, attempt["state"]):
        raise OIDCError(
            _(
                "This answer does not belong to the sign-in started in this browser. Start "
                "again from the sign-in page."
            ),
            detail="state mismatch",
        )
    iss = params.get("iss")
    if iss is not None and iss.rstrip("/") != conf.issuer:
        raise _invalid_token(f"authorization response from issuer {iss!r}")
    code = params.get("code", "")
    if not code:
        raise _invalid_token("no authorization code")
    tokens = _exchange(conf, code, attempt)
    claims = verify_id_token(conf, tokens["id_token"], attempt["nonce"])
    if conf.use_userinfo:
        info = _userinfo(conf, str(tokens.get("access_token", "")), claims["sub"])
        claims = {**info, **claims}
    return claims, str(attempt.get("next", ""))


# --- linking --------------------------------------------------------------------------------------


def _claim_value(value: Any) -> str | list[str] | None:
    """A claim as stored: text (bounded), or a short list of texts; anything else is dropped."""
    if isinstance(value, str):
        return value.strip()[:200] or None
    if isinstance(value, list):
        items = [item.strip()[:80] for item in value[:10] if isinstance(item, str)]
        return [item for item in items if item] or None
    return None


def source_data(conf: Config, claims: dict[str, Any], cnie: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in STORED_CLAIMS:
        value = _claim_value(claims.get(name))
        if value is not None:
            data[name] = value
    data["cnie"] = cnie
    data["sub"] = claims["sub"]
    data["iss"] = conf.issuer
    return data


def link_and_sign_in(request: HttpRequest, claims: dict[str, Any]) -> User:
    """Store the claims as the candidate's "idp" source, create the account if needed, and
    authenticate the session. OIDCError when no file of the current session matches."""
    conf = config()
    assert conf is not None
    address = client_address(request)
    raw = claims.get(conf.cnie_claim)
    cnie = normalize_cnie(str(raw)) if isinstance(raw, str | int) else ""
    label = f"oidc:{str(claims.get('sub', ''))[:100]}"
    no_file = OIDCError(
        _(
            "Your national digital identity was verified, but no candidate file of the "
            "current session carries your CNIE number. Ask your school to check the CNIE "
            "number on your file. No account has been created."
        ),
        reason=REASON_NO_FILE,
    )
    if not cnie:
        record_event(label, None, address, False, REASON_NO_FILE)
        raise no_file
    session = ExamSession.current()
    with transaction.atomic():
        candidate = (
            Candidate.objects.select_for_update().filter(session=session, cnie_number=cnie).first()
            if session is not None
            else None
        )
        if candidate is None:
            record_event(label, None, address, False, REASON_NO_FILE)
            raise no_file
        user = candidate.user
        created = False
        if user is None:
            if User.objects.filter(username=candidate.massar_code).exists():
                record_event(candidate.massar_code, None, address, False, REASON_ACCOUNT)
                raise OIDCError(
                    _(
                        "An account already exists for your Massar code but is not linked "
                        "to your file. Ask your school for help."
                    ),
                    reason=REASON_ACCOUNT,
                )
            user = User(username=candidate.massar_code, role=Role.CANDIDATE)
            user.set_unusable_password()
            user.language = getattr(request, "LANGUAGE_CODE", "") or ""
            user.save()
            candidate.user = user
            candidate.save(update_fields=["user", "updated_at"])
            created = True
        if not user.is_active or user.role != Role.CANDIDATE:
            record_event(user.get_username(), user, address, False, REASON_ACCOUNT)
            raise OIDCError(
                _("This account cannot sign in. Ask your school for help."), reason=REASON_ACCOUNT
            )
        data = source_data(conf, claims, cnie)
        existing = IdentitySource.objects.filter(
            candidate=candidate, kind=IdentitySource.Kind.IDENTITY_PROVIDER
        ).first()
        before = dict(existing.data) if existing else {}
        source, _created = IdentitySource.objects.update_or_create(
            candidate=candidate,
            kind=IdentitySource.Kind.IDENTITY_PROVIDER,
            defaults={"data": data},
        )
        changes = []
        if created:
            changes.append(
                Change(
                    action="activate_account",
                    object_type="candidate",
                    object_id=str(candidate.pk),
                    before={"user": None},
                    after={"user": user.username},
                    reason="account created at the first sign-in with the national digital identity",
                    candidate_id=candidate.pk,
                )
            )
        if before != data:
            changes.append(
                Change(
                    action="identity_source_idp",
                    object_type="identity_source",
                    object_id=str(source.pk),
                    before=before,
                    after=data,
                    reason="claims verified by the national digital identity provider",
                    candidate_id=candidate.pk,
                )
            )
        if changes:
            record_changes(user, changes)
    complete_sign_in(request, user)
    return user
