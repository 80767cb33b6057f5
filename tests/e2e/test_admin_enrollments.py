"""Enrollments through the admin API: pages with filters and a cursor, one
enrollment without its claim values, and a revocation (step-up) that stops
the token id's logins and fails its pending login session."""
import queue

import requests

from admin_client import Admin, admin_server, audit_events
from phone import Phone, PushInbox
from test_login import enrolled_phone, initiate, issue_seal

FINISH = "/v1/admin/enrollments/revoke/finish"


def signed_in(make_server):
    """A server that pushes to loopback, and its first admin signed in."""
    s = admin_server(make_server, env={"SEALAUTH_PUSH_ALLOW_PRIVATE": "1"})
    a = Admin(s)
    a.claim()
    assert a.login().status_code == 200
    return s, a


def test_list_show_revoke(make_server):
    inbox = PushInbox()
    try:
        s, a = signed_in(make_server)
        for i in range(5):
            enrolled_phone(s, inbox, token_id=f"DE-90{i}")
        # Pages of two, every enrollment once.
        seen, cursor = [], None
        while True:
            q = {"tokenId": "DE-90", "limit": 2}
            if cursor:
                q["cursor"] = cursor
            r = a.get("/v1/admin/enrollments", params=q)
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["enrollments"]) <= 2
            seen += [e["tokenId"] for e in page["enrollments"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"DE-90{i}" for i in range(5)]
        # A cursor made with other filters is refused.
        first = a.get("/v1/admin/enrollments",
                      params={"tokenId": "DE-90", "limit": 2}).json()
        r = a.get("/v1/admin/enrollments",
                  params={"tokenId": "DE-9", "limit": 2,
                          "cursor": first["nextCursor"]})
        assert r.status_code == 400 and r.json()["field"] == "cursor"
        for q, field in (({"status": "gone"}, "status"),
                         ({"limit": "0"}, "limit"),
                         ({"since": "yesterday"}, "since")):
            r = a.get("/v1/admin/enrollments", params=q)
            assert r.status_code == 400 and r.json()["field"] == field

        one = a.get("/v1/admin/enrollments/DE-900").json()
        assert one["status"] == "active" and one["push"] == "unifiedpush"
        assert "givenName" in one["claimNames"] or one["claimNames"]
        assert "Erika" not in str(one)
        assert a.get("/v1/admin/enrollments/NOPE").status_code == 404

        # A pending login of DE-900, then its revocation.
        r = initiate(s, "DE-900")
        assert r.status_code == 200, r.text
        inbox.next()  # the phone was asked
        r = requests.post(s.base + "/v1/admin/enrollments/revoke/start",
                          json={"tokenId": "DE-900"}, timeout=10)
        assert r.status_code == 401
        r = a.change("POST", "/v1/admin/enrollments/revoke/start",
                     {"tokenId": "DE-900", "reason": "lost phone"}, FINISH)
        assert r.status_code == 200, r.text
        assert r.json()["sessionsEnded"] == 1
        # A revoked token id's login is a decoy: no phone is asked.
        initiate(s, "DE-900")
        try:
            inbox.next(timeout=1.5)
            raise AssertionError("a revoked token id's phone was asked")
        except queue.Empty:
            pass
        r = a.send("POST", "/v1/admin/enrollments/revoke/start",
                   {"tokenId": "DE-900"})
        assert r.status_code == 409
        page = a.get("/v1/admin/enrollments",
                     params={"status": "revoked"}).json()
        assert [e["tokenId"] for e in page["enrollments"]] == ["DE-900"]
        ev = [e for e in audit_events(s)
              if e["event"] == "admin.enrollment_revoked"]
        assert len(ev) == 1 and ev[0]["detail"]["tokenId"] == "DE-900"
        assert ev[0]["detail"]["uvPasskeyId"] and ev[0]["detail"]["admin"]
        # The pending login it ended is a row of its own, after it.
        ended = [e for e in audit_events(s)
                 if e["event"] == "admin.enrollment_sessions_ended"]
        assert len(ended) == 1 and ended[0]["detail"] == dict(
            ended[0]["detail"], tokenId="DE-900", sessionsEnded=1)
        assert ended[0]["seq"] > ev[0]["seq"]
    finally:
        inbox.close()


def pending_takeover(s, inbox, new_inbox, token_id):
    """The bound phone, and a second phone whose enrollment waits as a
    takeover; returns both and the takeover's id."""
    old = enrolled_phone(s, inbox, token_id=token_id)
    new = Phone(s, new_inbox)
    r = new.enroll(issue_seal(s, token_id, document="C02X00T47"))
    assert r.status_code == 202, r.text
    tid = r.json()["takeoverId"]
    while True:  # earlier notices (a replaced binding) may come first
        msg = inbox.next()
        if msg.get("type") == "takeover_pending":
            break
    assert msg["takeoverId"] == tid
    return old, new, tid


def test_takeover_override(make_server):
    inbox, new_inbox = PushInbox(), PushInbox()
    start = "/v1/admin/enrollments/takeover/start"
    finish = "/v1/admin/enrollments/takeover/finish"
    try:
        s, a = signed_in(make_server)
        old, new, tid = pending_takeover(s, inbox, new_inbox, "DE-TK1")
        shown = a.get("/v1/admin/enrollments/DE-TK1").json()
        assert shown["pendingTakeover"]["takeoverId"] == tid
        # Without the admin token, or for another takeover id: refused,
        # and nothing moves.
        r = requests.post(s.base + start, timeout=10,
                          json={"tokenId": "DE-TK1", "takeoverId": tid,
                                "decision": "approve"})
        assert r.status_code == 401
        r = a.send("POST", start, {"tokenId": "DE-TK1", "takeoverId": "x" +
                                   tid[1:], "decision": "approve"})
        assert r.status_code == 404 and r.json()["field"] == "takeoverId"
        r = a.send("POST", start, {"tokenId": "DE-TK1", "takeoverId": tid,
                                   "decision": "maybe"})
        assert r.status_code == 400 and r.json()["field"] == "decision"
        # A failed step-up decides nothing.
        r = a.finish(a.send("POST", start, {"tokenId": "DE-TK1",
                                            "takeoverId": tid,
                                            "decision": "approve"}),
                     finish, tamper_sig=True)
        assert r.status_code == 401, r.text
        assert a.get("/v1/admin/enrollments/DE-TK1").json()[
            "pendingTakeover"]["takeoverId"] == tid
        # Approved: the new phone is asked at the next login.
        r = a.change("POST", start, {"tokenId": "DE-TK1", "takeoverId": tid,
                                     "decision": "approve",
                                     "reason": "lost the old phone"}, finish)
        assert r.status_code == 200, r.text
        assert r.json()["decision"] == "approved"
        assert inbox.next()["type"] == "enrollment_replaced"
        sid = initiate(s, "DE-TK1").json()["sessionId"]
        while True:
            push = new_inbox.next()
            if push.get("sessionId") == sid:
                break
        r = a.send("POST", start, {"tokenId": "DE-TK1", "takeoverId": tid,
                                   "decision": "cancel"})
        assert r.status_code == 404
        # Cancelled: the old phone keeps the token id.
        old2, new2, tid2 = pending_takeover(s, inbox, new_inbox, "DE-TK2")
        r = a.change("POST", start, {"tokenId": "DE-TK2", "takeoverId": tid2,
                                     "decision": "cancel"}, finish)
        assert r.status_code == 200 and r.json()["decision"] == "cancelled"
        sid = initiate(s, "DE-TK2").json()["sessionId"]
        while True:
            push = inbox.next()
            if push.get("sessionId") == sid:
                break
        assert a.get("/v1/admin/enrollments/DE-TK2").json()[
            "pendingTakeover"] is None
    finally:
        inbox.close()
        new_inbox.close()
    events = audit_events(s)
    ok = [e for e in events if e["event"] == "admin.takeover_approved"]
    assert len(ok) == 1 and ok[0]["detail"]["takeoverId"] == tid
    assert ok[0]["detail"]["reason"] == "lost the old phone"
    assert [e["detail"]["takeoverId"] for e in events
            if e["event"] == "admin.takeover_cancelled"] == [tid2]
    assert any(e["event"] == "admin.takeover_refused" for e in events)
    # Both decisions name the admin's session, the passkey it signed in
    # with and the one that signed the step-up, like every mutation.
    me = a.get("/v1/admin/me").json()
    for ev in ("admin.takeover_approved", "admin.takeover_cancelled"):
        d = [e for e in events if e["event"] == ev][0]["detail"]
        assert d["adminId"] == d["admin"] == me["id"]
        assert d["adminSession"] == me["sessionId"]
        assert d["passkeyId"] == me["passkeyId"]
        assert d["uvPasskeyId"] == me["passkeyId"]
