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

from conftest import pairwise_sub  # noqa: E402
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

    def __init__(self, tmp, name, port, slo=BINDING_HTTP_POST, **settings):
        self.name = name
        self.slo_binding = slo
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
            "slo": {"url": self.slo,
                    "binding": "HTTP-POST" if slo == BINDING_HTTP_POST
                    else "HTTP-Redirect"},
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
                    "single_logout_service": [(self.slo, self.slo_binding)],
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
        self.iframe = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input":
            self.fields[a["name"]] = a["value"]
        elif tag == "script":
            self.scripts.append(a.get("src"))
        elif tag == "iframe":
            self.iframe = a.get("src")


def parse_form(text):
    p = FormParser()
    p.feed(text)
    return p


METRICS_TOKEN = "metrics-token-for-the-saml-tests-001"


def audit_commits(s):
    """How many audit commits (transactions, each one fsync) the server
    made so far, from its metrics."""
    r = requests.get(s.base + "/metrics", timeout=10,
                     headers={"Authorization": "Bearer " + METRICS_TOKEN})
    assert r.status_code == 200, r.text
    for line in r.text.splitlines():
        if line.startswith("sealauth_audit_commit_duration_seconds_count"):
            return int(float(line.split()[-1]))
    raise AssertionError("no audit commit count in /metrics")


