"""Enrollments through the admin API: pages with filters and a cursor, one
enrollment without its claim values, and a revocation (step-up) that stops
the token id's logins and fails its pending login session."""
import queue

import requests

from admin_client import Admin, admin_server, audit_events
from phone import PushInbox
from test_login import enrolled_phone, initiate

FINISH = "/v1/admin/enrollments/revoke/finish"


def test_list_show_revoke(make_server):
    inbox = PushInbox()
    try:
        s = admin_server(make_server,
                         env={"SEALAUTH_PUSH_ALLOW_PRIVATE": "1"})
        a = Admin(s)
        a.claim()
        assert a.login().status_code == 200
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
        assert ev[0]["detail"]["uvPasskeyId"]
    finally:
        inbox.close()
