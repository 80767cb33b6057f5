"""Fixtures that start the real sealauth binary on a free loopback port."""
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import tempfile
import time

import pytest
import requests

BIN = os.environ.get("SEALAUTH_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "sealauth")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running sealauth serve process with its own data directory."""

    def __init__(self, env=None, data_dir=None, args=()):
        self.tmp = None
        if data_dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="sealauth-e2e-")
            data_dir = self.tmp.name
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update({
            "SEALAUTH_LISTEN": f"127.0.0.1:{self.port}",
            "SEALAUTH_DATA_DIR": data_dir,
            "SEALAUTH_TEST_ROUTES": "1",
            "SEALAUTH_LOG_LEVEL": "info",
        })
        if env:
            self.env.update(env)
        self.args = list(args)
        self.log_path = os.path.join(data_dir, "server.log")
        self.proc = None

    def start(self, timeout=20):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", *self.args], env=self.env,
                                     stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.exit_status = self.proc.returncode
                self.proc = None
                self.log.close()
                raise RuntimeError("server exited early:\n" + self.read_log())
            try:
                requests.get(self.base + "/health", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("server did not start:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        out = []
        for line in self.read_log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stop(self, sig=15, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def cli(self, *args, check=True):
        """Runs a sealauth subcommand against this server's data directory."""
        r = subprocess.run([BIN, *args], env=self.env, capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"sealauth {' '.join(args)} failed "
                                 f"({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def close(self):
        """Stops the server and fails the test if it did not exit cleanly
        (a crash, or a leak or UB report under the sanitizer build)."""
        try:
            rc = self.stop()
            if rc not in (None, 0):
                raise AssertionError(f"server exited with status {rc}:\n"
                                     + self.read_log()[-4000:])
        finally:
            if self.tmp is not None:
                self.tmp.cleanup()


def stop_under_load(server, client, threads=4, settle=0.7):
    """Runs client(stop_event) on several threads, stops the server with
    SIGTERM while they work, and returns its exit status once they end."""
    import threading
    stop = threading.Event()
    workers = [threading.Thread(target=client, args=(stop,))
               for _ in range(threads)]
    for t in workers:
        t.start()
    time.sleep(settle)
    rc = server.stop()
    stop.set()
    for t in workers:
        t.join(10)
    return rc


@pytest.fixture
def make_server():
    made = []

    def make(**kw):
        s = Server(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def server(make_server):
    return make_server(env={"SEALAUTH_RATE_LIMITS": "test=1000/60,ws=1000/60"}).start()


def pairwise_sub(data_dir, sector, authority, token_id):
    """The subject a service with sector sees for a token id of an issuing
    authority: base64url(HMAC-SHA256(master secret, "sealauth-sub-v1" 0x00
    sector 0x00 authority 0x00 tokenId)), the master secret being the one
    the embedded default generated in the data directory."""
    with open(os.path.join(data_dir, "otp-secret"), "rb") as f:
        secret = f.read()
    msg = b"\0".join(p.encode() for p in
                     ("sealauth-sub-v1", sector, authority, token_id))
    mac = hmac.new(secret, msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")
