/*
 * store.h - the storage interface.
 *
 * Two kinds of store sit behind const struct vtables (store_int.h):
 *  - the durable store (SQLite embedded default, PostgreSQL) holds what must
 *    survive a restart: the audit log, enrollments, services, admin data;
 *  - the ephemeral store (in-process default, Redis) holds what may be lost:
 *    sessions with a TTL, rate-limit counters, publish/subscribe.
 *
 * Callers use the wrappers below, never a vtable directly. The backend is
 * chosen from a URL in one place (dstore_open, estore_open):
 *   sqlite:///path/to/file.db or a bare path   -> store_sqlite.c
 *   postgres://... or postgresql://...         -> store_pg.c
 *   mem: or an empty URL                       -> store_mem.c
 *   redis://[:password@]host[:port][/db][?prefix=P]  -> store_redis.c
 *
 * Every function is safe to call from any thread.
 */
#ifndef SEALAUTH_STORE_H
#define SEALAUTH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"

/* ---- Durable store ---------------------------------------------------- */

/* Both durable backends have this many migrations, in the same order. */
#define DSTORE_MIGRATIONS 5

struct dstore;

/*
 * One audit row. On input to dstore_audit_append only ts_ms, event, ip, ua,
 * subject and detail are read; seq, prev_hash and hash are filled in by the
 * store inside the same transaction that writes the row, so the chain stays
 * linear even with several server instances writing.
 */
struct audit_row {
	int64_t seq;	     /* 1, 2, 3, ... */
	int64_t ts_ms;	     /* unix milliseconds */
	const char *event;   /* "enroll.ok", "auth.approved", ... */
	const char *ip;	     /* client IP or "" */
	const char *ua;	     /* user agent or "" */
	const char *subject; /* token id, admin id, or "" */
	const char *detail;  /* compact JSON object text, or "{}" */
	unsigned char prev_hash[32];
	unsigned char hash[32];
};

/* Called once per row by dstore_audit_iter; a non-zero return stops the walk.
 */
typedef int (*audit_row_cb)(const struct audit_row *row, void *arg);

/*
 * An enrollment: the binding of a seal's token id to a device key (SPEC §2).
 * There is no user table. Strings marked (heap) are owned by the struct and
 * freed by enrollment_free; the others are fixed buffers.
 */
#define ENROLL_TOKEN_MAX 64
#define ENROLL_DEVICE_MAX 128
#define ENROLL_AUTHORITY_MAX 16
struct enrollment {
	/* The issuing authority (IAC) that vouched for the token id; ""
	 * only for a binding made before authorities were recorded whose
	 * authority the migration could not find in the audit log. */
	char authority[ENROLL_AUTHORITY_MAX + 1];
	char token_id[ENROLL_TOKEN_MAX + 1];
	char device_id[ENROLL_DEVICE_MAX + 1];
	char *public_key_pem;	   /* (heap) SPKI PEM of the device key */
	char *fcm_token;	   /* (heap) or NULL */
	char *push_endpoint;	   /* (heap) or NULL: UnifiedPush URL */
	char trust_level[16];	   /* "high", ... from the trust chain */
	char *claims;		   /* (heap) identity JSON (claims.h) */
	char seal_fingerprint[65]; /* hex SHA-256 of the seal's signed bytes */
	int64_t created_at;	   /* unix seconds */
	int64_t expires_at;	   /* unix seconds */
	int64_t revoked_at;	   /* 0: not revoked */
};

/* enrollment_free frees the heap strings (claims are wiped) and zeroes e. */
void enrollment_free(struct enrollment *e);

/*
 * A relying party ("service") as the durable store keeps it: the fields
 * every protocol shares in columns, the protocols' own settings in one JSON
 * object ({"oidc": {...}, "saml": {...}}) that the store never looks
 * inside. scopes and origins are JSON arrays of strings. The registry
 * (login/services.c) validates a record before it is written and again when
 * it is read. On reads every string is valid during the callback only.
 */
#define SERVICE_ROW_JSON_MAX (256 * 1024) /* bytes of any JSON column */
struct service_row {
	const char *id;
	const char *name;
	const char *scopes;	/* JSON array text */
	const char *origins;	/* JSON array text */
	const char *match_mode; /* "compare" or "type" */
	int enabled;
	const char *settings; /* JSON object text, "{}" when none */
	int64_t created_at;   /* unix seconds; kept by an update */
	int64_t updated_at;
};

typedef int (*service_row_cb)(const struct service_row *row, void *arg);

/* How a write treats a record that exists (or does not). */
enum dstore_write {
	DSTORE_CREATE = 1, /* refused with SA_ERR_CONFLICT if it exists */
	DSTORE_UPDATE = 2, /* refused with SA_ERR_NOT_FOUND if it does not */
	DSTORE_UPSERT = 3, /* either */
};
/* How dstore_enroll_put_mode treats a binding to another device key. */
enum enroll_put_mode {
	ENROLL_PUT_REPLACE = 0, /* replace it (a completed takeover) */
	ENROLL_PUT_KEEP = 1,	/* refuse with SA_ERR_CONFLICT */
};

/*
 * A pending takeover: a new binding for a token id that is bound to another
 * device, waiting for the old device's approval or for effective_at. The
 * pending enrollment is kept as JSON text (login/takeover.c writes and
 * reads it); (heap) marks what takeover_free frees.
 */
#define TAKEOVER_ID_MAX 32
struct takeover {
	char id[TAKEOVER_ID_MAX + 1]; /* random, names it to the old device */
	char authority[ENROLL_AUTHORITY_MAX + 1];
	char token_id[ENROLL_TOKEN_MAX + 1];
	char *enrollment; /* (heap) the pending binding, JSON */
	int64_t created_at;
	int64_t effective_at;
};

/* takeover_free frees the heap string (wiped) and zeroes t. */
void takeover_free(struct takeover *t);

/*
 * Administration records (admins, their passkeys, their sessions, the
 * install window): small JSON documents keyed by (kind, id), each with an
 * owner ("" for none), a version the store counts up on every update, and
 * an expiry (unix seconds, 0 for none). A write is a list of operations run
 * in one transaction, in order; the first that fails rolls all back and
 * its error is returned. Guards (REC_REQUIRE_*) count rows inside that same
 * transaction, serialised with every other record write across servers, so
 * "refuse to remove the last passkey" cannot be raced.
 */
#define REC_KIND_MAX 32
#define REC_ID_MAX 1400 /* a credential id in base64url fits */
#define REC_DOC_MAX 65536
#define REC_LIST_MAX 10000 /* rows one list returns at most */

struct dstore_rec {
	const char *kind;
	const char *id;
	const char *owner; /* "" for none */
	const char *doc;   /* JSON object text */
	int64_t version;   /* 1 on create, +1 on each update */
	int64_t expires_at;
};

enum rec_op_kind {
	REC_CREATE = 1, /* insert; SA_ERR_CONFLICT if (kind, id) exists */
	/* replace owner, doc and expiry; SA_ERR_NOT_FOUND if absent,
	 * SA_ERR_CONFLICT if version is not 0 and not the stored one */
	REC_UPDATE = 2,
	REC_DELETE = 3, /* SA_ERR_NOT_FOUND if absent (or owner differs) */
	REC_DELETE_OWNED = 4, /* every record of kind with owner; never fails */
	/* no record of kind (and owner, and id, when not NULL) */
	REC_REQUIRE_NONE = 5,
	/* at least one record of kind (and owner, and id, when not NULL:
	 * "the last admin" guards every owner, "the last passkey" one) */
	REC_REQUIRE_SOME = 6,
	REC_DELETE_EXPIRED = 7, /* records of kind with 0 < expires_at < now */
	/* every record of kind (and owner when not NULL) whose doc has the
	 * string member named member equal to doc; never fails */
	REC_DELETE_MATCH = 8,
};

