#!/usr/bin/python3
"""The scale-out benchmark: two sealauth instances behind no balancer, on
one PostgreSQL (durable store, fsync on) and one Redis (sessions, rate
limits, publish/subscribe), all on this machine and on loopback.

bench_loadgen --port A --port2 B drives whole logins: browsers alternate
between the instances, and half the phones answer on the other instance
than their browser's WebSocket, so the approval crosses through Redis.

    bench/scaleout.py --bindir build --concurrency 64 --warmup 2 \\
                      --duration 10 --json out.json

The report gives logins/s and the step latencies (the generator's JSON),
the CPU of each instance, of PostgreSQL (the postmaster and every backend)
and of Redis over the run, each per completed login, and from those how
many logins/s the shared services would carry on one core each: where a
third instance would stop adding logins.
"""
import argparse
import functools
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# Every rate limit lifted: the benchmark measures capacity.
NO_LIMITS = ",".join(f"{c}=0/60" for c in (
    "enroll", "initiate", "verify", "ws", "default", "push", "pending",
    "pending_owner"))

log = functools.partial(print, "[scaleout]", flush=True)


def free_port():
    """A TCP port on loopback that nothing listens on now."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def wait_answer(port, ask, answer, proc, what, tries=600):
    """Sends ask to 127.0.0.1:port until the reply starts with answer;
    raises if proc exits first or after tries attempts 50 ms apart."""
    for _ in range(tries):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=1) as sock:
                sock.sendall(ask)
                if sock.recv(64).startswith(answer):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready")


def ticks(pid):
    """utime + stime of one process in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        return int(st[11]) + int(st[12])
    except OSError:
        return 0


def tree_ticks(root):
    """CPU ticks of root and its children, and of the children they
    reaped (cutime, cstime): PostgreSQL's backends come and go."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d) == root or int(st[1]) == root:
            total += int(st[11]) + int(st[12]) + int(st[13]) + int(st[14])
    return total


def end(proc):
    """Ends a child: SIGTERM, and SIGKILL if it is still there 20 s later."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass


def pg_bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4])
                   if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


class Postgres:
    """A private cluster in a temporary directory, durable as in
    production (fsync and synchronous_commit on)."""

    def __init__(self, bindir, work):
        self.bindir, self.dir = bindir, os.path.join(work, "pg")
        os.makedirs(self.dir)
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False

    def run(self, *argv):
        cmd = [os.path.join(self.bindir, argv[0]), *argv[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"{argv[0]}: {r.stderr.strip()}")

    def start(self):
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C")
        self.run("pg_ctl", "-D", self.data, "-l",
                 os.path.join(self.dir, "server.log"), "-w", "-t", "60",
                 "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} "
                 f"-k {self.dir} -c max_connections=200", "start")
        self.running = True

    def pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self):
        if self.running:
            self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t",
                     "60", "stop")
            self.running = False


class Redis:
    def __init__(self, work):
        self.dir = os.path.join(work, "redis")
        os.makedirs(self.dir)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        logf = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        wait_answer(self.port, b"PING\r\n", b"+PONG", self.proc,
                    "redis-server", tries=200)

    def stop(self):
        end(self.proc)


class Instance:
    """sealauth serve on the shared stores and data directory (keys, OTP
    secret and demo trust are shared, as behind a load balancer)."""

    def __init__(self, binary, data, port, env):
        self.binary, self.data, self.port = binary, data, port
        self.env = dict(os.environ, SEALAUTH_LISTEN=f"127.0.0.1:{port}",
                        SEALAUTH_PUSH_MODE="none", SEALAUTH_LOG_LEVEL="warn",
                        SEALAUTH_RATE_LIMITS=NO_LIMITS,
                        SEALAUTH_PER_IP_CONNECTION_LIMIT="0", **env)
        self.proc = None

    def start(self):
        logf = open(f"{self.data}-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data], env=self.env,
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
            start_new_session=True)
        logf.close()
        wait_answer(self.port, b"GET /health HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n", b"HTTP/1.1 200",
                    self.proc, f"sealauth (log {self.data}-{self.port}.log)")

    def stop(self):
        end(self.proc)


