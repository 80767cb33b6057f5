"""The WebSocket layer through the real server, with a real client."""
import asyncio
import json
import socket
import time

import pytest
import websockets
from rawws import open_raw, read_frame


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def ws_url(server, path="/test/ws"):
    return f"ws://127.0.0.1:{server.port}{path}"


def test_echo_and_server_close_code(server):
    async def go():
        async with websockets.connect(ws_url(server), origin=server.base) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send("x" * 3000)
            assert await ws.recv() == "x" * 3000
            await ws.send("close:4009")
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value.code
    assert run(go()) == 4009


def test_foreign_origin_is_refused(server):
    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with websockets.connect(ws_url(server),
                                          origin="https://evil.example"):
                pass
        return e.value.status_code
    assert run(go()) == 403
    # The refusal is a security event.
    out = server.cli("audit", "tail", "-n", "50", "--json").stdout
    assert "ws.origin_refused" in out


def test_route_can_refuse_before_upgrade(server):
    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with websockets.connect(ws_url(server, "/test/ws?refuse=1")):
                pass
        return e.value.status_code
    assert run(go()) == 403


def raw_handshake(server, headers, target="/test/ws"):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    req = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(req.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode("latin1")


def test_handshake_checks(server):
    base = {"Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13"}
    ok = raw_handshake(server, base)
    assert ok.startswith("HTTP/1.1 101")
    # RFC 6455's own example key and accept value.
    assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in ok
    v8 = dict(base, **{"Sec-WebSocket-Version": "8"})
    r = raw_handshake(server, v8)
    assert r.startswith("HTTP/1.1 426")
    assert "Sec-WebSocket-Version: 13" in r
    badkey = dict(base, **{"Sec-WebSocket-Key": "short"})
    assert raw_handshake(server, badkey).startswith("HTTP/1.1 400")
    noup = {k: v for k, v in base.items() if k != "Upgrade"}
    assert raw_handshake(server, noup).startswith("HTTP/1.1 400")


def test_many_connections_and_ids(server):
    async def go():
        conns = [await websockets.connect(ws_url(server)) for _ in range(50)]
        ids = set()
        for c in conns:
            await c.send("id")
            ids.add(await c.recv())
        for c in conns:
            await c.close()
        return ids
    ids = run(go())
    assert len(ids) == 50


def test_idle_connection_is_pinged_then_closed(make_server):
    s = make_server(env={"SEALAUTH_WS_IDLE_TIMEOUT": "5"}).start()
    sock, buf = open_raw(s.port)
    t0 = time.monotonic()
    # Silent for one idle period: the server sends a ping (opcode 9).
    op, payload, buf = read_frame(sock, buf, 10)
    t_ping = time.monotonic() - t0
    assert op == 0x9, f"expected a ping, got opcode {op}"
    assert 4.5 <= t_ping <= 8, t_ping
    # No pong (a client library would answer by itself; this socket does
    # not) for another period: a close frame (opcode 8) with 1001.
    op, payload, buf = read_frame(sock, buf, 10)
    assert op == 0x8, f"expected a close, got opcode {op}"
    assert int.from_bytes(payload[:2], "big") == 1001
    assert time.monotonic() - t0 - t_ping >= 4.5
    sock.close()


def test_oversized_message_closes_1009(server):
    async def go():
        async with websockets.connect(ws_url(server), max_size=None) as ws:
            await ws.send("y" * 5000)  # SEALAUTH_WS_MAX_MESSAGE is 4096
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            return e.value.code
    assert run(go()) == 1009


def upgrade_lines(server, path):
    """The access log lines of the 101 answers for path."""
    return [l for l in server.log_lines()
            if l.get("event") == "http.request" and l.get("status") == 101
            and l.get("path") == path]


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13"}


def raw_upgrade(server, target, extra=None):
    """A plain upgrade request on a fresh socket; the status line."""
    head = raw_handshake(server, dict(UPGRADE, **(extra or {})), target)
    return head.split("\r\n", 1)[0]


def test_upgrade_that_arrives_whole_is_answered_by_the_accept_thread(server):
    # A real client's upgrade is in the socket when it is accepted: the
    # accept thread answers it (the access log line says "early") and the
    # socket works as any other.
    async def go():
        async with websockets.connect(ws_url(server), origin=server.base) as ws:
            await ws.send("hello")
            return await ws.recv()
    assert run(go()) == "hello"
    lines = upgrade_lines(server, "/test/ws")
    assert lines and lines[-1].get("early") is True, lines[-3:]
    # RFC 6455's example key gets its accept value on this path too.
    head = raw_handshake(server, UPGRADE)
    assert head.startswith("HTTP/1.1 101 ")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head
    assert "X-Request-Id: " in head


@pytest.mark.parametrize("target, extra", [
    # Forwarded for a client: the client's address comes from the header.
    ("/test/ws", {"X-Forwarded-For": "192.0.2.7"}),
    # A percent-escape: libmicrohttpd decodes it.
    ("/test/ws?x=a%20b", None),
    # A header value outside printable ASCII.
    ("/test/ws", {"X-Note": "caf\u00e9"}),
])
def test_upgrades_the_accept_thread_declines_still_work(server, target,
                                                        extra):
    before = len(upgrade_lines(server, "/test/ws"))
    assert raw_upgrade(server, target, extra).startswith("HTTP/1.1 101 ")
    # libmicrohttpd logs an upgrade once it has handed the socket over,
    # which may be just after the client has its answer.
    deadline = time.monotonic() + 5
    while (len(upgrade_lines(server, "/test/ws")) == before
           and time.monotonic() < deadline):
        time.sleep(0.05)
    lines = upgrade_lines(server, "/test/ws")
    assert len(lines) == before + 1
    assert "early" not in lines[-1], lines[-1]


def test_ws_rate_limit_is_counted_once_and_its_refusal_audited_once(
        make_server):
    # Upgrades the accept thread takes count against the route's limit
    # once each; a refused one is declined to libmicrohttpd, which answers
    # 429, and the window's first refusal is audited exactly once.
    server = make_server(env={"SEALAUTH_RATE_LIMITS": "ws=3/60"}).start()
    codes = [raw_upgrade(server, "/test/ws").split(" ")[1] for _ in range(6)]
    assert codes == ["101"] * 3 + ["429"] * 3
    assert all(l.get("early") is True
               for l in upgrade_lines(server, "/test/ws"))
    refused = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = server.cli("audit", "tail", "--json", "-n", "100").stdout
        refused = [r for r in map(json.loads, filter(str.strip,
                                                     out.splitlines()))
                   if r["event"] == "ratelimit.refused"]
        if refused:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    out = server.cli("audit", "tail", "--json", "-n", "100").stdout
    refused = [r for r in map(json.loads, filter(str.strip, out.splitlines()))
               if r["event"] == "ratelimit.refused"]
    assert len(refused) == 1, refused
    assert refused[0]["ip"] == "127.0.0.1"


def test_an_upgrade_the_route_refuses_counts_once(make_server):
    # The accept thread asks the route before the rate limit: an upgrade
    # the route refuses goes to libmicrohttpd uncounted, and is counted
    # there once (it used to count on both paths).
    server = make_server(env={"SEALAUTH_RATE_LIMITS": "ws=3/60"}).start()
    codes = [raw_upgrade(server, "/test/ws?refuse=1").split(" ")[1]
             for _ in range(2)]
    codes += [raw_upgrade(server, "/test/ws").split(" ")[1] for _ in range(2)]
    assert codes == ["403", "403", "101", "429"]


def test_upgrade_beyond_the_websocket_limit_is_answered_503(make_server):
    # The accept thread writes no 101 before the WebSocket loop has taken
    # the socket: an upgrade over SEALAUTH_WS_MAX_CONNECTIONS gets a 503
    # with a Retry-After instead of a 101 and a dropped socket.
    server = make_server(env={"SEALAUTH_RATE_LIMITS": "ws=1000/60",
                              "SEALAUTH_WS_MAX_CONNECTIONS": "1"}).start()

    async def go():
        async with websockets.connect(ws_url(server), origin=server.base) as ws:
            await ws.send("held")
            assert await ws.recv() == "held"
            head = await asyncio.to_thread(raw_handshake, server, UPGRADE)
            # The first socket is untouched.
            await ws.send("still")
            return head, await ws.recv()
    head, echo = run(go())
    assert head.startswith("HTTP/1.1 503 "), head
    assert "Retry-After: 1\r\n" in head
    assert echo == "still"
    lines = [l for l in server.log_lines()
             if l.get("event") == "http.request" and l.get("status") == 503
             and l.get("path") == "/test/ws"]
    assert len(lines) == 1 and lines[0].get("early") is True, lines
    # Once the first has closed (the loop sees it a moment later), an
    # upgrade gets its 101 again.
    deadline = time.monotonic() + 5
    status = raw_upgrade(server, "/test/ws")
    while not status.startswith("HTTP/1.1 101 ") and time.monotonic() < deadline:
        time.sleep(0.1)
        status = raw_upgrade(server, "/test/ws")
    assert status.startswith("HTTP/1.1 101 "), status
