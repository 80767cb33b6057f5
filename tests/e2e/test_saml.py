"""The SAML 2.0 IdP against a real SAML SP implementation, pysaml2 (Debian's
python3-pysaml2, which verifies signatures with the xmlsec1 binary): SSO by
HTTP-Redirect and HTTP-POST with the phone approving, the SP reading the
mapped attributes, a second SP signed in from the provider session,
ForceAuthn, refusals, and `xmlsec1 --verify` on metadata and responses."""
import base64
import datetime
import html.parser
import json
import os
import re
import subprocess
import tempfile
import urllib.parse
import zlib

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

saml2 = pytest.importorskip("saml2")
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.client import Saml2Client  # noqa: E402
from saml2.config import SPConfig  # noqa: E402
from saml2.saml import NAMEID_FORMAT_PERSISTENT  # noqa: E402
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # noqa: E402

from test_login import (LOGIN_ENV, audit_events, enrolled_phone,  # noqa
                        inbox)

XMLSEC = "/usr/bin/xmlsec1"
SCOPES = ["identity:name", "identity:date_of_birth"]


def make_cert(cn):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            cert.public_bytes(serialization.Encoding.PEM).decode())


class SP:
    """One pysaml2 service provider, with its key pair and settings."""

    def __init__(self, tmp, name, port, **settings):
        self.name = name
        self.entity_id = f"http://127.0.0.1:{port}/{name}/metadata"
        self.acs = f"http://127.0.0.1:{port}/{name}/acs"
        self.slo = f"http://127.0.0.1:{port}/{name}/slo"
        self.key_pem, self.cert_pem = make_cert(name)
        self.key_file = os.path.join(tmp, name + ".key")
        self.cert_file = os.path.join(tmp, name + ".crt")
        with open(self.key_file, "w") as f:
            f.write(self.key_pem)
        with open(self.cert_file, "w") as f:
            f.write(self.cert_pem)
        self.settings = {
            "entityId": self.entity_id,
            "acs": [{"url": self.acs, "index": 0, "default": True}],
            "signingCertificates": [self.cert_pem],
            "wantSignedRequests": True,
            "signatureAlgorithm": "ecdsa-sha256",
        }
        self.settings.update(settings)
        self.client = None

    def service(self, scopes=SCOPES):
        return {"serviceId": self.name, "name": self.name.upper(),
                "scopes": scopes, "saml": self.settings}

    def connect(self, idp_metadata):
        conf = {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC,
            "key_file": self.key_file,
            "cert_file": self.cert_file,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "allow_unknown_attributes": True,
            "metadata": {"inline": [idp_metadata]},
            "service": {"sp": {
                "endpoints": {
                    "assertion_consumer_service": [(self.acs,
                                                    BINDING_HTTP_POST)],
                    "single_logout_service": [(self.slo, BINDING_HTTP_POST)],
                },
                "authn_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "name_id_format": NAMEID_FORMAT_PERSISTENT,
                "allow_unsolicited": False,
            }},
        }
        cfg = SPConfig()
        cfg.load(conf)
        self.client = Saml2Client(config=cfg)

    def authn_redirect(self, **kw):
        reqid, info = self.client.prepare_for_authenticate(
            binding=BINDING_HTTP_REDIRECT, relay_state="rs-" + self.name,
            sign=True, sigalg=SIG_RSA_SHA256, **kw)
        loc = dict(info["headers"])["Location"]
        return reqid, loc

    def authn_post_body(self, sso_url, **kw):
        reqid, req = self.client.create_authn_request(
            sso_url, binding=BINDING_HTTP_POST, sign=True,
            sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **kw)
        return reqid, base64.b64encode(str(req).encode()).decode()

    def accept(self, saml_response, reqid):
        return self.client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={reqid: "/"})


class FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}
        self.scripts = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input":
            self.fields[a["name"]] = a["value"]
        elif tag == "script":
            self.scripts.append(a.get("src"))


def parse_form(text):
    p = FormParser()
    p.feed(text)
    return p


@pytest.fixture
def saml_env(make_server, tmp_path):
    sp1 = SP(str(tmp_path), "wiki", 9)
    sp2 = SP(str(tmp_path), "hr", 9, signatureAlgorithm="rsa-sha256",
             signResponse=True,
             attributes=[{"claim": "givenName", "name": "givenName",
                          "nameFormat": "basic"}])
    services = {"services": [
        {"serviceId": "demo", "name": "demo", "scopes": ["identity:name"]},
        sp1.service(), sp2.service(["identity:name"])]}
    path = tmp_path / "services.json"
    path.write_text(json.dumps(services))
    env = dict(LOGIN_ENV)
    env["SEALAUTH_SERVICES_FILE"] = str(path)
    srv = make_server(env=env).start()
    md = requests.get(srv.base + "/saml/metadata", timeout=10).text
    sp1.connect(md)
    sp2.connect(md)
    return srv, sp1, sp2


