/*
 * session.c - login sessions as JSON in the ephemeral store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "session.h"
#include "store/store.h"
#include "util.h"

enum sa_err
session_new_ids(char id[SESSION_ID_LEN + 1], char random[SESSION_RANDOM_LEN + 1])
{
	unsigned char r[32];
	char *ea = NULL, *eb = NULL;
	enum sa_err rc = SA_ERR_NOMEM;

	/* One draw for both: each DRBG call costs a system call. */
	if (rand_bytes(r, sizeof(r)) != SA_OK)
		return SA_ERR_INTERNAL;
	ea = b64url_encode(r, 16);
	eb = b64url_encode(r + 16, 16);
	OPENSSL_cleanse(r, sizeof(r));
	if (ea != NULL && eb != NULL) {
		snprintf(id, SESSION_ID_LEN + 1, "sess_%s", ea);
		snprintf(random, SESSION_RANDOM_LEN + 1, "%s", eb);
		rc = SA_OK;
	}
	free(ea);
	free(eb);
	return rc;
}

int
session_id_valid(const char *text)
{
	if (text == NULL || strlen(text) != SESSION_ID_LEN ||
	    strncmp(text, "sess_", 5) != 0)
		return 0;
	for (const char *p = text + 5; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

static void
key_of(char *out, size_t n, const char *id, const char *suffix)
{
	snprintf(out, n, "sess:%s%s", id, suffix);
}

static uint64_t
ttl_ms(const struct session *s, int64_t now)
{
	int64_t left = s->expires_at - now;
	return left > 0 ? (uint64_t)left * 1000u : 1u;
}

enum sa_err
session_save(struct estore *es, const struct session *s, int64_t now)
{
	char key[ESTORE_KEY_MAX];
	json_t *o, *scopes;
	char *text;
	enum sa_err rc;

	scopes = json_array();
	for (size_t i = 0; scopes != NULL && i < s->nscopes; i++)
		json_array_append_new(scopes, json_string(s->scopes[i]));
	o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:i}",
		      "tokenId", s->token_id, "serviceId", s->service_id,
		      "serviceName", s->service_name, "scopes", scopes,
		      "issuedAt", (json_int_t)s->issued_at, "expiresAt",
		      (json_int_t)s->expires_at, "otpHash", s->otp_hash, "random",
		      s->random, "origin", s->origin, "ip", s->ip, "ua", s->ua,
		      "mode", (int)s->mode);
	if (o == NULL)
		return SA_ERR_NOMEM;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return SA_ERR_NOMEM;
	key_of(key, sizeof(key), s->id, "");
	rc = estore_set(es, key, text, strlen(text), ttl_ms(s, now), ESTORE_NX);
	free(text);
	return rc;
}

static enum sa_err
copy_str(const json_t *o, const char *name, char *out, size_t cap)
{
	const char *v = json_string_value(json_object_get(o, name));

	if (v == NULL || strlen(v) >= cap)
		return SA_ERR_INTERNAL;
	memcpy(out, v, strlen(v) + 1);
	return SA_OK;
}

enum sa_err
session_load(struct estore *es, const char *id, struct session *out)
{
	char key[ESTORE_KEY_MAX];
	unsigned char *val = NULL;
	size_t n = 0, i;
	json_t *o = NULL, *scopes, *v;
	struct session s;
	enum sa_err rc;

	if (!session_id_valid(id))
		return SA_ERR_SESSION_UNKNOWN;
	key_of(key, sizeof(key), id, "");
	rc = estore_get(es, key, &val, &n, NULL);
	if (rc == SA_ERR_NOT_FOUND)
		return SA_ERR_SESSION_UNKNOWN;
	if (rc != SA_OK)
		return rc;
	memset(&s, 0, sizeof(s));
	snprintf(s.id, sizeof(s.id), "%s", id);
	o = json_loadb((const char *)val, n, JSON_REJECT_DUPLICATES, NULL);
	rc = SA_ERR_INTERNAL;
	if (o == NULL)
		goto out;
	if (copy_str(o, "tokenId", s.token_id, sizeof(s.token_id)) != SA_OK ||
	    copy_str(o, "serviceId", s.service_id, sizeof(s.service_id)) != SA_OK ||
	    copy_str(o, "serviceName", s.service_name, sizeof(s.service_name)) != SA_OK ||
	    copy_str(o, "otpHash", s.otp_hash, sizeof(s.otp_hash)) != SA_OK ||
	    copy_str(o, "random", s.random, sizeof(s.random)) != SA_OK ||
	    copy_str(o, "origin", s.origin, sizeof(s.origin)) != SA_OK ||
	    copy_str(o, "ip", s.ip, sizeof(s.ip)) != SA_OK ||
	    copy_str(o, "ua", s.ua, sizeof(s.ua)) != SA_OK)
		goto out;
	s.issued_at = json_integer_value(json_object_get(o, "issuedAt"));
	s.expires_at = json_integer_value(json_object_get(o, "expiresAt"));
	s.mode = (enum service_mode)json_integer_value(json_object_get(o, "mode"));
	scopes = json_object_get(o, "scopes");
	if (!json_is_array(scopes) || json_array_size(scopes) > SERVICE_SCOPES_MAX)
		goto out;
	json_array_foreach(scopes, i, v) {
		const char *sc = json_string_value(v);
		if (sc == NULL || strlen(sc) >= sizeof(s.scopes[0]))
			goto out;
		memcpy(s.scopes[s.nscopes++], sc, strlen(sc) + 1);
	}
	*out = s;
	rc = SA_OK;
out:
	json_decref(o);
	free(val);
	return rc;
}

enum sa_err
session_fail(struct estore *es, const struct session *s, int64_t now,
	     int64_t *count)
{
	char key[ESTORE_KEY_MAX];

	key_of(key, sizeof(key), s->id, ":fail");
	return estore_incr(es, key, ttl_ms(s, now), count, NULL);
}

static const char *const end_names[] = {"open", "approved", "rejected",
					"too_many_attempts"};

enum sa_err
session_finish(struct estore *es, const struct session *s, enum session_end how,
	       int64_t now, enum session_end *prior)
{
	char key[ESTORE_KEY_MAX];
	const char *v = end_names[how];
	enum sa_err rc;

	key_of(key, sizeof(key), s->id, ":done");
	/* Kept as long as the session, so a replay gets 409, not 404. */
	rc = estore_set(es, key, v, strlen(v), ttl_ms(s, now), ESTORE_NX);
	if (rc == SA_ERR_CONFLICT) {
		if (prior != NULL)
			*prior = session_state(es, s->id);
		return SA_ERR_REPLAY;
	}
	return rc;
}

enum session_end
session_state(struct estore *es, const char *id)
{
	char key[ESTORE_KEY_MAX];
	unsigned char *val = NULL;
	size_t n = 0;
	enum session_end how = SESSION_OPEN;

	key_of(key, sizeof(key), id, ":done");
	if (estore_get(es, key, &val, &n, NULL) != SA_OK)
		return SESSION_OPEN;
	for (int i = 1; i < 4; i++)
		if (strcmp((const char *)val, end_names[i]) == 0)
			how = (enum session_end)i;
	free(val);
	return how;
}