def measure(a, bindir, inst, pg, redis, trust):
    """One loadgen run across both instances with the CPU of everything
    that serves it."""
    out = os.path.join(os.path.dirname(trust), "..", "scaleout-load.json")
    cmd = [os.path.join(bindir, "bench_loadgen"), "--port",
           str(inst[0].port), "--port2", str(inst[1].port), "--trust-dir",
           trust, "--concurrency", str(a.concurrency), "--warmup",
           str(a.warmup), "--duration", str(a.duration), "--bound-seconds",
           "0", "--json", out]
    log(" ".join(cmd))
    pg_pid = pg.pid()
    t0 = time.monotonic()
    c0 = [ticks(i.proc.pid) for i in inst]
    p0, r0 = tree_ticks(pg_pid), ticks(redis.proc.pid)
    rc = subprocess.run(cmd, timeout=a.warmup + a.duration + 300).returncode
    c1 = [ticks(i.proc.pid) for i in inst]
    p1, r1 = tree_ticks(pg_pid), ticks(redis.proc.pid)
    secs = time.monotonic() - t0
    with open(out) as f:
        res = json.load(f)
    hz = os.sysconf("SC_CLK_TCK")
    done = res.get("completed", 0)

    def per(t):
        return round(t / hz * 1e6 / done, 1) if done else None

    res["instances"] = [{"port": i.port,
                         "cores": round((e - s) / hz / secs, 3),
                         "cpuUsPerLogin": per(e - s)}
                        for i, s, e in zip(inst, c0, c1)]
    res["serverCpuUsPerFlow"] = per(sum(c1) - sum(c0))
    res["postgres"] = {"cores": round((p1 - p0) / hz / secs, 3),
                       "cpuUsPerLogin": per(p1 - p0)}
    res["redis"] = {"cores": round((r1 - r0) / hz / secs, 3),
                    "cpuUsPerLogin": per(r1 - r0)}
    # What one core of each shared service carries at this CPU per login:
    # past it, a third instance adds no logins.
    for k in ("postgres", "redis"):
        us = res[k]["cpuUsPerLogin"]
        res[k]["loginsPerCore"] = round(1e6 / us) if us else None
    return rc, res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bindir", required=True,
                    help="the build with sealauth and bench_loadgen")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    bindir = os.path.abspath(a.bindir)
    pgbin = pg_bindir()
    missing = [w for w, ok in (("PostgreSQL (initdb)", pgbin),
                               ("redis-server", shutil.which("redis-server")))
               if not ok]
    if missing:
        log(f"cannot run: {', '.join(missing)} not installed "
            "(scripts/setup --test installs them)")
        return 77
    work = tempfile.mkdtemp(prefix="bench-scaleout-", dir="/tmp")
    os.chmod(work, 0o755)  # the postgres user walks into it
    pg, redis, inst, rc, res = Postgres(pgbin, work), Redis(work), [], 1, None
    try:
        pg.start()
        redis.start()
        data = os.path.join(work, "data")
        port_a = free_port()
        env = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url,
               "SEALAUTH_PUBLIC_URL": f"http://127.0.0.1:{port_a}"}
        for port in (port_a, free_port()):
            inst.append(Instance(os.path.join(bindir, "sealauth"), data,
                                 port, env))
            inst[-1].start()  # the first creates keys and demo trust
        rc, res = measure(a, bindir, inst, pg, redis,
                          os.path.join(data, "trust"))
        log(f"{res['perSecond']:.0f} logins/s, flow p99 "
            f"{res['steps']['flow']['p99']:.1f} ms, {res['errors']} errors; "
            f"per login: instances {res['serverCpuUsPerFlow']} µs, "
            f"PostgreSQL {res['postgres']['cpuUsPerLogin']} µs, "
            f"Redis {res['redis']['cpuUsPerLogin']} µs")
        if res.get("errors"):
            rc = 1
    finally:
        for i in inst:
            i.stop()
        redis.stop()
        try:
            pg.stop()
        except RuntimeError as e:
            log(f"stopping PostgreSQL: {e}")
        if rc == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"logs kept in {work}")
    if a.json and res is not None:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
