"""The seal and trust command-line tools, as an operator runs them."""
import json
import os
import subprocess

from conftest import BIN

TESTDATA = os.environ.get("SEALAUTH_TESTDATA") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "testdata")


def run(*args, input=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True,
                          timeout=60, input=input)


def vds(name):
    with open(os.path.join(TESTDATA, "vds", "seals", name + ".hex")) as f:
        return f.read().strip()


def test_vds_inspect_and_verify_the_test_seals():
    r = run("vds", "inspect", vds("resident_permit"))
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert json.dumps(j).find("UFO001979") >= 0
    cert = os.path.join(TESTDATA, "vds", "certs", "UTTS5B.pem")
    r = run("vds", "verify", vds("resident_permit"), "--cert", cert)
    assert r.returncode == 0 and "signature valid" in r.stdout
    r = run("vds", "verify", vds("resident_permit_tampered"), "--cert", cert)
    assert r.returncode == 1 and "INVALID" in r.stdout
    r = run("vds", "inspect", vds("resident_permit_truncated"))
    assert r.returncode == 1 and r.stderr.strip()
    # Standard input works too.
    r = run("vds", "inspect", "-", input=vds("uto_visa"))
    assert r.returncode == 0


def test_trust_demo_issue_verify_revoke(tmp_path):
    d = str(tmp_path / "trust")
    assert run("trust", "demo", "--dir", d).returncode == 0
    r = run("trust", "issue", "--dir", d, "--given-name", "Erika",
            "--family-name", "Mustermann", "--dob", "1990-04-01",
            "--nationality", "DEU", "--document", "C01X00T47",
            "--token-id", "DE-TOOL-1")
    assert r.returncode == 0, r.stderr
    seal = r.stdout.strip()
    r = run("trust", "verify-seal", "--dir", d, seal)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "DE-TOOL-1" in json.dumps(out)
    r = run("trust", "check", "--dir", d)
    assert r.returncode == 0, r.stderr
    r = run("vds", "inspect", seal)
    assert r.returncode == 0 and "Mustermann" in r.stdout
    assert run("trust", "revoke", "--dir", d, seal).returncode == 0
    r = run("trust", "verify-seal", "--dir", d, seal)
    assert r.returncode == 1
    assert "revocation" in (r.stdout + r.stderr)


def test_trust_verify_seal_names_the_failing_step(tmp_path):
    d = str(tmp_path / "trust")
    other = str(tmp_path / "other")
    assert run("trust", "demo", "--dir", d).returncode == 0
    assert run("trust", "demo", "--dir", other).returncode == 0
    seal = run("trust", "issue", "--dir", other, "--given-name", "A",
               "--family-name", "B", "--dob", "1980-01-01", "--nationality",
               "FRA", "--document", "X1").stdout.strip()
    # A seal from another environment's signer does not chain to ours.
    r = run("trust", "verify-seal", "--dir", d, seal)
    assert r.returncode == 1
    assert any(step in (r.stdout + r.stderr)
               for step in ("chain", "signature", "usage"))
    r = run("trust", "verify-seal", "--dir", d, "not-a-seal")
    assert r.returncode != 0 and "decode" in (r.stdout + r.stderr)


def test_seal_operands_inline_from_stdin_or_a_file(tmp_path):
    """Every seal operand is the text itself, '-' for standard input or
    @FILE, the same for each command, and bounded before it is read."""
    d = str(tmp_path / "trust")
    assert run("trust", "demo", "--dir", d).returncode == 0
    seal = run("trust", "issue", "--dir", d, "--given-name", "A",
               "--family-name", "B", "--dob", "1980-01-01", "--nationality",
               "FRA", "--document", "X1").stdout.strip()
    f = tmp_path / "seal.txt"
    f.write_text(seal + "\n")
    for cmd in (["vds", "inspect"], ["trust", "verify-seal", "--dir", d]):
        outs = []
        for arg, stdin in ((seal, None), ("-", seal), ("@" + str(f), None)):
            r = run(*cmd, arg, input=stdin)
            assert r.returncode == 0, (cmd, arg, r.stderr)
            outs.append(r.stdout)
        assert outs[0] == outs[1] == outs[2]
        # Missing file, and text over the bound (16 KiB) in each form.
        r = run(*cmd, "@" + str(tmp_path / "missing"))
        assert r.returncode != 0 and r.stderr.strip()
        big = tmp_path / "big.txt"
        big.write_text("A" * 20000)
        for arg, stdin in (("A" * 20000, None), ("-", "A" * 20000),
                           ("@" + str(big), None)):
            r = run(*cmd, arg, input=stdin)
            assert r.returncode != 0, (cmd, arg[:8])


