/*
 * http.c - the HTTP server on libmicrohttpd.
 *
 * Threads: MHD runs an epoll thread pool (four threads per core by
 * default, never fewer than four: see http_server_start); every handler
 * runs on one of those threads. A request's state lives in a
 * struct http_request allocated on the first call of the access handler and
 * freed in the completion callback, where the access log line is written.
 * Responses are queued only on a later call of the access handler, never on
 * the first: answering on the first call makes MHD drop keep-alive.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/json_out.h"
#include "net/conn_count.h"
#include "net/http.h"
#include "net/http_int.h"
#include "net/listener.h"
#include "core/log.h"
#include "core/schema.h"
#include "core/util.h"
#include "net/ws.h"
#include "net/ws_early.h"

#define RES_HEADERS_MAX 8
#define PATH_MAX_LEN 2048
/* A query string longer than this is not kept raw (http_req_raw_query). */
#define RAW_QUERY_MAX 16384
#define PARK_DRAIN_S 30 /* shutdown waits this long for parked requests */
#define SWEEP_MS 250	/* how often header deadlines are checked */

struct http_response {
	unsigned int status;
	char *body;
	size_t len;
	const char *ctype;
	size_t nheaders;
	char *hname[RES_HEADERS_MAX];
	char *hval[RES_HEADERS_MAX];
};

struct http_server {
	struct http_config cfg;
	struct MHD_Daemon *d;
	struct listener *listener;
	const struct route *routes;
	size_t nroutes;
	unsigned int port;
	/* Handlers running or parked; http_server_stop refuses new ones and
	 * waits for these (MHD must not stop with a suspended connection). */
	pthread_mutex_t park_mu; /* only for waking http_server_stop */
	pthread_cond_t park_cv;
	atomic_size_t active;
	atomic_int stopping;
	/* Open connections, for the header deadline (sweep_main). */
	pthread_mutex_t conn_mu;
	pthread_cond_t conn_cv;
	struct conn_state *conns;
	pthread_t sweeper;
	int sweeping;
	int delayed_acks; /* listener_delay_acks was asked for */
	int sweep_stop;	  /* under conn_mu */
	/* An unconnected socket whose number upgrade_cb puts in place of an
	 * upgraded connection's before MHD shuts that down and closes it. */
	int placeholder;
	/* Open connections, HTTP and WebSocket, in all and per address: the
	 * connection limits (MHD counts only the HTTP ones). */
	struct conn_count *counts;
};

/* What a WebSocket keeps for its release: its descriptor and the count it
 * took over from its HTTP connection. */
struct ws_hold {
	struct conn_count *counts; /* held (conn_count_hold) when counted */
	int fd;
	int counted, has_addr;
	struct netaddr addr;
};

/* Carries what the upgrade callback needs past the request's lifetime. */
struct upgrade_ctx {
	struct http_server *srv;
	struct ws_server *ws_server;
	const struct ws_handler *ws;
	void *arg;
	char id[24];
};

