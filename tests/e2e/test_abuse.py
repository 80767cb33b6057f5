"""Abuse of the login by someone who knows a token id or a session id but
holds no device key: push bombing and lock-out, killing sessions with bogus
answers, telling enrolled token ids from unknown ones, and reversing login
codes from what the server keeps (issue 13, items 7, 8, 9 and 12)."""
import hashlib
import json
import re
import subprocess

import pytest
import requests

from test_login import LOGIN_ENV, audit_events, enrolled_phone, initiate
from test_multi_instance import REDIS_BIN, Redis
from phone import PushInbox


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
