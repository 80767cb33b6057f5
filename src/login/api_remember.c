/*
 * api_remember.c - POST /auth/remember: once the phone approved a login,
 * the browser that started it (it holds the session's wsToken) gets the
 * owner's cookie for the token id (device_cookie.h), so its next logins
 * are exempt from the quota strangers share.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/schema.h"
#include "core/util.h"
#include "crypto/otp.h"
#include "login/device_cookie.h"
#include "login/login.h"
#include "login/session.h"
#include "net/http.h"

static const struct schema_field remember_fields[] = {
    SCHEMA_STRING("sessionId", SCHEMA_REQUIRED, SESSION_ID_LEN, SESSION_ID_LEN,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("wsToken", SCHEMA_REQUIRED, 43, 43, SCHEMA_FMT_TOKEN),
    SCHEMA_END,
};
const struct schema api_remember_schema = {remember_fields, NULL};

/*
 * api_remember sets the cookie only for an approved session and only for
 * the browser holding its wsToken: a stranger whose login the owner never
 * approved cannot get one.
 */
enum sa_err
api_remember(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	json_t *body = http_req_json(req);
	const char *sid = json_string_value(json_object_get(body, "sessionId"));
	const char *tok = json_string_value(json_object_get(body, "wsToken"));
	struct session s;
	enum session_end how;
	char cookie[256], when[21];
	int64_t now = now_unix();
	enum sa_err rc;

	rc = session_load_state(app->es, sid, &s, &how, NULL, NULL);
	if (rc != SA_OK)
		return http_res_error(res, rc, "sessionId",
				      rc == SA_ERR_SESSION_UNKNOWN
					  ? "no such session, or it has expired"
					  : NULL);
	if (!otp_ws_token_check(app->otp_secret, app->otp_secret_len, s.id,
				s.random, tok))
		return http_res_error(res, SA_ERR_UNAUTHORIZED, "wsToken",
				      "the token does not match the session");
	if (how != SESSION_APPROVED)
		return http_res_error(res, SA_ERR_CONFLICT, "sessionId",
				      "the phone has not approved this login");
	rc = device_cookie_set_header(
	    app->device_key, s.token_id, now,
	    strncmp(app->cfg.public_url, "https://", 8) == 0, cookie,
	    sizeof(cookie));
	if (rc != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	if ((rc = app_audit(app, req, "auth.browser_remembered", s.token_id,
			    json_pack("{s:s, s:s}", "sessionId", s.id,
				      "serviceId", s.service_id))) != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	iso8601_utc(now + DEVICE_COOKIE_TTL, when);
	http_res_header(res, "Set-Cookie", cookie);
	http_res_json(
	    res, 200,
	    json_pack("{s:b, s:s}", "remembered", 1, "expiresAt", when));
	return SA_OK;
}
