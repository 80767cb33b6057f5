/*
 * session.c - login sessions in the ephemeral store.
 */
#include <errno.h>
#include <limits.h>
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
	unsigned char r[16 + SESSION_RANDOM_BYTES];
	enum sa_err rc = SA_ERR_INTERNAL;

	/* One draw for both: each DRBG call costs a system call. */
	if (rand_bytes(r, sizeof(r)) != SA_OK)
		return SA_ERR_INTERNAL;
	memcpy(id, "sess_", 5);
	if (b64url_encode_to(id + 5, SESSION_ID_LEN - 4, r, 16) ==
		SESSION_ID_LEN - 5 &&
	    b64url_encode_to(random, SESSION_RANDOM_LEN + 1, r + 16,
			     SESSION_RANDOM_BYTES) == SESSION_RANDOM_LEN)
		rc = SA_OK;
	OPENSSL_cleanse(r, sizeof(r));
	return rc;
}

/* b64url_char tells whether c is one of base64url's 64 characters. */
static int
b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
session_id_valid(const char *text)
{
	if (text == NULL || strlen(text) != SESSION_ID_LEN ||
	    strncmp(text, "sess_", 5) != 0)
		return 0;
	for (const char *p = text + 5; *p; p++)
		if (!b64url_char(*p))
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

void
session_kept_key(char *out, size_t n, const char *id, const char *what)
{
	snprintf(out, n, "sess:%s:%s", id, what);
}

/* left_ms is the store lifetime of what lives until expires_at (0: over). */
static uint64_t
left_ms(int64_t expires_at, int64_t now)
{
	int64_t left = expires_at - now;

	return left > 0 ? (uint64_t)left * 1000u : 0u;
}

/* ttl_ms is a session's store lifetime: at least 1 ms, so a write made in
 * its last second still expires rather than living forever. */
static uint64_t
ttl_ms(const struct session *s, int64_t now)
{
	uint64_t left = left_ms(s->expires_at, now);

	return left > 0 ? left : 1u;
}

/*
 * A session is stored as "S2" and then its fields, each as its length in
 * decimal, ':' and its bytes: no field can be confused with the next
 * whatever bytes it holds, and reading it back is a few bounded copies
 * (a JSON round trip cost more than the rest of the session handling).
 */
#define SESSION_TAG "S2"
#define SESSION_TEXT_MAX 4096
/*
 * What an ended session keeps, in its end marker (done_value): how it ended
 * as one digit, then ENDED_TAG, or ENDED_TAG_DECOY for a decoy session,
 * then token id and service id each as one byte of length and its bytes,
 * then the random's SESSION_RANDOM_BYTES bytes (not their base64url), then
 * the final event when there is one. Every login keeps a marker for a
 * session lifetime, so nothing in it is spelled out: for a token id of ten
 * characters and the service "demo" it is 35 bytes and the event. The
 * expiry is the marker's own lifetime in the store. Markers written before
 * are read too; they have the digit (or the name) and a newline, then
 * "E3": the token id and service id as decimal length, ':' and bytes, the
 * random's bytes and the decoy mark as '0' or '1'; "E2" has the random's
 * SESSION_RANDOM_LEN characters where "E3" has its bytes, "E1" the random
 * as a field and the expiry as a field after it.
 */
#define ENDED_TAG 'F'
#define ENDED_TAG_DECOY 'G'
#define ENDED_TAG_E3 "E3"
#define ENDED_TAG_E2 "E2"
#define ENDED_TAG_E1 "E1"
/* The final event's place once a browser had it: SESSION_DELIVERED_EVENT. */
#define DELIVERED_MARK "-"

struct rec {
	char *p;
	size_t n, cap;
	int ok;
};

static void
put_str(struct rec *w, const char *s)
{
	size_t len = strlen(s), k;
	char num[FMT_INT_MAX];

	if (!w->ok)
		return;
	k = fmt_u64(num, len);
	/* The length, its colon and the bytes must all fit. */
	if (k + 1 > w->cap - w->n || len > w->cap - w->n - k - 1) {
		w->ok = 0;
		return;
	}
	memcpy(w->p + w->n, num, k);
	w->p[w->n + k] = ':';
	w->n += k + 1;
	memcpy(w->p + w->n, s, len);
	w->n += len;
}

static void
put_int(struct rec *w, int64_t v)
{
	char t[FMT_INT_MAX];

	fmt_i64(t, v);
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
	/* Listed for the administrators until it expires; a session that
	 * cannot be listed is not started. */
	return estore_set_listed(es, key, text, w.n, ttl_ms(s, now),
				 SESSION_INDEX, s->id, s->expires_at, now);
}

static enum session_end done_read(struct estore *es, const char *id, char **val,
				  size_t *n, size_t *event_at,
				  struct session_end_rec *e, int *has_rec);
static enum session_end done_parse(const char *id, unsigned char *v, size_t len,
				   int64_t ttl, char **val, size_t *n,
				   size_t *event_at, struct session_end_rec *e,
				   int *has_rec);

/* record_parse reads a session's record (val, n bytes) into *out. */
static enum sa_err
record_parse(const char *id, const unsigned char *val, size_t n,
	     struct session *out)
{
	int64_t mode = 0, nscopes = 0, slot = -1, decoy = 0;
	struct session s;
	struct rec r;

	memset(&s, 0, sizeof(s));
	str_copy(s.id, sizeof(s.id), id);
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
	    slot >= 2 * SESSION_POOL_MAX)
		return SA_ERR_INTERNAL;
	for (int64_t i = 0; i < nscopes; i++)
		get_str(&r, s.scopes[i], sizeof(s.scopes[0]));
	/* A record saved before decoys were marked ends with the scopes. */
	if (r.ok && r.n < n)
		get_int(&r, &decoy);
	if (!r.ok || r.n != n || decoy < 0 || decoy > 1)
		return SA_ERR_INTERNAL;
	s.nscopes = (size_t)nscopes;
	s.mode = (enum service_mode)mode;
	s.slot = (int)slot;
	s.decoy = (int)decoy;
	*out = s;
	return SA_OK;
}

