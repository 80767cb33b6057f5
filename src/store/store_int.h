/*
 * store_int.h - what the storage backends share, private to src/store (and
 * to tests that plug in a backend of their own).
 *
 * A store is a struct dstore or struct estore: the interface, one pointer to
 * the backend's const vtable. Each backend defines its own state with the
 * interface as its first member (struct pg_store { struct dstore base; ...
 * }), hands &state->base to callers and finds its state again from the
 * pointer it is given. store.c's wrappers only ever see the interface.
 */
#ifndef SEALAUTH_STORE_INT_H
#define SEALAUTH_STORE_INT_H

#include <pthread.h>

#include "store/store.h"

/* ---- Durable store ---------------------------------------------------- */

/*
 * The operations of a durable backend besides open and close, each written
 * once as X(name, parameters): the lists make the vtable's members below,
 * and each backend declares the functions of its parts and fills its vtable
 * from them (prefix_name for every name), so no signature is repeated. The
 * lists follow the seams every durable backend is split along: the core
 * (audit log, metadata), enrollments with takeovers, and administration.
 */
#define DSTORE_CORE_OPS(X)                                                     \
	X(ping, (struct dstore * ds))                                          \
	X(audit_append,                                                        \
	  (struct dstore * ds, struct audit_row * rows, size_t n))             \
	X(audit_iter, (struct dstore * ds, int64_t from_seq, int64_t limit,    \
		       audit_row_cb cb, void *arg))                            \
	X(audit_count, (struct dstore * ds, int64_t * out))                    \
	X(meta_get, (struct dstore * ds, const char *key, char **out))         \
	X(meta_set, (struct dstore * ds, const char *key, const char *value))
#define DSTORE_ENROLL_OPS(X)                                                   \
	X(enroll_put, (struct dstore * ds, const struct enrollment *e,         \
		       enum enroll_put_mode mode, const char *take_id,         \
		       const struct dstore_audit *au, struct enrollment *prev, \
		       int *had_prev))                                         \
	X(enroll_get,                                                          \
	  (struct dstore * ds, const char *token_id, struct enrollment *out))  \
	X(enroll_revoke,                                                       \
	  (struct dstore * ds, const char *token_id, int64_t when,             \
	   const char *reason, const struct dstore_audit *au))                 \
	X(enroll_revoke_fingerprint,                                           \
	  (struct dstore * ds, const char *fingerprint, int64_t when,          \
	   int *count, const struct dstore_audit *au))                         \
	X(enroll_count, (struct dstore * ds, int64_t * out))                   \
	X(enroll_list, (struct dstore * ds, const struct enroll_filter *f,     \
			enroll_row_cb cb, void *arg))                          \
	X(takeover_put, (struct dstore * ds, const struct takeover *t,         \
			 const struct dstore_audit *au))                       \
	X(takeover_get,                                                        \
	  (struct dstore * ds, const char *token_id, struct takeover *out))    \
	X(takeover_take,                                                       \
	  (struct dstore * ds, const char *token_id, const char *id,           \
	   const struct dstore_audit *au, struct takeover *out))
#define DSTORE_ADMIN_OPS(X)                                                    \
	X(services_version, (struct dstore * ds, int64_t * out))               \
	X(services_read, (struct dstore * ds, int64_t * version,               \
			  service_row_cb cb, void *arg))                       \
	X(service_write, (struct dstore * ds, const struct service_row *row,   \
			  enum dstore_write how))                              \
	X(service_delete, (struct dstore * ds, const char *id))                \
	X(rec_write,                                                           \
	  (struct dstore * ds, const struct dstore_rec_op *ops, size_t n))     \
	X(rec_get, (struct dstore * ds, const char *kind, const char *id,      \
		    dstore_rec_cb cb, void *arg))                              \
	X(rec_list, (struct dstore * ds, const char *kind, const char *owner,  \
		     dstore_rec_cb cb, void *arg))                             \
	X(seq_raise, (struct dstore * ds, const char *doc, int64_t seq,        \
		      int64_t now, int64_t *highest))

#define DSTORE_OP_MEMBER(op, params) enum sa_err(*op) params;

struct dstore_ops {
	const char *name;
	enum sa_err (*open)(const char *url, struct dstore **out);
	void (*close)(struct dstore *ds);
	DSTORE_CORE_OPS(DSTORE_OP_MEMBER)
	DSTORE_ENROLL_OPS(DSTORE_OP_MEMBER)
	DSTORE_ADMIN_OPS(DSTORE_OP_MEMBER)
};

