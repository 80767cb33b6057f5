"""The OpenID Provider end to end with a real OIDC client library, Authlib:
the code flow with PKCE, the person's browser through the login page's API
and the phone simulator approving; ID tokens verified by PyJWT against the
published JWKS; userinfo, SSO, refusals."""
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from oidc_helpers import (WEB_SECRET, at_hash, browser_login, endpoint,
                          enrolled_phone, pkce, query, start_server,
                          verify_id_token)
from conftest import pairwise_sub
from test_login import audit_events, inbox  # noqa: F401


@pytest.fixture
def srv(make_server, tmp_path):
    s = start_server(make_server, tmp_path,
                     env={"SEALAUTH_OIDC_CODE_TTL": "5"})
    yield s
    s.bcl.close()


def web_client(s, scope="openid profile age_over_18"):
    return OAuth2Session("webapp", WEB_SECRET, scope=scope,
                         redirect_uri="https://rp.example/cb",
                         code_challenge_method="S256")


def login_web(s, phone, inbox, browser=None, granted=None,
              scope="openid profile age_over_18", **extra):
    client = web_client(s, scope)
    verifier, _ = pkce()
    url, state = client.create_authorization_url(
        endpoint(s, "authorize"), code_verifier=verifier, nonce="n-0S6",
        **extra)
    browser = browser or requests.Session()
    loc = browser_login(s, browser, phone, inbox, url, granted)
    assert query(loc)["state"] == state
    token = client.fetch_token(endpoint(s, "token"),
                               authorization_response=loc,
                               code_verifier=verifier)
    return client, token, browser, loc


def test_discovery(srv):
    d = requests.get(srv.base + "/.well-known/openid-configuration",
                     timeout=5).json()
    assert d["issuer"] == srv.base
    assert d["jwks_uri"] == srv.base + "/jwks"
    assert d["authorization_endpoint"] == endpoint(srv, "authorize")
    assert d["end_session_endpoint"] == endpoint(srv, "logout")
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert d["authorization_response_iss_parameter_supported"] is True
    assert d["response_types_supported"] == ["code"]
    assert d["id_token_signing_alg_values_supported"] == ["ES256"]
    assert "private_key_jwt" in d["token_endpoint_auth_methods_supported"]
    assert {"openid", "profile", "birthdate", "age_over_18",
            "identity:name"} <= set(d["scopes_supported"])
    assert {"given_name", "family_name", "birthdate"} <= set(
        d["claims_supported"])


