/*
 * api_admins.c - the admins of a server: list them with their open
 * invitations, invite one, cancel an invitation, remove one; and the
 * invitee's side, redeeming the invitation to register a first passkey.
 *
 * Every change is a step-up pair (stepup.c). An invitation is a one-time
 * link whose token is shown once and stored only as its SHA-256, with an
 * expiry; the invitee, who has no session, redeems it under the install
 * claim's per-IP rate limit, and the new admin, their passkey and the use
 * of the invitation are one transaction. Removing an admin takes their
 * passkeys, sessions and open invitations with them in one transaction
 * whose guard refuses to leave the server without an admin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"

#define INVITES_OPEN_MAX 100 /* open invitations at once */
#define INVITE_TOKEN_MAX 128 /* bytes of a token as the link carries it */

ADMIN_STRING_SCHEMA(admin_invite_start_schema, "name", 1, ADMIN_NAME_MAX,
		    SCHEMA_FMT_PRINTABLE);
ADMIN_STRING_SCHEMA(admin_invite_cancel_schema, "inviteId", 1, ADMIN_ID_MAX,
		    SCHEMA_FMT_BASE64URL);
ADMIN_STRING_SCHEMA(admin_remove_start_schema, "adminId", 1, ADMIN_ID_MAX,
		    SCHEMA_FMT_BASE64URL);
ADMIN_STRING_SCHEMA(admin_redeem_start_schema, "inviteToken", 1,
		    INVITE_TOKEN_MAX, SCHEMA_FMT_BASE64URL);

