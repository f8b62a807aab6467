"""Signing and checking the simulator's access tokens: RS256 JWTs, as Entra ID issues them."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenError(Exception):
    """The token is missing, malformed, badly signed, expired or not for this audience."""


class TokenIssuer:
    def __init__(self, key: rsa.RSAPrivateKey | None = None) -> None:
        # The key may be shared with other simulators of this process (simulator/keys.py); the kid never is, and
        # verify() refuses a token whose kid is not this issuer's, as Entra's keys are per signing key.
        self._key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.issued: set[str] = set()  # every access token signed, so tests can check none reaches a log

    def issue(self, claims: dict[str, Any], lifetime: int) -> str:
        now = int(time.time())
        body = {"iat": now, "nbf": now, "exp": now + lifetime, "uti": uuid.uuid4().hex, **claims}
        token = jwt.encode(body, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})
        self.issued.add(token)
        return token

    def verify(self, token: str, audiences: list[str]) -> dict[str, Any]:
        try:
            if jwt.get_unverified_header(token).get("kid") != self.kid:
                raise TokenError("Access token validation failure.")
            return jwt.decode(
                token, self._key.public_key(), algorithms=["RS256"], audience=audiences,
                options={"require": ["exp", "iat", "aud", "tid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("Lifetime validation failed, the token is expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("Access token validation failure. Invalid audience.") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("Access token validation failure.") from exc

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {"kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256",
                 "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
            ]
        }