struct dstore_rec_op {
	enum rec_op_kind op;
	const char *kind;
	const char *id;
	const char *owner; /* NULL: "" for writes, any for deletes/guards */
	const char *doc;
	int64_t version;    /* REC_UPDATE: the expected version, 0 any */
	int64_t expires_at; /* writes: the expiry; REC_DELETE_EXPIRED: now */
	enum sa_err fail;   /* the error when this op fails (0: its default) */
	/* REC_DELETE_MATCH: the doc member compared, 1-64 bytes of
	 * [A-Za-z0-9_] */
	const char *member;
	/* when not NULL, receives how many records the operation wrote or
	 * removed (a guard leaves it alone) */
	int64_t *affected;
};

typedef int (*dstore_rec_cb)(const struct dstore_rec *r, void *arg);

/*
 * dstore_open picks the backend from the URL, opens it and runs pending
 * migrations. On success *out owns the connection; close with dstore_close.
 */
enum sa_err dstore_open(const char *url, struct dstore **out);
void dstore_close(struct dstore *ds);
const char *dstore_name(struct dstore *ds);
enum sa_err dstore_ping(struct dstore *ds);

/*
 * dstore_writes_failing is SA_OK unless the last write that reached the
 * backend failed because the store itself is failing (SA_ERR_DISK_FULL,
 * SA_ERR_IO, SA_ERR_UNAVAILABLE): then it is that error, until a write
 * succeeds again. Cheap (one atomic load), for a caller that chooses
 * between answering at once and answering once its audit row is durable.
 */
enum sa_err dstore_writes_failing(struct dstore *ds);

/*
 * dstore_audit_append writes n rows in one transaction, durable (fsynced)
 * before it returns SA_OK. It fills seq, prev_hash and hash of each row
 * (hash = audit_row_hash of the row with the previous row's hash).
 */
enum sa_err dstore_audit_append(struct dstore *ds, struct audit_row *rows,
				size_t n);
/* dstore_audit_iter calls cb for rows with seq >= from_seq in order, at most
 * limit rows (limit <= 0: all). Row pointers are valid during the call only. */
enum sa_err dstore_audit_iter(struct dstore *ds, int64_t from_seq,
			      int64_t limit, audit_row_cb cb, void *arg);
enum sa_err dstore_audit_count(struct dstore *ds, int64_t *out);

/* A small key/value table for server metadata; *out is malloc'd. A missing
 * key gives SA_ERR_NOT_FOUND. */
enum sa_err dstore_meta_get(struct dstore *ds, const char *key, char **out);
enum sa_err dstore_meta_set(struct dstore *ds, const char *key,
			    const char *value);

/*
 * Audit rows that commit together with a change of the binding (the
 * writes below that take a struct dstore_audit): the change and its rows
 * are one transaction, so there is never a change without its rows nor a
 * row reporting a change that was not made. fill runs inside that
 * transaction once the change's checks have passed, with what the change
 * found: found->prev is the binding it replaces (NULL when none) and
 * found->count how many enrollments a revocation marked. It points
 * rows[0..n) at its rows (at most DSTORE_AUDIT_ROWS_MAX; only ts_ms,
 * event, ip, ua, subject and detail are read) and returns n, or 0 when it
 * cannot make them (the change then fails with SA_ERR_NOMEM). It must be
 * quick and must not call the store. The rows are chained after the
 * log's tail inside the transaction, as dstore_audit_append does, and
 * the commit is durable (fsynced) before the write returns SA_OK.
 */
#define DSTORE_AUDIT_ROWS_MAX 4
struct dstore_found {
	const struct enrollment *prev;
	int64_t count;
};
typedef size_t (*dstore_audit_fill)(const struct dstore_found *found,
				    struct audit_row *rows, void *arg);
struct dstore_audit {
	dstore_audit_fill fill; /* NULL: no rows */
	void *arg;
};

