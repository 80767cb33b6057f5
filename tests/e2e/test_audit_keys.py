"""Audit durability and tamper evidence, signing keys and JWKS, config and
clean shutdown, through the real binary."""
import base64
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def audit_rows(server):
    db = sqlite3.connect(os.path.join(server.data_dir, "sealauth.db"))
    try:
        return db.execute("SELECT seq, event, ip, subject FROM audit "
                          "ORDER BY seq").fetchall()
    finally:
        db.close()


def test_audit_row_is_durable_when_the_response_arrives(server):
    r = requests.post(server.base + "/test/audit/test.first", timeout=5,
                      headers={"User-Agent": "e2e-agent"})
    assert r.status_code == 200
    rows = audit_rows(server)
    events = [row[1] for row in rows]
    assert "test.first" in events
    row = [x for x in rows if x[1] == "test.first"][0]
    assert row[2] == "127.0.0.1" and row[3] == "test-subject"


def test_database_refuses_update_and_delete(server):
    requests.post(server.base + "/test/audit/test.x", timeout=5)
    db = sqlite3.connect(os.path.join(server.data_dir, "sealauth.db"))
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit SET event = 'forged' WHERE seq = 1")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit WHERE seq = 1")
    finally:
        db.close()


def test_audit_verify_finds_the_first_tampered_row(server):
    for i in range(5):
        assert requests.post(server.base + f"/test/audit/test.n{i}",
                             timeout=5).status_code == 200
    ok = server.cli("audit", "verify")
    assert "intact" in ok.stdout
    server.stop()
    db = sqlite3.connect(os.path.join(server.data_dir, "sealauth.db"))
    seq = db.execute("SELECT seq FROM audit WHERE event = 'test.n2'").fetchone()[0]
    # An attacker with file access must first drop the trigger.
    db.execute("DROP TRIGGER IF EXISTS audit_no_update")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE "
                              "type='trigger' AND tbl_name='audit'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("UPDATE audit SET subject = 'someone-else' WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    bad = server.cli("audit", "verify", check=False)
    assert bad.returncode == 1
    assert str(seq) in (bad.stdout + bad.stderr)


def test_jwks_kid_is_the_rfc7638_thumbprint(server):
    r = requests.get(server.base + "/.well-known/jwks.json", timeout=5)
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert len(keys) == 1
    k = keys[0]
    assert k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256"
    assert "d" not in k
    canon = json.dumps({"crv": k["crv"], "kty": k["kty"], "x": k["x"],
                        "y": k["y"]}, separators=(",", ":"))
    assert k["kid"] == b64u(hashlib.sha256(canon.encode()).digest())
    assert requests.get(server.base + "/jwks", timeout=5).json() == r.json()
    keydir = os.path.join(server.data_dir, "keys")
    assert stat.S_IMODE(os.stat(keydir).st_mode) == 0o700
    for f in os.listdir(keydir):
        if f.endswith(".pem"):
            assert stat.S_IMODE(os.stat(os.path.join(keydir, f)).st_mode) == 0o600


def test_rotated_key_is_published_by_the_running_server(server):
    before = {k["kid"] for k in
              requests.get(server.base + "/jwks", timeout=5).json()["keys"]}
    server.cli("keys", "rotate", "--publish-delay", "3600")
    deadline = time.monotonic() + 10
    after = before
    while time.monotonic() < deadline:
        after = {k["kid"] for k in
                 requests.get(server.base + "/jwks", timeout=5).json()["keys"]}
        if len(after) == 2:
            break
        time.sleep(0.2)
    assert before < after and len(after) == 2
    listing = server.cli("keys", "list", "--json").stdout
    states = sorted(k["state"] for k in json.loads(listing)["keys"])
    assert states == ["active", "next"]


def test_keys_survive_a_restart(make_server):
    s = make_server().start()
    kid = requests.get(s.base + "/jwks", timeout=5).json()["keys"][0]["kid"]
    s.stop()
    s.start()
    assert requests.get(s.base + "/jwks", timeout=5).json()["keys"][0]["kid"] == kid


def test_sigterm_loses_no_acknowledged_write(make_server):
    from conftest import stop_under_load
    s = make_server().start()
    acked = []
    counter = iter(range(1000000))

    def writer(stop):
        n = next(counter)
        sess = requests.Session()
        i = 0
        while not stop.is_set() and i < 400:
            try:
                r = sess.post(s.base + f"/test/audit/test.w{n}.{i}", timeout=5)
            except requests.RequestException:
                break
            if r.status_code == 200:
                acked.append(f"test.w{n}.{i}")
            i += 1

    assert stop_under_load(s, writer, threads=6) == 0
    events = {row[1] for row in audit_rows(s)}
    assert acked, "no write was acknowledged before the stop"
    missing = [e for e in acked if e not in events]
    assert missing == []
    assert "server.stop" in events
    assert "intact" in s.cli("audit", "verify").stdout


def test_config_file_and_bad_settings(tmp_path, make_server):
    cfg = tmp_path / "sealauth.conf"
    s = make_server()
    cfg.write_text(f"# comment\nSEALAUTH_LISTEN = 127.0.0.1:{s.port}\n"
                   "SEALAUTH_LOG_LEVEL = \"warn\"\n")
    env = dict(s.env)
    del env["SEALAUTH_LISTEN"]
    env["SEALAUTH_CONFIG"] = str(cfg)
    s.env = env
    s.start()
    assert requests.get(s.base + "/health", timeout=5).status_code == 200
    s.stop()
    cfg.write_text("SEALAUTH_LISTEN_TYPO = 1\n")
    r = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2
    assert "SEALAUTH_LISTEN_TYPO" in r.stderr
    env2 = dict(s.env)
    env2.pop("SEALAUTH_CONFIG")
    env2["SEALAUTH_BODY_LIMIT"] = "lots"
    r = subprocess.run([BIN, "serve"], env=env2, capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "SEALAUTH_BODY_LIMIT" in r.stderr


def test_help_lists_every_option():
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0
    for opt in ("--listen", "--data-dir", "SERVER_PRIVATE_KEY_PATH",
                "DATABASE_URL", "REDIS_URL", "SEALAUTH_RATE_LIMITS"):
        assert opt in r.stdout
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for cmd in ("serve", "keys", "audit"):
        assert cmd in r.stdout


def test_audit_commands_do_not_create_a_missing_database(tmp_path):
    missing = tmp_path / "typo"
    r = subprocess.run([BIN, "audit", "verify", "--data-dir", str(missing)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "no database" in r.stderr
    assert not missing.exists()


def test_admin_recover_does_not_create_a_missing_database(tmp_path):
    missing = tmp_path / "typo"
    r = subprocess.run([BIN, "admin", "recover", "--data-dir", str(missing)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "no database at " + str(missing) in r.stderr
    assert not missing.exists()
