"""Several admins against the real server: invite one (a one-time link),
the invitee redeems it and signs in, invitations refused when reused,
expired, wrong or cancelled, an admin removed with their passkeys and
sessions, the last admin kept, and a failed step-up that changes nothing;
every change and refusal in the audit log."""
import hashlib
import os
import time

from admin_client import Admin, admin_server, audit_events
from authenticator import b64u

ADMINS = "/v1/admin/admins"
REMOVE = ("/v1/admin/admins/remove/start", "/v1/admin/admins/remove/finish")
CANCEL = ("/v1/admin/admins/invite/cancel/start",
          "/v1/admin/admins/invite/cancel/finish")


def signed_in(make_server, **kw):
    s = admin_server(make_server, **kw)
    a = Admin(s)
    a.cred = a.claim(name="Ada")
    assert a.login().status_code == 200
    return s, a


def invited(a, name="Bea"):
    r = a.invite(name)
    assert r.status_code == 201, r.text
    return r.json()


def second_admin(s, a, name="Bea"):
    inv = invited(a, name)
    b = Admin(s)
    r = b.redeem(inv["inviteToken"])
    assert r.status_code == 201, r.text
    assert b.login().status_code == 200
    return b


def remove(a, admin_id, **spoil):
    return a.finish(a.post(REMOVE[0], {"adminId": admin_id}), REMOVE[1],
                    **spoil)