def login_via_phone(s, phone, inbox, location, service, granted):
    """Follows the IdP's redirect to the login page and approves there."""
    login = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)[
        "login"][0]
    p = requests.get(s.base + "/login/pending/" + login, timeout=10).json()
    assert p["protocol"] == "saml" and p["serviceId"] == service
    r = requests.post(s.base + "/auth/initiate", timeout=10,
                      headers={"Origin": s.base},
                      json={"tokenId": phone.token_id, "serviceId": service,
                            "scopes": p["scopes"], "login": login})
    assert r.status_code == 200, r.text
    sid = r.json()["sessionId"]
    push = inbox.next()
    assert phone.answer(sid, push["otp"], "approve",
                        granted).status_code == 200
    return requests.get(s.base + "/login/continue", timeout=10,
                        params={"login": login, "session": sid},
                        allow_redirects=False)


def xmlsec_verify(xml, cert_pem, node="urn:oasis:names:tc:SAML:2.0:assertion:Assertion"):
    with tempfile.TemporaryDirectory() as d:
        x, c = os.path.join(d, "m.xml"), os.path.join(d, "c.pem")
        open(x, "w").write(xml)
        open(c, "w").write(cert_pem)
        return subprocess.run(
            [XMLSEC, "--verify", "--enabled-reference-uris", "same-doc",
             "--pubkey-cert-pem", c, "--id-attr:ID", node, x],
            capture_output=True, text=True)


def idp_certs(md):
    out = []
    for b64 in re.findall(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>",
                          md):
        der = base64.b64decode(b64)
        out.append(x509.load_der_x509_certificate(der))
    return out


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_redirect_sso_then_second_sp_from_the_session(saml_env, inbox):
    s, sp1, sp2 = saml_env
    phone = enrolled_phone(s, inbox)
    reqid, loc = sp1.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    assert r.headers["Location"].startswith("/?login=wl_")
    r = login_via_phone(s, phone, inbox, r.headers["Location"], "wiki",
                        ["identity:name", "identity:date_of_birth"])
    assert r.status_code == 200, r.text
    # The strict CSP holds: no inline script, the form may only go to the
    # SP's origin.
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "form-action http://127.0.0.1:9" in csp
    form = parse_form(r.text)
    assert form.action == sp1.acs
    assert form.scripts == ["/static/saml-post.js"]
    assert form.fields["RelayState"] == "rs-wiki"
    resp = sp1.accept(form.fields["SAMLResponse"], reqid)
    ava = resp.get_identity()
    assert ava["givenName"] == ["Erika"]
    assert ava["sn"] == ["Mustermann"]
    assert ava["dateOfBirth"] == ["1990-04-01"]
    nameid = resp.name_id
    assert nameid.format == NAMEID_FORMAT_PERSISTENT
    assert nameid.text != phone.token_id
    xml = base64.b64decode(form.fields["SAMLResponse"]).decode()
    assert "ecdsa-sha256" in xml and "xml-exc-c14n" in xml
    cookie = r.cookies["sealauth_sso"]

    # The second SP: no phone approval, the provider session answers.
    reqid2, loc2 = sp2.authn_redirect()
    r2 = requests.get(loc2, allow_redirects=False, timeout=10,
                      cookies={"sealauth_sso": cookie})
    assert r2.status_code == 200, r2.text
    form2 = parse_form(r2.text)
    assert form2.action == sp2.acs
    resp2 = sp2.accept(form2.fields["SAMLResponse"], reqid2)
    assert resp2.get_identity()["givenName"] == ["Erika"]
    # Only what the mapping names: no date of birth for the HR system.
    assert "dateOfBirth" not in resp2.get_identity()
    # Pairwise: another subject at another SP.
    assert resp2.name_id.text != nameid.text
    xml2 = base64.b64decode(form2.fields["SAMLResponse"]).decode()
    assert "rsa-sha256" in xml2
    assert len(re.findall(r"<ds:Signature[ >]", xml2)) == 2
    # Same person, same SP, later: the same persistent NameID.
    reqid3, loc3 = sp1.authn_redirect()
    r3 = requests.get(loc3, allow_redirects=False, timeout=10,
                      cookies={"sealauth_sso": cookie})
    resp3 = sp1.accept(parse_form(r3.text).fields["SAMLResponse"], reqid3)
    assert resp3.name_id.text == nameid.text
    events = [e["event"] for e in audit_events(s)]
    assert events.count("saml.assertion") == 3


