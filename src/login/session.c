/*
 * session.c - login sessions in the ephemeral store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "login/session.h"
#include "store/store.h"
#include "core/util.h"

enum sa_err
session_new_ids(char id[SESSION_ID_LEN + 1],
		char random[SESSION_RANDOM_LEN + 1])
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

/*
 * Pending slots: "pend:{tokenId}:{n}", n < SESSION_POOL_MAX for strangers
 * and SESSION_POOL_MAX + i for the owner's browsers, each set NX to the
 * session id until the session expires.
 */

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

/*
 * A session is stored as "S2" and then its fields, each as its length in
 * decimal, ':' and its bytes: no field can be confused with the next
 * whatever bytes it holds, and reading it back is a few bounded copies
 * (a JSON round trip cost more than the rest of the session handling).
 */
#define SESSION_TAG "S2"
#define SESSION_TEXT_MAX 4096
/* An ended session's short record: "E1", then token id, service id,
 * random, expiry and the decoy mark, in the same field form. */
#define ENDED_TAG "E1"

struct rec {
	char *p;
	size_t n, cap;
	int ok;
};

static void
put_str(struct rec *w, const char *s)
{
	size_t len = strlen(s);
	int k;

	if (!w->ok)
		return;
	k = snprintf(w->p + w->n, w->cap - w->n, "%zu:", len);
	if (k < 0 || (size_t)k >= w->cap - w->n ||
	    len > w->cap - w->n - (size_t)k) {
		w->ok = 0;
		return;
	}
	w->n += (size_t)k;
	memcpy(w->p + w->n, s, len);
	w->n += len;
}

static void
put_int(struct rec *w, int64_t v)
{
	char t[24];

	snprintf(t, sizeof(t), "%lld", (long long)v);
	put_str(w, t);
}

/* get_str copies the next field into out (cap bytes with the NUL). */
static int
get_str(struct rec *r, char *out, size_t cap)
{
	size_t len = 0, i = r->n;

	if (!r->ok)
		return 0;
	while (i < r->cap && r->p[i] >= '0' && r->p[i] <= '9' && i - r->n < 5)
		len = len * 10 + (size_t)(r->p[i++] - '0');
	/* Values are C strings when saved: a NUL inside is damage. */
	if (i == r->n || i >= r->cap || r->p[i] != ':' || len >= cap ||
	    len > r->cap - i - 1 || memchr(r->p + i + 1, '\0', len) != NULL) {
		r->ok = 0;
		return 0;
	}
	memcpy(out, r->p + i + 1, len);
	out[len] = '\0';
	r->n = i + 1 + len;
	return 1;
}

static int
get_int(struct rec *r, int64_t *v)
{
	char t[24], *end;
	long long x;

	if (!get_str(r, t, sizeof(t)))
		return 0;
	errno = 0;
	x = strtoll(t, &end, 10);
	if (t[0] == '\0' || *end != '\0' || errno != 0) {
		r->ok = 0;
		return 0;
	}
	*v = x;
	return 1;
}

enum sa_err
session_save(struct estore *es, const struct session *s, int64_t now)
{
	char key[ESTORE_KEY_MAX], text[SESSION_TEXT_MAX];
	struct rec w = {text, 0, sizeof(text), 1};
	enum sa_err rc;

	memcpy(text, SESSION_TAG, 2);
	w.n = 2;
	put_str(&w, s->token_id);
	put_str(&w, s->service_id);
	put_str(&w, s->service_name);
	put_int(&w, s->issued_at);
	put_int(&w, s->expires_at);
	put_str(&w, s->otp_mac);
	put_str(&w, s->random);
	put_str(&w, s->origin);
	put_str(&w, s->ip);
	put_str(&w, s->ua);
	put_int(&w, (int64_t)s->mode);
	put_int(&w, (int64_t)s->slot);
	put_int(&w, (int64_t)s->nscopes);
	for (size_t i = 0; i < s->nscopes && i < SERVICE_SCOPES_MAX; i++)
		put_str(&w, s->scopes[i]);
	put_int(&w, s->decoy ? 1 : 0);
	if (!w.ok)
		return SA_ERR_INTERNAL;
	key_of(key, sizeof(key), s->id, "");
	if ((rc = estore_set(es, key, text, w.n, ttl_ms(s, now), ESTORE_NX)) !=
	    SA_OK)
		return rc;
	/* Listed for the administrators until it expires; a session that
	 * cannot be listed is not started. */
	if ((rc = estore_index_add(es, SESSION_INDEX, s->id, s->expires_at,
				   now)) != SA_OK)
		estore_del(es, key, NULL);
	return rc;
}

/* load_ended reads an ended session's short record (r past its tag). */
static int
load_ended(struct rec *r, struct session *s)
{
	int64_t decoy = 0;

	get_str(r, s->token_id, sizeof(s->token_id));
	get_str(r, s->service_id, sizeof(s->service_id));
	get_str(r, s->random, sizeof(s->random));
	get_int(r, &s->expires_at);
	get_int(r, &decoy);
	if (!r->ok || r->n != r->cap || decoy < 0 || decoy > 1)
		return 0;
	s->decoy = (int)decoy;
	s->slot = -1;
	s->ended = 1;
	return 1;
}