/* ended_session fills *s with what an end marker keeps of a session. */
static void
ended_session(const struct session_end_rec *e, struct session *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->id, e->id, sizeof(s->id));
	memcpy(s->token_id, e->token_id, sizeof(s->token_id));
	memcpy(s->service_id, e->service_id, sizeof(s->service_id));
	memcpy(s->random, e->random, sizeof(s->random));
	s->expires_at = e->expires_at;
	s->decoy = e->decoy;
	s->slot = -1;
	s->ended = 1;
}

/*
 * session_of hands out the session the store held: its record (rec, n
 * bytes) while there is one, else what its end marker keeps (e, when has
 * says the marker had it). Past its expiry a session is gone, whatever the
 * store still holds: the store's lifetime rounds up to the second.
 */
static enum sa_err
session_of(const char *id, const unsigned char *rec, size_t n,
	   const struct session_end_rec *e, int has, struct session *out)
{
	struct session s;
	enum sa_err rc;

	if (rec != NULL) {
		if ((rc = record_parse(id, rec, n, &s)) != SA_OK)
			return rc;
	} else if (has) {
		ended_session(e, &s);
	} else {
		return SA_ERR_SESSION_UNKNOWN;
	}
	if (s.expires_at <= now_unix())
		return SA_ERR_SESSION_UNKNOWN;
	*out = s;
	return SA_OK;
}

enum sa_err
session_load(struct estore *es, const char *id, struct session *out)
{
	char key[ESTORE_KEY_MAX], *done = NULL;
	unsigned char *val = NULL;
	size_t n = 0, at = 0;
	struct session_end_rec e;
	int has = 0;
	enum sa_err rc;

	if (!session_id_valid(id))
		return SA_ERR_SESSION_UNKNOWN;
	key_of(key, sizeof(key), id, "");
	rc = estore_get(es, key, &val, &n, NULL);
	if (rc == SA_ERR_NOT_FOUND) {
		/* Ended: the end marker holds what is left of it. */
		done_read(es, id, &done, &n, &at, &e, &has);
		free(done);
		return session_of(id, NULL, 0, &e, has, out);
	}
	if (rc == SA_OK)
		rc = session_of(id, val, n, NULL, 0, out);
	free(val);
	return rc;
}

enum sa_err
session_load_state(struct estore *es, const char *id, struct session *out,
		   enum session_end *how, const char *what, char **kept)
{
	char rec_key[ESTORE_KEY_MAX], done_key[ESTORE_KEY_MAX],
	    kept_key[ESTORE_KEY_MAX], *val = NULL;
	const char *keys[3] = {rec_key, done_key, kept_key};
	struct estore_got got[3];
	struct session_end_rec e;
	size_t n = 0, at = 0, nkeys = what != NULL ? 3 : 2;
	int has = 0;
	enum sa_err rc;