static const char csp_api[] =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'";
static const char csp_html[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/* ---- Accessors ---------------------------------------------------------- */

void *
http_req_ctx(struct http_request *req)
{
	return req->srv->cfg.ctx;
}

const char *
http_req_id(const struct http_request *req)
{
	return req->id;
}

const char *
http_req_ip(const struct http_request *req)
{
	return req->ip;
}

const char *
http_req_ua(const struct http_request *req)
{
	return req->ua ? req->ua : "";
}

const char *
http_req_origin(const struct http_request *req)
{
	return req->origin;
}

const char *
http_req_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_req_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_req_param(const struct http_request *req, size_t i)
{
	return i < req->nparams ? req->params[i] : NULL;
}

const char *
http_req_query(struct http_request *req, const char *name)
{
	if (req->conn == NULL)
		return req->wsreq != NULL ? ws_early_query(req->wsreq, name)
					  : NULL;
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

const char *
http_req_raw_query(const struct http_request *req)
{
	return req->raw_query != NULL ? req->raw_query : "";
}

const char *
http_req_header(struct http_request *req, const char *name)
{
	if (req->conn == NULL)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

json_t *
http_req_json(const struct http_request *req)
{
	return req->json;
}

const char *
http_req_body(const struct http_request *req, size_t *n)
{
	*n = req->body.len;
	return (const char *)req->body.data;
}

const char *
http_req_cookie(struct http_request *req, const char *name)
{
	if (req->conn == NULL)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

struct query_walk {
	int (*cb)(void *arg, const char *name, const char *value);
	void *arg;
	size_t n;
};

static enum MHD_Result
query_one(void *cls, enum MHD_ValueKind kind, const char *key,
	  const char *value)
{
	struct query_walk *w = cls;

	(void)kind;
	w->n++;
	return w->cb(w->arg, key, value) == 0 ? MHD_YES : MHD_NO;
}

size_t
http_req_query_each(struct http_request *req,
		    int (*cb)(void *arg, const char *name, const char *value),
		    void *arg)
{
	struct query_walk w = {cb, arg, 0};

	if (req->conn == NULL) {
		for (size_t i = 0; req->wsreq != NULL && i < req->wsreq->nquery;
		     i++) {
			w.n++;
			if (cb(arg, req->wsreq->qname[i],
			       req->wsreq->qvalue[i]) != 0)
				break;
		}
		return w.n;
	}
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_one,
				  &w);
	return w.n;
}

void
http_req_park(struct http_request *req, http_cont cont, void *arg)
{
	/* Still counted in srv->active from handle_request. */
	req->cont = cont;
	req->cont_arg = arg;
	MHD_suspend_connection(req->conn);
}

void
http_req_unpark(struct http_request *req)
{
	MHD_resume_connection(req->conn);
}

/* handler_enter counts a handler in, unless the server is stopping. */
static void park_done(struct http_server *srv);

/*
 * handler_enter counts a handler in, unless the server is stopping. The
 * count goes up before stopping is read and http_server_stop sets stopping
 * before it reads the count (both sequentially consistent), so either the
 * handler sees stopping or the stop sees the handler.
 */
static int
handler_enter(struct http_server *srv)
{
	atomic_fetch_add(&srv->active, 1);
	if (atomic_load(&srv->stopping)) {
		park_done(srv);
		return 0;
	}
	return 1;
}

/* park_done counts a handler (or its parked request) as answered. */
static void
park_done(struct http_server *srv)
{
	if (atomic_fetch_sub(&srv->active, 1) == 1 &&
	    atomic_load(&srv->stopping)) {
		pthread_mutex_lock(&srv->park_mu);
		pthread_cond_broadcast(&srv->park_cv);
		pthread_mutex_unlock(&srv->park_mu);
	}
}

/* ---- Responses ---------------------------------------------------------- */

static void
res_reset(struct http_response *res)
{
	free(res->body);
	res->body = NULL;
	res->len = 0;
}

void
http_res_bytes(struct http_response *res, unsigned int status,
	       const char *content_type, const void *data, size_t n)
{
	res_reset(res);
	res->status = status;
	res->ctype = content_type;
	res->body = malloc(n + 1);
	if (res->body == NULL) {
		res->status = 500;
		res->ctype = "text/plain";
		return;
	}
	memcpy(res->body, data, n);
	res->len = n;
}

void
http_res_json(struct http_response *res, unsigned int status, json_t *body)
{
	size_t n = 0;
	char *text = body ? json_out(body, 0, &n) : NULL;

	json_decref(body);
	http_res_json_text(res, status, text, n);
}

void
http_res_json_text(struct http_response *res, unsigned int status, char *text,
		   size_t n)
{
	res_reset(res);
	if (text == NULL) {
		res->status = 500;
		res->ctype = "application/json";
		res->body = strdup(
		    "{\"error\":\"internal\",\"message\":\"out of memory\"}");
		res->len = res->body ? strlen(res->body) : 0;
		return;
	}
	res->status = status;
	res->ctype = "application/json";
	res->body = text;
	res->len = n;
}

enum sa_err
http_res_error(struct http_response *res, enum sa_err err, const char *field,
	       const char *fmt, ...)
{
	char msg[512];
	json_t *body;

	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	} else {
		str_copy(msg, sizeof(msg), sa_err_str(err));
	}
	body =
	    json_pack("{s:s, s:s}", "error", sa_err_code(err), "message", msg);
	if (body != NULL && field != NULL)
		json_object_set_new(body, "field", json_string(field));
	http_res_json(res, sa_err_http(err), body);
	return err;
}

void
http_res_status(struct http_response *res, unsigned int status)
{
	res->status = status;
}

void
http_res_header(struct http_response *res, const char *name, const char *value)
{
	if (res->nheaders >= RES_HEADERS_MAX)
		return;
	res->hname[res->nheaders] = strdup(name);
	res->hval[res->nheaders] = strdup(value);
	if (res->hname[res->nheaders] == NULL ||
	    res->hval[res->nheaders] == NULL) {
		free(res->hname[res->nheaders]);
		free(res->hval[res->nheaders]);
		return;
	}
	res->nheaders++;
}

static int
res_has_header(const struct http_response *res, const char *name)
{
	for (size_t i = 0; i < res->nheaders; i++)
		if (strcasecmp(res->hname[i], name) == 0)
			return 1;
	return 0;
}

static void
res_free(struct http_response *res)
{
	res_reset(res);
	for (size_t i = 0; i < res->nheaders; i++) {
		free(res->hname[i]);
		free(res->hval[i]);
	}
	res->nheaders = 0;
}

/* ---- Routing ------------------------------------------------------------ */

int
http_route_match(const char *pattern, const char *path, char *scratch,
		 size_t scratch_len, const char *params[HTTP_PARAMS_MAX],
		 size_t *nparams)
{
	size_t n = 0, used = 0;
	const char *p = pattern, *s = path;

	while (*p != '\0' && *s != '\0') {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t len = strcspn(s, "/");
			if (close == NULL || len == 0 || n >= HTTP_PARAMS_MAX ||
			    used + len + 1 > scratch_len)
				return 0;
			memcpy(scratch + used, s, len);
			scratch[used + len] = '\0';
			params[n++] = scratch + used;
			used += len + 1;
			p = close + 1;
			s += len;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	if (*p != '\0' || *s != '\0')
		return 0;
	*nparams = n;
	return 1;
}

static int
method_is(const char *route_method, const char *method)
{
	if (strcmp(route_method, method) == 0)
		return 1;
	return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/*
 * route_find looks up the route for method and path. When the path exists
 * only with other methods, req->allow lists them (for 405 and preflights).
 */
static const struct route *
route_find(struct http_request *req, const char *method)
{
	const struct http_server *srv = req->srv;
	const char *params[HTTP_PARAMS_MAX];
	size_t np = 0;

	req->allow[0] = '\0';
	for (size_t i = 0; i < srv->nroutes; i++) {
		const struct route *r = &srv->routes[i];
		if (!http_route_match(r->pattern, req->path, req->scratch,
				      sizeof(req->scratch), params, &np))
			continue;
		if (method_is(r->method, method)) {
			memcpy(req->params, params, sizeof(params));
			req->nparams = np;
			return r;
		}
		size_t used = strlen(req->allow);
		snprintf(req->allow + used, sizeof(req->allow) - used, "%s%s",
			 used ? ", " : "", r->method);
	}
	return NULL;
}

/* ---- Headers ------------------------------------------------------------ */

int
http_origin_allowed(char *const *list, const char *origin)
{
	if (list == NULL || origin == NULL)
		return 0;
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], origin) == 0)
			return 1;
	return 0;
}

/* req_audit records a refusal through the application's hook. */
static void
req_audit(struct http_request *req, const char *event, const char *subject,
	  json_t *detail)
{
	const struct http_config *cfg = &req->srv->cfg;

	if (cfg->audit == NULL) {
		json_decref(detail);
		return;
	}
	cfg->audit(cfg->ctx, req, event, subject, detail);
}

static void
add_cors(struct http_request *req, struct MHD_Response *r)
{
	if (req->route == NULL || !(req->route->flags & ROUTE_CORS) ||
	    !http_origin_allowed(req->srv->cfg.cors_origins, req->origin))
		return;
	/* The exact origin, never "*": credentials may be sent. */
	MHD_add_response_header(r, "Access-Control-Allow-Origin", req->origin);
	MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
	MHD_add_response_header(r, "Access-Control-Expose-Headers",
				"Retry-After, X-Request-Id");
}

static void
add_common_headers(struct http_request *req, struct MHD_Response *r, int html,
		   int own_csp)
{
	long hsts_max_age = req->srv->cfg.hsts_max_age;
	char hsts[64];

	/* A page that posts a form elsewhere brings its own policy. */
	if (!own_csp)
		MHD_add_response_header(r, "Content-Security-Policy",
					html ? csp_html : csp_api);
	if (hsts_max_age > 0) {
		snprintf(hsts, sizeof(hsts), "max-age=%ld; includeSubDomains",
			 hsts_max_age);
		MHD_add_response_header(r, "Strict-Transport-Security", hsts);
	}
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Permissions-Policy",
				"camera=(), microphone=(), geolocation=()");
	MHD_add_response_header(r, "X-Request-Id", req->id);
	MHD_add_response_header(r, "Vary", "Origin");
	add_cors(req, r);
}

/* ---- Sending ------------------------------------------------------------ */

static enum MHD_Result
send_response(struct http_request *req, struct http_response *res)
{
	struct MHD_Response *r;
	enum MHD_Result ok;
	int html = req->route && (req->route->flags & ROUTE_HTML);

	if (res->status == 0)
		http_res_error(res, SA_ERR_INTERNAL, NULL, NULL);
	r = MHD_create_response_from_buffer(res->len, res->body,
					    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		res_free(res);
		return MHD_NO;
	}
	res->body = NULL; /* owned by the response now */
	if (res->ctype != NULL)
		MHD_add_response_header(r, "Content-Type", res->ctype);
	if ((!html || (req->route->flags & ROUTE_NO_STORE)) &&
	    !res_has_header(res, "Cache-Control"))
		MHD_add_response_header(r, "Cache-Control", "no-store");
	add_common_headers(req, r, html,
			   res_has_header(res, "Content-Security-Policy"));
	for (size_t i = 0; i < res->nheaders; i++)
		MHD_add_response_header(r, res->hname[i], res->hval[i]);
	req->status = res->status;
	ok = MHD_queue_response(req->conn, res->status, r);
	MHD_destroy_response(r);
	res_free(res);
	return ok;
}

static enum MHD_Result
send_error(struct http_request *req, enum sa_err err, const char *field,
	   const char *msg)
{
	struct http_response res = {0};

	http_res_error(&res, err, field, msg ? "%s" : NULL, msg);
	if (err == SA_ERR_METHOD && req->allow[0] != '\0')
		http_res_header(&res, "Allow", req->allow);
	return send_response(req, &res);
}

/* ---- Rate limits -------------------------------------------------------- */

static enum sa_err
limit_hit(struct http_request *req, struct http_response *res, const char *cls,
	  const char *kind, const char *key)
{
	const struct http_config *cfg = &req->srv->cfg;
	int64_t retry = 0;
	int first = 0;
	char ra[24];

	if (cfg->limit == NULL ||
	    cfg->limit(cfg->ctx, cls, kind, key, &retry, &first) == SA_OK)
		return SA_OK;
	if (first) {
		/* Audited once per window and key, so a flood cannot flood the
		 * log. */
		req_audit(req, "ratelimit.refused",
			  strcmp(kind, "ip") == 0 ? "" : key,
			  json_pack("{s:s, s:s, s:s}", "class", cls, "kind",
				    kind, "path", req->path));
	}
	snprintf(ra, sizeof(ra), "%lld", (long long)retry);
	http_res_error(res, SA_ERR_RATE_LIMITED, NULL,
		       "too many requests; retry in %lld s", (long long)retry);
	http_res_header(res, "Retry-After", ra);
	return SA_ERR_RATE_LIMITED;
}

enum sa_err
http_req_limit(struct http_request *req, struct http_response *res,
	       const char *cls, const char *kind, const char *key)
{
	return limit_hit(req, res, cls, kind, key);
}

/* ---- WebSocket upgrade -------------------------------------------------- */

/* release_socket closes the descriptor a WebSocket ran on and gives back
 * its connection count (ws.c's release callback, on the loop thread once
 * the connection has ended). */
static void
release_socket(void *handle)
{
	struct ws_hold *h = handle;

	close(h->fd);
	if (h->counted) {
		conn_count_give(h->counts, h->has_addr ? &h->addr : NULL);
		conn_count_free(h->counts);
	}
	free(h);
}

/*
 * upgrade_cb hands an upgraded connection to the WebSocket loop and frees
 * libmicrohttpd's side of it at once. MHD keeps a connection's memory pool
 * (SEALAUTH_CONNECTION_MEMORY) and its slot until the application reports
 * the upgrade done, and then shuts its descriptor down and closes it. So the
 * loop gets a duplicate of the socket, MHD's descriptor number is pointed at
 * a placeholder socket (dup2 replaces it in one step), and the upgrade is
 * reported done now: what MHD shuts and closes is the placeholder, and a
 * waiting browser costs the loop's couple of kilobytes instead of a pool.
 * The connection's count against the limits goes with the WebSocket.
 */
static void
upgrade_cb(void *cls, struct MHD_Connection *conn, void *con_cls,
	   const char *extra_in, size_t extra_in_size, MHD_socket sock,
	   struct MHD_UpgradeResponseHandle *urh)
{
	struct upgrade_ctx *u = cls;
	struct conn_state *cs = http_conn_state_of(conn);
	struct ws_hold *h = calloc(1, sizeof(*h));
	uint64_t id = 0;
	enum sa_err rc = SA_ERR_NOMEM;

