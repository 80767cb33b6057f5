"""GET /metrics: private by default, Prometheus text that promtool accepts,
and counts that follow what happened."""
import re
import subprocess

import requests

from conftest import free_port
from phone import PushInbox
import asyncio
import json

import websockets

from test_login import LOGIN_ENV, audit_events, enrolled_phone, initiate, \
    ws_url

TOKEN = "metrics-token-for-the-e2e-tests-0001"


def promtool_ok(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def value(text, series):
    """The value of one series line, e.g. 'sealauth_logins_started_total'
    or 'sealauth_push_total{provider="unifiedpush",outcome="ok"}'."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def test_metrics_are_not_public_without_a_token_or_listener(make_server):
    s = make_server(env=LOGIN_ENV).start()
    r = requests.get(s.base + "/metrics", timeout=5)
    assert r.status_code == 404


def test_metrics_behind_a_token_follow_a_login(make_server):
    s = make_server(env=dict(LOGIN_ENV, SEALAUTH_METRICS_TOKEN=TOKEN)).start()
    r = requests.get(s.base + "/metrics", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(s.base + "/metrics", timeout=5,
                     headers={"Authorization": "Bearer " + TOKEN[:-1] + "2"})
    assert r.status_code == 401

    before = requests.get(s.base + "/metrics", timeout=5,
                          headers={"Authorization": "Bearer " + TOKEN}).text
    inbox = PushInbox()
    try:
        phone = enrolled_phone(s, inbox, token_id="DE-METRICS-1")
        sess = initiate(s, phone.token_id).json()
        push = inbox.next()
        ok = phone.answer(sess["sessionId"], push["otp"], "approve",
                          ["identity:name"])
        assert ok.status_code == 200, ok.text
        sess2 = initiate(s, phone.token_id).json()
        inbox.next()
        no = phone.answer(sess2["sessionId"], sess2["autoPassword"], "reject")
        assert no.status_code == 200, no.text
    finally:
        inbox.close()

    r = requests.get(s.base + "/metrics", timeout=5,
                     headers={"Authorization": "Bearer " + TOKEN})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert r.headers["Cache-Control"] == "no-store"
    text = r.text
    promtool_ok(text)
    assert value(text, "sealauth_logins_started_total") == 2
    assert value(text, "sealauth_logins_approved_total") == 1
    assert value(text,
                 'sealauth_logins_rejected_total{reason="User rejected"}') == 1
    assert value(text, 'sealauth_enrollments_total{outcome="ok",step=""}') == 1
    assert value(text, 'sealauth_push_total{provider="unifiedpush",'
                       'outcome="ok"}') == 2
    # Per-step latency: both login steps have a histogram of their own.
    for route in ("/auth/initiate", "/auth/verify", "/enroll"):
        count = value(text, 'sealauth_http_request_duration_seconds_count'
                            '{route="%s",status="2xx"}' % route)
        assert count and count >= 1, route
    assert value(text, "sealauth_audit_commit_duration_seconds_count") >= 4
    assert value(text, "sealauth_trust_fresh") == 1
    assert value(text, "sealauth_websockets_open") == 0
    assert value(text, "sealauth_audit_queue_depth") is not None
    # The in-process session store: each ended login keeps an end marker
    # for its session lifetime, and its memory is counted in slab pages of
    # 64 KiB.
    e0 = value(before, "sealauth_session_store_entries")
    e1 = value(text, "sealauth_session_store_entries")
    b0 = value(before, "sealauth_session_store_bytes")
    b1 = value(text, "sealauth_session_store_bytes")
    assert e0 is not None and b0 is not None and b0 > 0
    assert e1 >= e0 + 2, (e0, e1)
    # At least the page of one of them; the unit tests count exactly.
    assert b1 >= max(b0, 65536), (b0, b1)


def test_rate_limit_refusals_are_counted(make_server):
    env = dict(LOGIN_ENV, SEALAUTH_METRICS_TOKEN=TOKEN,
               SEALAUTH_RATE_LIMITS="health=2/60")
    s = make_server(env=env).start()
    codes = [requests.get(s.base + "/health", timeout=5).status_code
             for _ in range(4)]
    assert codes.count(429) >= 1
    text = requests.get(s.base + "/metrics", timeout=5,
                        headers={"Authorization": "Bearer " + TOKEN}).text
    promtool_ok(text)
    assert value(text, 'sealauth_ratelimit_refused_total{class="health"}') \
        == codes.count(429)


def test_private_metrics_listener(make_server):
    port = free_port()
    env = dict(LOGIN_ENV, SEALAUTH_METRICS_LISTEN=f"127.0.0.1:{port}")
    s = make_server(env=env).start()
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert r.status_code == 200
    promtool_ok(r.text)
    assert re.search(r"^sealauth_uptime_seconds \d", r.text, re.M)
    # Only /metrics lives there, and the main listener does not offer it.
    assert requests.get(f"http://127.0.0.1:{port}/health",
                        timeout=5).status_code == 404
    assert requests.get(s.base + "/metrics", timeout=5).status_code == 404


def test_decoy_logins_have_their_own_counter(make_server):
    """A login for an unknown token id (a decoy, so that the caller cannot
    tell) is counted as a decoy, and its expiry is not a login that
    expired."""
    env = dict(LOGIN_ENV, SEALAUTH_METRICS_TOKEN=TOKEN,
               SEALAUTH_SESSION_TTL="10")
    s = make_server(env=env).start()
    sess = initiate(s, "DE-NOBODY-1").json()

    async def wait_expired():
        async with websockets.connect(ws_url(s, sess), origin=s.base) as ws:
            await ws.recv()
            return json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert asyncio.run(asyncio.wait_for(wait_expired(), 30)) == {
        "type": "expired"}
    events = [e["event"] for e in audit_events(s)]
    assert "auth.decoy_expired" in events and "auth.expired" not in events
    text = requests.get(s.base + "/metrics", timeout=5,
                        headers={"Authorization": "Bearer " + TOKEN}).text
    promtool_ok(text)
    assert value(text,
                 'sealauth_logins_decoy_total{reason="not_enrolled"}') == 1
    assert value(text, "sealauth_logins_expired_total") is None
    assert value(text, "sealauth_logins_started_total") is None


def test_open_connections_include_websockets(make_server):
    # sealauth_connections_open counts what the connection limit counts:
    # HTTP connections and WebSockets (which libmicrohttpd no longer holds
    # after their handshake). Bounded: a few seconds.
    import time

    from test_hostile_net import ws_handshake

    s = make_server(env={"SEALAUTH_METRICS_TOKEN": TOKEN,
                         "SEALAUTH_CONNECTION_LIMIT": "300"}).start()

    def gauges():
        # A fresh connection each time: it is counted itself.
        text = requests.get(s.base + "/metrics", timeout=5,
                            headers={"Authorization": "Bearer " + TOKEN,
                                     "Connection": "close"}).text
        promtool_ok(text)
        return (value(text, "sealauth_connections_open"),
                value(text, "sealauth_websockets_open"),
                value(text, "sealauth_connections_limit"))

    def settled(want):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            got = gauges()
            if got[:2] == want:
                return got
            time.sleep(0.05)
        return got

    assert settled((1, 0)) == (1, 0, 300)
    held = []
    try:
        for _ in range(3):
            held.append(ws_handshake(s)[0])  # asserts the 101
        # The three sockets and the scrape's own connection.
        assert settled((4, 3)) == (4, 3, 300)
    finally:
        for c in held:
            c.close()
    assert settled((1, 0)) == (1, 0, 300)
