"""Hostile input from outside, the cases a probe found handled (issue 13):
JSON bodies, request paths and WebSocket frames an attacker crafts by hand.
Each must be answered cleanly — a 4xx with the JSON error shape naming the
field where there is one, or a WebSocket close with the right code — and
the server must go on serving real requests afterwards."""
import json
import os
import socket
import struct

import pytest
import requests

from test_login import LOGIN_ENV
from rawws import open_raw

ERROR_KEYS = {"error", "message"}


@pytest.fixture
def hostile(make_server):
    return make_server(env=dict(LOGIN_ENV, SEALAUTH_RATE_LIMITS=
                                LOGIN_ENV["SEALAUTH_RATE_LIMITS"] +
                                ",default=100000/60,test=100000/60")).start()


def still_serving(s):
    """The server answers a real request: health and a login start."""
    assert requests.get(s.base + "/health", timeout=5).status_code == 200
    r = requests.post(s.base + "/auth/initiate", timeout=10,
                      json={"tokenId": "DE-0000001", "serviceId": "demo",
                            "scopes": ["identity:name"]})
    assert r.status_code == 200, r.text


def post_raw(s, path, data, ctype="application/json"):
    return requests.post(s.base + path, data=data, timeout=10,
                         headers={"Content-Type": ctype})


def clean_error(r, status, field=None, error=None):
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert ERROR_KEYS <= set(body), body
    if field is not None:
        assert body.get("field") == field, body
    if error is not None:
        assert body["error"] == error, body
    return body


INITIATE = {"tokenId": "DE-0000001", "serviceId": "demo",
            "scopes": ["identity:name"]}


def with_(**kw):
    b = dict(INITIATE)
    b.update(kw)
    return json.dumps(b).encode()


# ---- Bodies ----------------------------------------------------------------

BODIES = [
    # Deep nesting, as an object member and as the whole body.
    ("deep array", b'{"tokenId": ' + b"[" * 20000 + b"]" * 20000 + b"}",
     400, None),
    ("deep object", b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, None),
    # Numbers no integer holds, where an integer or a string is expected.
    ("huge exponent", with_()[:-1] + b', "timestamp": 1e400}', 400, None),
    ("huge integer as token", b'{"tokenId": ' + b"9" * 5000 +
     b', "serviceId": "demo", "scopes": []}', 400, None),
    # Duplicate keys: which one wins would differ between us and a proxy.
    ("duplicate keys", b'{"tokenId": "DE-1", "tokenId": "DE-2", '
     b'"serviceId": "demo", "scopes": []}', 400, "bad_json"),
    # Wrong types, each named.
    ("token as number", with_(tokenId=5), 400, "validation"),
    ("scopes as string", with_(scopes="identity:name"), 400, "validation"),
    ("scope as number", with_(scopes=[1]), 400, "validation"),
    ("service as null", with_(serviceId=None), 400, "validation"),
    ("body as array", b'["tokenId"]', 400, None),
    ("body as string", b'"tokenId"', 400, None),
    # NUL inside a string, escaped and raw.
    ("escaped NUL", with_(tokenId="DE-1\u0000x"), 400, None),
    ("raw NUL", b'{"tokenId": "DE-1\x00x", "serviceId": "demo", '
     b'"scopes": []}', 400, "bad_json"),
    # Invalid UTF-8: a lone continuation byte, an overlong slash, a
    # surrogate encoded directly.
    ("lone continuation", b'{"tokenId": "DE-\x80", "serviceId": "demo", '
     b'"scopes": []}', 400, "bad_json"),
    ("overlong slash", b'{"tokenId": "DE-\xc0\xaf", "serviceId": "demo", '
     b'"scopes": []}', 400, "bad_json"),
    ("encoded surrogate", b'{"tokenId": "DE-\xed\xa0\x80", '
     b'"serviceId": "demo", "scopes": []}', 400, "bad_json"),
    ("lone escaped surrogate", with_()[:-1] + b', "x": "\\ud800"}', 400,
     None),
    # Unknown members and an empty body.
    ("unknown member", with_()[:-1] + b', "admin": true}', 400,
     "validation"),
    ("empty body", b"", 400, None),
    ("only whitespace", b"   \n", 400, None),
]


