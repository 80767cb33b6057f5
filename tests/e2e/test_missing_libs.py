"""A library the binary opens only when a feature first needs it (libpq for
the PostgreSQL store, libcurl for https) may be missing where sealauth is
deployed, for example from a container image built without it. Then the
feature that needs it says which library and which package, rather than
"out of memory", and everything else still works. The tests stand in a
library without a single symbol for the real one (LD_LIBRARY_PATH comes
before the system's directories when a library is opened by name)."""
import subprocess

import requests

from conftest import BIN, free_port


def fake_library(tmp_path, soname):
    """A directory holding an empty shared library named soname."""
    d = tmp_path / "lib"
    d.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(d / soname),
                    "-x", "c", "/dev/null"], check=True, timeout=60)
    return str(d)


def test_postgres_store_without_libpq_says_so_and_stops(tmp_path):
    env = {"LD_LIBRARY_PATH": fake_library(tmp_path, "libpq.so.5"),
           "DATABASE_URL": "postgres://sealauth@127.0.0.1:1/sealauth",
           "SEALAUTH_DATA_DIR": str(tmp_path / "data"),
           "SEALAUTH_LISTEN": f"127.0.0.1:{free_port()}",
           "PATH": "/usr/bin:/bin"}
    # Waiting would not bring the library: the server stops at once, not
    # after SEALAUTH_DATABASE_WAIT.
    r = subprocess.run([BIN, "serve"], env=env, capture_output=True,
                       text=True, timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert ("the PostgreSQL store needs libpq (libpq.so.5), which could not "
            "be loaded: install the libpq5 package") in out, out
    assert "out of memory" not in out, out
    assert "retrying" not in out, out


def test_trust_over_https_without_libcurl_names_the_library(make_server,
                                                            tmp_path):
    trust = str(tmp_path / "trust")
    assert subprocess.run([BIN, "trust", "demo", "--dir", trust],
                          capture_output=True, timeout=60).returncode == 0
    s = make_server(env={
        "LD_LIBRARY_PATH": fake_library(tmp_path, "libcurl.so.4"),
        # Nothing listens there: without libcurl no connection is tried.
        "SEALAUTH_TRUST_GOVERNANCE_URL": "https://127.0.0.1:1/governance.xml",
        "SEALAUTH_TRUST_GOVERNANCE_CERT": f"{trust}/governance.pem",
    }).start()
    health = requests.get(s.base + "/health", timeout=5)
    assert health.status_code == 503, health.text
    assert health.json()["checks"]["trust"]["status"] == "failed"
    # The server itself runs: its database and sessions answer.
    assert health.json()["checks"]["database"]["status"] == "ok", health.text
    log = s.read_log()
    assert ("libcurl (libcurl.so.4) could not be loaded; install the "
            "libcurl4 package") in log, log[-3000:]
    assert "libcurl.so.4 has no" in log, log[-3000:]
