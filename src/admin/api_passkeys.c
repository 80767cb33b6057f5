/*
 * api_passkeys.c - an admin's passkeys: list, register, revoke.
 *
 * Every change needs the admin's session AND a fresh user-verification
 * assertion from one of the admin's own passkeys, inside the same
 * start/finish pair, so a stolen session cannot bind a new authenticator
 * or strip the owner's. The step-up state is taken first: a failed step-up
 * leaves the pending registration (or revocation) in place and answers
 * with a new step-up challenge for it. Revoking the last passkey is refused
 * by a guard inside the transaction that deletes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"

static const struct schema_field transport_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 32, SCHEMA_FMT_TOKEN);

static const struct schema_field register_finish_fields[] = {
    SCHEMA_STRING("registrationId", SCHEMA_REQUIRED, 43, 43,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_OBJECT("registerResponse", SCHEMA_REQUIRED,
		  &admin_registration_schema),
    SCHEMA_OBJECT("uvResponse", SCHEMA_REQUIRED, &admin_assertion_schema),
    SCHEMA_STRING("label", SCHEMA_REQUIRED, 1, ADMIN_LABEL_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_ARRAY("transports", SCHEMA_OPTIONAL | SCHEMA_UNIQUE, 0, 8,
		 &transport_item),
    SCHEMA_END,
};
const struct schema admin_register_finish_schema = {register_finish_fields,
						    NULL};

ADMIN_STRING_SCHEMA(admin_revoke_start_schema, "credentialId", 1,
		    ADMIN_CRED_B64_MAX, SCHEMA_FMT_BASE64URL);

static const struct schema_field revoke_finish_fields[] = {
    SCHEMA_STRING("revocationId", SCHEMA_REQUIRED, 43, 43,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_OBJECT("uvResponse", SCHEMA_REQUIRED, &admin_assertion_schema),
    SCHEMA_END,
};
const struct schema admin_revoke_finish_schema = {revoke_finish_fields, NULL};

/* ---- List ---------------------------------------------------------------- */

static int
passkey_one(const struct dstore_rec *r, void *arg)
{
	json_t *doc = json_loads(r->doc, 0, NULL);

	if (doc == NULL)
		return 0;
	json_array_append_new(
	    arg, json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}",
			   "credentialId", r->id, "label",
			   json_object_get(doc, "label"), "transports",
			   json_object_get(doc, "transports"), "registeredAt",
			   json_object_get(doc, "createdAt"), "lastUsedAt",
			   json_object_get(doc, "lastUsedAt"), "alg",
			   json_object_get(doc, "alg"), "attestation",
			   json_object_get(doc, "attestation")));
	json_decref(doc);
	return 0;
}