@pytest.mark.parametrize("name,data,status,error", BODIES,
                         ids=[b[0] for b in BODIES])
def test_hostile_bodies_to_initiate(hostile, name, data, status, error):
    clean_error(post_raw(hostile, "/auth/initiate", data), status,
                error=error)
    still_serving(hostile)


def test_hostile_bodies_name_the_field(hostile):
    s = hostile
    clean_error(post_raw(s, "/auth/initiate", with_(tokenId=5)), 400,
                field="tokenId")
    clean_error(post_raw(s, "/auth/initiate", with_(scopes=[1])), 400,
                field="scopes[0]")
    clean_error(post_raw(s, "/auth/initiate", with_(tokenId="DE\u00001")),
                400, error="bad_json")
    verify = {"sessionId": "sess_" + "A" * 22, "tokenId": "DE-1",
              "otp": "123456", "timestamp": 1, "decision": "approve",
              "grantedScopes": [], "signature": "QUJDREVGR0hJSktMTU5PUA=="}
    # A number too big for any integer is refused by the parser itself.
    body = dict(verify, timestamp=10 ** 30)
    clean_error(post_raw(s, "/auth/verify", json.dumps(body).encode()), 400,
                error="bad_json")
    for k, v, field in (("timestamp", 2 ** 62, "timestamp"),
                        ("timestamp", 1.5, "timestamp"),
                        ("timestamp", "1", "timestamp"),
                        ("otp", "12345a", "otp"),
                        ("decision", "maybe", "decision"),
                        ("signature", "!!!!" * 8, "signature"),
                        ("sessionId", "sess_../../../etc/pass", "sessionId")):
        body = dict(verify)
        body[k] = v
        clean_error(post_raw(s, "/auth/verify", json.dumps(body).encode()),
                    400, field=field)
    # /enroll: a seal that is an object, a key that is a number.
    clean_error(post_raw(s, "/enroll", json.dumps(
        {"vdsData": {"a": 1}, "publicKeyPem": "x",
         "deviceId": "d"}).encode()), 400, field="vdsData")
    still_serving(s)


def test_content_type_lies(hostile):
    s = hostile
    clean_error(post_raw(s, "/auth/initiate", with_(), "text/plain"), 415,
                field="Content-Type")
    clean_error(post_raw(s, "/auth/initiate", with_(),
                         "application/json; charset=utf-16"), 415)
    clean_error(post_raw(s, "/auth/initiate", b"\xff\xfe{\x00}\x00"), 400)
    still_serving(s)


# ---- Paths -----------------------------------------------------------------

