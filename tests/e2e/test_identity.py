"""Identities across issuing authorities and devices (issue 17 and the
identity items of issue 13): a token id belongs to the authority that
issued it, a new device waits for the old one, subjects are pairwise, and a
refused seal tells the client nothing about where lists live."""
import base64
import json
import os
import time

import pytest
import requests

from conftest import BIN, pairwise_sub
from phone import Phone, PushInbox
from test_login import (LOGIN_ENV, audit_events, initiate, issue_seal,
                        verify_jwt)


@pytest.fixture
def inbox():
    box = PushInbox()
    yield box
    box.close()


def federation(make_server, env=None, services=None):
    """A server on a demo environment with two more issuing authorities:
    XA, which declares the token id prefix "XA-", and XB, which declares
    none. The environment is made before the server starts."""
    s = make_server(env=dict(LOGIN_ENV, **(env or {})))
    d = os.path.join(s.data_dir, "trust")
    s.cli("trust", "demo", "--dir", d)
    s.cli("trust", "demo", "--dir", d, "--authority", "XA", "--prefix", "XA-")
    s.cli("trust", "demo", "--dir", d, "--authority", "XB")
    if services is not None:
        path = os.path.join(s.data_dir, "services.json")
        with open(path, "w") as f:
            json.dump({"services": services}, f)
        s.env["SEALAUTH_SERVICES_FILE"] = path
    return s.start()


def seal_of(server, authority, token_id, **kw):
    args = {"given-name": "Erika", "family-name": "Mustermann",
            "dob": "1990-04-01", "document": kw.pop("document", "C01X00T47")}
    cmd = ["trust", "issue", "--dir", os.path.join(server.data_dir, "trust"),
           "--token-id", token_id]
    if authority != "DEMO":
        cmd += ["--authority", authority]
    for k, v in args.items():
        cmd += [f"--{k}", v]
    return server.cli(*cmd).stdout.strip()


def login(server, phone, inbox, token_id, service="demo"):
    r = initiate(server, token_id, service=service)
    assert r.status_code == 200, r.text
    push = inbox.next()
    r = phone.answer(push["sessionId"], push["otp"], scopes=["identity:name"],
                     token_id=token_id)
    assert r.status_code == 200, r.text
    return verify_jwt(server, r.json()["jwt"], aud=service)


def test_cross_authority_enrollment_is_refused(make_server, inbox):
    s = federation(make_server)
    victim = Phone(s, inbox)
    r = victim.enroll(seal_of(s, "DEMO", "DE-FED-1"))
    assert r.status_code == 200, r.text
    # Another authority in the governance list signs the victim's token id
    # and tries to move it to its own phone: refused, nothing moves.
    other = PushInbox()
    try:
        attacker = Phone(s, other)
        r = attacker.enroll(seal_of(s, "XB", "DE-FED-1"))
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "authority_conflict"
        refused = [e for e in audit_events(s) if e["event"] ==
                   "enroll.refused" and e["subject"] == "DE-FED-1"]
        assert refused and refused[-1]["detail"]["step"] == "authority"
        assert refused[-1]["detail"]["authority"] == "XB"
        assert refused[-1]["detail"]["boundAuthority"] == "DEMO"
        # The victim still logs in, and the token says who vouched.
        claims = login(s, victim, inbox, "DE-FED-1")
        assert claims["iss_authority"] == "DEMO"
        with pytest.raises(Exception):
            other.next(timeout=1)
    finally:
        other.close()
    # A declared prefix belongs to its authority alone.
    r = Phone(s, inbox).enroll(seal_of(s, "DEMO", "XA-100"))
    assert r.status_code == 422 and r.json()["step"] == "governance"
    r = Phone(s, inbox).enroll(seal_of(s, "XA", "XB-100"))
    assert r.status_code == 422 and r.json()["step"] == "governance"
    phone = Phone(s, inbox)
    r = phone.enroll(seal_of(s, "XA", "XA-100"))
    assert r.status_code == 200, r.text
    assert login(s, phone, inbox, "XA-100")["iss_authority"] == "XA"