@pytest.fixture
def saml_env(make_server, tmp_path):
    sp1 = SP(str(tmp_path), "wiki", 9)
    sp2 = SP(str(tmp_path), "hr", 9, slo=BINDING_HTTP_REDIRECT,
             signatureAlgorithm="rsa-sha256",
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
    env["SEALAUTH_METRICS_TOKEN"] = METRICS_TOKEN
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


def test_login_and_assertion_rows_are_one_commit(saml_env, inbox):
    """/login/continue records the finished login (sso.login) and the
    assertion it answers (saml.assertion) in one transaction: one fsync,
    the two rows next to each other in the chain."""
    s, sp1, _ = saml_env
    phone = enrolled_phone(s, inbox)
    _, loc = sp1.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    login = urllib.parse.parse_qs(urllib.parse.urlparse(
        r.headers["Location"]).query)["login"][0]
    p = requests.get(s.base + "/login/pending/" + login, timeout=10).json()
    r = requests.post(s.base + "/auth/initiate", timeout=10,
                      headers={"Origin": s.base},
                      json={"tokenId": phone.token_id, "serviceId": "wiki",
                            "scopes": p["scopes"], "login": login})
    assert r.status_code == 200, r.text
    sid = r.json()["sessionId"]
    push = inbox.next()
    assert phone.answer(sid, push["otp"], "approve",
                        ["identity:name"]).status_code == 200
    before = audit_commits(s)
    r = requests.get(s.base + "/login/continue", timeout=10,
                     params={"login": login, "session": sid},
                     allow_redirects=False)
    assert r.status_code == 200, r.text
    assert 'name="SAMLResponse"' in r.text
    assert audit_commits(s) - before == 1
    ev = [e for e in audit_events(s) if e["event"] in
          ("sso.login", "saml.assertion")]
    assert [e["event"] for e in ev[-2:]] == ["sso.login", "saml.assertion"]
    assert ev[-1]["seq"] == ev[-2]["seq"] + 1
    assert ev[-2]["detail"]["sid"] == ev[-1]["detail"]["sid"]


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
    # Who vouched, under its own name (pysaml2 does not know it, so it is
    # read from the assertion itself).
    xml0 = base64.b64decode(form.fields["SAMLResponse"]).decode()
    assert re.search(r'<saml:Attribute Name="urn:sealauth:claim:'
                     r'issuingAuthority"[^>]*FriendlyName="issuingAuthority"'
                     r'[^>]*>\s*<saml:AttributeValue[^>]*>DEMO<', xml0), xml0
    nameid = resp.name_id
    assert nameid.format == NAMEID_FORMAT_PERSISTENT
    assert nameid.text != phone.token_id
    # Pairwise per SP and derived with the issuing authority that vouched.
    assert nameid.text == pairwise_sub(s.data_dir, sp1.entity_id, "DEMO",
                                       phone.token_id)
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
    # nor the issuing authority, which its own mapping does not name.
    assert "issuingAuthority" not in base64.b64decode(
        form2.fields["SAMLResponse"]).decode()
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
    events = audit_events(s)
    issued = [e for e in events if e["event"] == "saml.assertion"]
    assert len(issued) == 3
    # The audit names the released claims, never their values.
    assert sorted(issued[0]["detail"]["claims"]) == [
        "dateOfBirth", "familyName", "givenName", "issuingAuthority"]
    assert "Erika" not in json.dumps(issued)


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


# ---- XML signature wrapping (HTTP-POST) -------------------------------------

def signed_post_xml(sp, s, **kw):
    reqid, req = sp.client.create_authn_request(
        s.base + "/saml/sso", binding=BINDING_HTTP_POST, sign=True,
        sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **kw)
    return reqid, str(req)


def post_xml(s, xml, cookies=None):
    return requests.post(s.base + "/saml/sso", timeout=10,
                         allow_redirects=False, cookies=cookies,
                         data={"SAMLRequest": base64.b64encode(
                             xml.encode()).decode()})


def split_root(xml):
    """(open tag of the root, its inner content, close tag)."""
    m = re.match(r"(?s)\s*(?:<\?xml[^>]*\?>\s*)?(<[^>]+>)(.*)(</[^>]+>)\s*$",
                 xml)
    return m.group(1), m.group(2), m.group(3)


def parts(xml):
    """The root's open tag, inner content, Issuer and Signature of xml."""
    head, body, tail = split_root(xml)
    issuer = re.search(r"(?s)<(\w+:)?Issuer.*?</(\w+:)?Issuer>", body).group(0)
    sig = re.search(r"(?s)<(\w+:)?Signature[ >].*?</(\w+:)?Signature>",
                    body).group(0)
    return head, body, tail, issuer, sig


def test_wrapping_attacks_are_refused(saml_env, inbox):
    s, sp1, _ = saml_env
    _, good = signed_post_xml(sp1, s)
    # The untouched request is accepted (a login starts).
    assert post_xml(s, good).status_code == 303
    prefix = re.match(r"\s*(?:<\?xml[^>]*\?>\s*)?<(\w+):", good).group(1)
    ext_open, ext_close = f"<{prefix}:Extensions>", f"</{prefix}:Extensions>"

    def refused(xml, reason):
        r = post_xml(s, xml)
        assert r.status_code == 200, r.text
        assert sso_status(r)[-1].endswith("RequestDenied"), r.text
        msg = base64.b64decode(
            parse_form(r.text).fields["SAMLResponse"]).decode()
        assert reason in msg, msg

    def fresh():
        _, g = signed_post_xml(sp1, s)
        return g, g[g.index("<" + prefix + ":AuthnRequest"):]

    # 1. A new root around the signed original (in Extensions): the
    #    signature is not on the message itself, so it counts as unsigned.
    g, whole = fresh()
    h, b, t, iss, sg = parts(g)
    rid = re.search(r' ID="([^"]+)"', h).group(1)
    refused(h.replace(f'ID="{rid}"', 'ID="_evil1"') + iss + ext_open + whole +
            ext_close + t, "not signed")
    # 2. The same ID twice: an evil root with the original's ID and
    #    signature, the original hidden in Extensions.
    g, whole = fresh()
    h, b, t, iss, sg = parts(g)
    refused(h + iss + sg + ext_open + whole + ext_close + t, "not unique")
    # 3. The signature on another root, still referencing the original,
    #    hidden in Extensions without its signature.
    g, whole = fresh()
    h, b, t, iss, sg = parts(g)
    rid = re.search(r' ID="([^"]+)"', h).group(1)
    refused(h.replace(f'ID="{rid}"', 'ID="_evil3"') + iss + sg + ext_open +
            whole.replace(sg, "") + ext_close + t, "not the signed element")
    # 4. Signed content changed (IsPassive added): the digest fails.
    g, _ = fresh()
    h, b, t, iss, sg = parts(g)
    refused(h.replace(" ID=", ' IsPassive="true" ID=', 1) + b + t,
            "does not match")
    # 5. A second signature.
    g, _ = fresh()
    h, b, t, iss, sg = parts(g)
    refused(h + b + ext_open + sg + ext_close + t, "ds:Signature elements")
    # 6. A transform outside the profile (XPath).
    g, _ = fresh()
    refused(g.replace(
        'Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"',
        'Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"', 1),
        "transform outside the profile")
    # 7. A DOCTYPE (entities): refused before anything else, as a page.
    g, _ = fresh()
    h, b, t, iss, sg = parts(g)
    r = post_xml(s, '<!DOCTYPE x [<!ENTITY e "x">]>' + h + b + t)
    assert r.status_code == 400 and "DOCTYPE" in r.text


# ---- Single logout ----------------------------------------------------------

def sso_both(s, sp1, sp2, phone, inbox):
    """Signs the person into both SPs; returns the cookie and responses."""
    reqid, loc = sp1.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    r = login_via_phone(s, phone, inbox, r.headers["Location"], "wiki",
                        ["identity:name"])
    resp1 = sp1.accept(parse_form(r.text).fields["SAMLResponse"], reqid)
    cookie = r.cookies["sealauth_sso"]
    reqid2, loc2 = sp2.authn_redirect()
    r2 = requests.get(loc2, allow_redirects=False, timeout=10,
                      cookies={"sealauth_sso": cookie})
    resp2 = sp2.accept(parse_form(r2.text).fields["SAMLResponse"], reqid2)
    return cookie, resp1, resp2


def query_of(url):
    return {k: v[0] for k, v in
            urllib.parse.parse_qs(urllib.parse.urlparse(url).query).items()}


def rsa_cert_b64(s):
    md = requests.get(s.base + "/saml/metadata", timeout=10).text
    for b64 in re.findall(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>",
                          md):
        c = x509.load_der_x509_certificate(base64.b64decode(b64))
        if isinstance(c.public_key(), rsa.RSAPublicKey):
            return b64
    raise AssertionError("no RSA certificate in the metadata")


def walk_page(r):
    """Follows the 303 to the logout walk's page: (its URL, the page)."""
    assert r.status_code == 303, r.text
    url = r.headers["Location"]
    assert "/saml/slo/walk?w=" in url
    page = requests.get(url, timeout=10, allow_redirects=False)
    return url, page


def hr_answers(s, sp2, r, resp2):
    """The HR SP (HTTP-Redirect, rsa-sha256) takes our LogoutRequest from
    the frame of the walk page r, checks its query signature and answers
    Success by redirect (into that frame)."""
    from saml2.sigver import verify_redirect_signature
    assert r.status_code == 200, r.text
    loc = parse_form(r.text).iframe
    assert loc is not None, r.text
    assert loc.startswith(sp2.slo + "?")
    q = query_of(loc)
    assert verify_redirect_signature(q, sp2.client.sec.sec_backend,
                                     cert=rsa_cert_b64(s))
    req = sp2.client.parse_logout_request(q["SAMLRequest"],
                                          BINDING_HTTP_REDIRECT)
    assert req.message.name_id.text == resp2.name_id.text
    answer = sp2.client.create_logout_response(
        req.message, [BINDING_HTTP_REDIRECT])
    info = sp2.client.apply_binding(
        BINDING_HTTP_REDIRECT, str(answer), s.base + "/saml/slo",
        relay_state=q["RelayState"], response=True, sign=True,
        sigalg=SIG_RSA_SHA256)
    return requests.get(dict(info["headers"])["Location"], timeout=10,
                        allow_redirects=False)


def test_slo_started_by_one_sp_reaches_the_other(saml_env, inbox):
    s, sp1, sp2 = saml_env
    phone = enrolled_phone(s, inbox)
    cookie, resp1, resp2 = sso_both(s, sp1, sp2, phone, inbox)
    # The wiki (HTTP-POST SLO, ECDSA) asks to log out.
    _, lreq = sp1.client.create_logout_request(
        s.base + "/saml/slo", s.base + "/saml/metadata",
        name_id=resp1.name_id, session_indexes=[resp1.assertion.authn_statement[0].session_index],
        sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    r = requests.post(s.base + "/saml/slo", timeout=10, allow_redirects=False,
                      cookies={"sealauth_sso": cookie},
                      data={"SAMLRequest": base64.b64encode(
                          str(lreq).encode()).decode(), "RelayState": "bye"})
    # The session is over at once; the walk page signs the person out of
    # the HR system in its frame.
    assert "sealauth_sso=;" in r.headers.get("Set-Cookie", "") or \
        "Max-Age=0" in r.headers.get("Set-Cookie", "")
    walk, page = walk_page(r)
    csp = page.headers["Content-Security-Policy"]
    assert "frame-src http://127.0.0.1:9;" in csp
    assert "/static/saml-slo.js" in parse_form(page.text).scripts
    r = hr_answers(s, sp2, page, resp2)
    assert r.status_code == 200 and "Signed out of HR" in r.text
    # The walk page moves on: back to the wiki with the aggregate status,
    # signed (ECDSA, verified by pysaml2 through xmlsec1).
    assert requests.get(walk + "&poll=1", timeout=10).json()[
        "waiting"] is False
    r = requests.get(walk, timeout=10, allow_redirects=False)
    assert r.status_code == 200, r.text
    form = parse_form(r.text)
    assert form.action == sp1.slo and form.fields["RelayState"] == "bye"
    lresp = sp1.client.parse_logout_request_response(
        form.fields["SAMLResponse"], BINDING_HTTP_POST)
    assert lresp.status_ok()
    # The provider session is gone: the next login needs the phone.
    _, loc = sp1.authn_redirect()
    again = requests.get(loc, allow_redirects=False, timeout=10,
                         cookies={"sealauth_sso": cookie})
    assert again.status_code == 303 and "/?login=" in again.headers["Location"]
    events = [e["event"] for e in audit_events(s)]
    assert "saml.logout" in events and "saml.logout_done" in events


def test_slo_started_by_the_other_sp_and_unsigned_refused(saml_env, inbox):
    s, sp1, sp2 = saml_env
    phone = enrolled_phone(s, inbox)
    cookie, resp1, resp2 = sso_both(s, sp1, sp2, phone, inbox)
    # Unsigned: refused, the session stays.
    _, lreq = sp2.client.create_logout_request(
        s.base + "/saml/slo", s.base + "/saml/metadata",
        name_id=resp2.name_id, sign=False)
    info = sp2.client.apply_binding(BINDING_HTTP_REDIRECT, str(lreq),
                                    s.base + "/saml/slo", relay_state="x",
                                    sign=False)
    r = requests.get(dict(info["headers"])["Location"], timeout=10,
                     allow_redirects=False, cookies={"sealauth_sso": cookie})
    assert r.status_code == 403
    # Signed, by HTTP-Redirect: the wiki gets a POSTed LogoutRequest.
    info = sp2.client.apply_binding(BINDING_HTTP_REDIRECT, str(lreq),
                                    s.base + "/saml/slo", relay_state="x",
                                    sign=True, sigalg=SIG_RSA_SHA256)
    r = requests.get(dict(info["headers"])["Location"], timeout=10,
                     allow_redirects=False, cookies={"sealauth_sso": cookie})
    walk, r = walk_page(r)
    assert r.status_code == 200, r.text
    form = parse_form(r.text)
    assert form.action == sp1.slo and 'target="slo-frame"' in r.text
    xml = base64.b64decode(form.fields["SAMLRequest"]).decode()
    ec = [c for c in idp_certs(requests.get(s.base + "/saml/metadata",
                                            timeout=10).text)
          if not isinstance(c.public_key(), rsa.RSAPublicKey)][0]
    v = xmlsec_verify(xml, pem(ec),
                      "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest")
    assert v.returncode == 0, v.stderr
    req = sp1.client.parse_logout_request(form.fields["SAMLRequest"],
                                          BINDING_HTTP_POST)
    assert req.message.name_id.text == resp1.name_id.text
    # The wiki fails to log out: the HR system hears PartialLogout.
    from saml2.samlp import STATUS_RESPONDER
    from saml2 import samlp
    answer = sp1.client.create_logout_response(
        req.message, [BINDING_HTTP_POST],
        status=samlp.Status(status_code=samlp.StatusCode(
            value=STATUS_RESPONDER)), sign=True,
        sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    r = requests.post(s.base + "/saml/slo", timeout=10, allow_redirects=False,
                      data={"SAMLResponse": base64.b64encode(
                          str(answer).encode()).decode(),
                          "RelayState": form.fields["RelayState"]})
    assert r.status_code == 200 and "Not signed out of WIKI" in r.text
    r = requests.get(walk, timeout=10, allow_redirects=False)
    assert r.status_code == 303, r.text
    q = query_of(r.headers["Location"])
    assert r.headers["Location"].startswith(sp2.slo)
    from saml2.sigver import verify_redirect_signature
    assert verify_redirect_signature(q, sp2.client.sec.sec_backend,
                                     cert=rsa_cert_b64(s))
    xml = zlib.decompress(base64.b64decode(q["SAMLResponse"]), -15).decode()
    assert "status:PartialLogout" in xml and q["RelayState"] == "x"


def test_idp_initiated_logout(saml_env, inbox):
    s, sp1, sp2 = saml_env
    phone = enrolled_phone(s, inbox)
    cookie, resp1, resp2 = sso_both(s, sp1, sp2, phone, inbox)
    page = requests.get(s.base + "/saml/logout", timeout=10)
    assert page.status_code == 200 and 'action="/saml/logout"' in page.text
    # Another site cannot log the person out.
    r = requests.post(s.base + "/saml/logout", timeout=10,
                      cookies={"sealauth_sso": cookie},
                      headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = requests.post(s.base + "/saml/logout", timeout=10,
                      allow_redirects=False, cookies={"sealauth_sso": cookie},
                      headers={"Origin": s.base})
    # The wiki first (HTTP-POST)...
    walk, r = walk_page(r)
    form = parse_form(r.text)
    assert form.action == sp1.slo
    req = sp1.client.parse_logout_request(form.fields["SAMLRequest"],
                                          BINDING_HTTP_POST)
    answer = sp1.client.create_logout_response(
        req.message, [BINDING_HTTP_POST], sign=True,
        sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    r = requests.post(s.base + "/saml/slo", timeout=10, allow_redirects=False,
                      data={"SAMLResponse": base64.b64encode(
                          str(answer).encode()).decode(),
                          "RelayState": form.fields["RelayState"]})
    # ...then the HR system (HTTP-Redirect), then the person's page.
    assert r.status_code == 200, r.text
    r = hr_answers(s, sp2, requests.get(walk, timeout=10), resp2)
    assert r.status_code == 200, r.text
    r = requests.get(walk, timeout=10)
    assert r.status_code == 200 and "signed out of every website" in r.text


def test_import_sp_from_metadata(saml_env, inbox, tmp_path, make_server):
    """`sealauth saml import-sp` turns pysaml2's own metadata into settings
    that the registry takes and that sign the SP in."""
    from saml2.metadata import create_metadata_string
    s, sp1, _ = saml_env
    md = create_metadata_string(None, config=sp1.client.config, valid=24)
    path = tmp_path / "sp.xml"
    path.write_bytes(md if isinstance(md, bytes) else md.encode())
    r = s.cli("saml", "import-sp", str(path))
    settings = json.loads(r.stdout)
    assert settings["entityId"] == sp1.entity_id
    assert [a["url"] for a in settings["acs"]] == [sp1.acs]
    assert settings["slo"] == {"url": sp1.slo, "binding": "HTTP-POST"}
    assert settings["wantSignedRequests"] is True
    assert settings["signingCertificates"]
    # A file that is not metadata is refused with a reason.
    bad = tmp_path / "bad.xml"
    bad.write_text("<x/>")
    r = s.cli("saml", "import-sp", str(bad), check=False)
    assert r.returncode == 1 and "EntityDescriptor" in r.stderr
    # The imported settings register the SP and sign it in.
    services = {"services": [{"serviceId": "imported", "name": "Imported",
                              "scopes": ["identity:name"],
                              "saml": settings}]}
    sf = tmp_path / "imported.json"
    sf.write_text(json.dumps(services))
    srv = make_server(env={**LOGIN_ENV,
                           "SEALAUTH_SERVICES_FILE": str(sf)}).start()
    sp1.connect(requests.get(srv.base + "/saml/metadata", timeout=10).text)
    phone = enrolled_phone(srv, inbox)
    reqid, loc = sp1.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    r = login_via_phone(srv, phone, inbox, r.headers["Location"],
                        "imported", ["identity:name"])
    resp = sp1.accept(parse_form(r.text).fields["SAMLResponse"], reqid)
    assert resp.get_identity()["givenName"] == ["Erika"]


def test_metadata_lists_both_keys_during_a_rotation(saml_env):
    """A rotated-in key is published (with its certificate) before it signs;
    the responses keep verifying with the certificate SPs already have."""
    import time
    s, sp1, _ = saml_env
    before = idp_certs(requests.get(s.base + "/saml/metadata", timeout=10).text)
    assert len(before) == 2
    s.cli("keys", "rotate", "--publish-delay", "3600")
    deadline = time.monotonic() + 10
    after = before
    while time.monotonic() < deadline and len(after) < 3:
        time.sleep(0.2)
        after = idp_certs(requests.get(s.base + "/saml/metadata",
                                       timeout=10).text)
    assert len(after) == 3
    old = {c.fingerprint(hashes.SHA256()) for c in before}
    assert old < {c.fingerprint(hashes.SHA256()) for c in after}
    # The metadata is signed by the key that signs now, the old one.
    md = requests.get(s.base + "/saml/metadata?signed=1", timeout=10).text
    ec_old = [c for c in before
              if not isinstance(c.public_key(), rsa.RSAPublicKey)][0]
    v = xmlsec_verify(md, pem(ec_old),
                      "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor")
    assert v.returncode == 0, v.stderr
