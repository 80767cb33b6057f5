"""Single logout when things go wrong, against pysaml2 SPs: an SP that
never answers does not stop the chain (the walk page moves on after the
time limit, the SP is marked as not confirmed, and the initiating SP hears
PartialLogout), and a LogoutRequest naming somebody else is answered
Responder + UnknownPrincipal without ending the session."""
import base64
import json
import re
import time

import pytest
import requests
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2 import saml as saml_core
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from test_saml import (SP, login_via_phone, parse_form,  # noqa: F401
                       query_of, walk_page)
from test_login import LOGIN_ENV, audit_events, enrolled_phone, inbox  # noqa

import zlib

TIMEOUT = 2  # SEALAUTH_SAML_SLO_TIMEOUT of these tests, seconds


@pytest.fixture
def three_sps(make_server, tmp_path):
    wiki = SP(str(tmp_path), "wiki", 9)
    hr = SP(str(tmp_path), "hr", 9, slo=BINDING_HTTP_REDIRECT,
            signatureAlgorithm="rsa-sha256")
    crm = SP(str(tmp_path), "crm", 9)
    path = tmp_path / "services.json"
    path.write_text(json.dumps({"services": [
        wiki.service(["identity:name"]), hr.service(["identity:name"]),
        crm.service(["identity:name"])]}))
    srv = make_server(env={**LOGIN_ENV, "SEALAUTH_SERVICES_FILE": str(path),
                           "SEALAUTH_SAML_SLO_TIMEOUT": str(TIMEOUT)}).start()
    md = requests.get(srv.base + "/saml/metadata", timeout=10).text
    for sp in (wiki, hr, crm):
        sp.connect(md)
    return srv, wiki, hr, crm


def sign_in_everywhere(s, sps, phone, inbox):
    """The first SP by the phone, the others from the provider session:
    the cookie and each SP's accepted response."""
    first, *rest = sps
    reqid, loc = first.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10)
    r = login_via_phone(s, phone, inbox, r.headers["Location"], first.name,
                        ["identity:name"])
    cookie = r.cookies["sealauth_sso"]
    out = [first.accept(parse_form(r.text).fields["SAMLResponse"], reqid)]
    for sp in rest:
        reqid, loc = sp.authn_redirect()
        r = requests.get(loc, allow_redirects=False, timeout=10,
                         cookies={"sealauth_sso": cookie})
        out.append(sp.accept(parse_form(r.text).fields["SAMLResponse"],
                             reqid))
    return cookie, out


def take_request(sp, form):
    """sp reads the LogoutRequest a walk page's form posts into its frame."""
    return sp.client.parse_logout_request(form.fields["SAMLRequest"],
                                          BINDING_HTTP_POST)


def post_answer(s, sp, req, relay, **kw):
    """sp posts its signed LogoutResponse to req to our SLO endpoint (as
    its frame would)."""
    answer = sp.client.create_logout_response(
        req.message, [BINDING_HTTP_POST], sign=True,
        sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **kw)
    return requests.post(s.base + "/saml/slo", timeout=10,
                         allow_redirects=False,
                         data={"SAMLResponse": base64.b64encode(
                             str(answer).encode()).decode(),
                             "RelayState": relay})


def redirect_logout(s, sp, name_id, relay, cookie):
    """sp sends the browser with a signed LogoutRequest by HTTP-Redirect."""
    slo = s.base + "/saml/slo"
    lreq = sp.client.create_logout_request(
        slo, s.base + "/saml/metadata", name_id=name_id, sign=False)[1]
    loc = dict(sp.client.apply_binding(
        BINDING_HTTP_REDIRECT, str(lreq), slo, relay_state=relay, sign=True,
        sigalg=SIG_RSA_SHA256)["headers"])["Location"]
    return requests.get(loc, timeout=10, allow_redirects=False,
                        cookies={"sealauth_sso": cookie})


