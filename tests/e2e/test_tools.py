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
