"""A WebSocket client on a plain socket, for tests that must see every
frame the server sends or must behave as no client library would (leave
pings and close frames unanswered, send broken frames)."""
import socket


def open_raw(port, path="/test/ws", timeout=10):
    """Opens a WebSocket at path by hand; returns the socket and any bytes
    read past the 101 response."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the server closed during the handshake"
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    return sock, rest


def read_frame(sock, buf, timeout):
    """Reads one server frame (never masked); returns (opcode, payload,
    rest of the buffer)."""
    sock.settimeout(timeout)
    while True:
        if len(buf) >= 2:
            n = buf[1] & 0x7F
            off = 2
            if n == 126:
                off = 4
                n = int.from_bytes(buf[2:4], "big") if len(buf) >= 4 else -1
            if n >= 0 and len(buf) >= off + n:
                return buf[0] & 0x0F, buf[off:off + n], buf[off + n:]
        chunk = sock.recv(4096)
        assert chunk, "the server closed the socket without a close frame"
        buf += chunk