	(void)con_cls;
	if (h == NULL)
		goto out;
	if ((h->fd = fcntl(sock, F_DUPFD_CLOEXEC, 0)) < 0) {
		rc = SA_ERR_UNAVAILABLE;
		goto out;
	}
	if (dup2(u->srv->placeholder, sock) < 0) {
		/* MHD would shut the socket down under the loop. */
		log_msg(SA_LOG_ERROR, "ws.adopt", u->id,
			"cannot detach the WebSocket: %s", strerror(errno));
		close(h->fd);
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	/* All set before the loop may end it and call release_socket. */
	if (cs != NULL && cs->counted) {
		h->counts = conn_count_hold(u->srv->counts);
		h->counted = 1;
		h->has_addr = cs->has_addr;
		h->addr = cs->addr;
		cs->handed = 1;
	}
	rc = ws_adopt(u->ws_server, h->fd, extra_in, extra_in_size,
		      release_socket, h, u->ws, u->arg, &id);
	if (rc != SA_OK) {
		/* The only descriptor of the socket: this ends it. */
		close(h->fd);
		if (h->counted) {
			conn_count_free(h->counts);
			cs->handed = 0;
		}
	}
out:
	if (rc != SA_OK) {
		free(h);
		log_msg(SA_LOG_WARN, "ws.adopt", u->id,
			"WebSocket not adopted: %s", sa_err_str(rc));
		/* id 0: never adopted; on_close frees the argument. */
		if (u->ws->on_close != NULL)
			u->ws->on_close(u->ws_server, 0, 1013, 0, u->arg);
	}
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	free(u);
}

/*
 * handle_upgrade checks the opening handshake of RFC 6455 §4.2.1 and the
 * Origin allow-list (browsers always send Origin, so a cross-site page cannot
 * open our sockets), then answers 101 and hands the socket to ws.c.
 */
static enum MHD_Result
handle_upgrade(struct http_request *req)
{
	struct ws_server *wss = req->srv->cfg.ws;
	struct http_response res = {0};
	const char *key, *version;
	char accept[29];
	struct upgrade_ctx *u = NULL;
	struct MHD_Response *r;
	enum MHD_Result ok;
	void *arg = NULL;
	enum sa_err rc;

	if (strcmp(req->method, "GET") != 0)
		return send_error(req, SA_ERR_METHOD, NULL, NULL);
	if (!ws_has_token(http_req_header(req, "Upgrade"), "websocket") ||
	    !ws_has_token(http_req_header(req, "Connection"), "upgrade"))
		return send_error(req, SA_ERR_BAD_REQUEST, "Upgrade",
				  "this endpoint needs a WebSocket upgrade");
	version = http_req_header(req, "Sec-WebSocket-Version");
	if (version == NULL || strcmp(version, "13") != 0) {
		http_res_error(&res, SA_ERR_BAD_REQUEST,
			       "Sec-WebSocket-Version",
			       "WebSocket version 13 is required");
		res.status = 426;
		http_res_header(&res, "Sec-WebSocket-Version", "13");
		return send_response(req, &res);
	}
	key = http_req_header(req, "Sec-WebSocket-Key");
	if (key == NULL || ws_accept_key(key, accept) != SA_OK)
		return send_error(
		    req, SA_ERR_BAD_REQUEST, "Sec-WebSocket-Key",
		    "Sec-WebSocket-Key must be base64 of 16 bytes");
	if (req->origin != NULL &&
	    !http_origin_allowed(req->srv->cfg.ws_origins, req->origin)) {
		req_audit(req, "ws.origin_refused", "",
			  json_pack("{s:s, s:s}", "origin", req->origin, "path",
				    req->path));
		return send_error(req, SA_ERR_ORIGIN, "Origin", NULL);
	}
	if (req->route->ws_prepare != NULL &&
	    (rc = req->route->ws_prepare(req, &arg)) != SA_OK)
		return send_error(req, rc, NULL, NULL);
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		goto fail;
	u->srv = req->srv;
	u->ws_server = wss;
	u->ws = req->route->ws;
	u->arg = arg;
	memcpy(u->id, req->id, sizeof(u->id));
	r = MHD_create_response_for_upgrade(upgrade_cb, u);
	if (r == NULL)
		goto fail;
	MHD_add_response_header(r, "Upgrade", "websocket");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
	MHD_add_response_header(r, "X-Request-Id", req->id);
	req->status = 101;
	req->upgraded = 1;
	if (req->cs != NULL)
		atomic_store(&req->cs->upgraded, 1);
	ok = MHD_queue_response(req->conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	if (ok != MHD_YES) {
		/* The callback will never run: free what it would have owned.
		 */
		free(u);
		if (req->route->ws->on_close != NULL)
			req->route->ws->on_close(wss, 0, 1011, 0, arg);
	}
	return ok;
fail:
	free(u);
	if (req->route->ws->on_close != NULL)
		req->route->ws->on_close(wss, 0, 1011, 0, arg);
	return send_error(req, SA_ERR_NOMEM, NULL, NULL);
}

/* ---- Upgrades answered by the accept thread ----------------------------- */

/*
 * log_request tells the metrics hook of an answered request and writes its
 * access log line; a request without a libmicrohttpd connection is one the
 * accept thread answered (early_upgrade), and its line says so.
 */
static void
log_request(struct http_request *req, int ok)
{
	const struct http_config *cfg = &req->srv->cfg;
	uint64_t elapsed_us = now_mono_us() - req->start_us;
	json_t *line;

	if (cfg->observe != NULL && req->status > 0) {
		char sclass[4] = {(char)('0' + req->status / 100 % 10), 'x',
				  'x', '\0'};

		/* The route's pattern, never the path: labels stay few. */
		cfg->observe(cfg->ctx,
			     req->route ? req->route->pattern : "unmatched",
			     sclass, elapsed_us);
	}
	if (!log_enabled(SA_LOG_INFO))
		return;
	/* The path only: query strings may carry tokens. */
	line = json_pack(
	    "{s:s, s:s, s:s, s:i, s:I, s:s, s:b}", "req", req->id, "method",
	    req->method, "path", req->path, "status", (int)req->status, "ms",
	    (json_int_t)(elapsed_us / 1000), "ip", req->ip, "ok", ok);
	if (line != NULL && req->conn == NULL)
		json_object_set_new(line, "early", json_true());
	log_json(SA_LOG_INFO, "http.request", line);
}

/* early_enabled tells whether the accept thread answers upgrades itself
 * (early_upgrade): asked for, with a WebSocket loop and an audit hook. */
static int
early_enabled(const struct http_config *cfg)
{
	return cfg->ws_early && cfg->ws != NULL && cfg->audit_async != NULL;
}

/*
 * early_upgrade answers, on the accept thread, a WebSocket upgrade that
 * arrived whole with its connection (ws_early.h says which) and hands the
 * socket to the WebSocket loop: no worker and no libmicrohttpd connection
 * take part, which saves a login about fifteen system calls and a thread
 * hand-off. It returns 0, having read nothing, for any other connection
 * and for an upgrade that would be refused (origin, connection limits,
 * rate limit, the route's ws_prepare): libmicrohttpd then answers it as it
 * answers every request. It returns 1 when it has taken the socket.
 */
static int
early_upgrade(struct http_server *srv, int fd, const struct sockaddr *addr)
{
	const struct http_config *cfg = &srv->cfg;
	char head[WS_EARLY_HEAD_MAX], accept[29], answer[256];
	struct ws_early_req e;
	struct http_request req;
	struct netaddr peer;
	const struct route *r;
	const char *cls;
	struct ws_hold *h;
	void *arg = NULL;
	int64_t retry = 0;
	int first = 0, per_addr = 0, len;
	enum sa_err rc = SA_ERR_IO;
	uint64_t id = 0;
	ssize_t n;

	if (!early_enabled(cfg) || atomic_load(&srv->stopping))
		return 0;
	n = recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0 || !ws_early_parse(head, (size_t)n, &e) ||
	    ws_accept_key(e.key, accept) != SA_OK ||
	    (e.has_origin && !http_origin_allowed(cfg->ws_origins, e.origin)) ||
	    netaddr_from_sockaddr(addr, &peer) != SA_OK)
		return 0;
	memset(&req, 0, sizeof(req));
	req.srv = srv;
	req.wsreq = &e;
	req.path = e.path;
	req.ua = e.ua[0] != '\0' ? e.ua : NULL;
	req.origin = e.has_origin ? e.origin : NULL;
	req.start_us = now_mono_us();
	str_copy(req.method, sizeof(req.method), "GET");
	netaddr_format(&peer, req.ip);
	r = route_find(&req, "GET");
	if (r == NULL || !(r->flags & ROUTE_WEBSOCKET))
		return 0;
	req.route = r;
	if (conn_count_take(srv->counts, &peer, &per_addr) != SA_OK)
		return 0;
	/* The route's ws_prepare before the rate limit: a request it declines
	 * goes to libmicrohttpd without having counted here, so every upgrade
	 * counts once against the limit, whichever path answers it. */
	request_id(req.id);
	if (r->ws_prepare != NULL && r->ws_prepare(&req, &arg) != SA_OK)
		goto decline;
	cls = r->rate_class ? r->rate_class : "default";
	if (cfg->limit != NULL &&
	    cfg->limit(cfg->ctx, cls, "ip", req.ip, &retry, &first) != SA_OK) {
		/* libmicrohttpd answers the refusal, but there it is no longer
		 * the first of its window: its audit event is queued here. */
		if (first)
			cfg->audit_async(
			    cfg->ctx, &req, "ratelimit.refused", "",
			    json_pack("{s:s, s:s, s:s}", "class", cls, "kind",
				      "ip", "path", req.path));
		/* ws_prepare's argument: freed as on a failed adoption. */
		if (r->ws->on_close != NULL)
			r->ws->on_close(cfg->ws, 0, 1011, 0, arg);
		goto decline;
	}
	/*
	 * From here the request is ours: read it off the socket. The loop
	 * writes the 101 with the first event of the route (ws_adopt_answer),
	 * so the answer and a login's code reach the browser in one segment.
	 */
	len = snprintf(answer, sizeof(answer),
		       "HTTP/1.1 101 Switching Protocols\r\n"
		       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Sec-WebSocket-Accept: %s\r\nX-Request-Id: %s\r\n\r\n",
		       accept, req.id);
	if (recv(fd, head, e.head_len, MSG_DONTWAIT) != (ssize_t)e.head_len ||
	    len <= 0 || (size_t)len >= sizeof(answer) ||
	    (h = calloc(1, sizeof(*h))) == NULL)
		goto fail;
	h->fd = fd;
	h->counts = conn_count_hold(srv->counts);
	h->counted = 1;
	h->has_addr = 1;
	h->addr = peer;
	if ((rc = ws_adopt_answer(cfg->ws, fd, answer, (size_t)len,
				  release_socket, h, r->ws, arg, &id)) !=
	    SA_OK) {
		/* release_socket was not called: close and give back here. */
		conn_count_free(h->counts);
		free(h);
		goto fail;
	}
	req.status = 101;
	log_request(&req, 1);
	return 1;
fail:
	/* SA_ERR_IO: a system call failed, and errno says why. */
	log_msg(SA_LOG_WARN, "ws.adopt", req.id, "WebSocket not adopted: %s",
		rc == SA_ERR_IO ? strerror(errno) : sa_err_str(rc));
	if (r->ws->on_close != NULL)
		r->ws->on_close(cfg->ws, 0, 1011, 0, arg);
	/* Nothing was answered yet: the client learns why it ends. */
	len = snprintf(answer, sizeof(answer),
		       "HTTP/1.1 503 Service Unavailable\r\n"
		       "Content-Length: 0\r\nConnection: close\r\n"
		       "Retry-After: 1\r\nX-Request-Id: %s\r\n\r\n",
		       req.id);
	if (len > 0 && (size_t)len < sizeof(answer))
		(void)send(fd, answer, (size_t)len,
			   MSG_NOSIGNAL | MSG_DONTWAIT);
	req.status = 503;
	log_request(&req, 0);
	conn_count_give(srv->counts, &peer);
	close(fd);
	return 1;
decline:
	conn_count_give(srv->counts, &peer);
	return 0;
}

/* ---- The request path --------------------------------------------------- */

/* content_type_is tells whether ct names the media type want, with any
 * parameters. */
static int
content_type_is(const char *ct, const char *want)
{
	size_t n;

	if (ct == NULL)
		return 0;
	n = strcspn(ct, ";");
	while (n > 0 && ct[n - 1] == ' ')
		n--;
	return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

static int
content_type_is_json(const char *ct)
{
	if (!content_type_is(ct, "application/json"))
		return 0;
	ct += strcspn(ct, ";");
	if (*ct == '\0')
		return 1;
	ct++;
	while (*ct == ' ')
		ct++;
	/* Only UTF-8 is JSON (RFC 8259 §8.1). */
	return strncasecmp(ct, "charset=utf-8", 13) == 0 &&
	       (ct[13] == '\0' || ct[13] == ' ' || ct[13] == ';');
}

static enum MHD_Result
handle_preflight(struct http_request *req)
{
	struct http_response res = {0};
	const char *want =
	    http_req_header(req, "Access-Control-Request-Method");
	const struct route *r;

	if (want == NULL || req->origin == NULL) {
		/* A plain OPTIONS: say what the path allows. */
		route_find(req, "OPTIONS");
		http_res_bytes(&res, req->allow[0] ? 204 : 404, NULL, "", 0);
		if (req->allow[0])
			http_res_header(&res, "Allow", req->allow);
		return send_response(req, &res);
	}
	r = route_find(req, want);
	if (r == NULL || !(r->flags & ROUTE_CORS) ||
	    !http_origin_allowed(req->srv->cfg.cors_origins, req->origin))
		return send_error(
		    req, SA_ERR_ORIGIN, "Origin",
		    "cross-origin requests from this origin are not allowed");
	req->route = r;
	http_res_bytes(&res, 204, NULL, "", 0);
	http_res_header(&res, "Access-Control-Allow-Methods", r->method);
	http_res_header(&res, "Access-Control-Allow-Headers",
			"Content-Type, Authorization");
	http_res_header(&res, "Access-Control-Max-Age", "600");
	return send_response(req, &res);
}

static enum MHD_Result
handle_request(struct http_request *req)
{
	const struct http_config *cfg = &req->srv->cfg;
	struct http_response res = {0};
	const struct route *r = req->route;
	struct schema_error serr;
	enum sa_err rc;

	if (strcmp(req->method, "OPTIONS") == 0)
		return handle_preflight(req);
	if (r == NULL)
		return send_error(
		    req, req->allow[0] ? SA_ERR_METHOD : SA_ERR_NOT_FOUND, NULL,
		    NULL);
	if (req->early != SA_OK)
		return send_error(req, req->early, NULL, NULL);
	if (limit_hit(req, &res, r->rate_class ? r->rate_class : "default",
		      "ip", req->ip) != SA_OK)
		return send_response(req, &res);
	if (r->flags & ROUTE_WEBSOCKET)
		return handle_upgrade(req);
	if (r->flags & ROUTE_JSON_BODY) {
		if (!content_type_is_json(http_req_header(req, "Content-Type")))
			return send_error(req, SA_ERR_UNSUPPORTED_MEDIA,
					  "Content-Type", NULL);
		memset(&serr, 0, sizeof(serr));
		rc = schema_parse_json((const char *)req->body.data,
				       req->body.len, (size_t)cfg->body_limit,
				       &req->json, &serr);
		if (rc == SA_OK && r->schema != NULL)
			rc = schema_validate(r->schema, req->json,
					     cfg->schema_flags, &serr);
		if (rc != SA_OK)
			return send_error(
			    req, rc, serr.field[0] ? serr.field : NULL,
			    serr.message[0] ? serr.message : NULL);
	} else if (r->flags & ROUTE_FORM_BODY) {
		if (req->body.len > 0 &&
		    !content_type_is(http_req_header(req, "Content-Type"),
				     "application/x-www-form-urlencoded"))
			return send_error(req, SA_ERR_UNSUPPORTED_MEDIA,
					  "Content-Type", NULL);
	} else if (req->body.len > 0) {
		return send_error(req, SA_ERR_BAD_REQUEST, NULL,
				  "this endpoint takes no request body");
	}
	if (!handler_enter(req->srv))
		return send_error(req, SA_ERR_SHUTTING_DOWN, NULL, NULL);
	rc = r->handler(req, &res);
	if (req->cont != NULL) {
		/* Parked: the continuation answers after http_req_unpark. */
		res_free(&res);
		return MHD_YES;
	}
	park_done(req->srv);
	if (res.status == 0)
		http_res_error(&res, rc == SA_OK ? SA_ERR_INTERNAL : rc, NULL,
			       NULL);
	return send_response(req, &res);
}

/*
 * refuse_now answers at once, on the first call of the access handler,
 * and closes the connection after the answer: for a request whose framing
 * cannot be trusted, or whose body is declared too large to read.
 */
static enum MHD_Result
refuse_now(struct http_request *req, enum sa_err err, const char *field,
	   const char *msg)
{
	struct http_response res = {0};

	http_res_error(&res, err, field, msg ? "%s" : NULL, msg);
	http_res_header(&res, "Connection", "close");
	log_info("http.refused", "%s %s from %s: %s", req->method, req->path,
		 req->ip, msg ? msg : sa_err_str(err));
	return send_response(req, &res);
}

/* ---- Connections and the header deadline -------------------------------- */

struct conn_state *
http_conn_state_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/*
 * count_conn counts a new connection against the connection limits, or
 * refuses it: shut down, so its worker closes it at once without an answer
 * (as libmicrohttpd refuses one over its own limits). Counting here, where
 * every start has its matching close, rather than in the accept thread,
 * keeps the counts exact even when MHD drops a connection it was handed.
 */
static void
count_conn(struct http_server *srv, struct MHD_Connection *conn,
	   struct conn_state *cs)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	int per_addr = 0;
	enum sa_err rc;

	cs->has_addr = ci != NULL && netaddr_from_sockaddr(ci->client_addr,
							   &cs->addr) == SA_OK;
	rc = conn_count_take(srv->counts, cs->has_addr ? &cs->addr : NULL,
			     &per_addr);
	if (rc == SA_OK) {
		cs->counted = 1;
		return;
	}
	log_debug("http.accept", "connection refused: %s",
		  rc != SA_ERR_UNAVAILABLE ? sa_err_str(rc)
		  : per_addr
		      ? "its address has SEALAUTH_PER_IP_CONNECTION_LIMIT "
			"connections open"
		      : "SEALAUTH_CONNECTION_LIMIT connections are open");
	if (cs->fd >= 0)
		shutdown(cs->fd, SHUT_RDWR);
}

/* notify_conn keeps srv->conns: one entry per open connection. */
static void
notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
	    enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct conn_state *cs = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		if ((cs = calloc(1, sizeof(*cs))) == NULL) {
			/* Neither counted nor timed: refuse it. */
			if (ci != NULL)
				shutdown(ci->connect_fd, SHUT_RDWR);
			return;
		}
		cs->fd = ci != NULL ? ci->connect_fd : -1;
		count_conn(srv, conn, cs);
		atomic_store(&cs->since_ms, now_mono_ms());
		pthread_mutex_lock(&srv->conn_mu);
		cs->next = srv->conns;
		if (srv->conns != NULL)
			srv->conns->prev = cs;
		srv->conns = cs;
		pthread_mutex_unlock(&srv->conn_mu);
		*socket_context = cs;
		return;
	}
	if (cs == NULL)
		return;
	if (cs->counted && !cs->handed)
		conn_count_give(srv->counts, cs->has_addr ? &cs->addr : NULL);
	/* With MHD_USE_TURBO libmicrohttpd closes without a shutdown first:
	 * the FIN goes out here, before the close, so that an answer sent
	 * before the request was read in full (a refused body, an overlong
	 * path) reaches the client rather than a reset. A socket handed to
	 * the WebSocket loop is not MHD's any more. */
	if (cs->fd >= 0 && !cs->handed)
		shutdown(cs->fd, SHUT_WR);
	/* MHD closes the socket after this returns: the sweeper, holding
	 * conn_mu, never shuts down a descriptor that was reused. */
	pthread_mutex_lock(&srv->conn_mu);
	if (cs->prev != NULL)
		cs->prev->next = cs->next;
	else
		srv->conns = cs->next;
	if (cs->next != NULL)
		cs->next->prev = cs->prev;
	pthread_mutex_unlock(&srv->conn_mu);
	free(cs);
	*socket_context = NULL;
}

