/*
 * api_services.c - the relying-party registry under /v1/admin/services.
 *
 * Reads come from the registry's snapshot. A change is a step-up pair: the
 * POST, PATCH or DELETE checks it (the registry's own checks, the OpenID
 * Connect and SAML settings included) and pins it; POST
 * /v1/admin/services/finish makes it. A PATCH or DELETE pins the record as
 * it was seen, and the finish refuses it when the record changed since.
 * An SP's SAML metadata is imported the same way under its own pair,
 * /v1/admin/services/saml-metadata/start|finish (api_saml_import.c checks
 * and previews it). The registry writes to the durable store and every
 * server reloads it within a second.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "login/services.h"

#define ACTION "service"
#define ACTION_SAML "service-saml-metadata"
#define REFUSED "admin.service_change_refused"

/* ---- Reads --------------------------------------------------------------- */

json_t *
admin_service_doc(struct service_registry *reg, const char *id)
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
	if ((doc = admin_service_doc(adm->app->services,
				     http_req_param(req, 0))) == NULL)
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

	/* A conflict with a field is a setting another record already has
	 * (a SAML entity id); it is explained like a validation error. */
	if ((rc != SA_ERR_VALIDATION && rc != SA_ERR_CONFLICT) ||
	    why[0] == '\0')
		return http_res_error(res, rc, NULL, NULL);
	if ((strcmp(field, "oidc") == 0 || strcmp(field, "saml") == 0) &&
	    n > 0 && n < 64 && strncmp(why + n, ": ", 2) == 0) {
		snprintf(path, sizeof(path), "%s.%.*s", field, (int)n, why);
		return http_res_error(res, rc, path, "%s", why + n + 2);
	}
	return http_res_error(res, rc, field[0] ? field : NULL, "%s", why);
}

enum sa_err
admin_service_check(struct http_response *res, struct admin *adm,
		    const json_t *doc)
{
	char field[SCHEMA_PATH_MAX] = "", why[256] = "";
	enum sa_err rc;

	rc = services_check(adm->app->services, doc, adm->app->schema_flags,
			    field, sizeof(field), why, sizeof(why));
	return rc == SA_OK ? SA_OK : invalid(res, rc, field, why);
}

/* ---- The preamble every change shares ----------------------------------- */

/*
 * stage is the start of every change: it admits the caller, lets prepare
 * check the request and build what to pin and what to show, labels the
 * change with op, and opens a step-up under action pinned to exactly that
 * change. The step-up's finish gets it back unaltered.
 */
static enum sa_err
stage(struct http_request *req, struct http_response *res, const char *action,
      const char *op, admin_services_prepare_fn prepare)
{
	struct admin_caller who;
	struct admin *adm;
	json_t *change = NULL, *show = NULL;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((rc = prepare(req, res, adm, &who, &change, &show)) != SA_OK)
		return rc;
	if (json_object_set_new(change, "op", json_string(op)) != 0) {
		json_decref(change);
		json_decref(show);
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	}
	return admin_stepup_start_show(res, adm, &who, action, change, show);
}

/* ---- Starts -------------------------------------------------------------- */

static enum sa_err
prepare_create(struct http_request *req, struct http_response *res,
	       struct admin *adm, const struct admin_caller *who,
	       json_t **change, json_t **show)
{
	const json_t *body = http_req_json(req);
	const char *id = json_string_value(json_object_get(body, "serviceId"));
	json_t *cur;
	enum sa_err rc;

	(void)who;
	(void)show;
	if (!json_is_object(body))
		return http_res_error(res, SA_ERR_VALIDATION, NULL,
				      "the body must be a service record");
	if ((rc = admin_service_check(res, adm, body)) != SA_OK)
		return rc;
	if ((cur = admin_service_doc(adm->app->services, id)) != NULL) {
		json_decref(cur);
		return http_res_error(res, SA_ERR_CONFLICT, "serviceId",
				      "a service with this id exists");
	}
	*change = json_pack("{s:s, s:O}", "serviceId", id, "doc", body);
	return *change != NULL ? SA_OK
			       : http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
}

static enum sa_err
prepare_update(struct http_request *req, struct http_response *res,
	       struct admin *adm, const struct admin_caller *who,
	       json_t **change, json_t **show)
{
	const json_t *body = http_req_json(req);
	const char *id = http_req_param(req, 0), *key, *given;
	json_t *cur = NULL, *doc = NULL, *changed = NULL, *v;
	enum sa_err rc;

	(void)who;
	(void)show;
	if (!json_is_object(body))
		return http_res_error(res, SA_ERR_VALIDATION, NULL,
				      "the body must be an object of the "
				      "members to change");
	given = json_string_value(json_object_get(body, "serviceId"));
	if (json_object_get(body, "serviceId") != NULL &&
	    (given == NULL || strcmp(given, id) != 0))
		return http_res_error(res, SA_ERR_VALIDATION, "serviceId",
				      "a service's id cannot change");
	if ((cur = admin_service_doc(adm->app->services, id)) == NULL)
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
	if ((rc = admin_service_check(res, adm, doc)) != SA_OK)
		goto out;
	*change = json_pack("{s:s, s:O, s:O, s:O}", "serviceId", id, "doc", doc,
			    "before", cur, "changed", changed);
	rc = *change != NULL ? SA_OK
			     : http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
out:
	json_decref(cur);
	json_decref(doc);
	json_decref(changed);
	return rc;
}

