/*
 * api_install.c - the install window and its claim.
 *
 * On first start with no admin the server makes a one-time install token:
 * its hash goes into the database (record "install"/"window"), the token
 * to the log and to DATA_DIR/install-token (0600). Claiming it registers
 * the first admin's passkey and closes the window in the same transaction
 * that creates the admin, so a second claim, here or on another server of
 * the same database, is refused. `sealauth admin recover` opens a new
 * window for an admin beside the existing ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"

#define INSTALL_ID "window"
#define INSTALL_TOKEN_FILE "install-token"

static const struct schema_field claim_start_fields[] = {
    SCHEMA_STRING("installToken", SCHEMA_REQUIRED, 1, 128,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_STRING("name", SCHEMA_REQUIRED, 1, ADMIN_NAME_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
const struct schema admin_claim_start_schema = {claim_start_fields, NULL};

static const struct schema_field claim_finish_fields[] = {
    SCHEMA_STRING("claimId", SCHEMA_REQUIRED, 43, 43, SCHEMA_FMT_BASE64URL),
    SCHEMA_OBJECT("registerResponse", SCHEMA_REQUIRED,
		  &admin_registration_schema),
    SCHEMA_STRING("label", SCHEMA_OPTIONAL, 1, ADMIN_LABEL_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
const struct schema admin_claim_finish_schema = {claim_finish_fields, NULL};

/* token_hash writes the hex SHA-256 of an install token. */
static void
token_hash(const char *token, char out[65])
{
	unsigned char h[32];
	char *hex;

	sha256(token, strlen(token), h);
	hex = hex_encode(h, 32);
	snprintf(out, 65, "%s", hex ? hex : "");
	free(hex);
}