	*how = SESSION_OPEN;
	if (kept != NULL)
		*kept = NULL;
	if (!session_id_valid(id))
		return SA_ERR_SESSION_UNKNOWN;
	key_of(rec_key, sizeof(rec_key), id, "");
	key_of(done_key, sizeof(done_key), id, ":done");
	if (what != NULL)
		session_kept_key(kept_key, sizeof(kept_key), id, what);
	if ((rc = estore_get_many(es, keys, nkeys, got)) != SA_OK)
		return rc;
	*how = done_parse(id, got[1].val, got[1].n, got[1].ttl_ms, &val, &n,
			  &at, &e, &has);
	free(val);
	/* Ended and gone: the end marker holds what is left of it. */
	rc = session_of(id, got[0].val, got[0].n, &e, has, out);
	free(got[0].val);
	if (what != NULL) {
		if (rc == SA_OK && kept != NULL)
			*kept = (char *)got[2].val;
		else
			free(got[2].val);
	}
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

	if (s->slot < 0)
		return;
	slot_key(key, sizeof(key), s->token_id, s->slot);
	/* Only while it is still ours (it may have expired and been retaken
	 * by another session), in one step. */
	estore_del_if(es, key, s->id, strlen(s->id), NULL);
}

static const char *const end_names[] = {"open", "approved", "rejected",
					"too_many_attempts"};

void
session_end_rec_of(const struct session *s, struct session_end_rec *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->id, s->id, sizeof(out->id));
	memcpy(out->token_id, s->token_id, sizeof(out->token_id));
	memcpy(out->service_id, s->service_id, sizeof(out->service_id));
	memcpy(out->random, s->random, sizeof(out->random));
	out->expires_at = s->expires_at;
	out->decoy = s->decoy;
}

/* put_short adds a string of at most 255 bytes as its length in one
 * byte and its bytes. */
static void
put_short(struct rec *w, const char *s)
{
	size_t len = strlen(s);

	if (!w->ok || len > UCHAR_MAX || w->cap - w->n < len + 1) {
		w->ok = 0;
		return;
	}
	w->p[w->n++] = (char)len;
	memcpy(w->p + w->n, s, len);
	w->n += len;
}

/* get_short copies a string put_short wrote into out (cap bytes with the
 * NUL). */
static void
get_short(struct rec *r, char *out, size_t cap)
{
	size_t len;

	if (!r->ok || r->n >= r->cap ||
	    (len = (unsigned char)r->p[r->n]) >= cap ||
	    len > r->cap - r->n - 1 ||
	    memchr(r->p + r->n + 1, '\0', len) != NULL) {
		r->ok = 0;
		return;
	}
	memcpy(out, r->p + r->n + 1, len);
	out[len] = '\0';
	r->n += 1 + len;
}

/*
 * done_value builds the end marker's value (see ENDED_TAG): how the
 * session ended, its tag, the ended session's fields, then the final
 * event's n bytes (none yet, or DELIVERED_MARK). A new string in *out
 * (free it), its length in *len.
 */
static enum sa_err
done_value(const struct session_end_rec *e, enum session_end how,
	   const char *text, size_t n, char **out, size_t *len)
{
	char head[256];
	struct rec w = {head, 2, sizeof(head), 1};
	size_t rn = 0;

	if (strlen(e->random) != SESSION_RANDOM_LEN)
		return SA_ERR_INTERNAL;
	head[0] = (char)('0' + (int)how);
	head[1] = e->decoy ? ENDED_TAG_DECOY : ENDED_TAG;
	put_short(&w, e->token_id);
	put_short(&w, e->service_id);
	if (!w.ok || sizeof(head) - w.n < SESSION_RANDOM_BYTES ||
	    b64url_decode_to(e->random, SESSION_RANDOM_LEN,
			     (unsigned char *)head + w.n, SESSION_RANDOM_BYTES,
			     &rn) != SA_OK ||
	    rn != SESSION_RANDOM_BYTES)
		return SA_ERR_INTERNAL;
	w.n += SESSION_RANDOM_BYTES;
	if (n > ESTORE_VALUE_MAX - w.n)
		return SA_ERR_BODY_TOO_LARGE;
	if ((*out = malloc(w.n + n + 1)) == NULL)
		return SA_ERR_NOMEM;
	memcpy(*out, head, w.n);
	if (n > 0)
		memcpy(*out + w.n, text, n);
	(*out)[w.n + n] = '\0';
	*len = w.n + n;
	return SA_OK;
}

