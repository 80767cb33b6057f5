"""Hostile input over raw sockets: malformed and ambiguous HTTP, oversized
declarations answered at once, slow and many connections from one address,
and WebSocket frames that lie about their size.

Every loop here is bounded in count and time, and talks to loopback only.
"""
import base64
import os
import resource
import socket
import struct
import time

import pytest
import requests



def raw(server, data, timeout=5):
    """Sends data on a fresh connection and returns everything the server
    answers until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", server.port), timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and _complete(out):
                break
        return out


def _complete(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v)
    return False


def status(resp):
    line = resp.split(b"\r\n", 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def req(head_lines, body=b""):
    return ("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + body


BODY = b'{"name":"a"}'


@pytest.mark.parametrize("name,data", [
    ("duplicate Content-Length", req([
        "POST /test/echo HTTP/1.1", "Host: x", "Content-Type: application/json",
        f"Content-Length: {len(BODY)}", f"Content-Length: {len(BODY)}"], BODY)),
    ("differing Content-Length", req([
        "POST /test/echo HTTP/1.1", "Host: x", "Content-Type: application/json",
        f"Content-Length: {len(BODY)}", "Content-Length: 3"], BODY)),
    ("Content-Length list", req([
        "POST /test/echo HTTP/1.1", "Host: x", "Content-Type: application/json",
        f"Content-Length: {len(BODY)}, {len(BODY)}"], BODY)),
    ("Content-Length with Transfer-Encoding", req([
        "POST /test/echo HTTP/1.1", "Host: x", "Content-Type: application/json",
        f"Content-Length: {len(BODY) + 5}", "Transfer-Encoding: chunked"],
        b"c\r\n" + BODY + b"\r\n0\r\n\r\n")),
    ("missing Host", req(["GET /health HTTP/1.1"])),
    ("repeated Host", req(["GET /health HTTP/1.1", "Host: a", "Host: b"])),
    ("space in a header name", req([
        "GET /health HTTP/1.1", "Host: x", "X-Bad Name: 1"])),
    ("space before the colon", req([
        "GET /health HTTP/1.1", "Host: x", "Content-Length : 0"])),
    ("bare CR in a header value", req([
        "GET /health HTTP/1.1", "Host: x", "X-A: a\rb"])),
    ("bare CR in the Host value", req([
        "GET /health HTTP/1.1", "Host: x\ry"])),
    ("a control character in a header name", req([
        "GET /health HTTP/1.1", "Host: x", "X-\x01A: 1"])),
    ("%00 in the path", req(["GET /health%00.json HTTP/1.1", "Host: x"])),
    # Raw bytes libmicrohttpd 0.9.75 passes on: a NUL cuts its value or
    # path short, a bare LF ends its line; a proxy may read either way.
    ("NUL in a header value", req([
        "GET /health HTTP/1.1", "Host: x", "X-A: a\x00b"])),
    ("NUL in the Host value", req(["GET /health HTTP/1.1", "Host: x\x00y"])),
    ("bare LF inside a header value", req([
        "GET /health HTTP/1.1", "Host: x", "X-A: a\nX-B: b"])),
    ("bare LF hiding a header", req([
        "GET /health HTTP/1.1", "X-A: a\nHost: x"])),
    ("bare LF after a blank-padded value", req([
        "GET /health HTTP/1.1", "Host: x", "X-A: a  \nX-B: b"])),
    ("NUL in the path", req(["GET /health\x00x HTTP/1.1", "Host: x"])),
    ("NUL in the query", req(["GET /health?a=\x00 HTTP/1.1", "Host: x"])),
    ("bare LF ending the request line", req([
        "GET /health HTTP/1.1\nHost: x"])),
    ("%00 in a route parameter", req([
        "GET /ws/session/abc%00def HTTP/1.1", "Host: x"])),
])
def test_ambiguous_requests_are_refused_400(server, name, data):
    resp = raw(server, data)
    assert status(resp) == 400, f"{name}: {resp[:200]!r}"


def test_blank_padded_and_empty_values_still_pass(server):
    data = req(["GET /health HTTP/1.1", "Host: x", "X-A: a  \t",
                "X-Empty:", "X-Blank:   ", "Connection: close"])
    assert status(raw(server, data)) == 200


def test_what_libmicrohttpd_lets_through_for_the_proxy_to_refuse(server):
    """A tripwire for docs/threat-model.md: these are accepted as
    libmicrohttpd 0.9.75 parses them and must be refused in front. When
    one starts failing, the library refuses it: update the threat model."""
    # A folded line (obs-fold) is joined to its header's value.
    folded = req(["GET /health HTTP/1.1", "Host: x", "X-A: a", " b",
                  "Connection: close"])
    assert status(raw(server, folded)) == 200
    # The last header line and the blank line ended by bare LFs.
    last_lf = b"GET /health HTTP/1.1\r\nConnection: close\r\nHost: x\n\n"
    assert status(raw(server, last_lf)) == 200
    # A NUL right before a line's CRLF: the value seen is cut there.
    nul_end = req(["GET /health HTTP/1.1", "Host: x", "X-A: a\x00",
                   "Connection: close"])
    assert status(raw(server, nul_end)) == 200


def test_a_clean_request_still_passes(server):
    data = req(["POST /test/echo HTTP/1.1", "Host: x",
                "Content-Type: application/json",
                f"Content-Length: {len(BODY)}", "Connection: close"], BODY)
    assert status(raw(server, data)) == 200


def test_content_length_over_the_limit_is_413_at_once(server):
    # Only the headers are sent: the answer must not wait for a body of a
    # gigabyte that never comes.
    data = req(["POST /test/echo HTTP/1.1", "Host: x",
                "Content-Type: application/json",
                "Content-Length: 1000000000"])
    t0 = time.monotonic()
    resp = raw(server, data, timeout=5)
    assert status(resp) == 413, resp[:200]
    assert time.monotonic() - t0 < 2


def test_slow_headers_are_cut_at_the_deadline(make_server):
    s = make_server(env={"SEALAUTH_HEADER_TIMEOUT": "2",
                         "SEALAUTH_CONNECTION_TIMEOUT": "30"}).start()
    with socket.create_connection(("127.0.0.1", s.port), 5) as c:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        closed = False
        # One header byte a second keeps the idle timeout from firing;
        # only the header deadline ends it. Bounded to 8 s.
        while time.monotonic() - t0 < 8:
            try:
                c.sendall(b"X")
                c.settimeout(1)
                if c.recv(1024) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        assert closed, "a connection trickling its headers was kept"
        assert time.monotonic() - t0 < 5
    assert requests.get(s.base + "/health", timeout=5).status_code == 200


def test_busy_keep_alive_connections_are_never_cut(make_server):
    # A request that ended while the header sweeper walked the connections
    # could stamp a millisecond later than the clock the sweeper had read;
    # the difference wrapped and the busy connection was cut, its next
    # request unanswered (in benchmarks about one login in 300,000 failed
    # so). Here a thousand connections keep requests going for a few
    # seconds, each far within the deadline: the server must close none.
    # (The sweep is quick, so before the fix this caught the cut in about
    # one run of three; the unit test of http_header_overdue always does.)
    # Bounded: 6 s.
    import asyncio

    s = make_server(env={"SEALAUTH_HEADER_TIMEOUT": "5",
                         "SEALAUTH_PER_IP_CONNECTION_LIMIT": "0",
                         "SEALAUTH_LOG_LEVEL": "warn"}).start()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # As many as the server takes under the same hard limit (it keeps a
    # reserve: serve's fit_connections), a thousand at most.
    N_CONN = min(1000, hard - 128 - hard // 16 - 32)
    req = b"GET /jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    seen = {"answers": 0, "cut": 0, "stuck": 0}

    async def client(end):
        r, w = await asyncio.open_connection("127.0.0.1", s.port)
        try:
            while time.monotonic() < end:
                w.write(req)
                try:
                    head = await asyncio.wait_for(
                        r.readuntil(b"\r\n\r\n"), 10)
                    n = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            n = int(line.split(b":")[1])
                    await asyncio.wait_for(r.readexactly(n), 10)
                except (asyncio.IncompleteReadError, ConnectionError):
                    seen["cut"] += 1
                    return
                except asyncio.TimeoutError:
                    seen["stuck"] += 1
                    return
                seen["answers"] += 1
        finally:
            w.close()

    async def run():
        end = time.monotonic() + 6
        await asyncio.gather(*(client(end) for _ in range(N_CONN)))

    try:
        asyncio.run(run())
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert seen["cut"] == 0 and seen["stuck"] == 0, seen
    assert seen["answers"] > 4000, seen


def test_one_address_cannot_take_every_connection(make_server):
    # The per-address cap is low here so the test stays small; the server
    # must keep answering other clients (a second loopback address).
    s = make_server(env={"SEALAUTH_PER_IP_CONNECTION_LIMIT": "20",
                         "SEALAUTH_HEADER_TIMEOUT": "30"}).start()
    held = []
    try:
        for _ in range(60):
            c = socket.create_connection(("127.0.0.1", s.port), 5)
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # unfinished
            held.append(c)
        time.sleep(0.5)
        open_ = 0
        for c in held:
            c.settimeout(0.2)
            try:
                if c.recv(1) != b"":
                    open_ += 1
            except socket.timeout:
                open_ += 1
            except OSError:
                pass
        assert open_ <= 20, f"{open_} connections from one address kept"
        with socket.create_connection(("127.0.0.1", s.port), 5,
                                      source_address=("127.0.0.2", 0)) as c:
            c.sendall(req(["GET /health HTTP/1.1", "Host: x",
                           "Connection: close"]))
            c.settimeout(5)
            assert c.recv(12).startswith(b"HTTP/1.1 200")
    finally:
        for c in held:
            c.close()


def test_descriptor_limit_is_raised_and_the_connection_limit_fits(
        make_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2048:
        pytest.skip(f"the hard descriptor limit is only {hard}")

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    s = make_server()
    start_with(s, preexec_fn=lower)
    limits = open(f"/proc/{s.proc.pid}/limits").read()
    line = [l for l in limits.splitlines() if "Max open files" in l][0]
    assert int(line.split()[3]) == hard, line
    ready = [l for l in s.log_lines() if l.get("event") == "serve.ready"][0]
    assert 0 < ready["connectionLimit"] < hard


def start_with(server, **popen):
    """Server.start, with extra arguments for the process."""
    import subprocess
    real = subprocess.Popen

    def popen_with(*a, **kw):
        kw.update(popen)
        return real(*a, **kw)

    subprocess.Popen = popen_with
    try:
        server.start()
    finally:
        subprocess.Popen = real


def ws_handshake(server, path="/test/ws"):
    key = base64.b64encode(os.urandom(16)).decode()
    c = socket.create_connection(("127.0.0.1", server.port), 5)
    c.sendall(req([f"GET {path} HTTP/1.1", "Host: x", "Upgrade: websocket",
                   "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                   "Sec-WebSocket-Version: 13"]))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = c.recv(4096)
        assert chunk, "closed during the handshake"
        head += chunk
    assert status(head) == 101, head
    return c, head.partition(b"\r\n\r\n")[2]


def hold_websockets(server, n):
    """n open WebSockets. The connection of the server's start-up check
    (conftest) may still be counted for a moment after it closed, and an
    upgrade is answered as soon as it is accepted: one refused then is
    tried again, for 5 s at most."""
    held = []
    deadline = time.monotonic() + 5
    while len(held) < n:
        try:
            held.append(ws_handshake(server)[0])
        except (AssertionError, ConnectionResetError):
            if time.monotonic() > deadline:
                for c in held:
                    c.close()
                raise
            time.sleep(0.05)
    return held


def refused(c, path="/health"):
    """Whether the server ended a connection without answering."""
    c.settimeout(5)
    try:
        c.sendall(req([f"GET {path} HTTP/1.1", "Host: x",
                       "Connection: close"]))
        return c.recv(12) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def accepted_within(server, seconds):
    """Whether a new connection from 127.0.0.1 is served within seconds
    (a place is given back when a socket ends, a moment after it closes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", server.port), 5) as c:
            if not refused(c):
                return True
        time.sleep(0.05)
    return False


def test_websockets_count_toward_the_per_address_cap(make_server):
    # A WebSocket leaves libmicrohttpd right after its handshake (its
    # memory is freed then); it must still count against its address's
    # cap until it ends, as every connection does. Bounded: a few seconds.
    s = make_server(env={"SEALAUTH_PER_IP_CONNECTION_LIMIT": "4",
                         "SEALAUTH_RATE_LIMITS": "ws=0/60,default=0/60"}
                    ).start()
    held = hold_websockets(s, 4)
    try:
        with socket.create_connection(("127.0.0.1", s.port), 5) as c:
            # Sent at once, so it may already be in the socket when the
            # server refuses the connection: it must not be served either
            # way.
            assert refused(c, "/refused-probe"), \
                "a fifth connection from the address"
        time.sleep(0.2)
        served = [l for l in s.log_lines() if l.get("event") ==
                  "http.request" and l.get("path") == "/refused-probe"
                  and l.get("status", 0) > 0]
        assert served == [], served
        # Another address is not held back.
        with socket.create_connection(("127.0.0.1", s.port), 5,
                                      source_address=("127.0.0.2", 0)) as c:
            assert not refused(c)
        # Ending two WebSockets gives their places back.
        for c in held[:2]:
            c.close()
        assert accepted_within(s, 5), "places not given back"
        # And the sockets still open work: an echo comes back.
        c = held[2]
        c.sendall(bytes([0x81, 0x82]) + b"\x00\x00\x00\x00" + b"hi")
        c.settimeout(5)
        assert c.recv(16)[:4] == b"\x81\x02hi"
    finally:
        for c in held:
            c.close()


def test_websockets_count_toward_the_connection_limit(make_server):
    # The same for the server's connection limit: open WebSockets and HTTP
    # connections together stay within SEALAUTH_CONNECTION_LIMIT.
    s = make_server(env={"SEALAUTH_CONNECTION_LIMIT": "5",
                         "SEALAUTH_PER_IP_CONNECTION_LIMIT": "0",
                         "SEALAUTH_RATE_LIMITS": "ws=0/60,default=0/60"}
                    ).start()
    held = hold_websockets(s, 5)
    try:
        with socket.create_connection(("127.0.0.1", s.port), 5,
                                      source_address=("127.0.0.2", 0)) as c:
            assert refused(c), "a sixth connection to the server"
        held.pop().close()
        assert accepted_within(s, 5), "the place not given back"
    finally:
        for c in held:
            c.close()


def test_websocket_frame_declaring_too_much_is_closed_1009_at_once(server):
    c, extra = ws_handshake(server)
    with c:
        # A masked text frame header that declares 1 GB, and no payload.
        c.sendall(b"\x81\xff" + struct.pack(">Q", 1 << 30) + os.urandom(4))
        c.settimeout(3)
        data = extra
        t0 = time.monotonic()
        while len(data) < 4 and time.monotonic() - t0 < 3:
            chunk = c.recv(64)
            if not chunk:
                break
            data += chunk
        assert len(data) >= 4, "no close frame"
        assert data[0] == 0x88, data
        assert struct.unpack(">H", data[2:4])[0] == 1009
        assert time.monotonic() - t0 < 2


def server_cpu_s(pid):
    """User and system CPU seconds of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_websocket_rest_of_a_too_big_message_costs_no_cpu(server):
    """What follows a header declaring too much is read and dropped: a
    client that keeps sending (or just leaves bytes unread) after the 1009
    must not keep the server's loop busy until the close deadline, and its
    half-close ends the connection."""
    c, extra = ws_handshake(server)
    with c:
        c.sendall(b"\x81\xff" + struct.pack(">Q", 1 << 30) + os.urandom(4))
        c.settimeout(3)
        data = extra
        while len(data) < 4:
            chunk = c.recv(64)
            assert chunk, "closed before the close frame"
            data += chunk
        assert data[0] == 0x88 and struct.unpack(">H", data[2:4])[0] == 1009
        # Part of the payload the header announced, sent after the close.
        cpu0 = server_cpu_s(server.proc.pid)
        c.sendall(b"x" * 8192)
        time.sleep(1.0)
        assert server_cpu_s(server.proc.pid) - cpu0 < 0.3
        # The server has shut its side once the close frame was out.
        assert c.recv(4096) == b""
        c.shutdown(socket.SHUT_WR)
    assert requests.get(server.base + "/health", timeout=5).status_code == 200


def server_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_websocket_ping_flood_without_reading_is_held_back(server):
    """Every ping queues a pong: a client that sends pings and never reads
    them must find its writes stalled, not the server's memory growing with
    every byte it sends."""
    c, _ = ws_handshake(server)
    with c:
        frame = b"\x89\xfd" + os.urandom(4) + b"p" * 125
        blob = frame * 512
        rss0 = server_rss_kib(server.proc.pid)
        c.settimeout(0.5)
        sent, t0 = 0, time.monotonic()
        while sent < (64 << 20) and time.monotonic() - t0 < 10:
            try:
                sent += c.send(blob)
            except socket.timeout:
                break  # the server stopped reading: what we want
        grown = server_rss_kib(server.proc.pid) - rss0
        assert sent < (16 << 20), f"{sent} bytes of pings were taken"
        # The resident size says what it should only with the real
        # allocator (a sanitizer's maps shadow memory of its own).
        if "not restricted in this sanitizer build" not in server.read_log():
            assert grown < 16 * 1024, f"server grew {grown} KiB"
    assert requests.get(server.base + "/health", timeout=5).status_code == 200


def test_websocket_unmasked_and_reserved_bits_are_refused(server):
    for frame, code in ((b"\x81\x02hi", 1002),            # not masked
                        (b"\xc1\x82" + b"\0" * 4 + b"hi", 1002)):  # RSV1
        c, extra = ws_handshake(server)
        with c:
            c.sendall(frame)
            c.settimeout(3)
            data = extra
            while len(data) < 4:
                chunk = c.recv(64)
                if not chunk:
                    break
                data += chunk
            assert data[:1] == b"\x88", data
            assert struct.unpack(">H", data[2:4])[0] == code


@pytest.mark.parametrize("path,want", [
    ("/static/..%2f..%2f..%2fetc%2fpasswd", 404),
    ("/static/../../../etc/passwd", 404),
    ("/static/%2e%2e/app.js", 404),
    ("/" + "a" * 5000, 404),
])
def test_hostile_paths_are_refused(server, path, want):
    resp = raw(server, req([f"GET {path} HTTP/1.1", "Host: x",
                            "Connection: close"]))
    assert status(resp) == want, resp[:200]
    assert b"root:" not in resp


@pytest.mark.parametrize("body,want", [
    (b"[" * 5000 + b"]" * 5000, 400),           # nesting
    (b'{"name":"a","name":"b"}', 400),          # duplicate member
    (b'{"name":"\xff"}', 400),                  # not UTF-8
    (b'{"name":"a"} trailing', 400),
])
def test_hostile_bodies_are_refused(server, body, want):
    resp = raw(server, req(["POST /test/echo HTTP/1.1", "Host: x",
                            "Content-Type: application/json",
                            f"Content-Length: {len(body)}",
                            "Connection: close"], body))
    assert status(resp) == want, resp[:200]


def test_descriptor_exhaustion_backs_off_and_recovers(make_server):
    # The descriptor limit is cut under the running server, so accept
    # fails with EMFILE: the server backs off (logged once a second, not
    # spinning), and serves again once the connections are gone.
    s = make_server(env={"SEALAUTH_PER_IP_CONNECTION_LIMIT": "0"}).start()
    used = len(os.listdir(f"/proc/{s.proc.pid}/fd"))
    resource.prlimit(s.proc.pid, resource.RLIMIT_NOFILE,
                     (used + 8, used + 8))
    held = []
    try:
        for _ in range(40):
            c = socket.create_connection(("127.0.0.1", s.port), 5)
            held.append(c)
        deadline = time.monotonic() + 10
        while (time.monotonic() < deadline
               and "backing off" not in s.read_log()):
            time.sleep(0.1)
        assert "backing off" in s.read_log(), s.read_log()[-2000:]
    finally:
        for c in held:
            c.close()
    deadline = time.monotonic() + 15
    ok = False
    while time.monotonic() < deadline and not ok:
        try:
            ok = requests.get(s.base + "/health", timeout=2).status_code \
                == 200
        except requests.RequestException:
            time.sleep(0.2)
    assert ok, "the server did not recover"
    assert s.proc.poll() is None
