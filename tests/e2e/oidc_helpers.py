"""What the OpenID Connect end-to-end tests share: a server with a few
registered clients, the person's browser (requests with cookies) through the
login page's API, the phone approving, and the ID token checked with PyJWT
against the published JWKS."""
import base64
import hashlib
import http.server
import json
import os
import queue
import threading
import urllib.parse

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from test_login import LOGIN_ENV, enrolled_phone  # noqa: F401

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

WEB_SECRET = "web-client-secret-0123456789"
SCOPES = ["identity:name", "identity:age_over_18", "identity:date_of_birth",
          "identity:nationality"]


class FormInbox:
    """A back-channel logout endpoint: records every POSTed form."""

    def __init__(self):
        self.forms = queue.Queue()
        inbox = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                inbox.forms.put(dict(urllib.parse.parse_qsl(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/bcl"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def hash_secret(server, secret):
    import subprocess
    from conftest import BIN
    r = subprocess.run([BIN, "oidc", "hash-secret"], input=secret + "\n",
                       capture_output=True, text=True, timeout=30, env=server.env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Keys:
    """The private_key_jwt client's keys: one P-256, one RSA."""

    def __init__(self):
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem(self, which):
        k = self.ec if which == "ec" else self.rsa
        return k.private_bytes(serialization.Encoding.PEM,
                               serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    def jwks(self):
        e = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        r = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        e["kid"] = "ec-1"
        r["kid"] = "rsa-1"
        return {"keys": [e, r]}


def services_doc(secret_hash, keys, bcl_url):
    return {"services": [
        {"serviceId": "webapp", "name": "Web App", "scopes": SCOPES,
         "oidc": {"clientType": "confidential", "secretHash": secret_hash,
                  "redirectUris": ["https://rp.example/cb"],
                  "postLogoutRedirectUris": ["https://rp.example/bye"]}},
        {"serviceId": "spa", "name": "Single Page", "scopes": SCOPES,
         "oidc": {"clientType": "public",
                  "redirectUris": ["http://127.0.0.1/cb"],
                  "subjectType": "public"}},
        {"serviceId": "jwtapp", "name": "Key App", "scopes": SCOPES,
         "oidc": {"clientType": "confidential", "jwks": keys.jwks(),
                  "redirectUris": ["https://keys.example/cb"],
                  "postLogoutRedirectUris": ["https://keys.example/bye"],
                  "refreshTokens": True, "backchannelLogoutUri": bcl_url}},
    ]}


def start_server(make_server, tmp_path, env=None):
    """A server whose registry holds the three clients above."""
    keys = Keys()
    bcl = FormInbox()
    s = make_server(env=dict(LOGIN_ENV, **(env or {})))
    doc = services_doc(hash_secret(s, WEB_SECRET), keys, bcl.url)
    path = tmp_path / "services.json"
    path.write_text(json.dumps(doc))
    s.env["SEALAUTH_SERVICES_FILE"] = str(path)
    s.env["SEALAUTH_RATE_LIMITS"] = (LOGIN_ENV["SEALAUTH_RATE_LIMITS"] +
                                     ",authorize=1000/60,token=1000/60")
    s.start()
    s.keys = keys
    s.bcl = bcl
    return s


def endpoint(s, name):
    return s.base + {"authorize": "/oidc/authorize", "token": "/oidc/token",
                     "userinfo": "/oidc/userinfo", "revoke": "/oidc/revoke",
                     "introspect": "/oidc/introspect",
                     "logout": "/oidc/logout"}[name]


def browser_login(s, browser, phone, inbox, url, granted=None):
    """Follows an authorization URL as the person's browser: the login
    page's API with the pending request, the phone approving (granted
    scopes, default all asked for), then /login/continue. Returns the
    final redirect's Location."""
    r = browser.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    loc = r.headers["Location"]
    assert loc.startswith("/?login="), loc
    login = loc.split("=", 1)[1]
    pend = browser.get(s.base + "/login/pending/" + login, timeout=10).json()
    r = browser.post(s.base + "/auth/initiate", timeout=10,
                     headers={"Origin": s.base},
                     json={"tokenId": phone.token_id,
                           "serviceId": pend["serviceId"],
                           "scopes": pend["scopes"], "login": login})
    assert r.status_code == 200, r.text
    sid = r.json()["sessionId"]
    push = inbox.next()
    assert push["sessionId"] == sid
    grant = pend["scopes"] if granted is None else granted
    a = phone.answer(sid, push["otp"], "approve", grant)
    assert a.status_code == 200, a.text
    r = browser.get(s.base + "/login/continue", timeout=10,
                    params={"login": login, "session": sid},
                    allow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def query(location):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def verify_id_token(s, token, aud):
    kid = jwt.get_unverified_header(token)["kid"]
    keys = requests.get(s.base + "/jwks", timeout=5).json()["keys"]
    k = next(k for k in keys if k["kid"] == kid)
    key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(k))
    return jwt.decode(token, key, algorithms=["ES256"], audience=aud,
                      issuer=s.base)


def at_hash(access_token):
    d = hashlib.sha256(access_token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(d).decode().rstrip("=")


def pkce():
    verifier = base64.urlsafe_b64encode(os.urandom(40)).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge
