/*
 * api_test.c - test-only endpoints (SEALAUTH_TEST_ROUTES=1).
 *
 * POST /test/echo validates its body against a schema covering each field
 * type and answers it back; POST /test/audit/{event} writes one audit row
 * and answers only once it is durable; GET /test/ws is a WebSocket that
 * echoes text and obeys a few commands ("close:CODE", "id"). POST
 * /test/weblogin starts a browser login for the "test" protocol, whose
 * continuation answers what it was handed; GET /test/sso shows the
 * request's provider session. POST /test/takeover stands in for the
 * administrator's endpoint over takeover_pending and takeover_admin_decide.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/api_test.h"
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"
#include "login/takeover.h"
#include "login/weblogin.h"
#include "trust/trust.h"

static const struct schema_field tag_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 16, SCHEMA_FMT_TOKEN);

static const struct schema_field echo_fields[] = {
    SCHEMA_STRING("name", SCHEMA_REQUIRED, 1, 16, SCHEMA_FMT_TOKEN),
    SCHEMA_INTEGER("count", SCHEMA_OPTIONAL, 0, 10),
    SCHEMA_ARRAY("tags", SCHEMA_OPTIONAL | SCHEMA_UNIQUE, 0, 4, &tag_item),
    SCHEMA_ENUM("mode", SCHEMA_OPTIONAL, "a", "b"),
    SCHEMA_STRING("fcmToken", SCHEMA_OPTIONAL, 1, 64, SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("pushEndpoint", SCHEMA_OPTIONAL, 1, 256,
		  SCHEMA_FMT_HTTPS_URL),
    SCHEMA_END,
};

static const struct schema_rule echo_rules[] = {
    SCHEMA_AT_MOST_ONE_OF("fcmToken", "pushEndpoint"),
    SCHEMA_RULES_END,
};

const struct schema api_test_echo_schema = {echo_fields, echo_rules};

enum sa_err
api_test_echo(struct http_request *req, struct http_response *res)
{
	http_res_json(res, 200,
		      json_pack("{s:O, s:s}", "echo", http_req_json(req), "ip",
				http_req_ip(req)));
	return SA_OK;
}

enum sa_err
api_test_audit(struct http_request *req, struct http_response *res)
{
	const char *event = http_req_param(req, 0);
	enum sa_err rc;

	rc = app_audit(http_req_app(req), req, event, "test-subject",
		       json_pack("{s:s}", "req", http_req_id(req)));
	if (rc != SA_OK)
		return http_res_error(res, rc, "event",
				      "audit write failed: %s", sa_err_str(rc));
	http_res_json(res, 200, json_pack("{s:b}", "audited", 1));
	return SA_OK;
}

/*
 * api_test_syscall makes a system call that serving never needs and that
 * succeeds without privileges (personality(2) asked for the current
 * persona), and says whether it was refused: the seccomp allow-list is
 * on when it is.
 */
enum sa_err
api_test_syscall(struct http_request *req, struct http_response *res)
{
	long r;
	int e;

	errno = 0;
	r = syscall(SYS_personality, 0xffffffffUL);
	e = errno;
	http_res_json(res, 200,
		      json_pack("{s:b, s:i, s:s}", "refused", r == -1, "errno",
				e, "error", r == -1 ? strerror(e) : ""));
	return SA_OK;
}

/*
 * api_test_trust_refresh loads the trust lists now instead of at the end
 * of their TTL, so a test can watch a refresh succeed or be refused; a
 * refusal is logged and audited as the periodic refresh does.
 */
enum sa_err
api_test_trust_refresh(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct trust_result tr;
	enum sa_err rc;

	if (app->trust == NULL)
		return http_res_error(res, SA_ERR_UNAVAILABLE, NULL,
				      "no trust environment");
	memset(&tr, 0, sizeof(tr));
	rc = trust_refresh(app->trust, now_unix(), 1, &tr);
	if (rc != SA_OK) {
		log_warn("trust.refresh",
			 "trust refresh failed, keeping the last good lists: "
			 "%s",
			 tr.reason);
		app_audit(app, req, "trust.refresh_failed", "",
			  trust_result_json(&tr));
	}
	http_res_json(res, 200,
		      rc == SA_OK
			  ? json_pack("{s:b}", "refreshed", 1)
			  : json_pack("{s:b, s:s, s:s}", "refreshed", 0, "step",
				      tr.step, "reason", tr.reason));
	return SA_OK;
}

/*
 * api_test_takeover shows the pending takeover of query tokenId, and with
 * decision (approve or cancel), takeoverId, adminId and reason decides it
 * as an administrator would; answers 200 with what was pending, or the
 * error.
 */
