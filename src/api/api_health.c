/*
 * api_health.c - GET /health: is this instance able to serve?
 *
 * 200 when every dependency answers, 503 when one does not, so a load
 * balancer takes a degraded instance out of rotation. The body says which.
 */
#include <string.h>

#include "api/api.h"
#include "app/app.h"
#include "net/http.h"
#include "push/push.h"
#include "store/store.h"
#include "trust/trust.h"
#include "core/util.h"
#include "net/ws.h"

static json_t *
check(enum sa_err rc, const char *backend, uint64_t ms, int *degraded)
{
	json_t *o =
	    json_pack("{s:s, s:s, s:I}", "status", rc == SA_OK ? "ok" : "down",
		      "backend", backend, "latencyMs", (json_int_t)ms);
	if (rc != SA_OK) {
		*degraded = 1;
		if (o != NULL)
			json_object_set_new(o, "error",
					    json_string(sa_err_str(rc)));
	}
	return o;
}

enum sa_err
api_health(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	int degraded = 0;
	uint64_t t0, t1, t2;
	enum sa_err db, es;
	json_t *body;

	t0 = now_mono_ms();
	db = dstore_ping(app->ds);
	t1 = now_mono_ms();
	es = estore_ping(app->es);
	t2 = now_mono_ms();
	body = json_pack(
	    "{s:s, s:s, s:I, s:{s:o, s:o, s:{s:s, s:s}, s:{s:I}}}", "status",
	    "ok", "version", SEALAUTH_VERSION, "uptimeSeconds",
	    (json_int_t)((now_mono_ms() - app->started_mono_ms) / 1000),
	    "checks", "database",
	    check(db, dstore_name(app->ds), t1 - t0, &degraded), "sessions",
	    check(es, estore_name(app->es), t2 - t1, &degraded), "trust",
	    "status", "not_configured", "detail",
	    "no trust environment is loaded", "websockets", "connections",
	    (json_int_t)(app->ws ? ws_count(app->ws) : 0));
	if (body == NULL)
		return SA_ERR_NOMEM;
	if (app->trust != NULL) {
		json_t *t = trust_status_json(app->trust, now_unix());
		const char *st =
		    json_string_value(json_object_get(t, "status"));
		/* Stale lists still verify until they expire; failed ones do
		 * not. */
		if (st == NULL || strcmp(st, "failed") == 0)
			degraded = 1;
		json_object_set_new(json_object_get(body, "checks"), "trust",
				    t);
		/* What the seal parsers accepted of issuer quirks. */
		json_object_set_new(
		    t, "sealQuirks",
		    seal_stats_json(&app->seal_stats, app->cfg.seal_quirks));
	} else {
		degraded = 1;
	}
	if (app->push != NULL)
		json_object_set_new(
		    json_object_get(body, "checks"), "push",
		    json_pack("{s:s}", "mode", push_mode(app->push)));
	if (degraded)
		json_object_set_new(body, "status", json_string("degraded"));
	http_res_json(res, degraded ? 503 : 200, body);
	return SA_OK;
}