static const struct schema_field redeem_finish_fields[] = {
    SCHEMA_STRING("registrationId", SCHEMA_REQUIRED, 43, 43,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_OBJECT("registerResponse", SCHEMA_REQUIRED,
		  &admin_registration_schema),
    SCHEMA_STRING("label", SCHEMA_OPTIONAL, 1, ADMIN_LABEL_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
const struct schema admin_redeem_finish_schema = {redeem_finish_fields, NULL};

/* ---- List ---------------------------------------------------------------- */

struct walk {
	json_t *out; /* array (admins, invites) or object (counts) */
	int64_t now;
	const char *me; /* the caller's admin id */
};

static int
count_passkey(const struct dstore_rec *r, void *arg)
{
	struct walk *w = arg;
	json_int_t n = json_integer_value(json_object_get(w->out, r->owner));

	json_object_set_new(w->out, r->owner, json_integer(n + 1));
	return 0;
}

static int
admin_one(const struct dstore_rec *r, void *arg)
{
	struct walk *w = arg;
	json_t *doc = json_loads(r->doc, 0, NULL);

	if (doc == NULL)
		return 0;
	json_array_append_new(
	    w->out, json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:b}", "adminId",
			      r->id, "name", json_object_get(doc, "name"),
			      "createdAt", json_object_get(doc, "createdAt"),
			      "createdBy", json_object_get(doc, "createdBy"),
			      "invitedBy", json_object_get(doc, "invitedBy"),
			      "current", strcmp(r->id, w->me) == 0));
	json_decref(doc);
	return 0;
}

static int
invite_one(const struct dstore_rec *r, void *arg)
{
	struct walk *w = arg;
	json_t *doc;

	if (r->expires_at <= w->now)
		return 0; /* expired: the next invitation's write purges it */
	if ((doc = json_loads(r->doc, 0, NULL)) == NULL)
		return 0;
	json_array_append_new(
	    w->out,
	    json_pack("{s:s, s:O?, s:O?, s:I, s:s}", "inviteId", r->id, "name",
		      json_object_get(doc, "name"), "createdAt",
		      json_object_get(doc, "createdAt"), "expiresAt",
		      (json_int_t)r->expires_at, "invitedBy", r->owner));
	json_decref(doc);
	return 0;
}

/* open_invites lists the open invitations as the API shows them (new). */
static enum sa_err
open_invites(struct admin *adm, json_t **out)
{
	struct walk w = {.out = json_array(), .now = now_unix()};
	enum sa_err rc;

	if (w.out == NULL)
		return SA_ERR_NOMEM;
	if ((rc = dstore_rec_list(adm->app->ds, REC_INVITE, NULL, invite_one,
				  &w)) != SA_OK) {
		json_decref(w.out);
		return rc;
	}
	*out = w.out;
	return SA_OK;
}

enum sa_err
admin_admins_list(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	struct walk admins, counts;
	json_t *invites = NULL, *a;
	size_t i;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	admins = (struct walk){.out = json_array(), .me = who.admin_id};
	counts = (struct walk){.out = json_object()};
	if (admins.out == NULL || counts.out == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	if ((rc = dstore_rec_list(adm->app->ds, REC_ADMIN, NULL, admin_one,
				  &admins)) != SA_OK ||
	    (rc = dstore_rec_list(adm->app->ds, REC_PASSKEY, NULL,
				  count_passkey, &counts)) != SA_OK ||
	    (rc = open_invites(adm, &invites)) != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	json_array_foreach(admins.out, i, a)
	{
		const char *id =
		    json_string_value(json_object_get(a, "adminId"));
		json_object_set_new(
		    a, "passkeys",
		    json_integer(json_integer_value(
			json_object_get(counts.out, id ? id : ""))));
	}
	http_res_json(
	    res, 200,
	    json_pack("{s:O, s:O}", "admins", admins.out, "invites", invites));
	rc = SA_OK;
out:
	json_decref(admins.out);
	json_decref(counts.out);
	json_decref(invites);
	return rc;
}

/* ---- Invite -------------------------------------------------------------- */

enum sa_err
admin_admins_invite_start(struct http_request *req, struct http_response *res)
{
	const char *name =
	    json_string_value(json_object_get(http_req_json(req), "name"));
	struct admin_caller who;
	struct admin *adm;
	json_t *open = NULL;
	size_t n;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	if ((rc = open_invites(adm, &open)) != SA_OK)
		return admin_store_err(res, rc);
	n = json_array_size(open);
	json_decref(open);
	/* Each open link is a way in: keep their number small. */
	if (n >= INVITES_OPEN_MAX)
		return http_res_error(res, SA_ERR_CONFLICT, NULL,
				      "%d invitations are open: cancel some "
				      "first",
				      INVITES_OPEN_MAX);
	return admin_stepup_start(res, adm, &who, "admin_invite",
				  json_pack("{s:s}", "name", name));
}

/* invite_url writes PUBLIC_URL/admin/#invite=TOKEN (a fragment: browsers
 * never send it, so the token stays out of access logs). */
static void
invite_url(struct admin *adm, const char *token, char *out, size_t cap)
{
	const char *base = adm->app->cfg.public_url;
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(out, cap, "%.*s/admin/#invite=%s", (int)n, base, token);
}

enum sa_err
admin_admins_invite_finish(struct http_request *req, struct http_response *res)
{
	char token[44] = "", hash[65], id[ADMIN_ID_MAX + 1], url[4200];
	struct admin_caller who;
	struct admin *adm;
	static const char *const names[] = {"name", NULL};
	json_t *c = NULL, *doc = NULL;
	const char *name;
	char *text = NULL;
	int64_t now = now_unix(), expires;
	enum sa_err rc;

	if ((rc = admin_stepup_pinned(req, res, "admin_invite",
				      "admin.invite_refused", &adm, &who, &c,
				      names, &name)) != SA_OK)
		return rc;
	expires = now + adm->app->cfg.admin_invite_ttl;
	if ((rc = admin_random(token)) != SA_OK ||
	    (rc = admin_new_id(id)) != SA_OK) {
		rc = http_res_error(res, SA_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	admin_hash_hex(token, hash);
	doc = json_pack("{s:s, s:s, s:I}", "name", name, "tokenHash", hash,
			"createdAt", (json_int_t)now);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	{
		/* Expired invitations go in the write that adds one. */
		const struct dstore_rec_op ops[] = {
		    {.op = REC_CREATE,
		     .kind = REC_INVITE,
		     .id = id,
		     .owner = who.admin_id,
		     .doc = text,
		     .expires_at = expires},
		    {.op = REC_DELETE_EXPIRED,
		     .kind = REC_INVITE,
		     .expires_at = now},
		};
		if ((rc = dstore_rec_write(adm->app->ds, ops, 2)) != SA_OK) {
			admin_store_err(res, rc);
			goto out;
		}
	}
	if ((rc = admin_audit(req, &who, "admin.invited",
			      json_pack("{s:s, s:s, s:I, s:O?}", "inviteId", id,
					"name", name, "expiresAt",
					(json_int_t)expires, "uvPasskeyId",
					json_object_get(c, "uvPasskeyId")))) !=
	    SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	invite_url(adm, token, url, sizeof(url));
	http_res_json(res, 201,
		      json_pack("{s:s, s:s, s:s, s:s, s:I}", "inviteId", id,
				"name", name, "inviteToken", token, "inviteUrl",
				url, "expiresAt", (json_int_t)expires));
	rc = SA_OK;
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(url, sizeof(url));
	free(text);
	json_decref(doc);
	json_decref(c);
	return rc;
}

/* ---- Cancel an invitation ------------------------------------------------ */

enum sa_err
admin_admins_invite_cancel_start(struct http_request *req,
				 struct http_response *res)
{
	const char *id =
	    json_string_value(json_object_get(http_req_json(req), "inviteId"));
	struct admin_caller who;
	struct dstore_rec inv;
	struct admin *adm;
	json_t *doc = NULL, *change;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	memset(&inv, 0, sizeof(inv));
	rc = dstore_rec_get(adm->app->ds, REC_INVITE, id, &inv);
	if (rc == SA_OK && inv.expires_at <= now_unix())
		rc = SA_ERR_NOT_FOUND;
	if (rc == SA_ERR_NOT_FOUND) {
		rc = http_res_error(res, SA_ERR_NOT_FOUND, "inviteId",
				    "no open invitation has this id (used, "
				    "cancelled or expired)");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	doc = json_loads(inv.doc, 0, NULL);
	change =
	    json_pack("{s:s, s:O?, s:s}", "inviteId", id, "name",
		      json_object_get(doc, "name"), "invitedBy", inv.owner);
	rc = admin_stepup_start(res, adm, &who, "admin_invite_cancel", change);
out:
	json_decref(doc);
	dstore_rec_free(&inv);
	return rc;
}

enum sa_err
admin_admins_invite_cancel_finish(struct http_request *req,
				  struct http_response *res)
{
	static const char *const names[] = {"inviteId", NULL};
	const char *refused = "admin.invite_cancel_refused";
	struct admin_caller who;
	struct admin *adm;
	json_t *c = NULL;
	const char *id;
	enum sa_err rc;

	if ((rc = admin_stepup_pinned(req, res, "admin_invite_cancel", refused,
				      &adm, &who, &c, names, &id)) != SA_OK)
		return rc;
	{
		const struct dstore_rec_op op = {
		    .op = REC_DELETE, .kind = REC_INVITE, .id = id};
		rc = dstore_rec_write(adm->app->ds, &op, 1);
	}
	if (rc == SA_ERR_NOT_FOUND) {
		rc = admin_fail(req, res, &who, refused, rc,
				"the invitation was used or cancelled "
				"meanwhile");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	if ((rc = admin_audit(
		 req, &who, "admin.invite_cancelled",
		 json_pack("{s:s, s:O?, s:O?, s:O?}", "inviteId", id, "name",
			   json_object_get(c, "name"), "invitedBy",
			   json_object_get(c, "invitedBy"), "uvPasskeyId",
			   json_object_get(c, "uvPasskeyId")))) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	http_res_json(res, 200,
		      json_pack("{s:s, s:b}", "inviteId", id, "cancelled", 1));
	rc = SA_OK;
out:
	json_decref(c);
	return rc;
}

/* ---- Remove -------------------------------------------------------------- */

static int
count_one(const struct dstore_rec *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

enum sa_err
admin_admins_remove_start(struct http_request *req, struct http_response *res)
{
	const char *id =
	    json_string_value(json_object_get(http_req_json(req), "adminId"));
	struct admin_caller who;
	struct dstore_rec rec;
	struct admin *adm;
	json_t *doc = NULL;
	int admins = 0;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	memset(&rec, 0, sizeof(rec));
	rc = dstore_rec_get(adm->app->ds, REC_ADMIN, id, &rec);
	if (rc == SA_ERR_NOT_FOUND) {
		rc = http_res_error(res, SA_ERR_NOT_FOUND, "adminId",
				    "no admin has this id");
		goto out;
	}
	if (rc != SA_OK ||
	    (rc = dstore_rec_list(adm->app->ds, REC_ADMIN, NULL, count_one,
				  &admins)) != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	/* Said at once; the finish counts again inside its transaction. */
	if (admins < 2) {
		rc = admin_fail(req, res, &who, "admin.remove_refused",
				SA_ERR_LAST_ADMIN,
				"this is the last admin: the server keeps at "
				"least one (invite another admin first)");
		goto out;
	}
	doc = json_loads(rec.doc, 0, NULL);
	rc = admin_stepup_start(res, adm, &who, "admin_remove",
				json_pack("{s:s, s:O?}", "adminId", id, "name",
					  json_object_get(doc, "name")));
out:
	json_decref(doc);
	dstore_rec_free(&rec);
	return rc;
}

enum sa_err
admin_admins_remove_finish(struct http_request *req, struct http_response *res)
{
	static const char *const names[] = {"adminId", NULL};
	const char *refused = "admin.remove_refused";
	struct admin_caller who;
	struct admin *adm;
	json_t *c = NULL;
	const char *id;
	enum sa_err rc;

	if ((rc = admin_stepup_pinned(req, res, "admin_remove", refused, &adm,
				      &who, &c, names, &id)) != SA_OK)
		return rc;
	{
		/* The admin and everything that lets them in go together;
		 * the guard counts the admins left inside the same
		 * transaction, serialised with every admin write on every
		 * server, so two admins removing each other at once cannot
		 * leave the server with none. */
		const struct dstore_rec_op ops[] = {
		    {.op = REC_DELETE, .kind = REC_ADMIN, .id = id},
		    {.op = REC_DELETE_OWNED, .kind = REC_PASSKEY, .owner = id},
		    {.op = REC_DELETE_OWNED, .kind = REC_SESSION, .owner = id},
		    {.op = REC_DELETE_OWNED, .kind = REC_INVITE, .owner = id},
		    {.op = REC_REQUIRE_SOME,
		     .kind = REC_ADMIN,
		     .fail = SA_ERR_LAST_ADMIN},
		};
		rc = dstore_rec_write(adm->app->ds, ops, 5);
	}
	if (rc == SA_ERR_LAST_ADMIN) {
		rc = admin_fail(req, res, &who, refused, rc,
				"LastAdminProtected: refusing to leave the "
				"server with no admin");
		goto out;
	}
	if (rc == SA_ERR_NOT_FOUND) {
		rc = admin_fail(req, res, &who, refused, rc,
				"the admin was removed meanwhile");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	if ((rc = admin_audit(
		 req, &who, "admin.removed",
		 json_pack("{s:s, s:O?, s:b, s:O?}", "removedAdmin", id,
			   "removedName", json_object_get(c, "name"), "self",
			   strcmp(id, who.admin_id) == 0, "uvPasskeyId",
			   json_object_get(c, "uvPasskeyId")))) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	http_res_json(res, 200,
		      json_pack("{s:s, s:b}", "adminId", id, "removed", 1));
	/* Removed themselves: the console's cookie goes with the session. */
	if (strcmp(id, who.admin_id) == 0)
		admin_session_cookie(res, NULL, 0);
	rc = SA_OK;
out:
	json_decref(c);
	return rc;
}

/* ---- Redeem an invitation (the invitee, no session) ---------------------- */

struct find {
	char want[65];		   /* hex SHA-256 of the token given */
	char id[ADMIN_ID_MAX + 1]; /* the matching invitation */
	char owner[ADMIN_ID_MAX + 1];
	char name[ADMIN_NAME_MAX + 1];
	int64_t expires_at;
	int found;
};

/*
 * find_one compares the token's hash with every invitation's, each in
 * constant time and without stopping at a match, so the answer's timing
 * says nothing about how close a guess came or where a match sat.
 */
static int
find_one(const struct dstore_rec *r, void *arg)
{
	struct find *f = arg;
	json_t *doc = json_loads(r->doc, 0, NULL);
	const char *h = json_string_value(json_object_get(doc, "tokenHash"));
	int same;

	same =
	    h != NULL && strlen(h) == 64 && CRYPTO_memcmp(h, f->want, 64) == 0;
	if (same) {
		snprintf(f->id, sizeof(f->id), "%s", r->id);
		snprintf(f->owner, sizeof(f->owner), "%s", r->owner);
		snprintf(f->name, sizeof(f->name), "%s",
			 json_string_value(json_object_get(doc, "name")) ?: "");
		f->expires_at = r->expires_at;
		f->found = 1;
	}
	json_decref(doc);
	return 0;
}

enum sa_err
admin_invite_redeem_start(struct http_request *req, struct http_response *res)
{
	const char *token = json_string_value(
	    json_object_get(http_req_json(req), "inviteToken"));
	char admin_id[ADMIN_ID_MAX + 1], id[44] = "", chal[44];
	struct admin *adm;
	struct find f;
	json_t *state, *opts;
	enum sa_err rc;

	if ((rc = admin_ready(req, res, &adm)) != SA_OK)
		return rc;
	memset(&f, 0, sizeof(f));
	admin_hash_hex(token, f.want);
	if ((rc = dstore_rec_list(adm->app->ds, REC_INVITE, NULL, find_one,
				  &f)) != SA_OK)
		return admin_store_err(res, rc);
	if (!f.found || f.expires_at <= now_unix()) {
		const char *why = f.found ? "the invitation has expired: ask "
					    "for a new link"
					  : "no open invitation has this "
					    "token (unknown, used or "
					    "cancelled)";
		admin_audit(req, NULL, "admin.invite_refused",
			    json_pack("{s:s, s:s, s:s*}", "error",
				      sa_err_code(SA_ERR_INVITE_INVALID),
				      "reason", why, "inviteId",
				      f.found ? f.id : NULL));
		return http_res_error(res, SA_ERR_INVITE_INVALID, "inviteToken",
				      "%s", why);
	}
	if ((rc = admin_new_id(admin_id)) != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	state = json_pack("{s:s, s:s, s:s, s:s}", "adminId", admin_id, "name",
			  f.name, "inviteId", f.id, "invitedBy", f.owner);
	if (state == NULL || (rc = admin_challenge_put(adm, "invite", state, id,
						       chal)) != SA_OK) {
		json_decref(state);
		return http_res_error(res, rc ? rc : SA_ERR_NOMEM, NULL, NULL);
	}
	json_decref(state);
	opts = admin_creation_options(adm, chal, admin_id, f.name, NULL);
	http_res_json(res, 200,
		      json_pack("{s:s, s:s, s:o, s:I}", "registrationId", id,
				"name", f.name, "registerOptions", opts,
				"expiresAt", (json_int_t)f.expires_at));
	return SA_OK;
}

enum sa_err
admin_invite_redeem_finish(struct http_request *req, struct http_response *res)
{
	const char *refused = "admin.invite_refused";
	json_t *body = http_req_json(req), *state = NULL, *ao = NULL;
	const char *invite_id, *by;
	struct admin_first f;
	char why[256] = "";
	int64_t now = now_unix();
	struct admin *adm;
	enum sa_err rc;

	memset(&f, 0, sizeof(f));
	if ((rc = admin_ready(req, res, &adm)) != SA_OK)
		return rc;
	rc = admin_challenge_take(
	    adm, "invite",
	    json_string_value(json_object_get(body, "registrationId")), &state);
	if (rc != SA_OK)
		return admin_fail(req, res, NULL, refused, rc,
				  "the registration is unknown, used or "
				  "expired: open the link again");
	f.admin_id = json_string_value(json_object_get(state, "adminId"));
	f.name = json_string_value(json_object_get(state, "name"));
	invite_id = json_string_value(json_object_get(state, "inviteId"));
	by = json_string_value(json_object_get(state, "invitedBy"));
	ao = json_pack("{s:s?, s:I, s:s, s:s?, s:s?}", "name", f.name,
		       "createdAt", (json_int_t)now, "createdBy", "invite",
		       "invitedBy", by, "inviteId", invite_id);
	if (f.name == NULL || invite_id == NULL || by == NULL || ao == NULL) {
		rc = http_res_error(res, SA_ERR_INTERNAL, NULL, NULL);
		goto out;
	}
	{
		/* The invitation is used up as the admin appears. An expired
		 * one is purged first, so it cannot be used; one cancelled,
		 * used or gone with the admin who made it fails the delete. */
		const struct dstore_rec_op guards[] = {
		    {.op = REC_DELETE_EXPIRED,
		     .kind = REC_INVITE,
		     .expires_at = now},
		    {.op = REC_DELETE,
		     .kind = REC_INVITE,
		     .id = invite_id,
		     .owner = by,
		     .fail = SA_ERR_INVITE_INVALID},
		};
		f.doc = ao;
		f.guards = guards;
		f.nguards = 2;
		rc = admin_first_create(adm, body, state, &f, why, sizeof(why));
	}
	if (rc != SA_OK && why[0] != '\0') {
		rc = admin_fail(req, res, NULL, refused, rc, why);
		goto out;
	}
	if (rc == SA_ERR_INVITE_INVALID || rc == SA_ERR_CONFLICT) {
		rc = admin_fail(req, res, NULL, refused, rc,
				rc == SA_ERR_CONFLICT
				    ? "this passkey is already registered"
				    : "the invitation was used, cancelled or "
				      "expired meanwhile");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	rc = admin_first_done(req, res, &f, "admin.invite_accepted",
			      json_pack("{s:s, s:s, s:O?}", "inviteId",
					invite_id, "invitedBy", by,
					"transports", admin_transports(body)));
out:
	json_decref(state);
	json_decref(ao);
	free(f.cred_id);
	return rc;
}