enum sa_err
api_test_takeover(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	const char *token = http_req_query(req, "tokenId"),
		   *decision = http_req_query(req, "decision");
	struct takeover_view v;
	enum sa_err rc;

	if ((rc = takeover_pending(app, token, &v)) != SA_OK)
		return http_res_error(res, rc, "tokenId", NULL);
	if (decision != NULL &&
	    (rc = takeover_admin_decide(
		 app, req, token, http_req_query(req, "takeoverId"),
		 strcmp(decision, "approve") == 0  ? TAKEOVER_APPROVE
		 : strcmp(decision, "cancel") == 0 ? TAKEOVER_CANCEL
						   : 0,
		 http_req_query(req, "adminId"), http_req_query(req, "reason"),
		 NULL)) != SA_OK)
		return http_res_error(res, rc, "takeoverId", NULL);
	http_res_json(res, 200,
		      json_pack("{s:s, s:s, s:s, s:I, s:I}", "takeoverId", v.id,
				"authority", v.authority, "newDeviceId",
				v.new_device_id, "createdAt",
				(json_int_t)v.created_at, "effectiveAt",
				(json_int_t)v.effective_at));
	return SA_OK;
}

struct test_ws {
	char req[24];
};

enum sa_err
api_test_ws_prepare(struct http_request *req, void **arg)
{
	struct test_ws *t;

	/* ?refuse=1 shows that a route can refuse before the 101. */
	if (http_req_query(req, "refuse") != NULL)
		return SA_ERR_FORBIDDEN;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SA_ERR_NOMEM;
	snprintf(t->req, sizeof(t->req), "%s", http_req_id(req));
	*arg = t;
	return SA_OK;
}

static void
test_ws_text(struct ws_server *ws, uint64_t id, const char *msg, size_t n,
	     void *arg)
{
	char out[64];

	if (n > 6 && memcmp(msg, "close:", 6) == 0) {
		char code[8] = "";
		memcpy(code, msg + 6, n - 6 < 7 ? n - 6 : 7);
		ws_close(ws, id, (uint16_t)atoi(code), "requested");
		return;
	}
	if (n == 2 && memcmp(msg, "id", 2) == 0) {
		int len = snprintf(out, sizeof(out), "id:%llu",
				   (unsigned long long)id);
		ws_send_text(ws, id, out, (size_t)len);
		return;
	}
	ws_send_text(ws, id, msg, n);
}

static void
test_ws_close(struct ws_server *ws, uint64_t id, uint16_t code, int answered,
	      void *arg)
{
	free(arg);
}

const struct ws_handler api_test_ws_handler = {NULL, test_ws_text,
					       test_ws_close};

static const struct schema_field wl_scope_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 64, SCHEMA_FMT_SCOPE);

static const struct schema_field weblogin_fields[] = {
    SCHEMA_STRING("serviceId", SCHEMA_REQUIRED, 1, SERVICE_ID_MAX,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_ARRAY("scopes", SCHEMA_REQUIRED | SCHEMA_UNIQUE, 0,
		 SERVICE_SCOPES_MAX, &wl_scope_item),
    SCHEMA_STRING("loginHint", SCHEMA_OPTIONAL, 1, ENROLL_TOKEN_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
const struct schema api_test_weblogin_schema = {weblogin_fields, NULL};

enum sa_err
api_test_weblogin(struct http_request *req, struct http_response *res)
{
	json_t *body = http_req_json(req),
	       *sc = json_object_get(body, "scopes");
	const char *scopes[SERVICE_SCOPES_MAX];
	char id[WEBLOGIN_ID_LEN + 1];
	size_t n = json_array_size(sc);
	enum sa_err rc;

	for (size_t i = 0; i < n; i++)
		scopes[i] = json_string_value(json_array_get(sc, i));
	rc = weblogin_begin(
	    http_req_app(req), "test",
	    json_string_value(json_object_get(body, "serviceId")), scopes, n,
	    json_string_value(json_object_get(body, "loginHint")),
	    json_pack("{s:s}", "note", "from /test/weblogin"), id);
	if (rc != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	http_res_json(
	    res, 200,
	    json_pack("{s:s, s:s+}", "login", id, "url", "/?login=", id));
	return SA_OK;
}

static json_t *
sso_json(const struct weblogin_sso *s)
{
	return json_pack(
	    "{s:s, s:s, s:I, s:I, s:O, s:O}", "sid", s->sid, "tokenId",
	    s->token_id, "authTime", (json_int_t)s->auth_time, "expiresAt",
	    (json_int_t)s->expires_at, "amr", s->amr, "rps", s->rps);
}

enum sa_err
api_test_sso(struct http_request *req, struct http_response *res)
{
	struct weblogin_sso s;
	enum sa_err rc;

	if ((rc = weblogin_session_get(req, &s)) != SA_OK)
		return http_res_error(res, rc, NULL, "no provider session");
	http_res_json(res, 200, sso_json(&s));
	weblogin_sso_clear(&s);
	return SA_OK;
}

enum sa_err
api_test_weblogin_cont(struct http_request *req, struct http_response *res,
		       const struct weblogin_done *done)
{
	json_t *g = json_array();

	(void)req;
	for (size_t i = 0; g != NULL && i < done->ngranted; i++)
		json_array_append_new(g, json_string(done->granted[i]));
	http_res_json(res, 200,
		      json_pack("{s:s, s:s, s:s, s:O, s:o, s:o}", "login",
				done->pending->id, "serviceId",
				done->pending->service_id, "sessionId",
				done->session_id, "data", done->pending->data,
				"granted", g, "sso", sso_json(done->sso)));
	return SA_OK;
}
