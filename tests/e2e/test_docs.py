"""The documentation stays true to the binary."""
import os
import subprocess

from conftest import BIN

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_configuration_doc_lists_the_settings_table():
    table = subprocess.run([BIN, "config", "--markdown"], capture_output=True,
                           text=True, timeout=10, check=True).stdout
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        doc = f.read()
    for line in table.splitlines():
        assert line in doc, f"docs/configuration.md is missing: {line}"


def test_relying_party_guide_python_verifier_accepts_a_real_token(make_server):
    """The Python snippet of docs/relying-parties.md, run as written (only
    the issuer URL changed), verifies a token from a real login and refuses
    one for another audience."""
    import re

    import pytest
    from jwt import InvalidAudienceError

    from phone import PushInbox
    from test_login import LOGIN_ENV, enrolled_phone, initiate

    with open(os.path.join(ROOT, "docs", "relying-parties.md")) as f:
        doc = f.read()
    block = re.search(r"<!-- verify:python -->\n```python\n(.*?)```", doc,
                      re.S).group(1)
    s = make_server(env=LOGIN_ENV).start()
    code = block.replace('"http://127.0.0.1:8080"', repr(s.base))
    assert code != block
    scope = {}
    exec(compile(code, "relying-parties.md", "exec"), scope)
    inbox = PushInbox()
    try:
        phone = enrolled_phone(s, inbox, token_id="DE-GUIDE-1")
        sess = initiate(s, phone.token_id,
                        scopes=["identity:name", "identity:age_over_18"]).json()
        push = inbox.next()
        answer = phone.answer(sess["sessionId"], push["otp"], "approve",
                              ["identity:age_over_18"])
        assert answer.status_code == 200, answer.text
    finally:
        inbox.close()
    claims = scope["verify"](answer.json()["jwt"])
    assert claims["ageOver18"] is True
    assert "givenName" not in claims  # not granted
    with pytest.raises(InvalidAudienceError):
        scope["verify"](answer.json()["jwt"], service_id="another")


def test_rate_limit_doc_is_the_limiter_table():
    """Every built-in class is documented with its real default, and the
    documented table has no row the limiter does not have (the verify limit
    once read 60/min here and 600/min in the code)."""
    table = subprocess.run([BIN, "config", "--rate-limits"],
                           capture_output=True, text=True, timeout=10,
                           check=True).stdout.splitlines()
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        doc = f.read()
    section = doc.split("## Rate-limit classes", 1)[1].split("\n## ", 1)[0]
    rows = [l for l in section.splitlines() if l.startswith("|")]
    assert len(table) > 2
    assert rows == table
