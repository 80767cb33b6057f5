/*
 * store_sqlite_int.h - what the parts of the SQLite store share; private to
 * src/store.
 *
 * store_sqlite.c opens the database (schema, pragmas, connections) and keeps
 * the audit log and the metadata; store_sqlite_enroll.c keeps enrollments,
 * the revoked list and pending takeovers; store_sqlite_admin.c keeps the
 * relying-party registry, the administration records and the sequence
 * numbers of signed trust documents.
 */
#ifndef SEALAUTH_STORE_SQLITE_INT_H
#define SEALAUTH_STORE_SQLITE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/enroll_cache.h"
#include "store/store_int.h"

#define SQLITE_READERS 4

/* The transaction control statements every write runs (sqlite_ctl). */
enum sqlite_ctl {
	SQ_BEGIN_WRITE, /* BEGIN IMMEDIATE: the write lock at once */
	SQ_BEGIN_READ,	/* BEGIN: one snapshot for several reads */
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT, /* one write inside a group transaction */
	SQ_RELEASE,
	SQ_ROLLBACK_TO, /* undo one write, keep the others */
	SQ_CTL_N
};

/* Statements the writer compiled once and keeps (sqlite_steps): more than
 * the store's operations use. */
#define SQLITE_STMT_CACHE 48

struct sqlite_cached {
	const char *sql; /* the caller's text, compared by address first */
	sqlite3_stmt *st;
};

struct sqlite_reader {
	pthread_mutex_t mu;
	sqlite3 *db; /* NULL until its first read (sqlite_reader_take) */
	sqlite3_stmt *sel_enroll;
};

/* A write waiting for the COMMIT of its group (sqlite_finish). */
struct sqlite_member {
	struct sqlite_member *next;
	enum sa_err rc;
	int done;
};

struct sqlite_store {
	struct dstore base; /* first: the interface */
	sqlite3 *db;
	pthread_mutex_t mu;
	sqlite3_stmt *ins_audit;  /* prepared once, used under mu */
	sqlite3_stmt *sel_enroll; /* for reads inside write transactions */
	sqlite3_stmt *st_tail;	  /* the audit log's last row */
	/* Transaction control, prepared once: parsing it on every write
	 * showed in profiles (enum sqlite_ctl). */
	sqlite3_stmt *st_ctl[SQ_CTL_N];
	struct sqlite_cached stmts[SQLITE_STMT_CACHE];
	unsigned int next_stmt; /* the slot a miss fills next */
	/*
	 * Reads on the login hot path go through their own connections: in WAL
	 * mode they neither wait for the writer's lock nor for its fsync.
	 */
	struct sqlite_reader readers[SQLITE_READERS];
	atomic_uint next_reader;
	/* Checkpoints off the commit path (store_sqlite_ckpt.c); NULL:
	 * SQLite's own, inside the commit that fills the log. */
	struct sqlite_ckpt *ckpt;
	/* The file the readers open: the first at start, so a database they
	 * cannot read fails the start; the others on their first read, so an
	 * idle server holds one reader's schema and caches, not four. */
	char path[PATH_MAX];
	atomic_uint_fast64_t reader_warned_ms; /* last "open reader" error */
	/* Enrollments read by logins; every write below drops what it
	 * changed (enroll_cache.h). */
	struct enroll_cache *cache;
	/* A write failed for want of disk space and none has succeeded since:
	 * sqlite_ping probes with a small write until one does. */
	atomic_int disk_full;
	/*
	 * The group commit (sqlite_begin, sqlite_finish): a write that ends
	 * while another is on its way in leaves the transaction open for it
	 * and waits; the last one commits for all, so they share one fsync.
	 * Each write runs in a savepoint of its own. Under mu except want.
	 */
	int grp_open; /* a group transaction is open */
	int grp_sp;   /* the current write's savepoint is open */
	size_t grp_n; /* writes done in it, waiting for its COMMIT */
	struct sqlite_member *grp_members;
	atomic_int grp_want;   /* threads on their way into sqlite_begin */
	pthread_cond_t grp_cv; /* members wait here for the COMMIT */
};

