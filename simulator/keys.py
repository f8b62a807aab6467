"""RSA keys made once per process and lent to every Simulator that does not ask for fresh ones.

A 2048-bit key takes ~0.1-0.3 s to generate and each tenant needs several (TLS CA and server, token signing, one per
certificate app); a test suite starting hundreds of simulators would spend most of its time here. What stays
distinct per instance is everything a test can observe as a secret or an identity: certificates (new serial and
thumbprint), the token ``kid`` (a token from another instance is refused), client secrets, PFX passwords and the
identity header.
"""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.asymmetric import rsa

RSAKey = rsa.RSAPrivateKey

_lock = threading.Lock()
_pool: dict[str, RSAKey] = {}


def new_key() -> RSAKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeySource:
    """Where one simulator gets its keys: the process-wide pool (``fresh=False``) or new ones every time."""

    def __init__(self, fresh: bool = False) -> None:
        self.fresh = fresh
        self._certificates = 0  # certificate apps made so far by this simulator: each gets a different pooled key
        self._lock = threading.Lock()

    def key(self, purpose: str) -> RSAKey:
        """The key for ``purpose`` ("tls-ca", "tls-server", "token-signing", …)."""
        if self.fresh:
            return new_key()
        with _lock:
            if purpose not in _pool:
                _pool[purpose] = new_key()
            return _pool[purpose]

    def certificate_key(self) -> RSAKey:
        """A key for the next client certificate; two certificate apps of one simulator never share one."""
        with self._lock:
            ordinal = self._certificates
            self._certificates += 1
        return self.key(f"client-certificate-{ordinal}")
