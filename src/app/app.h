/*
 * app.h - the running server's shared state, built by cmd_serve.c and
 * handed to every handler as the HTTP layer's user pointer (http_req_app).
 */
#ifndef SEALAUTH_APP_H
#define SEALAUTH_APP_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/audit.h"
#include "core/config.h"
#include "core/errors.h"
#include "net/http.h"
#include "net/netaddr.h"
#include "seal/seal_stats.h"

/* The length of an instance's id (app.instance): 16 random bytes in hex. */
#define APP_INSTANCE_LEN 32

struct app_refresh;
struct admin;
struct api_static_set;
struct audit;
struct audit_event;
struct dstore;
struct estore;
struct http_server;
struct keycache;
struct keys;
struct ratelimit;
struct ws_server;
struct pusher;
struct service_registry;
struct saml_idp;
struct session_conns;
struct oidc_secrets;
struct trust;
struct trust_fetcher;
struct weblogin_protocol;
struct metrics;

struct app {
	struct config cfg;
	struct cidr_list trusted_proxies;
	char **cors_origins; /* NULL-terminated */
	char **ws_origins;   /* NULL-terminated */
	struct dstore *ds;
	struct estore *es;
	struct audit *audit;
	struct keys *keys;
	struct keycache *keycache; /* parsed device keys (crypto/keycache.h) */
	struct ratelimit *rl;
	struct ws_server *ws;
	/* Which WebSocket connection watches which login (login/session_ws.h).
	 */
	struct session_conns *session_conns;
	struct http_server *http;
	struct service_registry *services; /* relying parties */
	struct saml_idp *saml;		   /* the SAML IdP (saml/saml.h) */
	struct oidc_secrets *oidc_secrets; /* verified client secrets */
	struct pusher *push;
	struct trust *trust;
	struct trust_fetcher *fetcher; /* how trust documents are fetched */
	struct seal_stats seal_stats;  /* quirks met at enrollment (/health) */
	struct metrics *metrics; /* counters for GET /metrics; may be NULL */
	struct http_server *metrics_http; /* SEALAUTH_METRICS_LISTEN */
	int trust_demo;		     /* the demo trust environment is in use */
	uint64_t trust_generation;   /* trust set whose VRLs were applied */
	struct app_refresh *refresh; /* the trust refresher (refresh.c) */
	/* A trust refresh another instance announced (refresh.c): set by the
	 * store's subscriber thread, taken by the refresher within a second. */
	atomic_int trust_asked;
	/* This process among the instances sharing the stores: random hex,
	 * so it skips its own announcements. */
	char instance[APP_INSTANCE_LEN + 1];
	struct admin *admin; /* administration (admin/admin.h) */
	/* The login page's files, read at start (api/api.h); NULL when the
	 * web directory could not be read. */
	struct api_static_set *web_files;
	unsigned char *otp_secret; /* OTP_SECRET_MASTER bytes, wiped at exit */
	size_t otp_secret_len;
	unsigned int schema_flags; /* vflags for schema_validate */
	/* Protocols a browser login hands back to (login/weblogin.h), a table
	 * ending with a NULL name; set at start. */
	const struct weblogin_protocol *weblogin_protocols;
	/* Keys derived from the master secret at start (otp_derive_key). */
	unsigned char code_key[32];   /* MACs of login codes ("code") */
	unsigned char device_key[32]; /* browser recognition ("device") */
	uint64_t started_mono_ms;
	int64_t started_unix;
};

/*
 * The trust refresher (refresh.c): app_refresh_start runs trust refreshes
 * and revocation lists on a thread of their own, off the thread that waits
 * for signals; app_refresh_kick forces a refresh now (SIGHUP);
 * app_refresh_stop cancels a running fetch and joins the thread.
 * app_apply_vrls revokes the enrollments of seals that the current set's
 * VRLs list, once per new set; only before the refresher starts or on it.
 */
enum sa_err app_refresh_start(struct app *app);
void app_refresh_kick(struct app *app);
/*
 * app_refresh_announce tells the other instances sharing the ephemeral
 * store (Redis) that a trust refresh was asked for here: each forces one
 * of its own within a second. The caller refreshes its own set. Returns 1
 * when told, 0 when there is nobody to tell (the in-process store) or the
 * store could not publish (logged).
 */
int app_refresh_announce(struct app *app);
void app_refresh_stop(struct app *app);
void app_apply_vrls(struct app *app);

/* http_req_app is the application serving a request: the typed view of
 * the user pointer that app_http_config gives the HTTP layer. */
static inline struct app *
http_req_app(struct http_request *req)
{
	return (struct app *)http_req_ctx(req);
}

/* Connections from one address when SEALAUTH_PER_IP_CONNECTION_LIMIT is
 * left at -1 and no proxy is trusted. */