/*
 * dstore_enroll_put stores an enrollment, replacing the token id's previous
 * binding in the same transaction. When there was one, *had_prev is 1 and
 * *prev holds it (the caller frees it with enrollment_free), so the old
 * device can be told. A token id that was revoked is refused with
 * SA_ERR_TOKEN_REVOKED and nothing is written. prev may be NULL. The write
 * is durable when it returns; it carries no audit rows (the server's own
 * writes use dstore_enroll_write).
 */
enum sa_err dstore_enroll_put(struct dstore *ds, const struct enrollment *e,
			      struct enrollment *prev, int *had_prev);
/*
 * dstore_enroll_put_mode is dstore_enroll_put with a choice for a binding
 * of the token id to another device key: ENROLL_PUT_KEEP refuses it with
 * SA_ERR_CONFLICT (*prev then holds the binding, so the caller can start a
 * takeover), ENROLL_PUT_REPLACE replaces it. Whatever the mode, a binding
 * made by another issuing authority is never replaced: SA_ERR_AUTHORITY_
 * CONFLICT, *prev holding it (a binding without a recorded authority may
 * be replaced). Both checks run in the write's transaction.
 */
enum sa_err dstore_enroll_put_mode(struct dstore *ds,
				   const struct enrollment *e,
				   enum enroll_put_mode mode,
				   struct enrollment *prev, int *had_prev);
/*
 * dstore_enroll_write is dstore_enroll_put_mode with audit rows that
 * commit with it (see struct dstore_audit). take_id, when not NULL, names
 * the pending takeover of e's token id that this write completes: it is
 * removed in the same transaction, and when it is not pending (decided or
 * replaced meanwhile) nothing is written and SA_ERR_NOT_FOUND returned, so
 * of two racing completions exactly one binds.
 */
enum sa_err dstore_enroll_write(struct dstore *ds, const struct enrollment *e,
				enum enroll_put_mode mode, const char *take_id,
				const struct dstore_audit *au,
				struct enrollment *prev, int *had_prev);
/* dstore_enroll_get fills *out (free with enrollment_free); SA_ERR_NOT_FOUND
 * if the token id was never enrolled. A revoked one is returned with
 * revoked_at set. */
enum sa_err dstore_enroll_get(struct dstore *ds, const char *token_id,
			      struct enrollment *out);
/* dstore_enroll_revoke revokes a token id for good: its enrollment is
 * marked and it can never be enrolled again. Revoking twice is not an
 * error. */
enum sa_err dstore_enroll_revoke(struct dstore *ds, const char *token_id,
				 int64_t when, const char *reason);
/* dstore_enroll_revoke_audited is dstore_enroll_revoke with audit rows
 * that commit with it (struct dstore_audit; found->prev is NULL). */
enum sa_err dstore_enroll_revoke_audited(struct dstore *ds,
					 const char *token_id, int64_t when,
					 const char *reason,
					 const struct dstore_audit *au);
/* dstore_enroll_revoke_fingerprint revokes every enrollment made with the
 * seal of that fingerprint (the VRL lists seals); *count says how many. */
enum sa_err dstore_enroll_revoke_fingerprint(struct dstore *ds,
					     const char *fingerprint,
					     int64_t when, int *count);
/* dstore_enroll_revoke_fingerprint_audited also writes audit rows with
 * the revocation when it marked at least one enrollment (found->count;
 * fill is not called, and nothing audited, when it marked none). */
enum sa_err dstore_enroll_revoke_fingerprint_audited(
    struct dstore *ds, const char *fingerprint, int64_t when, int *count,
    const struct dstore_audit *au);
enum sa_err dstore_enroll_count(struct dstore *ds, int64_t *out);

/*
 * A page of enrollments for the admin API. Every filter is optional: an
 * empty token_prefix or authority, a status of ENROLL_ANY and zero times
 * match everything. Rows come newest first (created_at descending, then
 * token id ascending); after_token, when not empty, starts the page after
 * the row (after_created, after_token) of that order, so a page is a
 * cursor's continuation even while rows are added. At most limit rows
 * (1..ENROLL_LIST_MAX). The rows handed to the callback carry neither the
 * public key nor the claims (both NULL); their strings are valid during
 * the call only.
 */