/*
 * sweep_main cuts connections whose request headers did not arrive within
 * the header deadline from their opening or their previous answer: a client
 * trickling a byte at a time resets the idle timeout but not this one. It
 * shuts the socket down; the worker that owns it then sees the end and
 * closes it.
 */
static void *
sweep_main(void *arg)
{
	struct http_server *srv = arg;
	uint64_t limit = (uint64_t)srv->cfg.header_timeout * 1000u;

	thread_name("sa-http-sweep");
	pthread_mutex_lock(&srv->conn_mu);
	while (!srv->sweep_stop) {
		struct timespec until = mono_deadline_ms(SWEEP_MS);
		uint64_t now = now_mono_ms();
		size_t cut = 0;
		for (struct conn_state *cs = srv->conns; cs != NULL;
		     cs = cs->next) {
			if (cs->cut || cs->fd < 0 ||
			    atomic_load(&cs->in_request) ||
			    atomic_load(&cs->upgraded) ||
			    !http_header_overdue(
				now, atomic_load(&cs->since_ms), limit))
				continue;
			shutdown(cs->fd, SHUT_RDWR);
			cs->cut = 1;
			cut++;
		}
		if (cut > 0)
			log_info("http.header_timeout",
				 "closed %zu connections without a complete "
				 "request within %ld s",
				 cut, srv->cfg.header_timeout);
		pthread_cond_timedwait(&srv->conn_cv, &srv->conn_mu, &until);
	}
	pthread_mutex_unlock(&srv->conn_mu);
	return NULL;
}