def test_post_binding_and_force_authn(saml_env, inbox):
    s, sp1, _ = saml_env
    phone = enrolled_phone(s, inbox)
    reqid, body = sp1.authn_post_body(s.base + "/saml/sso")
    r = requests.post(s.base + "/saml/sso", data={"SAMLRequest": body,
                                                   "RelayState": "p"},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    r = login_via_phone(s, phone, inbox, r.headers["Location"], "wiki",
                        ["identity:name"])
    form = parse_form(r.text)
    resp = sp1.accept(form.fields["SAMLResponse"], reqid)
    # A claim the user did not grant never appears.
    assert "dateOfBirth" not in resp.get_identity()
    assert resp.get_identity()["givenName"] == ["Erika"]
    cookie = r.cookies["sealauth_sso"]
    # ForceAuthn: the session does not answer, a new login is needed.
    _, loc = sp1.authn_redirect(force_authn="true")
    r = requests.get(loc, allow_redirects=False, timeout=10,
                     cookies={"sealauth_sso": cookie})
    assert r.status_code == 303 and "/?login=" in r.headers["Location"]


def test_metadata_and_responses_verify_with_xmlsec1(saml_env, inbox):
    s, sp1, _ = saml_env
    md = requests.get(s.base + "/saml/metadata?signed=1", timeout=10)
    assert md.status_code == 200
    assert md.headers["Content-Type"] == "application/samlmetadata+xml"
    plain = requests.get(s.base + "/saml/metadata", timeout=10).text
    certs = idp_certs(plain)
    assert len(certs) == 2  # the ECDSA key of the ring, the RSA key
    ec = [c for c in certs if c.public_key().__class__.__name__.startswith(
        "_EllipticCurve") or "EllipticCurve" in type(c.public_key()).__name__]
    assert ec
    v = xmlsec_verify(md.text, pem(ec[0]),
                      "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor")
    assert v.returncode == 0, v.stderr
    # A changed byte no longer verifies.
    bad = md.text.replace("/saml/sso", "/saml/ssx", 1)
    assert xmlsec_verify(bad, pem(ec[0]),
                         "urn:oasis:names:tc:SAML:2.0:metadata:"
                         "EntityDescriptor").returncode != 0
    assert "<ds:Signature" not in plain
    for b in ("HTTP-Redirect", "HTTP-POST"):
        assert f'SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{b}"' in plain
        assert f'SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{b}"' in plain
    assert "nameid-format:persistent" in plain and "nameid-format:transient" in plain
    phone = enrolled_phone(s, inbox)
    reqid, loc = sp1.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    r = login_via_phone(s, phone, inbox, r.headers["Location"], "wiki",
                        ["identity:name"])
    xml = base64.b64decode(parse_form(r.text).fields["SAMLResponse"]).decode()
    v = xmlsec_verify(xml, pem(ec[0]))
    assert v.returncode == 0, v.stderr


def sso_status(r):
    form = parse_form(r.text)
    xml = base64.b64decode(form.fields["SAMLResponse"]).decode()
    return re.findall(r'StatusCode Value="([^"]+)"', xml)


def test_refused_requests(saml_env, inbox):
    s, sp1, _ = saml_env
    # An SP nobody registered: a page, never a redirect.
    stranger = SP(tempfile.mkdtemp(), "stranger", 9)
    md = requests.get(s.base + "/saml/metadata", timeout=10).text
    stranger.connect(md)
    _, loc = stranger.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "Location" not in r.headers
    assert "not registered" in r.text
    # An ACS the SP did not register: a page too.
    _, loc = sp1.authn_redirect(assertion_consumer_service_url=
                                "http://127.0.0.1:9/evil/acs")
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "Location" not in r.headers
    assert "evil" not in r.text
    # Unsigned, where the settings want signatures: an error Response to
    # the registered ACS.
    reqid, info = sp1.client.prepare_for_authenticate(
        binding=BINDING_HTTP_REDIRECT, sign=False)
    loc = dict(info["headers"])["Location"]
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 200
    assert parse_form(r.text).action == sp1.acs
    assert sso_status(r) == ["urn:oasis:names:tc:SAML:2.0:status:Requester",
                             "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"]
    # A bad signature: the query changed after signing.
    _, loc = sp1.authn_redirect()
    bad = re.sub(r"RelayState=[^&]+", "RelayState=tampered", loc)
    r = requests.get(bad, allow_redirects=False, timeout=10)
    assert sso_status(r)[-1].endswith("RequestDenied")
    # A replayed request ID.
    _, loc = sp1.authn_redirect()
    assert requests.get(loc, allow_redirects=False,
                        timeout=10).status_code == 303
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert sso_status(r)[-1].endswith("RequestDenied")
    assert "already used" in base64.b64decode(
        parse_form(r.text).fields["SAMLResponse"]).decode()
    # Malformed: not base64 / not XML.
    r = requests.get(s.base + "/saml/sso?SAMLRequest=%%%", timeout=10)
    assert r.status_code == 400
    events = audit_events(s)
    refused = [e for e in events if e["event"] == "saml.refused"]
    assert len(refused) >= 5
