"""Helpers for the admin tests: a server with a public URL, the install
claim, passkey sign-in and the step-up ceremonies, driven by the software
authenticator of authenticator.py."""
import json
import os

import requests

from authenticator import Authenticator

ADMIN_LIMITS = ("admin=1000/60,install=1000/600,default=5000/60,"
                "enroll=1000/3600,initiate=1000/60,verify=1000/60,ws=1000/60")


def admin_server(make_server, env=None, **kw):
    """A server whose SEALAUTH_PUBLIC_URL is its own loopback URL."""
    s = make_server(env=env, **kw)
    s.env["SEALAUTH_PUBLIC_URL"] = s.base
    s.env.setdefault("SEALAUTH_RATE_LIMITS", ADMIN_LIMITS)
    return s.start()


def install_token(server):
    with open(os.path.join(server.data_dir, "install-token")) as f:
        return f.read().strip()


def audit_events(server):
    out = server.cli("audit", "tail", "--json", "-n", "1000").stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


class Admin:
    """One admin: their authenticator, and a session once signed in."""

    def __init__(self, server, origin=None):
        self.s = server
        self.auth = Authenticator(origin or server.base)
        self.token = None
        self.ua = {"User-Agent": "admin-e2e"}

    def post(self, path, body=None, token=True, **kw):
        h = dict(self.ua)
        if token and self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(kw.pop("headers", {}))
        return requests.post(self.s.base + path, json=body or {}, headers=h,
                             timeout=10, **kw)

    def get(self, path, **kw):
        h = dict(self.ua)
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        return requests.get(self.s.base + path, headers=h, timeout=10, **kw)

    def claim(self, name="root", alg=-7, fmt="none", token=None):
        r = self.post("/v1/install/claim/start",
                      {"installToken": token or install_token(self.s),
                       "name": name}, token=False)
        assert r.status_code == 200, r.text
        st = r.json()
        cred, resp = self.auth.create(st["registerOptions"], alg=alg, fmt=fmt)
        r = self.post("/v1/install/claim/finish",
                      {"claimId": st["claimId"], "registerResponse": resp,
                       "label": "laptop"}, token=False)
        assert r.status_code == 201, r.text
        self.id = r.json()["adminId"]
        return cred

    def login(self, cred=None, **spoil):
        r = self.post("/v1/auth/passkey-login/start", token=False)
        assert r.status_code == 200, r.text
        st = r.json()
        assert st["options"]["allowCredentials"] == []
        body = {"loginId": st["loginId"],
                "credential": self.auth.get(st["options"], cred=cred,
                                            **spoil)}
        r = self.post("/v1/auth/passkey-login/finish", body, token=False)
        if r.status_code == 200:
            self.token = r.json()["token"]
            self.login_response = r
        return r

    def register(self, alg=-8, fmt="packed", uv_cred=None, label="key 2",
                 **spoil):
        r = self.post("/v1/admin/passkeys/register/start")
        assert r.status_code == 200, r.text
        st = r.json()
        new, resp = self.auth.create(st["registerOptions"], alg=alg, fmt=fmt)
        uv = self.auth.get(st["uvOptions"], cred=uv_cred, **spoil)
        r = self.post("/v1/admin/passkeys/register/finish",
                      {"registrationId": st["registrationId"],
                       "registerResponse": resp, "uvResponse": uv,
                       "label": label, "transports": ["usb"]})
        return new, st, resp, r

    def revoke(self, cred_id, uv_cred=None, **spoil):
        r = self.post("/v1/admin/passkeys/revoke/start",
                      {"credentialId": cred_id})
        if r.status_code != 200:
            return r
        st = r.json()
        uv = self.auth.get(st["uvOptions"], cred=uv_cred, **spoil)
        return self.post("/v1/admin/passkeys/revoke/finish",
                         {"revocationId": st["revocationId"],
                          "uvResponse": uv})

    def send(self, method, path, body=None):
        h = dict(self.ua)
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        return requests.request(method, self.s.base + path, json=body,
                                headers=h, timeout=10)

    def finish(self, start, finish_path, uv_cred=None, **spoil):
        """Completes the step-up of a mutation's start answer (202) at
        finish_path with a fresh assertion; returns the finish answer."""
        assert start.status_code == 202, start.text
        st = start.json()
        uv = self.auth.get(st["uvOptions"], cred=uv_cred, **spoil)
        return self.post(finish_path, {"stepupId": st["stepupId"],
                                       "uvResponse": uv})

    def change(self, method, path, body, finish_path, **kw):
        """A mutation in one go: its start, then its step-up."""
        return self.finish(self.send(method, path, body), finish_path, **kw)

    def invite(self, name, **spoil):
        """Invites an admin (a step-up pair); returns the finish answer."""
        return self.change("POST", "/v1/admin/admins/invite/start",
                           {"name": name}, "/v1/admin/admins/invite/finish",
                           **spoil)

    def redeem(self, token, label="laptop"):
        """Redeems an invitation as the invitee (no session): registers
        this admin's first passkey. Returns the first refusal, or the
        finish answer; on success self.id and self.cred are set."""
        r = self.post("/v1/invite/start", {"inviteToken": token},
                      token=False)
        if r.status_code != 200:
            return r
        st = r.json()
        cred, resp = self.auth.create(st["registerOptions"])
        r = self.post("/v1/invite/finish",
                      {"registrationId": st["registrationId"],
                       "registerResponse": resp, "label": label},
                      token=False)
        if r.status_code == 201:
            self.id = r.json()["adminId"]
            self.cred = cred
        return r