/* The interface every durable backend embeds as its first member. */
struct dstore {
	const struct dstore_ops *ops;
	/* The outcome of the last write that reached the backend, when it
	 * said the store itself is failing (dstore_writes_failing); SA_OK
	 * once a write succeeds again. */
	_Atomic int write_failing;
};

/*
 * The column lists of the tables both durable backends keep the same (the
 * schema is one, in two dialects), in the order their row readers expect,
 * and the count of live enrollments.
 */
#define DSTORE_ENROLL_COLS                                                     \
	"authority, token_id, device_id, public_key_pem, fcm_token,"           \
	" push_endpoint, trust_level, claims, seal_fingerprint, created_at,"   \
	" expires_at, revoked_at"
#define DSTORE_SERVICE_COLS                                                    \
	"id, name, scopes, origins, match_mode, enabled, settings, "           \
	"created_at,"                                                          \
	" updated_at"
#define DSTORE_REC_COLS "kind, id, owner, doc, version, expires_at"
#define DSTORE_ENROLL_COUNT                                                    \
	"SELECT count(*) FROM enrollments WHERE revoked_at = 0"
#define DSTORE_TAKEOVER_COLS                                                   \
	"id, authority, token_id, enrollment, created_at, effective_at"

/*
 * enroll_put_prev ends a backend's enroll_put: the old binding it read (had
 * set) goes to the caller when the put succeeded or was refused because of
 * it (SA_OK, SA_ERR_CONFLICT, SA_ERR_AUTHORITY_CONFLICT); otherwise it is
 * freed and *had_prev is 0.
 */
void enroll_put_prev(enum sa_err rc, int had, struct enrollment *old,
		     struct enrollment *prev, int *had_prev);

/*
 * For backends: a page of audit rows whose strings are malloc'd, and the
 * paged walk that both durable backends use for audit_iter. read_page
 * fills pg with up to want rows of seq >= from (SA_ERR_INTERNAL for a bad
 * row, after the good ones before it); the walk hands the rows to cb
 * without any lock held and frees them.
 */
#define AUDIT_PAGE_ROWS 256
struct audit_page {
	struct audit_row rows[AUDIT_PAGE_ROWS];
	size_t n;
};
void audit_page_clear(struct audit_page *pg);
typedef enum sa_err (*audit_page_reader)(struct dstore *ds, int64_t from,
					 size_t want, struct audit_page *pg);
enum sa_err audit_walk(struct dstore *ds, int64_t from_seq, int64_t limit,
		       audit_row_cb cb, void *arg, audit_page_reader read_page);

/*
 * For backends: the audit rows of a change (struct dstore_audit).
 * dstore_audit_rows asks au for them (none when au or its fill is NULL):
 * *n gets how many, SA_ERR_NOMEM when fill could not make them.
 * audit_rows_chain gives rows[0..n) their places after (seq, prev) in
 * chained, computing each hash (audit_rows.c).
 */
enum sa_err dstore_audit_rows(const struct dstore_audit *au,
			      const struct dstore_found *found,
			      struct audit_row rows[DSTORE_AUDIT_ROWS_MAX],
			      size_t *n);
void audit_rows_chain(const struct audit_row *rows, struct audit_row *chained,
		      size_t n, int64_t seq, const unsigned char prev[32]);

/*
 * enroll_put_check is the decision dstore_enroll_put_mode describes (store.h),
 * for the backends: read is the result of reading the old binding into old
 * (SA_ERR_NOT_FOUND when there is none). It sets *had to whether there was
 * one and returns SA_OK to write, or the read's error or the refusal.
 */
enum sa_err enroll_put_check(enum sa_err read, const struct enrollment *old,
			     const struct enrollment *e,
			     enum enroll_put_mode mode, int *had);

/* ---- Ephemeral store -------------------------------------------------- */

