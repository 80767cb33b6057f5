"""Administration with passkeys against the real server: the install claim,
sign-in, passkeys with step-up, and every refused ceremony, with a software
authenticator (authenticator.py)."""
import os
import time

import requests

from admin_client import Admin, admin_server, audit_events, install_token
from authenticator import b64u


def test_admin_needs_a_public_url(make_server):
    s = make_server().start()
    r = requests.post(s.base + "/v1/auth/passkey-login/start", json={},
                      timeout=10)
    assert r.status_code == 503
    assert r.json()["error"] == "admin_unavailable"
    assert "SEALAUTH_PUBLIC_URL" in r.json()["message"]
    assert not os.path.exists(os.path.join(s.data_dir, "install-token"))


def test_claim_sign_in_register_revoke(make_server):
    s = admin_server(make_server)
    path = os.path.join(s.data_dir, "install-token")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    token = install_token(s)
    assert any(token in l.get("msg", "") for l in s.log_lines())
    a = Admin(s)
    first = a.claim(alg=-7, fmt="none")
    assert not os.path.exists(path)
    # The window is closed for good: the same token, a second claim.
    r = a.post("/v1/install/claim/start",
               {"installToken": token, "name": "again"}, token=False)
    assert r.status_code == 403 and r.json()["error"] == "install_closed"

    r = a.login()
    assert r.status_code == 200, r.text
    assert "HttpOnly" in r.headers["Set-Cookie"]
    assert "SameSite=Strict" in r.headers["Set-Cookie"]
    assert "Secure" in r.headers["Set-Cookie"]
    me = a.get("/v1/admin/me").json()
    assert me["name"] == "root" and me["passkeyId"] == b64u(first.id)

    # A second passkey (EdDSA, packed self attestation) with step-up.
    second, _, _, r = a.register(alg=-8, fmt="packed", uv_cred=first)
    assert r.status_code == 200, r.text
    assert r.json()["credentialId"] == b64u(second.id)
    keys = a.get("/v1/admin/passkeys").json()["passkeys"]
    assert sorted(k["credentialId"] for k in keys) == sorted(
        [b64u(first.id), b64u(second.id)])
    assert {k["alg"] for k in keys} == {-7, -8}

    # Sign in with the new one, revoke the first, refuse the last.
    b = Admin(s)
    b.auth = a.auth
    assert b.login(cred=second).status_code == 200
    r = b.revoke(b64u(first.id), uv_cred=second)
    assert r.status_code == 200, r.text
    r = b.revoke(b64u(second.id), uv_cred=second)
    assert r.status_code == 409
    assert r.json()["error"] == "last_passkey_protected"
    assert len(b.get("/v1/admin/passkeys").json()["passkeys"]) == 1
    # The revoked passkey no longer signs in.
    assert a.login(cred=first).status_code == 401

    ev = audit_events(s)
    reg = [e for e in ev if e["event"] == "admin.passkey_registered"]
    assert len(reg) == 1
    d = reg[0]["detail"]
    assert d["admin"] == a.id and d["passkeyId"] == b64u(first.id)
    assert d["credentialId"] == b64u(second.id)
    assert reg[0]["ua"] == "admin-e2e" and reg[0]["ip"] == "127.0.0.1"
    assert [e["detail"]["credentialId"] for e in ev
            if e["event"] == "admin.passkey_revoked"] == [b64u(first.id)]
    assert any(e["event"] == "admin.passkey_revoke_refused" and
               e["detail"]["error"] == "last_passkey_protected" for e in ev)
    assert [e["event"] for e in ev if e["event"].startswith("admin.install")
            ] == ["admin.install_opened", "admin.install_claimed",
                  "admin.install_refused"]
    assert s.cli("audit", "verify").returncode == 0


