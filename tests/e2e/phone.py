"""A phone for the end-to-end tests: its own P-256 key (python cryptography),
a UnifiedPush endpoint on loopback that records pushes, and the signed answer
of SPEC §3.5."""
import base64
import http.server
import json
import queue
import threading
import time

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


class PushInbox:
    """A UnifiedPush endpoint: records every POSTed JSON body."""

    def __init__(self, status=200, headers=None):
        self.messages = queue.Queue()
        self.status = status
        self.headers = dict(headers or {})
        inbox = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                try:
                    inbox.messages.put(json.loads(body))
                except ValueError:
                    inbox.messages.put({"unparsable": body.decode("latin1")})
                self.send_response(inbox.status)
                for k, v in inbox.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/push"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def next(self, timeout=10):
        return self.messages.get(timeout=timeout)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Phone:
    def __init__(self, server, inbox=None):
        self.server = server
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.inbox = inbox
        self.device_id = "dev-" + base64.urlsafe_b64encode(
            time.time_ns().to_bytes(8, "big")).decode().rstrip("=")
        self.token_id = None

    def enroll(self, seal, **extra):
        body = {"vdsData": seal, "publicKeyPem": self.pem,
                "deviceId": self.device_id}
        if self.inbox is not None:
            body["pushEndpoint"] = self.inbox.url
        body.update(extra)
        r = requests.post(self.server.base + "/enroll", json=body, timeout=10)
        if r.status_code == 200:
            self.token_id = r.json()["tokenId"]
        return r

    @staticmethod
    def message(session_id, otp, ts, decision, scopes, reason=None):
        text = "sealauth-verify-v1|{}|{}|{}|{}|{}".format(
            session_id, otp, ts, decision, ",".join(sorted(scopes)))
        if reason is not None:
            text += "|" + reason
        return text.encode()

    def sign(self, data, raw=False):
        der = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        if not raw:
            return base64.b64encode(der).decode()
        r, s = decode_dss_signature(der)
        return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()

    def answer(self, session_id, otp, decision="approve", scopes=(), ts=None,
               token_id=None, raw=False, sign_scopes=None, key=None,
               reason=None):
        """Sends the phone's answer; key is another Phone to sign with (a
        forged answer), sign_scopes the scopes to put in the signed text,
        reason a rejection's reason ("not_me": this wasn't me)."""
        ts = int(time.time()) if ts is None else ts
        signed = scopes if sign_scopes is None else sign_scopes
        data = self.message(session_id, otp, ts, decision, signed, reason)
        sig = (key or self).sign(data, raw=raw)
        body = {"sessionId": session_id, "tokenId": token_id or self.token_id,
                "otp": otp, "timestamp": ts, "decision": decision,
                "grantedScopes": list(scopes), "signature": sig}
        if reason is not None:
            body["reason"] = reason
        return requests.post(self.server.base + "/auth/verify", json=body,
                             timeout=10)