enum sa_err
admin_passkeys_list(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	json_t *list;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((list = json_array()) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	if ((rc = dstore_rec_list(adm->app->ds, REC_PASSKEY, who.admin_id,
				  passkey_one, list)) != SA_OK) {
		json_decref(list);
		return admin_store_err(res, rc);
	}
	http_res_json(res, 200, json_pack("{s:o}", "passkeys", list));
	return SA_OK;
}

/* ---- Register ------------------------------------------------------------ */

enum sa_err
admin_passkeys_register_start(struct http_request *req,
			      struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	char id[44] = "", chal[44];
	json_t *uv, *state, *exclude, *reg;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((uv = admin_stepup_put(adm, &who, id, NULL)) == NULL)
		return http_res_error(res, SA_ERR_INTERNAL, NULL,
				      "cannot start the step-up");
	state = json_pack("{s:s, s:s}", "adminId", who.admin_id, "session",
			  who.session_key);
	if (state == NULL || (rc = admin_challenge_put(adm, "register", state,
						       id, chal)) != SA_OK) {
		json_decref(state);
		json_decref(uv);
		return http_res_error(res, SA_ERR_INTERNAL, NULL,
				      "cannot start the registration");
	}
	json_decref(state);
	exclude = admin_allow_list(adm, who.admin_id);
	reg =
	    admin_creation_options(adm, chal, who.admin_id, who.name, exclude);
	http_res_json(res, 200,
		      json_pack("{s:s, s:o, s:o}", "registrationId", id,
				"registerOptions", reg, "uvOptions", uv));
	return SA_OK;
}

enum sa_err
admin_passkeys_register_finish(struct http_request *req,
			       struct http_response *res)
{
	json_t *body = http_req_json(req), *uv = NULL, *reg = NULL, *doc = NULL;
	const char *id =
	    json_string_value(json_object_get(body, "registrationId"));
	const char *label = json_string_value(json_object_get(body, "label"));
	struct webauthn_credential cred;
	struct admin_caller who;
	struct admin *adm;
	char why[256] = "", *cred_id = NULL, *text = NULL;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	/* The step-up first: failing it must not cost the registration. */
	if ((rc = admin_stepup_check(
		 req, res, adm, &who, id, json_object_get(body, "uvResponse"),
		 "admin.passkey_register_refused", &uv)) != SA_OK)
		return rc;
	rc = admin_challenge_take(adm, "register", id, &reg);
	if (rc != SA_OK) {
		rc =
		    admin_fail(req, res, &who, "admin.passkey_register_refused",
			       rc, "no registration in progress for this id");
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(reg, "session")) ?: "",
		   who.session_key) != 0) {
		rc =
		    admin_fail(req, res, &who, "admin.passkey_register_refused",
			       SA_ERR_FORBIDDEN,
			       "this registration belongs to another session");
		goto out;
	}
	if ((rc = admin_register_check(
		 adm, json_object_get(body, "registerResponse"),
		 json_string_value(json_object_get(reg, "challenge")), &cred,
		 why, sizeof(why))) != SA_OK) {
		rc = admin_fail(req, res, &who,
				"admin.passkey_register_refused", rc, why);
		goto out;
	}
	cred_id = admin_cred_id(&cred);
	doc = admin_passkey_doc(&cred, label, admin_transports(body));
	if (cred_id == NULL || doc == NULL ||
	    (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	{
		const struct dstore_rec_op ops[] = {
		    {.op = REC_CREATE,
		     .kind = REC_PASSKEY,
		     .id = cred_id,
		     .owner = who.admin_id,
		     .doc = text},
		};
		rc = dstore_rec_write(adm->app->ds, ops, 1);
	}
	if (rc == SA_ERR_CONFLICT) {
		rc =
		    admin_fail(req, res, &who, "admin.passkey_register_refused",
			       rc, "this passkey is already registered");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	if ((rc = admin_audit(req, &who, "admin.passkey_registered",
			      json_pack("{s:s, s:s, s:O?, s:s, s:i}",
					"credentialId", cred_id, "label", label,
					"transports", admin_transports(body),
					"attestation", cred.fmt, "alg",
					cred.alg))) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	http_res_json(res, 200, json_pack("{s:s}", "credentialId", cred_id));
	rc = SA_OK;
out:
	free(text);
	free(cred_id);
	json_decref(doc);
	json_decref(uv);
	json_decref(reg);
	return rc;
}

/* ---- Revoke -------------------------------------------------------------- */

enum sa_err
admin_passkeys_revoke_start(struct http_request *req, struct http_response *res)
{
	const char *target = json_string_value(
	    json_object_get(http_req_json(req), "credentialId"));
	struct admin_caller who;
	struct dstore_rec pk;
	struct admin *adm;
	char id[44] = "";
	json_t *uv;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	memset(&pk, 0, sizeof(pk));
	rc = dstore_rec_get(adm->app->ds, REC_PASSKEY, target, &pk);
	if (rc == SA_OK && strcmp(pk.owner, who.admin_id) != 0)
		rc = SA_ERR_NOT_FOUND;
	dstore_rec_free(&pk);
	if (rc == SA_ERR_NOT_FOUND)
		return http_res_error(res, SA_ERR_NOT_FOUND, "credentialId",
				      "credentialId is not one of your "
				      "passkeys");
	if (rc != SA_OK)
		return admin_store_err(res, rc);
	/* The target is pinned to the ceremony: finish cannot swap it. */
	uv = admin_stepup_put(adm, &who, id,
			      json_pack("{s:s}", "target", target));
	if (uv == NULL)
		return http_res_error(res, SA_ERR_INTERNAL, NULL,
				      "cannot start the step-up");
	http_res_json(
	    res, 200,
	    json_pack("{s:s, s:o}", "revocationId", id, "uvOptions", uv));
	return SA_OK;
}

enum sa_err
admin_passkeys_revoke_finish(struct http_request *req,
			     struct http_response *res)
{
	json_t *body = http_req_json(req), *st = NULL;
	const char *id =
	    json_string_value(json_object_get(body, "revocationId"));
	const char *target;
	struct admin_caller who;
	struct admin *adm;
	int64_t ended = 0;
	int own;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((rc = admin_stepup_check(
		 req, res, adm, &who, id, json_object_get(body, "uvResponse"),
		 "admin.passkey_revoke_refused", &st)) != SA_OK)
		return rc;
	target = json_string_value(json_object_get(st, "target"));
	if (target == NULL) {
		rc = admin_fail(req, res, &who, "admin.passkey_revoke_refused",
				SA_ERR_FORBIDDEN,
				"this step-up was started for another action");
		goto out;
	}
	{
		/* The last-passkey guard counts inside the transaction that
		 * deletes: two revokes racing on two servers cannot both
		 * leave the admin with none. The sessions signed in with the
		 * passkey end in the same transaction, so none outlives it
		 * (a sign-in racing the revoke checks the passkey inside its
		 * own write, api_session.c). */
		const struct dstore_rec_op ops[] = {
		    {.op = REC_DELETE,
		     .kind = REC_PASSKEY,
		     .id = target,
		     .owner = who.admin_id},
		    {.op = REC_REQUIRE_SOME,
		     .kind = REC_PASSKEY,
		     .owner = who.admin_id,
		     .fail = SA_ERR_LAST_PASSKEY},
		    {.op = REC_DELETE_MATCH,
		     .kind = REC_SESSION,
		     .owner = who.admin_id,
		     .member = "passkeyId",
		     .doc = target,
		     .affected = &ended},
		};
		rc = dstore_rec_write(adm->app->ds, ops, 3);
	}
	if (rc == SA_ERR_LAST_PASSKEY) {
		rc = admin_fail(req, res, &who, "admin.passkey_revoke_refused",
				rc,
				"LastPasskeyProtected: refusing to leave the "
				"admin with no passkey");
		goto out;
	}
	if (rc == SA_ERR_NOT_FOUND) {
		rc = admin_fail(req, res, &who, "admin.passkey_revoke_refused",
				rc, "the passkey is already gone");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	own = strcmp(who.passkey_id, target) == 0;
	if ((rc = admin_audit(
		 req, &who, "admin.passkey_revoked",
		 json_pack("{s:s, s:I, s:b, s:O?}", "credentialId", target,
			   "sessionsEnded", (json_int_t)ended,
			   "currentSessionEnded", own, "uvPasskeyId",
			   json_object_get(st, "uvPasskeyId")))) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	/* The caller's own session goes too when it was signed in with this
	 * passkey: the console then signs in again with another one. */
	http_res_json(res, 200,
		      json_pack("{s:s, s:I, s:b}", "credentialId", target,
				"sessionsEnded", (json_int_t)ended,
				"currentSessionEnded", own));
	if (own)
		admin_session_cookie(res, NULL, 0);
	rc = SA_OK;
out:
	json_decref(st);
	return rc;
}