enum sa_err
session_load(struct estore *es, const char *id, struct session *out)
{
	char key[ESTORE_KEY_MAX];
	unsigned char *val = NULL;
	size_t n = 0;
	int64_t mode = 0, nscopes = 0, slot = -1, decoy = 0;
	struct session s;
	struct rec r;
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
	if (n >= 2 && memcmp(val, ENDED_TAG, 2) == 0) {
		r = (struct rec){(char *)val, 2, n, 1};
		if (!load_ended(&r, &s)) {
			rc = SA_ERR_INTERNAL;
			goto out;
		}
		goto check_expiry;
	}
	r = (struct rec){(char *)val, 2, n,
			 n >= 2 && memcmp(val, SESSION_TAG, 2) == 0};
	get_str(&r, s.token_id, sizeof(s.token_id));
	get_str(&r, s.service_id, sizeof(s.service_id));
	get_str(&r, s.service_name, sizeof(s.service_name));
	get_int(&r, &s.issued_at);
	get_int(&r, &s.expires_at);
	get_str(&r, s.otp_mac, sizeof(s.otp_mac));
	get_str(&r, s.random, sizeof(s.random));
	get_str(&r, s.origin, sizeof(s.origin));
	get_str(&r, s.ip, sizeof(s.ip));
	get_str(&r, s.ua, sizeof(s.ua));
	get_int(&r, &mode);
	get_int(&r, &slot);
	get_int(&r, &nscopes);
	if (!r.ok || nscopes < 0 || nscopes > SERVICE_SCOPES_MAX || slot < -1 ||
	    slot >= 2 * SESSION_POOL_MAX) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	for (int64_t i = 0; i < nscopes; i++)
		get_str(&r, s.scopes[i], sizeof(s.scopes[0]));
	/* A record saved before decoys were marked ends with the scopes. */
	if (r.ok && r.n < n)
		get_int(&r, &decoy);
	if (!r.ok || r.n != n || decoy < 0 || decoy > 1) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	s.nscopes = (size_t)nscopes;
	s.mode = (enum service_mode)mode;
	s.slot = (int)slot;
	s.decoy = (int)decoy;
check_expiry:
	/* The store's lifetime rounds up to the second: past its expiry a
	 * session is gone, whatever the store still holds. */
	if (s.expires_at <= now_unix()) {
		rc = SA_ERR_SESSION_UNKNOWN;
		goto out;
	}
	*out = s;
	rc = SA_OK;
out:
	free(val);
	return rc;
}

void
session_drop(struct estore *es, const char *id)
{
	char key[ESTORE_KEY_MAX];

	key_of(key, sizeof(key), id, "");
	estore_del(es, key, NULL);
}

enum sa_err
session_fail(struct estore *es, const struct session *s, int64_t now,
	     int64_t *count)
{
	char key[ESTORE_KEY_MAX];

	key_of(key, sizeof(key), s->id, ":fail");
	return estore_incr(es, key, ttl_ms(s, now), count, NULL);
}

static void
slot_key(char *out, size_t n, const char *token_id, int slot)
{
	snprintf(out, n, "pend:%s:%d", token_id, slot);
}

enum sa_err
session_claim_slot(struct estore *es, struct session *s, int owner,
		   int64_t slots, int64_t now, int64_t *retry_after)
{
	char key[ESTORE_KEY_MAX];
	int base = owner ? SESSION_POOL_MAX : 0,
	    n = slots > SESSION_POOL_MAX ? SESSION_POOL_MAX : (int)slots;
	int64_t ttl, soonest = INT64_MAX;
	unsigned char *val;
	size_t len;
	enum sa_err rc;

	s->slot = -1;
	if (slots <= 0) /* a count of 0 disables the bound */
		return SA_OK;
	for (int i = 0; i < n; i++) {
		slot_key(key, sizeof(key), s->token_id, base + i);
		rc = estore_set(es, key, s->id, strlen(s->id), ttl_ms(s, now),
				ESTORE_NX);
		if (rc == SA_OK) {
			s->slot = base + i;
			return SA_OK;
		}
		if (rc != SA_ERR_CONFLICT)
			return rc;
		val = NULL;
		ttl = -1;
		if (estore_get(es, key, &val, &len, &ttl) == SA_OK &&
		    ttl >= 0 && ttl < soonest)
			soonest = ttl;
		free(val);
	}
	*retry_after = soonest == INT64_MAX ? 1 : (soonest + 999) / 1000;
	if (*retry_after < 1)
		*retry_after = 1;
	return SA_ERR_RATE_LIMITED;
}