#define ENROLL_LIST_MAX 1000
enum enroll_status {
	ENROLL_ANY = 0,
	ENROLL_ACTIVE = 1,  /* not revoked, expires_at > now */
	ENROLL_REVOKED = 2, /* revoked_at set */
	ENROLL_EXPIRED = 3, /* not revoked, expires_at <= now */
};
struct enroll_filter {
	const char *token_prefix;
	const char *authority;
	enum enroll_status status;
	int64_t now;		 /* what "expired" is measured against */
	int64_t since, until;	 /* created_at in [since, until); 0: open */
	int64_t after_created;	 /* the cursor's row ... */
	const char *after_token; /* ... or "" / NULL: from the start */
	int limit;
};
typedef int (*enroll_row_cb)(const struct enrollment *e, void *arg);
enum sa_err dstore_enroll_list(struct dstore *ds, const struct enroll_filter *f,
			       enroll_row_cb cb, void *arg);

/*
 * The relying-party registry. Every write (dstore_service_write,
 * dstore_service_delete) adds one to the registry's version in the same
 * transaction, so a server that sees a new version knows to read the
 * records again; every server sharing the database polls it.
 * dstore_services_read reports the version, then calls cb for every
 * record in id order (a non-zero return stops the walk). The version is
 * read first: a write that lands between the two is read again at the
 * next poll, never missed.
 */
enum sa_err dstore_services_version(struct dstore *ds, int64_t *out);
enum sa_err dstore_services_read(struct dstore *ds, int64_t *version,
				 service_row_cb cb, void *arg);
enum sa_err dstore_service_write(struct dstore *ds,
				 const struct service_row *row,
				 enum dstore_write how);
/* dstore_service_delete removes a record; SA_ERR_NOT_FOUND if absent. */
enum sa_err dstore_service_delete(struct dstore *ds, const char *id);

/* dstore_rec_write runs the n operations in one transaction (see above). */
enum sa_err dstore_rec_write(struct dstore *ds, const struct dstore_rec_op *ops,
			     size_t n);
/*
 * dstore_rec_get copies one record into *out (strings malloc'd, freed by
 * rec_free); SA_ERR_NOT_FOUND if absent. Expired records are returned:
 * the caller decides.
 */
enum sa_err dstore_rec_get(struct dstore *ds, const char *kind, const char *id,
			   struct dstore_rec *out);
void dstore_rec_free(struct dstore_rec *r);
/* dstore_rec_list calls cb for the records of kind (and owner when not
 * NULL) in id order, at most REC_LIST_MAX; strings valid during the call. */
enum sa_err dstore_rec_list(struct dstore *ds, const char *kind,
			    const char *owner, dstore_rec_cb cb, void *arg);

/*
 * dstore_seq_raise keeps the highest sequence number accepted for a signed
 * trust document (doc: a key such as "vrl:DEMO:..", at most 96 bytes):
 * stores max(stored, seq) and reports that maximum in *highest, in one
 * atomic statement, so every instance sharing the store sees it.
 */
enum sa_err dstore_seq_raise(struct dstore *ds, const char *doc, int64_t seq,
			     int64_t now, int64_t *highest);

/*
 * Pending takeovers, one per token id. dstore_takeover_put stores t,
 * replacing a pending one of the same token id. dstore_takeover_get fills
 * *out (free with takeover_free); SA_ERR_NOT_FOUND when none is pending.
 * dstore_takeover_take removes the pending takeover of token_id whose id
 * is id and returns it in *out: exactly one of two racing callers (the
 * old device cancelling, the waiting period ending) gets it; the other
 * gets SA_ERR_NOT_FOUND.
 */
enum sa_err dstore_takeover_put(struct dstore *ds, const struct takeover *t);
enum sa_err dstore_takeover_get(struct dstore *ds, const char *token_id,
				struct takeover *out);
