/*
 * http.h - the HTTP server: libmicrohttpd in epoll thread-pool mode, a
 * route table, JSON bodies validated before any handler runs, one error
 * shape, security headers and CORS on every response, per-IP rate limits,
 * and the WebSocket upgrade handed to ws.c.
 *
 * The request path, in order (http.c): on the first call, the strict
 * framing checks (400, http_strict.c) and a declared body over the limit (413),
 * both answered at once with the connection closed; then (handle_request) an
 * OPTIONS request is a CORS preflight -> route lookup (404/405) -> what the
 * first call found (413 for a received body over the limit, 404 for an
 * overlong path) -> per-IP rate limit of the route's class (429) ->
 * WebSocket upgrade for upgrade routes (its own checks, the allowed origins
 * among them: 403) -> the body: Content-Type (415) then JSON parse and
 * schema (400) on JSON routes, Content-Type (415) on form routes, and any
 * body refused (400) elsewhere -> refused while stopping (503) -> handler.
 * Connections are capped per address, and their request headers must
 * arrive within a deadline.
 * Handlers run on MHD worker threads and may block briefly (audit commit);
 * the login's hot handlers park their request instead (http_req_park).
 */
#ifndef SEALAUTH_HTTP_H
#define SEALAUTH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"
#include "net/netaddr.h"

struct http_server;
struct listener;
struct http_request;
struct http_response;
struct schema;
struct ws_handler;
struct ws_server;

/* Route flags. */
#define ROUTE_JSON_BODY 0x01 /* a JSON object body is required */
#define ROUTE_WEBSOCKET 0x02 /* GET upgraded to a WebSocket */
#define ROUTE_CORS 0x04	     /* configured origins may call it cross-origin */
#define ROUTE_HTML 0x08	     /* serves a page: page CSP instead of API CSP */
#define ROUTE_NO_STORE 0x10  /* Cache-Control: no-store (default for JSON) */
/* An application/x-www-form-urlencoded body is accepted (and may be empty);
 * the handler reads it with http_req_body and parses it itself. */
#define ROUTE_FORM_BODY 0x20

#define HTTP_PARAMS_MAX 4

typedef enum sa_err (*http_handler)(struct http_request *req,
				    struct http_response *res);

struct route {
	const char *method;  /* "GET", "POST", "DELETE" */
	const char *pattern; /* "/ws/session/{id}": {x} matches a segment */
	unsigned int flags;
	const struct schema *schema; /* for ROUTE_JSON_BODY */
	const char *rate_class;	     /* NULL: "default" */
	http_handler handler;	     /* not used for WebSocket routes */
	/*
	 * WebSocket routes: ws_prepare runs before the 101 answer and may
	 * refuse with an HTTP error (it returns the error) or set *arg, the
	 * per-connection pointer the handler's callbacks receive.
	 */
	enum sa_err (*ws_prepare)(struct http_request *req, void **arg);
	const struct ws_handler *ws;
};

/* ---- Request accessors (valid during the handler only) ---------------- */

/* The user pointer given to http_server_start (the application). */
void *http_req_ctx(struct http_request *req);
const char *http_req_id(const struct http_request *req);
const char *http_req_ip(const struct http_request *req);     /* client IP */
const char *http_req_ua(const struct http_request *req);     /* "" if none */
const char *http_req_origin(const struct http_request *req); /* NULL if none */
const char *http_req_method(const struct http_request *req);
const char *http_req_path(const struct http_request *req);
/* The i-th {param} of the route pattern. */
const char *http_req_param(const struct http_request *req, size_t i);
/* A query-string argument, or NULL. */
const char *http_req_query(struct http_request *req, const char *name);
/* The query string exactly as the client sent it (no '?'; "" when absent or
 * longer than 16 KiB), for signatures computed over the encoded bytes. */
const char *http_req_raw_query(const struct http_request *req);
/* A request header, or NULL. */
const char *http_req_header(struct http_request *req, const char *name);
/* The validated JSON body (borrowed), or NULL for routes without one. */
json_t *http_req_json(const struct http_request *req);
/* The raw body of a ROUTE_FORM_BODY route (borrowed, not NUL-terminated;
 * *n is 0 for none). */
const char *http_req_body(const struct http_request *req, size_t *n);
/* A cookie of the Cookie header, or NULL. */
const char *http_req_cookie(struct http_request *req, const char *name);
/*
 * http_req_query_each calls cb for every query-string argument in order
 * (value NULL for "?flag" without '='); a non-zero return stops the walk.
 * Returns the number of arguments seen.
 */
size_t http_req_query_each(struct http_request *req,
			   int (*cb)(void *arg, const char *name,
				     const char *value),
			   void *arg);

/*
 * http_req_limit applies rate-limit class cls to another key than the IP
 * (kind "token", key the token id). On refusal it fills res with 429 and
 * Retry-After and returns SA_ERR_RATE_LIMITED: the handler returns it.
 */
enum sa_err http_req_limit(struct http_request *req, struct http_response *res,
			   const char *cls, const char *kind, const char *key);

/*
 * A continuation writes the response of a parked request once the work it
 * waited for is done; it runs on an MHD worker, where a handler would.
 */
typedef enum sa_err (*http_cont)(struct http_request *req,
				 struct http_response *res, void *arg);

/*
 * http_req_park suspends the request's connection: the handler then starts
 * work that ends, on any thread, with http_req_unpark(req), and returns
 * without a response (anything it put in res is discarded). The worker
 * serves other connections meanwhile. After http_req_unpark, cont(req, res,
 * arg) runs on a worker and answers; it owns arg. If the connection ends
 * without being resumed, cont runs once with res NULL, only to free arg.
 * Park before starting the work, so the work can never finish first.
 */
