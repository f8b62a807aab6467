"""Client certificates for simulated app registrations: a PEM (key + certificate) and a PFX of the same pair.

The app's certificate mode is tested with the same files it would get from Key Vault or the portal.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class ClientCertificate:
    certificate: x509.Certificate
    pem_path: Path
    pfx_path: Path
    pfx_password: str

    @property
    def x5t(self) -> str:
        """SHA-1 thumbprint, base64url, as the ``x5t`` JWT header carries it (RFC 7515 §4.1.7)."""
        return _b64url(self.certificate.fingerprint(hashes.SHA1()))  # noqa: S303 (the header is defined as SHA-1)

    @property
    def x5t_s256(self) -> str:
        """SHA-256 thumbprint, base64url, as ``x5t#S256`` carries it (RFC 7515 §4.1.8)."""
        return _b64url(self.certificate.fingerprint(hashes.SHA256()))

    @property
    def thumbprint(self) -> str:
        """The SHA-1 hex thumbprint the portal shows (what MSAL's ``thumbprint`` parameter takes)."""
        return self.certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303

    def public_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def create_client_certificate(directory: Path, name: str, key: rsa.RSAPrivateKey | None = None) -> ClientCertificate:
    """Write ``{name}.pem`` (unencrypted key + certificate) and ``{name}.pfx`` (password-protected). The certificate
    (and so its thumbprint) and the PFX password are new each time; ``key`` may be a pooled one (simulator/keys.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pem_path = directory / f"{name}.pem"
    pem_path.write_bytes(key_pem + certificate.public_bytes(serialization.Encoding.PEM))
    pem_path.chmod(0o600)
    password = secrets.token_urlsafe(12)
    pfx = pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, certificate, None,
        serialization.BestAvailableEncryption(password.encode("utf-8")),
    )
    pfx_path = directory / f"{name}.pfx"
    pfx_path.write_bytes(pfx)
    pfx_path.chmod(0o600)
    return ClientCertificate(certificate, pem_path, pfx_path, password)
