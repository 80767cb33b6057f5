#!/usr/bin/python3
"""Benchmarks of the federation and administration flows, each end to end
against the real server on loopback:

    oidc   the OpenID Connect code flow of a confidential client: authorize
           -> login page -> phone approval -> /login/continue -> token
           (client_secret_basic, PKCE S256) -> userinfo
    saml   the SAML SSO round trip of an SP: AuthnRequest by HTTP-Redirect
           -> login page -> phone approval -> the signed SAMLResponse form
    admin  an admin passkey sign-in: passkey-login start/finish (a software
           authenticator signs) -> GET /v1/admin/me -> sign-out

Every flow starts from a fresh browser (no cookies), so the provider
session never spares the phone approval. The phone is the test suite's
phone (tests/e2e/phone.py): its push arrives at a UnifiedPush endpoint on
loopback and it signs the answer with its own P-256 key.

    bench/flows.py --bin build/sealauth --flow oidc --workers 8 \\
                   --warmup 2 --duration 10 --json out.json

The server is started here (a temporary data directory, the demo trust
environment, rate limits lifted, SEALAUTH_LOG_LEVEL=warn). The report gives
flows/s in the measured window, p50/p99/max of the whole flow, errors, and
the server's CPU per completed flow from /proc/PID/stat (the generator's
CPU not counted). The generator is Python, so with few cores it, not the
server, limits flows/s; the server's CPU per flow is the figure that
compares across runs.
"""
import argparse
import base64
import datetime
import hashlib
import http.server
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import requests  # noqa: E402

from authenticator import Authenticator  # noqa: E402
from phone import Phone  # noqa: E402

SECRET = "bench-client-secret-0123456789"
SCOPES = ["identity:name", "identity:age_over_18"]
LIMITS = ("enroll=0/60,initiate=0/60,verify=0/60,ws=0/60,default=0/60,"
          "push=0/60,pending=0/60,pending_owner=0/60,admin=0/60,install=0/60,"
          "authorize=0/60,token=0/60,verify_unsigned=0/60")


def log(msg):
    print(f"[flows] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PushRouter:
    """A UnifiedPush endpoint on loopback that hands each push to the
    worker waiting for that session."""

    def __init__(self):
        self.lock = threading.Lock()
        self.waiting = {}
        self.early = {}
        router = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                try:
                    msg = json.loads(self.rfile.read(n))
                except ValueError:
                    msg = {}
                router.deliver(msg)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/push"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def deliver(self, msg):
        sid = msg.get("sessionId")
        with self.lock:
            q = self.waiting.get(sid)
            if q is None:
                self.early[sid] = msg
                return
        q.put(msg)

    def otp(self, sid, timeout=10):
        q = queue.Queue()
        with self.lock:
            if sid in self.early:
                return self.early.pop(sid)["otp"]
            self.waiting[sid] = q
        try:
            return q.get(timeout=timeout)["otp"]
        finally:
            with self.lock:
                self.waiting.pop(sid, None)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Server:
    """sealauth serve on loopback with a services file and a public URL."""

    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = os.path.join(work, "data")
        self.env = dict(os.environ)
        self.env.update({
            "SEALAUTH_LISTEN": f"127.0.0.1:{self.port}",
            "SEALAUTH_PUBLIC_URL": self.base,
            "SEALAUTH_LOG_LEVEL": "warn",
            "SEALAUTH_RATE_LIMITS": LIMITS,
            "SEALAUTH_PUSH_ALLOW_PRIVATE": "1"})
        self.proc = None

    def cli(self, *args, stdin=None):
        r = subprocess.run([self.binary] + list(args), input=stdin,
                           capture_output=True, text=True, timeout=60,
                           env=self.env)
        if r.returncode != 0:
            raise RuntimeError(f"sealauth {' '.join(args)}: {r.stderr}")
        return r.stdout

    def start(self, timeout=30):
        logf = open(os.path.join(self.work, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data_dir], env=self.env,
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
            start_new_session=True)
        logf.close()
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}")
            try:
                if requests.get(self.base + "/health",
                                timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("server not ready")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def pkce():
    verifier = base64.urlsafe_b64encode(os.urandom(40)).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def expect(r, status, what):
    if r.status_code != status:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:200]}")
    return r


