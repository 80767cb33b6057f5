/*
 * session.h - login sessions in the ephemeral store (SPEC §3).
 *
 * A session lives under "sess:{id}" for the OTP lifetime. It holds what the
 * verification needs and nothing that would let a reader of the store log
 * in: the code itself is never stored, only its MAC under a key derived from
 * the master secret (otp_code_mac), from which it cannot be recovered. Two more
 * keys go with it: "sess:{id}:fail" counts failed verification attempts and
 * "sess:{id}:done" is set once, with NX, when the session ends, so exactly
 * one of two racing verifications can approve it. It carries how the
 * session ended and what a late socket of the browser still needs (struct
 * session_end_rec; its expiry is the key's own lifetime), and later the final
 * event for the browser, so a finished session costs one entry, not two.
 */
#ifndef SEALAUTH_SESSION_H
#define SEALAUTH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"
#include "login/services.h"

struct estore;

#define SESSION_ID_LEN 27 /* "sess_" + 22 base64url characters */
#define SESSION_RANDOM_BYTES 16
#define SESSION_RANDOM_LEN 22 /* SESSION_RANDOM_BYTES, base64url */
#define SESSION_MAX_ATTEMPTS 3
/*
 * Open sessions a token id may have at once come from two pools: one for
 * browsers that have not approved a login for it before (anyone who knows
 * the token id) and one for its owner's recognised browsers, which
 * strangers can never fill. Their sizes are the rate-limit classes
 * "pending" and "pending_owner"; at most SESSION_POOL_MAX each.
 */
#define SESSION_POOL_MAX 64

struct session {
	char id[SESSION_ID_LEN + 1];
	char token_id[65];
	char service_id[SERVICE_ID_MAX + 1];
	char service_name[SERVICE_NAME_MAX + 1];
	size_t nscopes;
	char scopes[SERVICE_SCOPES_MAX][65];
	int64_t issued_at;
	int64_t expires_at;
	char otp_mac[65]; /* otp_code_mac of the code, hex */
	char random[SESSION_RANDOM_LEN + 1];
	char origin[257];
	char ip[64];
	char ua[257];
	enum service_mode mode;
	int slot; /* pending slot held (session_claim_slot), -1: none */
	/* A decoy for a token id without a live enrollment (anti-enumeration):
	 * known to the server only, never told to a client. */
	int decoy;
	/* Read from an ended session's end marker (session_finish): only
	 * id, token_id, service_id, random, expires_at and decoy are set. */
	int ended;
};

/*
 * What an ended session keeps with its end marker: enough for a late
 * WebSocket of its browser (the token check, the final event) and for
 * "remember this browser". session_end_rec_of copies it from a session.
 */
struct session_end_rec {
	char id[SESSION_ID_LEN + 1];
	char token_id[65];
	char service_id[SERVICE_ID_MAX + 1];
	char random[SESSION_RANDOM_LEN + 1];
	int64_t expires_at;
	int decoy;
};
void session_end_rec_of(const struct session *s, struct session_end_rec *out);

/* The final event a socket gets once a browser of its session had the
 * real one (session_mark_delivered). */
#define SESSION_DELIVERED_EVENT "{\"type\":\"failed\",\"reason\":\"delivered\"}"

/* How a session ended, as stored under "sess:{id}:done". */
enum session_end {
	SESSION_OPEN = 0,
	SESSION_APPROVED = 1,
	SESSION_REJECTED = 2, /* the user said no */
	SESSION_TOO_MANY = 3, /* too many failed attempts */
};

/* session_new_id writes a fresh "sess_…" id and a fresh random. */
enum sa_err session_new_ids(char id[SESSION_ID_LEN + 1],
			    char random[SESSION_RANDOM_LEN + 1]);

/* session_id_valid tells whether text has the shape of a session id. */
int session_id_valid(const char *text);

/*
 * Every saved session is also listed in the ephemeral store's expiring
 * index SESSION_INDEX (store.h), member its id, until it ends or expires:
 * the administrators' list of live logins reads it. A dropped session's
 * entry stays until it expires; readers skip ids whose session is gone or
 * has ended.
 */
#define SESSION_INDEX "sess:index"

/* session_save stores s until its expires_at (NX: ids never repeat) and
 * lists it in SESSION_INDEX. */