void http_req_park(struct http_request *req, http_cont cont, void *arg);
/* http_req_unpark resumes a parked request; safe from any thread, once. */
void http_req_unpark(struct http_request *req);

/* ---- Responses ---------------------------------------------------------- */

/* http_res_json answers status with a JSON body (the reference is stolen). */
void http_res_json(struct http_response *res, unsigned int status,
		   json_t *body);

/* http_res_json_text answers status with JSON text already written (n
 * bytes at text, stolen: it is freed with the response); NULL text answers
 * 500, as http_res_json does for a body it cannot write. */
void http_res_json_text(struct http_response *res, unsigned int status,
			char *text, size_t n);

/* http_res_bytes answers with a body copied from data. */
void http_res_bytes(struct http_response *res, unsigned int status,
		    const char *content_type, const void *data, size_t n);

/*
 * http_res_error answers with the status of err and the body
 * {"error": sa_err_code, "message": text, "field": field}; field may be NULL
 * and fmt may be NULL for the error's default text. Returns err, so a
 * handler can write "return http_res_error(res, SA_ERR_SCOPE, ...)".
 */
enum sa_err http_res_error(struct http_response *res, enum sa_err err,
			   const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* http_res_status overrides the status of a prepared response (for the few
 * places where SPEC gives one error two statuses, e.g. 409 for a revoked
 * token at enrollment, 403 at login). */
void http_res_status(struct http_response *res, unsigned int status);

/* http_res_header adds a header (copied); at most a few per response. A
 * Content-Security-Policy header set here replaces the route's default. */
void http_res_header(struct http_response *res, const char *name,
		     const char *value);

/* ---- Server ------------------------------------------------------------- */

/*
 * What the HTTP layer needs from the application, given once at start: its
 * settings and the hooks through which it audits refusals and applies rate
 * limits. Strings, lists and the WebSocket server must outlive the server.
 */
struct http_config {
	const char *listen; /* host:port */
	/* A socket bound ahead by http_listen (the server takes it), or NULL
	 * to bind listen here. */
	struct listener *bound;
	unsigned int bound_port;
	long threads; /* worker threads, 0: four per core */
	long connection_limit;
	long connection_memory;	 /* bytes per connection for MHD */
	long connection_timeout; /* seconds */
	long header_timeout;	 /* seconds for a request's headers, 0: none */
	long per_ip_connection_limit; /* per peer address, 0: no cap */
	long body_limit;	      /* bytes */
	long hsts_max_age;	      /* seconds, 0: no HSTS header */
	unsigned int schema_flags;    /* vflags for schema_validate */
	const struct cidr_list *trusted_proxies; /* may set X-Forwarded-For */
	char *const *cors_origins;		 /* NULL-terminated */
	char *const *ws_origins;		 /* NULL-terminated */
	struct ws_server *ws; /* takes the upgraded WebSockets */
	void *ctx;	      /* handed back by http_req_ctx and to the hooks */
	/*
	 * audit records a refusal as a security event (detail stolen); may be
	 * NULL. limit counts a hit of rate-limit class cls for kind/key and
	 * answers SA_ERR_RATE_LIMITED with *retry seconds, *first set on the
	 * first refusal of a window; NULL: no limits.
	 */
	enum sa_err (*audit)(void *ctx, struct http_request *req,
			     const char *event, const char *subject,
			     json_t *detail);
	enum sa_err (*limit)(void *ctx, const char *cls, const char *kind,
			     const char *key, int64_t *retry, int *first);
	/*
	 * observe, when set, is told of every answered request: the route's
	 * pattern ("unmatched" for none), the status class ("2xx") and the
	 * time from arrival to completion in microseconds.
	 */
	void (*observe)(void *ctx, const char *route, const char *status_class,
			uint64_t elapsed_us);
	/*
	 * ws_early lets the accept thread answer a WebSocket upgrade that
	 * arrived whole with its connection (ws_early.h) instead of a worker
	 * through libmicrohttpd. Set it only where the limit hook never waits
	 * on the network; it needs audit_async, which queues a security event
	 * without waiting for its commit (detail stolen).
	 */
	int ws_early;
	void (*audit_async)(void *ctx, struct http_request *req,
			    const char *event, const char *subject,
			    json_t *detail);
};

/*
 * http_listen binds and listens on listen ahead of http_server_start, so a
 * process started as root can bind a low port and then give up root.
 */
enum sa_err http_listen(const char *listen, struct listener **out,
			unsigned int *port);

/*
 * http_server_start binds cfg->listen and serves the routes (the table must
 * outlive the server). The actual port is returned by http_server_port.
 */
enum sa_err http_server_start(const struct http_config *cfg,
			      const struct route *routes, size_t nroutes,
			      struct http_server **out);
unsigned int http_server_port(const struct http_server *srv);
/* http_server_connections tells how many connections, HTTP and WebSocket,
 * count against the connection limits now (conn_count.h), and the limit
 * (*limit; 0 when none). */
size_t http_server_connections(const struct http_server *srv, size_t *limit);
/* http_server_quiesce stops accepting new connections. */
void http_server_quiesce(struct http_server *srv);
/* http_server_stop waits for running handlers, closes connections, frees. */
void http_server_stop(struct http_server *srv);

/* http_origin_allowed tells whether origin is in a NULL-terminated list. */
int http_origin_allowed(char *const *list, const char *origin);

/* http_route_match matches a path against a pattern, filling params with
 * pointers into a copy held in scratch; exposed for tests. */
int http_route_match(const char *pattern, const char *path, char *scratch,
		     size_t scratch_len, const char *params[HTTP_PARAMS_MAX],
		     size_t *nparams);

#endif