def c40(text):
    """The C40 bytes of text (digits and capitals), three characters to
    two bytes, as the seal header writes its ids."""
    val = {c: i + 4 for i, c in enumerate("0123456789")}
    val.update({c: i + 14 for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")})
    out = b""
    for i in range(0, len(text), 3):
        a, b, c = (val[ch] for ch in text[i:i + 3])
        out += (1600 * a + 40 * b + c + 1).to_bytes(2, "big")
    return out


def mp_str(s):
    """A MessagePack str of up to 255 bytes."""
    b = s.encode()
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else
            bytes([0xd9, len(b)])) + b


def mp_uint(n):
    """A MessagePack uint32."""
    return b"\xce" + n.to_bytes(4, "big")


def bioseal(manifest_hex, payload, key):
    """An ISO 22376 seal in the BioSeal layout (9-character ids) signed
    with key: r || s over header || SHA-256(payload)."""
    import hashlib
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import \
        decode_dss_signature

    header = (b"\xde\x02" + c40("FR0100042") + bytes.fromhex(manifest_hex)
              + (1700000000).to_bytes(4, "big")
              + len(payload).to_bytes(2, "big"))
    der = key.sign(header + hashlib.sha256(payload).digest(),
                   ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return header + payload + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_vds_inspect_reads_a_local_manifest_with_typed_fields(tmp_path):
    """A tax stamp in the BioSeal layout (no ICAO or BSI code names one)
    is read through the local stand-in manifest 0B0011: each field with
    its name, type and value; it cannot enroll; a date that names no day
    is refused naming the field."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "signer.pem"
    pem.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    values = [("stampNumber", "str", mp_str("TS-2026-000417"),
               "TS-2026-000417"),
              ("productCode", "str", mp_str("2402.20"), "2402.20"),
              ("taxAmount", "uint", mp_uint(1250), "1250"),
              ("currency", "str", mp_str("EUR"), "EUR"),
              ("issueDate", "date", mp_uint(20260115), "2026-01-15"),
              ("taxPayer", "str", mp_str("Tabac Lumière SARL"),
               "Tabac Lumière SARL")]
    seal = bioseal("0B0011", b"".join(v[2] for v in values), key)
    r = run("vds", "inspect", seal.hex())
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["header"]["manifestId"] == "0B0011"
    assert j["header"]["manifestName"] == "LOCAL_BIOSEAL_TAX_STAMP"
    assert j["header"]["manifestSource"] == "sealauth-local"
    assert j["canEnroll"] is False and j["claims"] is None
    assert [(f["name"], f["type"], f["value"]) for f in j["fields"]] == \
        [(v[0], v[1], v[3]) for v in values]
    assert not any("claim" in f for f in j["fields"])
    r = run("vds", "verify", seal.hex(), "--cert", str(pem))
    assert r.returncode == 0 and "signature valid" in r.stdout
    # The issue date 2026-02-30 names no day.
    values[4] = ("issueDate", "date", mp_str("2026-02-30"), None)
    bad = bioseal("0B0011", b"".join(v[2] for v in values), key)
    r = run("vds", "inspect", bad.hex())
    assert r.returncode == 1
    assert "field issueDate is not a valid date" in r.stderr
