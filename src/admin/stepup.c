/*
 * stepup.c - the step-up every admin mutation needs: a fresh
 * user-verification assertion from one of the caller's own passkeys, in
 * the session that asked for the change, inside the same start/finish
 * pair.
 *
 * The start pins the change (a JSON object) to a ceremony in the ephemeral
 * store, bound to the caller's session and to the action's name; the
 * finish takes it back (single use) and verifies the assertion. A failed
 * assertion leaves the change pending: the answer carries a new challenge
 * for the same id.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"

static const struct schema_field finish_fields[] = {
    SCHEMA_STRING("stepupId", SCHEMA_REQUIRED, 43, 43, SCHEMA_FMT_BASE64URL),
    SCHEMA_OBJECT("uvResponse", SCHEMA_REQUIRED, &admin_assertion_schema),
    SCHEMA_END,
};
const struct schema admin_stepup_finish_schema = {finish_fields, NULL};

json_t *
admin_stepup_put(struct admin *adm, const struct admin_caller *who, char id[44],
		 json_t *extra)
{
	json_t *state = extra ? extra : json_object(), *allow;
	char chal[44];

	if (state == NULL)
		return NULL;
	json_object_set_new(state, "adminId", json_string(who->admin_id));
	json_object_set_new(state, "session", json_string(who->session_key));
	if (admin_challenge_put(adm, "uv", state, id, chal) != SA_OK) {
		json_decref(state);
		return NULL;
	}
	json_decref(state);
	if ((allow = admin_allow_list(adm, who->admin_id)) == NULL)
		return NULL;
	return admin_request_options(adm, chal, allow);
}

enum sa_err
admin_stepup_check(struct http_request *req, struct http_response *res,
		   struct admin *adm, const struct admin_caller *who,
		   const char *id, const json_t *assertion, const char *event,
		   json_t **state)
{
	char admin_id[ADMIN_ID_MAX + 1], passkey_id[ADMIN_CRED_B64_MAX + 1];
	char why[256] = "", again[44];
	json_t *st = NULL, *opts, *keep = NULL;
	enum sa_err rc;

	rc = admin_challenge_take(adm, "uv", id, &st);
	if (rc != SA_OK)
		return admin_fail(req, res, who, event, rc,
				  "no step-up in progress for this id");
	if (strcmp(json_string_value(json_object_get(st, "session")) ?: "",
		   who->session_key) != 0) {
		/* Another session's ceremony: refuse, and leave nothing for
		 * the caller to retry with. */
		json_decref(st);
		return admin_fail(req, res, who, event, SA_ERR_FORBIDDEN,
				  "this step-up belongs to another session");
	}
	rc = admin_assert_check(
	    req, adm, assertion,
	    json_string_value(json_object_get(st, "challenge")), who->admin_id,
	    admin_id, passkey_id, why, sizeof(why));
	if (rc == SA_OK) {
		json_object_set_new(st, "uvPasskeyId", json_string(passkey_id));
		*state = st;
		return SA_OK;
	}
	admin_audit(
	    req, who, event,
	    json_pack("{s:s, s:s}", "error", sa_err_code(rc), "reason", why));
	/* The pending change survives a failed step-up: offer a new one. */
	keep = json_deep_copy(st);
	json_decref(st);
	opts = NULL;
	if (keep != NULL) {
		json_object_del(keep, "challenge");
		json_object_del(keep, "adminId");
		json_object_del(keep, "session");
		snprintf(again, sizeof(again), "%s", id);
		opts = admin_stepup_put(adm, who, again, keep);
	}
	if (opts == NULL)
		return http_res_error(res, rc, NULL, "%s", why);
	http_res_json(res, sa_err_http(rc),
		      json_pack("{s:s, s:s, s:s, s:o}", "error",
				sa_err_code(rc), "message", why, "retryId",
				again, "uvOptions", opts));
	return rc;
}

enum sa_err
admin_stepup_start(struct http_response *res, struct admin *adm,
		   const struct admin_caller *who, const char *action,
		   json_t *change)
{
	return admin_stepup_start_show(res, adm, who, action, change, NULL);
}

enum sa_err
admin_stepup_start_show(struct http_response *res, struct admin *adm,
			const struct admin_caller *who, const char *action,
			json_t *change, json_t *show)
{
	char id[44] = "";
	json_t *state =
		   json_pack("{s:s, s:o?}", "action", action, "change", change),
	       *uv, *answer;

	if (state == NULL) {
		json_decref(show);
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	}
	if ((uv = admin_stepup_put(adm, who, id, state)) == NULL) {
		json_decref(show);
		return http_res_error(res, SA_ERR_INTERNAL, NULL,
				      "cannot start the step-up");
	}
	answer = json_pack(
	    "{s:s, s:o, s:I, s:o?}", "stepupId", id, "uvOptions", uv,
	    "expiresAt",
	    (json_int_t)(now_unix() + adm->app->cfg.admin_challenge_ttl),
	    "preview", show);
	if (answer == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	http_res_json(res, 202, answer);
	return SA_OK;
}

/*
 * stepup_finish takes the step-up named in the body and checks that it was
 * started for action; on SA_OK *change is the pinned change (caller
 * decrefs) with "uvPasskeyId". Otherwise the answer is written.
 */
static enum sa_err
stepup_finish(struct http_request *req, struct http_response *res,
	      struct admin *adm, const struct admin_caller *who,
	      const char *action, const char *refused_event, json_t **change)
{
	json_t *body = http_req_json(req), *st = NULL, *c;
	const char *id = json_string_value(json_object_get(body, "stepupId"));
	const char *was;
	enum sa_err rc;

	if ((rc = admin_stepup_check(req, res, adm, who, id,
				     json_object_get(body, "uvResponse"),
				     refused_event, &st)) != SA_OK)
		return rc;
	/* A step-up pins one action: it cannot finish another one. */
	was = json_string_value(json_object_get(st, "action"));
	c = json_object_get(st, "change");
	if (was == NULL || strcmp(was, action) != 0 || !json_is_object(c)) {
		json_decref(st);
		return admin_fail(req, res, who, refused_event,
				  SA_ERR_FORBIDDEN,
				  "this step-up was started for another "
				  "action");
	}
	json_object_set(c, "uvPasskeyId", json_object_get(st, "uvPasskeyId"));
	*change = json_incref(c);
	json_decref(st);
	return SA_OK;
}

enum sa_err
admin_stepup_pinned(struct http_request *req, struct http_response *res,
		    const char *action, const char *refused_event,
		    struct admin **adm, struct admin_caller *who,
		    json_t **change, const char *const *names,
		    const char **vals)
{
	json_t *c = NULL;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, adm, who)) != SA_OK ||
	    (rc = stepup_finish(req, res, *adm, who, action, refused_event,
				&c)) != SA_OK)
		return rc;
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		vals[i] = json_string_value(json_object_get(c, names[i]));
		/* The start pinned every one of them: a missing one is
		 * ours, not the caller's. */
		if (vals[i] == NULL) {
			json_decref(c);
			return http_res_error(res, SA_ERR_INTERNAL, NULL, NULL);
		}
	}
	*change = c;
	return SA_OK;
}
