"""The trust chain fetched over https:// from a list server with its own
CA (SEALAUTH_TRUST_CA_FILE), as a real deployment would."""
import datetime
import functools
import http.server
import ipaddress
import os
import ssl
import subprocess
import threading

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import BIN
from phone import Phone


def make_tls(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test list CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=10))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=10))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(ca_key, hashes.SHA256()))
    paths = {}
    for name, data in (("ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
                       ("cert.pem", cert.public_bytes(serialization.Encoding.PEM)),
                       ("key.pem", key.private_bytes(
                           serialization.Encoding.PEM,
                           serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()))):
        p = tmp_path / name
        p.write_bytes(data)
        paths[name] = str(p)
    return paths


class ListServer:
    def __init__(self, directory, tls):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=directory)
        handler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls["cert.pem"], tls["key.pem"])
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_chain_over_https_with_a_private_ca(make_server, tmp_path):
    trust = str(tmp_path / "trust")
    assert subprocess.run([BIN, "trust", "demo", "--dir", trust],
                          capture_output=True, timeout=60).returncode == 0
    tls = make_tls(tmp_path)
    lists = ListServer(os.path.join(trust, "lists"), tls)
    try:
        env = {"SEALAUTH_TRUST_GOVERNANCE_URL": lists.url + "/governance.xml",
               "SEALAUTH_TRUST_GOVERNANCE_CERT": os.path.join(trust, "governance.pem"),
               "SEALAUTH_TRUST_CA_FILE": tls["ca.pem"],
               "SEALAUTH_PUSH_ALLOW_PRIVATE": "1"}
        s = make_server(env=env).start()
        health = requests.get(s.base + "/health", timeout=5)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["trust"]["status"] == "fresh"
        seal = subprocess.run(
            [BIN, "trust", "issue", "--dir", trust, "--token-id", "DE-HTTPS-1",
             "--given-name", "Erika", "--family-name", "Mustermann", "--dob",
             "1990-04-01", "--nationality", "DEU", "--document", "X1"],
            capture_output=True, text=True, timeout=60).stdout.strip()
        r = Phone(s).enroll(seal)
        assert r.status_code == 200, r.text
        # The trust check command reads the same configuration.
        check = s.cli("trust", "check")
        assert "governance" in check.stdout
        s.stop()

        # Without the private CA the list server is not trusted: nothing
        # loads, /health says so, and enrollment names the step.
        env.pop("SEALAUTH_TRUST_CA_FILE")
        s2 = make_server(env=env).start()
        health = requests.get(s2.base + "/health", timeout=5)
        assert health.status_code == 503
        assert health.json()["checks"]["trust"]["status"] == "failed"
        r = Phone(s2).enroll(seal)
        assert r.status_code == 422
        events = s2.cli("audit", "tail", "--json", "-n", "50").stdout
        assert "trust.refresh_failed" in events
    finally:
        lists.close()
