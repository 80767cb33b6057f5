"""SP metadata imported through the admin API
(/v1/admin/services/saml-metadata/start|finish): pysaml2 writes real SP
metadata, the admin sees what will be stored, confirms it with a passkey,
and the SP then signs a person in through the server. Refusals name the
field and store nothing; the import is audited."""
import http.server
import threading

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

pytest.importorskip("saml2")
from saml2.metadata import entity_descriptor, sign_entity_descriptor  # noqa
from saml2.sigver import security_context  # noqa: E402
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # noqa: E402

from admin_client import ADMIN_LIMITS, Admin, admin_server, audit_events  # noqa
from authenticator import b64u  # noqa: E402
from test_login import LOGIN_ENV, enrolled_phone, inbox  # noqa: F401,E402
from test_saml import SP, login_via_phone, make_cert, parse_form  # noqa

START = "/v1/admin/services/saml-metadata/start"
FINISH = "/v1/admin/services/saml-metadata/finish"
SCOPES = ["identity:name"]


def fingerprint(pem):
    fp = x509.load_pem_x509_certificate(pem.encode()).fingerprint(
        hashes.SHA256())
    return ":".join("%02X" % b for b in fp)


def sp_metadata(sp, sign=False):
    """The SP's metadata as pysaml2 writes it, signed with its own key
    when asked."""
    ed = entity_descriptor(sp.client.config)
    if not sign:
        return str(ed)
    _, xml = sign_entity_descriptor(ed, None,
                                    security_context(sp.client.config),
                                    sign_alg=SIG_RSA_SHA256,
                                    digest_alg=DIGEST_SHA256)
    return xml


@pytest.fixture
def env(make_server, tmp_path):
    s = admin_server(make_server, env={
        **LOGIN_ENV, "SEALAUTH_RATE_LIMITS": ADMIN_LIMITS + ",push=1000/600"})
    a = Admin(s)
    cred = a.claim()
    assert a.login().status_code == 200
    sp = SP(str(tmp_path), "wiki", 9)
    sp.connect(requests.get(s.base + "/saml/metadata", timeout=10).text)
    return s, a, cred, sp


def stored(a, sid):
    return a.get("/v1/admin/services/" + sid)


def test_import_shows_what_is_stored_then_the_sp_signs_in(env, inbox):
    s, a, cred, sp = env
    r = a.post(START, {"serviceId": "wiki", "name": "Wiki", "scopes": SCOPES,
                       "metadataXml": sp_metadata(sp)})
    assert r.status_code == 202, r.text
    p = r.json()["preview"]
    assert p["op"] == "create" and p["serviceId"] == "wiki"
    assert p["entityId"] == sp.entity_id
    assert [x["url"] for x in p["acs"]] == [sp.acs]
    assert p["slo"]["url"] == sp.slo and p["slo"]["binding"] == "HTTP-POST"
    assert [c["sha256"] for c in p["signingCertificates"]] == [
        fingerprint(sp.cert_pem)]
    assert p["signingCertificates"][0]["subject"] == "CN=wiki"
    assert p["signingCertificates"][0]["key"] == "RSA 2048"
    assert p["requirements"]["wantSignedRequests"] is True
    assert p["requirements"]["signAssertion"] is True
    assert p["metadataSignature"] == {"status": "unverified",
                                      "signed": False}
    assert p["source"] == "pasted"
    # The record shown is the record stored.
    record = p["record"]
    assert record["saml"]["metadata"]["signature"] == "unverified"
    assert stored(a, "wiki").status_code == 404

    r = a.finish(r, FINISH)
    assert r.status_code == 201, r.text
    got = stored(a, "wiki").json()
    assert got["saml"] == record["saml"] and got["name"] == "Wiki"

    ev = [e for e in audit_events(s)
          if e["event"] == "admin.service_saml_imported"]
    assert len(ev) == 1
    d = ev[0]["detail"]
    assert d["serviceId"] == "wiki" and d["entityId"] == sp.entity_id
    assert d["admin"] == a.id and d["uvPasskeyId"] == b64u(cred.id)
    assert d["metadataSignature"] == "unverified" and d["created"] is True
    assert ev[0]["ip"] == "127.0.0.1" and ev[0]["ua"] == "admin-e2e"

    # The SP now signs a person in, its request signature checked with the
    # imported certificate.
    phone = enrolled_phone(s, inbox)
    reqid, loc = sp.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    r = login_via_phone(s, phone, inbox, r.headers["Location"], "wiki",
                        ["identity:name"])
    assert r.status_code == 200, r.text
    form = parse_form(r.text)
    assert form.action == sp.acs
    resp = sp.accept(form.fields["SAMLResponse"], reqid)
    assert resp.get_identity()["givenName"] == ["Erika"]