class Env:
    """What every worker shares: the server, the push router, the SP's
    settings and the admin's authenticator."""

    def __init__(self, server, router):
        self.s, self.router = server, router
        self.acs = "http://127.0.0.1:9/bench/acs"
        self.sp_entity = "http://127.0.0.1:9/bench/metadata"
        self.auth = None
        self.phones = {}

    def phone(self, n):
        """An enrolled phone of its own for worker n, the same one for
        every flow (a second enrollment would be a takeover)."""
        if n in self.phones:
            return self.phones[n]
        p = Phone(self.s, None)
        seal = self.s.cli("trust", "issue", "--dir",
                          os.path.join(self.s.data_dir, "trust"),
                          "--token-id", f"DE-{7000000 + n}", "--given-name",
                          "Erika", "--family-name", "Mustermann", "--dob",
                          "1990-04-01", "--nationality", "DEU", "--document",
                          "C01X00T47").strip()
        r = p.enroll(seal, pushEndpoint=self.router.url)
        expect(r, 200, "enroll")
        p.worker = n
        self.phones[n] = p
        return p

    def approve(self, browser, phone, location):
        """The login page's part: pending request, initiate, the phone's
        approval, /login/continue. Returns its response."""
        login = urllib.parse.parse_qs(
            urllib.parse.urlsplit(location).query)["login"][0]
        pend = expect(browser.get(self.s.base + "/login/pending/" + login,
                                  timeout=10), 200, "pending").json()
        r = expect(browser.post(self.s.base + "/auth/initiate", timeout=10,
                                headers={"Origin": self.s.base},
                                json={"tokenId": phone.token_id,
                                      "serviceId": pend["serviceId"],
                                      "scopes": pend["scopes"],
                                      "login": login}), 200, "initiate")
        sid = r.json()["sessionId"]
        otp = self.router.otp(sid)
        expect(phone.answer(sid, otp, "approve", pend["scopes"]), 200,
               "verify")
        return browser.get(self.s.base + "/login/continue", timeout=10,
                           params={"login": login, "session": sid},
                           allow_redirects=False)


def flow_oidc(env, browser, phone):
    verifier, challenge = pkce()
    q = {"response_type": "code", "client_id": "benchrp",
         "redirect_uri": "https://rp.example/cb",
         "scope": "openid profile", "state": uuid.uuid4().hex,
         "nonce": uuid.uuid4().hex, "code_challenge": challenge,
         "code_challenge_method": "S256"}
    r = expect(browser.get(env.s.base + "/oidc/authorize", params=q,
                           allow_redirects=False, timeout=10), 302,
               "authorize")
    r = expect(env.approve(browser, phone, r.headers["Location"]), 302,
               "continue")
    back = dict(urllib.parse.parse_qsl(
        urllib.parse.urlsplit(r.headers["Location"]).query))
    if back.get("state") != q["state"] or "code" not in back:
        raise RuntimeError(f"authorization response: {back}")
    r = expect(browser.post(env.s.base + "/oidc/token", timeout=10,
                            auth=("benchrp", SECRET),
                            data={"grant_type": "authorization_code",
                                  "code": back["code"],
                                  "redirect_uri": q["redirect_uri"],
                                  "code_verifier": verifier}), 200, "token")
    tok = r.json()
    if "id_token" not in tok:
        raise RuntimeError("token answer without id_token")
    r = expect(browser.get(env.s.base + "/oidc/userinfo", timeout=10,
                           headers={"Authorization": "Bearer " +
                                    tok["access_token"]}), 200, "userinfo")
    if "sub" not in r.json():
        raise RuntimeError("userinfo without sub")


def authn_request(env):
    now = datetime.datetime.now(datetime.timezone.utc)
    xml = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
        ' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
        f' ID="_{uuid.uuid4().hex}" Version="2.0"'
        f' IssueInstant="{now.strftime("%Y-%m-%dT%H:%M:%SZ")}"'
        f' AssertionConsumerServiceURL="{env.acs}"'
        ' ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
        f'<saml:Issuer>{env.sp_entity}</saml:Issuer></samlp:AuthnRequest>')
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(xml.encode()) + c.flush()
    return base64.b64encode(raw).decode()


def flow_saml(env, browser, phone):
    r = expect(browser.get(env.s.base + "/saml/sso", timeout=10,
                           params={"SAMLRequest": authn_request(env),
                                   "RelayState": "bench"},
                           allow_redirects=False), 303, "sso")
    r = expect(env.approve(browser, phone, r.headers["Location"]), 200,
               "continue")
    if 'name="SAMLResponse"' not in r.text or env.acs not in r.text:
        raise RuntimeError("no SAMLResponse form for the ACS")


def flow_admin(env, browser, phone):
    r = expect(browser.post(env.s.base + "/v1/auth/passkey-login/start",
                            json={}, timeout=10), 200, "passkey-login start")
    st = r.json()
    # Each worker signs with a passkey of its own: one authenticator used
    # by two sign-ins at once is refused as a clone (its counter would go
    # backwards), as it should be.
    cred = env.auth.get(st["options"], cred=env.creds[phone.worker])
    r = expect(browser.post(env.s.base + "/v1/auth/passkey-login/finish",
                            json={"loginId": st["loginId"],
                                  "credential": cred}, timeout=10), 200,
               "passkey-login finish")
    h = {"Authorization": "Bearer " + r.json()["token"]}
    expect(browser.get(env.s.base + "/v1/admin/me", headers=h, timeout=10),
           200, "me")
    r = browser.post(env.s.base + "/v1/auth/logout", json={}, headers=h,
                     timeout=10)
    if r.status_code not in (200, 204):
        raise RuntimeError(f"logout: {r.status_code} {r.text[:200]}")


