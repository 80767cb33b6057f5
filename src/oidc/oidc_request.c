/*
 * oidc_request.c - the client-independent checks of authorization and
 * token requests (RFC 6749, RFC 7636, OpenID Connect Core §3.1.2). Pure:
 * no store, no clock, so the fuzz driver runs them on any input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/oidc_int.h"
#include "core/util.h"
#include "login/services.h"
#include "store/store.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

static enum sa_err fail(struct oidc_error *err, const char *code,
			const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum sa_err
fail(struct oidc_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->description, sizeof(err->description), fmt, ap);
	va_end(ap);
	return SA_ERR_VALIDATION;
}

/* vschar tells whether s is 1..max printable ASCII characters (RFC 6749
 * Appendix A's VSCHAR: %x20-7E). */
static int
vschar(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* unreserved tells whether s is lo..hi characters of RFC 3986's
 * unreserved set (a PKCE verifier, RFC 7636 §4.1). */
static int
unreserved(const char *s, size_t lo, size_t hi)
{
	size_t n = strlen(s);

	if (n < lo || n > hi)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!uri_unreserved((unsigned char)s[i]))
			return 0;
	return 1;
}

/* client_id_ok: a service id (SCHEMA_FMT_TOKEN characters). */
static int
client_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SERVICE_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

/* uri_ok: a URI of printable ASCII without spaces. */
static int
uri_ok(const char *s)
{
	return vschar(s, OIDC_URI_MAX) && strchr(s, ' ') == NULL;
}

/* scope_text_ok: space-separated scope tokens (RFC 6749 §3.3). */
static int
scope_text_ok(const char *s)
{
	if (!vschar(s, OIDC_SCOPE_TEXT_MAX))
		return 0;
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			return 0;
	return 1;
}

/* parse_prompt reads the prompt list into OIDC_PROMPT_* bits. */
static enum sa_err
parse_prompt(const char *s, unsigned int *out, struct oidc_error *err)
{
	unsigned int bits = 0;

	for (const char *p = s; *p;) {
		size_t n = strcspn(p, " ");
		if (n == 4 && strncmp(p, "none", 4) == 0)
			bits |= OIDC_PROMPT_NONE;
		else if (n == 5 && strncmp(p, "login", 5) == 0)
			bits |= OIDC_PROMPT_LOGIN;
		else if (n == 7 && strncmp(p, "consent", 7) == 0)
			bits |= OIDC_PROMPT_CONSENT;
		else if (!(n == 14 && strncmp(p, "select_account", 14) == 0) &&
			 n > 0)
			return fail(err, "invalid_request",
				    "prompt: unknown value");
		p += n;
		p += strspn(p, " ");
	}
	if ((bits & OIDC_PROMPT_NONE) && bits != OIDC_PROMPT_NONE)
		return fail(
		    err, "invalid_request",
		    "prompt: none cannot be combined with other values");
	*out = bits;
	return SA_OK;
}

enum sa_err
oidc_authorize_parse(const struct form *p, struct oidc_authorize_req *out,
		     struct oidc_error *err, int *redirectable)
{
	struct oidc_authorize_req r;
	const char *method, *max_age, *mode;