/*
 * forget_items lists what an ended session leaves besides its end marker,
 * for one batch (one round trip on Redis): its pending slot, only while the
 * slot is still this session's (it may have expired and been taken by
 * another), its record and its entry in the index. slot and rec hold the
 * keys; returns the number of items.
 */
static size_t
forget_items(const struct session *s, struct estore_rm rm[3],
	     char slot[ESTORE_KEY_MAX], char rec[ESTORE_KEY_MAX])
{
	size_t n = 0;

	if (s->slot >= 0) {
		slot_key(slot, ESTORE_KEY_MAX, s->token_id, s->slot);
		rm[n++] = (struct estore_rm){.kind = ESTORE_RM_KEY_IF,
					     .key = slot,
					     .val = s->id,
					     .n = strlen(s->id)};
	}
	key_of(rec, ESTORE_KEY_MAX, s->id, "");
	rm[n++] = (struct estore_rm){.kind = ESTORE_RM_KEY, .key = rec};
	rm[n++] = (struct estore_rm){.kind = ESTORE_RM_INDEX,
				     .key = SESSION_INDEX,
				     .member = s->id,
				     .expires = s->expires_at};
	return n;
}

enum sa_err
session_finish(struct estore *es, const struct session *s, enum session_end how,
	       int64_t now, enum session_end *prior)
{
	char key[ESTORE_KEY_MAX], slot[ESTORE_KEY_MAX], rec[ESTORE_KEY_MAX];
	char *v = NULL;
	struct session_end_rec e;
	struct estore_rm rm[3];
	size_t n = 0, nrm;
	enum sa_err rc;

	session_end_rec_of(s, &e);
	if ((rc = done_value(&e, how, NULL, 0, &v, &n)) != SA_OK)
		return rc;
	key_of(key, sizeof(key), s->id, ":done");
	nrm = forget_items(s, rm, slot, rec);
	/*
	 * The end marker, kept as long as the session so a replay gets 409,
	 * not 404, goes with the removal of what the session leaves, in one
	 * round trip. The removals are right whether this call or an earlier
	 * one wrote the marker: once there is one, the session is over. From
	 * here the end marker is the session: it holds what a late WebSocket
	 * of the browser and "remember this browser" still read
	 * (session_load falls back to it). A record or an index entry left
	 * behind by a failure costs memory until it expires, not
	 * correctness: every reader checks the end marker before it acts on
	 * a session.
	 */
	rc = estore_set_remove(es, key, v, n, ttl_ms(s, now), ESTORE_NX, rm,
			       nrm);
	free(v);
	if (rc == SA_ERR_CONFLICT) {
		if (prior != NULL)
			*prior = session_state(es, s->id);
		return SA_ERR_REPLAY;
	}
	return rc;
}

/* random_field reads the random of an end marker, raw (its
 * SESSION_RANDOM_BYTES bytes, as ENDED_TAG and ENDED_TAG_E3 keep it) or
 * as the SESSION_RANDOM_LEN base64url characters ENDED_TAG_E2 kept, and
 * then, when decoy is not NULL, the decoy mark that follows it. */
static void
random_field(struct rec *r, int raw, struct session_end_rec *e, int64_t *decoy)
{
	const char *p = r->p + r->n;
	size_t len = raw ? SESSION_RANDOM_BYTES : SESSION_RANDOM_LEN;
	size_t mark = decoy != NULL ? 1 : 0;

	if (!r->ok || r->cap - r->n < len + mark) {
		r->ok = 0;
		return;
	}
	if (raw) {
		if (b64url_encode_to(e->random, sizeof(e->random),
				     (const unsigned char *)p,
				     len) != SESSION_RANDOM_LEN) {
			r->ok = 0;
			return;
		}
	} else {
		for (size_t i = 0; i < len; i++)
			if (!b64url_char(p[i])) {
				r->ok = 0;
				return;
			}
		memcpy(e->random, p, len);
		e->random[len] = '\0';
	}
	if (decoy != NULL)
		*decoy = p[len] == '1' ? 1 : p[len] == '0' ? 0 : -1;
	r->n += len + mark;
}

/* end_how reads how an end marker says its session ended, from its first
 * name_len bytes: a digit, or the name a marker written before had;
 * SESSION_OPEN for anything else. */