enum sa_err session_save(struct estore *es, const struct session *s,
			 int64_t now);

/* session_load reads a session; SA_ERR_SESSION_UNKNOWN if it does not
 * exist or has expired. An ended one comes back from its end marker, with
 * ended set (see struct session). */
enum sa_err session_load(struct estore *es, const char *id,
			 struct session *out);

/* session_kept_key names a value kept with session id (n bytes at out):
 * "sess:{id}:{what}", such as the reason its push failed ("push"). */
void session_kept_key(char *out, size_t n, const char *id, const char *what);

/* session_load_state is session_load and session_state in one read of the
 * store (one round trip on Redis): the session, and how it ended in *how
 * (SESSION_OPEN while it runs). With what not NULL, the value kept with the
 * session under "sess:{id}:{what}" comes in the same read, into *kept (a
 * new string, NULL when there is none or the session is not loaded). */
enum sa_err session_load_state(struct estore *es, const char *id,
			       struct session *out, enum session_end *how,
			       const char *what, char **kept);

/* session_drop removes a session that cannot go on (its push failed). */
void session_drop(struct estore *es, const char *id);

/* session_fail counts one failed attempt and returns the new count. */
enum sa_err session_fail(struct estore *es, const struct session *s,
			 int64_t now, int64_t *count);

/*
 * session_finish marks the session ended and frees its pending slot. It
 * succeeds for exactly one caller; the others get SA_ERR_REPLAY and *prior says
 * how it had ended. The end marker it writes (SET NX) carries the session's
 * struct session_end_rec; the winner then drops the session's record and
 * takes it off SESSION_INDEX, so an ended session is one store entry of
 * about 130 bytes (key and value, with a token id of a dozen characters)
 * until it expires.
 */
enum sa_err session_finish(struct estore *es, const struct session *s,
			   enum session_end how, int64_t now,
			   enum session_end *prior);

/*
 * session_claim_slot takes a free pending slot for s->token_id from the
 * owner's pool or the strangers' one, of size slots (0: unbounded, no slot
 * taken; more than SESSION_POOL_MAX counts as that), held until
 * s->expires_at or until the session ends (session_finish,
 * session_release_slot); it sets s->slot. When every slot of the pool is
 * taken it returns SA_ERR_RATE_LIMITED with *retry_after the seconds until
 * one frees.
 */
enum sa_err session_claim_slot(struct estore *es, struct session *s, int owner,
			       int64_t slots, int64_t now,
			       int64_t *retry_after);

/* session_release_slot frees the slot s holds, if any. */
void session_release_slot(struct estore *es, const struct session *s);

/* session_state reads how a session ended (SESSION_OPEN if it has not). */
enum session_end session_state(struct estore *es, const char *id);

/*
 * session_keep_final stores the final event (n bytes of text) with the end
 * marker of the session e that ended as how, until its expiry (one write).
 * session_final_event returns that text as a new string and sets *how
 * (NULL when the session has not ended or its event is not stored yet, the
 * moment between session_finish and session_keep_final).
 * session_mark_delivered replaces the stored event by a mark that
 * session_final_event answers as SESSION_DELIVERED_EVENT (one write, no
 * read: the caller knows how the session ended from having sent its event).
 */
enum sa_err session_keep_final(struct estore *es,
			       const struct session_end_rec *e,
			       enum session_end how, const char *text,
			       size_t n);
/* session_keep_final_publish is session_keep_final, then the publication
 * of msg (mn bytes) on channel, in one write (one round trip on Redis, in
 * that order). The store's failure is not returned: the publication's is. */
enum sa_err session_keep_final_publish(struct estore *es,
				       const struct session_end_rec *e,
				       enum session_end how, const char *text,
				       size_t n, const char *channel,
				       const void *msg, size_t mn);
char *session_final_event(struct estore *es, const char *id,
			  enum session_end *how);
/* session_final_event_and is session_final_event that also reads, in the
 * same round trip, the value kept with the session under
 * "sess:{id}:{what}" into *kept (a new string, NULL when there is none). */
char *session_final_event_and(struct estore *es, const char *id,
			      enum session_end *how, const char *what,
			      char **kept);
void session_mark_delivered(struct estore *es, const struct session_end_rec *e,
			    enum session_end how);

#endif