def test_code_flow_with_pkce_basic_auth_and_userinfo(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    # profile and age_over_18 asked for; the phone grants only the name.
    client, token, _, loc = login_web(srv, phone, inbox,
                                      granted=["identity:name"])
    # RFC 9207: the issuer rides along with the code.
    assert query(loc)["iss"] == srv.base
    assert loc.startswith("https://rp.example/cb?code=")
    claims = verify_id_token(srv, token["id_token"], "webapp")
    assert claims["nonce"] == "n-0S6"
    assert claims["given_name"] == "Erika"
    assert claims["family_name"] == "Mustermann"
    assert claims["name"] == "Erika Mustermann"
    assert "age_over_18" not in claims and "birthdate" not in claims
    # Pairwise by default: not the token id, and stable.
    assert claims["sub"] != phone.token_id and len(claims["sub"]) == 43
    # Derived with the issuing authority that vouched, like the login
    # token's: the same token id of another authority is someone else.
    assert claims["sub"] == pairwise_sub(srv.data_dir, "webapp", "DEMO",
                                         phone.token_id)
    # The issuing authority that vouched rides with the released claims.
    assert claims["iss_authority"] == "DEMO"
    assert claims["at_hash"] == at_hash(token["access_token"])
    assert claims["amr"] == ["hwk", "user", "mfa"]
    assert claims["acr"] and claims["sid"]
    assert abs(claims["auth_time"] - time.time()) < 60
    assert token["token_type"].lower() == "bearer"
    assert "refresh_token" not in token  # not for this client
    info = client.get(endpoint(srv, "userinfo")).json()
    assert info["sub"] == claims["sub"]
    assert info["given_name"] == "Erika" and "age_over_18" not in info
    assert info["iss_authority"] == "DEMO"
    events = [e["event"] for e in audit_events(srv)]
    for ev in ("sso.login", "oidc.code", "oidc.token"):
        assert ev in events


def test_token_answer_is_not_cached_and_wrong_secret_is_401(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    client = web_client(srv)
    verifier, _ = pkce()
    url, _ = client.create_authorization_url(endpoint(srv, "authorize"),
                                             code_verifier=verifier)
    loc = browser_login(srv, requests.Session(), phone, inbox, url)
    code = query(loc)["code"]
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": "https://rp.example/cb", "code_verifier": verifier}
    bad = requests.post(endpoint(srv, "token"), data=form, timeout=10,
                        auth=("webapp", "wrong-secret-wrong-secret"))
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    assert bad.headers["WWW-Authenticate"].startswith("Basic")
    good = requests.post(endpoint(srv, "token"), data=form, timeout=10,
                         auth=("webapp", WEB_SECRET))
    assert good.status_code == 200, good.text
    assert good.headers["Cache-Control"] == "no-store"
    assert good.headers["Pragma"] == "no-cache"
    assert "oidc.client_auth_failed" in [e["event"] for e in audit_events(srv)]


def test_sso_across_requests_prompt_and_consent(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    client, token, browser, _ = login_web(srv, phone, inbox)
    sub = verify_id_token(srv, token["id_token"], "webapp")["sub"]
    # The same client again: the provider session answers, no login page.
    verifier, _ = pkce()
    url, _ = client.create_authorization_url(endpoint(srv, "authorize"),
                                             code_verifier=verifier,
                                             nonce="again")
    r = browser.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("https://rp.example/cb?code=")
    t2 = client.fetch_token(endpoint(srv, "token"),
                            authorization_response=r.headers["Location"],
                            code_verifier=verifier)
    c2 = verify_id_token(srv, t2["id_token"], "webapp")
    assert c2["sub"] == sub and c2["nonce"] == "again"
    # prompt=login sends the person to the login page again.
    url, _ = client.create_authorization_url(endpoint(srv, "authorize"),
                                             code_verifier=verifier,
                                             prompt="login")
    r = browser.get(url, allow_redirects=False, timeout=10)
    assert r.headers["Location"].startswith("/?login=")
    # Another client never granted anything in this session: prompt=none
    # gets consent_required, with the state and the issuer.
    spa = OAuth2Session("spa", scope="openid profile",
                        redirect_uri="http://127.0.0.1:40123/cb",
                        code_challenge_method="S256")
    url, state = spa.create_authorization_url(endpoint(srv, "authorize"),
                                              code_verifier=verifier,
                                              prompt="none")
    r = browser.get(url, allow_redirects=False, timeout=10)
    q = query(r.headers["Location"])
    assert q["error"] == "consent_required" and q["state"] == state
    assert q["iss"] == srv.base
    # A browser without the session: login_required.
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert query(r.headers["Location"])["error"] == "login_required"
    # max_age shorter than the session's age: login_required with none.
    time.sleep(1.1)
    url, _ = client.create_authorization_url(endpoint(srv, "authorize"),
                                             code_verifier=verifier,
                                             prompt="none", max_age="0")
    r = browser.get(url, allow_redirects=False, timeout=10)
    assert query(r.headers["Location"])["error"] == "login_required"


def test_public_client_pkce_required_and_loopback_port(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    spa = OAuth2Session("spa", scope="openid birthdate",
                        redirect_uri="http://127.0.0.1:54321/cb",
                        code_challenge_method="S256",
                        token_endpoint_auth_method="none")
    # Without PKCE a public client is refused at its redirect URI.
    r = requests.get(endpoint(srv, "authorize"), allow_redirects=False,
                     timeout=10,
                     params={"client_id": "spa", "response_type": "code",
                             "scope": "openid",
                             "redirect_uri": "http://127.0.0.1:54321/cb",
                             "state": "s1"})
    q = query(r.headers["Location"])
    assert r.headers["Location"].startswith("http://127.0.0.1:54321/cb?")
    assert q["error"] == "invalid_request" and q["state"] == "s1"
    verifier, _ = pkce()
    url, _ = spa.create_authorization_url(endpoint(srv, "authorize"),
                                          code_verifier=verifier)
    loc = browser_login(srv, requests.Session(), phone, inbox, url)
    # The registered http://127.0.0.1/cb matched on another port (RFC 8252).
    assert loc.startswith("http://127.0.0.1:54321/cb?code=")
    code = query(loc)["code"]
    wrong = requests.post(endpoint(srv, "token"), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "client_id": "spa",
        "redirect_uri": "http://127.0.0.1:54321/cb",
        "code_verifier": pkce()[0]})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # The code was burned by the wrong verifier: a thief cannot retry.
    again = requests.post(endpoint(srv, "token"), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "client_id": "spa",
        "redirect_uri": "http://127.0.0.1:54321/cb", "code_verifier": verifier})
    assert again.json()["error"] == "invalid_grant"
    # A fresh login, the right verifier: public subject (the token id).
    url, _ = spa.create_authorization_url(endpoint(srv, "authorize"),
                                          code_verifier=verifier)
    loc = browser_login(srv, requests.Session(), phone, inbox, url)
    token = spa.fetch_token(endpoint(srv, "token"), authorization_response=loc,
                            code_verifier=verifier)
    claims = verify_id_token(srv, token["id_token"], "spa")
    assert claims["sub"] == phone.token_id
    assert claims["birthdate"] == "1990-04-01"


@pytest.mark.parametrize("uri", [
    "https://evil.example/cb",        # unregistered
    "https://rp.example/cb/",         # near misses of https://rp.example/cb
    "https://rp.example/CB",
    "https://rp.example/cb?x=1",
    "https://rp.example:443/cb",
    "http://rp.example/cb",
])
def test_unregistered_redirect_uri_is_a_page_not_a_redirect(srv, uri):
    r = requests.get(endpoint(srv, "authorize"), allow_redirects=False,
                     timeout=10,
                     params={"client_id": "webapp", "response_type": "code",
                             "scope": "openid", "redirect_uri": uri,
                             "state": "s"})
    assert r.status_code == 400
    assert "Location" not in r.headers
    assert "redirect_uri is not registered" in r.text
    assert "text/html" in r.headers["Content-Type"]


def test_authorization_errors_at_the_redirect_uri(srv):
    base = {"client_id": "webapp", "redirect_uri": "https://rp.example/cb",
            "state": "st", "scope": "openid", "response_type": "code"}

    def err(**kw):
        p = dict(base, **kw)
        p = {k: v for k, v in p.items() if v is not None}
        r = requests.get(endpoint(srv, "authorize"), params=p,
                         allow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text
        q = query(r.headers["Location"])
        assert q["state"] == "st" and q["iss"] == srv.base
        return q["error"]

    assert err(response_type="token") == "unsupported_response_type"
    assert err(response_type="code id_token") == "unsupported_response_type"
    assert err(scope="profile") == "invalid_scope"
    assert err(scope="openid identity:nope") == "invalid_scope"
    assert err(scope="openid identity:photo") == "invalid_scope"  # not allowed
    assert err(code_challenge="x" * 43) == "invalid_request"  # plain
    assert err(code_challenge="x" * 43,
               code_challenge_method="plain") == "invalid_request"
    assert err(prompt="none login") == "invalid_request"
    assert err(request="eyJ...") == "request_not_supported"
    # An unknown client and a repeated parameter are shown, not sent.
    r = requests.get(endpoint(srv, "authorize"), allow_redirects=False,
                     timeout=10, params=dict(base, client_id="nobody"))
    assert r.status_code == 400 and "Location" not in r.headers
    r = requests.get(endpoint(srv, "authorize") + "?client_id=webapp"
                     "&client_id=spa&redirect_uri=https://rp.example/cb"
                     "&response_type=code&scope=openid",
                     allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "given more than once" in r.text


def test_code_single_use_other_client_and_expiry(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    client = web_client(srv)
    verifier, _ = pkce()
    url, _ = client.create_authorization_url(endpoint(srv, "authorize"),
                                             code_verifier=verifier)
    browser = requests.Session()
    loc = browser_login(srv, browser, phone, inbox, url)
    token = client.fetch_token(endpoint(srv, "token"),
                               authorization_response=loc,
                               code_verifier=verifier)
    assert client.get(endpoint(srv, "userinfo")).status_code == 200
    # The same code again: refused, and what the first use got is revoked.
    code = query(loc)["code"]
    r = requests.post(endpoint(srv, "token"), auth=("webapp", WEB_SECRET),
                      timeout=10, data={
                          "grant_type": "authorization_code", "code": code,
                          "redirect_uri": "https://rp.example/cb",
                          "code_verifier": verifier})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    u = requests.get(endpoint(srv, "userinfo"), timeout=10, headers={
        "Authorization": "Bearer " + token["access_token"]})
    assert u.status_code == 401
    assert 'error="invalid_token"' in u.headers["WWW-Authenticate"]
    assert "oidc.code_reuse" in [e["event"] for e in audit_events(srv)]
    # A code for webapp presented by spa (a public client with PKCE).
    url, _ = client.create_authorization_url(endpoint(srv, "authorize"),
                                             code_verifier=verifier)
    r = browser.get(url, allow_redirects=False, timeout=10)  # SSO
    code = query(r.headers["Location"])["code"]
    r = requests.post(endpoint(srv, "token"), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "client_id": "spa",
        "redirect_uri": "https://rp.example/cb", "code_verifier": verifier})
    assert r.json()["error"] == "invalid_grant"
    assert "another client" in r.json()["error_description"]
    # An expired code (SEALAUTH_OIDC_CODE_TTL=5 here).
    url, _ = client.create_authorization_url(endpoint(srv, "authorize"),
                                             code_verifier=verifier)
    r = browser.get(url, allow_redirects=False, timeout=10)
    code = query(r.headers["Location"])["code"]
    time.sleep(6)
    r = requests.post(endpoint(srv, "token"), auth=("webapp", WEB_SECRET),
                      timeout=10, data={
                          "grant_type": "authorization_code", "code": code,
                          "redirect_uri": "https://rp.example/cb",
                          "code_verifier": verifier})
    assert r.json()["error"] == "invalid_grant"
    # Parameters twice and unknown grant types are refused as RFC 6749 says.
    r = requests.post(endpoint(srv, "token"), auth=("webapp", WEB_SECRET),
                      timeout=10,
                      data="grant_type=authorization_code&code=a&code=b",
                      headers={"Content-Type":
                               "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = requests.post(endpoint(srv, "token"), auth=("webapp", WEB_SECRET),
                      timeout=10, data={"grant_type": "password"})
    assert r.json()["error"] == "unsupported_grant_type"


def test_bad_client_settings_stop_the_server(make_server, tmp_path):
    path = tmp_path / "services.json"
    path.write_text('{"services": [{"serviceId": "bad", "name": "Bad", '
                    '"scopes": ["identity:name"], "oidc": {"clientType": '
                    '"public", "redirectUris": ["http://rp.example/cb"]}}]}')
    s = make_server(env={"SEALAUTH_SERVICES_FILE": str(path)})
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "redirectUris[0]" in str(e.value)
    assert "loopback" in str(e.value)


def test_no_identity_scope_no_issuing_authority(srv, inbox):
    phone = enrolled_phone(srv, inbox)
    # The phone grants nothing: a subject, and nothing about the person.
    client, token, _, _ = login_web(srv, phone, inbox, granted=[])
    claims = verify_id_token(srv, token["id_token"], "webapp")
    assert claims["sub"] and "given_name" not in claims
    assert "iss_authority" not in claims
    info = client.get(endpoint(srv, "userinfo")).json()
    assert info["sub"] == claims["sub"] and "iss_authority" not in info
    d = requests.get(srv.base + "/.well-known/openid-configuration",
                     timeout=5).json()
    assert "iss_authority" in d["claims_supported"]
