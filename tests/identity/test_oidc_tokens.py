"""ID token checks that a correct provider cannot be made to produce (a token for another
audience with several audiences, a forged signature, `alg: none`, a token issued in the
future, a key rotation). The tokens are signed here with keys served from a local JWKS by a
small HTTP server on loopback, as the provider would serve them; identity/oidc.py fetches the
discovery document and the JWKS over HTTP exactly as in production."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from identity import oidc

CLIENT_ID = "bac-eservices"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, size: int | None = None) -> str:
    size = size or (value.bit_length() + 7) // 8
    return _b64(value.to_bytes(size, "big"))


class Key:
    def __init__(self, kid: str, alg: str = "RS256") -> None:
        self.kid, self.alg = kid, alg
        if alg == "ES256":
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
            numbers = self.private.public_key().public_numbers()
            self.jwk = {
                "kty": "EC",
                "crv": "P-256",
                "x": _uint(numbers.x, 32),
                "y": _uint(numbers.y, 32),
            }
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            raw = self.private.public_key().public_bytes_raw()
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        self.jwk.update({"kid": kid, "use": "sig", "alg": alg})

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        head = {"alg": self.alg, "kid": self.kid, "typ": "JWT", **(header or {})}
        signed = f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}"
        data = signed.encode()
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elif self.alg == "EdDSA":
            signature = self.private.sign(data)
        elif self.alg.startswith("PS"):
            signature = self.private.sign(
                data,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
        else:
            signature = self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{_b64(signature)}"


class LocalIssuer:
    def __init__(self) -> None:
        self.keys: list[Key] = [Key("k1")]
        self.jwks_requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/.well-known/openid-configuration":
                    body = {
                        "issuer": issuer.url,
                        "authorization_endpoint": f"{issuer.url}/auth",
                        "token_endpoint": f"{issuer.url}/token",
                        "jwks_uri": f"{issuer.url}/jwks",
                    }
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = {"keys": [k.jwk for k in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "someone",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": "the-nonce",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def issuer(settings) -> Iterator[LocalIssuer]:
    local = LocalIssuer()
    settings.OIDC_ISSUER = local.url
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_LEEWAY_SECONDS = 30
    try:
        yield local
    finally:
        local.server.shutdown()
        local.server.server_close()


def _conf() -> oidc.Config:
    conf = oidc.config()
    assert conf is not None
    return conf


def _verify(token: str, nonce: str = "the-nonce") -> dict[str, Any]:
    return oidc.verify_id_token(_conf(), token, nonce)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_valid_tokens_are_accepted(issuer, alg):
    issuer.keys = [Key("k-" + alg, alg)]
    assert _verify(issuer.keys[0].sign(issuer.claims()))["sub"] == "someone"


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({"aud": "another-client"}, "audience"),
        ({"aud": [CLIENT_ID, "another-client"]}, "azp"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"iat": int(time.time()) + 600, "exp": int(time.time()) + 900}, "future"),
        ({"nonce": "another-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"exp": None}, "exp"),
        ({"sub": ""}, "subject"),
    ],
)
def test_bad_claims_are_refused(issuer, claims, detail):
    token = issuer.keys[0].sign(issuer.claims(**claims))
    with pytest.raises(oidc.OIDCError, match=detail) as refused:
        _verify(token)
    assert "could not be verified" in refused.value.message


def test_leeway_accepts_small_skew(issuer):
    token = issuer.keys[0].sign(issuer.claims(exp=int(time.time()) - 10))
    assert _verify(token)


def test_several_audiences_with_azp_are_accepted(issuer):
    token = issuer.keys[0].sign(issuer.claims(aud=[CLIENT_ID, "other"], azp=CLIENT_ID))
    assert _verify(token)


def test_forged_signature_is_refused(issuer):
    stranger = Key("k1")  # same key id, another key
    with pytest.raises(oidc.OIDCError, match="signature"):
        _verify(stranger.sign(issuer.claims()))


def test_tampered_payload_is_refused(issuer):
    header, _payload, signature = issuer.keys[0].sign(issuer.claims()).split(".")
    payload = _b64(json.dumps(issuer.claims(sub="someone-else")).encode())
    with pytest.raises(oidc.OIDCError, match="signature"):
        _verify(f"{header}.{payload}.{signature}")


def test_alg_none_and_hmac_are_refused(issuer):
    claims = _b64(json.dumps(issuer.claims()).encode())
    for alg in ("none", "HS256"):
        header = _b64(json.dumps({"alg": alg, "kid": "k1"}).encode())
        with pytest.raises(oidc.OIDCError, match="algorithm"):
            _verify(f"{header}.{claims}.")


def test_garbage_is_refused(issuer):
    for token in ("", "a.b", "not.a.token", "..."):
        with pytest.raises(oidc.OIDCError):
            _verify(token)


def test_jwks_is_cached_and_refreshed_on_unknown_kid(issuer):
    _verify(issuer.keys[0].sign(issuer.claims()))
    _verify(issuer.keys[0].sign(issuer.claims()))
    assert issuer.jwks_requests == 1
    # The provider rotates its key: the new kid is unknown to the cache, so the JWKS is fetched.
    issuer.keys = [Key("k2")]
    assert _verify(issuer.keys[0].sign(issuer.claims()))
    assert issuer.jwks_requests == 2
    # A kid the provider does not serve is refused, without another fetch so soon after.
    with pytest.raises(oidc.OIDCError, match="signature"):
        _verify(Key("k3").sign(issuer.claims()))
    assert issuer.jwks_requests == 2


def test_unreachable_provider_gives_a_clear_message(settings, db):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_HTTP_TIMEOUT_SECONDS = 2
    with pytest.raises(oidc.OIDCError) as refused:
        oidc.discovery(_conf())
    assert "cannot be reached" in refused.value.message


def test_disabled_without_issuer(settings):
    settings.OIDC_ISSUER = ""
    assert oidc.config() is None
    assert not oidc.enabled()