def test_revoking_a_passkey_ends_the_sessions_signed_in_with_it(
        make_server):
    s = admin_server(make_server)
    a = Admin(s)
    first = a.claim()
    assert a.login(cred=first).status_code == 200
    second, _, _, r = a.register(uv_cred=first)
    assert r.status_code == 200, r.text
    # Two more sessions: one signed in with each passkey.
    b = Admin(s)
    b.auth = a.auth
    assert b.login(cred=second).status_code == 200
    c = Admin(s)
    c.auth = a.auth
    assert c.login(cred=first).status_code == 200
    cookie = c.login_response.headers["Set-Cookie"].split(";")[0]

    r = b.revoke(b64u(first.id), uv_cred=second)
    assert r.status_code == 200, r.text
    assert r.json() == {"credentialId": b64u(first.id), "sessionsEnded": 2,
                        "currentSessionEnded": False}
    # The sessions signed in with the revoked passkey are over, by bearer
    # token and by cookie alike; the one signed in with the other passkey
    # goes on.
    for gone in (a, c):
        r = gone.get("/v1/admin/me")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert requests.get(s.base + "/v1/admin/me", headers={"Cookie": cookie},
                        timeout=10).status_code == 401
    assert b.get("/v1/admin/me").json()["passkeyId"] == b64u(second.id)
    listed = b.get("/v1/admin/sessions").json()["sessions"]
    assert [x["passkeyId"] for x in listed] == [b64u(second.id)]

    # Revoking the passkey the caller signed in with ends the caller's
    # session too, and the answer says so (and clears the cookie).
    third, _, _, r = b.register(uv_cred=second, label="key 3")
    assert r.status_code == 200, r.text
    d = Admin(s)
    d.auth = a.auth
    assert d.login(cred=third).status_code == 200
    r = b.revoke(b64u(second.id), uv_cred=third)
    assert r.status_code == 200, r.text
    assert r.json()["sessionsEnded"] == 1
    assert r.json()["currentSessionEnded"] is True
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert b.get("/v1/admin/me").status_code == 401
    assert d.get("/v1/admin/me").status_code == 200

    rows = [e["detail"] for e in audit_events(s)
            if e["event"] == "admin.passkey_revoked"]
    assert [(x["credentialId"], x["sessionsEnded"], x["currentSessionEnded"],
             x["uvPasskeyId"], x["passkeyId"]) for x in rows] == [
        (b64u(first.id), 2, False, b64u(second.id), b64u(second.id)),
        (b64u(second.id), 1, True, b64u(third.id), b64u(second.id))]


def test_wrong_install_token_is_refused_and_audited(make_server):
    s = admin_server(make_server)
    a = Admin(s)
    r = a.post("/v1/install/claim/start",
               {"installToken": b64u(os.urandom(32)), "name": "x"},
               token=False)
    assert r.status_code == 401
    assert any(e["event"] == "admin.install_refused"
               for e in audit_events(s))
    a.claim()  # the right one still works


def signed_in(make_server, **kw):
    s = admin_server(make_server, **kw)
    a = Admin(s)
    cred = a.claim()
    assert a.login().status_code == 200
    return s, a, cred


def refused_login(a, **spoil):
    r = a.login(**spoil)
    assert r.status_code == 401, r.text
    return r.json()


def test_refused_sign_ins(make_server):
    s, a, cred = signed_in(make_server)
    assert "origin" in refused_login(a, origin="https://evil.example")[
        "message"]
    assert "challenge" in refused_login(a, challenge=b64u(os.urandom(32)))[
        "message"]
    assert "type" in refused_login(a, typ="webauthn.create")["message"]
    assert "crossOrigin" in refused_login(a, cross_origin=True)["message"]
    assert "UV" in refused_login(a, flags=0x01)["message"]
    assert "UP" in refused_login(a, flags=0x04)["message"]
    assert "rpIdHash" in refused_login(a, rp_id="evil.example")["message"]
    assert "signature" in refused_login(a, tamper_sig=True)["message"]
    # Counter: the last good one was stored; an older one marks a clone.
    cred.counter += 5
    assert a.login().status_code == 200
    body = refused_login(a, counter=cred.counter - 3)
    assert body["error"] == "passkey_cloned"
    assert any(e["event"] == "admin.passkey_cloned"
               for e in audit_events(s))
    # An unknown credential.
    other = Admin(s)
    other.auth.create({"rp": {"id": "127.0.0.1"},
                       "user": {"id": b64u(os.urandom(16))},
                       "challenge": "x"})
    assert other.login().status_code == 401