FLOWS = {"oidc": flow_oidc, "saml": flow_saml, "admin": flow_admin}


def services(secret_hash):
    return {"services": [
        {"serviceId": "demo", "name": "Demo", "scopes": SCOPES},
        {"serviceId": "benchrp", "name": "Bench RP", "scopes": SCOPES,
         "oidc": {"clientType": "confidential", "secretHash": secret_hash,
                  "redirectUris": ["https://rp.example/cb"]}},
        {"serviceId": "benchsp", "name": "Bench SP", "scopes": SCOPES,
         "saml": {"entityId": "http://127.0.0.1:9/bench/metadata",
                  "acs": [{"url": "http://127.0.0.1:9/bench/acs",
                           "index": 0, "default": True}],
                  "wantSignedRequests": False}}]}


def claim_admin(env, workers):
    """The install claim: the first admin's passkey, from the token the
    server wrote on its first start; then one more passkey per worker, each
    registered with the step-up ceremony of the first."""
    with open(os.path.join(env.s.data_dir, "install-token")) as f:
        token = f.read().strip()
    env.auth = Authenticator(env.s.base)
    env.auth_lock = threading.Lock()
    r = expect(requests.post(env.s.base + "/v1/install/claim/start",
                             json={"installToken": token, "name": "bench"},
                             timeout=10), 200, "claim start")
    st = r.json()
    first, resp = env.auth.create(st["registerOptions"])
    expect(requests.post(env.s.base + "/v1/install/claim/finish",
                         json={"claimId": st["claimId"],
                               "registerResponse": resp, "label": "bench"},
                         timeout=10), 201, "claim finish")
    r = expect(requests.post(env.s.base + "/v1/auth/passkey-login/start",
                             json={}, timeout=10), 200, "login start")
    st = r.json()
    r = expect(requests.post(env.s.base + "/v1/auth/passkey-login/finish",
                             json={"loginId": st["loginId"],
                                   "credential": env.auth.get(st["options"],
                                                              cred=first)},
                             timeout=10), 200, "login finish")
    h = {"Authorization": "Bearer " + r.json()["token"]}
    env.creds = []
    for i in range(workers):
        r = expect(requests.post(
            env.s.base + "/v1/admin/passkeys/register/start", json={},
            headers=h, timeout=10), 200, "register start")
        st = r.json()
        cred, resp = env.auth.create(st["registerOptions"])
        uv = env.auth.get(st["uvOptions"], cred=first)
        expect(requests.post(
            env.s.base + "/v1/admin/passkeys/register/finish", headers=h,
            json={"registrationId": st["registrationId"],
                  "registerResponse": resp, "uvResponse": uv,
                  "label": f"worker {i}"}, timeout=10), 200,
            "register finish")
        env.creds.append(cred)


class SyscallCounter:
    """Counts the server's system calls with perf stat from now until
    stop(): all of them, and the fdatasync and fsync calls that make
    commits durable (each costs a disk flush)."""

    EVENTS = {"syscalls": "raw_syscalls:sys_enter",
              "fdatasync": "syscalls:sys_enter_fdatasync",
              "fsync": "syscalls:sys_enter_fsync"}

    def __init__(self, pid):
        self.out = tempfile.NamedTemporaryFile(mode="r", suffix=".csv")
        self.proc = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-o", self.out.name, "-e",
             ",".join(self.EVENTS.values()), "-p", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)  # perf attaches to every thread

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        names = {v: k for k, v in self.EVENTS.items()}
        got = {}
        for line in self.out.read().splitlines():
            f = line.split(",")
            if len(f) > 2 and f[2] in names and f[0].isdigit():
                got[names[f[2]]] = int(f[0])
        self.out.close()
        return got if len(got) == len(self.EVENTS) else None


def pct(sorted_ms, p):
    if not sorted_ms:
        return None
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))]


