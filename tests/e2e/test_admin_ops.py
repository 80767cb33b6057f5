"""Operating the service through the admin API: the audit log (query,
paging, chain verification), the signing keys (list, rotation with
step-up) and the trust chain (status per document, refresh)."""
import json
import os
import shutil
import sqlite3
import time

import jwt
import requests

from admin_client import ADMIN_LIMITS, Admin, admin_server, audit_events, \
    install_token
from authenticator import UP
from test_login import LOGIN_ENV, enrolled_phone, initiate, verify_jwt
from test_login import inbox  # noqa: F401 (a fixture)


def signed_in(make_server, env=None, named_lists=False):
    """A server and its first admin signed in. With named_lists the demo
    trust lists are made first and named explicitly, as an operator's are,
    so the server loads them as they are and never re-signs them (it
    renews only the embedded demo environment's lists)."""
    if named_lists:
        s = make_server(env=env)
        d = os.path.join(s.data_dir, "trust")
        s.cli("trust", "demo", "--dir", d)
        s.env["SEALAUTH_TRUST_GOVERNANCE_URL"] = (
            "file://" + os.path.join(d, "lists", "governance.xml"))
        s.env["SEALAUTH_TRUST_GOVERNANCE_CERT"] = os.path.join(
            d, "governance.pem")
        s.env["SEALAUTH_PUBLIC_URL"] = s.base
        s.env.setdefault("SEALAUTH_RATE_LIMITS", ADMIN_LIMITS)
        s.start()
    else:
        s = admin_server(make_server, env=env)
    a = Admin(s)
    a.install = install_token(s)
    a.cred = a.claim()
    assert a.login(cred=a.cred).status_code == 200
    return s, a


def audit_rows(server, n):
    for i in range(n):
        r = requests.post(server.base + f"/test/audit/test.n{i}", timeout=5)
        assert r.status_code == 200


def all_pages(a, **params):
    out, pages, cursor = [], 0, None
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        r = a.get("/v1/admin/audit", params=p)
        assert r.status_code == 200, r.text
        out += r.json()["events"]
        pages += 1
        cursor = r.json()["nextCursor"]
        if cursor is None:
            return out, pages


