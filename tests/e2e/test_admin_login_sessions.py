"""Live login sessions through the admin API: pages of them from the
ephemeral store's session index (newest first, filters, cursor), and ending
one with a step-up, which its browser's WebSocket sees at once and its
phone can no longer answer."""
import asyncio
import json

import requests
import websockets

from admin_client import Admin, admin_server, audit_events
from phone import PushInbox
from test_login import enrolled_phone, initiate

LIST = "/v1/admin/login-sessions"
START = "/v1/admin/login-sessions/end/start"
FINISH = "/v1/admin/login-sessions/end/finish"


def signed_in(make_server):
    s = admin_server(make_server, env={"SEALAUTH_PUSH_ALLOW_PRIVATE": "1"})
    a = Admin(s)
    a.claim()
    assert a.login().status_code == 200
    return s, a


def pages(a, **q):
    """Every session the list gives, page by page; returns (sessions,
    number of pages)."""
    seen, cursor, n = [], None, 0
    while True:
        params = dict(q)
        if cursor:
            params["cursor"] = cursor
        r = a.get(LIST, params=params)
        assert r.status_code == 200, r.text
        seen += r.json()["sessions"]
        cursor = r.json()["nextCursor"]
        n += 1
        if cursor is None:
            return seen, n


def test_list_pages_and_filters(make_server):
    inbox = PushInbox()
    try:
        s, a = signed_in(make_server)
        enrolled_phone(s, inbox, token_id="DE-501")
        enrolled_phone(s, inbox, token_id="DE-502")
        ids = []
        for tok in ("DE-501", "DE-502", "DE-501", "NOBODY-1"):
            r = initiate(s, tok, headers={"User-Agent": "browser-e2e"})
            assert r.status_code == 200, r.text
            ids.append(r.json()["sessionId"])
        # Without the admin token: refused.
        assert requests.get(s.base + LIST, timeout=10).status_code == 401
        got, n = pages(a, limit=1)
        assert n >= 4
        assert sorted(x["sessionId"] for x in got) == sorted(ids)
        one = [x for x in got if x["sessionId"] == ids[0]][0]
        assert one["tokenId"] == "DE-501" and one["bound"] is True
        assert one["serviceId"] == "demo" and one["state"] == "waiting"
        assert one["scopes"] == ["identity:name"]
        assert one["ip"] == "127.0.0.1" and one["userAgent"] == "browser-e2e"
        assert one["expiresAt"] > one["issuedAt"] > 0
        # A token id nobody enrolled is not shown: it is what was typed.
        decoy = [x for x in got if x["sessionId"] == ids[3]][0]
        assert decoy["tokenId"] is None and decoy["bound"] is False
        # Newest first: the order of expiry, latest first.
        assert [x["expiresAt"] for x in got] == sorted(
            (x["expiresAt"] for x in got), reverse=True)
        # Filters, and a cursor only with the filters it was made with.
        mine, _ = pages(a, tokenId="DE-501", limit=1)
        assert sorted(x["sessionId"] for x in mine) == sorted(
            [ids[0], ids[2]])
        assert pages(a, serviceId="nope")[0] == []
        first = a.get(LIST, params={"tokenId": "DE-501", "limit": 1}).json()
        r = a.get(LIST, params={"limit": 1, "cursor": first["nextCursor"]})
        assert r.status_code == 400 and r.json()["field"] == "cursor"
        for q, field in (({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
                         ({"cursor": "!!"}, "cursor")):
            r = a.get(LIST, params=q)
            assert r.status_code == 400 and r.json()["field"] == field
        # A session leaves the list when it ends; the audit log has how.
        phone = enrolled_phone(s, inbox, token_id="DE-503")
        sid = initiate(s, "DE-503").json()["sessionId"]
        while True:
            push = inbox.next()
            if push.get("sessionId") == sid:
                break
        st = [x for x in pages(a, tokenId="DE-503")[0]]
        assert [(x["sessionId"], x["state"]) for x in st] == [
            (sid, "waiting")]
        r = phone.answer(sid, push["otp"], scopes=["identity:name"])
        assert r.status_code == 200, r.text
        assert pages(a, tokenId="DE-503")[0] == []
        assert sid not in [x["sessionId"] for x in pages(a)[0]]
        assert any(e["event"] == "auth.approved" and
                   e["detail"].get("sessionId") == sid
                   for e in audit_events(s))
    finally:
        inbox.close()


async def watch_end(s, a, sess):
    """Opens the session's WebSocket as its browser, ends the session
    through the admin API while it is open, and returns the frames the
    browser got and the admin's answer."""
    url = (s.base.replace("http://", "ws://") +
           f"/ws/session/{sess['sessionId']}?token={sess['wsToken']}")
    frames = []
    async with websockets.connect(url, origin=s.base) as ws:
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        loop = asyncio.get_running_loop()
        start = await loop.run_in_executor(
            None, lambda: a.send("POST", START,
                                 {"sessionId": sess["sessionId"]}))
        answer = await loop.run_in_executor(
            None, lambda: a.finish(start, FINISH))
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return frames, answer


def test_end_a_login_session(make_server):
    inbox = PushInbox()
    try:
        s, a = signed_in(make_server)
        phone = enrolled_phone(s, inbox, token_id="DE-601")
        r = initiate(s, "DE-601")
        assert r.status_code == 200, r.text
        sess = r.json()
        push = inbox.next()
        # Unknown ids are refused before any step-up.
        r = a.send("POST", START, {"sessionId": "sess_" + "A" * 22})
        assert r.status_code == 404 and r.json()["field"] == "sessionId"
        r = a.send("POST", START, {"sessionId": "nope"})
        assert r.status_code == 400 and r.json()["field"] == "sessionId"
        # A failed step-up ends nothing.
        r = a.finish(a.send("POST", START, {"sessionId": sess["sessionId"]}),
                     FINISH, tamper_sig=True)
        assert r.status_code == 401
        assert [x["state"] for x in
                a.get(LIST, params={"tokenId": "DE-601"}).json()[
                    "sessions"]] == ["waiting"]

        frames, answer = asyncio.run(watch_end(s, a, sess))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"sessionId": sess["sessionId"],
                                 "state": "rejected"}
        assert frames[0]["type"] == "otp_ready"
        assert frames[1] == {"type": "rejected",
                             "reason": "Ended by an administrator"}
        # The phone's approval comes too late.
        r = phone.answer(sess["sessionId"], push["otp"],
                         scopes=["identity:name"])
        assert r.status_code == 409, r.text
        # Ended once: a second end is refused, at the start.
        r = a.send("POST", START, {"sessionId": sess["sessionId"]})
        assert r.status_code == 409
        # Ended, it has left the list; a start for it still says why.
        listed = a.get(LIST, params={"tokenId": "DE-601"}).json()["sessions"]
        assert listed == []
        assert r.json()["field"] == "sessionId"
    finally:
        inbox.close()
    me = a.get("/v1/admin/me").json()
    ev = [e for e in audit_events(s)
          if e["event"] == "admin.login_session_ended"]
    assert len(ev) == 1
    d = ev[0]["detail"]
    assert d["sessionId"] == sess["sessionId"] and d["tokenId"] == "DE-601"
    assert d["serviceId"] == "demo" and d["uvPasskeyId"] == me["passkeyId"]
    assert d["adminSession"] == me["sessionId"]
    assert any(e["event"] == "admin.login_session_end_refused"
               for e in audit_events(s))