static int
count_one(const struct dstore_rec *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

/*
 * open_window writes a new window record (replacing an older one when
 * recovery is set) and the token file; token receives the token.
 */
static enum sa_err
open_window(struct app *app, int recovery, char token[44])
{
	unsigned char raw[32];
	char hash[65], path[4096], *tok = NULL, *doc = NULL;
	json_t *o = NULL;
	enum sa_err rc;

	if ((rc = rand_bytes(raw, sizeof(raw))) != SA_OK)
		return rc;
	if ((tok = b64url_encode(raw, sizeof(raw))) == NULL)
		return SA_ERR_NOMEM;
	OPENSSL_cleanse(raw, sizeof(raw));
	token_hash(tok, hash);
	o = json_pack("{s:s, s:b, s:I}", "tokenHash", hash, "recovery",
		      recovery, "openedAt", (json_int_t)now_unix());
	if (o == NULL || (doc = json_dumps(o, JSON_COMPACT)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	{
		const struct dstore_rec_op first[] = {
		    {.op = REC_REQUIRE_NONE, .kind = REC_ADMIN},
		    {.op = REC_CREATE,
		     .kind = REC_INSTALL,
		     .id = INSTALL_ID,
		     .doc = doc},
		};
		const struct dstore_rec_op again[] = {
		    {.op = REC_DELETE_OWNED, .kind = REC_INSTALL},
		    {.op = REC_CREATE,
		     .kind = REC_INSTALL,
		     .id = INSTALL_ID,
		     .doc = doc},
		};
		rc = recovery ? dstore_rec_write(app->ds, again, 2)
			      : dstore_rec_write(app->ds, first, 2);
	}
	if (rc != SA_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", app->cfg.data_dir,
		 INSTALL_TOKEN_FILE);
	if ((rc = write_file_atomic(path, tok, strlen(tok), 0600)) != SA_OK) {
		log_error("admin.install", "cannot write %s", path);
		goto out;
	}
	snprintf(token, 44, "%s", tok);
out:
	if (tok != NULL)
		OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	free(doc);
	json_decref(o);
	return rc;
}

/*
 * admin_install_ensure opens the install window on a database without an
 * admin, once: a window that is already open (perhaps by another server)
 * is left as it is.
 */
enum sa_err
admin_install_ensure(struct admin *adm)
{
	struct app *app = adm->app;
	struct dstore_rec win;
	char token[44];
	int admins = 0;
	enum sa_err rc;

	if ((rc = dstore_rec_list(app->ds, REC_ADMIN, NULL, count_one,
				  &admins)) != SA_OK)
		return rc;
	if (admins > 0)
		return SA_OK;
	memset(&win, 0, sizeof(win));
	rc = dstore_rec_get(app->ds, REC_INSTALL, INSTALL_ID, &win);
	dstore_rec_free(&win);
	if (rc == SA_OK) {
		log_warn("admin.install",
			 "no admin yet: claim the install window at %s/admin "
			 "with the token in %s/%s (or on the server that "
			 "opened it)",
			 app->cfg.public_url, app->cfg.data_dir,
			 INSTALL_TOKEN_FILE);
		return SA_OK;
	}
	if (rc != SA_ERR_NOT_FOUND)
		return rc;
	rc = open_window(app, 0, token);
	if (rc == SA_ERR_CONFLICT)
		return SA_OK; /* another server opened it first */
	if (rc != SA_OK)
		return rc;
	log_warn("admin.install",
		 "no admin yet: open %s/admin and claim with the install "
		 "token %s (also in %s/%s)",
		 app->cfg.public_url, token, app->cfg.data_dir,
		 INSTALL_TOKEN_FILE);
	OPENSSL_cleanse(token, sizeof(token));
	return app_audit(app, NULL, "admin.install_opened", "",
			 json_pack("{s:b}", "recovery", 0));
}

enum sa_err
admin_recover(struct app *app, char *token, size_t tokenlen)
{
	char t[44];
	enum sa_err rc;

	if (tokenlen < sizeof(t))
		return SA_ERR_INTERNAL;
	if ((rc = open_window(app, 1, t)) != SA_OK)
		return rc;
	snprintf(token, tokenlen, "%s", t);
	OPENSSL_cleanse(t, sizeof(t));
	return app_audit(app, NULL, "admin.recover_opened", "",
			 json_pack("{s:b, s:s}", "recovery", 1, "by",
				   "sealauth admin recover (local access)"));
}

/* window_read loads the open window: its token hash and recovery flag. */
static enum sa_err
window_read(struct app *app, char hash[65], int *recovery)
{
	struct dstore_rec win;
	json_t *doc;
	enum sa_err rc;

	memset(&win, 0, sizeof(win));
	rc = dstore_rec_get(app->ds, REC_INSTALL, INSTALL_ID, &win);
	if (rc == SA_ERR_NOT_FOUND)
		return SA_ERR_INSTALL_CLOSED;
	if (rc != SA_OK)
		return rc;
	doc = json_loads(win.doc, 0, NULL);
	snprintf(hash, 65, "%s",
		 json_string_value(json_object_get(doc, "tokenHash")) ?: "");
	*recovery = json_is_true(json_object_get(doc, "recovery"));
	json_decref(doc);
	dstore_rec_free(&win);
	return strlen(hash) == 64 ? SA_OK : SA_ERR_INTERNAL;
}

enum sa_err
admin_claim_start(struct http_request *req, struct http_response *res)
{
	json_t *body = http_req_json(req), *state = NULL, *opts;
	const char *token =
	    json_string_value(json_object_get(body, "installToken"));
	const char *name = json_string_value(json_object_get(body, "name"));
	char want[65], got[65], admin_id[ADMIN_ID_MAX + 1], id[44] = "",
							    chal[44];
	struct admin *adm;
	int recovery = 0;
	enum sa_err rc;

	if ((rc = admin_ready(req, res, &adm)) != SA_OK)
		return rc;
	if ((rc = window_read(adm->app, want, &recovery)) != SA_OK) {
		if (rc == SA_ERR_INSTALL_CLOSED)
			return admin_fail(req, res, NULL,
					  "admin.install_refused", rc,
					  "the install window is closed: an "
					  "admin exists");
		return admin_store_err(res, rc);
	}
	token_hash(token, got);
	/* Hashes of equal length compared in constant time. */
	if (CRYPTO_memcmp(want, got, 64) != 0)
		return admin_fail(req, res, NULL, "admin.install_refused",
				  SA_ERR_UNAUTHORIZED,
				  "the install token is wrong");
	if ((rc = admin_new_id(admin_id)) != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	state = json_pack("{s:s, s:s, s:s}", "adminId", admin_id, "name", name,
			  "tokenHash", want);
	if (state == NULL || (rc = admin_challenge_put(adm, "claim", state, id,
						       chal)) != SA_OK) {
		json_decref(state);
		return http_res_error(res, rc ? rc : SA_ERR_NOMEM, NULL, NULL);
	}
	json_decref(state);
	opts = admin_creation_options(adm, chal, admin_id, name, NULL);
	http_res_json(res, 200,
		      json_pack("{s:s, s:o, s:b}", "claimId", id,
				"registerOptions", opts, "recovery", recovery));
	return SA_OK;
}

enum sa_err
admin_claim_finish(struct http_request *req, struct http_response *res)
{
	json_t *body = http_req_json(req), *state = NULL, *ao = NULL;
	char why[256] = "", hash[65], path[4096];
	struct admin_first f;
	const char *want;
	struct admin *adm;
	int recovery = 0;
	enum sa_err rc;

	memset(&f, 0, sizeof(f));
	if ((rc = admin_ready(req, res, &adm)) != SA_OK)
		return rc;
	rc = admin_challenge_take(
	    adm, "claim", json_string_value(json_object_get(body, "claimId")),
	    &state);
	if (rc != SA_OK)
		return admin_fail(req, res, NULL, "admin.install_refused", rc,
				  "the claim is unknown, used or expired");
	f.admin_id = json_string_value(json_object_get(state, "adminId"));
	f.name = json_string_value(json_object_get(state, "name"));
	want = json_string_value(json_object_get(state, "tokenHash"));
	/* The window the claim started on must still be the open one. */
	if ((rc = window_read(adm->app, hash, &recovery)) != SA_OK ||
	    want == NULL || strcmp(hash, want) != 0) {
		rc = admin_fail(req, res, NULL, "admin.install_refused",
				SA_ERR_INSTALL_CLOSED,
				"the install window closed meanwhile");
		goto out;
	}
	ao = json_pack("{s:s, s:I, s:s}", "name", f.name ? f.name : "",
		       "createdAt", (json_int_t)now_unix(), "createdBy",
		       recovery ? "recovery" : "install");
	{
		/* The window closes as the admin appears; a recovery window
		 * adds an admin beside the others. */
		const struct dstore_rec_op guards[] = {
		    {.op = REC_REQUIRE_NONE,
		     .kind = REC_ADMIN,
		     .fail = SA_ERR_INSTALL_CLOSED},
		    {.op = REC_DELETE,
		     .kind = REC_INSTALL,
		     .id = INSTALL_ID,
		     .fail = SA_ERR_INSTALL_CLOSED},
		};
		f.doc = ao;
		f.guards = recovery ? guards + 1 : guards;
		f.nguards = recovery ? 1 : 2;
		rc = admin_first_create(adm, body, state, &f, why, sizeof(why));
	}
	if (rc != SA_OK && why[0] != '\0') {
		rc = admin_fail(req, res, NULL, "admin.install_refused", rc,
				why);
		goto out;
	}
	if (rc == SA_ERR_INSTALL_CLOSED || rc == SA_ERR_CONFLICT) {
		rc = admin_fail(req, res, NULL, "admin.install_refused",
				SA_ERR_INSTALL_CLOSED,
				"the install window is closed");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", adm->app->cfg.data_dir,
		 INSTALL_TOKEN_FILE);
	unlink(path);
	rc = admin_first_done(req, res, &f, "admin.install_claimed",
			      json_pack("{s:b}", "recovery", recovery));
out:
	json_decref(state);
	json_decref(ao);
	free(f.cred_id);
	return rc;
}