def test_pairwise_subjects_per_service_and_public_opt_in(make_server, inbox):
    services = [
        {"serviceId": "shop", "name": "Shop", "scopes": ["identity:name"]},
        {"serviceId": "bank", "name": "Bank", "scopes": ["identity:name"]},
        {"serviceId": "gov", "name": "Gov", "scopes": ["identity:name"],
         "subjectType": "public"},
    ]
    s = federation(make_server, services=services)
    phone = Phone(s, inbox)
    assert phone.enroll(seal_of(s, "DEMO", "DE-SUB-1")).status_code == 200
    shop = login(s, phone, inbox, "DE-SUB-1", "shop")["sub"]
    bank = login(s, phone, inbox, "DE-SUB-1", "bank")["sub"]
    gov = login(s, phone, inbox, "DE-SUB-1", "gov")["sub"]
    # Unlinkable across services, stable at one, the token id on opt-in.
    assert shop != bank and "DE-SUB-1" not in (shop, bank)
    assert shop == login(s, phone, inbox, "DE-SUB-1", "shop")["sub"]
    assert shop == pairwise_sub(s.data_dir, "shop", "DEMO", "DE-SUB-1")
    assert gov == "DE-SUB-1"
    # The same token id under another authority would be someone else.
    assert shop != pairwise_sub(s.data_dir, "shop", "XB", "DE-SUB-1")


def takeover_answer(server, phone, token_id, takeover_id, decision,
                    key=None):
    ts = int(time.time())
    msg = f"sealauth-takeover-v1|{takeover_id}|{decision}|{ts}".encode()
    body = {"tokenId": token_id, "takeoverId": takeover_id,
            "decision": decision, "timestamp": ts,
            "signature": (key or phone).sign(msg)}
    return requests.post(server.base + "/enroll/takeover", json=body,
                         timeout=10)


def start_takeover(s, inbox, new_inbox, token_id):
    old = Phone(s, inbox)
    assert old.enroll(seal_of(s, "DEMO", token_id)).status_code == 200
    new = Phone(s, new_inbox)
    r = new.enroll(seal_of(s, "DEMO", token_id, document="C02"))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["enrolled"] is False and body["pending"] is True
    notice = inbox.next()
    assert notice["type"] == "takeover_pending"
    assert notice["takeoverId"] == body["takeoverId"]
    assert notice["newDeviceId"] == new.device_id
    return old, new, body


def test_takeover_waits_then_completes(make_server, inbox):
    s = federation(make_server, env={"SEALAUTH_TAKEOVER_DELAY": "3"})
    new_inbox = PushInbox()
    try:
        old, new, body = start_takeover(s, inbox, new_inbox, "DE-MOVE-1")
        # During the waiting period the old device still holds the id.
        login(s, old, inbox, "DE-MOVE-1")
        time.sleep(3.5)
        sess = initiate(s, "DE-MOVE-1").json()
        push = new_inbox.next()
        assert push["sessionId"] == sess["sessionId"]
        assert inbox.next()["type"] == "enrollment_replaced"
        r = old.answer(sess["sessionId"], push["otp"],
                       scopes=["identity:name"], token_id="DE-MOVE-1")
        assert r.status_code == 401
        r = new.answer(sess["sessionId"], push["otp"],
                       scopes=["identity:name"], token_id="DE-MOVE-1")
        assert r.status_code == 200, r.text
    finally:
        new_inbox.close()
    rows = audit_events(s)
    events = [e["event"] for e in rows]
    assert "enroll.takeover_pending" in events
    assert "enroll.takeover_completed" in events
    # The notices to the old device, audited with where they went.
    kinds = {e["detail"]["kind"]: e["detail"]["provider"] for e in rows
             if e["event"] == "push.sent" and "kind" in e["detail"]}
    assert kinds.get("takeover_pending") == "unifiedpush", kinds


def test_takeover_cancelled_by_the_old_device(make_server, inbox):
    s = federation(make_server, env={"SEALAUTH_TAKEOVER_DELAY": "2"})
    new_inbox = PushInbox()
    try:
        old, new, body = start_takeover(s, inbox, new_inbox, "DE-KEEP-1")
        # Only the bound device decides: the newcomer's key is refused.
        r = takeover_answer(s, old, "DE-KEEP-1", body["takeoverId"],
                            "approve", key=new)
        assert r.status_code == 401
        r = takeover_answer(s, old, "DE-KEEP-1", body["takeoverId"],
                            "cancel")
        assert r.status_code == 200 and r.json()["decision"] == "cancelled"
        time.sleep(2.5)
        # Past the period, nothing moved: the old device still logs in.
        login(s, old, inbox, "DE-KEEP-1")
        r = takeover_answer(s, old, "DE-KEEP-1", body["takeoverId"],
                            "cancel")
        assert r.status_code == 404
    finally:
        new_inbox.close()
    assert "enroll.takeover_cancelled" in [e["event"] for e in audit_events(s)]


