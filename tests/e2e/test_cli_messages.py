"""Every command-line error is one line that says what is wrong and what to
do; the usage comes only on request."""
import json
import os
import subprocess
import time

from conftest import BIN, free_port


def run(*args, env=None, timeout=30):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True,
                          timeout=timeout, env=e)


def short_error(r, *must):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    # The message, then where the usage is: never the usage itself.
    assert 1 <= len(lines) <= 2, r.stderr
    assert "usage:" not in r.stderr
    for m in must:
        assert m in lines[0], (m, r.stderr)
    return lines[0]


def test_usage_errors_are_one_line(tmp_path):
    d = str(tmp_path / "phone")
    short_error(run("device", "enroll", "--dir", d, "--server",
                    "127.0.0.1:8080", "SEAL"),
                "--server", "http://127.0.0.1:8080")
    short_error(run("device", "enroll", "--dir", d, "SEAL"), "--server")
    short_error(run("device", "enroll", "--dir", d, "--server",
                    "http://127.0.0.1:1"), "missing the seal")
    short_error(run("device", "approve", "--dir", d, "--otp", "123456"),
                "--session")
    short_error(run("device", "listen", "--dir", d, "--bogus"),
                "unknown option --bogus")
    short_error(run("device", "frobnicate", "--dir", d), "frobnicate")
    short_error(run("device", "init"), "--dir")
    short_error(run("keys", "list", "--bogus"), "unknown option --bogus")
    short_error(run("keys", "spin"), "spin", "list, rotate or jwks")
    short_error(run("audit", "tail", "extra"), "extra")
    short_error(run("serve", "--bogus-option"), "--bogus-option")
    short_error(run("vds", "inspect"), "missing")
    r = run("frobnicate")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 2
    # Asked for, the usage is complete and on standard output.
    r = run("device", "--help")
    assert r.returncode == 0 and "usage: sealauth device" in r.stdout


def test_second_server_names_the_bind_error(make_server):
    s = make_server().start()
    r = run("serve", "--data-dir", s.data_dir + "-second",
            "--listen", f"127.0.0.1:{s.port}")
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{s.port}: Address already in use" \
        in r.stderr
    assert "--listen" in r.stderr
    assert "audit rows written" not in r.stderr


def test_second_device_listener_says_why(make_server, tmp_path):
    s = make_server().start()
    d = str(tmp_path / "phone")
    assert run("device", "init", "--dir", d).returncode == 0
    seal = run("trust", "issue", "--dir", os.path.join(s.data_dir, "trust"),
               "--token-id", "DE-CLI-1", "--given-name", "Erika",
               "--family-name", "Mustermann", "--dob", "1990-04-01").stdout
    port = free_port()
    r = run("device", "enroll", "--dir", d, "--server", s.base,
            "--listen-port", str(port), seal.strip())
    assert r.returncode == 0, r.stderr
    first = subprocess.Popen([BIN, "device", "listen", "--dir", d,
                              "--listen-port", str(port), "--approve",
                              "--timeout", "20"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        # Bounded wait for the first listener to be up.
        line = first.stdout.readline()
        assert "listening for pushes" in line
        r = run("device", "listen", "--dir", d, "--listen-port", str(port),
                "--approve", "--timeout", "1")
        assert r.returncode == 1
        assert "Address already in use" in r.stderr
        assert "another `sealauth device listen`" in r.stderr
    finally:
        first.terminate()
        first.wait(10)


def test_misspelled_setting_is_warned_about(make_server):
    s = make_server(env={"SEALAUTH_PUSH_MODEE": "log"}).start()
    deadline = time.monotonic() + 10
    while "SEALAUTH_PUSH_MODEE" not in s.read_log() and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert ("SEALAUTH_PUSH_MODEE is not a setting (did you mean "
            "SEALAUTH_PUSH_MODE?)") in s.read_log()


def test_config_file_errors_name_the_right_line(tmp_path):
    conf = tmp_path / "sealauth.conf"
    conf.write_text("SEALAUTH_LOG_LEVEL = warn\n\n\n# a comment\n\n"
                    "this line is wrong\n")
    r = run("serve", "--config", str(conf), "--data-dir",
            str(tmp_path / "data"))
    assert r.returncode == 2
    assert f"{conf}:6: expected KEY = value" in r.stderr


def test_services_file_with_one_entity_id_twice_stops_the_start(tmp_path):
    acs = {"url": "https://sp.example/acs", "index": 0}
    entry = {"name": "Wiki", "scopes": ["identity:name"],
             "saml": {"entityId": "https://sp.example/md", "acs": [acs]}}
    path = tmp_path / "services.json"
    path.write_text(json.dumps({"services": [
        dict(entry, serviceId="wiki"), dict(entry, serviceId="wiki2")]}))
    r = run("serve", "--data-dir", str(tmp_path / "data"),
            "--listen", f"127.0.0.1:{free_port()}",
            env={"SEALAUTH_SERVICES_FILE": str(path)})
    assert r.returncode == 1, r.stderr
    assert ('service "wiki2": saml: entityId: "https://sp.example/md" is '
            'already the entity id of service "wiki"') in r.stderr