def test_replayed_and_expired_challenges(make_server):
    s, a, _ = signed_in(make_server,
                        env={"SEALAUTH_ADMIN_CHALLENGE_TTL": "1"})
    r = a.post("/v1/auth/passkey-login/start", token=False)
    st = r.json()
    body = {"loginId": st["loginId"],
            "credential": a.auth.get(st["options"])}
    r = a.post("/v1/auth/passkey-login/finish", body, token=False)
    assert r.status_code == 200
    # The same answer again: the challenge was used.
    r = a.post("/v1/auth/passkey-login/finish", body, token=False)
    assert r.status_code == 401 and r.json()["error"] == "challenge_invalid"
    # A challenge left to expire.
    st = a.post("/v1/auth/passkey-login/start", token=False).json()
    time.sleep(1.5)
    r = a.post("/v1/auth/passkey-login/finish",
               {"loginId": st["loginId"],
                "credential": a.auth.get(st["options"])}, token=False)
    assert r.status_code == 401 and r.json()["error"] == "challenge_invalid"


def test_failed_step_up_keeps_the_registration(make_server):
    s, a, first = signed_in(make_server)
    new, st, resp, r = a.register(uv_cred=first, flags=0x01)  # UV off
    assert r.status_code == 401, r.text
    retry = r.json()
    assert retry["retryId"] == st["registrationId"]
    # The same registration, with a good step-up on the new challenge.
    uv = a.auth.get(retry["uvOptions"], cred=first)
    r = a.post("/v1/admin/passkeys/register/finish",
               {"registrationId": st["registrationId"],
                "registerResponse": resp, "uvResponse": uv,
                "label": "key 2"})
    assert r.status_code == 200, r.text
    assert len(a.get("/v1/admin/passkeys").json()["passkeys"]) == 2
    # A tampered step-up signature is refused too.
    _, _, _, r = a.register(uv_cred=first, tamper_sig=True)
    assert r.status_code == 401


def test_step_up_from_another_session_is_refused(make_server):
    s, a, first = signed_in(make_server)
    other = Admin(s)
    other.auth = a.auth
    assert other.login().status_code == 200
    st = a.post("/v1/admin/passkeys/register/start").json()
    _, resp = a.auth.create(st["registerOptions"])
    uv = a.auth.get(st["uvOptions"], cred=first)
    # The second session finishes the first one's ceremony.
    r = other.post("/v1/admin/passkeys/register/finish",
                   {"registrationId": st["registrationId"],
                    "registerResponse": resp, "uvResponse": uv,
                    "label": "stolen"})
    assert r.status_code == 403, r.text
    assert len(a.get("/v1/admin/passkeys").json()["passkeys"]) == 1


def test_cookie_needs_the_csrf_token(make_server):
    s, a, _ = signed_in(make_server)
    r = a.login_response
    cookie = r.headers["Set-Cookie"].split(";")[0]
    csrf = r.json()["csrfToken"]
    h = {"Cookie": cookie}
    assert requests.get(s.base + "/v1/admin/me", headers=h,
                        timeout=10).status_code == 200
    r = requests.post(s.base + "/v1/admin/passkeys/register/start", json={},
                      headers=h, timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    r = requests.post(s.base + "/v1/admin/passkeys/register/start", json={},
                      headers={**h, "X-CSRF-Token": csrf}, timeout=10)
    assert r.status_code == 200
    # Signed out: the token is dead.
    assert a.post("/v1/auth/logout").status_code == 200
    assert a.get("/v1/admin/me").status_code == 401


def test_admin_rate_limit(make_server):
    s, a, _ = signed_in(make_server, env={
        "SEALAUTH_RATE_LIMITS": "admin=5/60,install=100/600"})
    codes = [a.get("/v1/admin/me").status_code for _ in range(8)]
    assert 429 in codes and codes[0] == 200


def test_recover_opens_a_window_for_a_new_admin(make_server):
    s, a, _ = signed_in(make_server)
    r = s.cli("admin", "recover", "--data-dir", s.data_dir)
    token = install_token(s)
    assert token in r.stdout
    b = Admin(s)
    b.claim(name="rescuer", token=token)
    assert b.login().status_code == 200
    assert b.get("/v1/admin/me").json()["name"] == "rescuer"
    # Used once: the window closed again.
    r = b.post("/v1/install/claim/start",
               {"installToken": token, "name": "x"}, token=False)
    assert r.status_code == 403
    ev = [e["event"] for e in audit_events(s)]
    assert "admin.recover_opened" in ev
