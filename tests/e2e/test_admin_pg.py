"""Administration on PostgreSQL shared by two servers: the last-passkey
guard holds when two revokes race on two instances, a revoke ends the
sessions signed in with the passkey on every instance, the audit
endpoints read and verify the chain in PostgreSQL, and, with Redis shared
too, a trust refresh asked of one instance reaches the other.

Needs the Debian postgresql binaries (test_postgres.py's cluster); without
them every test here is skipped. The trust refresh needs redis-server."""
import os
import threading
import time

import pytest
import requests

from admin_client import ADMIN_LIMITS, Admin, audit_events
from authenticator import b64u
from test_multi_instance import REDIS_BIN, redis  # noqa: F401 (a fixture)
from test_postgres import cluster  # noqa: F401 (a fixture)


def pg_pair(cluster, make_server, redis=None):  # noqa: F811
    """Two servers on one database behind one public URL (the first
    one's), each with its own data directory and, unless a Redis is
    given, its own in-process ephemeral store, as two instances behind a
    load balancer."""
    db, url = cluster.new_database()
    env = {"DATABASE_URL": url, "SEALAUTH_RATE_LIMITS": ADMIN_LIMITS}
    if redis is not None:
        env["REDIS_URL"] = redis.url
    a = make_server(env=env)
    a.env["SEALAUTH_PUBLIC_URL"] = a.base
    a.start()
    b = make_server(env=dict(env, SEALAUTH_PUBLIC_URL=a.base)).start()
    return db, a, b


def test_concurrent_revokes_on_two_instances_leave_one_passkey(
        cluster, make_server):  # noqa: F811
    db, s1, s2 = pg_pair(cluster, make_server)
    one = Admin(s1)
    first = one.claim()
    # The same admin signs in on the other server too, with the same
    # authenticator (one origin: the public URL's).
    two = Admin(s2, origin=s1.base)
    two.auth = one.auth
    keys = [first]
    for rnd in range(6):
        # A revoke ends the sessions signed in with the passkey it
        # removes: each round, server one's session is signed in with the
        # passkey it will revoke and server two's with the other one, so
        # the loser's session outlives the winner's revoke and only the
        # guard decides.
        assert one.login(cred=keys[0]).status_code == 200
        new, _, _, r = one.register(alg=-7, fmt="none", uv_cred=keys[0],
                                    label=f"key {rnd}")
        assert r.status_code == 200, r.text
        keys = [keys[0], new]
        assert two.login(cred=new).status_code == 200
        # Each server revokes a different one of the two passkeys, each
        # step-up signed by the passkey it removes, so both step-ups
        # pass whatever the order and only the guard decides.
        starts = []
        for adm, k in ((one, keys[0]), (two, keys[1])):
            r = adm.post("/v1/admin/passkeys/revoke/start",
                         {"credentialId": b64u(k.id)})
            assert r.status_code == 200, r.text
            st = r.json()
            starts.append((adm, st["revocationId"],
                           adm.auth.get(st["uvOptions"], cred=k)))
        gate = threading.Barrier(2)
        answers = [None, None]

        def finish(i):
            adm, rid, uv = starts[i]
            gate.wait(10)
            answers[i] = adm.post("/v1/admin/passkeys/revoke/finish",
                                  {"revocationId": rid, "uvResponse": uv})

        threads = [threading.Thread(target=finish, args=(i,))
                   for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 409], [r.text for r in answers]
        refused = [r for r in answers if r.status_code == 409][0]
        assert refused.json()["error"] == "last_passkey_protected"
        won = [r for r in answers if r.status_code == 200][0].json()
        assert won["sessionsEnded"] >= 1 and won["currentSessionEnded"]
        # The winner's session went with its passkey; the loser's lives.
        # Exactly one passkey is left, the one whose revoke was refused,
        # seen alike from both servers once the winner signs in again.
        left = [k for k, r in zip(keys, answers) if r.status_code == 409]
        winner = [a for a, r in zip((one, two), answers)
                  if r.status_code == 200][0]
        assert winner.get("/v1/admin/me").status_code == 401
        assert winner.login(cred=left[0]).status_code == 200
        for adm in (one, two):
            got = adm.get("/v1/admin/passkeys").json()["passkeys"]
            assert [p["credentialId"] for p in got] == [b64u(left[0].id)]
        r = cluster.psql(db, "SELECT count(*) FROM admin_records WHERE "
                             "kind = 'passkey'")
        assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
        keys = left
    ev = audit_events(s1)
    assert len([e for e in ev if e["event"] == "admin.passkey_revoked"]) == 6
    assert len([e for e in ev if e["event"] == "admin.passkey_revoke_refused"
                and e["detail"]["error"] == "last_passkey_protected"]) == 6


