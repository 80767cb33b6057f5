/*
 * oidc.h - the OpenID Provider (docs/oidc.md): discovery, the
 * authorization code flow with PKCE, the token endpoint, UserInfo,
 * revocation (RFC 7009), introspection (RFC 7662), RP-initiated and
 * back-channel logout. The login in between is the X.1280 login of the
 * login page (login/weblogin.h); the consent is the grant the phone signs.
 *
 * A client is a service of the relying-party registry with an "oidc"
 * object (oidc_client.c checks it); its client id is the service id and
 * the identity scopes it may ask for are the service's scopes.
 */
#ifndef SEALAUTH_OIDC_H
#define SEALAUTH_OIDC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"
#include "core/form.h"
#include "net/http.h"

struct services;
struct weblogin_done;

/* ---- Parameters (oidc_params.c) ------------------------------------------ */

#define OIDC_PARAMS_MAX 32	  /* parameters in one request */
#define OIDC_PARAM_NAME_MAX 64	  /* bytes of a name */
#define OIDC_PARAM_VALUE_MAX 8192 /* bytes of a value (client assertions) */
#define OIDC_FORM_MAX 32768	  /* bytes of a whole form or query */

/* The parameters of one request are a struct form (core/form.h) under
 * these bounds; free them with form_free. */
extern const struct form_limits oidc_form_limits;

/*
 * oidc_params_add adds one decoded parameter (copied) as form_add does under
 * oidc_form_limits: a name given twice is refused (RFC 6749 §3.1), as are
 * names or values over their bounds, NUL bytes, invalid UTF-8 and more than
 * OIDC_PARAMS_MAX parameters; the error is SA_ERR_VALIDATION and why names
 * the parameter.
 */
enum sa_err oidc_params_add(struct form *p, const char *name, const char *value,
			    char *why, size_t whylen);

/*
 * oidc_params_parse_form decodes an application/x-www-form-urlencoded
 * text of n bytes (at most OIDC_FORM_MAX) with form_parse under
 * oidc_form_limits. On failure *p holds what was parsed before; free it
 * with form_free either way.
 */
enum sa_err oidc_params_parse_form(const char *text, size_t n, struct form *p,
				   char *why, size_t whylen);

/* oidc_params_get returns a parameter's value, or NULL when it is absent
 * or empty (RFC 6749 §3.1: an empty parameter counts as omitted). */
const char *oidc_params_get(const struct form *p, const char *name);

/* ---- Requests (oidc_request.c) ------------------------------------------- */

#define OIDC_STATE_MAX 1024
#define OIDC_NONCE_MAX 256
#define OIDC_URI_MAX 512
#define OIDC_SCOPE_TEXT_MAX 1024
#define OIDC_CHALLENGE_LEN 43 /* base64url of a SHA-256 */

/* An OAuth error: its RFC 6749 code and a description. */
struct oidc_error {
	const char *code; /* "invalid_request", ... */
	char description[256];
};

#define OIDC_PROMPT_NONE 0x1u
#define OIDC_PROMPT_LOGIN 0x2u
#define OIDC_PROMPT_CONSENT 0x4u

/* An authorization request whose parameters passed oidc_authorize_parse:
 * pointers into the parameters. */
struct oidc_authorize_req {
	const char *client_id;
	const char *redirect_uri;
	const char *response_type;
	const char *scope;
	const char *state;
	const char *nonce;
	const char *code_challenge;
	const char *login_hint;
	unsigned int prompt; /* OIDC_PROMPT_* */
	long long max_age;   /* -1: absent */
};

/*
 * oidc_authorize_parse checks the client-independent rules of an
 * authorization request. The client and redirect URI are checked first:
 * when client_id or redirect_uri is missing or malformed, *redirectable is
 * 0 and the error must be shown, never redirected; otherwise it is 1.
 */
enum sa_err oidc_authorize_parse(const struct form *p,
				 struct oidc_authorize_req *out,
				 struct oidc_error *err, int *redirectable);

/* A token request whose parameters passed oidc_token_parse. */
struct oidc_token_req {
	const char *grant_type; /* "authorization_code" or "refresh_token" */
	const char *code;
	const char *redirect_uri;
	const char *code_verifier;
	const char *refresh_token;
	const char *scope;
	const char *client_id;
	const char *client_secret;
	const char *client_assertion;
};

/* oidc_token_parse checks a token request's form (not the client). */
enum sa_err oidc_token_parse(const struct form *p, struct oidc_token_req *out,
			     struct oidc_error *err);

/* ---- Clients (oidc_client.c) --------------------------------------------- */

/*
 * oidc_client_check validates a service's "oidc" settings; on refusal why
 * names the member ("redirectUris[1]: ...").
 */
enum sa_err oidc_client_check(const json_t *oidc, char *why, size_t whylen);

/* oidc_service_checker is oidc_client_check as the registry's checker of
 * the "oidc" member (services_set_checker). */
struct service;
struct services;
enum sa_err oidc_service_checker(const json_t *settings,
				 const struct service *svc,
				 const struct services *current, char *why,
				 size_t whylen);

/* oidc_services_check validates every OIDC client of a registry; why
 * names the service and member. */
enum sa_err oidc_services_check(const struct services *s, char *why,
				size_t whylen);

/*
 * oidc_secret_hash writes the stored form of a client secret:
 * "pbkdf2-sha256$ITERATIONS$SALT$HASH" (base64url salt and hash). *out is
 * new; the caller frees it.
 */
enum sa_err oidc_secret_hash(const char *secret, char **out);

/* oidc_secret_verify tells in constant time whether secret matches hash. */
int oidc_secret_verify(const char *secret, const char *hash);

/*
 * The verified client secrets (oidc_secrets.c): a record, kept in memory
 * under a key drawn at start, of secrets that passed oidc_secret_verify,
 * so the same secret against the same stored hash is accepted again
 * without the PBKDF2 iterations. Wrong secrets always pay the full check.
 * oidc_secret_check with a NULL record is oidc_secret_verify.
 */
struct oidc_secrets;
struct oidc_secrets *oidc_secrets_new(void);
void oidc_secrets_free(struct oidc_secrets *c);
int oidc_secret_check(struct oidc_secrets *c, const char *secret,
		      const char *hash);
/* oidc_secrets_stats reads how many checks the record answered (hits) and
 * how many went to PBKDF2 (misses). */
void oidc_secrets_stats(struct oidc_secrets *c, uint64_t *hits,
			uint64_t *misses);

/* ---- Handlers ------------------------------------------------------------ */

enum sa_err oidc_discovery(struct http_request *req, struct http_response *res);
enum sa_err oidc_authorize(struct http_request *req, struct http_response *res);
enum sa_err oidc_token(struct http_request *req, struct http_response *res);
enum sa_err oidc_userinfo(struct http_request *req, struct http_response *res);
enum sa_err oidc_revoke(struct http_request *req, struct http_response *res);
enum sa_err oidc_introspect(struct http_request *req,
			    struct http_response *res);
enum sa_err oidc_logout(struct http_request *req, struct http_response *res);

/* The continuation of a browser login started by the authorization
 * endpoint (login/weblogin.h): answers the client with a code. */
enum sa_err oidc_login_done(struct http_request *req, struct http_response *res,
			    const struct weblogin_done *done);

#endif
