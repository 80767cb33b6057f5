/*
 * api_keys.c - the token signing keys for admins: list them, and rotate.
 *
 * The keys are the ring of crypto/keys.h: a rotation adds a key that is
 * published at once and signs after the publish delay, and the key it
 * replaces stays published until the last token it signed has expired, so
 * tokens signed before a rotation keep verifying against the JWKS. A
 * rotation is a change: it needs a fresh user-verification assertion in
 * the same start/finish pair, and it is audited.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"
#include "crypto/keys.h"

/* keys_json lists the ring's keys at now for the answer. */
static json_t *
keys_json(struct app *app, int64_t now)
{
	json_t *ring = keys_list_json(app->keys, now), *out = json_array(), *e;
	size_t i;

	if (ring == NULL || out == NULL) {
		json_decref(ring);
		json_decref(out);
		return NULL;
	}
	json_array_foreach(ring, i, e)
	{
		json_array_append_new(
		    out,
		    json_pack("{s:O, s:s, s:O, s:O, s:O, s:O, s:O}", "kid",
			      json_object_get(e, "kid"), "alg", "ES256",
			      "state", json_object_get(e, "state"), "createdAt",
			      json_object_get(e, "created_at"), "activatesAt",
			      json_object_get(e, "activate_at"), "retiresAt",
			      json_object_get(e, "retired_at"), "unpublishedAt",
			      json_object_get(e, "unpublish_at")));
	}
	json_decref(ring);
	return json_pack("{s:o, s:b, s:I}", "keys", out, "external",
			 keys_external(app->keys), "publishDelaySeconds",
			 (json_int_t)app->cfg.key_publish_delay);
}

enum sa_err
admin_keys_list(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	json_t *body;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	/* A rotation by `sealauth keys rotate` shows at once. */
	keys_reload(adm->app->keys);
	if ((body = keys_json(adm->app, now_unix())) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	http_res_json(res, 200, body);
	return SA_OK;
}

/* ring_kids lists the kids of the ring at now, for pinning a rotation to
 * the ring it was asked for (new reference, NULL on no memory). */
static json_t *
ring_kids(struct app *app, int64_t now)
{
	json_t *ring = keys_list_json(app->keys, now), *kids = json_array();
	json_t *e;
	size_t i;

	if (ring == NULL || kids == NULL) {
		json_decref(ring);
		json_decref(kids);
		return NULL;
	}
	json_array_foreach(ring, i, e)
	    json_array_append(kids, json_object_get(e, "kid"));
	json_decref(ring);
	return kids;
}

enum sa_err
admin_keys_rotate_start(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	json_t *kids;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if (keys_external(adm->app->keys))
		return http_res_error(
		    res, SA_ERR_CONFLICT, NULL,
		    "the signing key comes from SERVER_PRIVATE_KEY_PATH and "
		    "is managed outside sealauth; rotate it there");
	keys_reload(adm->app->keys);
	if ((kids = ring_kids(adm->app, now_unix())) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	if (json_array_size(kids) >= KEYS_MAX) {
		json_decref(kids);
		return http_res_error(res, SA_ERR_CONFLICT, NULL,
				      "%d keys are already published; wait "
				      "for retired keys to expire",
				      KEYS_MAX);
	}
	return admin_stepup_start(res, adm, &who, "keys_rotate",
				  json_pack("{s:o}", "ring", kids));
}

enum sa_err
admin_keys_rotate_finish(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	char kid[JWK_KID_LEN] = "";
	json_t *change = NULL, *kids = NULL, *body;
	int64_t now = now_unix();
	enum sa_err rc;

	if ((rc = admin_stepup_pinned(req, res, "keys_rotate",
				      "admin.key_rotate_refused", &adm, &who,
				      &change, NULL, NULL)) != SA_OK)
		return rc;
	/* The ring must be the one the admin confirmed a rotation of: two
	 * admins rotating at once make one new key, not two. */
	keys_reload(adm->app->keys);
	if ((kids = ring_kids(adm->app, now)) == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	if (!json_equal(kids, json_object_get(change, "ring"))) {
		rc = admin_fail(req, res, &who, "admin.key_rotate_refused",
				SA_ERR_CONFLICT,
				"the keys changed since this rotation was "
				"started; look at them and start again");
		goto out;
	}
	rc = keys_rotate(adm->app->keys, now, kid);
	if (rc == SA_ERR_FORBIDDEN || rc == SA_ERR_CONFLICT) {
		rc = admin_fail(req, res, &who, "admin.key_rotate_refused",
				SA_ERR_CONFLICT,
				rc == SA_ERR_FORBIDDEN
				    ? "the signing key is managed outside "
				      "sealauth"
				    : "too many keys are published");
		goto out;
	}
	if (rc != SA_OK) {
		rc = admin_fail(req, res, &who, "admin.key_rotate_refused", rc,
				"the new key could not be written");
		goto out;
	}
	if ((rc = admin_audit(
		 req, &who, "admin.key_rotated",
		 json_pack("{s:s, s:I, s:O}", "kid", kid, "activatesAt",
			   (json_int_t)(now + adm->app->cfg.key_publish_delay),
			   "uvPasskeyId",
			   json_object_get(change, "uvPasskeyId")))) != SA_OK) {
		/* The key exists: say so, but not that all went well. */
		http_res_error(res, rc, NULL,
			       "key %s was added but its audit row could not "
			       "be written",
			       kid);
		goto out;
	}
	if ((body = keys_json(adm->app, now)) == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	json_object_set_new(body, "kid", json_string(kid));
	http_res_json(res, 200, body);
	rc = SA_OK;
out:
	json_decref(kids);
	json_decref(change);
	return rc;
}
