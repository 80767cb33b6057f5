"""The real server on PostgreSQL (SPEC §9): a private cluster on loopback,
DATABASE_URL=postgres://..., the whole login, group-committed audit rows,
`audit verify --database-url`, /health, a restart of the server keeping its
data and the database going away and coming back.

The cluster is made with the Debian postgresql binaries (scripts/setup
--test installs them); without them every test here is skipped. PostgreSQL
refuses to run as root, so as root the cluster commands run as the postgres
system user through runuser, in a directory that user owns."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import BIN, free_port, pairwise_sub
from test_login import LOGIN_ENV, audit_events, enrolled_phone, initiate, \
    inbox, verify_jwt  # noqa: F401 (inbox is a fixture)


def pg_bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if
                   p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


class Cluster:
    """A private PostgreSQL cluster in a temporary directory."""

    def __init__(self, bindir):
        self.bindir = bindir
        self.as_postgres = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="sealauth-pg-")
        if self.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.running = False
        self.dbs = 0

    def run(self, *argv, timeout=90):
        cmd = [os.path.join(self.bindir, argv[0]), *argv[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, f"{argv[0]} failed:\n{r.stdout}\n{r.stderr}"
        return r

    def init(self):
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self):
        # fsync off: tests only.
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-k {self.dir} -c fsync=off")
        self.run("pg_ctl", "-D", self.data, "-l",
                 os.path.join(self.dir, "server.log"), "-w", "-t", "60",
                 "-o", opts, "start")
        self.running = True
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = subprocess.run([os.path.join(self.bindir, "pg_isready"),
                                "-h", "127.0.0.1", "-p", str(self.port)],
                               capture_output=True, timeout=10)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError("the PostgreSQL server did not accept "
                             "connections")

    def stop(self):
        if self.running:
            self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t",
                     "60", "stop")
            self.running = False

    def psql(self, db, sql):
        r = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q",
                            "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                            "-p", str(self.port), "-U", "postgres", "-d", db,
                            "-c", sql],
                           capture_output=True, text=True, timeout=30)
        return r

    def new_database(self):
        self.dbs += 1
        name = f"e2e{self.dbs}"
        r = self.psql("postgres", f"CREATE DATABASE {name}")
        assert r.returncode == 0, r.stderr
        return name, f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("no /usr/lib/postgresql/*/bin/initdb: install the "
                    "postgresql package (scripts/setup --test)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user to run "
                        "the cluster as")
    c = Cluster(bindir)
    try:
        c.init()
        c.start()
        yield c
    finally:
        c.close()


def pg_server(make_server, url, data_dir=None):
    env = dict(LOGIN_ENV, DATABASE_URL=url)
    return make_server(env=env, data_dir=data_dir).start()


def login(s, phone, inbox):
    """initiate -> push -> signed approval -> a JWT that verifies."""
    r = initiate(s, phone.token_id)
    assert r.status_code == 200, r.text
    sess = r.json()
    push = inbox.next()
    assert push["sessionId"] == sess["sessionId"]
    r = phone.answer(sess["sessionId"], push["otp"], scopes=["identity:name"])
    assert r.status_code == 200, r.text
    claims = verify_jwt(s, r.json()["jwt"])
    assert claims["sub"] == pairwise_sub(s.data_dir, "demo", "DEMO",
                                         phone.token_id)
    assert claims["givenName"] == "Erika"
    return claims


def health(s):
    r = requests.get(s.base + "/health", timeout=10)
    return r.status_code, r.json()["checks"]["database"]


def test_login_on_postgres(cluster, make_server, inbox):
    db, url = cluster.new_database()
    s = pg_server(make_server, url)
    code, dbcheck = health(s)
    assert dbcheck["backend"] == "postgres"
    assert dbcheck["status"] == "ok"
    phone = enrolled_phone(s, inbox)
    login(s, phone, inbox)
    events = [e["event"] for e in audit_events(s)]
    for ev in ("enroll.ok", "auth.initiate", "push.sent", "auth.approved"):
        assert ev in events
    # The rows are in PostgreSQL, and no SQLite file was made on the side.
    assert not os.path.exists(os.path.join(s.data_dir, "sealauth.db"))
    r = cluster.psql(db, "SELECT count(*) FROM audit WHERE event = "
                         "'auth.approved'")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    r = cluster.psql(db, "SELECT count(*) FROM enrollments WHERE "
                         f"token_id = '{phone.token_id}' AND revoked_at = 0")
    assert r.stdout.strip() == "1"
    # History cannot be rewritten, not even by the database superuser.
    r = cluster.psql(db, "UPDATE audit SET event = 'x' WHERE seq = 1")
    assert r.returncode != 0 and "append-only" in r.stderr
    assert s.stop() == 0
    out = subprocess.run([BIN, "audit", "verify", "--database-url", url],
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in s.env.items()
                              if k != "DATABASE_URL"})
    assert out.returncode == 0, out.stderr
    assert "audit chain intact" in out.stdout


def test_concurrent_audit_rows_form_one_chain(cluster, make_server):
    db, url = cluster.new_database()
    s = pg_server(make_server, url)
    acked = []
    lock = threading.Lock()

    def writer(n):
        with requests.Session() as sess:
            for i in range(40):
                r = sess.post(s.base + f"/test/audit/test.pg{n}.{i}",
                              timeout=10)
                assert r.status_code == 200, r.text
                with lock:
                    acked.append(f"test.pg{n}.{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(acked) == 320
    r = cluster.psql(db, "SELECT count(*) FROM audit WHERE event LIKE "
                         "'test.pg%'")
    assert r.stdout.strip() == "320"
    assert "audit chain intact" in s.cli("audit", "verify", "--database-url",
                                         url).stdout


def test_restart_keeps_enrollments(cluster, make_server, inbox, tmp_path):
    _, url = cluster.new_database()
    data_dir = str(tmp_path)
    s = pg_server(make_server, url, data_dir=data_dir)
    phone = enrolled_phone(s, inbox)
    assert s.stop() == 0
    # A new process on the same database and keys: the phone can log in
    # without enrolling again.
    s2 = pg_server(make_server, url, data_dir=data_dir)
    phone.server = s2
    login(s2, phone, inbox)
    out = s2.cli("audit", "verify", "--database-url", url).stdout
    assert "audit chain intact" in out


def test_database_down_then_back(cluster, make_server):
    # Last in this file: it stops the shared cluster for a moment.
    _, url = cluster.new_database()
    s = pg_server(make_server, url)
    assert health(s)[0] == 200
    cluster.stop()
    try:
        code, dbcheck = health(s)
        assert code == 503
        assert dbcheck["status"] == "down"
        assert dbcheck["backend"] == "postgres"
        r = requests.post(s.base + "/test/audit/test.down", timeout=10)
        assert r.status_code == 503, r.text
        assert s.proc.poll() is None  # the server keeps running
    finally:
        cluster.start()
    deadline = time.monotonic() + 20
    while health(s)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    code, dbcheck = health(s)
    assert code == 200 and dbcheck["status"] == "ok"
    r = requests.post(s.base + "/test/audit/test.back", timeout=10)
    assert r.status_code == 200, r.text
    out = s.cli("audit", "verify", "--database-url", url).stdout
    assert "audit chain intact" in out


def test_verify_answers_503_when_the_database_is_down(cluster, make_server,
                                                      inbox):
    # Stops the shared cluster for a moment, like the test above. A store
    # outage between initiate and verify was answered 403 token_revoked,
    # which a phone takes as final; it is 503 unavailable.
    from phone import Phone
    from test_login import issue_seal
    _, url = cluster.new_database()
    s = pg_server(make_server, url)
    phone = Phone(s, inbox)
    assert phone.enroll(issue_seal(s, "DE-PG-OUT")).status_code == 200
    r = initiate(s, phone.token_id)
    assert r.status_code == 200, r.text
    sess = r.json()
    push = inbox.next()
    cluster.stop()
    try:
        r = phone.answer(sess["sessionId"], push["otp"],
                         scopes=["identity:name"])
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "unavailable"
    finally:
        cluster.start()


def test_serve_waits_for_a_database_that_is_not_up_yet(cluster, make_server):
    from test_faults import start_in_background, wait_log
    # A container started beside its database: serve retries with a
    # bounded, logged backoff and comes up by itself once PostgreSQL does.
    _, url = cluster.new_database()
    s = make_server(env=dict(LOGIN_ENV, DATABASE_URL=url))
    cluster.stop()
    try:
        t, errors = start_in_background(s)
        assert wait_log(s, "the database is not available")
        assert s.proc is not None and s.proc.poll() is None
    finally:
        cluster.start()
    t.join(60)
    assert not errors, errors
    assert health(s)[0] == 200
    assert "the database is available after" in s.read_log()


def test_serve_gives_up_on_the_database_after_the_wait(make_server):
    port = free_port()  # nothing listens there
    s = make_server(env=dict(LOGIN_ENV, SEALAUTH_DATABASE_WAIT="2",
                             DATABASE_URL=f"postgres://postgres@127.0.0.1:"
                                          f"{port}/none"))
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="gave up waiting"):
        s.start(timeout=30)
    assert time.monotonic() - t0 < 15
    assert s.exit_status != 0
