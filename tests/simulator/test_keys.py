"""Keys are generated once per process and lent to later simulators; what a test can observe stays per instance."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from simulator import Simulator
from tests.simulator.graph_session import Graph, error_of, mint


def _public_key(pem_path) -> bytes:
    certificate = x509.load_pem_x509_certificate(pem_path.read_bytes())
    return certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def test_later_simulators_reuse_the_keys_but_not_certificates_secrets_or_tokens(sim):
    with Simulator() as other:
        assert _public_key(other.ca_path) == _public_key(sim.ca_path)  # the pooled CA key
        assert other.ca_path.read_bytes() != sim.ca_path.read_bytes()  # a new certificate all the same
        assert other.identity.cert_app.certificate_thumbprint != sim.identity.cert_app.certificate_thumbprint
        assert other.identity.cert_app.certificate_password != sim.identity.cert_app.certificate_password
        assert other.identity.default_app.secret != sim.identity.default_app.secret
        assert other.identity_header != sim.identity_header
        assert other.tokens.kid != sim.tokens.kid
        # A token signed by one simulator is refused by another, though the signing key is the same.
        foreign = mint(other, ["User.Read.All"])
        assert error_of(Graph(sim, foreign).get("/users"))[:2] == (401, "InvalidAuthenticationToken")
        assert Graph(sim, mint(sim, ["User.Read.All"])).get("/users").status_code == 200


def test_two_certificate_apps_of_one_simulator_never_share_a_key(sim):
    first = sim.identity.cert_app
    second = sim.identity.add_app("Second", secret=False, certificate=True)
    assert _public_key(first.certificate_path) != _public_key(second.certificate_path)


def test_fresh_keys_gives_a_simulator_keys_of_its_own(sim):
    with Simulator(fresh_keys=True) as fresh:
        assert _public_key(fresh.ca_path) != _public_key(sim.ca_path)
        assert _public_key(fresh.identity.cert_app.certificate_path) != _public_key(
            sim.identity.cert_app.certificate_path)
        assert fresh.tokens.jwks()["keys"][0]["n"] != sim.tokens.jwks()["keys"][0]["n"]
