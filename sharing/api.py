"""The OpenAPI description of the diploma verification API (POST /diploma/api/verify)."""

from __future__ import annotations

from typing import Any

API_PATH = "/diploma/api/verify"

_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["state", "valid", "reason", "message"],
    "properties": {
        "state": {
            "type": "string",
            "enum": ["valid", "revoked", "replaced", "expired", "invalid", "error"],
            "description": "expired: a share link past its date; error: the request was refused.",
        },
        "valid": {"type": "boolean"},
        "reason": {
            "type": "string",
            "description": "A stable code: link_revoked, link_expired, unknown_link, "
            "rate_limited, too_large, bad_request, or the verifier's (bad-signature, ...).",
        },
        "message": {"type": "string", "description": "For people, in the request's language."},
        "number": {"type": ["string", "null"], "description": "The diploma number."},
        "current_number": {
            "type": ["string", "null"],
            "description": "For a replaced diploma: the number of the diploma that replaces it.",
        },
        "face": {
            "type": ["string", "null"],
            "enum": ["credential", "sd-jwt", "qr", "pdf", "share_link", None],
        },
        "claims": {
            "type": "object",
            "description": "What the submitted face discloses (a share link: what its holder "
            "chose to show). Never more.",
        },
        "retry_after": {"type": "integer", "description": "Seconds, with rate_limited."},
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Bac e-Services: diploma verification",
        "version": "1",
        "description": "Verify a baccalaureate diploma: a share link given by its holder, the "
        "text of its QR code, its SD-JWT VC (or a presentation of it), its Verifiable "
        "Credential (JSON) or its signed PDF. No account; rate-limited per address; "
        "at most 5 MB per request.",
    },
    "paths": {
        API_PATH: {
            "post": {
                "operationId": "verifyDiploma",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {
                                        "type": "object",
                                        "required": ["data"],
                                        "properties": {
                                            "data": {
                                                "type": "string",
                                                "description": "A share link, QR text "
                                                "(BACD1:...), SD-JWT or credential JSON.",
                                            }
                                        },
                                    },
                                    {
                                        "type": "object",
                                        "required": ["credential"],
                                        "properties": {"credential": {"type": "object"}},
                                    },
                                ]
                            }
                        },
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "responses": {
                    "200": {
                        "description": "The verdict (a refused diploma is still a 200).",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}
                        },
                    },
                    "400": {"description": "Not a JSON object with data or credential."},
                    "413": {"description": "Larger than the limit (5 MB)."},
                    "429": {"description": "Too many checks from this network; see Retry-After."},
                },
            }
        }
    },
    "components": {"schemas": {"Answer": _ANSWER}},
}
