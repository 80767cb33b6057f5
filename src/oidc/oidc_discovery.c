/*
 * oidc_discovery.c - GET /.well-known/openid-configuration (OpenID
 * Connect Discovery 1.0, RFC 8414): the issuer is the public URL and every
 * endpoint hangs off it; the keys are the JWKS the JWTs use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/oidc_int.h"
#include "app/app.h"

/* url joins the issuer and a path into a new JSON string. */
static json_t *
url(const char *issuer, const char *path)
{
	char *s = NULL;
	json_t *j;

	if (asprintf(&s, "%s%s", issuer, path) < 0)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

enum sa_err
oidc_discovery(struct http_request *req, struct http_response *res)
{
	const char *iss = http_req_app(req)->cfg.public_url;
	json_t *doc;

	doc = json_pack(
	    "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:[s], s:[s],"
	    " s:[s, s], s:[s, s], s:[s], s:[s, s, s, s], s:[s, s],"
	    " s:[s, s, s, s], s:[s, s, s], s:[s], s:o, s:[s], s:b, s:b, s:b,"
	    " s:b, s:b, s:b, s:b, s:[s, s, s], s:[s]}",
	    "issuer", iss, "authorization_endpoint",
	    url(iss, "/oidc/authorize"), "token_endpoint",
	    url(iss, "/oidc/token"), "userinfo_endpoint",
	    url(iss, "/oidc/userinfo"), "jwks_uri", url(iss, "/jwks"),
	    "revocation_endpoint", url(iss, "/oidc/revoke"),
	    "introspection_endpoint", url(iss, "/oidc/introspect"),
	    "end_session_endpoint", url(iss, "/oidc/logout"),
	    "scopes_supported", oidc_scopes_supported(),
	    "response_types_supported", "code", "response_modes_supported",
	    "query", "grant_types_supported", "authorization_code",
	    "refresh_token", "subject_types_supported", "pairwise", "public",
	    "id_token_signing_alg_values_supported", "ES256",
	    "token_endpoint_auth_methods_supported", "client_secret_basic",
	    "client_secret_post", "private_key_jwt", "none",
	    "token_endpoint_auth_signing_alg_values_supported", "ES256",
	    "RS256", "revocation_endpoint_auth_methods_supported",
	    "client_secret_basic", "client_secret_post", "private_key_jwt",
	    "none", "introspection_endpoint_auth_methods_supported",
	    "client_secret_basic", "client_secret_post", "private_key_jwt",
	    "code_challenge_methods_supported", "S256", "claims_supported",
	    oidc_claims_supported(), "acr_values_supported", OIDC_ACR,
	    "authorization_response_iss_parameter_supported", 1,
	    "backchannel_logout_supported", 1,
	    "backchannel_logout_session_supported", 1,
	    "frontchannel_logout_supported", 0, "request_parameter_supported",
	    0, "request_uri_parameter_supported", 0,
	    "claims_parameter_supported", 0, "prompt_values_supported", "none",
	    "login", "consent", "ui_locales_supported", "en");
	if (doc == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	http_res_json(res, 200, doc);
	/* Clients cache it; it changes only with the configuration. */
	http_res_header(res, "Cache-Control", "public, max-age=300");
	return SA_OK;
}