/* sqlite_of finds the backend's state from the interface it embeds first. */
static inline struct sqlite_store *
sqlite_of(struct dstore *store)
{
	return (struct sqlite_store *)store;
}

/* The enrollment read, prepared once on the writer and on every reader. */
#define ENROLL_SELECT                                                          \
	"SELECT " DSTORE_ENROLL_COLS " FROM enrollments WHERE token_id = ?"

/* ---- store_sqlite.c: errors, statements, transactions ---- */

/* One parameter of a statement: text (NULL binds SQL NULL) or an integer. */
struct sqlite_arg {
	const char *text;
	int64_t num;
	int is_int;
};
#define SQ_TEXT(v) ((struct sqlite_arg){.text = (v)})
#define SQ_INT(v) ((struct sqlite_arg){.num = (v), .is_int = 1})

enum sa_err sqlite_err(int rc);
enum sa_err sqlite_fail(struct sqlite_store *ds, const char *what, int rc);
enum sa_err sqlite_exec(struct sqlite_store *ds, const char *sql);
enum sa_err sqlite_ctl(struct sqlite_store *ds, enum sqlite_ctl which);
void sqlite_rollback(struct sqlite_store *ds);
/* sqlite_lock takes ds->mu for a use outside sqlite_begin, committing an
 * open group transaction first. */
void sqlite_lock(struct sqlite_store *ds);
enum sa_err sqlite_begin(struct sqlite_store *ds);
enum sa_err sqlite_finish(struct sqlite_store *ds, enum sa_err rc);
int sqlite_bind(sqlite3_stmt *st, const struct sqlite_arg *args, size_t n);
enum sa_err sqlite_prepare(struct sqlite_store *ds, const char *sql,
			   const struct sqlite_arg *args, size_t n,
			   sqlite3_stmt **st);
enum sa_err sqlite_do(struct sqlite_store *ds, const char *sql,
		      const struct sqlite_arg *args, size_t n,
		      int64_t *changes);
enum sa_err sqlite_query_int64(struct sqlite_store *ds, const char *sql,
			       const struct sqlite_arg *args, size_t n,
			       int64_t *out);
enum sa_err sqlite_read_int64(struct sqlite_store *ds, const char *sql,
			      const struct sqlite_arg *args, size_t n,
			      int64_t *out);
enum sa_err sqlite_write(struct sqlite_store *ds, const char *sql,
			 const struct sqlite_arg *args, size_t n);
char *sqlite_col_strdup(sqlite3_stmt *st, int col);
/*
 * sqlite_ckpt_start (store_sqlite_ckpt.c) moves the writer's checkpoints
 * to a thread with a connection of its own, opened on ds->path; on failure
 * the writer keeps SQLite's own and the store works as before.
 * sqlite_ckpt_stop gives them back to the writer and stops the thread;
 * nothing when none was started.
 */
enum sa_err sqlite_ckpt_start(struct sqlite_store *ds);
void sqlite_ckpt_stop(struct sqlite_store *ds);
/* sqlite_ckpt_runs counts the checkpoints the thread of store (a SQLite
 * store) has completed: 0 without one. For tests. */
uint64_t sqlite_ckpt_runs(struct dstore *store);
/* sqlite_audit_rows asks au for the audit rows of a change and appends
 * them to the chain inside the caller's write transaction (ds->mu held);
 * nothing when au has no rows. */
enum sa_err sqlite_audit_rows(struct sqlite_store *ds,
			      const struct dstore_audit *au,
			      const struct dstore_found *found);

/* ---- store_sqlite_enroll.c and store_sqlite_admin.c: their operations ---- */

#define SQLITE_OP_DECLARE(op, params) enum sa_err sqlite_##op params;
DSTORE_ENROLL_OPS(SQLITE_OP_DECLARE)
DSTORE_ADMIN_OPS(SQLITE_OP_DECLARE)

/*
 * sqlite_reader_take picks a reading connection, opens it when this is its
 * first read, and returns it locked; the caller unlocks (*out)->mu when
 * done. One that cannot open (logged once a second at most) is tried again
 * by a later read, and this read gets the first reader, which opened with
 * the store and stays open.
 */
void sqlite_reader_take(struct sqlite_store *ds, struct sqlite_reader **out);

#endif