def test_audit_query_pages_newest_first_and_filters(make_server):
    s, a = signed_in(make_server)
    audit_rows(s, 7)
    cli = audit_events(s)
    events, pages = all_pages(a, limit=3)
    seqs = [e["seq"] for e in events]
    # Every row once, newest first, in pages of three.
    assert seqs == sorted((e["seq"] for e in cli), reverse=True)
    assert pages == -(-len(cli) // 3)
    by_seq = {e["seq"]: e for e in cli}
    for e in events:
        c = by_seq[e["seq"]]
        assert (e["event"], e["subject"], e["ip"], e["ua"]) == (
            c["event"], c["subject"], c["ip"], c["ua"])
        assert e["tsMs"] == c["ts_ms"] and e["ts"] == c["ts_ms"] // 1000

    one = a.get("/v1/admin/audit", params={"event": "test.n2"}).json()
    assert [e["event"] for e in one["events"]] == ["test.n2"]
    assert one["nextCursor"] is None
    admin_ev = a.get("/v1/admin/audit", params={"event": "admin.*"}).json()
    assert [e["event"] for e in admin_ev["events"]] == [
        "admin.login", "admin.install_claimed", "admin.install_opened"]
    subj = a.get("/v1/admin/audit", params={"tokenId": "test-subject",
                                            "limit": 200}).json()
    assert len(subj["events"]) == 7
    assert {e["subject"] for e in subj["events"]} == {"test-subject"}
    # A time range: from the fourth test row's second on, before a bound
    # in the future.
    t = [e for e in cli if e["event"] == "test.n3"][0]["ts_ms"] // 1000
    ranged = a.get("/v1/admin/audit",
                   params={"since": t, "until": "2999-01-01T00:00:00Z",
                           "event": "test.*"}).json()["events"]
    want = [e["seq"] for e in cli if e["event"].startswith("test.")
            and e["ts_ms"] >= t * 1000]
    assert [e["seq"] for e in ranged] == sorted(want, reverse=True)
    assert a.get("/v1/admin/audit", params={
        "until": "2000-01-01T00:00:00Z"}).json()["events"] == []

    # Paging with a filter, and a cursor carried to another filter.
    page = a.get("/v1/admin/audit", params={"event": "test.*",
                                            "limit": 2}).json()
    assert [e["event"] for e in page["events"]] == ["test.n6", "test.n5"]
    nxt = a.get("/v1/admin/audit", params={
        "event": "test.*", "limit": 2, "cursor": page["nextCursor"]}).json()
    assert [e["event"] for e in nxt["events"]] == ["test.n4", "test.n3"]
    r = a.get("/v1/admin/audit", params={"event": "admin.*",
                                         "cursor": page["nextCursor"]})
    assert r.status_code == 400 and r.json()["field"] == "cursor"


def test_audit_query_refuses_bad_parameters(make_server):
    s, a = signed_in(make_server)
    for params, field in [({"limit": "0"}, "limit"),
                          ({"limit": "201"}, "limit"),
                          ({"limit": "x"}, "limit"),
                          ({"since": "yesterday"}, "since"),
                          ({"until": "2026-13-01T00:00:00Z"}, "until"),
                          ({"cursor": "12"}, "cursor"),
                          ({"event": "x" * 65}, "event"),
                          ({"tokenId": "a", "subject": "b"}, "subject"),
                          ({"since": "2026-02-01T00:00:00Z",
                            "until": "2026-01-01T00:00:00Z"}, "since"),
                          ({"colour": "red"}, "colour")]:
        r = a.get("/v1/admin/audit", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"] == "validation"
        assert r.json()["field"] == field, (params, r.text)
    # Without a session, nothing.
    for path in ("/v1/admin/audit", "/v1/admin/audit/verify",
                 "/v1/admin/keys", "/v1/admin/trust"):
        assert requests.get(s.base + path, timeout=5).status_code == 401


def test_audit_answers_carry_no_secret(make_server):
    s, a = signed_in(make_server)
    csrf = a.login_response.json()["csrfToken"]
    text = a.get("/v1/admin/audit", params={"limit": 200}).text
    for secret in (a.install, a.token, csrf):
        assert secret not in text


def test_audit_verify_finds_the_tampered_row(make_server):
    s, a = signed_in(make_server)
    audit_rows(s, 4)
    r = a.get("/v1/admin/audit/verify")
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["intact"] is True and v["firstBadSeq"] is None
    assert v["rows"] == len(audit_events(s))
    db = sqlite3.connect(os.path.join(s.data_dir, "sealauth.db"))
    seq = db.execute(
        "SELECT seq FROM audit WHERE event = 'test.n1'").fetchone()[0]
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE "
                              "type='trigger' AND tbl_name='audit'"
                              ).fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("UPDATE audit SET subject = 'someone-else' WHERE seq = ?",
               (seq,))
    db.commit()
    db.close()
    v = a.get("/v1/admin/audit/verify").json()
    assert v["intact"] is False and v["firstBadSeq"] == seq
    assert "modified" in v["reason"]
    broken = [e for e in audit_events(s)
              if e["event"] == "admin.audit_chain_broken"]
    assert broken and broken[0]["detail"]["firstBadSeq"] == seq
    assert broken[0]["detail"]["admin"] == a.id


def test_trust_status_per_document_and_refresh(make_server):
    s, a = signed_in(make_server)
    r = a.get("/v1/admin/trust")
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"]["status"] == "fresh"
    assert isinstance(t["status"]["loadedAt"], int)
    kinds = {d["kind"].lower() for d in t["documents"]}
    assert {"governance", "scheme", "tsl", "vrl", "crl"} <= kinds
    for d in t["documents"]:
        assert isinstance(d["sequence"], int) and d["sequence"] >= 1
        assert d["issued"] <= time.time() + 300 < d["nextUpdate"]
        assert 0 <= d["ageSeconds"] < 3600
        assert d["staleReason"] is None
    gov = [d for d in t["documents"] if d["kind"] == "governance"][0]

    # A newer governance list is taken by a refresh on demand.
    trust = os.path.join(s.data_dir, "trust")
    s.cli("trust", "resign", "--dir", trust, "governance")
    r = a.post("/v1/admin/trust/refresh")
    assert r.status_code == 200, r.text
    assert r.json()["refreshed"] is True
    # The in-process session store is this server's alone: nobody else
    # to ask.
    assert r.json()["othersAsked"] is False
    gov2 = [d for d in r.json()["documents"] if d["kind"] == "governance"][0]
    assert gov2["sequence"] == gov["sequence"] + 1

    # A list that no longer verifies: the refresh fails, the last good
    # set stays, and both are audited.
    path = os.path.join(trust, "lists", "tsl-DEMO.xml")
    shutil.copyfile(path, path + ".good")
    with open(path, "rb") as f:
        xml = f.read()
    with open(path, "wb") as f:
        f.write(xml.replace(b"DEMO", b"DEMX", 1) if b"DEMO" in xml
                else xml[:-40])
    r = a.post("/v1/admin/trust/refresh")
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["error"].startswith("trust_") and body["step"]
    assert body["status"]["status"] == "stale"
    assert body["status"]["lastError"]["step"] == body["step"]
    ev = audit_events(s)
    done = [e for e in ev if e["event"] == "admin.trust_refreshed"]
    failed = [e for e in ev if e["event"] == "admin.trust_refresh_failed"]
    assert len(done) == 1 and len(failed) == 1
    for e in done + failed:
        assert e["detail"]["admin"] == a.id
        assert e["detail"]["passkeyId"] and e["ua"] == "admin-e2e"
    assert failed[0]["detail"]["step"] == body["step"]


def test_trust_refresh_is_rate_limited_for_the_server(make_server):
    s, a = signed_in(make_server, env={
        "SEALAUTH_RATE_LIMITS": ADMIN_LIMITS + ",trust_refresh=2/60"})
    assert a.post("/v1/admin/trust/refresh").status_code == 200
    b = Admin(s)
    b.auth = a.auth
    assert b.login(cred=a.cred).status_code == 200
    assert b.post("/v1/admin/trust/refresh").status_code == 200
    # A third, from either session, waits.
    r = a.post("/v1/admin/trust/refresh")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert any(e["event"] == "admin.trust_refresh_refused"
               for e in audit_events(s))


def test_admin_calls_are_rate_limited_per_admin(make_server):
    s, a = signed_in(make_server, env={
        "SEALAUTH_RATE_LIMITS": ADMIN_LIMITS.replace("admin=1000/60",
                                                     "admin=5/60")})
    # Five calls a minute for this admin: the sixth is refused.
    codes = [a.get("/v1/admin/keys").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429], codes


def test_trust_status_says_why_a_document_is_stale(make_server):
    # A VRL may be 4 seconds old here: the set loaded at start stops
    # counting 4 seconds after the list was issued. The lists are named
    # explicitly: a server renews only the embedded demo's own lists.
    s, a = signed_in(make_server, env={"SEALAUTH_TRUST_MAX_AGE_VRL": "4"},
                     named_lists=True)
    vrl = [d for d in a.get("/v1/admin/trust").json()["documents"]
           if d["kind"] == "vrl"][0]
    assert vrl["staleReason"] is None
    time.sleep(max(0, vrl["issued"] + 5.5 - time.time()))
    t = a.get("/v1/admin/trust").json()
    assert t["status"]["status"] == "failed"
    vrl = [d for d in t["documents"] if d["kind"] == "vrl"][0]
    assert vrl["ageSeconds"] > 4
    assert vrl["staleReason"] == ("issued more than 4 seconds ago, the "
                                  "maximum age of a vrl")
    others = [d for d in t["documents"] if d["kind"] != "vrl"]
    assert others and all(d["staleReason"] is None for d in others)


def jwks_verify(server, token):
    """Verifies a token against /.well-known/jwks.json as a relying party
    would: by the kid its header names."""
    kid = jwt.get_unverified_header(token)["kid"]
    keys = requests.get(server.base + "/.well-known/jwks.json",
                        timeout=5).json()["keys"]
    key = [k for k in keys if k["kid"] == kid]
    assert key, f"kid {kid} is not published"
    pub = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(key[0]))
    return jwt.decode(token, pub, algorithms=["ES256"], audience="demo",
                      issuer=server.base)


