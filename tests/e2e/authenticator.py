"""A software WebAuthn authenticator for the admin tests: ES256 and EdDSA
credentials, "none" and "packed" self attestation, and a knob for every
field a test wants to spoil (origin, challenge, type, rpId, flags, counter,
signature)."""
import base64
import hashlib
import json
import os

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


UP, UV, AT = 0x01, 0x04, 0x40


class Credential:
    def __init__(self, alg, user_handle):
        self.alg = alg
        self.id = os.urandom(32)
        self.user_handle = user_handle
        self.counter = 0
        if alg == -7:
            self.key = ec.generate_private_key(ec.SECP256R1())
        else:
            self.key = ed25519.Ed25519PrivateKey.generate()

    def cose(self):
        pub = self.key.public_key()
        if self.alg == -7:
            nums = pub.public_numbers()
            return cbor2.dumps({1: 2, 3: -7, -1: 1,
                                -2: nums.x.to_bytes(32, "big"),
                                -3: nums.y.to_bytes(32, "big")})
        raw = pub.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw)
        return cbor2.dumps({1: 1, 3: -8, -1: 6, -2: raw})

    def sign(self, data):
        if self.alg == -7:
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self.key.sign(data)


class Authenticator:
    """Holds credentials by id; create() and get() answer the server's
    options the way navigator.credentials would, as JSON for the API."""

    def __init__(self, origin):
        self.origin = origin
        self.creds = {}

    def client_data(self, typ, challenge, origin=None, cross_origin=None,
                    **_):
        cd = {"type": typ, "challenge": challenge,
              "origin": origin or self.origin}
        if cross_origin is not None:
            cd["crossOrigin"] = cross_origin
        return json.dumps(cd).encode()

    def create(self, options, alg=-7, fmt="none", typ="webauthn.create",
               challenge=None, rp_id=None, flags=UP | UV | AT, **kw):
        rp = rp_id or options["rp"]["id"]
        cred = Credential(alg, options["user"]["id"])
        cdj = self.client_data(typ, challenge or options["challenge"], **kw)
        ad = (hashlib.sha256(rp.encode()).digest() + bytes([flags])
              + cred.counter.to_bytes(4, "big") + bytes(16)
              + len(cred.id).to_bytes(2, "big") + cred.id + cred.cose())
        stmt = {}
        if fmt == "packed":
            stmt = {"alg": alg,
                    "sig": cred.sign(ad + hashlib.sha256(cdj).digest())}
        att = cbor2.dumps({"fmt": fmt, "attStmt": stmt, "authData": ad})
        self.creds[cred.id] = cred
        return cred, {"id": b64u(cred.id), "rawId": b64u(cred.id),
                      "type": "public-key",
                      "response": {"clientDataJSON": b64u(cdj),
                                   "attestationObject": b64u(att),
                                   "transports": ["internal"]}}

    def get(self, options, cred=None, typ="webauthn.get", challenge=None,
            rp_id=None, flags=UP | UV, counter=None, tamper_sig=False,
            **kw):
        if cred is None:
            allowed = {unb64u(c["id"]) for c in options["allowCredentials"]}
            cred = next(c for i, c in self.creds.items()
                        if not allowed or i in allowed)
        rp = rp_id or options["rpId"]
        if counter is None:
            cred.counter += 1
            counter = cred.counter
        cdj = self.client_data(typ, challenge or options["challenge"], **kw)
        ad = (hashlib.sha256(rp.encode()).digest() + bytes([flags])
              + counter.to_bytes(4, "big"))
        sig = cred.sign(ad + hashlib.sha256(cdj).digest())
        if tamper_sig:
            sig = sig[:-1] + bytes([sig[-1] ^ 1])
        return {"id": b64u(cred.id), "rawId": b64u(cred.id),
                "type": "public-key",
                "response": {"clientDataJSON": b64u(cdj),
                             "authenticatorData": b64u(ad),
                             "signature": b64u(sig),
                             "userHandle": cred.user_handle}}