/* new_request sets up a request on the first call of the access handler. */
static struct http_request *
new_request(struct http_server *srv, struct MHD_Connection *conn,
	    const char *url, const char *method, struct http_request *req)
{
	const union MHD_ConnectionInfo *ci;
	struct netaddr peer, client;
	if (req == NULL)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	req->cs = http_conn_state_of(conn);
	if (req->cs != NULL)
		atomic_store(&req->cs->in_request, 1);
	req->start_us = now_mono_us();
	buf_init(&req->body, (size_t)srv->cfg.body_limit);
	request_id(req->id);
	str_copy(req->method, sizeof(req->method), method);
	req->path = strndup(url, PATH_MAX_LEN);
	if (req->path == NULL) {
		free(req->raw_query);
		free(req);
		return NULL;
	}
	if (strlen(url) >= PATH_MAX_LEN)
		req->early = SA_ERR_NOT_FOUND;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	memset(&peer, 0, sizeof(peer));
	if (ci != NULL && ci->client_addr != NULL)
		netaddr_from_sockaddr(ci->client_addr, &peer);
	netaddr_client(&peer,
		       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   "X-Forwarded-For"),
		       srv->cfg.trusted_proxies, &client);
	netaddr_format(&client, req->ip);
	req->ua =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
	req->origin =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	if (strcmp(method, "OPTIONS") != 0)
		req->route = route_find(req, method);
	return req;
}