def test_takeover_approved_by_the_old_device(make_server, inbox):
    s = federation(make_server)  # the default 72 h period
    new_inbox = PushInbox()
    try:
        old, new, body = start_takeover(s, inbox, new_inbox, "DE-GIVE-1")
        r = takeover_answer(s, old, "DE-GIVE-1", body["takeoverId"],
                            "approve")
        assert r.status_code == 200 and r.json()["decision"] == "approved"
        login(s, new, new_inbox, "DE-GIVE-1")
    finally:
        new_inbox.close()


def test_unsigned_seal_refusal_names_no_location(make_server, inbox):
    s = federation(make_server)
    # The signer certificate the seal names cannot be fetched.
    os.remove(os.path.join(s.data_dir, "trust", "lists", "ca", "signers",
                           "XBXX0001.pem"))
    for _ in range(2):
        r = Phone(s, inbox).enroll(seal_of(s, "XB", "XB-NOCERT"))
        assert r.status_code == 422
        body = r.json()
        assert body["step"] == "chain"
        text = r.text
        assert "file:" not in text and "http" not in text
        assert s.data_dir not in text and "/" not in body["message"]
    # The detail is for the operator: in the audit row.
    refused = [e for e in audit_events(s) if e["event"] == "enroll.refused"]
    assert "XBXX0001" in refused[-1]["detail"]["reason"]


def admin_takeover(s, token_id, **params):
    return requests.post(s.base + "/test/takeover", timeout=10,
                         params=dict(params, tokenId=token_id))


def test_takeover_decided_by_an_administrator(make_server, inbox):
    s = federation(make_server)  # the default 72 h period
    new_inbox = PushInbox()
    try:
        old, new, body = start_takeover(s, inbox, new_inbox, "DE-ADMIN-1")
        tid = body["takeoverId"]
        # What the administrator is shown of it.
        seen = admin_takeover(s, "DE-ADMIN-1").json()
        assert seen["takeoverId"] == tid
        assert seen["newDeviceId"] == new.device_id
        assert seen["authority"] == "DEMO"
        # Only the takeover the administrator saw is decided.
        r = admin_takeover(s, "DE-ADMIN-1", decision="cancel",
                           takeoverId="0" * 32, adminId="adm_1")
        assert r.status_code == 404
        r = admin_takeover(s, "DE-ADMIN-1", decision="cancel",
                           takeoverId=tid, adminId="adm_1",
                           reason="the owner called")
        assert r.status_code == 200, r.text
        # Decided once: the old device's answer finds nothing.
        r = takeover_answer(s, old, "DE-ADMIN-1", tid, "approve")
        assert r.status_code == 404
        assert admin_takeover(s, "DE-ADMIN-1").status_code == 404
        login(s, old, inbox, "DE-ADMIN-1")

        # A second attempt, approved by the administrator: the new device
        # holds the token id at once and the old one is told.
        r = new.enroll(seal_of(s, "DEMO", "DE-ADMIN-1", document="C02"))
        assert r.status_code == 202, r.text
        tid2 = r.json()["takeoverId"]
        assert inbox.next()["type"] == "takeover_pending"
        r = admin_takeover(s, "DE-ADMIN-1", decision="approve",
                           takeoverId=tid2, adminId="adm_2")
        assert r.status_code == 200, r.text
        assert inbox.next()["type"] == "enrollment_replaced"
        login(s, new, new_inbox, "DE-ADMIN-1")
    finally:
        new_inbox.close()
    rows = {e["event"]: e for e in audit_events(s)
            if e["event"].startswith("admin.takeover_")}
    cancelled = rows["admin.takeover_cancelled"]["detail"]
    assert cancelled["takeoverId"] == tid and cancelled["adminId"] == "adm_1"
    assert cancelled["reason"] == "the owner called"
    assert cancelled["oldDeviceId"] == old.device_id
    approved = rows["admin.takeover_approved"]["detail"]
    assert approved["takeoverId"] == tid2 and approved["adminId"] == "adm_2"
    assert approved["newDeviceId"] == new.device_id
