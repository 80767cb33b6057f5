"""Writes the seed corpus of fuzz_webauthn (fuzz/fuzz_webauthn.c) into the
directory given: raw inputs (clientDataJSON, authenticator data,
attestation objects) and framed ceremonies, for the relying party, the
challenge and the fixed ES256 key the driver uses. The keys are derived
from constants, so the output is the same at every run but for the ECDSA
signatures' randomness.

    /usr/bin/python3 fuzz/webauthn_seeds.py fuzz/corpus/webauthn
"""
import hashlib, json, os, struct, sys
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives import serialization

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
RP = "admin.example.org"
ORIGIN = "https://" + RP
CHAL = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
UP, UV, AT, ED = 1, 4, 0x40, 0x80
es = ec.derive_private_key(0x5EA1A0717E57C0FFEE, ec.SECP256R1())
ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
nums = es.public_key().public_numbers()
xy = nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
edpub = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def cose(alg):
    if alg == -7:
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: xy[:32], -3: xy[32:]})
    return cbor2.dumps({1: 1, 3: -8, -1: 6, -2: edpub})

def sign(alg, msg):
    if alg == -7:
        from cryptography.hazmat.primitives import hashes
        return es.sign(msg, ec.ECDSA(hashes.SHA256()))
    return ed.sign(msg)

def cdj(typ, **extra):
    d = {"type": typ, "challenge": CHAL, "origin": ORIGIN}
    d.update(extra)
    return json.dumps(d).encode()

def authdata(flags, count, cred=None, ext=None):
    b = hashlib.sha256(RP.encode()).digest() + bytes([flags]) + struct.pack(">I", count)
    if cred is not None:
        cid, alg = cred
        b += bytes(16) + struct.pack(">H", len(cid)) + cid + cose(alg)
    if ext is not None:
        b += cbor2.dumps(ext)
    return b

def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

def frame_reg(c, att):
    return bytes([0]) + struct.pack(">H", len(c)) + c + att

def frame_assert(c, ad, sig):
    return bytes([1]) + struct.pack(">H", len(c)) + c + struct.pack(">H", len(ad)) + ad + sig

create, get = cdj("webauthn.create"), cdj("webauthn.get")
write("cdj_create", create)
write("cdj_get", get)
write("cdj_cross_origin", cdj("webauthn.get", crossOrigin=False, topOrigin=ORIGIN))
write("cdj_escaped", b'{"type":"webauthn.get","challenge":"' + CHAL.encode() + b'","origin":"https:\\/\\/admin.example.org","x":"\\u00e9"}')
for alg in (-7, -8):
    name = "es256" if alg == -7 else "eddsa"
    cid = hashlib.sha256(name.encode()).digest()
    ad = authdata(UP | UV | AT, 0, (cid, alg))
    write("authdata_reg_" + name, ad)
    none = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": ad})
    write("attobj_none_" + name, none)
    packed = cbor2.dumps({"fmt": "packed", "attStmt": {"alg": alg, "sig": sign(alg, ad + hashlib.sha256(create).digest())}, "authData": ad})
    write("attobj_packed_" + name, packed)
    write("framed_register_none_" + name, frame_reg(create, none))
    write("framed_register_packed_" + name, frame_reg(create, packed))
adx = authdata(UP | UV | AT | ED, 7, (b"\x01" * 16, -7), {"credProtect": 2})
write("authdata_reg_ext", adx)
write("attobj_x5c", cbor2.dumps({"fmt": "packed", "attStmt": {"alg": -7, "sig": b"\x30" * 70, "x5c": [b"\x30\x82" + bytes(10)]}, "authData": adx}))
a = authdata(UP | UV, 42)
write("authdata_get", a)
write("authdata_get_ext", authdata(UP | UV | ED, 43, None, {"appid": True}))
write("framed_assert_es256", frame_assert(get, a, sign(-7, a + hashlib.sha256(get).digest())))
write("framed_assert_no_uv", frame_assert(get, authdata(UP, 44), sign(-7, authdata(UP, 44) + hashlib.sha256(get).digest())))