/* resume_request answers a parked request through its continuation. */
static enum MHD_Result
resume_request(struct http_request *req)
{
	struct http_response res = {0};
	http_cont cont = req->cont;
	enum MHD_Result ok;
	enum sa_err rc;

	req->cont = NULL;
	rc = cont(req, &res, req->cont_arg);
	if (res.status == 0)
		http_res_error(&res, rc == SA_OK ? SA_ERR_INTERNAL : rc, NULL,
			       NULL);
	ok = send_response(req, &res);
	park_done(req->srv);
	return ok;
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url,
	  const char *method, const char *version, const char *upload_data,
	  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	if (req == NULL || req->srv == NULL) {
		const char *cl, *why, *field = NULL;

		if (req == NULL)
			req = calloc(1, sizeof(*req));
		if (req != NULL)
			req = new_request(srv, conn, url, method, req);
		*con_cls = req;
		if (req == NULL)
			return MHD_NO;
		/* Over a connection limit: count_conn shut it down, and MHD
		 * closes it on the hang-up, but a read could still return bytes
		 * received before: serve nothing, whatever arrives. */
		if (req->cs == NULL || !req->cs->counted)
			return MHD_NO;
		if ((why = http_strict_check(req, url, version, &field)) !=
		    NULL)
			return refuse_now(req, SA_ERR_BAD_REQUEST, field, why);
		/* A declared body over the limit is refused before any of it
		 * is read; the connection closes after the answer. */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 "Content-Length");
		if (cl != NULL && strtoull(cl, NULL, 10) >
				      (unsigned long long)srv->cfg.body_limit)
			return refuse_now(req, SA_ERR_BODY_TOO_LARGE,
					  "Content-Length", NULL);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/*
		 * An oversized body is drained, not kept, and answered 413 at
		 * its end: answering mid-upload makes MHD close a socket with
		 * unread data, the peer gets a reset instead of the answer.
		 * The connection timeout bounds how long a drain can last.
		 */
		if (req->early == SA_OK &&
		    buf_append(&req->body, upload_data, *upload_data_size) !=
			SA_OK)
			req->early = SA_ERR_BODY_TOO_LARGE;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->status != 0)
		return MHD_YES;
	if (req->cont != NULL)
		return resume_request(req);
	return handle_request(req);
}

static void
completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *con_cls;
	if (req == NULL)
		return;
	if (req->srv == NULL) {
		/* Allocated by uri_log_cb, never reached the handler. */
		free(req->raw_query);
		free(req);
		*con_cls = NULL;
		return;
	}
	if (req->cs != NULL && !req->upgraded) {
		/* The next request's headers get a deadline of their own. */
		atomic_store(&req->cs->since_ms, now_mono_ms());
		atomic_store(&req->cs->in_request, 0);
	}
	if (req->cont != NULL) {
		/* Ended while parked: the continuation only frees its arg. */
		req->cont(req, NULL, req->cont_arg);
		req->cont = NULL;
		park_done(req->srv);
	}
	log_request(req, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	json_decref(req->json);
	buf_free(&req->body);
	free(req->path);
	free(req->raw_query);
	free(req);
	*con_cls = NULL;
}

/*
 * uri_log_cb runs when a request line has been read, before the access
 * handler: it allocates the request and keeps its query string as sent,
 * which a signed SAML redirect needs byte for byte (MHD only hands out
 * decoded arguments). The access handler completes the request.
 */
static void *
uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_request *req = calloc(1, sizeof(*req));
	const char *q = uri != NULL ? strchr(uri, '?') : NULL;

	(void)cls;
	(void)conn;
	if (req != NULL && uri != NULL) {
		req->line_uri = (uintptr_t)uri;
		req->line_uri_len = strlen(uri);
	}
	if (req != NULL && q != NULL && strlen(q + 1) <= RAW_QUERY_MAX)
		req->raw_query = strdup(q + 1);
	return req;
}

/* MHD's messages are printf formats of its own. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("http.mhd", "%s", msg);
}

/* ---- Start and stop ----------------------------------------------------- */

static enum sa_err
resolve_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints, *res = NULL;
	size_t hl;

	if (colon == NULL)
		return SA_ERR_CONFIG;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return SA_ERR_CONFIG;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
		return SA_ERR_CONFIG;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return SA_OK;
}

/* add_conn hands an accepted socket to the workers (listener_cb). MHD
 * closes it when it cannot take it, at the connection limit for one. */
static void
add_conn(int fd, const struct sockaddr *addr, socklen_t len, void *arg)
{
	struct http_server *srv = arg;

	if (early_upgrade(srv, fd, addr))
		return;
	/* libmicrohttpd's requests may wait for an audit commit, and a
	 * client may hold a body back for the acknowledgement. */
	if (srv->delayed_acks)
		listener_quick_acks(fd);
	if (MHD_add_connection(srv->d, fd, addr, len) != MHD_YES)
		log_debug("http.accept", "connection refused: %s",
			  strerror(errno));
}

enum sa_err
http_listen(const char *listen, struct listener **out, unsigned int *port)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	enum sa_err rc;

	if ((rc = resolve_listen(listen, &ss, &sslen)) != SA_OK) {
		log_error("http.listen", "cannot resolve listen address %s",
			  listen);
		return rc;
	}
	if ((rc = listener_open((struct sockaddr *)&ss, sslen, 4096, out,
				port)) != SA_OK)
		log_error("http.listen", "cannot listen on %s", listen);
	return rc;
}