struct estore_ops {
	const char *name;
	enum sa_err (*open)(const char *url, struct estore **out);
	void (*close)(struct estore *es);
	enum sa_err (*ping)(struct estore *es);
	enum sa_err (*set)(struct estore *es, const char *key, const void *val,
			   size_t n, uint64_t ttl_ms, int flags);
	enum sa_err (*get)(struct estore *es, const char *key,
			   unsigned char **val, size_t *n, int64_t *ttl_ms);
	/* n checked by the wrapper, got[] zeroed; on failure the backend
	 * leaves no val allocated. */
	enum sa_err (*get_many)(struct estore *es, const char *const *keys,
				size_t n, struct estore_got *got);
	enum sa_err (*del)(struct estore *es, const char *key, int *existed);
	enum sa_err (*del_if)(struct estore *es, const char *key,
			      const void *val, size_t n, int *deleted);
	/* Items checked by the wrapper (store.h, estore_remove). */
	enum sa_err (*remove)(struct estore *es, const struct estore_rm *items,
			      size_t n);
	enum sa_err (*incr)(struct estore *es, const char *key,
			    uint64_t window_ms, int64_t *count,
			    int64_t *ttl_ms);
	enum sa_err (*publish)(struct estore *es, const char *channel,
			       const void *msg, size_t n);
	/* Arguments checked by the wrapper (store.h). */
	enum sa_err (*set_publish)(struct estore *es, const char *key,
				   const void *val, size_t n, uint64_t ttl_ms,
				   const char *channel, const void *msg,
				   size_t mn, enum sa_err *published);
	enum sa_err (*subscribe)(struct estore *es, const char *channel,
				 estore_msg_cb cb, void *arg);
	size_t (*count)(struct estore *es);
	/* Optional (NULL: the data lives outside the process). */
	enum sa_err (*footprint)(struct estore *es, size_t *entries,
				 size_t *bytes);
	/* Expiring indexes (store.h); arguments checked by the wrappers. */
	enum sa_err (*index_add)(struct estore *es, const char *index,
				 const char *member, int64_t expires,
				 int64_t now);
	enum sa_err (*index_del)(struct estore *es, const char *index,
				 const char *member, int64_t expires);
	enum sa_err (*set_listed)(struct estore *es, const char *key,
				  const void *val, size_t n, uint64_t ttl_ms,
				  const char *index, const char *member,
				  int64_t expires, int64_t now);
	enum sa_err (*set_remove)(struct estore *es, const char *key,
				  const void *val, size_t n, uint64_t ttl_ms,
				  int flags, const struct estore_rm *items,
				  size_t nitems);
	enum sa_err (*index_page)(struct estore *es, const char *index,
				  int64_t now, int64_t after_expires,
				  const char *after, int limit,
				  estore_index_cb cb, void *arg);
	/* Optional (NULL: the backend has no subscriber connection). */
	enum sa_err (*attach_loop)(struct estore *es, struct event_base *base);
	void (*detach_loop)(struct estore *es);
};

/* The interface every ephemeral backend embeds as its first member. */
struct estore {
	const struct estore_ops *ops;
};

/* ---- Backends --------------------------------------------------------- */

/* The vtables, for store.c only; everything else goes through the wrappers. */
extern const struct dstore_ops store_sqlite_ops;
extern const struct dstore_ops store_pg_ops;
extern const struct estore_ops store_mem_ops;
extern const struct estore_ops store_redis_ops;

/*
 * Slabs (store_mem_slab.c): pages of fixed-size slots for the in-process
 * store's entries, apart from the short-lived allocations of requests.
 * mem_slab_alloc gives n bytes (NULL: out of memory), in a slot when n is
 * 1..SLAB_SLOT_MAX, else from malloc; mem_slab_free takes them back, from
 * any thread, told the same n. mem_slab_trim gives back the memory of the
 * pages kept mapped that it finds empty at two calls in a row. mem_slab_pages
 * counts the mapped pages, and mem_slab_destroy unmaps them all, whatever
 * is still in them.
 */
#define SLAB_PAGE ((size_t)64 << 10) /* mapped at a multiple of its size */
#define SLAB_STEP 8
#define SLAB_SLOT_MAX 256
struct slab_page;
struct mem_slab {
	pthread_mutex_t mu;
	struct slab_page *room[SLAB_SLOT_MAX / SLAB_STEP]; /* by class */
	struct slab_page *pages;			   /* all of them */
	size_t npages;
};
void mem_slab_init(struct mem_slab *sl);
void *mem_slab_alloc(struct mem_slab *sl, size_t n);
void mem_slab_free(void *p, size_t n);
void mem_slab_trim(struct mem_slab *sl);
size_t mem_slab_pages(struct mem_slab *sl);
void mem_slab_destroy(struct mem_slab *sl);

/* The in-process store's expiring indexes (store_mem_index.c), which
 * store_mem.c's operations hand over to. */
struct mem_indexes;
struct mem_indexes *mem_indexes_new(void);
void mem_indexes_free(struct mem_indexes *x);
void mem_indexes_trim(struct mem_indexes *x);	 /* mem_slab_trim */
size_t mem_indexes_bytes(struct mem_indexes *x); /* estore_footprint */
enum sa_err mem_indexes_add(struct mem_indexes *x, const char *name,
			    const char *member, int64_t expires, int64_t now);
enum sa_err mem_indexes_del(struct mem_indexes *x, const char *name,
			    const char *member, int64_t expires);
enum sa_err mem_indexes_page(struct mem_indexes *x, const char *name,
			     int64_t now, int64_t after_expires,
			     const char *after, int limit, estore_index_cb cb,
			     void *arg);

#endif