def test_reimport_updates_and_keeps_the_admins_settings(env):
    s, a, _, sp = env
    md = sp_metadata(sp)
    r = a.change("POST", START, {"serviceId": "wiki", "scopes": SCOPES,
                                 "metadataXml": md}, FINISH)
    assert r.status_code == 201, r.text
    mapping = [{"claim": "givenName", "name": "givenName",
                "nameFormat": "basic"}]
    r = a.change("PATCH", "/v1/admin/services/wiki",
                 {"saml": {**r.json()["saml"], "attributes": mapping,
                           "signResponse": True}},
                 "/v1/admin/services/finish")
    assert r.status_code == 200, r.text
    # Without serviceId the record with that entity id is the one updated.
    r = a.post(START, {"metadataXml": md})
    assert r.status_code == 202, r.text
    p = r.json()["preview"]
    assert p["op"] == "update" and p["serviceId"] == "wiki"
    assert p["before"]["saml"]["attributes"] == mapping
    assert p["record"]["saml"]["attributes"] == mapping
    assert p["requirements"]["signResponse"] is True
    r = a.finish(r, FINISH)
    assert r.status_code == 200, r.text
    assert r.json()["saml"]["attributes"] == mapping
    ev = [e for e in audit_events(s)
          if e["event"] == "admin.service_saml_imported"]
    assert [e["detail"]["created"] for e in ev] == [True, False]


class MetadataServer:
    """Serves documents on loopback: path -> (status, body)."""

    def __init__(self, docs):
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = docs.get(self.path, (404, "no"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever,
                         daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_signed_metadata_by_url(env):
    s, a, _, sp = env
    signed = sp_metadata(sp, sign=True)
    md = MetadataServer({"/signed.xml": (200, signed),
                         "/plain.xml": (200, sp_metadata(sp)),
                         "/big.xml": (200, "<x>" + "a" * 300000 + "</x>")})
    try:
        _, wrong = make_cert("federation")
        # Signed, but not by the certificate the admin trusts.
        r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                           "metadataUrl": md.base + "/signed.xml",
                           "signerCertificate": wrong})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "saml_metadata_signature"
        assert r.json()["field"] == "signerCertificate"
        # Not signed at all while a signer is required.
        r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                           "metadataUrl": md.base + "/plain.xml",
                           "signerCertificate": sp.cert_pem})
        assert r.status_code == 422 and "not signed" in r.json()["message"]
        refused = [e for e in audit_events(s)
                   if e["event"] == "admin.service_change_refused"]
        assert [e["detail"]["error"] for e in refused] == [
            "saml_metadata_signature", "saml_metadata_signature"]
        # Fetch failures and limits.
        r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                           "metadataUrl": md.base + "/missing.xml"})
        assert r.status_code == 502, r.text
        assert r.json()["error"] == "saml_metadata_fetch_failed"
        assert "404" in r.json()["message"]
        r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                           "metadataUrl": md.base + "/big.xml"})
        assert r.status_code == 502 and "larger than" in r.json()["message"]
        # A host on an internal network or the cloud metadata address is
        # refused before any connection is made (the address rules are
        # applied after name resolution, so no packet leaves loopback).
        for url, why in (("https://10.0.0.1/md.xml", "private"),
                         ("https://169.254.169.254/latest", "link-local"),
                         ("https://[fd00::1]/md.xml", "private")):
            r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                               "metadataUrl": url})
            assert r.status_code == 502, (url, r.text)
            assert r.json()["error"] == "saml_metadata_fetch_failed"
            assert f"address is {why}, not public" in r.json()["message"]
        refused = [e["detail"] for e in audit_events(s)
                   if e["event"] == "admin.service_change_refused"]
        assert refused[-1]["url"] == "https://[fd00::1]/md.xml"
        assert "not public" in refused[-1]["reason"]
        for url in ("file:///etc/passwd", "ftp://127.0.0.1/x",
                    "http://example.com/md.xml"):
            r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                               "metadataUrl": url})
            assert r.status_code == 400, (url, r.text)
            assert r.json()["field"] == "metadataUrl"
        assert stored(a, "wiki").status_code == 404

        # Signed by the trusted key: verified, and recorded as such.
        r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                           "metadataUrl": md.base + "/signed.xml",
                           "signerCertificate": sp.cert_pem})
        assert r.status_code == 202, r.text
        sig = r.json()["preview"]["metadataSignature"]
        assert sig == {"status": "verified", "signed": True,
                       "signerSha256": fingerprint(sp.cert_pem)}
        assert r.json()["preview"]["source"] == md.base + "/signed.xml"
        r = a.finish(r, FINISH)
        assert r.status_code == 201, r.text
        prov = stored(a, "wiki").json()["saml"]["metadata"]
        assert prov["signature"] == "verified"
        assert prov["signerSha256"] == fingerprint(sp.cert_pem)
        ev = [e for e in audit_events(s)
              if e["event"] == "admin.service_saml_imported"][-1]
        assert ev["detail"]["metadataSignature"] == "verified"
    finally:
        md.close()