enum sa_err dstore_takeover_take(struct dstore *ds, const char *token_id,
				 const char *id, struct takeover *out);
/* The same with audit rows that commit with the change (struct
 * dstore_audit; found->prev is NULL): a takeover is never pending, nor
 * dropped, without its row. */
enum sa_err dstore_takeover_put_audited(struct dstore *ds,
					const struct takeover *t,
					const struct dstore_audit *au);
enum sa_err dstore_takeover_take_audited(struct dstore *ds,
					 const char *token_id, const char *id,
					 const struct dstore_audit *au,
					 struct takeover *out);

/*
 * audit_row_hash computes SHA-256(prev_hash || seq || ts_ms || event || ip ||
 * ua || subject || detail), each integer as 8 bytes big-endian and each
 * string as a 4-byte big-endian length followed by its bytes, so no two rows
 * hash alike by moving bytes between fields. Defined in audit_rows.c.
 */
void audit_row_hash(const struct audit_row *row,
		    const unsigned char prev_hash[32], unsigned char out[32]);

/* ---- Ephemeral store -------------------------------------------------- */

struct estore;
struct event_base;

/* Receives a published message. The in-process store calls it in the
 * publisher's thread; a networked store calls it on a store-owned thread.
 * Either way it must be quick and thread-safe. */
typedef void (*estore_msg_cb)(const char *channel, const void *msg, size_t n,
			      void *arg);

#define ESTORE_KEY_MAX 256     /* bytes, keys longer are refused */
#define ESTORE_VALUE_MAX 65536 /* bytes, values longer are refused */

/* Flags for estore_set. */
#define ESTORE_NX 1 /* only set when the key does not exist */
#define ESTORE_XX 2 /* only set when the key exists (keeps nothing else) */

enum sa_err estore_open(const char *url, struct estore **out);
void estore_close(struct estore *es);
const char *estore_name(struct estore *es);
enum sa_err estore_ping(struct estore *es);

/*
 * estore_set stores a copy of val under key for ttl_ms milliseconds (0: no
 * expiry). With ESTORE_NX it fails with SA_ERR_CONFLICT if the key exists;
 * with ESTORE_XX with SA_ERR_NOT_FOUND if it does not.
 */
enum sa_err estore_set(struct estore *es, const char *key, const void *val,
		       size_t n, uint64_t ttl_ms, int flags);
/* estore_get copies the value into a new NUL-terminated buffer *val (caller
 * frees) and reports its remaining TTL (-1 none); SA_ERR_NOT_FOUND if absent
 * or expired. ttl_ms may be NULL. */
enum sa_err estore_get(struct estore *es, const char *key, unsigned char **val,
		       size_t *n, int64_t *ttl_ms);
/*
 * estore_get_many reads up to ESTORE_GET_MAX keys as estore_get reads one,
 * in one round trip on Redis (where a session's record, its end marker and
 * a value kept with it cost one each). got[i].rc is SA_OK (got[i].val a new
 * NUL-terminated buffer of got[i].n bytes, the caller frees it; got[i].ttl_ms
 * as estore_get reports it) or SA_ERR_NOT_FOUND (val NULL). Any other
 * failure is returned for the whole call, with every val NULL. The reads
 * run in order but not at one instant: a key may change between two.
 */
#define ESTORE_GET_MAX 4
struct estore_got {
	unsigned char *val;
	size_t n;
	int64_t ttl_ms;
	enum sa_err rc;
};
enum sa_err estore_get_many(struct estore *es, const char *const *keys,
			    size_t n, struct estore_got *got);
/* estore_del removes key; *existed (may be NULL) tells whether it was there,
 * so exactly one of two racing callers sees 1. */
enum sa_err estore_del(struct estore *es, const char *key, int *existed);
/* estore_del_if removes key only while it holds exactly the n bytes at val,
 * in one atomic step; *deleted (may be NULL) tells whether it did. */