def stored_files(s):
    """The bytes of every file the server keeps (its log too)."""
    out = b""
    for root, _, files in os.walk(s.data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out += fh.read()
    return out


def test_invite_redeem_and_the_second_admin_signs_in(make_server):
    s, a = signed_in(make_server)
    listed = a.get(ADMINS).json()
    assert listed["invites"] == []
    assert [(x["adminId"], x["name"], x["passkeys"], x["current"])
            for x in listed["admins"]] == [(a.id, "Ada", 1, True)]

    before = int(time.time())
    inv = invited(a, "Bea")
    token = inv["inviteToken"]
    assert inv["name"] == "Bea"
    assert inv["inviteUrl"] == s.base + "/admin/#invite=" + token
    assert before + 86400 <= inv["expiresAt"] <= int(time.time()) + 86400
    # Only the token's hash is kept, and no answer shows it again.
    assert token.encode() not in stored_files(s)
    text = a.get(ADMINS).text
    assert token not in text
    assert hashlib.sha256(token.encode()).hexdigest() not in text
    opened = a.get(ADMINS).json()["invites"]
    assert [(i["inviteId"], i["name"], i["invitedBy"]) for i in opened] == [
        (inv["inviteId"], "Bea", a.id)]

    b = Admin(s)
    r = b.redeem(token, label="Bea's laptop")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Bea"
    assert r.json()["credentialId"] == b64u(b.cred.id)
    assert b.login().status_code == 200
    assert b.get("/v1/admin/me").json()["name"] == "Bea"
    keys = b.get("/v1/admin/passkeys").json()["passkeys"]
    assert [(k["label"], k["transports"]) for k in keys] == [
        ("Bea's laptop", ["internal"])]

    listed = b.get(ADMINS).json()
    assert listed["invites"] == []
    got = {x["adminId"]: x for x in listed["admins"]}
    assert set(got) == {a.id, b.id}
    assert got[b.id]["current"] and not got[a.id]["current"]
    assert got[b.id]["invitedBy"] == a.id
    assert got[b.id]["createdBy"] == "invite"
    assert got[b.id]["passkeys"] == 1

    # The link works once.
    r = Admin(s).redeem(token)
    assert r.status_code == 401 and r.json()["error"] == "invite_invalid"
    assert r.json()["field"] == "inviteToken"

    ev = audit_events(s)
    row = next(e for e in ev if e["event"] == "admin.invited")
    d = row["detail"]
    assert d["admin"] == a.id and d["inviteId"] == inv["inviteId"]
    assert d["name"] == "Bea" and d["uvPasskeyId"] == b64u(a.cred.id)
    assert row["ip"] == "127.0.0.1" and row["ua"] == "admin-e2e"
    row = next(e for e in ev if e["event"] == "admin.invite_accepted")
    assert row["subject"] == b.id
    assert row["detail"]["invitedBy"] == a.id
    assert row["detail"]["passkeyId"] == b64u(b.cred.id)
    assert any(e["event"] == "admin.invite_refused" for e in ev)
    assert token not in s.cli("audit", "tail", "--json", "-n",
                              "1000").stdout
    assert s.cli("audit", "verify").returncode == 0


def test_claim_and_register_keep_the_transports(make_server):
    s, a = signed_in(make_server)
    keys = a.get("/v1/admin/passkeys").json()["passkeys"]
    assert keys[0]["transports"] == ["internal"]
    # A body's own list wins over the response's.
    _, _, _, r = a.register(uv_cred=a.cred)
    assert r.status_code == 200, r.text
    st = a.post("/v1/admin/passkeys/register/start").json()
    _, resp = a.auth.create(st["registerOptions"])
    resp["response"]["transports"] = ["hybrid", "internal"]
    r = a.post("/v1/admin/passkeys/register/finish",
               {"registrationId": st["registrationId"],
                "registerResponse": resp, "label": "phone",
                "uvResponse": a.auth.get(st["uvOptions"], cred=a.cred)})
    assert r.status_code == 200, r.text
    keys = {k["label"]: k["transports"]
            for k in a.get("/v1/admin/passkeys").json()["passkeys"]}
    assert keys == {"laptop": ["internal"], "key 2": ["usb"],
                    "phone": ["hybrid", "internal"]}


def test_wrong_expired_cancelled_and_raced_invitations(make_server):
    s, a = signed_in(make_server,
                     env={"SEALAUTH_ADMIN_INVITE_TTL": "2"})
    r = Admin(s).redeem(b64u(os.urandom(32)))
    assert r.status_code == 401 and r.json()["error"] == "invite_invalid"
    r = a.post("/v1/invite/start", {"inviteToken": "not base64url!"},
               token=False)
    assert r.status_code == 400 and r.json()["field"] == "inviteToken"

    # Expired before it is opened, and expired between start and finish.
    late = invited(a, "Late")["inviteToken"]
    slow = invited(a, "Slow")["inviteToken"]
    c = Admin(s)
    st = c.post("/v1/invite/start", {"inviteToken": slow},
                token=False).json()
    time.sleep(3.1)
    r = Admin(s).redeem(late)
    assert r.status_code == 401 and r.json()["error"] == "invite_invalid"
    assert "expired" in r.json()["message"]
    _, resp = c.auth.create(st["registerOptions"])
    r = c.post("/v1/invite/finish", {"registrationId": st["registrationId"],
                                     "registerResponse": resp}, token=False)
    assert r.status_code == 401 and r.json()["error"] == "invite_invalid"
    assert a.get(ADMINS).json()["invites"] == []

    # A cancelled invitation is dead.
    inv = invited(a, "Cy")
    r = a.finish(a.post(CANCEL[0], {"inviteId": inv["inviteId"]}),
                 CANCEL[1])
    assert r.status_code == 200, r.text
    assert r.json() == {"inviteId": inv["inviteId"], "cancelled": True}
    assert a.get(ADMINS).json()["invites"] == []
    r = Admin(s).redeem(inv["inviteToken"])
    assert r.status_code == 401 and r.json()["error"] == "invite_invalid"
    r = a.post(CANCEL[0], {"inviteId": inv["inviteId"]})
    assert r.status_code == 404 and r.json()["field"] == "inviteId"
    ev = audit_events(s)
    row = next(e for e in ev if e["event"] == "admin.invite_cancelled")
    assert row["detail"]["inviteId"] == inv["inviteId"]
    assert row["detail"]["uvPasskeyId"] == b64u(a.cred.id)
    refused = [e for e in ev if e["event"] == "admin.invite_refused"]
    assert len(refused) >= 4
    assert all(e["detail"]["error"] == "invite_invalid" for e in refused)


def test_two_invitees_racing_with_one_link(make_server):
    s, a = signed_in(make_server)
    token = invited(a, "Twin")["inviteToken"]
    x, y = Admin(s), Admin(s)
    sx = x.post("/v1/invite/start", {"inviteToken": token},
                token=False).json()
    sy = y.post("/v1/invite/start", {"inviteToken": token},
                token=False).json()
    answers = []
    for who, st in ((x, sx), (y, sy)):
        _, resp = who.auth.create(st["registerOptions"])
        answers.append(who.post("/v1/invite/finish",
                                {"registrationId": st["registrationId"],
                                 "registerResponse": resp}, token=False))
    assert [r.status_code for r in answers] == [201, 401]
    assert answers[1].json()["error"] == "invite_invalid"
    assert len(a.get(ADMINS).json()["admins"]) == 2
    assert x.login().status_code == 200
    assert y.login().status_code == 401


def test_remove_an_admin_ends_their_sessions_and_passkeys(make_server):
    s, a = signed_in(make_server)
    b = second_admin(s, a)
    b2 = Admin(s)
    b2.auth = b.auth
    assert b2.login(cred=b.cred).status_code == 200
    # Bea's open invitation goes with her.
    pending = invited(b, "Dee")["inviteToken"]

    r = remove(a, b.id)
    assert r.status_code == 200, r.text
    assert r.json() == {"adminId": b.id, "removed": True}
    for who in (b, b2):
        r = who.get("/v1/admin/me")
        assert r.status_code == 401, r.text
    assert b.login(cred=b.cred).status_code == 401
    r = Admin(s).redeem(pending)
    assert r.status_code == 401 and r.json()["error"] == "invite_invalid"
    listed = a.get(ADMINS).json()
    assert [x["adminId"] for x in listed["admins"]] == [a.id]
    assert listed["invites"] == []
    sessions = a.get("/v1/admin/sessions").json()["sessions"]
    assert {x["adminId"] for x in sessions} == {a.id}

    # The last admin stays: refused at the start ...
    r = a.post(REMOVE[0], {"adminId": a.id})
    assert r.status_code == 409
    assert r.json()["error"] == "last_admin_protected"
    assert a.get("/v1/admin/me").status_code == 200

    ev = audit_events(s)
    row = next(e for e in ev if e["event"] == "admin.removed")
    d = row["detail"]
    assert d["admin"] == a.id and d["removedAdmin"] == b.id
    assert d["removedName"] == "Bea" and d["self"] is False
    assert d["uvPasskeyId"] == b64u(a.cred.id)
    assert row["ip"] == "127.0.0.1" and row["ua"] == "admin-e2e"
    assert any(e["event"] == "admin.remove_refused" and
               e["detail"]["error"] == "last_admin_protected" for e in ev)


def test_last_admin_guard_at_the_finish(make_server):
    """Both removals start while two admins exist; the guard inside the
    second one's transaction refuses it."""
    s, a = signed_in(make_server)
    b = second_admin(s, a)
    start_b = a.post(REMOVE[0], {"adminId": b.id})
    start_a = a.post(REMOVE[0], {"adminId": a.id})
    assert start_b.status_code == 202 and start_a.status_code == 202
    assert a.finish(start_b, REMOVE[1]).status_code == 200
    r = a.finish(start_a, REMOVE[1])
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "last_admin_protected"
    assert a.get("/v1/admin/me").status_code == 200
    assert a.login(cred=a.cred).status_code == 200


def test_an_admin_removes_themselves_when_another_remains(make_server):
    s, a = signed_in(make_server)
    b = second_admin(s, a)
    r = remove(b, b.id)
    assert r.status_code == 200, r.text
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert b.get("/v1/admin/me").status_code == 401
    ev = audit_events(s)
    row = next(e for e in ev if e["event"] == "admin.removed")
    assert row["detail"]["self"] is True and row["subject"] == b.id
    assert [x["adminId"] for x in a.get(ADMINS).json()["admins"]] == [a.id]


def test_failed_step_up_changes_nothing(make_server):
    s, a = signed_in(make_server)
    b = second_admin(s, a)
    start = a.post(REMOVE[0], {"adminId": b.id})
    # User verification off, a tampered signature, another admin's passkey.
    r = a.finish(start, REMOVE[1], flags=0x01)
    assert r.status_code == 401, r.text
    retry = r.json()
    assert retry["retryId"] == start.json()["stepupId"]
    assert b.get("/v1/admin/me").status_code == 200
    uv = a.auth.get(retry["uvOptions"], tamper_sig=True)
    r = a.post(REMOVE[1], {"stepupId": retry["retryId"], "uvResponse": uv})
    assert r.status_code == 401
    retry = r.json()
    uv = b.auth.get(retry["uvOptions"], cred=b.cred)
    r = a.post(REMOVE[1], {"stepupId": retry["retryId"], "uvResponse": uv})
    assert r.status_code == 401
    retry = r.json()
    assert b.get("/v1/admin/me").status_code == 200
    assert len(a.get(ADMINS).json()["admins"]) == 2
    r = a.invite("Eve", tamper_sig=True)
    assert r.status_code == 401
    assert a.get(ADMINS).json()["invites"] == []
    refused = [e for e in audit_events(s)
               if e["event"] in ("admin.remove_refused",
                                 "admin.invite_refused")]
    assert len(refused) == 4
    assert all(e["detail"]["admin"] == a.id for e in refused)
    names = [e["event"] for e in audit_events(s)]
    assert "admin.removed" not in names and names.count("admin.invited") == 1
    # The pending removal survived every failure: a good step-up now.
    uv = a.auth.get(retry["uvOptions"], cred=a.cred)
    r = a.post(REMOVE[1], {"stepupId": retry["retryId"], "uvResponse": uv})
    assert r.status_code == 200, r.text
    assert b.get("/v1/admin/me").status_code == 401


def test_refusals_name_the_field(make_server):
    s, a = signed_in(make_server)
    r = a.post(REMOVE[0], {"adminId": "A" * 22})
    assert r.status_code == 404 and r.json()["field"] == "adminId"
    r = a.post("/v1/admin/admins/invite/start", {"name": ""})
    assert r.status_code == 400 and r.json()["field"] == "name"
    r = a.post("/v1/admin/admins/invite/start", {"name": "x" * 65})
    assert r.status_code == 400 and r.json()["field"] == "name"
    r = a.post(CANCEL[0], {"inviteId": "A" * 22})
    assert r.status_code == 404 and r.json()["field"] == "inviteId"
    r = a.post("/v1/invite/finish", {"registrationId": "A" * 43,
                                     "registerResponse": {}}, token=False)
    assert r.status_code == 400
    assert r.json()["field"].startswith("registerResponse")
    nobody = Admin(s)
    assert nobody.get(ADMINS).status_code == 401
    assert nobody.post(REMOVE[0], {"adminId": a.id}).status_code == 401
    assert nobody.post("/v1/admin/admins/invite/start",
                       {"name": "x"}).status_code == 401
