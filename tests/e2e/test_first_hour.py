"""What a new user meets in the first hour: the demo under either loopback
name, push modes that send nothing, and the type-the-code mode."""
import json
import os
import time

import requests

from phone import Phone, PushInbox
from test_login import LOGIN_ENV, enrolled_phone, initiate, issue_seal


def test_localhost_and_127_0_0_1_both_start_logins(make_server):
    """The README's curl lines say localhost; the page may be opened under
    either name. Other origins are refused with what to set."""
    s = make_server(env=LOGIN_ENV).start()
    inbox = PushInbox()
    try:
        phone = enrolled_phone(s, inbox, token_id="DE-LOCAL-1")
        for origin in (s.base, f"http://localhost:{s.port}",
                       f"http://[::1]:{s.port}"):
            r = initiate(s, phone.token_id, headers={"Origin": origin})
            assert r.status_code == 200, (origin, r.text)
            assert inbox.next()["origin"] == origin
        r = initiate(s, phone.token_id,
                     headers={"Origin": "http://localhost.evil.example"})
        assert r.status_code == 403
        body = r.json()
        assert body["error"] == "origin_not_allowed"
        assert body["field"] == "Origin"
        assert "SEALAUTH_PUBLIC_URL" in body["message"]
    finally:
        inbox.close()


def test_log_mode_starts_logins_for_a_device_without_push_target(make_server):
    """Modes log and none send nothing anywhere, so a device enrolled
    without a push target can still log in (it used to get 502)."""
    env = dict(LOGIN_ENV, SEALAUTH_PUSH_MODE="log")
    s = make_server(env=env).start()
    phone = Phone(s, None)
    r = phone.enroll(issue_seal(s, "DE-NOPUSH-1"))
    assert r.status_code == 200, r.text
    r = initiate(s, phone.token_id)
    assert r.status_code == 200, r.text
    sess = r.json()
    # The log line is what the developer reads instead of a push. It
    # follows the answer, once the login's audit row is durable.
    deadline = time.monotonic() + 10
    while True:
        logged = [e for e in s.log_lines() if e.get("event") == "push.log"]
        if any(e["message"]["sessionId"] == sess["sessionId"]
               for e in logged) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert any(e["message"]["sessionId"] == sess["sessionId"] for e in logged)
    answer = phone.answer(sess["sessionId"], sess["autoPassword"], "approve",
                          ["identity:name"])
    assert answer.status_code == 200, answer.text


def type_mode_server(make_server, tmp_path):
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"services": [{
        "serviceId": "typed", "name": "Typed Shop",
        "scopes": ["identity:name"], "matchMode": "type"}]}))
    env = dict(LOGIN_ENV, SEALAUTH_SERVICES_FILE=str(services))
    return make_server(env=env).start()


def test_type_mode_phone_types_the_code(make_server, tmp_path):
    s = type_mode_server(make_server, tmp_path)
    inbox = PushInbox()
    try:
        phone = enrolled_phone(s, inbox, token_id="DE-TYPE-1")
        r = initiate(s, phone.token_id, service="typed")
        assert r.status_code == 200, r.text
        sess = r.json()
        push = inbox.next()
        # The phone is not told the code: the person types what the
        # browser shows.
        assert "otp" not in push
        assert push["serviceName"] == "Typed Shop"
        answer = phone.answer(sess["sessionId"], sess["autoPassword"],
                              "approve", ["identity:name"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["jwt"]
    finally:
        inbox.close()


def test_type_mode_wrong_code_is_refused(make_server, tmp_path):
    s = type_mode_server(make_server, tmp_path)
    inbox = PushInbox()
    try:
        phone = enrolled_phone(s, inbox, token_id="DE-TYPE-2")
        sess = initiate(s, phone.token_id, service="typed").json()
        assert "otp" not in inbox.next()
        wrong = "%06d" % ((int(sess["autoPassword"]) + 1) % 1000000)
        answer = phone.answer(sess["sessionId"], wrong, "approve",
                              ["identity:name"])
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_otp"
        # The right code still works afterwards (one failed try of three).
        answer = phone.answer(sess["sessionId"], sess["autoPassword"],
                              "approve", ["identity:name"])
        assert answer.status_code == 200, answer.text
    finally:
        inbox.close()


def test_gitignore_keeps_demo_state_out(tmp_path):
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, ".gitignore")) as f:
        lines = f.read().split()
    for path in ("/sealauth-data/", "/phone/"):
        assert path in lines
