/*
 * store_pg_int.h - what the parts of the PostgreSQL store share; private to
 * src/store: store_pg.c (schema, open, audit log, metadata),
 * store_pg_enroll.c (enrollments, revoked list, takeovers),
 * store_pg_admin.c (relying-party registry, administration records, trust
 * sequence numbers) and store_pg_conn.c (the connection pool and statement
 * helpers).
 */
#ifndef SEALAUTH_STORE_PG_INT_H
#define SEALAUTH_STORE_PG_INT_H

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/store_int.h"

/*
 * Advisory lock keys. They only need to differ from each other and from
 * keys other applications might use on the same database.
 */
#define PG_LOCK_MIGRATE "91556913348609"  /* 0x5345414c0001: "SEAL" 1 */
#define PG_LOCK_AUDIT "91556913348610"	  /* 0x5345414c0002: "SEAL" 2 */
#define PG_LOCK_ENROLL_CLASS "1397047628" /* "SEAL"; two keys: class, token */
#define PG_LOCK_RECORDS "91556913348611"  /* 0x5345414c0003: "SEAL" 3 */

#define PG_POOL_MAX 8		 /* connections per store handle */
#define PG_ACQUIRE_WAIT_MS 30000 /* longest wait for a free connection */
#define PG_CONNECT_TIMEOUT "10"	 /* seconds, unless the URL says */
#define PG_URL_MAX 4096
#define PG_META_KEY_MAX 128
#define PG_META_VALUE_MAX 65536
#define PG_MSG_MAX 256

struct pg_slot {
	PGconn *conn;	      /* NULL until first used */
	int busy;	      /* taken by an operation */
	int broken;	      /* reconnect before the next use */
	char state[6];	      /* SQLSTATE of the last error, or "" */
	char msg[PG_MSG_MAX]; /* its primary message */
};

struct pg_store {
	struct dstore base; /* first: the interface */
	char *url;	    /* may hold a password: wiped on close */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a slot became free */
	struct pg_slot slot[PG_POOL_MAX];
	/* The last audit row this handle saw committed (under mu). */
	int tail_known;
	int64_t tail_seq;
	unsigned char tail_hash[32];
};

/* pg_of finds the backend's state from the interface it embeds first. */
static inline struct pg_store *
pg_of(struct dstore *store)
{
	return (struct pg_store *)store;
}

/* One statement of a pipeline: its SQL and parameters (text unless
 * formats says otherwise) and whether its rows come back in binary. */
struct pg_query {
	const char *sql;
	int nparams;
	const char *const *values;
	const int *lengths;
	const int *formats;
	int binary;
};

/* ---- store_pg.c ---- */

char *pg_col_strndup(const PGresult *r, int row, int col);
/*
 * pg_commit_audited ends the transaction a write left open on s: it asks
 * au for the change's audit rows (found tells what the change found),
 * inserts them chained after the log's tail under the audit lock, and
 * commits, synchronously when there were rows. On failure it reports the
 * error under what and rolls back, so neither the change nor its rows stay.
 */
enum sa_err pg_commit_audited(struct pg_store *ds, struct pg_slot *s,
			      const char *what, const struct dstore_audit *au,
			      const struct dstore_found *found);
enum sa_err pg_query_int64(struct pg_store *ds, const char *sql,
			   const char *const *vals, int n, int64_t *out);

/* ---- store_pg_enroll.c and store_pg_admin.c: their operations ---- */

#define PG_OP_DECLARE(op, params) enum sa_err pg_##op params;
DSTORE_ENROLL_OPS(PG_OP_DECLARE)
DSTORE_ADMIN_OPS(PG_OP_DECLARE)

/* ---- store_pg_conn.c ---- */

void pg_copy_msg(char *dst, size_t cap, const char *msg);
enum sa_err pg_report(struct pg_slot *s, const char *what, enum sa_err rc);
enum sa_err pg_fail(struct pg_slot *s, const char *what, const PGresult *r);
void pg_release(struct pg_store *ds, struct pg_slot *s);
enum sa_err pg_acquire(struct pg_store *ds, struct pg_slot **out);
enum sa_err pg_exec(struct pg_slot *s, const char *what,
		    const struct pg_query *q, ExecStatusType want,
		    PGresult **out);
enum sa_err pg_once(struct pg_store *ds, const char *what,
		    const struct pg_query *q, ExecStatusType want,
		    PGresult **out);
enum sa_err pg_exec0(struct pg_slot *s, const char *sql);
void pg_rollback(struct pg_slot *s);
enum sa_err pg_pipeline(struct pg_slot *s, const struct pg_query *qs, size_t n,
			PGresult **res);
void pg_clear_all(PGresult **res, size_t n);
int64_t pg_col_int64(const PGresult *r, int row, int col);
enum sa_err pg_be64(const PGresult *r, int row, int col, int64_t *out);

#endif
