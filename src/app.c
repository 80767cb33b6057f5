/*
 * app.c - helpers over the shared server state.
 */
#include "app.h"
#include "audit.h"
#include "http.h"

enum sa_err
app_audit(struct app *app, struct http_request *req, const char *event,
	  const char *subject, json_t *detail)
{
	if (app->audit == NULL) {
		json_decref(detail);
		return SA_ERR_UNAVAILABLE;
	}
	return audit_log(app->audit, event, req ? http_req_ip(req) : "",
			 req ? http_req_ua(req) : "", subject ? subject : "",
			 detail);
}
