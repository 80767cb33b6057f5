/*
 * store_pg_int.h - what the PostgreSQL store's operations (store_pg.c) and
 * its connection pool and statement helpers (store_pg_conn.c) share;
 * private to src/store.
 */
#ifndef SEALAUTH_STORE_PG_INT_H
#define SEALAUTH_STORE_PG_INT_H

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/store_int.h"

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

/* ---- store_pg_conn.c ---- */

void pg_copy_msg(char *dst, size_t cap, const char *msg);
enum sa_err pg_report(struct pg_slot *s, const char *what, enum sa_err rc);
enum sa_err pg_fail(struct pg_slot *s, const char *what, const PGresult *r);
void pg_release(struct pg_store *ds, struct pg_slot *s);
enum sa_err pg_acquire(struct pg_store *ds, struct pg_slot **out);
enum sa_err pg_exec(struct pg_slot *s, const char *what,
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
