"""Seals with issuer quirks at enrollment, in /health and in `vds inspect`."""
import json
import os

import requests

from conftest import BIN
from phone import Phone
from test_tools import run, vds

ENV = {
    "SEALAUTH_PUSH_ALLOW_PRIVATE": "1",
    "SEALAUTH_RATE_LIMITS": "enroll=1000/3600,test=1000/60",
}


def quirk_counts(server):
    h = requests.get(server.base + "/health", timeout=10).json()
    return h["checks"]["trust"]["sealQuirks"]


def test_quirk_policy_refuse_counts_and_refuses(make_server):
    s = make_server(env=dict(ENV, SEALAUTH_SEAL_QUIRKS="refuse")).start()
    phone = Phone(s, None)
    r = phone.enroll(vds("ankunftsnw_papier2"))
    assert r.status_code == 422
    body = r.json()
    assert body["step"] == "quirks"
    assert "zero-ref-length" in body["message"]
    q = quirk_counts(s)
    assert q["policy"] == "refuse"
    assert q["quirks"]["zero-ref-length"] == {"seen": 1, "refused": 1}
    assert q["quirks"]["legacy-version"] == {"seen": 0, "refused": 0}


def test_quirk_policy_accept_counts_and_goes_on(make_server):
    s = make_server(env=ENV).start()
    phone = Phone(s, None)
    # Accepted: the seal goes on, its MRZ gives the claims, and it stops
    # at the trust chain: no CA of the demo declares its signer DEME.
    r = phone.enroll(vds("ankunftsnw_papier2"))
    assert r.status_code == 422
    assert r.json()["step"] == "chain"
    q = quirk_counts(s)
    assert q["policy"] == "accept"
    assert q["quirks"]["zero-ref-length"] == {"seen": 1, "refused": 0}
    # A document that is not an identity document never enrolls.
    r = phone.enroll(vds("social_insurance"))
    assert r.status_code == 422
    assert r.json()["step"] == "document"
    assert "SOCIAL_INSURANCE_CARD" in r.json()["message"]
    # Nor does a document type outside the catalogue (decoded as UNKNOWN,
    # each feature as bytes with its tag): the reason names it.
    r = phone.enroll(vds("permanent_residence_permit"))
    assert r.status_code == 422
    assert r.json()["step"] == "document"
    assert "document type UNKNOWN is not an identity document" in \
        r.json()["message"]