/* sweep_stop ends the header-deadline thread. */
static void
sweep_stop(struct http_server *srv)
{
	if (!srv->sweeping)
		return;
	pthread_mutex_lock(&srv->conn_mu);
	srv->sweep_stop = 1;
	pthread_cond_signal(&srv->conn_cv);
	pthread_mutex_unlock(&srv->conn_mu);
	pthread_join(srv->sweeper, NULL);
	srv->sweeping = 0;
}

enum sa_err
http_server_start(const struct http_config *cfg, const struct route *routes,
		  size_t nroutes, struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	unsigned int flags, threads;
	enum sa_err rc;

	if (srv == NULL)
		return SA_ERR_NOMEM;
	srv->placeholder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->placeholder < 0) {
		log_error("http.start", "cannot make a socket: %s",
			  strerror(errno));
		free(srv);
		return SA_ERR_IO;
	}
	if ((rc = conn_count_new(cfg->connection_limit > 0
				     ? (size_t)cfg->connection_limit
				     : SIZE_MAX,
				 cfg->per_ip_connection_limit > 0
				     ? (size_t)cfg->per_ip_connection_limit
				     : 0,
				 &srv->counts)) != SA_OK) {
		close(srv->placeholder);
		free(srv);
		return rc;
	}
	srv->cfg = *cfg;
	srv->routes = routes;
	srv->nroutes = nroutes;
	if (cfg->bound != NULL) {
		srv->listener = cfg->bound;
		srv->port = cfg->bound_port;
	} else if ((rc = http_listen(cfg->listen, &srv->listener,
				     &srv->port)) != SA_OK) {
		close(srv->placeholder);
		conn_count_free(srv->counts);
		free(srv);
		return rc;
	}
	/*
	 * Login requests park while their audit row commits, but the other
	 * writes (enrollment, revocation) wait for it on the worker, so a
	 * thread per core would leave cores idle meanwhile. Measured on 2
	 * cores with parked logins: 4 threads about 2,300 logins/s, 8 about
	 * 2,550, 16 about 2,500.
	 */
	threads = cfg->threads > 0
		      ? (unsigned int)cfg->threads
		      : 4 * (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 4)
		threads = 4;
	pthread_mutex_init(&srv->park_mu, NULL);
	cond_init_mono(&srv->park_cv);
	pthread_mutex_init(&srv->conn_mu, NULL);
	cond_init_mono(&srv->conn_cv);
	/* Our accept thread adds connections (listener.h); ITC wakes the
	 * worker that receives one, and lets the daemon stop cleanly. With
	 * MHD_USE_TURBO a new connection is read at once and joins the epoll
	 * set only when it has to wait, so a WebSocket whose upgrade request
	 * is already there never does (notify_conn sends the FIN that turbo
	 * mode leaves out). */
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_UPGRADE |
		MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_NO_LISTEN_SOCKET | MHD_USE_TURBO;
	srv->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, access_cb, srv,
	    /* First, so that MHD's own messages all go to our log. */
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    /* The default caps near 1020 even with epoll: set it explicitly. */
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->connection_limit,
	    /* Per connection; a WebSocket gives it back at once. */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)cfg->connection_timeout, MHD_OPTION_NOTIFY_COMPLETED,
	    completed_cb, srv, MHD_OPTION_NOTIFY_CONNECTION, notify_conn, srv,
	    /* Refuses spaces in header names and HTTP/1.1 without Host. */
	    MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_UNESCAPE_CALLBACK,
	    http_unescape_url, srv,
	    /* Per address: counted by count_conn, WebSockets included. */
	    MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, srv, MHD_OPTION_END);
	if (srv->d == NULL) {
		log_error("http.listen", "cannot start the HTTP workers");
		listener_close(srv->listener);
		close(srv->placeholder);
		conn_count_free(srv->counts);
		free(srv);
		return SA_ERR_IO;
	}
	if (cfg->header_timeout > 0 &&
	    pthread_create(&srv->sweeper, NULL, sweep_main, srv) == 0)
		srv->sweeping = 1;
	/* An upgrade the accept thread answers acknowledges its request with
	 * the 101 (listener_delay_acks); any other connection gets quick
	 * acknowledgements back in add_conn. */
	if (early_enabled(cfg)) {
		listener_delay_acks(srv->listener);
		srv->delayed_acks = 1;
	}
	if ((rc = listener_start(srv->listener, add_conn, srv)) != SA_OK) {
		sweep_stop(srv);
		MHD_stop_daemon(srv->d);
		listener_close(srv->listener);
		close(srv->placeholder);
		conn_count_free(srv->counts);
		free(srv);
		return rc;
	}
	log_info("http.listen",
		 "at most %ld connections, %ld per address (0: no cap); "
		 "request headers within %ld s",
		 cfg->connection_limit, cfg->per_ip_connection_limit,
		 cfg->header_timeout);
	*out = srv;
	return SA_OK;
}

unsigned int
http_server_port(const struct http_server *srv)
{
	return srv->port;
}

size_t
http_server_connections(const struct http_server *srv, size_t *limit)
{
	*limit = srv->cfg.connection_limit > 0
		     ? (size_t)srv->cfg.connection_limit
		     : 0;
	return conn_count_open(srv->counts, NULL);
}

void
http_server_quiesce(struct http_server *srv)
{
	listener_close(srv->listener);
	srv->listener = NULL;
}

void
http_server_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	listener_close(srv->listener);
	/* Parked requests wait for audit commits, which go on until the
	 * audit log closes after this: let them answer first. */
	atomic_store(&srv->stopping, 1); /* new requests get 503 from here */
	pthread_mutex_lock(&srv->park_mu);
	if (atomic_load(&srv->active) > 0) {
		struct timespec until = mono_deadline_ms(PARK_DRAIN_S * 1000u);
		size_t left;
		while (atomic_load(&srv->active) > 0 &&
		       pthread_cond_timedwait(&srv->park_cv, &srv->park_mu,
					      &until) == 0)
			;
		if ((left = atomic_load(&srv->active)) > 0) {
			pthread_mutex_unlock(&srv->park_mu);
			/*
			 * Their audit rows are still being written and will
			 * resume them later: stopping MHD now would free what
			 * those resumptions use. Leave the daemon to the
			 * process's exit.
			 */
			log_error("http.stop",
				  "%zu requests did not finish "
				  "within %d s; the HTTP workers "
				  "are left running",
				  left, PARK_DRAIN_S);
			return;
		}
	}
	pthread_mutex_unlock(&srv->park_mu);
	sweep_stop(srv);
	MHD_stop_daemon(srv->d);
	close(srv->placeholder);
	/* WebSockets still open hold the counts until they end. */
	conn_count_free(srv->counts);
	pthread_cond_destroy(&srv->park_cv);
	pthread_mutex_destroy(&srv->park_mu);
	free(srv);
}
