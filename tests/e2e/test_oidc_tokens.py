"""What a client does with its tokens, with Authlib: private_key_jwt (ES256
and RS256 assertions, jti replay refused), refresh with rotation and reuse
detection, revocation (RFC 7009), introspection (RFC 7662), RP-initiated
logout and back-channel logout."""
import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from oidc_helpers import (WEB_SECRET, browser_login, endpoint, enrolled_phone,
                          pkce, query, start_server, verify_id_token)
from test_login import audit_events, inbox  # noqa: F401


@pytest.fixture
def srv(make_server, tmp_path):
    s = start_server(make_server, tmp_path)
    yield s
    s.bcl.close()


def key_client(s, alg="ES256"):
    c = OAuth2Session("jwtapp", s.keys.pem("ec" if alg == "ES256" else "rsa"),
                      scope="openid profile", redirect_uri="https://keys.example/cb",
                      code_challenge_method="S256",
                      token_endpoint_auth_method="private_key_jwt",
                      revocation_endpoint_auth_method="private_key_jwt")
    c.register_client_auth_method(PrivateKeyJWT(endpoint(s, "token"), alg=alg))
    return c


def login_keys(s, phone, inbox, browser=None, alg="ES256"):
    c = key_client(s, alg)
    verifier, _ = pkce()
    url, _ = c.create_authorization_url(endpoint(s, "authorize"),
                                        code_verifier=verifier, nonce="nk")
    browser = browser or requests.Session()
    loc = browser_login(s, browser, phone, inbox, url)
    token = c.fetch_token(endpoint(s, "token"), authorization_response=loc,
                          code_verifier=verifier)
    return c, token, browser


def userinfo_status(s, at):
    return requests.get(endpoint(s, "userinfo"), timeout=10, headers={
        "Authorization": "Bearer " + at}).status_code