def test_refusals_store_nothing(env, tmp_path):
    s, a, _, sp = env
    md = sp_metadata(sp)
    cases = [
        ({"serviceId": "wiki", "scopes": SCOPES, "metadataXml": "<md:Entity"},
         422, "saml_metadata_invalid", "metadataXml"),
        ({"serviceId": "wiki", "scopes": SCOPES, "metadataXml": "<x/>"},
         422, "saml_metadata_invalid", "metadataXml"),
        ({"serviceId": "wiki", "scopes": SCOPES, "metadataXml": md,
          "metadataUrl": "https://sp.example/md"}, 400, "validation", ""),
        ({"serviceId": "wiki", "scopes": SCOPES}, 400, "validation", ""),
        ({"scopes": SCOPES, "metadataXml": md}, 400, "validation",
         "serviceId"),
        ({"serviceId": "wiki", "metadataXml": md}, 400, "validation",
         "scopes"),
        ({"serviceId": "wiki", "scopes": SCOPES, "metadataXml": md,
          "signerCertificate": "x" * 80}, 400, "validation",
         "signerCertificate"),
        ({"serviceId": "wiki", "scopes": ["identity:nope"],
          "metadataXml": md}, 400, "validation", "scopes[0]"),
    ]
    for body, status, code, field in cases:
        r = a.post(START, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"] == code, r.text
        if field:
            assert r.json()["field"] == field, r.text
    # Metadata the registry would refuse: the field inside "saml" named.
    r = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                       "metadataXml": md.replace(sp.acs, "ftp://x/acs")})
    assert r.status_code == 422, r.text
    assert "acs" in r.json()["message"]
    assert stored(a, "wiki").status_code == 404

    # A failed step-up stores nothing; the change stays pending.
    start = a.post(START, {"serviceId": "wiki", "scopes": SCOPES,
                           "metadataXml": md})
    r = a.finish(start, FINISH, flags=0x01)  # user verification off
    assert r.status_code == 401 and r.json()["retryId"] == \
        start.json()["stepupId"]
    assert stored(a, "wiki").status_code == 404
    # The import's step-up finishes no other change, and no other
    # change's step-up finishes an import.
    r = a.post("/v1/admin/services/finish", {
        "stepupId": start.json()["stepupId"],
        "uvResponse": a.auth.get(r.json()["uvOptions"])})
    assert r.status_code == 403, r.text
    assert stored(a, "wiki").status_code == 404
    other = a.send("POST", "/v1/admin/services",
                   {"serviceId": "x1", "name": "X", "scopes": SCOPES})
    r = a.finish(other, FINISH)
    assert r.status_code == 403, r.text
    assert stored(a, "x1").status_code == 404

    # Entity id clash: another service has it already.
    r = a.change("POST", START, {"serviceId": "wiki", "scopes": SCOPES,
                                 "metadataXml": md}, FINISH)
    assert r.status_code == 201, r.text
    r = a.post(START, {"serviceId": "wiki2", "scopes": SCOPES,
                       "metadataXml": md})
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "entityId" and "wiki" in r.json()["message"]
    # ...or takes it between the start and the finish.
    sp2 = SP(str(tmp_path), "hr", 9)
    sp2.connect(requests.get(s.base + "/saml/metadata", timeout=10).text)
    md2 = sp_metadata(sp2)
    first = a.post(START, {"serviceId": "hr", "scopes": SCOPES,
                           "metadataXml": md2})
    second = a.post(START, {"serviceId": "hr2", "scopes": SCOPES,
                            "metadataXml": md2})
    assert a.finish(first, FINISH).status_code == 201
    r = a.finish(second, FINISH)
    assert r.status_code == 409, r.text
    assert stored(a, "hr2").status_code == 404
    # No request without the admin's token.
    r = requests.post(s.base + START, json={"serviceId": "w", "scopes":
                                            SCOPES, "metadataXml": md},
                      timeout=10)
    assert r.status_code == 401
