"""Encrypted assertions against pysaml2 as the SP: the SP decrypts with its
encryption key (xmlsec1 underneath), verifies the assertion's signature
inside and reads the attributes; a changed ciphertext is refused by the SP;
an SP whose only encryption certificate is EC cannot be registered."""
import base64
import json
import re

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from test_saml import (SP, XMLSEC, login_via_phone, make_cert,  # noqa: F401
                       parse_form, xmlsec_verify, idp_certs, pem)
from test_login import LOGIN_ENV, audit_events, enrolled_phone, inbox  # noqa

import datetime
import os
import subprocess
import tempfile


class EncSP(SP):
    """A pysaml2 SP with a second key pair for decryption only."""

    def __init__(self, tmp, name, port, **settings):
        super().__init__(tmp, name, port, **settings)
        key_pem, self.enc_cert_pem = make_cert(name + "-enc")
        self.enc_key_file, self.enc_cert_file = (
            os.path.join(tmp, f"{name}-enc.{ext}") for ext in ("key", "crt"))
        for path, text in ((self.enc_key_file, key_pem),
                           (self.enc_cert_file, self.enc_cert_pem)):
            with open(path, "w") as f:
                f.write(text)
        self.settings["encryptionCertificate"] = self.enc_cert_pem
        self.settings["encryptAssertions"] = True

    def connect(self, idp_metadata):
        super().connect(idp_metadata)
        cfg = self.client.config
        cfg.encryption_keypairs = [{"key_file": self.enc_key_file,
                                    "cert_file": self.enc_cert_file}]
        # pysaml2 reads the decryption keys when it builds the client.
        from saml2.client import Saml2Client
        self.client = Saml2Client(config=cfg)


@pytest.fixture
def enc_env(make_server, tmp_path):
    gcm = EncSP(str(tmp_path), "vault", 9)
    signed = EncSP(str(tmp_path), "crm", 9, signResponse=True,
                   encryptionAlgorithm="aes128-gcm")
    path = tmp_path / "services.json"
    path.write_text(json.dumps({"services": [gcm.service(), signed.service()]}))
    srv = make_server(env={**LOGIN_ENV,
                           "SEALAUTH_SERVICES_FILE": str(path)}).start()
    md = requests.get(srv.base + "/saml/metadata", timeout=10).text
    gcm.connect(md)
    signed.connect(md)
    return srv, gcm, signed


def xmlsec_decrypt(xml, key_file):
    with tempfile.TemporaryDirectory() as d:
        x = os.path.join(d, "m.xml")
        with open(x, "w") as f:
            f.write(xml)
        return subprocess.run([XMLSEC, "--decrypt", "--privkey-pem",
                               key_file, x], capture_output=True, text=True)


def content_cipher_value(xml):
    """The span of the EncryptedData's own CipherValue (the last one; the
    first belongs to the EncryptedKey)."""
    spans = [m.span(1) for m in re.finditer(
        r"<(?:\w+:)?CipherValue>([^<]+)</(?:\w+:)?CipherValue>", xml)]
    assert len(spans) == 2, xml
    return spans[1]


def sso(s, sp, phone, inbox, service, scopes, **kw):
    """One SP-initiated login approved on the phone: (request ID, the
    base64 SAMLResponse, its XML)."""
    reqid, loc = sp.authn_redirect(**kw)
    r = requests.get(loc, allow_redirects=False, timeout=10)
    r = login_via_phone(s, phone, inbox, r.headers["Location"], service,
                        scopes)
    assert r.status_code == 200, r.text
    b64 = parse_form(r.text).fields["SAMLResponse"]
    return reqid, b64, base64.b64decode(b64).decode()


def test_sp_decrypts_and_accepts_then_refuses_a_tampered_one(enc_env, inbox):
    s, sp, _ = enc_env
    phone = enrolled_phone(s, inbox)
    reqid, b64, xml = sso(s, sp, phone, inbox, "vault",
                          ["identity:name", "identity:date_of_birth"])
    # Nothing of the person in the clear, the algorithms we promise.
    assert "Erika" not in xml and "NameID" not in xml
    assert "<saml:EncryptedAssertion>" in xml
    assert "<saml:Assertion" not in xml
    assert "http://www.w3.org/2009/xmlenc11#aes256-gcm" in xml
    assert "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" in xml
    # The SP decrypts with its encryption key, checks the signature of the
    # assertion inside (want_assertions_signed) and reads the attributes.
    resp = sp.accept(b64, reqid)
    ava = resp.get_identity()
    assert ava["givenName"] == ["Erika"]
    assert ava["dateOfBirth"] == ["1990-04-01"]
    assert resp.assertion.signature is not None

    # Another login, its ciphertext changed: the SP refuses it.
    reqid, _, xml = sso(s, sp, phone, inbox, "vault", ["identity:name"],
                        force_authn="true")
    a, b = content_cipher_value(xml)
    mid = a + (b - a) // 2
    flipped = "A" if xml[mid] != "A" else "B"
    bad = xml[:mid] + flipped + xml[mid + 1:]
    # pysaml2 (through xmlsec1) cannot decrypt it: it hands back a
    # response without any assertion, so nobody is signed in, or raises.
    try:
        got = sp.accept(base64.b64encode(bad.encode()).decode(), reqid)
        assert got.assertion is None and not got.assertions
        assert got.get_identity() == {}
    except AssertionError:
        raise
    except Exception as e:  # a refusal by exception is as good
        assert "decrypt" in (type(e).__name__ + str(e)).lower(), repr(e)
    # xmlsec1 itself refuses the changed ciphertext (the GCM tag fails).
    assert xmlsec_decrypt(bad, sp.enc_key_file).returncode != 0
    assert xmlsec_decrypt(xml, sp.enc_key_file).returncode == 0
    # The untouched copy of that response is still accepted.
    good = sp.accept(base64.b64encode(xml.encode()).decode(), reqid)
    assert good.get_identity()["givenName"] == ["Erika"]


def test_signed_response_around_an_encrypted_assertion(enc_env, inbox):
    s, _, sp = enc_env
    phone = enrolled_phone(s, inbox)
    reqid, b64, xml = sso(s, sp, phone, inbox, "crm", ["identity:name"])
    assert "http://www.w3.org/2009/xmlenc11#aes128-gcm" in xml
    # The response's signature covers the EncryptedAssertion.
    ec_cert = [c for c in idp_certs(requests.get(
        s.base + "/saml/metadata", timeout=10).text)
        if "EllipticCurve" in type(c.public_key()).__name__][0]
    v = xmlsec_verify(xml, pem(ec_cert),
                      "urn:oasis:names:tc:SAML:2.0:protocol:Response")
    assert v.returncode == 0, v.stderr
    resp = sp.accept(b64, reqid)
    assert resp.get_identity()["givenName"] == ["Erika"]
    issued = [e for e in audit_events(s) if e["event"] == "saml.assertion"]
    assert issued and issued[-1]["detail"]["encrypted"] is True


def ec_cert_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec-enc")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_ec_only_encryption_certificate_is_refused(make_server, tmp_path):
    sp = SP(str(tmp_path), "ecsp", 9, encryptAssertions=True,
            encryptionCertificate=ec_cert_pem())
    path = tmp_path / "services.json"
    path.write_text(json.dumps({"services": [sp.service()]}))
    srv = make_server(env={**LOGIN_ENV, "SEALAUTH_SERVICES_FILE": str(path)})
    with pytest.raises(RuntimeError) as e:
        srv.start()
    assert "encryptionCertificate: an EC key needs ECDH-ES" in str(e.value)