enum sa_err estore_del_if(struct estore *es, const char *key, const void *val,
			  size_t n, int *deleted);
/*
 * estore_remove does a batch of independent removals at once: in one
 * round trip on Redis, where giving a login back its pending slot, its
 * record and its index entry one by one cost three. Each item deletes a key
 * (ESTORE_RM_KEY), deletes a key only while it holds exactly the n bytes at
 * val (ESTORE_RM_KEY_IF, as estore_del_if does), or removes an index entry
 * (ESTORE_RM_INDEX, as estore_index_del; key names the index). The items
 * are checked first, so one that is not valid fails the batch
 * (SA_ERR_VALIDATION) with nothing removed. They then run in order but not
 * as one transaction: the first failure is returned, and the items around
 * it may or may not have been done. Absent keys and entries are not
 * failures, and nothing tells which items found something to remove.
 */
#define ESTORE_RM_MAX 8
enum estore_rm_kind { ESTORE_RM_KEY, ESTORE_RM_KEY_IF, ESTORE_RM_INDEX };
struct estore_rm {
	enum estore_rm_kind kind;
	const char *key;    /* the key, or the index's name */
	const void *val;    /* ESTORE_RM_KEY_IF: the bytes it must hold */
	size_t n;	    /* their length */
	const char *member; /* ESTORE_RM_INDEX: the entry's member */
	int64_t expires;    /* and its expiry */
};
enum sa_err estore_remove(struct estore *es, const struct estore_rm *items,
			  size_t n);
/*
 * estore_set_remove stores val under key as estore_set does (flags: 0 or
 * ESTORE_NX) and then does estore_remove's batch, in one round trip on
 * Redis (an ended login wrote its end marker and gave back its record,
 * pending slot and index entry in two). The removals run whatever the SET
 * found, so use it only where they are right either way: a finished
 * session's leftovers go whether this call or an earlier one wrote its end
 * marker. Everything is checked first (SA_ERR_VALIDATION: nothing done).
 * Returns the SET's outcome (SA_ERR_CONFLICT when ESTORE_NX found the
 * key); as with estore_remove, a failed removal is not reported and the
 * items around it may or may not have been done.
 */
enum sa_err estore_set_remove(struct estore *es, const char *key,
			      const void *val, size_t n, uint64_t ttl_ms,
			      int flags, const struct estore_rm *items,
			      size_t nitems);
/*
 * estore_incr adds one to a counter and returns the new count. The first
 * increment creates the counter with a lifetime of window_ms; later ones do
 * not extend it (a fixed window). *ttl_ms is the time left in the window.
 */
enum sa_err estore_incr(struct estore *es, const char *key, uint64_t window_ms,
			int64_t *count, int64_t *ttl_ms);
/* estore_publish delivers msg to every subscriber of channel, in every
 * instance sharing the store. */
enum sa_err estore_publish(struct estore *es, const char *channel,
			   const void *msg, size_t n);
/*
 * estore_set_publish stores val under key as estore_set does (no flags),
 * then publishes msg on channel, in one write (one round trip on Redis,
 * which runs the two in order: a subscriber that reads key on hearing msg
 * finds val). Both are checked before either is done. Returns the store's
 * result; *published (may be NULL) gets the publication's.
 */
enum sa_err estore_set_publish(struct estore *es, const char *key,
			       const void *val, size_t n, uint64_t ttl_ms,
			       const char *channel, const void *msg, size_t mn,
			       enum sa_err *published);
/* estore_subscribe registers cb for a channel for the life of the store. */
enum sa_err estore_subscribe(struct estore *es, const char *channel,
			     estore_msg_cb cb, void *arg);
/*
 * estore_set_json stores a JSON value (borrowed) compactly under key, as
 * estore_set does; SA_ERR_BODY_TOO_LARGE when its text exceeds max bytes.
 * estore_get_json reads a JSON object back into *out (a new reference):
 * SA_ERR_NOT_FOUND when absent, SA_ERR_INTERNAL when it is not an object.
 */
