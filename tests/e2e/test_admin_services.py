"""The relying-party registry through the admin API: every change a
step-up pair, validation naming the field, and a change made on one server
used by another server of the same database within a second."""
import time

import requests

from admin_client import Admin, admin_server, audit_events
from authenticator import b64u
from conftest import Server
from test_login import enrolled_phone, initiate
from phone import PushInbox

SHOP = {"serviceId": "shop", "name": "Shop", "scopes": ["identity:name"],
        "origins": ["https://shop.example"], "matchMode": "compare",
        "enabled": True}
FINISH = "/v1/admin/services/finish"


def signed_in(make_server, **kw):
    s = admin_server(make_server, **kw)
    a = Admin(s)
    cred = a.claim()
    assert a.login().status_code == 200
    return s, a, cred


def test_create_update_delete_with_step_up(make_server):
    s, a, cred = signed_in(make_server)
    r = a.change("POST", "/v1/admin/services", SHOP, FINISH)
    assert r.status_code == 201, r.text
    assert r.json()["serviceId"] == "shop"
    assert r.json()["subjectType"] == "pairwise"
    listed = a.get("/v1/admin/services").json()
    assert "shop" in [x["serviceId"] for x in listed["services"]]
    assert a.get("/v1/admin/services/shop").json()["name"] == "Shop"

    # PATCH changes only what it names; the id stays.
    r = a.change("PATCH", "/v1/admin/services/shop",
                 {"name": "Shop 2", "enabled": False}, FINISH)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Shop 2" and r.json()["enabled"] is False
    assert r.json()["origins"] == ["https://shop.example"]
    # A disabled service starts no login.
    r = initiate(s, "DE-1", service="shop")
    assert r.status_code == 422 and r.json()["field"] == "serviceId"

    r = a.change("DELETE", "/v1/admin/services/shop", None, FINISH)
    assert r.status_code == 200 and r.json() == {"serviceId": "shop",
                                                "deleted": True}
    assert a.get("/v1/admin/services/shop").status_code == 404
    r = a.send("DELETE", "/v1/admin/services/shop")
    assert r.status_code == 404

    ev = audit_events(s)
    names = [e["event"] for e in ev if e["event"].startswith("admin.service")]
    assert names == ["admin.service_created", "admin.service_updated",
                     "admin.service_deleted"]
    upd = next(e for e in ev if e["event"] == "admin.service_updated")
    assert upd["detail"]["changed"] == ["name", "enabled"]
    assert upd["detail"]["uvPasskeyId"] == b64u(cred.id)
    assert upd["detail"]["admin"] == a.id
    assert upd["ip"] == "127.0.0.1" and upd["ua"] == "admin-e2e"