static enum sa_err
prepare_delete(struct http_request *req, struct http_response *res,
	       struct admin *adm, const struct admin_caller *who,
	       json_t **change, json_t **show)
{
	const char *id = http_req_param(req, 0);
	json_t *cur;

	(void)who;
	(void)show;
	if ((cur = admin_service_doc(adm->app->services, id)) == NULL)
		return http_res_error(res, SA_ERR_NOT_FOUND, "serviceId",
				      "no service has this id");
	*change = json_pack("{s:s, s:o}", "serviceId", id, "before", cur);
	return *change != NULL ? SA_OK
			       : http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
}

enum sa_err
admin_services_create(struct http_request *req, struct http_response *res)
{
	return stage(req, res, ACTION, "create", prepare_create);
}

enum sa_err
admin_services_update(struct http_request *req, struct http_response *res)
{
	return stage(req, res, ACTION, "update", prepare_update);
}

enum sa_err
admin_services_delete(struct http_request *req, struct http_response *res)
{
	return stage(req, res, ACTION, "delete", prepare_delete);
}

enum sa_err
admin_services_saml_start(struct http_request *req, struct http_response *res)
{
	return stage(req, res, ACTION_SAML, "import",
		     admin_services_saml_prepare);
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
	now = admin_service_doc(reg, id);
	same = now != NULL && json_equal(now, before);
	json_decref(now);
	return same;
}

/*
 * entity_taken tells whether a service other than id has the SAML entity
 * id now: two records of one entity id would make the SP's messages go to
 * whichever is found first.
 */
static int
entity_taken(struct service_registry *reg, const char *id, const char *eid)
{
	struct services *snap = services_get(reg);
	const char *owner = admin_saml_entity_owner(snap, eid);
	int taken = owner != NULL && strcmp(owner, id) != 0;

	services_put(snap);
	return taken;
}

/*
 * write_change makes the change c pinned: create, update, delete, or an
 * import (a create when its start found no record, else an update). It
 * names the event to audit and the answer's status.
 */
static enum sa_err
write_change(struct service_registry *reg, struct admin *adm, const json_t *c,
	     const char *op, const char *id, const char **event, int *status,
	     char *field, size_t fieldlen, char *why, size_t whylen)
{
	const json_t *doc = json_object_get(c, "doc");
	int create = strcmp(op, "create") == 0 ||
		     (strcmp(op, "import") == 0 &&
		      json_is_null(json_object_get(c, "before")));

	*status = create ? 201 : 200;
	if (strcmp(op, "import") == 0)
		*event = "admin.service_saml_imported";
	if (create) {
		if (strcmp(op, "create") == 0)
			*event = "admin.service_created";
		return services_create(reg, doc, adm->app->schema_flags, field,
				       fieldlen, why, whylen);
	}
	if (!unchanged(reg, id, json_object_get(c, "before")))
		return SA_ERR_CONFLICT;
	if (strcmp(op, "delete") == 0) {
		*event = "admin.service_deleted";
		return services_remove(reg, id);
	}
	if (strcmp(op, "update") == 0)
		*event = "admin.service_updated";
	return services_replace(reg, doc, adm->app->schema_flags, field,
				fieldlen, why, whylen);
}

/* finish makes the change a step-up of action pinned, audited. */
static enum sa_err
finish(struct http_request *req, struct http_response *res, const char *action)
{
	static const char *const names[] = {"op", "serviceId", NULL};
	char field[SCHEMA_PATH_MAX] = "", why[256] = "";
	const char *v[2], *op, *id, *eid, *event = REFUSED;
	struct admin_caller who;
	struct admin *adm;
	json_t *c = NULL, *out = NULL, *detail;
	enum sa_err rc;
	int status = 200;

	if ((rc = admin_stepup_pinned(req, res, action, REFUSED, &adm, &who, &c,
				      names, v)) != SA_OK)
		return rc;
	op = v[0];
	id = v[1];
	eid = json_string_value(json_object_get(c, "entityId"));
	if (eid != NULL && entity_taken(adm->app->services, id, eid)) {
		rc = admin_fail(req, res, &who, REFUSED, SA_ERR_CONFLICT,
				"another service took this entity id since "
				"the import was started");
		goto out;
	}
	rc = write_change(adm->app->services, adm, c, op, id, &event, &status,
			  field, sizeof(field), why, sizeof(why));
	if ((rc == SA_ERR_CONFLICT && field[0] == '\0') ||
	    rc == SA_ERR_NOT_FOUND) {
		rc = admin_fail(req, res, &who, REFUSED, rc,
				rc == SA_ERR_NOT_FOUND ? "the service is gone"
				: status == 201
				    ? "a service with this id exists"
				    : "the service changed since this "
				      "change was started: start again");
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
	if (detail != NULL && strcmp(op, "import") == 0)
		json_object_update(detail, json_object_get(c, "audit"));
	if ((rc = admin_audit(req, &who, event, detail)) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	if (strcmp(op, "delete") == 0)
		out = json_pack("{s:s, s:b}", "serviceId", id, "deleted", 1);
	else
		out = admin_service_doc(adm->app->services, id);
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

enum sa_err
admin_services_finish(struct http_request *req, struct http_response *res)
{
	return finish(req, res, ACTION);
}

enum sa_err
admin_services_saml_finish(struct http_request *req, struct http_response *res)
{
	return finish(req, res, ACTION_SAML);
}
