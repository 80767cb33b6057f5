/*
 * api_services.c - the relying-party registry under /v1/admin/services.
 *
 * Reads come from the registry's snapshot. A change is a step-up pair: the
 * POST, PATCH or DELETE checks it (the registry's own checks, the OpenID
 * Connect and SAML settings included) and pins it; POST
 * /v1/admin/services/finish makes it. A PATCH or DELETE pins the record as
 * it was seen, and the finish refuses it when the record changed since.
 * The registry writes to the durable store and every server reloads it
 * within a second.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "login/services.h"

#define ACTION "service"
#define REFUSED "admin.service_change_refused"

/* ---- Reads --------------------------------------------------------------- */

/* current_doc is the record of id in the API's shape (new), or NULL. */
static json_t *
current_doc(struct service_registry *reg, const char *id)
{
	struct services *snap = services_get(reg);
	const struct service *svc = services_find_any(snap, id);
	json_t *doc = svc ? service_to_json(svc) : NULL;

	services_put(snap);
	return doc;
}

enum sa_err
admin_services_list(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct services *snap;
	struct admin *adm;
	json_t *list, *doc;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((list = json_array()) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	snap = services_get(adm->app->services);
	for (size_t i = 0; i < services_count(snap); i++) {
		if ((doc = service_to_json(services_at(snap, i))) == NULL ||
		    json_array_append_new(list, doc) != 0) {
			services_put(snap);
			json_decref(list);
			return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		}
	}
	http_res_json(res, 200,
		      json_pack("{s:o, s:I}", "services", list, "version",
				(json_int_t)services_version(snap)));
	services_put(snap);
	return SA_OK;
}

enum sa_err
admin_services_get(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	json_t *doc;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((doc = current_doc(adm->app->services, http_req_param(req, 0))) ==
	    NULL)
		return http_res_error(res, SA_ERR_NOT_FOUND, "serviceId",
				      "no service has this id");
	http_res_json(res, 200, doc);
	return SA_OK;
}

/* ---- Checks -------------------------------------------------------------- */

/*
 * invalid answers a refused record. The registry names a settings object
 * ("oidc") and says where inside it ("redirectUris[0]: ..."); the answer
 * names the whole path ("oidc.redirectUris[0]").
 */
static enum sa_err
invalid(struct http_response *res, enum sa_err rc, const char *field,
	const char *why)
{
	char path[SCHEMA_PATH_MAX + 80];
	size_t n = strcspn(why, ": ");

	if (rc != SA_ERR_VALIDATION)
		return http_res_error(res, rc, NULL, NULL);
	if ((strcmp(field, "oidc") == 0 || strcmp(field, "saml") == 0) &&
	    n > 0 && n < 64 && strncmp(why + n, ": ", 2) == 0) {
		snprintf(path, sizeof(path), "%s.%.*s", field, (int)n, why);
		return http_res_error(res, rc, path, "%s", why + n + 2);
	}
	return http_res_error(res, rc, field[0] ? field : NULL, "%s", why);
}

/* check answers 400 naming the field unless doc is a valid record. */
static enum sa_err
check(struct http_response *res, struct admin *adm, const json_t *doc)
{
	char field[SCHEMA_PATH_MAX] = "", why[256] = "";
	enum sa_err rc;

	rc = services_check(adm->app->services, doc, adm->app->schema_flags,
			    field, sizeof(field), why, sizeof(why));
	return rc == SA_OK ? SA_OK : invalid(res, rc, field, why);
}

/* ---- Starts -------------------------------------------------------------- */

enum sa_err
admin_services_create(struct http_request *req, struct http_response *res)
{
	const json_t *body = http_req_json(req);
	const char *id = json_string_value(json_object_get(body, "serviceId"));
	struct admin_caller who;
	struct admin *adm;
	json_t *cur;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if (!json_is_object(body))
		return http_res_error(res, SA_ERR_VALIDATION, NULL,
				      "the body must be a service record");
	if ((rc = check(res, adm, body)) != SA_OK)
		return rc;
	if ((cur = current_doc(adm->app->services, id)) != NULL) {
		json_decref(cur);
		return http_res_error(res, SA_ERR_CONFLICT, "serviceId",
				      "a service with this id exists");
	}
	return admin_stepup_start(res, adm, &who, ACTION,
				  json_pack("{s:s, s:s, s:O}", "op", "create",
					    "serviceId", id, "doc", body));
}

enum sa_err
admin_services_update(struct http_request *req, struct http_response *res)
{
	const json_t *body = http_req_json(req);
	const char *id = http_req_param(req, 0), *key, *given;
	struct admin_caller who;
	struct admin *adm;
	json_t *cur = NULL, *doc = NULL, *changed = NULL, *v;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if (!json_is_object(body))
		return http_res_error(res, SA_ERR_VALIDATION, NULL,
				      "the body must be an object of the "
				      "members to change");
	given = json_string_value(json_object_get(body, "serviceId"));
	if (json_object_get(body, "serviceId") != NULL &&
	    (given == NULL || strcmp(given, id) != 0))
		return http_res_error(res, SA_ERR_VALIDATION, "serviceId",
				      "a service's id cannot change");
	if ((cur = current_doc(adm->app->services, id)) == NULL)
		return http_res_error(res, SA_ERR_NOT_FOUND, "serviceId",
				      "no service has this id");
	if ((doc = json_deep_copy(cur)) == NULL ||
	    (changed = json_array()) == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	json_object_foreach((json_t *)body, key, v)
	{
		if (strcmp(key, "serviceId") == 0)
			continue;
		/* null removes a protocol's settings; elsewhere the record's
		 * checks refuse it like any other wrong type. */
		if (json_is_null(v) &&
		    (strcmp(key, "oidc") == 0 || strcmp(key, "saml") == 0))
			json_object_del(doc, key);
		else
			json_object_set(doc, key, v);
		json_array_append_new(changed, json_string(key));
	}
	if ((rc = check(res, adm, doc)) != SA_OK)
		goto out;
	rc = admin_stepup_start(res, adm, &who, ACTION,
				json_pack("{s:s, s:s, s:O, s:O, s:O}", "op",
					  "update", "serviceId", id, "doc", doc,
					  "before", cur, "changed", changed));
out:
	json_decref(cur);
	json_decref(doc);
	json_decref(changed);
	return rc;
}

enum sa_err
admin_services_delete(struct http_request *req, struct http_response *res)
{
	const char *id = http_req_param(req, 0);
	struct admin_caller who;
	struct admin *adm;
	json_t *cur;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((cur = current_doc(adm->app->services, id)) == NULL)
		return http_res_error(res, SA_ERR_NOT_FOUND, "serviceId",
				      "no service has this id");
	return admin_stepup_start(res, adm, &who, ACTION,
				  json_pack("{s:s, s:s, s:o}", "op", "delete",
					    "serviceId", id, "before", cur));
}

/* ---- Finish -------------------------------------------------------------- */

/*
 * unchanged tells whether the record is still what the start saw: a
 * change made meanwhile (here or on another server) must not be
 * overwritten or removed unseen.
 */
static int
unchanged(struct service_registry *reg, const char *id, const json_t *before)
{
	json_t *now;
	int same;

	services_refresh(reg, NULL);
	now = current_doc(reg, id);
	same = now != NULL && json_equal(now, before);
	json_decref(now);
	return same;
}

enum sa_err
admin_services_finish(struct http_request *req, struct http_response *res)
{
	char field[SCHEMA_PATH_MAX] = "", why[256] = "";
	const char *op, *id;
	struct service_registry *reg;
	struct admin_caller who;
	struct admin *adm;
	json_t *c = NULL, *doc, *out = NULL, *detail;
	const char *event;
	enum sa_err rc;
	int status = 200;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((rc = admin_stepup_finish(req, res, adm, &who, ACTION, REFUSED,
				      &c)) != SA_OK)
		return rc;
	reg = adm->app->services;
	op = json_string_value(json_object_get(c, "op"));
	id = json_string_value(json_object_get(c, "serviceId"));
	doc = json_object_get(c, "doc");
	if (op == NULL || id == NULL) {
		rc = http_res_error(res, SA_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	if (strcmp(op, "create") != 0 &&
	    !unchanged(reg, id, json_object_get(c, "before"))) {
		rc = admin_fail(req, res, &who, REFUSED, SA_ERR_CONFLICT,
				"the service changed since this change was "
				"started: start again");
		goto out;
	}
	if (strcmp(op, "create") == 0) {
		rc = services_create(reg, doc, adm->app->schema_flags, field,
				     sizeof(field), why, sizeof(why));
		event = "admin.service_created";
		status = 201;
	} else if (strcmp(op, "update") == 0) {
		rc = services_replace(reg, doc, adm->app->schema_flags, field,
				      sizeof(field), why, sizeof(why));
		event = "admin.service_updated";
	} else {
		rc = services_remove(reg, id);
		event = "admin.service_deleted";
	}
	if (rc == SA_ERR_CONFLICT || rc == SA_ERR_NOT_FOUND) {
		rc = admin_fail(req, res, &who, REFUSED, rc,
				rc == SA_ERR_CONFLICT
				    ? "a service with this id exists"
				    : "the service is gone");
		goto out;
	}
	if (rc != SA_OK) {
		admin_audit(req, &who, REFUSED,
			    json_pack("{s:s, s:s, s:s}", "serviceId", id,
				      "error", sa_err_code(rc), "reason", why));
		rc = invalid(res, rc, field, why);
		goto out;
	}
	detail = json_pack("{s:s, s:O?, s:O?}", "serviceId", id, "uvPasskeyId",
			   json_object_get(c, "uvPasskeyId"), "changed",
			   json_object_get(c, "changed"));
	if ((rc = admin_audit(req, &who, event, detail)) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	if (strcmp(op, "delete") == 0)
		out = json_pack("{s:s, s:b}", "serviceId", id, "deleted", 1);
	else
		out = current_doc(reg, id);
	if (out == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	http_res_json(res, status, out);
	rc = SA_OK;
out:
	json_decref(c);
	return rc;
}
