/*
 * oidc_int.h - what the files of the OpenID Provider share: clients,
 * scopes and claims, the records of codes, grants and tokens, and the
 * shapes of answers.
 */
#ifndef SEALAUTH_OIDC_INT_H
#define SEALAUTH_OIDC_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "oidc/oidc.h"
#include "login/services.h"
#include "store/store.h"

struct app;

#define OIDC_CODE_TTL 60     /* seconds an authorization code lives */
#define OIDC_TOKEN_LEN 43    /* codes and tokens: 32 random bytes */
#define OIDC_GRANT_ID_LEN 22 /* 16 random bytes, base64url */
#define OIDC_ACR "urn:sealauth:acr:x1280-seal"
#define OIDC_SUB_MAX 64

/* ---- Clients (oidc_client.c) --------------------------------------------- */

#define OIDC_AUTH_BASIC 0x1u /* client_secret_basic */
#define OIDC_AUTH_POST 0x2u  /* client_secret_post */
#define OIDC_AUTH_JWT 0x4u   /* private_key_jwt */
#define OIDC_AUTH_NONE 0x8u  /* public client with PKCE */

/* A client, read from its service's "oidc" object (pointers borrow from
 * the service, valid while its registry snapshot is held). */
struct oidc_client {
	const struct service *svc;
	const char *id;
	int is_public;
	unsigned int methods; /* OIDC_AUTH_* the client may use */
	const char *secret_hash;
	const json_t *jwks; /* {"keys": [...]} or NULL */
	const json_t *redirect_uris;
	const json_t *post_logout_uris;
	int pairwise;
	const char *sector;
	long access_ttl, id_ttl, refresh_ttl;
	int refresh;
	const char *backchannel_uri; /* or NULL */
};

/* oidc_client_from reads a service's client settings; SA_ERR_NOT_FOUND
 * when the service is no OpenID Connect client. */
enum sa_err oidc_client_from(const struct service *svc,
			     struct oidc_client *out);

/* oidc_redirect_ok tells whether uri is one of the client's redirect
 * URIs: an exact match, or for a loopback http URI the same but for any
 * port (RFC 8252 §7.3). */
int oidc_redirect_ok(const struct oidc_client *c, const char *uri);
/* oidc_logout_uri_ok: the same for post-logout redirect URIs (exact). */
int oidc_logout_uri_ok(const struct oidc_client *c, const char *uri);

/* ---- Scopes and claims (oidc_claims.c) ----------------------------------- */

/* oidc_scope_has tells whether a space-separated list holds word. */
int oidc_scope_has(const char *list, const char *word);

/*
 * oidc_scopes_map turns the OpenID scopes of a request into the identity
 * scopes the login asks for (deduplicated, at most SERVICE_SCOPES_MAX;
 * pointers to constant strings or into text). Scopes OIDC does not define
 * and we do not know are ignored; an identity scope the service may not ask
 * for is invalid_scope.
 */
enum sa_err oidc_scopes_map(const char *text, const struct service *svc,
			    const char *out[SERVICE_SCOPES_MAX], size_t *n,
			    struct oidc_error *err);

/*
 * oidc_claims_add adds to out the identity claims the granted identity
 * scopes release for the enrollment of token_id, under their OpenID names
 * (given_name, family_name, birthdate, ...), and iss_authority (the
 * enrollment's issuing authority) when any identity scope was granted.
 * SA_ERR_TOKEN_REVOKED when the
 * enrollment is gone, revoked or expired.
 */
enum sa_err oidc_claims_add(struct app *app, const char *token_id,
			    const json_t *granted, int64_t now, json_t *out);

/* oidc_claims_supported lists the claim names for discovery. */
json_t *oidc_claims_supported(void);
/* oidc_scopes_supported lists the scopes for discovery. */
json_t *oidc_scopes_supported(void);

/* oidc_subject writes the client's "sub" for a person (pairwise or the
 * token id, as the client is registered). */
enum sa_err oidc_subject(struct app *app, const struct oidc_client *c,
			 const char *token_id, const char *authority,
			 char out[OIDC_SUB_MAX + 1]);

/* ---- Records (oidc_store.c) ---------------------------------------------- */

/*
 * A grant: what one authorization gave one client. Tokens name their
 * grant, and a token is valid only while its grant is: revoking the grant
 * (a reused code or refresh token, a revocation, a logout) revokes all.
 */
struct oidc_grant {
	char id[OIDC_GRANT_ID_LEN + 1];
	char client_id[SERVICE_ID_MAX + 1];
	char token_id[ENROLL_TOKEN_MAX + 1];
	char authority[65];
	char sid[32];
	char scope[OIDC_SCOPE_TEXT_MAX + 1]; /* the OpenID scopes */
	json_t *granted;		     /* identity scopes (owned) */
	json_t *amr;			     /* (owned) */
	int64_t auth_time;
};

void oidc_grant_clear(struct oidc_grant *g);

/*
 * oidc_token_new writes a fresh random code or token into tok and the
 * store key of its record (prefix and the hex SHA-256 of the token) into
 * key.
 */