void
session_release_slot(struct estore *es, const struct session *s)
{
	char key[ESTORE_KEY_MAX];

	unsigned char *val = NULL;
	size_t n = 0;

	if (s->slot < 0)
		return;
	slot_key(key, sizeof(key), s->token_id, s->slot);
	/* Only while it is still ours (it may have expired and been retaken).
	 */
	if (estore_get(es, key, &val, &n, NULL) == SA_OK &&
	    n == strlen(s->id) && memcmp(val, s->id, n) == 0)
		estore_del(es, key, NULL);
	free(val);
}

/*
 * keep_short replaces an ended session's record by its short form: what a
 * late WebSocket of its browser (token check, final event) and "remember
 * this browser" (token id, service) still read. The code's MAC, the
 * browser's address, user agent and origin, and the scopes go.
 */
static void
keep_short(struct estore *es, const struct session *s, int64_t now)
{
	char key[ESTORE_KEY_MAX], text[256];
	struct rec w = {text, 0, sizeof(text), 1};

	memcpy(text, ENDED_TAG, 2);
	w.n = 2;
	put_str(&w, s->token_id);
	put_str(&w, s->service_id);
	put_str(&w, s->random);
	put_int(&w, s->expires_at);
	put_int(&w, s->decoy ? 1 : 0);
	if (!w.ok)
		return;
	key_of(key, sizeof(key), s->id, "");
	estore_set(es, key, text, w.n, ttl_ms(s, now), ESTORE_XX);
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
	if (rc != SA_OK)
		return rc;
	session_release_slot(es, s);
	/* The session has ended whatever follows: a record left whole, or
	 * an entry left in the index, costs memory until it expires, not
	 * correctness (readers check the end marker). */
	keep_short(es, s, now);
	estore_index_del(es, SESSION_INDEX, s->id, s->expires_at);
	return SA_OK;
}

/*
 * done_read reads "sess:{id}:done": how the session ended, and where its
 * event starts in the value (0 when none is stored). *val is the value
 * (free it), NULL when the session has not ended.
 */
static enum session_end
done_read(struct estore *es, const char *id, char **val, size_t *n,
	  size_t *event_at)
{
	char key[ESTORE_KEY_MAX];
	unsigned char *v = NULL;
	size_t len = 0, name_len;
	char *nl;

	*val = NULL;
	*event_at = 0;
	key_of(key, sizeof(key), id, ":done");
	if (estore_get(es, key, &v, &len, NULL) != SA_OK)
		return SESSION_OPEN;
	nl = memchr(v, '\n', len);
	name_len = nl != NULL ? (size_t)(nl - (char *)v) : len;
	*val = (char *)v;
	*n = len;
	if (nl != NULL)
		*event_at = name_len + 1;
	for (int i = 1; i < 4; i++)
		if (strlen(end_names[i]) == name_len &&
		    memcmp(v, end_names[i], name_len) == 0)
			return (enum session_end)i;
	/* A value we did not write: ended, but not in a way we know. */
	*event_at = 0;
	return SESSION_REJECTED;
}

enum session_end
session_state(struct estore *es, const char *id)
{
	char *val;
	size_t n = 0, at;
	enum session_end how = done_read(es, id, &val, &n, &at);

	free(val);
	return how;
}

/* done_write stores "{how}\n{text}" under the end marker until
 * expires_at. */
static enum sa_err
done_write(struct estore *es, const char *id, enum session_end how,
	   const char *text, size_t n, int64_t expires_at)
{
	char key[ESTORE_KEY_MAX], *v;
	const char *name = end_names[how];
	size_t k = strlen(name);
	int64_t left = expires_at - now_unix();
	enum sa_err rc;

	if (how == SESSION_OPEN || left <= 0)
		return SA_OK;
	if (n > ESTORE_VALUE_MAX - k - 1)
		return SA_ERR_BODY_TOO_LARGE;
	if ((v = malloc(k + 1 + n)) == NULL)
		return SA_ERR_NOMEM;
	memcpy(v, name, k);
	v[k] = '\n';
	memcpy(v + k + 1, text, n);
	key_of(key, sizeof(key), id, ":done");
	rc = estore_set(es, key, v, k + 1 + n, (uint64_t)left * 1000u, 0);
	free(v);
	return rc;
}

enum sa_err
session_keep_final(struct estore *es, const char *id, enum session_end how,
		   const char *text, size_t n, int64_t expires_at)
{
	return done_write(es, id, how, text, n, expires_at);
}

char *
session_final_event(struct estore *es, const char *id, enum session_end *how)
{
	char *val, *out = NULL;
	size_t n = 0, at;

	*how = done_read(es, id, &val, &n, &at);
	if (val != NULL && at > 0 && (out = malloc(n - at + 1)) != NULL) {
		memcpy(out, val + at, n - at);
		out[n - at] = '\0';
	}
	free(val);
	return out;
}

void
session_replace_final(struct estore *es, const char *id, enum session_end how,
		      const char *text, int64_t expires_at)
{
	done_write(es, id, how, text, strlen(text), expires_at);
}
