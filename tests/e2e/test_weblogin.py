"""The browser login hand-off of the federation protocols and the provider
session (login/weblogin.c), driven through the test protocol of the test
routes: a pending request, the X.1280 login bound to it, /login/continue,
and the SSO cookie."""
import requests

# inbox and login_server are fixtures of test_login, shared here.
from test_login import (audit_events, enrolled_phone, inbox,  # noqa: F401
                        login_server as srv)


def begin(s, scopes=("identity:name",), hint=None, service="demo"):
    body = {"serviceId": service, "scopes": list(scopes)}
    if hint:
        body["loginHint"] = hint
    r = requests.post(s.base + "/test/weblogin", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["login"]


def start(s, token_id, login, scopes=("identity:name",), origin=None):
    body = {"tokenId": token_id, "serviceId": "demo", "scopes": list(scopes),
            "login": login}
    return requests.post(s.base + "/auth/initiate", json=body, timeout=10,
                         headers={"Origin": origin or s.base})


def approve(s, phone, inbox, token_id, login, granted=("identity:name",),
            scopes=("identity:name",)):
    r = start(s, token_id, login, scopes)
    assert r.status_code == 200, r.text
    sid = r.json()["sessionId"]
    push = inbox.next()
    a = phone.answer(sid, push["otp"], "approve", list(granted))
    assert a.status_code == 200, a.text
    return sid


def cont(s, login, sid, cookies=None):
    return requests.get(s.base + "/login/continue", timeout=10,
                        params={"login": login, "session": sid},
                        cookies=cookies, allow_redirects=False)


def test_pending_request_login_and_sso_cookie(srv, inbox):
    s = srv
    phone = enrolled_phone(s, inbox)
    login = begin(s, ["identity:name", "identity:age_over_18"],
                  hint=phone.token_id)
    p = requests.get(s.base + "/login/pending/" + login, timeout=10).json()
    assert p["serviceId"] == "demo" and p["serviceName"] == "sealauth demo"
    assert p["scopes"] == ["identity:name", "identity:age_over_18"]
    assert p["loginHint"] == phone.token_id and p["protocol"] == "test"
    sid = approve(s, phone, inbox, phone.token_id, login,
                  granted=["identity:name"],
                  scopes=["identity:age_over_18", "identity:name"])
    r = cont(s, login, sid)
    assert r.status_code == 200, r.text
    body = r.json()
    # The continuation gets what the phone signed, not what was asked.
    assert body["granted"] == ["identity:name"]
    assert body["sessionId"] == sid and body["login"] == login
    assert body["data"] == {"note": "from /test/weblogin"}
    assert body["sso"]["tokenId"] == phone.token_id
    assert body["sso"]["amr"] == ["hwk", "user", "mfa"]
    assert body["sso"]["rps"][0]["serviceId"] == "demo"
    assert body["sso"]["rps"][0]["scopes"] == ["identity:name"]
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("sealauth_sso=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=28800" in cookie
    # Plain http public URL: no Secure flag (the browser would drop it).
    assert "Secure" not in cookie
    value = r.cookies["sealauth_sso"]
    sso = requests.get(s.base + "/test/sso", timeout=10,
                       cookies={"sealauth_sso": value})
    assert sso.status_code == 200
    assert sso.json()["sid"] == body["sso"]["sid"]
    # The store keeps only the cookie's hash: a made-up cookie is nobody.
    bad = requests.get(s.base + "/test/sso", timeout=10,
                       cookies={"sealauth_sso": "A" * 43})
    assert bad.status_code == 404
    # One hand-off per approval: a reload finds nothing.
    again = cont(s, login, sid)
    assert again.status_code == 404
    assert "text/html" in again.headers["Content-Type"]
    events = audit_events(s)
    ev = [e for e in events if e["event"] == "sso.login"]
    assert ev and ev[-1]["subject"] == phone.token_id
    ini = [e for e in events if e["event"] == "auth.initiate"]
    assert ini[-1]["detail"]["login"] == login


def test_second_login_refreshes_cookie_and_keeps_sid(srv, inbox):
    s = srv
    phone = enrolled_phone(s, inbox)
    login = begin(s)
    sid = approve(s, phone, inbox, phone.token_id, login)
    r1 = cont(s, login, sid)
    c1 = r1.cookies["sealauth_sso"]
    login2 = begin(s, ["identity:age_over_18"])
    sid2 = approve(s, phone, inbox, phone.token_id, login2,
                   granted=["identity:age_over_18"],
                   scopes=["identity:age_over_18"])
    r2 = cont(s, login2, sid2, cookies={"sealauth_sso": c1})
    assert r2.status_code == 200
    c2 = r2.cookies["sealauth_sso"]
    # A new cookie value each login (no fixation), the same public sid,
    # and the grants of both logins.
    assert c2 != c1
    assert r2.json()["sso"]["sid"] == r1.json()["sso"]["sid"]
    assert sorted(r2.json()["sso"]["rps"][0]["scopes"]) == [
        "identity:age_over_18", "identity:name"]
    assert requests.get(s.base + "/test/sso", cookies={"sealauth_sso": c1},
                        timeout=10).status_code == 404


def test_only_the_bound_session_continues(srv, inbox):
    s = srv
    phone = enrolled_phone(s, inbox)
    login = begin(s)
    # A session approved for no pending request (an ordinary login)...
    r = requests.post(s.base + "/auth/initiate", timeout=10,
                      json={"tokenId": phone.token_id, "serviceId": "demo",
                            "scopes": ["identity:name"]},
                      headers={"Origin": s.base})
    other = r.json()["sessionId"]
    push = inbox.next()
    assert phone.answer(other, push["otp"], "approve",
                        ["identity:name"]).status_code == 200
    # ...cannot finish the request, approved or not.
    r = cont(s, login, other)
    assert r.status_code == 403
    assert "approved on your phone" in r.text
    # Nor can a session approved for another request.
    login2 = begin(s)
    sid2 = approve(s, phone, inbox, phone.token_id, login2)
    assert cont(s, login, sid2).status_code == 403
    assert "sso.login_refused" in [e["event"] for e in audit_events(s)]
    # The request itself still works with its own session.
    sid = approve(s, phone, inbox, phone.token_id, login)
    assert cont(s, login, sid).status_code == 200


def test_initiate_must_match_the_pending_request(srv, inbox):
    s = srv
    phone = enrolled_phone(s, inbox)
    login = begin(s, ["identity:name"])
    r = start(s, phone.token_id, login, ["identity:name", "identity:photo"])
    assert r.status_code == 422 and r.json()["field"] == "login"
    r = start(s, phone.token_id, login, ["identity:name"],
              origin="https://evil.example")
    assert r.status_code == 403 and r.json()["field"] == "Origin"
    r = start(s, phone.token_id, "wl_" + "A" * 22)
    assert r.status_code == 404 and r.json()["field"] == "login"
    r = requests.get(s.base + "/login/pending/wl_" + "B" * 22, timeout=10)
    assert r.status_code == 404
    r = requests.get(s.base + "/login/continue?login=x&session=y", timeout=10)
    assert r.status_code == 400