def test_private_key_jwt_both_algorithms_and_jti_replay(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    for alg in ("ES256", "RS256"):
        c, token, _ = login_keys(srv, phone, inbox, alg=alg)
        claims = verify_id_token(srv, token["id_token"], "jwtapp")
        assert claims["nonce"] == "nk" and claims["given_name"] == "Erika"
        assert token["refresh_token"]
    # One assertion, used twice: the second is a replay.
    auth = PrivateKeyJWT(endpoint(srv, "token"), alg="ES256")
    assertion = auth.sign(type("A", (), {"client_id": "jwtapp",
                                         "client_secret": srv.keys.pem("ec")}),
                          endpoint(srv, "token"))
    form = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
            "client_assertion_type":
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    r1 = requests.post(endpoint(srv, "token"), data=form, timeout=10)
    assert r1.status_code == 200, r1.text
    form["refresh_token"] = r1.json()["refresh_token"]
    r2 = requests.post(endpoint(srv, "token"), data=form, timeout=10)
    assert r2.status_code == 401 and r2.json()["error"] == "invalid_client"
    assert "already used" in r2.json()["error_description"]
    # An assertion signed by a key the client never registered.
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    forged = jwt.encode({"iss": "jwtapp", "sub": "jwtapp",
                         "aud": endpoint(srv, "token"), "jti": "forged-1",
                         "exp": int(time.time()) + 60}, other, algorithm="ES256")
    form["client_assertion"] = forged
    r3 = requests.post(endpoint(srv, "token"), data=form, timeout=10)
    assert r3.status_code == 401


def test_refresh_rotation_and_reuse_detection(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    c, t1, _ = login_keys(srv, phone, inbox)
    t2 = c.refresh_token(endpoint(srv, "token"),
                         refresh_token=t1["refresh_token"])
    assert t2["refresh_token"] != t1["refresh_token"]
    assert t2["access_token"] != t1["access_token"]
    c2 = verify_id_token(srv, t2["id_token"], "jwtapp")
    assert c2["given_name"] == "Erika"
    assert userinfo_status(srv, t2["access_token"]) == 200
    # The rotated-away refresh token comes back: someone copied it. The
    # whole grant goes, the legitimate holder's new tokens too.
    with pytest.raises(Exception) as e:
        c.refresh_token(endpoint(srv, "token"),
                        refresh_token=t1["refresh_token"])
    assert "invalid_grant" in str(e.value)
    assert userinfo_status(srv, t2["access_token"]) == 401
    with pytest.raises(Exception) as e:
        c.refresh_token(endpoint(srv, "token"),
                        refresh_token=t2["refresh_token"])
    assert "invalid_grant" in str(e.value)
    events = [e["event"] for e in audit_events(srv)]
    assert "oidc.refresh" in events and "oidc.refresh_reuse" in events


def test_revocation_and_introspection(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    c, token, _ = login_keys(srv, phone, inbox)
    sub = verify_id_token(srv, token["id_token"], "jwtapp")["sub"]
    info = c.introspect_token(endpoint(srv, "introspect"),
                              token=token["access_token"]).json()
    assert info["active"] is True and info["client_id"] == "jwtapp"
    assert info["sub"] == sub and "profile" in info["scope"]
    assert info["token_type"] == "Bearer" and info["exp"] > time.time()
    rinfo = c.introspect_token(endpoint(srv, "introspect"),
                               token=token["refresh_token"],
                               token_type_hint="refresh_token").json()
    assert rinfo["active"] is True and rinfo["token_type"] == "refresh_token"
    # Another client learns nothing about these tokens.
    other = requests.post(endpoint(srv, "introspect"), timeout=10,
                          auth=("webapp", WEB_SECRET),
                          data={"token": token["access_token"]}).json()
    assert other == {"active": False}
    # Public clients may not introspect.
    pub = requests.post(endpoint(srv, "introspect"), timeout=10,
                        data={"token": token["access_token"],
                              "client_id": "spa"})
    assert pub.status_code == 401
    # Revoking the access token: inactive, refused at userinfo.
    r = c.revoke_token(endpoint(srv, "revoke"), token=token["access_token"],
                       token_type_hint="access_token")
    assert r.status_code == 200
    assert c.introspect_token(endpoint(srv, "introspect"),
                              token=token["access_token"]).json() == {
        "active": False}
    assert userinfo_status(srv, token["access_token"]) == 401
    # The refresh token still works; revoking it ends the grant.
    t2 = c.refresh_token(endpoint(srv, "token"),
                         refresh_token=token["refresh_token"])
    assert c.revoke_token(endpoint(srv, "revoke"), token=t2["refresh_token"],
                          token_type_hint="refresh_token").status_code == 200
    assert userinfo_status(srv, t2["access_token"]) == 401
    # Unknown tokens are answered like known ones (RFC 7009 §2.2).
    assert c.revoke_token(endpoint(srv, "revoke"),
                          token="x" * 43).status_code == 200
    assert "oidc.revoke" in [e["event"] for e in audit_events(srv)]


def test_logout_ends_the_session_and_tells_the_client(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    c, token, browser = login_keys(srv, phone, inbox)
    idt = verify_id_token(srv, token["id_token"], "jwtapp")
    # An unregistered post-logout URI is refused and nothing ends.
    r = browser.get(endpoint(srv, "logout"), allow_redirects=False, timeout=10,
                    params={"id_token_hint": token["id_token"],
                            "post_logout_redirect_uri": "https://evil.example/"})
    assert r.status_code == 400 and "Location" not in r.headers
    assert browser.get(srv.base + "/test/sso", timeout=10).status_code == 200
    r = browser.get(endpoint(srv, "logout"), allow_redirects=False, timeout=10,
                    params={"id_token_hint": token["id_token"],
                            "post_logout_redirect_uri": "https://keys.example/bye",
                            "state": "bye-1"})
    assert r.status_code == 302
    assert r.headers["Location"] == "https://keys.example/bye?state=bye-1"
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    # The browser's provider session is over.
    assert browser.get(srv.base + "/test/sso", timeout=10).status_code == 404
    # The client got a logout token for that session.
    form = srv.bcl.forms.get(timeout=10)
    kid = jwt.get_unverified_header(form["logout_token"])["kid"]
    keys = requests.get(srv.base + "/jwks", timeout=5).json()["keys"]
    key = jwt.algorithms.ECAlgorithm.from_jwk(
        next(k for k in keys if k["kid"] == kid))
    lt = jwt.decode(form["logout_token"], key, algorithms=["ES256"],
                    audience="jwtapp", issuer=srv.base)
    assert lt["sid"] == idt["sid"] and lt["sub"] == idt["sub"]
    assert "http://schemas.openid.net/event/backchannel-logout" in lt["events"]
    assert "nonce" not in lt and lt["jti"]
    # Tokens of the session are revoked, SSO is gone.
    assert userinfo_status(srv, token["access_token"]) == 401
    url, _ = c.create_authorization_url(endpoint(srv, "authorize"),
                                        code_verifier=pkce()[0], prompt="none")
    r = browser.get(url, allow_redirects=False, timeout=10)
    assert query(r.headers["Location"])["error"] == "login_required"
    ev = [e for e in audit_events(srv) if e["event"] == "oidc.logout"]
    assert ev and ev[-1]["detail"]["backchannel"] == {"jwtapp": "ok"}
    # A forged hint is refused.
    r = requests.get(endpoint(srv, "logout"), timeout=10,
                     params={"id_token_hint": token["id_token"][:-4] + "AAAA"})
    assert r.status_code == 400