def test_an_sp_that_never_answers_does_not_stop_the_chain(three_sps, inbox):
    s, wiki, hr, crm = three_sps
    phone = enrolled_phone(s, inbox)
    cookie, (r_wiki, r_hr, r_crm) = sign_in_everywhere(
        s, (wiki, hr, crm), phone, inbox)
    # The HR system asks to log out (HTTP-Redirect).
    walk, page = walk_page(redirect_logout(s, hr, r_hr.name_id, "hr-rs",
                                           cookie))
    # The wiki gets its LogoutRequest in the page's frame and never
    # answers (its page hangs, or it does not send the browser back).
    form = parse_form(page.text)
    assert form.action == wiki.slo
    wiki_req = take_request(wiki, form)
    assert wiki_req.message.name_id.text == r_wiki.name_id.text
    state = requests.get(walk + "&poll=1", timeout=10).json()
    assert state["waiting"] is True and state["step"] == 1
    # A reload while waiting does not ask the wiki twice.
    again = requests.get(walk, timeout=10)
    assert again.status_code == 200 and "SAMLRequest" not in again.text
    # Without script the page would come back by itself after the limit.
    assert 'http-equiv="refresh"' in again.text
    time.sleep(TIMEOUT + 0.5)
    # The time is up: the walk moved on to the CRM.
    state = requests.get(walk + "&poll=1", timeout=10).json()
    assert state["waiting"] is True and state["step"] == 2
    page = requests.get(walk, timeout=10)
    assert "WIKI: did not confirm" in page.text
    form = parse_form(page.text)
    assert form.action == crm.slo
    r = post_answer(s, crm, take_request(crm, form),
                    form.fields["RelayState"])
    assert r.status_code == 200 and "Signed out of CRM" in r.text
    # The wiki's answer comes in after all, too late: it changes nothing.
    r = post_answer(s, wiki, wiki_req, form.fields["RelayState"])
    assert r.status_code == 200 and "Too late" in r.text
    # The end: the HR system hears Success + PartialLogout, signed.
    r = requests.get(walk, timeout=10, allow_redirects=False)
    assert r.status_code == 303, r.text
    loc = r.headers["Location"]
    assert loc.startswith(hr.slo)
    q = query_of(loc)
    from saml2.sigver import verify_redirect_signature
    from test_saml import rsa_cert_b64
    assert verify_redirect_signature(q, hr.client.sec.sec_backend,
                                     cert=rsa_cert_b64(s))
    xml = zlib.decompress(base64.b64decode(q["SAMLResponse"]), -15).decode()
    assert "status:Success" in xml and "status:PartialLogout" in xml
    assert q["RelayState"] == "hr-rs"
    events = audit_events(s)
    timeouts = [e for e in events if e["event"] == "saml.logout_timeout"]
    assert [e["detail"]["serviceId"] for e in timeouts] == ["wiki"]
    done = [e for e in events if e["event"] == "saml.logout_done"][-1]
    assert done["detail"]["partial"] is True
    assert done["detail"]["results"] == [
        {"name": "WIKI", "confirmed": False},
        {"name": "CRM", "confirmed": True}]
    late = [e for e in events if e["event"] == "saml.logout_answer" and
            e["detail"]["serviceId"] == "wiki"]
    assert late and late[-1]["detail"]["inTime"] is False
    # The walk is over.
    assert requests.get(walk, timeout=10).status_code == 404


def test_logout_naming_somebody_else_is_unknown_principal(three_sps, inbox):
    s, wiki, hr, crm = three_sps
    phone = enrolled_phone(s, inbox)
    cookie, (r_wiki, _) = sign_in_everywhere(s, (wiki, hr), phone, inbox)
    other = saml_core.NameID(text="somebody-else",
                             format=r_wiki.name_id.format)
    _, lreq = wiki.client.create_logout_request(
        s.base + "/saml/slo", s.base + "/saml/metadata", name_id=other,
        sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    r = requests.post(s.base + "/saml/slo", timeout=10, allow_redirects=False,
                      cookies={"sealauth_sso": cookie},
                      data={"SAMLRequest": base64.b64encode(
                          str(lreq).encode()).decode(), "RelayState": "u"})
    # Straight back to the wiki, signed, Responder + UnknownPrincipal.
    assert r.status_code == 200, r.text
    assert "Max-Age=0" not in r.headers.get("Set-Cookie", "")
    form = parse_form(r.text)
    assert form.action == wiki.slo and form.fields["RelayState"] == "u"
    xml = base64.b64decode(form.fields["SAMLResponse"]).decode()
    assert re.findall(r'StatusCode Value="([^"]+)"', xml) == [
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
        "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"]
    # pysaml2 checks the signature, then raises on the status it read.
    from saml2.response import StatusUnknownPrincipal
    with pytest.raises(StatusUnknownPrincipal):
        wiki.client.parse_logout_request_response(
            form.fields["SAMLResponse"], BINDING_HTTP_POST)
    # The session was not ended: the HR system still signs in without
    # the phone.
    _, loc = hr.authn_redirect()
    r = requests.get(loc, allow_redirects=False, timeout=10,
                     cookies={"sealauth_sso": cookie})
    assert r.status_code == 200 and "SAMLResponse" in r.text
    refused = [e for e in audit_events(s)
               if e["event"] == "saml.logout_refused"]
    assert refused and refused[-1]["detail"]["status"] == "UnknownPrincipal"
    assert refused[-1]["detail"]["serviceId"] == "wiki"
