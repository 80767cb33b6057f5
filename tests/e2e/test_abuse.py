"""Abuse of the login by someone who knows a token id or a session id but
holds no device key: push bombing and lock-out, killing sessions with bogus
answers, telling enrolled token ids from unknown ones, and reversing login
codes from what the server keeps (issue 13, items 7, 8, 9 and 12)."""
import asyncio
import hashlib
import json
import re
import subprocess

import pytest
import requests
import websockets

from test_login import (LOGIN_ENV, audit_events, enrolled_phone, initiate,
                        ws_url)
from test_multi_instance import REDIS_BIN, Redis
from phone import Phone, PushInbox


@pytest.fixture
def inbox():
    box = PushInbox()
    yield box
    box.close()


def code_table():
    """What an attacker builds once: SHA-256 of every six-digit code."""
    return {hashlib.sha256(b"%06d" % i).hexdigest(): "%06d" % i
            for i in range(1000000)}


HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.mark.skipif(REDIS_BIN is None, reason="redis-server is not installed")
def test_no_code_is_recoverable_from_sessions_or_audit_rows(make_server, inbox):
    redis = Redis().start()
    try:
        s = make_server(env=dict(LOGIN_ENV, REDIS_URL=redis.url)).start()
        phone = enrolled_phone(s, inbox)
        codes = []
        for _ in range(3):
            r = initiate(s, phone.token_id)
            assert r.status_code == 200, r.text
            codes.append(r.json()["autoPassword"])
            inbox.next()
        # Everything the server keeps about the sessions, as a reader of
        # the store sees it.
        keys = subprocess.run(["redis-cli", "-p", str(redis.port), "--scan",
                               "--pattern", "*sess:*"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.split()
        assert keys
        stored = ""
        for k in keys:
            stored += subprocess.run(
                ["redis-cli", "-p", str(redis.port), "GET", k],
                capture_output=True, text=True, timeout=10).stdout
        rows = json.dumps(audit_events(s))
        table = code_table()
        for blob in (stored, rows):
            for code in codes:
                assert code not in blob.split()
                assert hashlib.sha256(code.encode()).hexdigest() not in blob
            for h in HEX64.findall(blob):
                assert h not in table, f"{h} reverses to {table[h]}"
        # The audit row of a login names it without any trace of its code.
        started = [e for e in audit_events(s) if e["event"] == "auth.initiate"]
        assert len(started) == 3
        for e in started:
            assert not HEX64.search(json.dumps(e["detail"]))
    finally:
        redis.close()


def test_unsigned_answers_neither_count_nor_end_the_session(make_server, inbox):
    """Item 8: anyone who learns a session id (it is in the browser's URL
    of the WebSocket) sends bogus answers. They are refused without a
    trace on the session, limited per IP, and the owner's answer still
    logs in."""
    s = make_server(env=dict(LOGIN_ENV, SEALAUTH_RATE_LIMITS=
                             LOGIN_ENV["SEALAUTH_RATE_LIMITS"] +
                             ",verify_unsigned=10/60")).start()
    phone = enrolled_phone(s, inbox)
    thief = Phone(s)
    sess = initiate(s, phone.token_id).json()
    push = inbox.next()
    wrong = "000000" if push["otp"] != "000000" else "111111"

    async def go():
        async with websockets.connect(ws_url(s, sess), origin=s.base) as ws:
            assert json.loads(await ws.recv())["type"] == "otp_ready"
            codes = []
            for i in range(12):
                r = await asyncio.to_thread(
                    phone.answer, sess["sessionId"],
                    (push["otp"], wrong)[i % 2],
                    ("approve", "reject")[i % 3 == 0], ["identity:name"],
                    None, None, False, None, thief)
                codes.append((r.status_code, r.json()["error"],
                              r.headers.get("Retry-After")))
            ok = await asyncio.to_thread(phone.answer, sess["sessionId"],
                                         push["otp"], "approve",
                                         ["identity:name"])
            # The browser heard nothing of the bogus answers.
            return codes, ok, json.loads(await ws.recv())

    codes, ok, event = asyncio.run(asyncio.wait_for(go(), 60))
    assert [c[:2] for c in codes[:10]] == [(401, "invalid_signature")] * 10
    assert [c[:2] for c in codes[10:]] == [(429, "rate_limited")] * 2
    assert int(codes[10][2]) >= 1
    assert ok.status_code == 200, ok.text
    assert event["type"] == "approved" and event["jwt"] == ok.json()["jwt"]
    events = audit_events(s)
    names = [e["event"] for e in events]
    assert names.count("auth.verify_unsigned") == 10
    assert "auth.verify_failed" not in names and "auth.rejected" not in names
    refused = [e for e in events if e["event"] == "ratelimit.refused"]
    assert [e["detail"]["class"] for e in refused] == ["verify_unsigned"]


def test_signed_mistakes_still_count(make_server, inbox):
    """Only answers by the device key count: three signed wrong codes end
    the session, as before."""
    s = make_server(env=LOGIN_ENV).start()
    phone = enrolled_phone(s, inbox)
    sess = initiate(s, phone.token_id).json()
    push = inbox.next()
    wrong = "000000" if push["otp"] != "000000" else "111111"
    codes = [phone.answer(sess["sessionId"], wrong,
                          scopes=["identity:name"]).status_code
             for _ in range(3)]
    assert codes == [401, 401, 401]
    r = phone.answer(sess["sessionId"], push["otp"], scopes=["identity:name"])
    assert r.status_code == 429 and r.json()["error"] == "too_many_attempts"