def login_jwt(s, phone, inbox):
    sess = initiate(s, phone.token_id).json()
    push = inbox.next()
    return phone.answer(sess["sessionId"], push["otp"],
                        scopes=["identity:name"]).json()["jwt"]


def test_key_rotation_with_step_up(make_server, inbox):  # noqa: F811
    limits = ADMIN_LIMITS + ",push=1000/600"
    s, a = signed_in(make_server, env=dict(
        LOGIN_ENV, SEALAUTH_KEY_PUBLISH_DELAY="0",
        SEALAUTH_RATE_LIMITS=limits))
    listing = a.get("/v1/admin/keys").json()
    assert listing["external"] is False
    [old] = listing["keys"]
    assert old["state"] == "active" and old["alg"] == "ES256"
    assert isinstance(old["createdAt"], int) and old["retiresAt"] is None
    phone = enrolled_phone(s, inbox)
    before = login_jwt(s, phone, inbox)
    assert jwt.get_unverified_header(before)["kid"] == old["kid"]

    # A failed step-up (user verification off) changes nothing and keeps
    # the rotation pending; the retry with a good assertion rotates.
    r = a.post("/v1/admin/keys/rotate/start")
    assert r.status_code == 202, r.text
    st = r.json()
    bad = a.auth.get(st["uvOptions"], cred=a.cred, flags=UP)
    r = a.post("/v1/admin/keys/rotate/finish",
               {"stepupId": st["stepupId"], "uvResponse": bad})
    assert r.status_code == 401 and r.json()["retryId"] == st["stepupId"]
    assert len(a.get("/v1/admin/keys").json()["keys"]) == 1
    good = a.auth.get(r.json()["uvOptions"], cred=a.cred)
    r = a.post("/v1/admin/keys/rotate/finish",
               {"stepupId": st["stepupId"], "uvResponse": good})
    assert r.status_code == 200, r.text
    new_kid = r.json()["kid"]
    states = {k["kid"]: k for k in r.json()["keys"]}
    assert states[new_kid]["state"] == "active"
    assert states[old["kid"]]["state"] == "retired"
    assert states[old["kid"]]["unpublishedAt"] > time.time()

    # New tokens carry the new kid; the one signed before still verifies
    # against the published keys, as does the new one.
    after = login_jwt(s, phone, inbox)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    published = {k["kid"] for k in requests.get(
        s.base + "/.well-known/jwks.json", timeout=5).json()["keys"]}
    assert published == {old["kid"], new_kid}
    sub = jwks_verify(s, before)["sub"]
    assert jwks_verify(s, after)["sub"] == sub
    assert verify_jwt(s, before)["sub"] == sub

    ev = audit_events(s)
    rot = [e for e in ev if e["event"] == "admin.key_rotated"]
    assert len(rot) == 1
    d = rot[0]["detail"]
    assert d["kid"] == new_kid and d["admin"] == a.id
    assert d["passkeyId"] == d["uvPasskeyId"] and d["passkeyId"]
    assert rot[0]["ip"] == "127.0.0.1" and rot[0]["ua"] == "admin-e2e"
    assert any(e["event"] == "admin.key_rotate_refused" for e in ev)