def test_bad_quirk_policy_is_a_config_error(tmp_path):
    env = dict(os.environ, SEALAUTH_SEAL_QUIRKS="maybe",
               SEALAUTH_DATA_DIR=str(tmp_path))
    import subprocess
    r = subprocess.run([BIN, "serve", "--help"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "SEALAUTH_SEAL_QUIRKS" in r.stderr


def test_inspect_explain_names_the_failing_byte():
    seal = vds("resident_permit")
    r = run("vds", "inspect", "--explain", seal)
    assert r.returncode == 0, r.stderr
    assert "certificateReference" in r.stdout and "decoded" in r.stdout
    # Version byte 0x07: refused for the version, not for the encoding.
    bad = seal[:2] + "07" + seal[4:]
    r = run("vds", "inspect", "--explain", bad)
    assert r.returncode == 1
    assert "refused at byte 1: unsupported seal version 0x07" in r.stdout
    assert "not hex" not in r.stderr
    # Legacy version 0x01 decodes, flagged.
    aa = vds("arrival_attestation")
    r = run("vds", "inspect", aa[:2] + "01" + aa[4:])
    assert r.returncode == 0, r.stderr
    assert '"legacy-version"' in r.stdout


def issue_demo(server, layout, *extra):
    """`trust issue --bioseal` or `--icao` with the same person."""
    cmd = ["trust", "issue", "--dir", os.path.join(server.data_dir, "trust"),
           layout, "--given-name", "Erika Maria", "--family-name",
           "Mustermann", "--dob", "1990-04-01", "--nationality", "DEU",
           "--document", "C01X00T47", "--expiry", "2031-12-31", *extra]
    return server.cli(*cmd, check=False)


def issue_bioseal(server, *extra):
    return issue_demo(server, "--bioseal", *extra)


def issued(server, layout, token_id):
    """A seal of the demo in layout, its token id checked; the seal and
    what `vds inspect` says of it."""
    r = issue_demo(server, layout, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tokenId"] == token_id
    return out["seal"], json.loads(run("vds", "inspect", out["seal"]).stdout)


def issue_icao(server, *extra):
    return issue_demo(server, "--icao", *extra)


def enroll_and_log_in(server, inbox, seal, token_id, scopes):
    """Enroll seal on a new phone, log in with scopes, return the JWT's
    claims."""
    from test_login import initiate, verify_jwt

    phone = Phone(server, inbox)
    r = phone.enroll(seal)
    assert r.status_code == 200, r.text
    assert phone.token_id == token_id
    r = initiate(server, phone.token_id, scopes)
    assert r.status_code == 200, r.text
    push = inbox.next()
    r = phone.answer(push["sessionId"], push["otp"], scopes=scopes)
    assert r.status_code == 200, r.text
    return verify_jwt(server, r.json()["jwt"])


def test_bioseal_from_the_demo_enrolls_and_logs_in(make_server):
    from test_login import LOGIN_ENV
    from phone import PushInbox

    inbox = PushInbox()
    try:
        s = make_server(env=LOGIN_ENV).start()
        seal, j = issued(s, "--bioseal", "DEMO-C01X00T47")
        # The BioSeal layout: 9 identifier characters, our local identity
        # manifest, the claims as a sequence of values.
        assert j["header"]["layout"] == "bioseal"
        assert j["header"]["certId"] == "B0001"
        assert j["header"]["manifestId"] == "0B0001"
        claims = enroll_and_log_in(s, inbox, seal, "DEMO-C01X00T47",
                                   ["identity:name", "identity:nationality"])
        assert claims["givenName"] == "Erika Maria"
        assert claims["familyName"] == "Mustermann"
        assert claims["nationality"] == "DEU"
        assert claims["iss_authority"] == "DEMO"
    finally:
        inbox.close()


def test_icao_seal_from_the_demo_enrolls_and_logs_in(make_server):
    """An ICAO 9303-13 seal of an identity document (an emergency travel
    document), signed by the demo's ICAO signer UTDM: anchored through the
    CA that declares the signer, its MRZ gives the claims."""
    from test_login import LOGIN_ENV
    from phone import PushInbox

    inbox = PushInbox()
    try:
        s = make_server(env=LOGIN_ENV).start()
        seal, j = issued(s, "--icao", "UTO-C01X00T47")
        assert j["format"] == "icao-9303-13"
        assert j["header"]["signer"] == "UTDM"
        assert j["header"]["certRef"] == "A1"
        assert j["header"]["documentType"] == "EMERGENCY_TRAVEL_DOCUMENT"
        r = s.cli("trust", "verify-seal", "--dir",
                  os.path.join(s.data_dir, "trust"), seal, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        v = json.loads(r.stdout)
        assert v["icaoSigner"] == "UTDM" and v["manifest"] == "DC5E03"
        claims = enroll_and_log_in(
            s, inbox, seal, "UTO-C01X00T47",
            ["identity:name", "identity:nationality",
             "identity:date_of_birth", "identity:document"])
        assert claims["givenName"] == "ERIKA MARIA"
        assert claims["familyName"] == "MUSTERMANN"
        assert claims["nationality"] == "DEU"
        assert claims["dateOfBirth"] == "1990-04-01"
        assert claims["documentNumber"] == "C01X00T47"
        assert claims["iss_authority"] == "DEMO"
        # The same seal altered in its MRZ no longer verifies.
        raw = bytearray(__import__("base64").b64decode(seal))
        raw[30] ^= 0x01
        r = Phone(s, inbox).enroll(
            __import__("base64").b64encode(bytes(raw)).decode())
        assert r.status_code == 422
        assert r.json()["step"] in ("signature", "decode"), r.text
    finally:
        inbox.close()


def test_icao_issue_usage_errors(make_server):
    s = make_server(env=ENV).start()
    r = issue_icao(s, "--token-id", "UTO-X")
    assert r.returncode == 2 and "--icao takes no --token-id" in r.stderr
    r = issue_icao(s, "--bioseal")
    assert r.returncode == 2 and "exclude each other" in r.stderr
    r = s.cli("trust", "issue", "--dir", os.path.join(s.data_dir, "trust"),
              "--icao", "--given-name", "A", "--family-name", "B",
              "--dob", "1990-04-01", "--document", "X1", check=False)
    assert r.returncode == 2 and "--icao needs --document and --expiry" \
        in r.stderr
    r = s.cli("trust", "issue", "--dir", os.path.join(s.data_dir, "trust"),
              "--icao", "--given-name", "Jürgen", "--family-name", "B",
              "--dob", "1990-04-01", "--document", "X1", "--expiry",
              "2031-12-31", check=False)
    assert r.returncode == 1 and "do not fit an MRZ" in r.stderr


def test_bioseal_issue_usage_errors(make_server):
    s = make_server(env=ENV).start()
    r = issue_bioseal(s, "--token-id", "DEMO-X")
    assert r.returncode == 2 and "--bioseal takes no --token-id" in r.stderr
    r = s.cli("trust", "issue", "--dir", os.path.join(s.data_dir, "trust"),
              "--bioseal", "--given-name", "A", "--family-name", "B",
              "--dob", "1990-04-01", check=False)
    assert r.returncode == 2 and "--bioseal needs --document" in r.stderr


def test_cn_cert_id_form_enrolls_and_refuses_another_name(make_server,
                                                          tmp_path):
    """A CA that names its signers by common name (CertIdForms cn): cert id
    0001 is the signer whose subject CN is 0001, whatever its serial; a
    certificate published under that name with another CN is refused at
    the chain step."""
    import shutil
    from test_login import LOGIN_ENV
    from phone import PushInbox

    s = make_server(env=LOGIN_ENV, data_dir=str(tmp_path))
    trust = os.path.join(s.data_dir, "trust")
    r = s.cli("trust", "demo", "--dir", trust, "--cert-id-forms", "cn+",
              check=False)
    assert r.returncode == 2 and "serial16, serial20 and cn" in r.stderr
    s.cli("trust", "demo", "--dir", trust, "--cert-id-forms", "cn")
    with open(os.path.join(trust, "lists", "tsl-DEMO.xml")) as f:
        assert ">cn<" in f.read()
    r = s.cli("trust", "issue", "--dir", trust, "--given-name", "Erika",
              "--family-name", "Mustermann", "--dob", "1990-04-01",
              "--token-id", "DEMO-CN-1", "--json")
    seal = json.loads(r.stdout)["seal"]
    v = json.loads(s.cli("trust", "verify-seal", "--dir", trust,
                         seal).stdout)
    assert v["certId"] == "0001"
    assert v["signer"] == "CN=0001,O=sealauth DEMO"
    # The BioSeal signer of such a CA is named by its CN too.
    b = json.loads(issue_bioseal(s, "--json").stdout)["seal"]
    v = json.loads(s.cli("trust", "verify-seal", "--dir", trust, b).stdout)
    assert v["signer"] == "CN=B0001,O=sealauth DEMO"

    # Under the name 0001, a certificate whose CN is B0001: refused
    # before its key is even tried.
    other = str(tmp_path / "other")
    shutil.copytree(trust, other)
    signers = os.path.join(other, "lists", "ca", "signers")
    shutil.copy(os.path.join(signers, "DEMOB0001.pem"),
                os.path.join(signers, "DEMO0001.pem"))
    r = s.cli("trust", "verify-seal", "--dir", other, seal, check=False)
    assert r.returncode == 1
    v = json.loads(r.stdout)
    assert v["step"] == "chain"
    assert "its subject common name differs" in v["reason"]

    inbox = PushInbox()
    try:
        s.start()
        claims = enroll_and_log_in(s, inbox, seal, "DEMO-CN-1",
                                   ["identity:name"])
        assert claims["familyName"] == "Mustermann"
    finally:
        inbox.close()
