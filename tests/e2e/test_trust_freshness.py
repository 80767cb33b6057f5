"""Signed trust documents never roll back (issue 17): every instance that
shares the database refuses a list older than one any of them accepted,
keeps the last good set, says so in /health and audits it."""
import os
import shutil
import tempfile

import pytest
import requests

from conftest import free_port
from phone import Phone, PushInbox
from test_login import LOGIN_ENV, audit_events, issue_seal

# Where each kind of document of the DEMO authority is published.
DOCS = {
    "governance": "lists/governance.xml",
    "scheme": "lists/scheme-DEMO.xml",
    "tsl": "lists/tsl-DEMO.xml",
    "vrl": "lists/vrl-DEMO.xml",
    "crl": "lists/ca/DEMO.crl",
}


@pytest.fixture
def data_dir():
    d = tempfile.TemporaryDirectory(prefix="sealauth-fresh-")
    yield d.name
    d.cleanup()


def pair(make_server, data_dir):
    """Two instances on one data directory: one SQLite database."""
    out = []
    for name in ("a", "b"):
        s = make_server(env=LOGIN_ENV, data_dir=data_dir)
        s.log_path = os.path.join(data_dir, f"server-{name}.log")
        out.append(s.start())
    return out


def refresh(server):
    r = requests.post(server.base + "/test/trust/refresh", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def trust_health(server):
    return requests.get(server.base + "/health", timeout=10).json()["checks"][
        "trust"]


@pytest.mark.parametrize("kind", sorted(DOCS))
def test_rolled_back_document_is_refused_by_every_instance(make_server,
                                                            data_dir, kind):
    a, b = pair(make_server, data_dir)
    trust = os.path.join(data_dir, "trust")
    path = os.path.join(trust, DOCS[kind])
    old = path + ".old"
    shutil.copyfile(path, old)
    # A newer document (next sequence number) is accepted by A ...
    a.cli("trust", "resign", "--dir", trust, kind)
    assert refresh(a) == {"refreshed": True}
    # ... and then whoever serves the lists puts yesterday's copy back,
    # still validly signed and inside its NextUpdate.
    shutil.copyfile(old, path)
    for s in (b, a):
        r = refresh(s)
        assert r["refreshed"] is False and r["step"] == "rollback", r
        h = trust_health(s)
        assert h["status"] == "stale", h
        assert h["lastError"]["step"] == "rollback"
        assert kind in h["lastError"]["reason"]
        failed = [e for e in audit_events(s)
                  if e["event"] == "trust.refresh_failed"]
        assert failed and failed[-1]["detail"]["step"] == "rollback"


def test_old_vrl_does_not_unrevoke_a_seal(make_server, data_dir):
    a, b = pair(make_server, data_dir)
    inbox = PushInbox()
    try:
        trust = os.path.join(data_dir, "trust")
        path = os.path.join(trust, DOCS["vrl"])
        shutil.copyfile(path, path + ".old")
        seal = issue_seal(a, "DE-UNREVOKE-1")
        a.cli("trust", "revoke", "--dir", trust, seal)
        assert refresh(a)["refreshed"] is True
        shutil.copyfile(path + ".old", path)
        # A keeps the set it accepted; C, started afresh while the old VRL
        # is served, refuses the list (A accepted a newer one) instead of
        # loading a set in which the seal is not revoked.
        c = make_server(env=LOGIN_ENV, data_dir=data_dir)
        c.log_path = os.path.join(data_dir, "server-c.log")
        c.start()
        for s in (a, c):
            refresh(s)
            r = Phone(s, inbox).enroll(seal)
            assert r.status_code == 422, r.text
            assert r.json()["step"] in ("revocation", "governance",
                                        "rollback"), r.text
        assert trust_health(c)["lastError"]["step"] == "rollback"
    finally:
        inbox.close()


def test_maximum_age_refuses_an_old_vrl(make_server):
    # A VRL issued more than a second ago is too old here: the set that
    # contains it is refused even though its NextUpdate is a year away.
    # The lists are named explicitly, as real ones are: a server never
    # re-signs those (only the embedded demo environment's).
    s = make_server(env=dict(LOGIN_ENV, SEALAUTH_TRUST_MAX_AGE_VRL="1"))
    d = os.path.join(s.data_dir, "trust")
    s.cli("trust", "demo", "--dir", d)
    s.env["SEALAUTH_TRUST_GOVERNANCE_URL"] = (
        "file://" + os.path.join(d, "lists", "governance.xml"))
    s.env["SEALAUTH_TRUST_GOVERNANCE_CERT"] = os.path.join(d,
                                                          "governance.pem")
    import time
    time.sleep(2.1)
    s.start()
    h = trust_health(s)
    assert h["status"] == "failed", h
    assert h["lastError"]["step"] == "expiry"
    assert "maximum age" in h["lastError"]["reason"]


def vrl_sequence(path):
    import re
    with open(path, "rb") as f:
        m = re.search(rb"<(?:\w+:)?SequenceNumber>(\d+)<", f.read())
    return int(m.group(1)) if m else None


def test_demo_server_renews_its_lists_before_they_age_out(make_server):
    # A VRL may be 6 seconds old here: the demo server re-signs it at half
    # that age while it runs, and its refresh loads each new one.
    import time
    s = make_server(env=dict(LOGIN_ENV, SEALAUTH_TRUST_MAX_AGE_VRL="6"))
    s.start()
    vrl = os.path.join(s.data_dir, "trust", DOCS["vrl"])
    first = vrl_sequence(vrl)
    assert first is not None
    for _ in range(4):
        time.sleep(3)
        h = trust_health(s)
        assert h["status"] == "fresh" and h["lastError"] is None, h
    assert vrl_sequence(vrl) >= first + 2
    assert "trust.demo_renew" in s.read_log()