def raw_request(s, target, method="GET", extra=b""):
    """Sends a request line exactly as given (no client normalisation) and
    returns (status, headers text, body bytes)."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.sendall(method.encode() + b" " + target + b" HTTP/1.1\r\n"
                     b"Host: 127.0.0.1\r\nConnection: close\r\n" + extra +
                     b"\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") \
        else 0
    return status, head.decode("latin1"), body


SECRET_PATHS = [
    b"/../../../../etc/passwd",
    b"/static/../../../../etc/passwd",
    b"/static/..%2f..%2f..%2fetc%2fpasswd",
    b"/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    b"/static/%252e%252e%252fetc%252fpasswd",
    b"/static/..%5c..%5cetc%5cpasswd",
    b"/static/app.js/../../otp-secret",
    b"/static/%2fetc%2fpasswd",
    b"//etc/passwd",
    b"/static//etc/passwd",
    b"/static/.%2e/keys",
    b"/ws/session/..%2f..%2fhealth",
    b"/auth/initiate/../../static/app.js",
]


@pytest.mark.parametrize("target", SECRET_PATHS,
                         ids=[p.decode() for p in SECRET_PATHS])
def test_traversal_paths_reach_nothing(hostile, target):
    s = hostile
    status, head, body = raw_request(s, target)
    assert status in (400, 404, 405), (status, head)
    assert b"root:" not in body
    # Nothing from the data directory leaks either.
    with open(os.path.join(s.data_dir, "otp-secret"), "rb") as f:
        assert f.read() not in body
    assert b"PRIVATE KEY" not in body
    if status != 405:
        assert json.loads(body)["error"] in ("not_found", "bad_request")
    still_serving(s)


def test_overlong_and_odd_paths(hostile):
    s = hostile
    for target in (b"/" + b"a" * 100000,
                   b"/static/" + b"%41" * 20000,
                   b"/health?" + b"x=1&" * 20000):
        status, head, _ = raw_request(s, target)
        # Refused or not found; never a 5xx, never a hang.
        assert 400 <= status < 500 or status == 0, (status, head[:200])
    for target in (b"/%", b"/%zz", b"/static/%e9t%e9.js", b"/\xff\xfe",
                   b"*"):
        status, head, _ = raw_request(s, target)
        assert 400 <= status < 500, (target, status, head[:200])
    still_serving(s)


# ---- WebSocket frames ------------------------------------------------------

def ws_open(s, path="/test/ws"):
    return open_raw(s.port, path)


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = b"\x11\x22\x33\x44"
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def close_code(sock, pending=b""):
    """Reads server frames until its close frame; returns the close code
    (None when the connection ended without one)."""
    buf = pending
    while True:
        while len(buf) >= 2:
            op = buf[0] & 0x0F
            n = buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = struct.unpack("!H", buf[2:4])[0]
                off = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n = struct.unpack("!Q", buf[2:10])[0]
                off = 10
            assert not buf[1] & 0x80, "the server masked a frame"
            if len(buf) < off + n:
                break
            payload = buf[off:off + n]
            buf = buf[off + n:]
            if op == 0x8:
                return struct.unpack("!H", payload[:2])[0] if n >= 2 else None
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no close from the server within 10 s")
        if not chunk:
            return None
        buf += chunk


# For a broken control frame the server fails the connection: a 1002 close
# frame, or the TCP connection closed at once (None); both end it cleanly.
FAIL = (1002, None)

FRAMES = [
    ("reserved opcode 0x3", [frame(0x3, b"x")], 1002),
    ("reserved control opcode 0xB", [frame(0xB, b"x")], 1002),
    ("unmasked client frame", [frame(0x1, b"hello", mask=False)], 1002),
    ("reserved bits set", [frame(0x1, b"hello", rsv=4)], 1002),
    ("fragmented ping", [frame(0x9, b"x", fin=False)], FAIL),
    ("fragmented close", [frame(0x8, b"\x03\xe8", fin=False)], FAIL),
    ("control payload over 125", [frame(0x9, b"p" * 126)], FAIL),
    ("continuation with nothing to continue", [frame(0x0, b"x")], 1002),
    ("new text inside a fragmented one",
     [frame(0x1, b"a", fin=False), frame(0x1, b"b")], 1002),
    ("invalid UTF-8 text", [frame(0x1, b"\xff\xfe")], 1007),
    ("binary message", [frame(0x2, b"\x00\x01")], 1003),
    ("oversized message", [frame(0x1, b"y" * 5000)], 1009),
    ("oversized in fragments",
     [frame(0x1, b"y" * 3000, fin=False), frame(0x0, b"y" * 3000)], 1009),
    ("close with a reserved code", [frame(0x8, struct.pack("!H", 1005))],
     1002),
    ("close with a one-byte payload", [frame(0x8, b"\x03")], FAIL),
]


@pytest.mark.parametrize("name,frames,code", FRAMES,
                         ids=[f[0] for f in FRAMES])
def test_hostile_websocket_frames(hostile, name, frames, code):
    s = hostile
    sock, pending = ws_open(s)
    try:
        for f in frames:
            sock.sendall(f)
        got = close_code(sock, pending)
        assert got in code if isinstance(code, tuple) else got == code
    finally:
        sock.close()
    still_serving(s)


def test_hostile_frames_on_a_login_session_socket(hostile):
    """The same on the production route: a session's WebSocket closes with
    1002 on a bad frame and the login itself goes on."""
    s = hostile
    r = requests.post(s.base + "/auth/initiate", json=INITIATE, timeout=10)
    sess = r.json()
    sock, pending = ws_open(s, f"/ws/session/{sess['sessionId']}"
                               f"?token={sess['wsToken']}")
    try:
        sock.sendall(frame(0x1, b"x", mask=False))
        assert close_code(sock, pending) == 1002
    finally:
        sock.close()
    sock, pending = ws_open(s, f"/ws/session/{sess['sessionId']}"
                               f"?token={sess['wsToken']}")
    sock.close()
    still_serving(s)