#define APP_PER_IP_CONNECTIONS 256

/* app_es_in_process tells whether the ephemeral store (sessions, rate
 * limits, pub/sub) is this process's own in-process one, so that nothing
 * waits on the network and no other instance shares it. */
int app_es_in_process(struct app *app);

/* app_http_config fills the HTTP layer's settings and hooks from app (the
 * strings and lists stay owned by app). */
void app_http_config(struct app *app, struct http_config *hc);

/*
 * app_audit records a security event for a request (IP and user agent taken
 * from it; req may be NULL for server events). detail is stolen. Returns the
 * audit error: the caller must not report the action as done if it fails.
 */
enum sa_err app_audit(struct app *app, struct http_request *req,
		      const char *event, const char *subject, json_t *detail);

/*
 * app_audit_many records up to AUDIT_GROUP_MAX events of one request in one
 * commit (audit_log_many): all durable or none. Every detail is stolen.
 */
enum sa_err app_audit_many(struct app *app, struct http_request *req,
			   const struct audit_event *ev, size_t n);

/*
 * app_audit_park records a request's security event without holding its
 * worker: the request is parked (http_req_park) until the event is durable,
 * then cont answers with *audit_rc set to the outcome (the caller must not
 * report the action as done unless it is SA_OK). audit_rc lives in arg.
 * detail is stolen.
 */
enum sa_err app_audit_park(struct app *app, struct http_request *req,
			   const char *event, const char *subject,
			   json_t *detail, enum sa_err *audit_rc,
			   enum sa_err (*cont)(struct http_request *,
					       struct http_response *, void *),
			   void *arg);

/*
 * app_audit_park_text is app_audit_park for a detail already written as
 * the n bytes of compact JSON text of an object with sorted keys
 * (json_obj_begin_sorted, core/json_out.h), as a login's events are.
 * detail is stolen; NULL (no memory) answers with SA_ERR_NOMEM.
 */
enum sa_err app_audit_park_text(
    struct app *app, struct http_request *req, const char *event,
    const char *subject, char *detail, size_t n, enum sa_err *audit_rc,
    enum sa_err (*cont)(struct http_request *, struct http_response *, void *),
    void *arg);

/*
 * app_audit_then records a request's security event without waiting for
 * it at all: cb runs on the audit writer once the event is durable or its
 * write failed (audit_log_cb), and the caller answers meanwhile. For an
 * answer that reports nothing done yet, when the action itself (a push to
 * the phone, say) is what cb starts. detail (a jansson object) or text (n
 * bytes, as for app_audit_park_text) is stolen, whichever is not NULL.
 * On an error return cb is never called and nothing was queued.
 */
enum sa_err app_audit_then(struct app *app, struct http_request *req,
			   const char *event, const char *subject,
			   json_t *detail, char *text, size_t n,
			   void (*cb)(enum sa_err rc, void *arg), void *arg);

/*
 * app_audit_async queues a server-side event without waiting for it to be
 * durable; for code that must not block (the WebSocket loop). A failure to
 * write it is logged.
 */
/*
 * app_trust_seq_raise is the trust layer's durable sequence hook
 * (trust_seq_raise_fn) over the durable store passed as arg: every
 * instance sharing the database refuses a trust document older than one
 * any of them accepted.
 */
enum sa_err app_trust_seq_raise(void *arg, const char *doc, uint64_t seq,
				uint64_t *highest);

void app_audit_async(struct app *app, const char *event, const char *subject,
		     json_t *detail);

/*
 * The audit rows of a change that commits with them (struct dstore_audit
 * in store/store.h), made for a request (req may be NULL): a store fill
 * callback adds them with app_rows_add (detail stolen; SA_OK or the
 * error) and hands them over with app_rows_out (returns how many, 0 when
 * an add failed, which fails the change). After the write, app_rows_done
 * frees them and, when rc is SA_OK, counts them as written.
 */
struct app_rows {
	struct app *app;
	struct http_request *req;
	struct audit_entry en[DSTORE_AUDIT_ROWS_MAX];
	size_t n;
	int failed;
};
void app_rows_init(struct app_rows *r, struct app *app,
		   struct http_request *req);
enum sa_err app_rows_add(struct app_rows *r, const char *event,
			 const char *subject, json_t *detail);
size_t app_rows_out(struct app_rows *r, struct audit_row *rows);
void app_rows_done(struct app_rows *r, enum sa_err rc);
/* app_rows_ready is a fill for rows added before the write (arg: the
 * struct app_rows), for a change whose rows do not depend on what it
 * finds. */
size_t app_rows_ready(const struct dstore_found *found, struct audit_row *rows,
		      void *arg);

#endif
