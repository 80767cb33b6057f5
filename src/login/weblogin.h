/*
 * weblogin.h - the browser login hand-off shared by the federation
 * protocols (OpenID Connect, SAML) and the provider's single sign-on
 * session.
 *
 * A protocol endpoint that needs a person stores a pending login request
 * (weblogin_begin): the protocol's name, the relying party's service id, the
 * identity scopes it asks for and the protocol's own continuation data, in
 * the ephemeral store under "wl:{id}" for WEBLOGIN_TTL seconds. It sends the
 * browser to "/?login={id}". The login page reads the request
 * (GET /login/pending/{id}) and runs the ordinary X.1280 login with that
 * service and those scopes: /auth/initiate binds the login id into the new
 * session ("sess:{sid}:login"), and the phone's approval of that session
 * records "wl:{id}:ok" (who, what was granted, when). The page then goes to
 * GET /login/continue?login={id}&session={sid}: the server checks that this
 * very session was approved for this very request, consumes both records,
 * sets or refreshes the provider session cookie and calls the protocol's
 * continuation (a redirect with a code, an auto-posted form).
 *
 * The provider session ("SSO session") is a cookie holding 32 random bytes;
 * the store keeps its record under "sso:{hex SHA-256 of the cookie}", so a
 * reader of the store cannot turn a record back into a cookie. The record
 * names the person (token id, issuing authority), when and how they
 * authenticated (auth_time, amr) and every relying party they signed into
 * with the scopes they granted it (single logout needs that list).
 */
#ifndef SEALAUTH_WEBLOGIN_H
#define SEALAUTH_WEBLOGIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"
#include "login/services.h"
#include "net/http.h"
#include "store/store.h"

struct app;
struct session;

#define WEBLOGIN_ID_LEN 25	 /* "wl_" + 22 base64url characters */
#define WEBLOGIN_TTL 600	 /* seconds a pending request lives */
#define WEBLOGIN_PROTOCOL_MAX 15 /* bytes of a protocol name */
#define WEBLOGIN_DATA_MAX 8192	 /* bytes of continuation data (JSON) */
#define WEBLOGIN_SCOPE_MAX 64	 /* bytes of one scope name */
#define WEBLOGIN_SID_LEN 22	 /* public SSO session id, base64url */
#define WEBLOGIN_RPS_MAX 64	 /* relying parties in one SSO session */
#define WEBLOGIN_COOKIE "sealauth_sso"
#define WEBLOGIN_AUTHORITY_MAX 64

/* A pending login request, as weblogin_load reads it. */
struct weblogin_pending {
	char id[WEBLOGIN_ID_LEN + 1];
	char protocol[WEBLOGIN_PROTOCOL_MAX + 1];
	char service_id[SERVICE_ID_MAX + 1];
	size_t nscopes;
	char scopes[SERVICE_SCOPES_MAX][WEBLOGIN_SCOPE_MAX + 1];
	char login_hint[ENROLL_TOKEN_MAX + 1]; /* "" for none */
	json_t *data; /* the protocol's continuation data (owned) */
	int64_t expires_at;
};

/* A provider session, as weblogin_session_get reads it. */
struct weblogin_sso {
	char sid[WEBLOGIN_SID_LEN + 1]; /* public id (OIDC "sid") */
	char token_id[ENROLL_TOKEN_MAX + 1];
	char authority[WEBLOGIN_AUTHORITY_MAX + 1]; /* "" when unknown */
	int64_t auth_time;
	int64_t expires_at;
	json_t *amr; /* array of RFC 8176 method names (owned) */
	/* [{"protocol", "serviceId", "scopes": [...], "at"}] (owned) */
	json_t *rps;
};

/* What a finished browser login hands to the protocol's continuation. */
struct weblogin_held;
struct weblogin_done {
	const struct weblogin_pending *pending;
	const struct weblogin_sso *sso; /* the refreshed provider session */
	const char *session_id;		/* the approved login session */
	size_t ngranted;		/* scopes the phone signed */
	const char *const *granted;
	/* The login's own audit row (sso.login), not yet written: the
	 * continuation's weblogin_audit writes it with its own event. */
	struct weblogin_held *held;
};

/*
 * weblogin_audit records a protocol's event for a finished login: with
 * done (may be NULL: then like app_audit) and the login's sso.login row
 * not yet written, both go into one commit, the login's row first, durable
 * together or not at all. detail is stolen. A continuation that answers
 * without calling it (an error page) leaves the login's row to be written
 * alone after it returns.
 */
enum sa_err weblogin_audit(struct http_request *req,
			   const struct weblogin_done *done, const char *event,
			   const char *subject, json_t *detail);

