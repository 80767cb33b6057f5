"""Faults from outside the process: a full disk, kill -9 under load, a
database that is not up yet, a store outage in the middle of a login.

The disk-full tests mount a small tmpfs as the data directory, which needs
root. Without it they are skipped with the reason; SEALAUTH_ROOT_TESTS_REQUIRED=1
(scripts/test and CI) turns that skip into a failure.
"""
import asyncio
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests
import websockets

from conftest import BIN
from phone import Phone
from test_login import LOGIN_ENV, audit_events, initiate, issue_seal, \
    ws_url, inbox  # noqa: F401 (inbox is a fixture)

FILL_BLOCK = b"\0" * 65536


def root_or_skip(what):
    if os.geteuid() == 0:
        return
    if os.environ.get("SEALAUTH_ROOT_TESTS_REQUIRED") == "1":
        pytest.fail(f"{what} needs root and SEALAUTH_ROOT_TESTS_REQUIRED=1")
    pytest.skip(f"{what} needs root (mount -t tmpfs)")


class SmallDisk:
    """A tmpfs of a few MiB that the test can fill and empty again."""

    def __init__(self, size="6m"):
        root_or_skip("a small tmpfs")
        self.dir = tempfile.mkdtemp(prefix="sealauth-disk-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                            "tmpfs", self.dir], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.dir)
            if os.environ.get("SEALAUTH_ROOT_TESTS_REQUIRED") == "1":
                pytest.fail("cannot mount a tmpfs: " + r.stderr)
            pytest.skip("cannot mount a tmpfs: " + r.stderr.strip())
        self.filler = os.path.join(self.dir, "filler")

    def fill(self):
        """Writes until the file system refuses (ENOSPC), bounded by its
        size."""
        with open(self.filler, "ab", buffering=0) as f:
            for _ in range(100000):
                try:
                    f.write(FILL_BLOCK)
                except OSError:
                    break
            for n in (4096, 512, 1):
                for _ in range(100000):
                    try:
                        f.write(FILL_BLOCK[:n])
                    except OSError:
                        break

    def empty(self):
        if os.path.exists(self.filler):
            os.unlink(self.filler)

    def close(self):
        subprocess.run(["umount", "-l", self.dir], check=False)
        os.rmdir(self.dir)


@pytest.fixture
def small_disk():
    d = SmallDisk()
    yield d
    d.close()


def disk_server(make_server, disk, **kw):
    s = make_server(env=dict(LOGIN_ENV), data_dir=disk.dir, **kw)
    # The log stays off the full disk, so the test can read all of it.
    fd, s.log_path = tempfile.mkstemp(prefix="sealauth-disk-log-")
    os.close(fd)
    return s


def wait_health(server, status, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(server.base + "/health", timeout=5)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_full_disk_answers_503_and_recovers(make_server, small_disk, inbox):
    s = disk_server(make_server, small_disk).start()
    a = Phone(s, inbox)
    assert a.enroll(issue_seal(s, "DE-DISK-A")).status_code == 200
    seal_b = issue_seal(s, "DE-DISK-B")
    small_disk.fill()

    # Writes are refused with 503 and a clear message, and the process
    # lives on (the enrollment cache's mapping no longer raises SIGBUS).
    b = Phone(s, inbox)
    for _ in range(3):
        r = b.enroll(seal_b)
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "unavailable"
        assert "disk is full" in r.json()["message"]
    r = initiate(s, "DE-DISK-A")
    assert r.status_code == 503, r.text
    assert "disk is full" in r.json()["message"]
    h = wait_health(s, 503)
    assert h.status_code == 503
    assert h.json()["status"] == "degraded"
    db = h.json()["checks"]["database"]
    assert db["status"] == "down" and "disk is full" in db["error"]
    assert s.proc.poll() is None

    # Space returns: the server recovers by itself.
    small_disk.empty()
    h = wait_health(s, 200)
    assert h.status_code == 200, h.text
    assert h.json()["checks"]["database"]["status"] == "ok"
    r = b.enroll(seal_b)
    assert r.status_code == 200, r.text
    r = initiate(s, "DE-DISK-A")
    assert r.status_code == 200, r.text
    s.stop()

    # Nothing refused was done: B's enrollment is audited once, as the
    # one that succeeded, and the chain holds.
    events = audit_events(s)
    oks = [e for e in events if e["event"] == "enroll.ok"
           and e["subject"] == "DE-DISK-B"]
    assert len(oks) == 1
    s.cli("audit", "verify")


def final_frame(server, sess):
    """The first frame after otp_ready on the browser's socket."""
    async def watch():
        async with websockets.connect(ws_url(server, sess),
                                      origin=server.base) as ws:
            for _ in range(3):
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if f["type"] != "otp_ready":
                    return f
        return None
    return asyncio.run(watch())


def test_a_login_whose_audit_row_fails_never_reaches_the_phone(
        make_server, small_disk, inbox):
    # The answer to an initiate goes out at once; the push follows only
    # once the login's audit row is durable. The disk fills after the last
    # write, so the first login learns of it only when its row fails.
    s = disk_server(make_server, small_disk).start()
    a = Phone(s, inbox)
    assert a.enroll(issue_seal(s, "DE-DISK-A")).status_code == 200
    small_disk.fill()

    r = initiate(s, "DE-DISK-A")
    assert r.status_code == 200, r.text
    sess = r.json()
    assert final_frame(s, sess) == {"type": "failed", "reason": "unrecorded"}
    with pytest.raises(queue.Empty):
        inbox.next(timeout=2)
    assert wait_log(s, "stopped before its push")
    # The session is over: a signed approval is refused as a replay.
    v = a.answer(sess["sessionId"], sess["autoPassword"],
                 scopes=("identity:name",))
    assert v.status_code == 409, v.text

    # From now on the store is known to fail: an initiate waits for its
    # row and is refused in its own answer.
    r = initiate(s, "DE-DISK-A")
    assert r.status_code == 503, r.text
    assert "disk is full" in r.json()["message"]
    with pytest.raises(queue.Empty):
        inbox.next(timeout=1)

    # Space returns: the next login waits for its row once more, the one
    # after it is answered at once again, and both reach the phone.
    small_disk.empty()
    for _ in range(2):
        r = initiate(s, "DE-DISK-A")
        assert r.status_code == 200, r.text
        assert inbox.next()["sessionId"] == r.json()["sessionId"]
    s.stop()
    s.cli("audit", "verify")
    started = [e for e in audit_events(s) if e["event"] == "auth.initiate"]
    assert len(started) == 2


def wait_log(server, text, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(server.log_path) and text in server.read_log():
            return True
        time.sleep(0.1)
    return False


def start_in_background(server, timeout=60):
    """Starts the server on a thread (start() returns once it answers);
    returns the thread and the list that receives a start error."""
    errors = []

    def run():
        try:
            server.start(timeout=timeout)
        except Exception as e:  # reported by the test
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t, errors


def test_restart_on_a_full_disk_waits_for_space(make_server, small_disk,
                                                inbox):
    s = disk_server(make_server, small_disk).start()
    a = Phone(s, inbox)
    assert a.enroll(issue_seal(s, "DE-DISK-C")).status_code == 200
    seal = issue_seal(s, "DE-DISK-D")
    assert s.stop() == 0
    small_disk.fill()
    # The database cannot open on a full disk: serve waits, logging each
    # attempt, instead of exiting or serving what it cannot audit.
    t, errors = start_in_background(s)
    assert wait_log(s, "the database is not available"), s.read_log()
    assert s.proc is not None and s.proc.poll() is None
    small_disk.empty()
    t.join(60)
    assert not errors, errors
    assert wait_health(s, 200).status_code == 200
    assert Phone(s, inbox).enroll(seal).status_code == 200
    assert s.stop() == 0
    starts = [e for e in audit_events(s) if e["event"] == "server.start"]
    assert len(starts) == 2


def test_kill_9_under_load_loses_no_acknowledged_enrollment(make_server):
    s = make_server(env=dict(LOGIN_ENV)).start()
    seals = [issue_seal(s, f"DE-KILL-{i:03d}") for i in range(40)]
    acked, lock = [], threading.Lock()
    stop = threading.Event()

    def worker(mine):
        for token, seal in mine:
            if stop.is_set():
                return
            try:
                r = Phone(s).enroll(seal)
            except requests.RequestException:
                return
            if r.status_code == 200:
                with lock:
                    acked.append(token)

    pairs = [(f"DE-KILL-{i:03d}", seal) for i, seal in enumerate(seals)]
    threads = [threading.Thread(target=worker, args=(pairs[i::4],))
               for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(20)
    s.log.close()
    s.proc = None
    assert acked, "no enrollment was acknowledged before the kill"
    s.start()
    oks = {e["subject"] for e in audit_events(s) if e["event"] == "enroll.ok"}
    missing = set(acked) - oks
    assert not missing, f"acknowledged but lost: {sorted(missing)}"
    s.cli("audit", "verify")


def test_sigterm_does_not_wait_behind_a_slow_trust_fetch(make_server,
                                                         tmp_path):
    # A trust refresh (forced by SIGHUP) hangs on a list server that stops
    # answering; SIGTERM still stops the server at once, because refreshes
    # run off the thread that waits for signals and are cancelled.
    from test_trust_https import ListServer, make_tls
    trust = str(tmp_path / "trust")
    assert subprocess.run([BIN, "trust", "demo", "--dir", trust],
                          capture_output=True, timeout=60).returncode == 0
    tls = make_tls(tmp_path)
    lists = ListServer(os.path.join(trust, "lists"), tls)
    hang = threading.Event()
    handler = lists.httpd.RequestHandlerClass
    orig = handler.func.do_GET

    hung = []

    def slow_get(self):
        if hang.is_set():
            hung.append(self.path)
            time.sleep(20)  # the connection stays open, unanswered
        return orig(self)

    handler.func.do_GET = slow_get
    try:
        env = {"SEALAUTH_TRUST_GOVERNANCE_URL": lists.url + "/governance.xml",
               "SEALAUTH_TRUST_GOVERNANCE_CERT":
                   os.path.join(trust, "governance.pem"),
               "SEALAUTH_TRUST_CA_FILE": tls["ca.pem"],
               "SEALAUTH_TRUST_FETCH_TIMEOUT": "30000"}
        s = make_server(env=env).start()
        hang.set()
        s.proc.send_signal(signal.SIGHUP)
        assert wait_log(s, "SIGHUP: refreshing"), s.read_log()
        deadline = time.monotonic() + 10
        while not hung and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hung, "the forced refresh fetched nothing"
        # Health still answers while a refresh is stuck.
        assert requests.get(s.base + "/health", timeout=5).status_code == 200
        t0 = time.monotonic()
        assert s.stop(timeout=15) == 0
        assert time.monotonic() - t0 < 3, "SIGTERM waited for the fetch"
    finally:
        handler.func.do_GET = orig
        hang.clear()
        lists.close()
