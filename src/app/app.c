/*
 * app.c - helpers over the shared server state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "audit/audit.h"
#include "net/http.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/ratelimit.h"
#include "core/util.h"
#include "store/store.h"

static enum sa_err
http_audit_hook(void *ctx, struct http_request *req, const char *event,
		const char *subject, json_t *detail)
{
	return app_audit(ctx, req, event, subject, detail);
}

static void audit_async_from(struct app *app, const char *ip, const char *ua,
			     const char *event, const char *subject,
			     json_t *detail);

static void
http_audit_async_hook(void *ctx, struct http_request *req, const char *event,
		      const char *subject, json_t *detail)
{
	audit_async_from(ctx, http_req_ip(req), http_req_ua(req), event,
			 subject, detail);
}

static enum sa_err
http_limit_hook(void *ctx, const char *cls, const char *kind, const char *key,
		int64_t *retry, int *first)
{
	struct app *app = ctx;
	enum sa_err rc;

	if (app->rl == NULL)
		return SA_OK;
	rc = ratelimit_hit(app->rl, cls, kind, key, retry, first);
	if (rc == SA_ERR_RATE_LIMITED)
		metrics_add(app->metrics, M_RATELIMIT, cls, NULL, 1);
	return rc;
}

static void
http_observe_hook(void *ctx, const char *route, const char *status_class,
		  uint64_t elapsed_us)
{
	struct app *app = ctx;

	metrics_observe(app->metrics, M_HTTP, route, status_class, elapsed_us);
}

/*
 * count_event counts an audit event in the metrics, with its "reason" or
 * "step" detail (a fixed text from the code) where it has one.
 */
static void
count_event(struct app *app, const char *event, const json_t *detail)
{
	const char *why;

	if (app->metrics == NULL)
		return;
	why = json_string_value(json_object_get(detail, "reason"));
	if (why == NULL || strcmp(event, "enroll.refused") == 0)
		why = json_string_value(json_object_get(detail, "step"));
	metrics_event(app->metrics, event, why);
}

int
app_es_in_process(struct app *app)
{
	return app->es == NULL || strcmp(estore_name(app->es), "mem") == 0;
}

void
app_http_config(struct app *app, struct http_config *hc)
{
	memset(hc, 0, sizeof(*hc));
	hc->listen = app->cfg.listen;
	hc->threads = app->cfg.threads;
	hc->connection_limit = app->cfg.connection_limit;
	hc->connection_memory = app->cfg.connection_memory;
	hc->connection_timeout = app->cfg.connection_timeout;
	hc->header_timeout = app->cfg.header_timeout;
	hc->per_ip_connection_limit = app->cfg.per_ip_connection_limit;
	if (hc->per_ip_connection_limit < 0)
		hc->per_ip_connection_limit =
		    app->trusted_proxies.n > 0 ? 0 : APP_PER_IP_CONNECTIONS;
	hc->body_limit = app->cfg.body_limit;
	hc->hsts_max_age = app->cfg.hsts_max_age;
	hc->schema_flags = app->schema_flags;
	hc->trusted_proxies = &app->trusted_proxies;
	hc->cors_origins = app->cors_origins;
	hc->ws_origins = app->ws_origins;
	hc->ws = app->ws;
	hc->ctx = app;
	hc->audit = http_audit_hook;
	hc->audit_async = http_audit_async_hook;
	hc->limit = http_limit_hook;
	/* Only with in-process rate limits: the accept thread must not wait
	 * for Redis. */
	hc->ws_early = app_es_in_process(app);
	hc->observe = app->metrics ? http_observe_hook : NULL;
}

enum sa_err
app_audit(struct app *app, struct http_request *req, const char *event,
	  const char *subject, json_t *detail)
{
	if (app->audit == NULL) {
		json_decref(detail);
		return SA_ERR_UNAVAILABLE;
	}
	count_event(app, event, detail);
	return audit_log(app->audit, event, req ? http_req_ip(req) : "",
			 req ? http_req_ua(req) : "", subject ? subject : "",
			 detail);
}

enum sa_err
app_audit_many(struct app *app, struct http_request *req,
	       const struct audit_event *ev, size_t n)
{
	if (app->audit == NULL) {
		for (size_t i = 0; i < n; i++)
			json_decref(ev[i].detail);
		return SA_ERR_UNAVAILABLE;
	}
	for (size_t i = 0; i < n; i++)
		count_event(app, ev[i].event, ev[i].detail);
	return audit_log_many(app->audit, req ? http_req_ip(req) : "",
			      req ? http_req_ua(req) : "", ev, n);
}

/* What the audit callback needs to wake a parked request. */
struct park_ctx {
	struct http_request *req;
	enum sa_err *audit_rc;
};

static void
park_audited(enum sa_err rc, void *arg)
{
	struct park_ctx *p = arg;
	struct http_request *req = p->req;

	*p->audit_rc = rc;
	free(p);
	http_req_unpark(req);
}

/*
 * park_queue parks req and queues event with its detail as a jansson
 * object (detail) or as text (text, n bytes); both are stolen.
 */
static enum sa_err
park_queue(struct app *app, struct http_request *req, const char *event,
	   const char *subject, json_t *detail, char *text, size_t n,
	   enum sa_err *audit_rc, http_cont cont, void *arg)
{
	struct park_ctx *p = malloc(sizeof(*p));
	enum sa_err rc;

