"""`sealauth services list|show|delete`: the relying-party registry from the
server's host, for deployments without admins. A deletion is audited and
reaches a running server within a second; a record a services file no
longer lists can be removed, so a renamed SAML service starts again."""
import json
import time

import requests

from conftest import BIN, free_port

ACS = {"url": "https://sp.example/acs", "index": 0}
WIKI = {"name": "Wiki", "scopes": ["identity:name"],
        "saml": {"entityId": "https://sp.example/md", "acs": [ACS]}}
SHOP = {"serviceId": "shop", "name": "Shop", "scopes": ["identity:name"],
        "origins": ["https://shop.example"]}


def write_services(path, *entries):
    path.write_text(json.dumps({"services": list(entries)}))


def audit_events(server):
    out = server.cli("audit", "tail", "--json", "-n", "200").stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def initiate(server, service):
    return requests.post(server.base + "/auth/initiate", timeout=10,
                         json={"tokenId": "DE-0000001", "serviceId": service,
                               "scopes": ["identity:name"]})


def test_list_show_and_delete_with_the_server_running(make_server, tmp_path):
    path = tmp_path / "services.json"
    write_services(path, dict(WIKI, serviceId="wiki"), SHOP)
    # The poll below starts logins until the deletion shows: without the
    # per-IP and per-token-id limits (the pending logins and the pushes a
    # stranger's browser may cause, three each), a slow poll cannot end in
    # a 429.
    s = make_server(env={"SEALAUTH_SERVICES_FILE": str(path),
                         "SEALAUTH_RATE_LIMITS":
                             "initiate=0/60,pending=0/60,push=0/60"}).start()

    r = s.cli("services", "list")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "STATE", "MODE", "PROTOCOLS",
                                "NAME"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert set(rows) == {"shop", "wiki"}, r.stdout
    assert rows["wiki"][1:4] == ["enabled", "compare", "jwt,saml"]
    assert rows["shop"][3] == "jwt"

    listed = json.loads(s.cli("services", "list", "--json").stdout)
    assert [x["serviceId"] for x in listed["services"]] == ["shop", "wiki"]
    shown = json.loads(s.cli("services", "show", "wiki").stdout)
    assert shown["saml"]["entityId"] == "https://sp.example/md"
    assert shown == listed["services"][1]

    assert initiate(s, "shop").status_code == 200
    r = s.cli("services", "delete", "shop")
    assert "deleted service shop" in r.stdout
    # The file still lists it: the command says it comes back otherwise.
    assert str(path) in r.stdout
    # The running server polls the registry's version.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = initiate(s, "shop")
        if r.status_code != 200:
            break
        time.sleep(0.1)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "serviceId"
    rows = [e for e in audit_events(s)
            if e["event"] == "admin.service_deleted"]
    assert rows and rows[-1]["detail"]["serviceId"] == "shop", rows
    assert "local access" in rows[-1]["detail"]["by"]

    # Nothing to delete, or no such record to show: exit 1, the id named.
    for verb in ("delete", "show"):
        r = s.cli("services", verb, "shop", check=False)
        assert r.returncode == 1
        assert "no service shop" in r.stderr
    assert len([e for e in audit_events(s)
                if e["event"] == "admin.service_deleted"]) == len(rows)


def test_renamed_saml_service_starts_after_the_old_record_goes(make_server,
                                                               tmp_path):
    path = tmp_path / "services.json"
    write_services(path, dict(WIKI, serviceId="wiki"))
    s = make_server(env={"SEALAUTH_SERVICES_FILE": str(path)}).start()
    s.stop()
    # Renamed in the file: the old record keeps the entity id, so the
    # start is refused with a message naming it.
    write_services(path, dict(WIKI, serviceId="wiki2"))
    try:
        s.start()
        raise AssertionError("the server started with the entity id twice")
    except RuntimeError as e:
        assert 'already the entity id of service "wiki"' in str(e)
    s.cli("services", "delete", "wiki")
    s.start()
    listed = json.loads(s.cli("services", "list", "--json").stdout)
    assert [x["serviceId"] for x in listed["services"]] == ["wiki2"]


def test_usage_errors_and_a_missing_database(make_server, tmp_path):
    s = make_server()
    for args, says in ((("services",), "list, show or delete?"),
                       (("services", "frob"), "unknown action frob"),
                       (("services", "show"), "missing SERVICE_ID"),
                       (("services", "delete", "a", "b"),
                        'unexpected argument "b"'),
                       (("services", "show", "a", "--json"),
                        "--json goes with list")):
        r = s.cli(*args, check=False)
        assert r.returncode == 2, (args, r.stderr)
        assert says in r.stderr, (args, r.stderr)
    # Never on a database that is not there: nothing is created.
    r = s.cli("services", "list", "--data-dir", str(tmp_path / "none"),
              check=False)
    assert r.returncode == 1
    assert not (tmp_path / "none" / "sealauth.db").exists()