enum sa_err oidc_token_new(const char *prefix, char tok[OIDC_TOKEN_LEN + 1],
			   char key[ESTORE_KEY_MAX]);
/* oidc_token_key writes the store key of a presented token. */
void oidc_token_key(const char *prefix, const char *tok,
		    char key[ESTORE_KEY_MAX]);

/* oidc_put_json and oidc_get_json store and read JSON object records. */
enum sa_err oidc_put_json(struct app *app, const char *key, const json_t *rec,
			  int64_t ttl_s, int flags);
enum sa_err oidc_get_json(struct app *app, const char *key, json_t **out);

/* oidc_grant_save stores a grant (its id set by the caller) for ttl_s
 * seconds: a fresh one is listed under its provider session for logout; an
 * existing one is only rewritten while it lives (a revoked grant stays
 * revoked, SA_ERR_NOT_FOUND). */
enum sa_err oidc_grant_save(struct app *app, struct oidc_grant *g, int fresh,
			    int64_t ttl_s);
/* oidc_grant_from_json reads a grant (or a code record, which holds the
 * same members) under the id given; SA_ERR_INTERNAL when a member is
 * missing or too long. */
enum sa_err oidc_grant_from_json(const json_t *rec, const char *id,
				 struct oidc_grant *out);
/* oidc_grant_load reads a live grant; SA_ERR_NOT_FOUND once revoked. */
enum sa_err oidc_grant_load(struct app *app, const char *id,
			    struct oidc_grant *out);
/* oidc_grant_revoke revokes a grant and so every token of it. */
void oidc_grant_revoke(struct app *app, const char *id);
/* oidc_sid_revoke revokes every grant made under a provider session. */
void oidc_sid_revoke(struct app *app, const char *sid);

/*
 * oidc_access_check reads the access token presented as a bearer token:
 * its record (a JSON object, owned by the caller) and its live grant.
 * SA_ERR_UNAUTHORIZED when it is unknown, expired or revoked.
 */
enum sa_err oidc_access_check(struct app *app, const char *token, json_t **rec,
			      struct oidc_grant *g);

/* ---- Answers (oidc_answer.c) --------------------------------------------- */

/* oidc_json_error answers an RFC 6749 §5.2 error as JSON (no-store). 401
 * answers carry WWW-Authenticate with scheme. */
enum sa_err oidc_json_error(struct http_response *res, unsigned int status,
			    const char *code, const char *description,
			    const char *scheme);
/* oidc_json answers 200 with a JSON body and no-store (body stolen). */
void oidc_json(struct http_response *res, json_t *body);

/*
 * oidc_redirect answers 302 to base with the query parameters names[i] =
 * values[i] appended (values NULL are skipped), percent-encoded. Returns
 * SA_OK or SA_ERR_NOMEM.
 */
enum sa_err oidc_redirect(struct http_response *res, const char *base,
			  const char *const *names, const char *const *values,
			  size_t n);

/* oidc_redirect_error sends an authorization error to the client's
 * redirect URI with state and iss (RFC 9207). */
enum sa_err oidc_redirect_error(struct http_request *req,
				struct http_response *res,
				const char *redirect_uri, const char *state,
				const struct oidc_error *err);

/* oidc_request_params reads a request's parameters: the query of a GET,
 * the form body of a POST. */
enum sa_err oidc_request_params(struct http_request *req, struct form *p,
				char *why, size_t whylen);

/* oidc_sign signs claims as an ES256 JWT with the server's key ring. */
enum sa_err oidc_sign(struct app *app, const json_t *claims, char **out);

/*
 * oidc_client_auth authenticates the client of a token-endpoint style
 * request (token, revocation, introspection) by the method it used:
 * client_secret_basic, client_secret_post, private_key_jwt or none (public
 * clients, client_id only). On success *out is the client (from the held
 * snapshot reg). On failure res holds the 401 invalid_client (or 400) and
 * the error is returned.
 */
enum sa_err oidc_client_auth(struct http_request *req,
			     struct http_response *res, const struct form *p,
			     const struct services *reg,
			     struct oidc_client *out);

/* oidc_client_request reads the parameters of a request to the token,
 * revocation or introspection endpoint and authenticates its client
 * (answering the error itself on failure). */
enum sa_err oidc_client_request(struct http_request *req,
				struct http_response *res, struct form *p,
				const struct services *reg,
				struct oidc_client *c);

/* oidc_issue_code stores an authorization code for a login and answers
 * the browser with the redirect to the client (continuation data as
 * oidc_authorize keeps it). done (NULL for single sign-on) is the login
 * that finished: its row and the code's are one commit (weblogin_audit). */
struct weblogin_done;
enum sa_err oidc_issue_code(struct http_request *req, struct http_response *res,
			    const json_t *data, const char *client_id,
			    const char *token_id, const char *authority,
			    const char *sid, const json_t *amr,
			    int64_t auth_time, const json_t *granted,
			    const struct weblogin_done *done);

#endif