static enum session_end
end_how(const unsigned char *v, size_t name_len)
{
	if (name_len == 1 && v[0] >= '1' && v[0] <= '3')
		return (enum session_end)(v[0] - '0');
	for (int i = 1; i < 4; i++)
		if (strlen(end_names[i]) == name_len &&
		    memcmp(v, end_names[i], name_len) == 0)
			return (enum session_end)i;
	return SESSION_OPEN;
}

/*
 * done_parse reads the end marker of session id, the len bytes at v (a
 * buffer it takes over; NULL when there is none) with ttl ms of its
 * lifetime left: how the session ended, the ended session's fields into *e
 * when e is not NULL and they are there (*has_rec says so), and where the
 * final event starts in the value (0 when none is stored). *val is the
 * value (free it), NULL when the session has not ended. The expiry comes
 * from what is left of the marker's lifetime, rounded down to the second
 * so that rewriting the marker never lengthens it.
 */
static enum session_end
done_parse(const char *id, unsigned char *v, size_t len, int64_t ttl,
	   char **val, size_t *n, size_t *event_at, struct session_end_rec *e,
	   int *has_rec)
{
	size_t name_len;
	char *nl;
	enum session_end how;
	struct session_end_rec tmp;
	struct rec r;
	int64_t decoy = -1;
	int e1, e2;

	*val = NULL;
	*event_at = 0;
	if (has_rec != NULL)
		*has_rec = 0;
	if (v == NULL)
		return SESSION_OPEN;
	*val = (char *)v;
	*n = len;
	memset(&tmp, 0, sizeof(tmp));
	/* The marker's own lifetime; an E1 marker has it as a field. */
	tmp.expires_at = now_unix() + (ttl > 0 ? ttl / 1000 : 0);
	/* The current form: the digit and the tag, no newline. */
	if (len >= 2 && (v[1] == ENDED_TAG || v[1] == ENDED_TAG_DECOY) &&
	    (how = end_how(v, 1)) != SESSION_OPEN) {
		r = (struct rec){(char *)v, 2, len, 1};
		get_short(&r, tmp.token_id, sizeof(tmp.token_id));
		get_short(&r, tmp.service_id, sizeof(tmp.service_id));
		random_field(&r, 1, &tmp, NULL);
		decoy = v[1] == ENDED_TAG_DECOY;
	} else {
		nl = memchr(v, '\n', len);
		name_len = nl != NULL ? (size_t)(nl - (char *)v) : len;
		/* A value we did not write: ended, but not in a way we know.
		 */
		if ((how = end_how(v, name_len)) == SESSION_OPEN)
			return SESSION_REJECTED;
		if (nl == NULL)
			return how;
		*event_at = name_len + 1;
		if (len - *event_at < 2)
			return how;
		e1 = memcmp(v + *event_at, ENDED_TAG_E1, 2) == 0;
		e2 = memcmp(v + *event_at, ENDED_TAG_E2, 2) == 0;
		if (!e1 && !e2 && memcmp(v + *event_at, ENDED_TAG_E3, 2) != 0)
			return how;
		r = (struct rec){(char *)v, *event_at + 2, len, 1};
		get_str(&r, tmp.token_id, sizeof(tmp.token_id));
		get_str(&r, tmp.service_id, sizeof(tmp.service_id));
		if (e1) {
			get_str(&r, tmp.random, sizeof(tmp.random));
			get_int(&r, &tmp.expires_at);
			get_int(&r, &decoy);
		} else {
			random_field(&r, !e2, &tmp, &decoy);
		}
	}
	if (!r.ok || decoy < 0 || decoy > 1) {
		/* Damaged: ended, with nothing to hand out. */
		*event_at = 0;
		return how;
	}
	*event_at = r.n;
	tmp.decoy = (int)decoy;
	str_copy(tmp.id, sizeof(tmp.id), id);
	if (e != NULL)
		*e = tmp;
	if (has_rec != NULL)
		*has_rec = 1;
	return how;
}

/* done_read is done_parse of "sess:{id}:done" as the store holds it. */
static enum session_end
done_read(struct estore *es, const char *id, char **val, size_t *n,
	  size_t *event_at, struct session_end_rec *e, int *has_rec)
{
	char key[ESTORE_KEY_MAX];
	unsigned char *v = NULL;
	size_t len = 0;
	int64_t ttl = -1;

	key_of(key, sizeof(key), id, ":done");
	if (estore_get(es, key, &v, &len, &ttl) != SA_OK)
		v = NULL;
	return done_parse(id, v, len, ttl, val, n, event_at, e, has_rec);
}

