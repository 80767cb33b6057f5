"""Two sealauth instances sharing one Redis and one data directory (SPEC §3.6,
§9): a login started on instance A is answered by the phone on instance B and
the browser's WebSocket on A still receives the outcome; rate limits are
shared; Redis going away degrades both instances (503, /health "down")
without crashing them, and they recover when it returns.

Redis is a private redis-server on a free loopback port with no persistence.
Both instances use the same SEALAUTH_DATA_DIR: SQLite in WAL mode serves two
processes, and the signing keys and the OTP secret in it are shared, as they
must be behind a load balancer."""
import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import requests
import websockets

from conftest import free_port, pairwise_sub
from phone import PushInbox
from test_login import enrolled_phone, initiate, verify_jwt, ws_url

REDIS_BIN = shutil.which("redis-server")

LIMITS = "enroll=1000/3600,initiate=1000/60,verify=1000/60,ws=1000/60,push=1000/600"

pytestmark = pytest.mark.skipif(
    REDIS_BIN is None or shutil.which("redis-cli") is None,
    reason="redis-server is not installed (scripts/setup --test installs it)")


class Redis:
    """A redis-server on 127.0.0.1 that can be stopped and started again on
    the same port."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sealauth-redis-")
        self.port = free_port()
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout=10):
        log = open(os.path.join(self.tmp.name, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.tmp.name,
             "--daemonize", "no"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited early")
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def ping(self):
        r = subprocess.run(["redis-cli", "-p", str(self.port), "PING"],
                           capture_output=True, text=True, timeout=5)
        return r.stdout.strip() == "PONG"

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        self.tmp.cleanup()


@pytest.fixture
def redis():
    r = Redis().start()
    yield r
    r.close()


@pytest.fixture
def inbox():
    box = PushInbox()
    yield box
    box.close()


@pytest.fixture
def shared_dir():
    d = tempfile.TemporaryDirectory(prefix="sealauth-multi-")
    yield d.name
    d.cleanup()


def start_pair(make_server, redis, data_dir, limits=LIMITS):
    """Starts A, then B (A creates the keys and the trust environment first),
    with one public URL, one Redis and one data directory."""
    port_a = free_port()
    public = f"http://127.0.0.1:{port_a}"
    env = {"REDIS_URL": redis.url, "SEALAUTH_PUSH_ALLOW_PRIVATE": "1",
           "SEALAUTH_RATE_LIMITS": limits, "SEALAUTH_PUBLIC_URL": public}
    servers = []
    for name in ("a", "b"):
        s = make_server(env=env, data_dir=data_dir)
        if name == "a":
            s.port = port_a
            s.base = public
            s.env["SEALAUTH_LISTEN"] = f"127.0.0.1:{port_a}"
        s.log_path = os.path.join(data_dir, f"server-{name}.log")
        servers.append(s.start())
    return servers


def health(server):
    r = requests.get(server.base + "/health", timeout=10)
    return r.status_code, r.json()


def wait_for(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def login_across(a, b, phone, inbox):
    """Initiates on A, opens the browser socket on A, answers as the phone
    on B; returns the phone's answer, the final event on A's socket, its
    close code, and the body the phone sent (for a replay)."""
    r = initiate(a, phone.token_id, headers={"Origin": a.base})
    assert r.status_code == 200, r.text
    sess = r.json()
    push = inbox.next()
    assert push["sessionId"] == sess["sessionId"]
    phone.server = b
    ts = int(time.time())
    data = phone.message(sess["sessionId"], push["otp"], ts, "approve",
                         ["identity:name"])
    body = {"sessionId": sess["sessionId"], "tokenId": phone.token_id,
            "otp": push["otp"], "timestamp": ts, "decision": "approve",
            "grantedScopes": ["identity:name"], "signature": phone.sign(data)}

    async def browser():
        async with websockets.connect(ws_url(a, sess), origin=a.base) as ws:
            ready = json.loads(await ws.recv())
            assert ready["type"] == "otp_ready"
            assert ready["autoPassword"] == sess["autoPassword"]
            answer = await asyncio.to_thread(
                phone.answer, sess["sessionId"], push["otp"], "approve",
                ["identity:name"], ts)
            assert answer.status_code == 200, answer.text
            done = json.loads(await ws.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return answer.json(), done, closed.value.code, body

    return asyncio.run(asyncio.wait_for(browser(), 30))


def test_phone_on_b_approves_browser_on_a(make_server, redis, shared_dir,
                                          inbox):
    a, b = start_pair(make_server, redis, shared_dir)
    for s in (a, b):
        code, body = health(s)
        assert code == 200, body
        assert body["checks"]["sessions"]["backend"] == "redis"
        assert body["checks"]["sessions"]["status"] == "ok"
    # Enrolled through A, answered through B: the enrollment is in the
    # shared database.
    phone = enrolled_phone(a, inbox)
    answer, done, code, replay = login_across(a, b, phone, inbox)
    done_sid = replay["sessionId"]
    # With the rate limits in Redis the accept thread answers no upgrade
    # itself (it would wait on Redis): A's 101 came through libmicrohttpd.
    ups = [l for l in a.log_lines() if l.get("event") == "http.request"
           and l.get("status") == 101]
    assert ups and all("early" not in l for l in ups), ups
    assert code == 1000
    assert done["type"] == "approved"
    assert done["jwt"] == answer["jwt"]
    # Signed by B with the shared key ring: A's /jwks verifies it.
    claims = verify_jwt(a, answer["jwt"])
    assert claims["sub"] == pairwise_sub(a.data_dir, "demo", "DEMO",
                                         phone.token_id)
    # The session lives in Redis: replaying the answer on A is refused.
    again = requests.post(a.base + "/auth/verify", json=replay, timeout=10)
    assert again.status_code == 409, again.text
    keys = subprocess.run(["redis-cli", "-p", str(redis.port), "--scan",
                           "--pattern", "sess:*"], capture_output=True,
                          text=True, timeout=5).stdout.split()
    # Ended, the session is its end marker alone.
    assert f"sess:{done_sid}:done" in keys, keys
    assert f"sess:{done_sid}" not in keys, keys
    # The browser answered the close after the approved event, so its end
    # marker in Redis keeps how it ended and what a late socket of the
    # browser needs, not the token.
    deadline = time.time() + 5
    while True:
        # Not a terminal: redis-cli writes the value's bytes and a newline.
        kept = subprocess.run(["redis-cli", "-p", str(redis.port), "GET",
                               f"sess:{done_sid}:done"], capture_output=True,
                              timeout=5).stdout[:-1]
        if kept.endswith(b"-") or time.time() > deadline:
            break
        time.sleep(0.05)
    # "1" (approved), the tag of a session that is no decoy, token id and
    # service each as a length byte and its bytes, the 16 bytes of the
    # WebSocket token's random, the delivered mark.
    head = (b"1F" + bytes([len(phone.token_id)]) + phone.token_id.encode()
            + b"\x04demo")
    assert kept.startswith(head), kept
    rest = kept[len(head):]
    assert len(rest) == 17 and rest.endswith(b"-"), kept
    assert (base64.urlsafe_b64encode(rest[:16]).rstrip(b"=").decode()
            == done["random"]), kept
    assert answer["jwt"].encode() not in kept
    assert any(l.get("event") == "serve.ready" and l.get("sessions") == "redis"
               for l in b.log_lines())


def test_rate_limits_are_shared(make_server, redis, shared_dir):
    a, b = start_pair(make_server, redis, shared_dir,
                      limits="initiate=3/60,enroll=1000/3600,ws=1000/60")
    body = {"tokenId": "DE-0000001", "serviceId": "demo",
            "scopes": ["identity:name"]}
    codes = []
    for s in (a, b, a, b, a):
        r = requests.post(s.base + "/auth/initiate", json=body, timeout=10)
        codes.append(r.status_code)
    assert all(c != 429 for c in codes[:3]), codes
    # The fourth request in the window is refused, on either instance.
    assert codes[3:] == [429, 429], codes
    r = requests.post(b.base + "/auth/initiate", json=body, timeout=10)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_redis_outage_degrades_and_recovers(make_server, redis, shared_dir,
                                            inbox):
    a, b = start_pair(make_server, redis, shared_dir)
    phone = enrolled_phone(a, inbox)

    redis.stop()
    for s in (a, b):
        code, body = health(s)
        assert code == 503, body
        assert body["checks"]["sessions"]["status"] == "down"
        assert body["checks"]["sessions"]["backend"] == "redis"
        assert body["checks"]["database"]["status"] == "ok"
    t0 = time.monotonic()
    r = initiate(a, phone.token_id)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "unavailable"
    assert time.monotonic() - t0 < 5
    r = initiate(b, phone.token_id)
    assert r.status_code == 503, r.text
    assert a.proc.poll() is None and b.proc.poll() is None

    redis.start()
    assert wait_for(lambda: health(a)[0] == 200 and health(b)[0] == 200, 15)
    # A's subscriber is back once it says so; then events flow again.
    assert wait_for(lambda: any(
        "subscribed again" in l.get("msg", "") for l in a.log_lines()), 15), \
        a.read_log()[-3000:]
    answer, done, code, _ = login_across(a, b, phone, inbox)
    assert code == 1000
    assert done["type"] == "approved" and done["jwt"] == answer["jwt"]
    assert any("is unavailable" in l.get("msg", "") for l in a.log_lines())