def test_invalid_records_name_the_field_and_change_nothing(make_server):
    s, a, _ = signed_in(make_server)
    bad = [
        ({**SHOP, "origins": ["https://shop.example", "ftp://x"]},
         "origins[1]"),
        ({**SHOP, "scopes": ["identity:nope"]}, "scopes[0]"),
        ({**SHOP, "matchMode": "guess"}, "matchMode"),
        ({**SHOP, "serviceId": ""}, "serviceId"),
        ({k: v for k, v in SHOP.items() if k != "name"}, "name"),
        ({**SHOP, "oidc": {"redirectUris": ["not a url"]}}, "oidc."),
    ]
    for body, field in bad:
        r = a.send("POST", "/v1/admin/services", body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"] == "validation"
        assert r.json()["field"].startswith(field), (field, r.json())
    assert a.get("/v1/admin/services/shop").status_code == 404
    # An existing id is refused at the start already.
    r = a.send("POST", "/v1/admin/services", {**SHOP, "serviceId": "demo"})
    assert r.status_code == 409
    r = a.send("PATCH", "/v1/admin/services/demo", {"serviceId": "other"})
    assert r.status_code == 400 and r.json()["field"] == "serviceId"
    r = a.send("PATCH", "/v1/admin/services/demo", {"origins": "x"})
    assert r.status_code == 400 and r.json()["field"] == "origins"


def test_refused_changes(make_server):
    s, a, cred = signed_in(make_server)
    # No token.
    r = requests.post(s.base + "/v1/admin/services", json=SHOP, timeout=10)
    assert r.status_code == 401
    # The cookie without the CSRF token.
    cookie = a.login_response.headers["Set-Cookie"].split(";")[0]
    r = requests.post(s.base + "/v1/admin/services", json=SHOP,
                      headers={"Cookie": cookie}, timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    # A failed step-up keeps the change; the retry makes it.
    start = a.send("POST", "/v1/admin/services", SHOP)
    r = a.finish(start, FINISH, flags=0x01)  # user verification off
    assert r.status_code == 401 and r.json()["retryId"] == \
        start.json()["stepupId"]
    uv = a.auth.get(r.json()["uvOptions"])
    r = a.post(FINISH, {"stepupId": start.json()["stepupId"],
                        "uvResponse": uv})
    assert r.status_code == 201, r.text
    # Used once.
    r = a.post(FINISH, {"stepupId": start.json()["stepupId"],
                        "uvResponse": uv})
    assert r.status_code == 401 and r.json()["error"] == "challenge_invalid"
    # Another session cannot finish this session's change.
    other = Admin(s)
    other.auth = a.auth
    assert other.login().status_code == 200
    start = a.send("DELETE", "/v1/admin/services/shop")
    r = other.finish(start, FINISH)
    assert r.status_code == 403
    assert a.get("/v1/admin/services/shop").status_code == 200
    # A step-up started for a passkey revocation finishes no service change.
    st = a.post("/v1/admin/passkeys/revoke/start",
                {"credentialId": b64u(cred.id)}).json()
    r = a.post(FINISH, {"stepupId": st["revocationId"],
                        "uvResponse": a.auth.get(st["uvOptions"])})
    assert r.status_code == 403
    # A record changed between start and finish is not overwritten.
    stale = a.send("PATCH", "/v1/admin/services/shop", {"name": "Stale"})
    r = a.change("PATCH", "/v1/admin/services/shop", {"name": "Fresh"},
                 FINISH)
    assert r.status_code == 200
    r = a.finish(stale, FINISH)
    assert r.status_code == 409
    assert a.get("/v1/admin/services/shop").json()["name"] == "Fresh"
    assert any(e["event"] == "admin.service_change_refused"
               for e in audit_events(s))


def test_a_service_created_on_one_server_is_used_by_another(make_server):
    inbox = PushInbox()
    try:
        s, a, _ = signed_in(make_server,
                            env={"SEALAUTH_PUSH_ALLOW_PRIVATE": "1"})
        # A second server on the same database (and data directory).
        b = make_server(data_dir=s.data_dir,
                        env={"SEALAUTH_PUSH_ALLOW_PRIVATE": "1",
                             "SEALAUTH_RATE_LIMITS": s.env[
                                 "SEALAUTH_RATE_LIMITS"]}).start()
        enrolled_phone(s, inbox, token_id="DE-777")
        r = initiate(b, "DE-777", service="shop")
        assert r.status_code == 422 and "unknown service" in r.text
        r = a.change("POST", "/v1/admin/services", SHOP, FINISH)
        assert r.status_code == 201, r.text
        done = time.monotonic()
        while True:
            r = initiate(b, "DE-777", service="shop")
            if r.status_code == 200 or time.monotonic() - done > 1.0:
                break
            time.sleep(0.05)
        assert r.status_code == 200, r.text
        assert time.monotonic() - done <= 1.0
    finally:
        inbox.close()


def saml_record(service_id, entity_id):
    return {"serviceId": service_id, "name": service_id.title(),
            "scopes": ["identity:name"], "enabled": True,
            "saml": {"entityId": entity_id,
                     "acs": [{"url": f"https://{service_id}.example/acs",
                              "index": 0}]}}


def test_one_saml_entity_id_is_one_service(make_server):
    """An SP is found by its entity id, so no two records may share one:
    refused at the start and again at the finish (two changes started
    before either finished), the record itself may be saved again, and the
    refusal names the service that has it."""
    s, a, _ = signed_in(make_server)
    r = a.change("POST", "/v1/admin/services",
                 saml_record("wiki", "https://sp.example/md"), FINISH)
    assert r.status_code == 201, r.text
    # A second record with the same entity id, and an existing record
    # given it by a change, are refused when the change starts.
    r = a.send("POST", "/v1/admin/services",
               saml_record("wiki2", "https://sp.example/md"))
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "conflict"
    assert r.json()["field"] == "saml.entityId"
    assert '"wiki"' in r.json()["message"]
    r = a.change("POST", "/v1/admin/services", SHOP, FINISH)
    assert r.status_code == 201, r.text
    r = a.send("PATCH", "/v1/admin/services/shop",
               {"saml": saml_record("shop", "https://sp.example/md")["saml"]})
    assert r.status_code == 409 and r.json()["field"] == "saml.entityId", r.text
    # The owner may be changed and saved with its own entity id.
    r = a.change("PATCH", "/v1/admin/services/wiki", {"name": "Wiki 2"},
                 FINISH)
    assert r.status_code == 200, r.text
    # Two changes started before either finished: the second finish is
    # refused and stores nothing.
    first = a.send("POST", "/v1/admin/services",
                   saml_record("blog", "https://blog.example/md"))
    second = a.send("POST", "/v1/admin/services",
                    saml_record("blog2", "https://blog.example/md"))
    assert first.status_code == 202 and second.status_code == 202
    assert a.finish(first, FINISH).status_code == 201
    r = a.finish(second, FINISH)
    assert r.status_code == 409, r.text
    assert '"blog"' in r.json()["message"]
    assert a.get("/v1/admin/services/blog2").status_code == 404
    assert a.get("/v1/admin/services/shop").json().get("saml") is None
