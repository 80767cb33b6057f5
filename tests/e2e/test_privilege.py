"""Least privilege: a server started as root runs as SEALAUTH_USER once its
socket is bound, restricts its system calls with seccomp (with a switch to
turn that off), and the systemd unit in contrib/ carries the usual
hardening. Dropping root needs root: without it that test is skipped, and
SEALAUTH_ROOT_TESTS_REQUIRED=1 (scripts/test and CI) makes it a failure."""
import os
import pwd
import tempfile

import pytest
import requests

from phone import Phone
from test_faults import root_or_skip
from test_login import LOGIN_ENV, issue_seal

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def syscall_refused(server):
    r = requests.post(server.base + "/test/syscall", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["refused"]


def seccomp_expected(server):
    # Sanitizer builds leave it off by default (their leak check at exit
    # needs ptrace) and say so.
    return "not restricted in this sanitizer build" not in server.read_log()


def test_serve_drops_root_after_binding(make_server):
    root_or_skip("dropping root")
    nobody = pwd.getpwnam("nobody")
    base = tempfile.mkdtemp(prefix="sealauth-priv-")
    os.chmod(base, 0o755)
    data = os.path.join(base, "data")
    s = make_server(env=dict(LOGIN_ENV, SEALAUTH_USER="nobody"),
                    data_dir=data)
    s.log_path = os.path.join(base, "server.log")
    s.start()
    st = proc_status(s.proc.pid)
    assert st["Uid"] == [str(nobody.pw_uid)] * 4, st["Uid"]
    assert st["Gid"] == [str(nobody.pw_gid)] * 4, st["Gid"]
    assert st["Groups"] == []
    assert os.stat(data).st_uid == nobody.pw_uid
    # It still does its work as that user: an enrollment is stored.
    r = Phone(s).enroll(issue_seal(s, "DE-PRIV-1"))
    assert r.status_code == 200, r.text
    assert os.stat(os.path.join(data, "sealauth.db")).st_uid == nobody.pw_uid
    assert syscall_refused(s) == seccomp_expected(s)


def test_seccomp_refuses_a_forbidden_call_and_can_be_turned_off(
        make_server):
    s = make_server(env={"SEALAUTH_SECCOMP": "-1"}).start()
    expected = seccomp_expected(s)
    assert syscall_refused(s) == expected
    assert proc_status(s.proc.pid)["Seccomp"] == (["2"] if expected
                                                  else ["0"])
    # The whole request path runs under the filter: a write and a read.
    r = requests.post(s.base + "/test/audit/test.seccomp", timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(s.base + "/health", timeout=5).status_code == 200
    s.stop()
    off = make_server(env={"SEALAUTH_SECCOMP": "0"}).start()
    assert syscall_refused(off) is False
    assert proc_status(off.proc.pid)["Seccomp"] == ["0"]


def test_unknown_user_is_refused_at_start(make_server):
    s = make_server(env={"SEALAUTH_USER": "no-such-user-here"})
    with pytest.raises(RuntimeError, match="no user named"):
        s.start()


def test_systemd_unit_is_hardened():
    path = os.path.join(ROOT, "contrib", "sealauth.service")
    opts = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                k, _, v = line.partition("=")
                opts.setdefault(k, []).append(v)
    want = {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
            "PrivateTmp": "yes", "ProtectHome": "yes",
            "PrivateDevices": "yes", "RestrictNamespaces": "yes",
            "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
            "ProtectKernelModules": "yes", "ProtectKernelTunables": "yes",
            "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
            "DynamicUser": "yes", "SystemCallArchitectures": "native"}
    for k, v in want.items():
        assert opts.get(k) == [v], f"{k}={opts.get(k)}"
    assert opts["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert opts["ExecStart"][0].endswith("sealauth serve")
    assert "@system-service" in opts["SystemCallFilter"]
