/*
 * api_metrics.c - GET /metrics: counters, latency histograms and gauges in
 * the Prometheus text format, for the operator's dashboard.
 *
 * Metrics are not public: they are served on a listener of their own
 * (SEALAUTH_METRICS_LISTEN, meant for a private address), or on the main
 * listener only to a request carrying SEALAUTH_METRICS_TOKEN as a bearer
 * token. Without either, /metrics is not found.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "app/app.h"
#include "audit/audit.h"
#include "core/metrics.h"
#include "core/util.h"
#include "net/ws.h"
#include "store/store.h"
#include "trust/trust.h"

/*
 * render answers with the metrics and the gauges read now: open WebSockets,
 * the audit queue, and the trust lists' freshness.
 */
static enum sa_err
render(struct app *app, struct http_response *res)
{
	struct metrics_gauge g[10];
	size_t ng = 0, len = 0, entries = 0, bytes = 0;
	int64_t now = now_unix(), loaded = -1, expires = -1;
	const char *status = NULL;
	json_t *trust = NULL;
	char *text = NULL;
	enum sa_err rc;

	if (app->metrics == NULL)
		return http_res_error(res, SA_ERR_NOT_FOUND, NULL, NULL);
	if (app->trust != NULL &&
	    (trust = trust_status_json(app->trust, now)) != NULL) {
		status = json_string_value(json_object_get(trust, "status"));
		loaded = iso8601_parse(
		    json_string_value(json_object_get(trust, "loadedAt")));
		expires = iso8601_parse(
		    json_string_value(json_object_get(trust, "expiresAt")));
	}
	g[ng++] = (struct metrics_gauge){
	    "sealauth_websockets_open", "Browser WebSockets open now.", NULL,
	    NULL, (double)(app->ws ? ws_count(app->ws) : 0)};
	if (app->http != NULL) {
		size_t limit = 0,
		       open = http_server_connections(app->http, &limit);

		g[ng++] = (struct metrics_gauge){
		    "sealauth_connections_open",
		    "Connections counted against the connection limit now: "
		    "HTTP and WebSocket.",
		    NULL, NULL, (double)open};
		g[ng++] = (struct metrics_gauge){
		    "sealauth_connections_limit",
		    "SEALAUTH_CONNECTION_LIMIT in force (0: none).", NULL, NULL,
		    (double)limit};
	}
	g[ng++] = (struct metrics_gauge){
	    "sealauth_audit_queue_depth",
	    "Audit events waiting to be made durable.", NULL, NULL,
	    (double)(app->audit ? audit_queue_depth(app->audit) : 0)};
	/* Only a store in this process says what it holds: Redis reports its
	 * own memory. */
	if (app->es != NULL &&
	    estore_footprint(app->es, &entries, &bytes) == SA_OK) {
		g[ng++] = (struct metrics_gauge){
		    "sealauth_session_store_entries",
		    "Entries in the in-process session store now: open "
		    "sessions, the end marker every login keeps for its "
		    "session lifetime, rate-limit counters.",
		    NULL, NULL, (double)entries};
		g[ng++] = (struct metrics_gauge){
		    "sealauth_session_store_bytes",
		    "Memory the in-process session store takes now: its slab "
		    "pages, larger entries, hash tables and indexes.",
		    NULL, NULL, (double)bytes};
	}
	g[ng++] = (struct metrics_gauge){
	    "sealauth_trust_fresh",
	    "1 while the trust lists in force are fresh, 0 when stale or "
	    "missing.",
	    NULL, NULL, status && strcmp(status, "fresh") == 0 ? 1.0 : 0.0};
	if (loaded >= 0)
		g[ng++] = (struct metrics_gauge){
		    "sealauth_trust_age_seconds",
		    "Seconds since the trust lists in force were loaded.", NULL,
		    NULL, (double)(now - loaded)};
	if (expires >= 0)
		g[ng++] = (struct metrics_gauge){
		    "sealauth_trust_expiry_seconds",
		    "Seconds until the first trust list in force expires.",
		    NULL, NULL, (double)(expires - now)};
	g[ng++] = (struct metrics_gauge){
	    "sealauth_uptime_seconds", "Seconds since the server started.",
	    NULL, NULL, (double)(now - app->started_unix)};
	rc = metrics_render(app->metrics, g, ng, &text, &len);
	json_decref(trust);
	if (rc != SA_OK)
		return rc;
	http_res_bytes(res, 200, "text/plain; version=0.0.4; charset=utf-8",
		       text, len);
	free(text);
	return SA_OK;
}

enum sa_err
api_metrics(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	const char *want = app->cfg.metrics_token;
	const char *auth = http_req_header(req, "Authorization");
	size_t n = strlen(want);

	/* Not offered on the main listener unless a token is set. */
	if (n == 0)
		return http_res_error(res, SA_ERR_NOT_FOUND, NULL, NULL);
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    strlen(auth + 7) != n || !ct_equal(auth + 7, want, n)) {
		http_res_header(res, "WWW-Authenticate",
				"Bearer realm=\"sealauth metrics\"");
		return http_res_error(res, SA_ERR_UNAUTHORIZED, "Authorization",
				      "GET /metrics needs the metrics token "
				      "as a bearer token");
	}
	return render(app, res);
}

enum sa_err
api_metrics_private(struct http_request *req, struct http_response *res)
{
	return render(http_req_app(req), res);
}

static const struct route metrics_routes[] = {
    {"GET", "/metrics", ROUTE_NO_STORE, NULL, NULL, api_metrics_private, NULL,
     NULL},
};

const struct route *
api_metrics_routes(size_t *n)
{
	*n = sizeof(metrics_routes) / sizeof(metrics_routes[0]);
	return metrics_routes;
}