def test_a_revoke_on_one_instance_ends_its_sessions_on_the_other(
        cluster, make_server):  # noqa: F811
    db, s1, s2 = pg_pair(cluster, make_server)
    one = Admin(s1)
    first = one.claim()
    assert one.login(cred=first).status_code == 200
    second, _, _, r = one.register(uv_cred=first)
    assert r.status_code == 200, r.text
    # On server two: a session signed in with each passkey.
    old, kept = Admin(s2, origin=s1.base), Admin(s2, origin=s1.base)
    old.auth = kept.auth = one.auth
    assert old.login(cred=first).status_code == 200
    assert kept.login(cred=second).status_code == 200
    r = kept.revoke(b64u(first.id), uv_cred=second)
    assert r.status_code == 200, r.text
    assert r.json()["sessionsEnded"] == 2
    # Both sessions signed in with the revoked passkey are over, on
    # either server; the other passkey's session goes on.
    assert old.get("/v1/admin/me").status_code == 401
    assert one.get("/v1/admin/me").status_code == 401
    assert kept.get("/v1/admin/me").status_code == 200
    r = cluster.psql(db, "SELECT count(*) FROM admin_records WHERE "
                         "kind = 'admin_session'")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def test_audit_endpoints_on_postgres(cluster, make_server):  # noqa: F811
    db, s1, s2 = pg_pair(cluster, make_server)
    a = Admin(s1)
    cred = a.claim()
    assert a.login(cred=cred).status_code == 200
    for i in range(5):
        assert requests.post(s2.base + f"/test/audit/test.pg{i}",
                             timeout=5).status_code == 200
    # Rows written by either server, read through one, newest first.
    page = a.get("/v1/admin/audit", params={"event": "test.*",
                                            "limit": 3}).json()
    assert [e["event"] for e in page["events"]] == [
        "test.pg4", "test.pg3", "test.pg2"]
    rest = a.get("/v1/admin/audit", params={
        "event": "test.*", "limit": 3, "cursor": page["nextCursor"]}).json()
    assert [e["event"] for e in rest["events"]] == ["test.pg1", "test.pg0"]
    assert rest["nextCursor"] is None
    v = a.get("/v1/admin/audit/verify").json()
    assert v["intact"] is True and v["rows"] == len(audit_events(s1))
    # The superuser switches the append-only triggers off and rewrites a
    # row: the chain verification finds it.
    seq = cluster.psql(db, "SELECT seq FROM audit WHERE event = "
                           "'test.pg2'").stdout.strip()
    r = cluster.psql(db, "ALTER TABLE audit DISABLE TRIGGER USER; "
                         "UPDATE audit SET ip = '10.9.9.9' WHERE seq = "
                         f"{seq}; ALTER TABLE audit ENABLE TRIGGER USER")
    assert r.returncode == 0, r.stderr
    v = a.get("/v1/admin/audit/verify").json()
    assert v["intact"] is False and v["firstBadSeq"] == int(seq), v


@pytest.mark.skipif(REDIS_BIN is None, reason="redis-server is not "
                    "installed (scripts/setup --test installs it)")
def test_a_trust_refresh_on_one_instance_reaches_the_other(
        cluster, redis, make_server):  # noqa: F811
    db, s1, s2 = pg_pair(cluster, make_server, redis)
    one = Admin(s1)
    cred = one.claim()
    assert one.login(cred=cred).status_code == 200
    two = Admin(s2, origin=s1.base)
    two.auth = one.auth
    assert two.login(cred=cred).status_code == 200

    def governance(admin):
        r = admin.get("/v1/admin/trust")
        assert r.status_code == 200, r.text
        return [d for d in r.json()["documents"]
                if d["kind"] == "governance"][0]["sequence"]

    # Server two's governance list is signed anew (each server has its own
    # data directory); its timer is hours away, so it keeps the old one.
    before = governance(two)
    s2.cli("trust", "resign", "--dir", os.path.join(s2.data_dir, "trust"),
           "governance")
    time.sleep(1.5)
    assert governance(two) == before
    # A refresh asked of server one makes server two refresh too.
    r = one.post("/v1/admin/trust/refresh")
    assert r.status_code == 200, r.text
    assert r.json()["refreshed"] is True and r.json()["othersAsked"] is True
    deadline = time.monotonic() + 5
    while governance(two) != before + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert governance(two) == before + 1
    # One audit row: the admin's refresh on server one.
    ev = [e for e in audit_events(s1) if e["event"] == "admin.trust_refreshed"]
    assert len(ev) == 1