def run_flow(env, name, workers, warmup, duration, syscalls=False):
    fn = FLOWS[name]
    phones = [env.phone(i) for i in range(workers)]
    lat, errors, samples = [], [0], []
    lock = threading.Lock()
    t_start = time.monotonic()
    t_measure = t_start + warmup
    t_end = t_measure + duration
    counts = {"started": 0, "completed": 0}
    cpu = {}

    def worker(i):
        browser = requests.Session()
        while True:
            t0 = time.monotonic()
            if t0 >= t_end:
                return
            browser.cookies.clear()
            try:
                fn(env, browser, phones[i])
                ok = True
            except (RuntimeError, requests.RequestException, KeyError,
                    queue.Empty, ValueError) as e:
                ok = False
                with lock:
                    errors[0] += 1
                    if len(samples) < 5:
                        samples.append(str(e)[:200])
            t1 = time.monotonic()
            with lock:
                counts["completed"] += ok
                if ok and t0 >= t_measure and t1 <= t_end:
                    lat.append((t1 - t0) * 1000.0)

    def meter():
        time.sleep(max(0.0, t_measure - time.monotonic()))
        stat = SyscallCounter(env.s.proc.pid) if syscalls else None
        with lock:
            cpu["n0"] = counts["completed"]
        cpu["t0"], cpu["c0"] = time.monotonic(), env.s.cpu_seconds()
        time.sleep(max(0.0, t_end - time.monotonic()))
        cpu["t1"], cpu["c1"] = time.monotonic(), env.s.cpu_seconds()
        with lock:
            cpu["n1"] = counts["completed"]
        if stat is not None:
            cpu["syscalls"] = stat.stop()

    threads = [threading.Thread(target=worker, args=(i,)) for i in
               range(workers)]
    m = threading.Thread(target=meter)
    m.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=warmup + duration + 60)
    m.join(timeout=5)
    lat.sort()
    done = len(lat)
    cpu_s = cpu.get("c1", 0) - cpu.get("c0", 0)
    res = {"name": name, "workers": workers, "warmupSeconds": warmup,
            "durationSeconds": duration, "completedInWindow": done,
            "perSecond": round(done / duration, 1) if duration else 0,
            "errors": errors[0], "errorSamples": samples,
            "p50": pct(lat, 0.50), "p99": pct(lat, 0.99),
            "max": lat[-1] if lat else None,
            "serverCpuSeconds": round(cpu_s, 3),
            "serverCoresUsed": round(cpu_s / duration, 3) if duration else 0,
            # Flows that straddle the window's edges are not counted in
            # done, so the CPU per flow errs a little high, never low.
            "serverCpuUsPerFlow": round(cpu_s * 1e6 / done, 1) if done
            else None}
    ended = cpu.get("n1", 0) - cpu.get("n0", 0)
    if cpu.get("syscalls") is not None and ended > 0:
        # Per flow that ended inside the counting window: with one worker
        # the flows run one after another, so the figures are exact up to
        # the one flow cut by each edge of the window.
        res["syscallsPerFlow"] = {k: round(v / ended, 2) for k, v in
                                  cpu["syscalls"].items()}
        res["flowsCounted"] = ended
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the sealauth binary")
    ap.add_argument("--flow", action="append", choices=sorted(FLOWS),
                    help="a flow to run (repeatable; default: all)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--syscalls", action="store_true",
                    help="count the server's system calls and fdatasyncs "
                    "per flow with perf stat (exact with --workers 1)")
    a = ap.parse_args()
    if a.workers < 1 or a.workers > 256:
        ap.error("--workers must be 1..256")
    if a.duration <= 0 or a.warmup < 0:
        ap.error("--duration must be > 0 and --warmup >= 0")
    flows = a.flow or ["oidc", "saml", "admin"]
    work = tempfile.mkdtemp(prefix="bench-flows-")
    s = Server(os.path.abspath(a.bin), work)
    router = PushRouter()
    results, rc = [], 0
    try:
        s.start()  # first start: keys, database, demo trust, install token
        s.stop()
        secret_hash = s.cli("oidc", "hash-secret", stdin=SECRET + "\n").strip()
        path = os.path.join(work, "services.json")
        with open(path, "w") as f:
            json.dump(services(secret_hash), f)
        s.env["SEALAUTH_SERVICES_FILE"] = path
        s.start()
        env = Env(s, router)
        if "admin" in flows:
            claim_admin(env, a.workers)
        for i in range(a.workers):
            env.phone(i)
        for name in flows:
            log(f"{name}: {a.workers} workers, {a.warmup} s + {a.duration} s")
            res = run_flow(env, name, a.workers, a.warmup, a.duration,
                           a.syscalls)
            log(f"{name}: {res['perSecond']}/s, p50 {res['p50']} ms, "
                f"p99 {res['p99']} ms, {res['serverCpuUsPerFlow']} µs server "
                f"CPU per flow, {res['errors']} errors {res['errorSamples']}")
            if "syscallsPerFlow" in res:
                log(f"{name}: per flow {res['syscallsPerFlow']} "
                    f"({res['flowsCounted']} flows counted)")
            if res["errors"] or not res["completedInWindow"]:
                rc = 1
            results.append(res)
    finally:
        s.stop()
        router.close()
        if s.proc is not None and s.proc.returncode not in (0, None):
            log(f"server exited {s.proc.returncode}; see its log in {work}")
            rc = 1
        else:
            shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
