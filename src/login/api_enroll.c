/*
 * api_enroll.c - POST /enroll (SPEC §2): bind a seal's token id to a
 * device key after the seal passed the whole trust chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "login/login.h"
#include "app/app.h"
#include "login/claims.h"
#include "login/takeover.h"
#include "crypto/ecdsa.h"
#include "core/log.h"
#include "push/push.h"
#include "core/schema.h"
#include "seal/seal_codec.h"
#include "store/store.h"
#include "trust/trust.h"
#include "core/util.h"
#include "seal/vds.h"

/* An enrollment lives as long as the seal's document, at most this long. */
#define ENROLL_MAX_LIFETIME (5 * 365 * 86400LL)

static const struct schema_field enroll_fields[] = {
    SCHEMA_STRING("vdsData", SCHEMA_REQUIRED, 16, 16384, SCHEMA_FMT_SEAL_TEXT),
    SCHEMA_STRING("publicKeyPem", SCHEMA_REQUIRED, 64, 2048, SCHEMA_FMT_PEM),
    SCHEMA_STRING("deviceId", SCHEMA_REQUIRED, 1, ENROLL_DEVICE_MAX,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("fcmToken", SCHEMA_OPTIONAL, 1, 4096, SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("pushEndpoint", SCHEMA_OPTIONAL, 1, 2048,
		  SCHEMA_FMT_HTTPS_URL),
    SCHEMA_END,
};
static const struct schema_rule enroll_rules[] = {
    SCHEMA_AT_MOST_ONE_OF("fcmToken", "pushEndpoint"),
    SCHEMA_RULES_END,
};
const struct schema api_enroll_schema = {enroll_fields, enroll_rules};

/* date_end parses YYYY-MM-DD into the last second of that day, UTC. */
static int64_t
date_end(const char *date)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(date, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return 0;
	return (int64_t)timegm(&tm) + 86399;
}

/*
 * refuse answers 422 for a seal that failed a check, naming the step, and
 * audits the refusal with its detail. A trust chain step is told with a
 * fixed sentence (chain is set): its reason may name a list's URL or a
 * path, which is for the log and the audit row only. A reason about the
 * seal's own bytes (decoding, quirks, the kind of document) is the
 * client's to read.
 */
static enum sa_err
refuse_as(struct http_request *req, struct http_response *res,
	  const struct trust_result *tr, int chain)
{
	struct app *app = http_req_app(req);
	json_t *body;

	app_audit(
	    app, req, "enroll.refused", "",
	    json_pack("{s:s, s:s}", "step", tr->step, "reason", tr->reason));
	log_info("enroll.refused", "step %s: %s", tr->step, tr->reason);
	body = json_pack("{s:s, s:s, s:s, s:s}", "error", sa_err_code(tr->err),
			 "message",
			 chain ? trust_step_message(tr->step) : tr->reason,
			 "step", tr->step, "field", "vdsData");
	http_res_json(res, 422, body);
	return tr->err;
}

static enum sa_err
refuse(struct http_request *req, struct http_response *res,
       const struct trust_result *tr)
{
	return refuse_as(req, res, tr, 0);
}

/* What the audit rows of an enrollment are made of. */
struct enroll_audit {
	struct app_rows rows;
	const struct enrollment *e;
	const struct trust_result *tr;
};

/*
 * enroll_rows makes the rows that commit with the binding (a struct
 * dstore_audit fill): "enroll.replaced" when it replaces one (the same
 * device key enrolled again), then "enroll.ok".
 */
static size_t
enroll_rows(const struct dstore_found *found, struct audit_row *rows, void *arg)
{
	struct enroll_audit *ea = arg;
	const struct enrollment *e = ea->e;
	const struct trust_result *tr = ea->tr;

	if (found->prev != NULL)
		app_rows_add(&ea->rows, "enroll.replaced", e->token_id,
			     json_pack("{s:s, s:s}", "oldDeviceId",
				       found->prev->device_id, "newDeviceId",
				       e->device_id));
	app_rows_add(&ea->rows, "enroll.ok", e->token_id,
		     json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "deviceId",
			       e->device_id, "iac", tr->iac, "ca", tr->ca_id,
			       "manifest", tr->manifest, "sealFingerprint",
			       e->seal_fingerprint, "demo", tr->demo));
	return app_rows_out(&ea->rows, rows);
}

enum sa_err
api_enroll(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	json_t *body = http_req_json(req);
	const char *text = json_string_value(json_object_get(body, "vdsData"));
	const char *pem =
	    json_string_value(json_object_get(body, "publicKeyPem"));
	const char *device =
	    json_string_value(json_object_get(body, "deviceId"));
	const char *fcm = json_string_value(json_object_get(body, "fcmToken"));
	const char *endpoint =
	    json_string_value(json_object_get(body, "pushEndpoint"));
	unsigned char *bytes = NULL, fp[32];
	size_t nbytes = 0;
	struct vds *seal = NULL;
	struct trust_result tr;
	const struct vds_claims *vc;
	struct identity id;
	struct enrollment e, prev;
	struct enroll_audit ea;
	const struct dstore_audit au = {enroll_rows, &ea};
	EVP_PKEY *key = NULL;
	json_t *idj = NULL;
	char why[256] = "", when[21], *fphex = NULL;
	const char *what = "";
	int64_t now = now_unix(), doc_end;
	int had_prev = 0;
	enum sa_err rc;

	memset(&tr, 0, sizeof(tr));
	memset(&id, 0, sizeof(id));
	memset(&e, 0, sizeof(e));
	memset(&prev, 0, sizeof(prev));

	/* The device key first: a bad request is 400, not a seal problem. */
	if (ecdsa_pubkey_from_pem(pem, strlen(pem), &key) != SA_OK) {
		rc = http_res_error(
		    res, SA_ERR_VALIDATION, "publicKeyPem",
		    "must be an ECDSA P-256 public key (SPKI PEM)");
		goto out;
	}
	tr.err = SA_ERR_SEAL_DECODE;
	snprintf(tr.step, sizeof(tr.step), "decode");
	if (seal_codec_decode(text, strlen(text), &bytes, &nbytes, NULL) !=
	    SA_OK) {
		snprintf(
		    tr.reason, sizeof(tr.reason),
		    "the seal is not base64, base45, base32 or hex of a seal");
		rc = refuse(req, res, &tr);
		goto out;
	}
	if (vds_decode(bytes, nbytes, &seal, why, sizeof(why)) != SA_OK) {
		snprintf(tr.reason, sizeof(tr.reason), "%s", why);
		rc = refuse(req, res, &tr);
		goto out;
	}
	/* Issuer quirks are counted for /health and, under
	 * SEALAUTH_SEAL_QUIRKS=refuse, refused before any trust work. */
	if (vds_quirks(seal) != 0) {
		int no = strcmp(app->cfg.seal_quirks, "refuse") == 0;
		seal_stats_count(&app->seal_stats, vds_quirks(seal), no);
		if (no) {
			char names[128] = "";
			for (unsigned int i = 0; i < VDS_QUIRK_COUNT; i++)
				if (vds_quirks(seal) & (1u << i))
					snprintf(names + strlen(names),
						 sizeof(names) - strlen(names),
						 "%s%s", names[0] ? ", " : "",
						 vds_quirk_name(i));
			tr.err = SA_ERR_SEAL_DECODE;
			snprintf(tr.step, sizeof(tr.step), "quirks");
			snprintf(tr.reason, sizeof(tr.reason),
				 "the seal needs issuer quirks to decode (%s), "
				 "and SEALAUTH_SEAL_QUIRKS=refuse",
				 names);
			rc = refuse(req, res, &tr);
			goto out;
		}
	}
	if (!vds_can_enroll(seal, &what)) {
		snprintf(tr.step, sizeof(tr.step), "document");
		snprintf(tr.reason, sizeof(tr.reason),
			 "%s %s is not an identity document and cannot enroll",
			 vds_format(seal) == VDS_FORMAT_ICAO ? "document type"
							     : "manifest",
			 what);
		rc = refuse(req, res, &tr);
		goto out;
	}
	vc = vds_claims(seal);
	if (vc == NULL) {
		snprintf(tr.reason, sizeof(tr.reason),
			 "the seal carries no identity claims (names, birth "
			 "date and document number)");
		rc = refuse(req, res, &tr);
		goto out;
	}
	if (app->trust == NULL ||
	    trust_verify_seal(app->trust, seal, now, &tr) != SA_OK) {
		if (app->trust == NULL) {
			tr.err = SA_ERR_TRUST_GOVERNANCE;
			snprintf(tr.step, sizeof(tr.step), "governance");
			snprintf(tr.reason, sizeof(tr.reason),
				 "no trust environment is loaded");
		}
		rc = refuse_as(req, res, &tr, 1);
		goto out;
	}
	doc_end = vc->expiry[0] ? date_end(vc->expiry) : 0;
	if (vc->expiry[0] && doc_end < now) {
		tr.err = SA_ERR_TRUST_EXPIRY;
		snprintf(tr.step, sizeof(tr.step), "expiry");
		snprintf(tr.reason, sizeof(tr.reason),
			 "the document expired on %s", vc->expiry);
		rc = refuse(req, res, &tr);
		goto out;
	}
	if ((rc = claims_identity_from_vds(vc, tr.trust_level, &id)) != SA_OK ||
	    (idj = claims_identity_to_json(&id)) == NULL) {
		rc = http_res_error(res, rc ? rc : SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	vds_fingerprint(seal, fp);
	fphex = hex_encode(fp, sizeof(fp));
	/* the authority that vouched: the token id is namespaced by it */
	snprintf(e.authority, sizeof(e.authority), "%s", tr.iac);
	snprintf(e.token_id, sizeof(e.token_id), "%s", vc->token_id);
	snprintf(e.device_id, sizeof(e.device_id), "%s", device);
	e.public_key_pem = strdup(pem);
	e.fcm_token = fcm ? strdup(fcm) : NULL;
	e.push_endpoint = endpoint ? strdup(endpoint) : NULL;
	snprintf(e.trust_level, sizeof(e.trust_level), "%s", tr.trust_level);
	e.claims = json_dumps(idj, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(e.seal_fingerprint, sizeof(e.seal_fingerprint), "%s",
		 fphex ? fphex : "");
	e.created_at = now;
	e.expires_at = now + ENROLL_MAX_LIFETIME;
	if (doc_end > 0 && doc_end < e.expires_at)
		e.expires_at = doc_end;
	if (e.public_key_pem == NULL || e.claims == NULL || fphex == NULL ||
	    (fcm && e.fcm_token == NULL) ||
	    (endpoint && e.push_endpoint == NULL)) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	/* The binding and its audit rows commit together or not at all. */
	app_rows_init(&ea.rows, app, req);
	ea.e = &e;
	ea.tr = &tr;
	rc = dstore_enroll_write(app->ds, &e, ENROLL_PUT_KEEP, NULL, &au, &prev,
				 &had_prev);
	app_rows_done(&ea.rows, rc);
	if (rc == SA_ERR_AUTHORITY_CONFLICT) {
		/* Another authority's person: never moved to this phone. */
		app_audit(app, req, "enroll.refused", e.token_id,
			  json_pack("{s:s, s:s, s:s, s:s}", "step", "authority",
				    "authority", e.authority, "boundAuthority",
				    prev.authority, "sealFingerprint",
				    e.seal_fingerprint));
		rc = http_res_error(res, rc, "vdsData",
				    "this token id is bound to another "
				    "issuing authority");
		goto out;
	}
	if (rc == SA_ERR_CONFLICT && had_prev) {
		rc = takeover_start(req, res, &e, &prev);
		goto out;
	}
	if (rc == SA_ERR_TOKEN_REVOKED) {
		app_audit(app, req, "enroll.refused", e.token_id,
			  json_pack("{s:s}", "step", "revoked-token"));
		http_res_error(res, rc, "vdsData",
			       "this Token ID has been revoked");
		http_res_status(res, 409);
		goto out;
	}
	if (rc != SA_OK) {
		/* Neither the binding nor its audit rows were written. */
		http_res_error(res, rc, NULL,
			       "the enrollment could not be stored: %s",
			       sa_err_str(rc));
		goto out;
	}
	if (had_prev)
		enroll_notify(app, &prev, "enrollment_replaced",
			      json_pack("{s:s, s:s, s:s}", "type",
					"enrollment_replaced", "tokenId",
					prev.token_id, "newDeviceId",
					e.device_id));
	iso8601_utc(e.expires_at, when);
	http_res_json(res, 200,
		      json_pack("{s:b, s:s, s:s}", "enrolled", 1, "tokenId",
				e.token_id, "expiresAt", when));
	rc = SA_OK;
out:
	enrollment_free(&e);
	enrollment_free(&prev);
	claims_identity_clear(&id);
	json_decref(idj);
	free(fphex);
	free(bytes);
	vds_free(seal);
	EVP_PKEY_free(key);
	return rc;
}