enum session_end
session_state(struct estore *es, const char *id)
{
	char *val;
	size_t n = 0, at;
	enum session_end how = done_read(es, id, &val, &n, &at, NULL, NULL);

	free(val);
	return how;
}

/* final_marker builds the end marker that keeps the final event (text, n
 * bytes) of e in *v (free it) and its key and lifetime; SA_ERR_NOT_FOUND
 * when there is nothing to keep (open, or its lifetime over). */
static enum sa_err
final_marker(const struct session_end_rec *e, enum session_end how,
	     const char *text, size_t n, char *key, size_t keycap, char **v,
	     size_t *len, uint64_t *ttl)
{
	*ttl = left_ms(e->expires_at, now_unix());
	if (how == SESSION_OPEN || *ttl == 0)
		return SA_ERR_NOT_FOUND;
	key_of(key, keycap, e->id, ":done");
	return done_value(e, how, text, n, v, len);
}

enum sa_err
session_keep_final(struct estore *es, const struct session_end_rec *e,
		   enum session_end how, const char *text, size_t n)
{
	char key[ESTORE_KEY_MAX], *v = NULL;
	size_t len = 0;
	uint64_t ttl;
	enum sa_err rc;

	rc = final_marker(e, how, text, n, key, sizeof(key), &v, &len, &ttl);
	if (rc != SA_OK)
		return rc == SA_ERR_NOT_FOUND ? SA_OK : rc;
	rc = estore_set(es, key, v, len, ttl, 0);
	free(v);
	return rc;
}

enum sa_err
session_keep_final_publish(struct estore *es, const struct session_end_rec *e,
			   enum session_end how, const char *text, size_t n,
			   const char *channel, const void *msg, size_t mn)
{
	char key[ESTORE_KEY_MAX], *v = NULL;
	size_t len = 0;
	uint64_t ttl;
	enum sa_err published;

	/* Nothing to keep, or it cannot be built: the event still goes. */
	if (final_marker(e, how, text, n, key, sizeof(key), &v, &len, &ttl) !=
	    SA_OK)
		return estore_publish(es, channel, msg, mn);
	estore_set_publish(es, key, v, len, ttl, channel, msg, mn, &published);
	free(v);
	return published;
}

/* event_text is the final event stored at val + at (n bytes in all; at 0:
 * none), as session_final_event returns it. Frees val. */
static char *
event_text(char *val, size_t n, size_t at)
{
	char *out = NULL;

	if (val != NULL && at > 0 && at < n) {
		if (n - at == strlen(DELIVERED_MARK) &&
		    memcmp(val + at, DELIVERED_MARK, n - at) == 0)
			out = strdup(SESSION_DELIVERED_EVENT);
		else if ((out = malloc(n - at + 1)) != NULL) {
			memcpy(out, val + at, n - at);
			out[n - at] = '\0';
		}
	}
	free(val);
	return out;
}

char *
session_final_event(struct estore *es, const char *id, enum session_end *how)
{
	char *val;
	size_t n = 0, at;

	*how = done_read(es, id, &val, &n, &at, NULL, NULL);
	return event_text(val, n, at);
}

char *
session_final_event_and(struct estore *es, const char *id,
			enum session_end *how, const char *what, char **kept)
{
	char done_key[ESTORE_KEY_MAX], kept_key[ESTORE_KEY_MAX], *val;
	const char *keys[2] = {done_key, kept_key};
	struct estore_got got[2];
	size_t n = 0, at;

	*kept = NULL;
	*how = SESSION_OPEN;
	key_of(done_key, sizeof(done_key), id, ":done");
	session_kept_key(kept_key, sizeof(kept_key), id, what);
	if (estore_get_many(es, keys, 2, got) != SA_OK)
		return NULL;
	*kept = (char *)got[1].val;
	*how = done_parse(id, got[0].val, got[0].n, got[0].ttl_ms, &val, &n,
			  &at, NULL, NULL);
	return event_text(val, n, at);
}

void
session_mark_delivered(struct estore *es, const struct session_end_rec *e,
		       enum session_end how)
{
	session_keep_final(es, e, how, DELIVERED_MARK, strlen(DELIVERED_MARK));
}