enum sa_err estore_set_json(struct estore *es, const char *key,
			    const json_t *val, size_t max, uint64_t ttl_ms,
			    int flags);
enum sa_err estore_get_json(struct estore *es, const char *key, json_t **out);

/*
 * Expiring indexes: a named set of entries (member, expiry in unix seconds)
 * that lists what lives in the store (the login sessions) without scanning
 * its keys. index is named like a key; a member is 1 to ESTORE_MEMBER_MAX
 * bytes of printable ASCII without spaces; an expiry is 1 to
 * ESTORE_EXPIRY_MAX. An entry whose expiry is at or before now is gone:
 * no page returns it, and every add and page removes such entries, so an
 * index only holds what is live. An index holds at most ESTORE_INDEX_MAX
 * entries: an add beyond that drops the entries expiring soonest.
 *
 * estore_index_add adds (member, expires) (adding it again changes
 * nothing). estore_index_del removes that entry (absent is not an error).
 * estore_index_page calls cb for at most limit (1 to ESTORE_PAGE_MAX) live
 * entries, the latest expiry first and, for one expiry, members in byte
 * order; with after (not NULL nor "") it starts at the first entry past
 * (after_expires, after) in that order, so a page continues the previous
 * one even while entries come and go. A non-zero return from cb stops.
 */
#define ESTORE_MEMBER_MAX 128
#define ESTORE_EXPIRY_MAX 99999999999LL
#define ESTORE_INDEX_MAX 100000
#define ESTORE_PAGE_MAX 1000
typedef int (*estore_index_cb)(const char *member, int64_t expires, void *arg);
enum sa_err estore_index_add(struct estore *es, const char *index,
			     const char *member, int64_t expires, int64_t now);
enum sa_err estore_index_del(struct estore *es, const char *index,
			     const char *member, int64_t expires);
/*
 * estore_set_listed stores a new key as estore_set with ESTORE_NX does and
 * lists (member, expires) in index as estore_index_add does, in one round
 * trip on Redis (a login's start wrote its record and its index entry in
 * two). SA_ERR_CONFLICT when the key exists: nothing changed. When the key
 * was stored but the listing failed, the key is removed again and the
 * failure returned, so a key is never left unlisted.
 */
enum sa_err estore_set_listed(struct estore *es, const char *key,
			      const void *val, size_t n, uint64_t ttl_ms,
			      const char *index, const char *member,
			      int64_t expires, int64_t now);
enum sa_err estore_index_page(struct estore *es, const char *index, int64_t now,
			      int64_t after_expires, const char *after,
			      int limit, estore_index_cb cb, void *arg);

/* estore_count is the number of live keys (for /health and tests). */
size_t estore_count(struct estore *es);

/*
 * estore_footprint reads what a store that keeps its data in this process
 * holds: *entries, expired ones that no lookup or sweep has met yet
 * included, and *bytes, the memory they take (the in-process store: its
 * slab pages, larger entries, hash tables and indexes). Cheap: no entry is
 * visited. SA_ERR_NOT_FOUND for a store whose data lives elsewhere
 * (Redis).
 */
enum sa_err estore_footprint(struct estore *es, size_t *entries, size_t *bytes);

/*
 * estore_attach_loop moves the store's subscriber connection, if it has one
 * (Redis), onto base: a libevent loop that another thread runs (the
 * WebSocket loop), instead of a private loop thread. Callbacks given to
 * estore_subscribe then run on that loop's thread. base must have been
 * created after evthread_use_pthreads and keep running until
 * estore_detach_loop returns. The in-process store has no subscriber
 * connection: a no-op there.
 *
 * estore_detach_loop closes the subscriber connection on the attached loop
 * and waits until that is done, so the caller may then stop and free the
 * loop; no message is delivered afterwards. Call it before the loop stops.
 * A no-op when no loop is attached.
 */
enum sa_err estore_attach_loop(struct estore *es, struct event_base *base);
void estore_detach_loop(struct estore *es);

#endif
