"""The HTTP foundation through the real binary: headers, errors,
validation, CORS, client addresses, keep-alive and rate limits."""
import http.client
import json

import requests

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def post(server, path, body, headers=None, raw=None):
    h = {"Content-Type": "application/json"}
    if headers:
        h.update(headers)
    data = raw if raw is not None else json.dumps(body)
    return requests.post(server.base + path, data=data, headers=h, timeout=10)


def test_health_reports_stores_and_security_headers(server):
    r = requests.get(server.base + "/health", timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["database"]["backend"] == "sqlite"
    assert body["checks"]["sessions"]["status"] == "ok"
    assert body["checks"]["sessions"]["backend"] == "mem"
    assert "trust" in body["checks"]
    assert isinstance(body["uptimeSeconds"], int)
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert len(r.headers["X-Request-Id"]) >= 16
    assert r.headers["Cache-Control"] == "no-store"


def test_unknown_route_and_wrong_method_are_json_errors(server):
    r = requests.get(server.base + "/nope", timeout=5)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert r.headers["X-Frame-Options"] == "DENY"
    r = requests.get(server.base + "/test/echo", timeout=5)
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    assert "POST" in r.headers["Allow"]


def test_valid_body_is_echoed(server):
    r = post(server, "/test/echo", {"name": "alice", "count": 3,
                                    "tags": ["a", "b"], "mode": "a"})
    assert r.status_code == 200, r.text
    assert r.json()["echo"] == {"name": "alice", "count": 3,
                                "tags": ["a", "b"], "mode": "a"}


def test_validation_names_the_field(server):
    cases = [
        ({"count": 1}, "name"),                         # missing required
        ({"name": "alice", "extra": 1}, "extra"),        # unknown field
        ({"name": 7}, "name"),                           # wrong type
        ({"name": "x" * 17}, "name"),                    # too long
        ({"name": "has space"}, "name"),                 # format
        ({"name": "a", "count": 11}, "count"),           # out of range
        ({"name": "a", "count": 1.5}, "count"),          # not an integer
        ({"name": "a", "tags": ["a", "a"]}, "tags[1]"),  # repeats item 0
        ({"name": "a", "tags": ["a", "b", "c", "d", "e"]}, "tags"),
        ({"name": "a", "tags": ["ok", "b d"]}, "tags[1]"),
        ({"name": "a", "mode": "c"}, "mode"),
        ({"name": "a", "pushEndpoint": "http://example.org/x"}, "pushEndpoint"),
    ]
    for body, field in cases:
        r = post(server, "/test/echo", body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()
        assert err["error"] == "validation", (body, err)
        assert err["field"] == field, (body, err)
        assert err["message"]


def test_at_most_one_push_target(server):
    r = post(server, "/test/echo", {"name": "a", "fcmToken": "t",
                                    "pushEndpoint": "https://push.example/x"})
    assert r.status_code == 400
    assert r.json()["error"] == "validation"


def test_body_parse_errors(server):
    r = post(server, "/test/echo", None, raw='{"name": "a",')
    assert r.status_code == 400 and r.json()["error"] == "bad_json"
    r = post(server, "/test/echo", None, raw='{"name": "a", "name": "b"}')
    assert r.status_code == 400 and r.json()["error"] == "bad_json"
    r = post(server, "/test/echo", None, raw='["name"]')
    assert r.status_code == 400
    r = post(server, "/test/echo", None, raw='{"name": "a"} trailing')
    assert r.status_code == 400 and r.json()["error"] == "bad_json"
    r = post(server, "/test/echo", {"name": "a"},
             headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["field"] == "Content-Type"
    r = post(server, "/test/echo", {"name": "a"},
             headers={"Content-Type": "application/json; charset=latin1"})
    assert r.status_code == 415
    r = post(server, "/test/echo", {"name": "a"},
             headers={"Content-Type": "application/json; charset=UTF-8"})
    assert r.status_code == 200


def test_body_over_limit_is_refused(server):
    big = json.dumps({"name": "a", "pad": "x" * 70000})
    r = post(server, "/test/echo", None, raw=big)
    assert r.status_code == 413
    assert r.json()["error"] == "body_too_large"
    # The server keeps serving.
    assert requests.get(server.base + "/health", timeout=5).status_code == 200


def test_chunked_body_over_limit_is_refused(server):
    def gen():
        yield b'{"name": "a", "pad": "'
        for _ in range(80):
            yield b"x" * 1000
        yield b'"}'
    r = requests.post(server.base + "/test/echo", data=gen(),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 413


def test_keep_alive_survives_several_requests(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for i in range(5):
            conn.request("GET", "/health")
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            assert r.getheader("Connection", "").lower() != "close"
            sock = conn.sock
            assert sock is not None
        body = json.dumps({"name": "keep"})
        for i in range(3):
            conn.request("POST", "/test/echo", body,
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            assert conn.sock is sock  # the same connection was reused
    finally:
        conn.close()


def test_rate_limit_gives_429_with_retry_after_and_one_audit_row(make_server):
    server = make_server(env={"SEALAUTH_RATE_LIMITS": "test=5/60"}).start()
    codes = []
    for _ in range(8):
        r = post(server, "/test/echo", {"name": "rl"})
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"] == "rate_limited"
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429] * 3
    out = server.cli("audit", "tail", "--json", "-n", "100").stdout
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    refused = [r for r in rows if r["event"] == "ratelimit.refused"]
    assert len(refused) == 1
    assert refused[0]["ip"] == "127.0.0.1"


def test_cors_only_for_configured_origins(make_server):
    s = make_server(env={"SEALAUTH_CORS_ORIGINS": "https://rp.example"}).start()
    ok = {"Origin": "https://rp.example"}
    r = post(s, "/test/echo", {"name": "c"}, headers=ok)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://rp.example"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    r = post(s, "/test/echo", {"name": "c"},
             headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    pre = requests.options(s.base + "/test/echo", headers={
        "Origin": "https://rp.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=5)
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://rp.example"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"]
    bad = requests.options(s.base + "/test/echo", headers={
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST"}, timeout=5)
    assert bad.status_code == 403
    assert "Access-Control-Allow-Origin" not in bad.headers
    # A route that is not cross-origin gets no CORS headers even for a
    # configured origin.
    r = requests.get(s.base + "/health", headers=ok, timeout=5)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_wildcard_cors_origin_is_refused_at_start(make_server):
    s = make_server(env={"SEALAUTH_CORS_ORIGINS": "*"})
    try:
        s.start(timeout=5)
        assert False, "server started with a wildcard CORS origin"
    except RuntimeError as e:
        assert "not allowed" in str(e)


def test_forwarded_for_only_from_trusted_proxies(make_server):
    plain = make_server().start()
    r = post(plain, "/test/echo", {"name": "x"},
             headers={"X-Forwarded-For": "203.0.113.7"})
    assert r.json()["ip"] == "127.0.0.1"
    plain.stop()
    proxied = make_server(env={"SEALAUTH_TRUSTED_PROXIES": "127.0.0.0/8"}).start()
    r = post(proxied, "/test/echo", {"name": "x"},
             headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    assert r.json()["ip"] == "203.0.113.7"
    # A client-written entry to the left of an untrusted hop is ignored.
    r = post(proxied, "/test/echo", {"name": "x"},
             headers={"X-Forwarded-For": "garbage, 203.0.113.9"})
    assert r.json()["ip"] == "203.0.113.9"


def test_access_log_lines_carry_the_request_id_and_no_query(server):
    r = requests.get(server.base + "/health?token=secret-value", timeout=5)
    rid = r.headers["X-Request-Id"]
    import time
    for _ in range(50):
        lines = [l for l in server.log_lines() if l.get("req") == rid]
        if lines:
            break
        time.sleep(0.05)
    assert lines, "no log line for the request"
    line = lines[0]
    assert line["event"] == "http.request"
    assert line["status"] == 200 and line["path"] == "/health"
    assert line["level"] == "info" and line["ts"].endswith("Z")
    # Query strings may carry tokens: they are never logged.
    assert "secret-value" not in server.read_log()


def test_a_second_server_cannot_take_the_same_port(server, tmp_path):
    import subprocess
    from conftest import BIN
    env = dict(server.env, SEALAUTH_DATA_DIR=str(tmp_path / "other"))
    r = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True,
                       timeout=20)
    assert r.returncode != 0
    assert "cannot listen" in r.stderr
    # The first one still answers.
    assert requests.get(server.base + "/health", timeout=5).status_code == 200