/*
 * A protocol's continuation answers the browser once its login finished:
 * it writes res (a redirect, a page) and returns like a handler. It runs on
 * the request of GET /login/continue.
 */
typedef enum sa_err (*weblogin_cont)(struct http_request *req,
				     struct http_response *res,
				     const struct weblogin_done *done);

/* One row of the protocol table (the table ends with a NULL name). */
struct weblogin_protocol {
	const char *name;
	weblogin_cont cont;
};

/*
 * weblogin_begin stores a pending request for protocol (which must be in
 * the application's protocol table), service and the n identity scopes
 * (each at most WEBLOGIN_SCOPE_MAX bytes), with an optional login hint (a
 * token id, NULL or "" for none) and the protocol's continuation data
 * (stolen, may be NULL; at most WEBLOGIN_DATA_MAX bytes serialised). id
 * receives the new request's id.
 */
enum sa_err weblogin_begin(struct app *app, const char *protocol,
			   const char *service_id, const char *const *scopes,
			   size_t n, const char *login_hint, json_t *data,
			   char id[WEBLOGIN_ID_LEN + 1]);

/* weblogin_id_valid tells whether text has the shape of a request id. */
int weblogin_id_valid(const char *text);

/*
 * weblogin_load reads a live pending request into *out (free with
 * weblogin_pending_clear); SA_ERR_LOGIN_UNKNOWN when there is none.
 */
enum sa_err weblogin_load(struct app *app, const char *id,
			  struct weblogin_pending *out);
void weblogin_pending_clear(struct weblogin_pending *p);

/*
 * weblogin_bind_session records, at /auth/initiate, that login session
 * session_id runs for pending request login_id, until expires_at: under
 * "sess:{session_id}:" WEBLOGIN_SESSION_KEY, a value kept with the session
 * (session_load_state reads it with the session).
 */
#define WEBLOGIN_SESSION_KEY "login"
enum sa_err weblogin_bind_session(struct app *app, const char *session_id,
				  const char *login_id, int64_t expires_at);

/*
 * weblogin_session_approved records, when the phone approved session s
 * with the granted scopes, that s's pending request may continue, and the
 * issuing authority of the enrollment that approved it (the provider
 * session derives its pairwise subjects from it). login is what
 * weblogin_bind_session stored with s ("sess:{id}:login", read with the
 * session); NULL, for a session that runs for no pending request, makes
 * it a no-op.
 */
enum sa_err weblogin_session_approved(struct app *app, const struct session *s,
				      const char *login, const char *authority,
				      const json_t *granted, int64_t now);

/*
 * weblogin_session_get reads the request's provider session from its
 * cookie into *out (free with weblogin_sso_clear): SA_ERR_NOT_FOUND when
 * the request has no cookie or its session ended or expired.
 */
enum sa_err weblogin_session_get(struct http_request *req,
				 struct weblogin_sso *out);
void weblogin_sso_clear(struct weblogin_sso *s);

/*
 * weblogin_sso_granted tells whether the provider session already holds
 * the person's grant of every one of the n scopes to service_id under
 * protocol: a silent single sign-on may then release them.
 */
int weblogin_sso_granted(const struct weblogin_sso *s, const char *protocol,
			 const char *service_id, const char *const *scopes,
			 size_t n);

/*
 * weblogin_session_add_rp records in the request's provider session sso
 * (updated in place and in the store) that the person signed into
 * service_id with protocol and the n granted scopes.
 */
enum sa_err weblogin_session_add_rp(struct http_request *req,
				    struct weblogin_sso *sso,
				    const char *protocol,
				    const char *service_id,
				    const char *const *scopes, size_t n);

/*
 * weblogin_session_end ends the request's provider session: its record is
 * deleted and res clears the cookie. When out is not NULL it receives the
 * ended session (for single logout), free with weblogin_sso_clear.
 * SA_ERR_NOT_FOUND when there was none (the cookie is cleared anyway).
 */
enum sa_err weblogin_session_end(struct http_request *req,
				 struct http_response *res,
				 struct weblogin_sso *out);

/*
 * weblogin_page answers status with a small HTML page (title and message,
 * both escaped): how the federation endpoints show an error they must not
 * send back to a relying party.
 */
void weblogin_page(struct http_response *res, unsigned int status,
		   const char *title, const char *message);

/* GET /login/pending/{id}: what the login page shows for a request. */
enum sa_err api_login_pending(struct http_request *req,
			      struct http_response *res);
/* GET /login/continue?login=&session=: hands an approved login back. */
enum sa_err api_login_continue(struct http_request *req,
			       struct http_response *res);

#endif