def test_key_rotation_refusals(make_server):
    s, a = signed_in(make_server, env={"SEALAUTH_KEY_PUBLISH_DELAY": "0"})
    # A step-up started in another session cannot be finished here.
    b = Admin(s)
    b.auth = a.auth
    assert b.login(cred=a.cred).status_code == 200
    r = a.post("/v1/admin/keys/rotate/start")
    st = r.json()
    uv = a.auth.get(st["uvOptions"], cred=a.cred)
    r = b.post("/v1/admin/keys/rotate/finish",
               {"stepupId": st["stepupId"], "uvResponse": uv})
    assert r.status_code == 403, r.text
    # Two rotations confirmed for the same ring: the first wins, the
    # second is refused (it would retire a key the admin never saw).
    r1 = a.post("/v1/admin/keys/rotate/start").json()
    r2 = a.post("/v1/admin/keys/rotate/start").json()
    for st, code in ((r1, 200), (r2, 409)):
        uv = a.auth.get(st["uvOptions"], cred=a.cred)
        r = a.post("/v1/admin/keys/rotate/finish",
                   {"stepupId": st["stepupId"], "uvResponse": uv})
        assert r.status_code == code, r.text
    assert len(a.get("/v1/admin/keys").json()["keys"]) == 2
    # A finish with no step-up id is refused by its schema.
    r = a.post("/v1/admin/keys/rotate/finish", {"uvResponse": uv})
    assert r.status_code == 400 and r.json()["field"] == "stepupId"


def test_key_rotation_with_an_external_key_is_refused(make_server,
                                                      tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "signing.pem"
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    os.chmod(path, 0o600)
    s, a = signed_in(make_server,
                     env={"SERVER_PRIVATE_KEY_PATH": str(path)})
    assert a.get("/v1/admin/keys").json()["external"] is True
    r = a.post("/v1/admin/keys/rotate/start")
    assert r.status_code == 409
    assert "SERVER_PRIVATE_KEY_PATH" in r.json()["message"]