	memset(&r, 0, sizeof(r));
	r.max_age = -1;
	*redirectable = 0;
	r.client_id = oidc_params_get(p, "client_id");
	r.redirect_uri = oidc_params_get(p, "redirect_uri");
	if (r.client_id == NULL || !client_id_ok(r.client_id))
		return fail(err, "invalid_request",
			    "client_id is missing or malformed");
	if (r.redirect_uri == NULL || !uri_ok(r.redirect_uri))
		return fail(err, "invalid_request",
			    "redirect_uri is missing or malformed");
	/* From here the client learns of errors at its redirect URI, once
	 * the caller has matched it against the registration. */
	*redirectable = 1;
	if (oidc_params_get(p, "request") != NULL)
		return fail(err, "request_not_supported",
			    "request objects are not supported");
	if (oidc_params_get(p, "request_uri") != NULL)
		return fail(err, "request_uri_not_supported",
			    "request_uri is not supported");
	if (oidc_params_get(p, "registration") != NULL)
		return fail(err, "registration_not_supported",
			    "registration is not supported");
	r.response_type = oidc_params_get(p, "response_type");
	if (r.response_type == NULL)
		return fail(err, "invalid_request", "response_type is missing");
	if (strcmp(r.response_type, "code") != 0)
		return fail(err, "unsupported_response_type",
			    "only the authorization code flow (code) is "
			    "supported");
	mode = oidc_params_get(p, "response_mode");
	if (mode != NULL && strcmp(mode, "query") != 0)
		return fail(err, "invalid_request",
			    "response_mode: only query is supported");
	r.scope = oidc_params_get(p, "scope");
	if (r.scope == NULL || !scope_text_ok(r.scope))
		return fail(err, "invalid_request",
			    "scope is missing or malformed");
	if (!oidc_scope_has(r.scope, "openid"))
		return fail(err, "invalid_scope", "scope must include openid");
	r.state = oidc_params_get(p, "state");
	if (r.state != NULL && !vschar(r.state, OIDC_STATE_MAX))
		return fail(err, "invalid_request",
			    "state: at most %d printable characters",
			    OIDC_STATE_MAX);
	r.nonce = oidc_params_get(p, "nonce");
	if (r.nonce != NULL && !vschar(r.nonce, OIDC_NONCE_MAX))
		return fail(err, "invalid_request",
			    "nonce: at most %d printable characters",
			    OIDC_NONCE_MAX);
	r.code_challenge = oidc_params_get(p, "code_challenge");
	method = oidc_params_get(p, "code_challenge_method");
	if (r.code_challenge != NULL) {
		/* RFC 7636 §4.3: no method means plain, which we refuse. */
		if (method == NULL || strcmp(method, "S256") != 0)
			return fail(err, "invalid_request",
				    "code_challenge_method must be S256");
		if (!unreserved(r.code_challenge, OIDC_CHALLENGE_LEN,
				OIDC_CHALLENGE_LEN))
			return fail(err, "invalid_request",
				    "code_challenge: 43 base64url characters");
	} else if (method != NULL) {
		return fail(err, "invalid_request",
			    "code_challenge_method without code_challenge");
	}
	if (oidc_params_get(p, "prompt") != NULL &&
	    parse_prompt(oidc_params_get(p, "prompt"), &r.prompt, err) != SA_OK)
		return SA_ERR_VALIDATION;
	max_age = oidc_params_get(p, "max_age");
	if (max_age != NULL) {
		size_t n = strlen(max_age);
		if (n > 10 || strspn(max_age, "0123456789") != n)
			return fail(err, "invalid_request",
				    "max_age: a whole number of seconds");
		r.max_age = strtoll(max_age, NULL, 10);
	}
	r.login_hint = oidc_params_get(p, "login_hint");
	if (r.login_hint != NULL && !vschar(r.login_hint, ENROLL_TOKEN_MAX))
		return fail(err, "invalid_request",
			    "login_hint: a token id of at most %d characters",
			    ENROLL_TOKEN_MAX);
	*out = r;
	return SA_OK;
}

enum sa_err
oidc_token_parse(const struct form *p, struct oidc_token_req *out,
		 struct oidc_error *err)
{
	struct oidc_token_req r;
	const char *atype;

	memset(&r, 0, sizeof(r));
	r.grant_type = oidc_params_get(p, "grant_type");
	r.client_id = oidc_params_get(p, "client_id");
	r.client_secret = oidc_params_get(p, "client_secret");
	r.client_assertion = oidc_params_get(p, "client_assertion");
	atype = oidc_params_get(p, "client_assertion_type");
	if (r.client_id != NULL && !client_id_ok(r.client_id))
		return fail(err, "invalid_request", "client_id is malformed");
	if ((atype == NULL) != (r.client_assertion == NULL))
		return fail(err, "invalid_request",
			    "client_assertion and client_assertion_type go "
			    "together");
	if (atype != NULL && strcmp(atype, ASSERTION_TYPE) != 0)
		return fail(err, "invalid_request",
			    "client_assertion_type must be %s", ASSERTION_TYPE);
	if (r.grant_type == NULL)
		return fail(err, "invalid_request", "grant_type is missing");
	if (strcmp(r.grant_type, "authorization_code") == 0) {
		r.code = oidc_params_get(p, "code");
		r.redirect_uri = oidc_params_get(p, "redirect_uri");
		r.code_verifier = oidc_params_get(p, "code_verifier");
		if (r.code == NULL || !vschar(r.code, 128))
			return fail(err, "invalid_request",
				    "code is missing or malformed");
		if (r.redirect_uri == NULL || !uri_ok(r.redirect_uri))
			return fail(err, "invalid_request",
				    "redirect_uri is missing or malformed");
		if (r.code_verifier != NULL &&
		    !unreserved(r.code_verifier, 43, 128))
			return fail(err, "invalid_request",
				    "code_verifier: 43 to 128 unreserved "
				    "characters");
	} else if (strcmp(r.grant_type, "refresh_token") == 0) {
		r.refresh_token = oidc_params_get(p, "refresh_token");
		r.scope = oidc_params_get(p, "scope");
		if (r.refresh_token == NULL || !vschar(r.refresh_token, 128))
			return fail(err, "invalid_request",
				    "refresh_token is missing or malformed");
		if (r.scope != NULL && !scope_text_ok(r.scope))
			return fail(err, "invalid_scope", "scope is malformed");
	} else {
		return fail(err, "unsupported_grant_type",
			    "grant_type must be authorization_code or "
			    "refresh_token");
	}
	*out = r;
	return SA_OK;
}