	http_req_park(req, cont, arg);
	if (p == NULL) {
		json_decref(detail);
		free(text);
		rc = SA_ERR_NOMEM;
		goto fail;
	}
	p->req = req;
	p->audit_rc = audit_rc;
	rc = app_audit_then(app, req, event, subject, detail, text, n,
			    park_audited, p);
	if (rc == SA_OK)
		return SA_OK;
fail:
	/* Not queued: the continuation answers with the error at once. */
	free(p);
	*audit_rc = rc;
	http_req_unpark(req);
	return rc;
}

enum sa_err
app_audit_park(struct app *app, struct http_request *req, const char *event,
	       const char *subject, json_t *detail, enum sa_err *audit_rc,
	       http_cont cont, void *arg)
{
	return park_queue(app, req, event, subject, detail, NULL, 0, audit_rc,
			  cont, arg);
}

enum sa_err
app_audit_park_text(struct app *app, struct http_request *req,
		    const char *event, const char *subject, char *detail,
		    size_t n, enum sa_err *audit_rc, http_cont cont, void *arg)
{
	if (detail == NULL) {
		/* Not written for want of memory: refused, not {}. */
		http_req_park(req, cont, arg);
		*audit_rc = SA_ERR_NOMEM;
		http_req_unpark(req);
		return SA_ERR_NOMEM;
	}
	return park_queue(app, req, event, subject, NULL, detail, n, audit_rc,
			  cont, arg);
}

enum sa_err
app_audit_then(struct app *app, struct http_request *req, const char *event,
	       const char *subject, json_t *detail, char *text, size_t n,
	       void (*cb)(enum sa_err rc, void *arg), void *arg)
{
	if (app->audit == NULL) {
		json_decref(detail);
		free(text);
		return SA_ERR_UNAVAILABLE;
	}
	count_event(app, event, detail);
	if (subject == NULL)
		subject = "";
	if (text != NULL)
		return audit_log_text_cb(app->audit, event, http_req_ip(req),
					 http_req_ua(req), subject, text, n, cb,
					 arg);
	return audit_log_cb(app->audit, event, http_req_ip(req),
			    http_req_ua(req), subject, detail, cb, arg);
}

static void
async_done(enum sa_err rc, void *arg)
{
	if (rc != SA_OK)
		log_error("audit.async", "an audit event was not written: %s",
			  sa_err_str(rc));
}

void
app_audit_async(struct app *app, const char *event, const char *subject,
		json_t *detail)
{
	audit_async_from(app, "", "", event, subject, detail);
}

/* audit_async_from is app_audit_async for an event with the client's
 * address and user agent. */
static void
audit_async_from(struct app *app, const char *ip, const char *ua,
		 const char *event, const char *subject, json_t *detail)
{
	enum sa_err rc;

	if (app->audit == NULL) {
		json_decref(detail);
		return;
	}
	count_event(app, event, detail);
	rc = audit_log_cb(app->audit, event, ip, ua, subject ? subject : "",
			  detail, async_done, NULL);
	if (rc != SA_OK)
		log_error("audit.async", "audit event %s not queued: %s", event,
			  sa_err_str(rc));
}

void
app_rows_init(struct app_rows *r, struct app *app, struct http_request *req)
{
	memset(r, 0, sizeof(*r));
	r->app = app;
	r->req = req;
}

enum sa_err
app_rows_add(struct app_rows *r, const char *event, const char *subject,
	     json_t *detail)
{
	enum sa_err rc = SA_ERR_NOMEM;

	if (r->n < DSTORE_AUDIT_ROWS_MAX) {
		rc = audit_entry_fill(&r->en[r->n], event,
				      r->req ? http_req_ip(r->req) : "",
				      r->req ? http_req_ua(r->req) : "",
				      subject ? subject : "", detail);
		if (rc == SA_OK)
			count_event(r->app, event, detail);
		else
			audit_entry_clear(&r->en[r->n]);
		r->n += rc == SA_OK;
	}
	if (rc != SA_OK)
		r->failed = 1;
	json_decref(detail);
	return rc;
}

size_t
app_rows_out(struct app_rows *r, struct audit_row *rows)
{
	if (r->failed)
		return 0;
	for (size_t i = 0; i < r->n; i++)
		rows[i] = r->en[i].row;
	return r->n;
}

size_t
app_rows_ready(const struct dstore_found *found, struct audit_row *rows,
	       void *arg)
{
	(void)found;
	return app_rows_out(arg, rows);
}

void
app_rows_done(struct app_rows *r, enum sa_err rc)
{
	if (rc == SA_OK && r->n > 0 && !r->failed && r->app->audit != NULL)
		audit_note_written(r->app->audit, r->n);
	for (size_t i = 0; i < r->n; i++)
		audit_entry_clear(&r->en[i]);
	r->n = 0;
}

enum sa_err
app_trust_seq_raise(void *arg, const char *doc, uint64_t seq, uint64_t *highest)
{
	int64_t h = 0;
	enum sa_err rc;

	if (seq > INT64_MAX)
		return SA_ERR_VALIDATION;
	rc = dstore_seq_raise(arg, doc, (int64_t)seq, now_unix(), &h);
	if (rc == SA_OK)
		*highest = h > 0 ? (uint64_t)h : 0;
	return rc;
}
