/*
 * store_pg.c - the durable store on PostgreSQL (libpq).
 *
 * A small pool of connections (PG_POOL_MAX, opened lazily) serves every
 * thread: an operation takes one connection for its whole length, so a
 * transaction never mixes with another thread's statements. A connection
 * found broken when it is taken (the server restarted, the network dropped
 * it) is reconnected once; when that fails the operation answers
 * SA_ERR_UNAVAILABLE and the process keeps running, so /health can say so
 * and the next operation tries again. The pool lives in store_pg_conn.c.
 *
 * Several server instances may share one database. Migrations run at open,
 * each in one transaction under an advisory lock, so two instances starting
 * together do not migrate twice. Audit appends from every instance are
 * serialised by another advisory lock held until COMMIT, which keeps the
 * hash chain linear; the rows of a batch go to the server in pipeline mode,
 * so a batch costs one round trip when this instance still knows the tail
 * of the chain and two when it must read it first.
 *
 * Every statement is parameterised; values never become SQL text.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "core/log.h"
#include "store/store_pg_int.h"
#include "core/util.h"

/*
 * Advisory lock keys. They only need to differ from each other and from
 * keys other applications might use on the same database.
 */
#define PG_LOCK_MIGRATE "91556913348609"  /* 0x5345414c0001: "SEAL" 1 */
#define PG_LOCK_AUDIT "91556913348610"	  /* 0x5345414c0002: "SEAL" 2 */
#define PG_LOCK_ENROLL_CLASS "1397047628" /* "SEAL"; two keys: class, token */
#define PG_LOCK_RECORDS "91556913348611"  /* 0x5345414c0003: "SEAL" 3 */

/*
 * The schema, one migration per entry, applied in order, each in its own
 * transaction; schema_migrations records which ran. Never edit an entry that
 * has shipped: add a new one. The tables match store_sqlite.c.
 */
static const char *const pg_migrations[] = {
    /* 1: metadata and the append-only, hash-chained audit log. */
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE audit ("
    " seq bigint PRIMARY KEY,"
    " ts_ms bigint NOT NULL,"
    " event text NOT NULL,"
    " ip text NOT NULL,"
    " ua text NOT NULL,"
    " subject text NOT NULL,"
    " detail text NOT NULL,"
    " prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),"
    " hash bytea NOT NULL CHECK (octet_length(hash) = 32));"
    /* The database itself refuses to rewrite history (SPEC section 8). */
    "CREATE FUNCTION audit_append_only() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " RAISE EXCEPTION 'audit log is append-only'"
    " USING ERRCODE = 'restrict_violation';"
    " END $$;"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();",
    /* 2: enrollments (token id -> device key) and revoked token ids. */
    "CREATE TABLE enrollments ("
    " token_id text PRIMARY KEY,"
    " device_id text NOT NULL,"
    " public_key_pem text NOT NULL,"
    " fcm_token text,"
    " push_endpoint text,"
    " trust_level text NOT NULL,"
    " claims text NOT NULL,"
    " seal_fingerprint text NOT NULL,"
    " created_at bigint NOT NULL,"
    " expires_at bigint NOT NULL,"
    " revoked_at bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX enrollments_fingerprint ON enrollments (seal_fingerprint);"
    "CREATE TABLE revoked_tokens ("
    " token_id text PRIMARY KEY,"
    " revoked_at bigint NOT NULL,"
    " reason text NOT NULL);",
    /* 3: the relying-party registry; protocol settings in one JSON column.
     * Its version is the meta row "services.version". */
    "CREATE TABLE services ("
    " id text PRIMARY KEY,"
    " name text NOT NULL,"
    " scopes text NOT NULL,"
    " origins text NOT NULL,"
    " match_mode text NOT NULL,"
    " enabled boolean NOT NULL,"
    " settings text NOT NULL,"
    " created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL);",
    /* 4: administration records (admins, passkeys, their sessions). */
    "CREATE TABLE admin_records ("
    " kind text NOT NULL,"
    " id text NOT NULL,"
    " owner text NOT NULL,"
    " doc text NOT NULL,"
    " version bigint NOT NULL,"
    " expires_at bigint NOT NULL,"
    " PRIMARY KEY (kind, id));"
    "CREATE INDEX admin_records_owner ON admin_records (kind, owner);",
    /* 5: enrollments keyed on (issuing authority, token id), a token id
     * still bound to one authority only (UNIQUE); existing rows take the
     * authority their last enroll.ok audit row names. The highest sequence
     * number of each signed trust document, and pending takeovers. */
    "ALTER TABLE enrollments ADD COLUMN authority text NOT NULL DEFAULT '';"
    "UPDATE enrollments e SET authority = coalesce((SELECT"
    " a.detail::jsonb ->> 'iac' FROM audit a WHERE a.event = 'enroll.ok'"
    " AND a.subject = e.token_id ORDER BY a.seq DESC LIMIT 1), '');"
    "ALTER TABLE enrollments DROP CONSTRAINT enrollments_pkey;"
    "ALTER TABLE enrollments ADD PRIMARY KEY (authority, token_id);"
    "ALTER TABLE enrollments ADD CONSTRAINT enrollments_token_id_key"
    " UNIQUE (token_id);"
    "CREATE TABLE trust_sequences ("
    " doc text PRIMARY KEY,"
    " seq bigint NOT NULL,"
    " updated_at bigint NOT NULL);"
    "CREATE TABLE takeovers ("
    " token_id text PRIMARY KEY,"
    " id text NOT NULL UNIQUE,"
    " authority text NOT NULL,"
    " enrollment text NOT NULL,"
    " created_at bigint NOT NULL,"
    " effective_at bigint NOT NULL);",
};
_Static_assert(ARRAY_LEN(pg_migrations) == DSTORE_MIGRATIONS,
	       "store.h counts the migrations");

/* ---- Migrations, open and close ----------------------------------------- */

/*
 * pg_migrate_one applies migration version (1-based) unless it ran before,
 * in one transaction under the migration lock, so an instance starting at
 * the same time waits and then sees it applied. A database that records a
 * migration this binary does not know is refused (SA_ERR_CONFIG) rather
 * than written with an older idea of the schema.
 */
static enum sa_err
pg_migrate_one(struct pg_slot *s, size_t version)
{
	char ver[24];
	const char *vals[1] = {ver};
	const struct pg_query qs[] = {
	    {.sql = "BEGIN"},
	    {.sql = "SELECT pg_advisory_xact_lock(" PG_LOCK_MIGRATE ")"},
	    {.sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " version bigint PRIMARY KEY,"
		    " applied_at timestamptz NOT NULL DEFAULT now())"},
	    {.sql = "SELECT coalesce(max(version), 0),"
		    " count(*) FILTER (WHERE version = $1::bigint)"
		    " FROM schema_migrations",
	     .nparams = 1,
	     .values = vals},
	};
	const struct pg_query ins = {
	    .sql = "INSERT INTO schema_migrations (version) VALUES ($1)",
	    .nparams = 1,
	    .values = vals};
	PGresult *res[ARRAY_LEN(qs)];
	PGresult *r = NULL;
	int64_t have, done;
	enum sa_err rc;

	snprintf(ver, sizeof(ver), "%zu", version);
	if ((rc = pg_pipeline(s, qs, ARRAY_LEN(qs), res)) != SA_OK) {
		pg_report(s, "migration check", rc);
		goto out;
	}
	if (res[3] == NULL || PQntuples(res[3]) != 1) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	have = pg_col_int64(res[3], 0, 0);
	done = pg_col_int64(res[3], 0, 1);
	if (have > (int64_t)ARRAY_LEN(pg_migrations)) {
		log_error("store.pg",
			  "database schema version %" PRId64
			  " is newer than this binary knows (%zu)",
			  have, ARRAY_LEN(pg_migrations));
		rc = SA_ERR_CONFIG;
		goto out;
	}
	if (done == 0) {
		/* Constant DDL of several statements: the simple protocol,
		 * inside the transaction opened above. */
		r = PQexec(s->conn, pg_migrations[version - 1]);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			rc = pg_fail(s, "migration", r);
			goto out;
		}
		if ((rc = pg_exec(s, "record migration", &ins, PGRES_COMMAND_OK,
				  NULL)) != SA_OK)
			goto out;
	}
	if ((rc = pg_exec0(s, "COMMIT")) != SA_OK)
		goto out;
	if (done == 0)
		log_info("store.migrate", "applied migration %zu", version);
out:
	PQclear(r);
	pg_clear_all(res, ARRAY_LEN(qs));
	if (rc != SA_OK)
		pg_rollback(s);
	return rc;
}

/*
 * pg_migrate brings the schema up to date. A database that is already
 * current is only read (no lock, no DDL), so a role with no more than the
 * privileges of docs/operations.md can run the server once an owner has
 * migrated; pending migrations are applied by pg_migrate_one.
 */
static enum sa_err
pg_migrate(struct pg_slot *s)
{
	char known[24];
	const char *vals[1] = {known};
	const struct pg_query exists = {
	    .sql = "SELECT to_regclass('schema_migrations') IS NOT NULL"};
	const struct pg_query have = {
	    .sql = "SELECT coalesce(max(version), 0),"
		   " count(*) FILTER (WHERE version <= $1::bigint)"
		   " FROM schema_migrations",
	    .nparams = 1,
	    .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;

	snprintf(known, sizeof(known), "%zu", ARRAY_LEN(pg_migrations));
	if ((rc = pg_exec(s, "migration check", &exists, PGRES_TUPLES_OK,
			  &r)) != SA_OK)
		return rc;
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		PQclear(r);
		r = NULL;
		if ((rc = pg_exec(s, "migration check", &have, PGRES_TUPLES_OK,
				  &r)) != SA_OK)
			return rc;
		if (pg_col_int64(r, 0, 0) > (int64_t)ARRAY_LEN(pg_migrations)) {
			log_error("store.pg",
				  "database schema version %" PRId64
				  " is newer than this binary knows (%zu)",
				  pg_col_int64(r, 0, 0),
				  ARRAY_LEN(pg_migrations));
			PQclear(r);
			return SA_ERR_CONFIG;
		}
		if (pg_col_int64(r, 0, 1) ==
		    (int64_t)ARRAY_LEN(pg_migrations)) {
			PQclear(r);
			return SA_OK;
		}
	}
	PQclear(r);
	for (size_t v = 1; v <= ARRAY_LEN(pg_migrations); v++)
		if ((rc = pg_migrate_one(s, v)) != SA_OK)
			return rc;
	return SA_OK;
}

static void pg_close(struct dstore *ds);

/*
 * pg_open checks the URL, connects and runs pending migrations. A URL libpq
 * cannot parse is SA_ERR_CONFIG; a server that does not answer is
 * SA_ERR_UNAVAILABLE. *out owns the pool; close it with dstore_close.
 */
static enum sa_err
pg_open(const char *url, struct dstore **out)
{
	PQconninfoOption *opts = NULL;
	struct pg_store *ds = NULL;
	struct pg_slot *s = NULL;
	char *err = NULL;
	enum sa_err rc;

	if (strnlen(url, PG_URL_MAX + 1) > PG_URL_MAX) {
		log_error("store.pg", "the database URL is too long");
		return SA_ERR_CONFIG;
	}
	if ((opts = PQconninfoParse(url, &err)) == NULL) {
		char msg[PG_MSG_MAX];
		char *cut;

		if (err == NULL)
			return SA_ERR_NOMEM;
		/* Some messages quote the whole URL, password and all. */
		if ((cut = strstr(err, " in URI")) != NULL ||
		    (cut = strstr(err, url)) != NULL)
			*cut = '\0';
		pg_copy_msg(msg, sizeof(msg), err);
		log_error("store.pg", "invalid database URL: %s", msg);
		PQfreemem(err);
		return SA_ERR_CONFIG;
	}
	PQconninfoFree(opts);
	if (!PQisthreadsafe()) {
		log_error("store.pg", "libpq is not built thread-safe");
		return SA_ERR_CONFIG;
	}
	if ((ds = calloc(1, sizeof(*ds))) == NULL)
		return SA_ERR_NOMEM;
	ds->base.ops = &store_pg_ops;
	pthread_mutex_init(&ds->mu, NULL);
	pthread_cond_init(&ds->cv, NULL);
	if ((ds->url = strdup(url)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		goto out;
	if ((rc = pg_migrate(s)) != SA_OK)
		goto out;
	pg_release(ds, s);
	s = NULL;
	*out = &ds->base;
	ds = NULL;
	rc = SA_OK;
out:
	pg_release(ds, s);
	if (ds != NULL)
		pg_close(&ds->base);
	return rc;
}

/* pg_close closes every connection and frees ds; no operation may be
 * running. */
static void
pg_close(struct dstore *store)
{
	struct pg_store *ds = pg_of(store);
	if (ds == NULL)
		return;
	for (size_t i = 0; i < PG_POOL_MAX; i++)
		if (ds->slot[i].conn != NULL)
			PQfinish(ds->slot[i].conn);
	if (ds->url != NULL) {
		OPENSSL_cleanse(ds->url, strlen(ds->url));
		free(ds->url);
	}
	pthread_cond_destroy(&ds->cv);
	pthread_mutex_destroy(&ds->mu);
	free(ds);
}

/* pg_ping runs SELECT 1 on a pooled connection. */
static enum sa_err
pg_ping(struct dstore *store)
{
	struct pg_store *ds = pg_of(store);
	const struct pg_query q = {.sql = "SELECT 1"};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "ping", &q, PGRES_TUPLES_OK, &r);
	if (rc == SA_OK &&
	    (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "1") != 0))
		rc = SA_ERR_INTERNAL;
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

/* ---- Audit log ---------------------------------------------------------- */

/* The parameters of one audit insert; values point into the row. */
struct pg_audit_params {
	char seq[24], ts[24];
	const char *values[9];
	int lengths[9];
	int formats[9];
};

static const char pg_audit_insert[] =
    "INSERT INTO audit (seq, ts_ms, event, ip, ua, subject, detail,"
    " prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/* pg_audit_bind fills p for a chained row; the hashes go in binary. */
static void
pg_audit_bind(struct pg_audit_params *p, const struct audit_row *row,
	      struct pg_query *q)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->seq, sizeof(p->seq), "%" PRId64, row->seq);
	snprintf(p->ts, sizeof(p->ts), "%" PRId64, row->ts_ms);
	p->values[0] = p->seq;
	p->values[1] = p->ts;
	/* A NULL field is SQL NULL, which NOT NULL refuses: the batch fails
	 * rather than storing a row that hashes as if it were "". */
	p->values[2] = row->event;
	p->values[3] = row->ip;
	p->values[4] = row->ua;
	p->values[5] = row->subject;
	p->values[6] = row->detail;
	p->values[7] = (const char *)row->prev_hash;
	p->values[8] = (const char *)row->hash;
	p->lengths[7] = p->lengths[8] = 32;
	p->formats[7] = p->formats[8] = 1;
	memset(q, 0, sizeof(*q));
	q->sql = pg_audit_insert;
	q->nparams = 9;
	q->values = p->values;
	q->lengths = p->lengths;
	q->formats = p->formats;
}

/* pg_audit_chain gives rows[0..n) their places after (seq, prev) in
 * chained, computing each hash. */
static void
pg_audit_chain(const struct audit_row *rows, struct audit_row *chained,
	       size_t n, int64_t seq, const unsigned char prev[32])
{
	const unsigned char *p = prev;

	for (size_t i = 0; i < n; i++) {
		chained[i] = rows[i];
		chained[i].seq = ++seq;
		memcpy(chained[i].prev_hash, p, 32);
		audit_row_hash(&chained[i], p, chained[i].hash);
		p = chained[i].hash;
	}
}

/*
 * pg_audit_tail reads the last row's seq and hash from a binary result; an
 * empty log gives seq 0 and the genesis hash of 32 zero bytes.
 */
static enum sa_err
pg_audit_tail(const PGresult *r, int64_t *seq, unsigned char hash[32])
{
	if (r == NULL)
		return SA_ERR_INTERNAL;
	if (PQntuples(r) == 0) {
		*seq = 0;
		memset(hash, 0, 32);
		return SA_OK;
	}
	if (pg_be64(r, 0, 0, seq) != SA_OK || PQgetlength(r, 0, 1) != 32) {
		/* Chaining onto a damaged tail would hide the damage. */
		log_error("store.pg", "the last audit row is malformed");
		return SA_ERR_INTERNAL;
	}
	memcpy(hash, PQgetvalue(r, 0, 1), 32);
	return SA_OK;
}

/*
 * pg_audit_write writes one attempt of a batch in one transaction: it
 * takes the audit lock (held until COMMIT, so instances append one at a
 * time), asks for synchronous commit whatever the server default, and
 * inserts the rows chained after the tail. With known set the tail is
 * (*seq, prev) and everything, COMMIT included, is one pipeline; otherwise
 * the tail is read under the lock first, a second round trip. chained gets
 * the rows as written. Errors are recorded in s, not logged.
 */
static enum sa_err
pg_audit_write(struct pg_slot *s, const struct audit_row *rows,
	       struct audit_row *chained, struct pg_audit_params *params,
	       struct pg_query *qs, size_t n, int known, int64_t seq,
	       const unsigned char prev[32])
{
	static const struct pg_query head[] = {
	    {.sql = "BEGIN"},
	    {.sql = "SET LOCAL synchronous_commit = on"},
	    {.sql = "SELECT pg_advisory_xact_lock(" PG_LOCK_AUDIT ")"},
	    {.sql = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	     .binary = 1},
	};
	const size_t nhead = known ? 3 : 4;
	unsigned char tail[32];
	PGresult *res[4] = {NULL};
	size_t k = 0;
	enum sa_err rc;

	memcpy(tail, prev, 32);
	for (size_t i = 0; i < nhead; i++)
		qs[k++] = head[i];
	if (!known) {
		rc = pg_pipeline(s, qs, k, res);
		if (rc == SA_OK)
			rc = pg_audit_tail(res[3], &seq, tail);
		pg_clear_all(res, ARRAY_LEN(res));
		if (rc != SA_OK)
			return rc;
		k = 0;
	}
	pg_audit_chain(rows, chained, n, seq, tail);
	for (size_t i = 0; i < n; i++)
		pg_audit_bind(&params[i], &chained[i], &qs[k++]);
	qs[k++] = (struct pg_query){.sql = "COMMIT"};
	return pg_pipeline(s, qs, k, NULL);
}

/*
 * pg_audit_append chains and inserts n rows in one transaction. It first
 * trusts the tail this handle last committed: if another instance appended
 * since, the first row's seq is taken (unique violation) and the batch is
 * written again after reading the real tail. seq, prev_hash and hash of the
 * caller's rows are written only after COMMIT succeeded.
 */
static enum sa_err
pg_audit_append(struct dstore *store, struct audit_row *rows, size_t n)
{
	struct pg_store *ds = pg_of(store);
	struct audit_row *chained = NULL;
	struct pg_audit_params *params = NULL;
	struct pg_query *qs = NULL;
	struct pg_slot *s = NULL;
	unsigned char prev[32];
	int64_t seq;
	int known;
	enum sa_err rc;

	chained = calloc(n, sizeof(*chained));
	params = calloc(n, sizeof(*params));
	qs = calloc(n + 5, sizeof(*qs));
	if (chained == NULL || params == NULL || qs == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		goto out;
	pthread_mutex_lock(&ds->mu);
	known = ds->tail_known;
	seq = ds->tail_seq;
	memcpy(prev, ds->tail_hash, 32);
	pthread_mutex_unlock(&ds->mu);
	rc = pg_audit_write(s, rows, chained, params, qs, n, known, seq, prev);
	if (rc != SA_OK && known && strcmp(s->state, "23505") == 0) {
		log_debug("store.pg", "audit tail moved; reading it again");
		pg_rollback(s);
		rc =
		    pg_audit_write(s, rows, chained, params, qs, n, 0, 0, prev);
	}
	if (rc != SA_OK) {
		pg_report(s, "audit append", rc);
		pg_rollback(s);
		goto out;
	}
	pthread_mutex_lock(&ds->mu);
	if (!ds->tail_known || chained[n - 1].seq > ds->tail_seq) {
		ds->tail_known = 1;
		ds->tail_seq = chained[n - 1].seq;
		memcpy(ds->tail_hash, chained[n - 1].hash, 32);
	}
	pthread_mutex_unlock(&ds->mu);
	for (size_t i = 0; i < n; i++) {
		rows[i].seq = chained[i].seq;
		memcpy(rows[i].prev_hash, chained[i].prev_hash, 32);
		memcpy(rows[i].hash, chained[i].hash, 32);
	}
out:
	pg_release(ds, s);
	free(qs);
	free(params);
	free(chained);
	return rc;
}

/* A page of rows copied out of a result so callbacks run without holding a
 * connection. */
/* pg_col_strndup copies a column's bytes into a new string. */
static char *
pg_col_strndup(const PGresult *r, int row, int col)
{
	return strndup(PQgetvalue(r, row, col),
		       (size_t)PQgetlength(r, row, col));
}

/*
 * pg_read_page copies up to want rows with seq >= from_seq into pg. A row
 * whose hash columns are not 32 bytes is refused with SA_ERR_INTERNAL (the
 * rows before it are still in pg).
 */
static enum sa_err
pg_read_page(struct dstore *store, int64_t from_seq, size_t want,
	     struct audit_page *pg)
{
	struct pg_store *ds = pg_of(store);
	char from[24], lim[24];
	const char *vals[2] = {from, lim};
	const struct pg_query q = {
	    .sql = "SELECT seq, ts_ms, event, ip, ua, subject, detail,"
		   " prev_hash, hash FROM audit WHERE seq >= $1"
		   " ORDER BY seq LIMIT $2",
	    .nparams = 2,
	    .values = vals,
	    .binary = 1};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	snprintf(from, sizeof(from), "%" PRId64, from_seq);
	snprintf(lim, sizeof(lim), "%zu", want);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_exec(s, "audit read", &q, PGRES_TUPLES_OK, &r)) != SA_OK)
		goto out;
	for (int i = 0; i < PQntuples(r) && pg->n < want; i++) {
		struct audit_row *row = &pg->rows[pg->n];

		memset(row, 0, sizeof(*row));
		if (pg_be64(r, i, 0, &row->seq) != SA_OK ||
		    pg_be64(r, i, 1, &row->ts_ms) != SA_OK ||
		    PQgetlength(r, i, 7) != 32 || PQgetlength(r, i, 8) != 32) {
			log_error(
			    "store.pg",
			    "an audit row after seq %" PRId64 " is malformed",
			    pg->n > 0 ? pg->rows[pg->n - 1].seq : from_seq - 1);
			rc = SA_ERR_INTERNAL;
			goto out;
		}
		row->event = pg_col_strndup(r, i, 2);
		row->ip = pg_col_strndup(r, i, 3);
		row->ua = pg_col_strndup(r, i, 4);
		row->subject = pg_col_strndup(r, i, 5);
		row->detail = pg_col_strndup(r, i, 6);
		memcpy(row->prev_hash, PQgetvalue(r, i, 7), 32);
		memcpy(row->hash, PQgetvalue(r, i, 8), 32);
		pg->n++;
		if (!row->event || !row->ip || !row->ua || !row->subject ||
		    !row->detail) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
	}
	rc = SA_OK;
out:
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

/*
 * pg_audit_iter walks rows with seq >= from_seq in pages, calling cb with
 * no connection held, so a long walk (audit verify) does not tie up the
 * pool and cb may itself use the store. Rows are append-only, so paging by
 * seq sees each row once.
 */
static enum sa_err
pg_audit_iter(struct dstore *store, int64_t from_seq, int64_t limit,
	      audit_row_cb cb, void *arg)
{
	return audit_walk(store, from_seq, limit, cb, arg, pg_read_page);
}

/* pg_query_int64 runs a one-value query without parameters. */
static enum sa_err
pg_query_int64(struct pg_store *ds, const char *sql, int64_t *out)
{
	const struct pg_query q = {.sql = sql};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, sql, &q, PGRES_TUPLES_OK, &r);
	if (rc == SA_OK && (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)))
		rc = SA_ERR_INTERNAL;
	if (rc == SA_OK)
		*out = pg_col_int64(r, 0, 0);
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

static enum sa_err
pg_audit_count(struct dstore *store, int64_t *out)
{
	struct pg_store *ds = pg_of(store);
	return pg_query_int64(ds, "SELECT count(*) FROM audit", out);
}

/* ---- Metadata ----------------------------------------------------------- */

static int
pg_meta_key_ok(const char *key)
{
	size_t n = key ? strnlen(key, PG_META_KEY_MAX + 1) : 0;

	return n > 0 && n <= PG_META_KEY_MAX;
}

/* pg_meta_get copies the value of key into a new string (caller frees). */
static enum sa_err
pg_meta_get(struct dstore *store, const char *key, char **out)
{
	struct pg_store *ds = pg_of(store);
	const char *vals[1] = {key};
	const struct pg_query q = {.sql =
				       "SELECT value FROM meta WHERE key = $1",
				   .nparams = 1,
				   .values = vals};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	char *v;
	enum sa_err rc;

	if (!pg_meta_key_ok(key))
		return SA_ERR_VALIDATION;
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_exec(s, "meta get", &q, PGRES_TUPLES_OK, &r)) != SA_OK)
		goto out;
	if (PQntuples(r) == 0) {
		rc = SA_ERR_NOT_FOUND;
		goto out;
	}
	if ((v = pg_col_strndup(r, 0, 0)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	*out = v;
out:
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

/* pg_meta_set inserts or replaces key's value. */
static enum sa_err
pg_meta_set(struct dstore *store, const char *key, const char *value)
{
	struct pg_store *ds = pg_of(store);
	const char *vals[2] = {key, value};
	const struct pg_query q = {
	    .sql = "INSERT INTO meta (key, value) VALUES ($1, $2)"
		   " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	    .nparams = 2,
	    .values = vals};
	struct pg_slot *s = NULL;
	enum sa_err rc;

	if (!pg_meta_key_ok(key) || value == NULL ||
	    strnlen(value, PG_META_VALUE_MAX + 1) > PG_META_VALUE_MAX)
		return SA_ERR_VALIDATION;
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "meta set", &q, PGRES_COMMAND_OK, NULL);
	pg_release(ds, s);
	return rc;
}

/* ---- Enrollments -------------------------------------------------------- */

#define PG_ENROLL_COLS                                                         \
	"authority, token_id, device_id, public_key_pem, fcm_token, "          \
	"push_endpoint,"                                                       \
	" trust_level, claims, seal_fingerprint, created_at, expires_at,"      \
	" revoked_at"

/* pg_col_copy copies a text column into a fixed buffer, cutting it. */
static void
pg_col_copy(const PGresult *r, int row, int col, char *out, size_t cap)
{
	snprintf(out, cap, "%s", PQgetvalue(r, row, col));
}

/* pg_col_strdup_or_null copies a text column, NULL for SQL NULL; *nomem
 * is set when a copy failed. */
static char *
pg_col_strdup_or_null(const PGresult *r, int row, int col, int *nomem)
{
	char *v;

	if (PQgetisnull(r, row, col))
		return NULL;
	if ((v = pg_col_strndup(r, row, col)) == NULL)
		*nomem = 1;
	return v;
}

/*
 * pg_enroll_from fills *out from row 0 of a text result of PG_ENROLL_COLS
 * (the caller frees it with enrollment_free); SA_ERR_NOT_FOUND if the
 * result has no row.
 */
static enum sa_err
pg_enroll_from(const PGresult *r, struct enrollment *out)
{
	struct enrollment e;
	int nomem = 0;

	if (r == NULL || PQntuples(r) == 0)
		return SA_ERR_NOT_FOUND;
	memset(&e, 0, sizeof(e));
	pg_col_copy(r, 0, 0, e.authority, sizeof(e.authority));
	pg_col_copy(r, 0, 1, e.token_id, sizeof(e.token_id));
	pg_col_copy(r, 0, 2, e.device_id, sizeof(e.device_id));
	e.public_key_pem = pg_col_strdup_or_null(r, 0, 3, &nomem);
	e.fcm_token = pg_col_strdup_or_null(r, 0, 4, &nomem);
	e.push_endpoint = pg_col_strdup_or_null(r, 0, 5, &nomem);
	pg_col_copy(r, 0, 6, e.trust_level, sizeof(e.trust_level));
	e.claims = pg_col_strdup_or_null(r, 0, 7, &nomem);
	pg_col_copy(r, 0, 8, e.seal_fingerprint, sizeof(e.seal_fingerprint));
	e.created_at = pg_col_int64(r, 0, 9);
	e.expires_at = pg_col_int64(r, 0, 10);
	e.revoked_at = pg_col_int64(r, 0, 11);
	if (nomem || e.public_key_pem == NULL || e.claims == NULL) {
		enrollment_free(&e);
		return SA_ERR_NOMEM;
	}
	*out = e;
	return SA_OK;
}

static enum sa_err
pg_enroll_get(struct dstore *store, const char *token_id,
	      struct enrollment *out)
{
	struct pg_store *ds = pg_of(store);
	const char *vals[1] = {token_id};
	const struct pg_query q = {.sql =
				       "SELECT " PG_ENROLL_COLS
				       " FROM enrollments WHERE token_id = $1",
				   .nparams = 1,
				   .values = vals};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_exec(s, "enrollment get", &q, PGRES_TUPLES_OK, &r)) ==
	    SA_OK)
		rc = pg_enroll_from(r, out);
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

/* The enrollment lock: the two-key advisory lock of a token id, shared by
 * put and revoke so neither can slip between the other's check and write. */
#define PG_ENROLL_LOCK                                                         \
	"SELECT pg_advisory_xact_lock(" PG_LOCK_ENROLL_CLASS ", hashtext($1))"

/*
 * pg_enroll_put replaces the binding in one transaction: under the token
 * id's lock it locks the old row (FOR UPDATE, which also waits out a
 * revocation by fingerprint touching it), then checks the revoked list and
 * upserts. Two round trips: the reads, then the write and COMMIT.
 */
static enum sa_err
pg_enroll_put(struct dstore *store, const struct enrollment *e,
	      enum enroll_put_mode mode, struct enrollment *prev, int *had_prev)
{
	struct pg_store *ds = pg_of(store);
	char created[24], expires[24];
	const char *key[1] = {e->token_id};
	const char *vals[11] = {
	    e->authority,      e->token_id,  e->device_id,
	    e->public_key_pem, e->fcm_token, e->push_endpoint,
	    e->trust_level,    e->claims,    e->seal_fingerprint,
	    created,	       expires};
	const struct pg_query reads[] = {
	    {.sql = "BEGIN"},
	    {.sql = PG_ENROLL_LOCK, .nparams = 1, .values = key},
	    {.sql = "SELECT " PG_ENROLL_COLS " FROM enrollments"
		    " WHERE token_id = $1 FOR UPDATE",
	     .nparams = 1,
	     .values = key},
	    {.sql = "SELECT 1 FROM revoked_tokens WHERE token_id = $1",
	     .nparams = 1,
	     .values = key},
	};
	const struct pg_query writes[] = {
	    {.sql = "INSERT INTO enrollments (" PG_ENROLL_COLS ")"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)"
		    " ON CONFLICT (token_id) DO UPDATE SET"
		    " authority = excluded.authority,"
		    " device_id = excluded.device_id,"
		    " public_key_pem = excluded.public_key_pem,"
		    " fcm_token = excluded.fcm_token,"
		    " push_endpoint = excluded.push_endpoint,"
		    " trust_level = excluded.trust_level,"
		    " claims = excluded.claims,"
		    " seal_fingerprint = excluded.seal_fingerprint,"
		    " created_at = excluded.created_at,"
		    " expires_at = excluded.expires_at,"
		    " revoked_at = 0",
	     .nparams = 11,
	     .values = vals},
	    {.sql = "COMMIT"},
	};
	PGresult *res[ARRAY_LEN(reads)];
	struct enrollment old;
	struct pg_slot *s = NULL;
	int had = 0;
	enum sa_err rc;

	memset(&old, 0, sizeof(old));
	memset(res, 0, sizeof(res));
	snprintf(created, sizeof(created), "%" PRId64, e->created_at);
	snprintf(expires, sizeof(expires), "%" PRId64, e->expires_at);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		goto out;
	if ((rc = pg_pipeline(s, reads, ARRAY_LEN(reads), res)) != SA_OK) {
		pg_report(s, "enrollment put", rc);
		goto out;
	}
	if (res[3] == NULL || PQntuples(res[3]) > 0) {
		rc = res[3] == NULL ? SA_ERR_INTERNAL : SA_ERR_TOKEN_REVOKED;
		goto out;
	}
	rc = pg_enroll_from(res[2], &old);
	if (rc == SA_OK)
		had = 1;
	else if (rc != SA_ERR_NOT_FOUND)
		goto out;
	if (had && (rc = enroll_put_check(&old, e, mode)) != SA_OK)
		goto out;
	if ((rc = pg_pipeline(s, writes, ARRAY_LEN(writes), NULL)) != SA_OK)
		pg_report(s, "enrollment put", rc);
out:
	pg_clear_all(res, ARRAY_LEN(res));
	if (s != NULL && rc != SA_OK)
		pg_rollback(s);
	pg_release(ds, s);
	if ((rc == SA_OK || rc == SA_ERR_CONFLICT ||
	     rc == SA_ERR_AUTHORITY_CONFLICT) &&
	    had) {
		*prev = old;
		*had_prev = 1;
	} else {
		enrollment_free(&old);
		*had_prev = 0;
	}
	return rc;
}

/*
 * pg_enroll_revoke puts the token id on the revoked list (the first
 * revocation's time and reason stay) and marks its enrollment, in one
 * transaction under the token id's lock: one round trip.
 */
static enum sa_err
pg_enroll_revoke(struct dstore *store, const char *token_id, int64_t when,
		 const char *reason)
{
	struct pg_store *ds = pg_of(store);
	char at[24];
	const char *key[1] = {token_id};
	const char *ins[3] = {token_id, at, reason};
	const char *upd[2] = {at, token_id};
	const struct pg_query qs[] = {
	    {.sql = "BEGIN"},
	    {.sql = PG_ENROLL_LOCK, .nparams = 1, .values = key},
	    {.sql = "INSERT INTO revoked_tokens (token_id, revoked_at, reason)"
		    " VALUES ($1, $2, $3) ON CONFLICT (token_id) DO NOTHING",
	     .nparams = 3,
	     .values = ins},
	    {.sql = "UPDATE enrollments SET revoked_at = $1"
		    " WHERE token_id = $2 AND revoked_at = 0",
	     .nparams = 2,
	     .values = upd},
	    {.sql = "COMMIT"},
	};
	struct pg_slot *s = NULL;
	enum sa_err rc;

	snprintf(at, sizeof(at), "%" PRId64, when);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_pipeline(s, qs, ARRAY_LEN(qs), NULL)) != SA_OK) {
		pg_report(s, "enrollment revoke", rc);
		pg_rollback(s);
	}
	pg_release(ds, s);
	return rc;
}

/*
 * pg_enroll_revoke_fingerprint revokes the live enrollments made with a
 * seal and puts their token ids on the revoked list, in one statement (so
 * one transaction); *count is how many enrollments it revoked.
 */
static enum sa_err
pg_enroll_revoke_fingerprint(struct dstore *store, const char *fingerprint,
			     int64_t when, int *count)
{
	struct pg_store *ds = pg_of(store);
	char at[24];
	const char *vals[2] = {at, fingerprint};
	const struct pg_query q = {
	    .sql = "WITH r AS (UPDATE enrollments SET revoked_at = $1"
		   " WHERE seal_fingerprint = $2 AND revoked_at = 0"
		   " RETURNING token_id),"
		   " i AS (INSERT INTO revoked_tokens (token_id, revoked_at,"
		   " reason) SELECT token_id, $1, 'seal on the revocation list'"
		   " FROM r ON CONFLICT (token_id) DO NOTHING)"
		   " SELECT count(*) FROM r",
	    .nparams = 2,
	    .values = vals};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	snprintf(at, sizeof(at), "%" PRId64, when);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "enrollment revoke by fingerprint", &q, PGRES_TUPLES_OK,
		     &r);
	if (rc == SA_OK && PQntuples(r) != 1)
		rc = SA_ERR_INTERNAL;
	if (rc == SA_OK)
		*count = (int)pg_col_int64(r, 0, 0);
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

static enum sa_err
pg_enroll_count(struct dstore *store, int64_t *out)
{
	struct pg_store *ds = pg_of(store);
	return pg_query_int64(
	    ds, "SELECT count(*) FROM enrollments WHERE revoked_at = 0", out);
}

/* ---- Relying parties ---------------------------------------------------- */

#define PG_SERVICES_VERSION                                                    \
	"SELECT coalesce((SELECT value::bigint FROM meta"                      \
	" WHERE key = 'services.version'), 0)"

/* The tail of every registry write: bump the version when the write (the
 * CTE "w") touched a row, and say so by returning one row. */
#define PG_SERVICES_BUMP                                                       \
	" INSERT INTO meta (key, value) SELECT 'services.version', '1'"        \
	" WHERE EXISTS (SELECT 1 FROM w)"                                      \
	" ON CONFLICT (key) DO UPDATE SET"                                     \
	" value = (meta.value::bigint + 1)::text RETURNING 1"

static enum sa_err
pg_services_version(struct dstore *store, int64_t *out)
{
	struct pg_store *ds = pg_of(store);
	return pg_query_int64(ds, PG_SERVICES_VERSION, out);
}

/*
 * pg_services_read reads the version, then the records; the callbacks run
 * on the result after the connection went back to the pool.
 */
static enum sa_err
pg_services_read(struct dstore *store, int64_t *version, service_row_cb cb,
		 void *arg)
{
	struct pg_store *ds = pg_of(store);
	const struct pg_query q = {
	    .sql = "SELECT id, name, scopes, origins, match_mode,"
		   " enabled::int, settings, created_at, updated_at"
		   " FROM services ORDER BY id"};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	int64_t v = 0;
	enum sa_err rc;

	if ((rc = pg_query_int64(ds, PG_SERVICES_VERSION, &v)) != SA_OK)
		return rc;
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "services read", &q, PGRES_TUPLES_OK, &r);
	pg_release(ds, s);
	if (rc != SA_OK)
		goto out;
	for (int i = 0; i < PQntuples(r); i++) {
		struct service_row row = {
		    .id = PQgetvalue(r, i, 0),
		    .name = PQgetvalue(r, i, 1),
		    .scopes = PQgetvalue(r, i, 2),
		    .origins = PQgetvalue(r, i, 3),
		    .match_mode = PQgetvalue(r, i, 4),
		    .enabled = (int)pg_col_int64(r, i, 5),
		    .settings = PQgetvalue(r, i, 6),
		    .created_at = pg_col_int64(r, i, 7),
		    .updated_at = pg_col_int64(r, i, 8),
		};
		if (cb(&row, arg) != 0)
			break;
	}
	*version = v;
out:
	PQclear(r);
	return rc;
}

/*
 * pg_service_write writes a record and bumps the version in one statement
 * (so one transaction). A create that meets an existing id, or an update
 * that meets none, touches no row and returns none.
 */
static enum sa_err
pg_service_write(struct dstore *store, const struct service_row *row,
		 enum dstore_write how)
{
	struct pg_store *ds = pg_of(store);
	static const char *const sql[] = {
	    [DSTORE_CREATE] =
		"WITH w AS (INSERT INTO services (id, name, scopes, origins,"
		" match_mode, enabled, settings, created_at, updated_at)"
		" VALUES ($1, $2, $3, $4, $5, $6::boolean, $7, $8, $9)"
		" ON CONFLICT (id) DO NOTHING RETURNING 1)" PG_SERVICES_BUMP,
	    [DSTORE_UPDATE] =
		"WITH w AS (UPDATE services SET name = $2, scopes = $3,"
		" origins = $4, match_mode = $5, enabled = $6::boolean,"
		" settings = $7, updated_at = $9 WHERE id = $1"
		" AND $8::bigint IS NOT NULL RETURNING 1)" PG_SERVICES_BUMP,
	    [DSTORE_UPSERT] =
		"WITH w AS (INSERT INTO services (id, name, scopes, origins,"
		" match_mode, enabled, settings, created_at, updated_at)"
		" VALUES ($1, $2, $3, $4, $5, $6::boolean, $7, $8, $9)"
		" ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
		" scopes = excluded.scopes, origins = excluded.origins,"
		" match_mode = excluded.match_mode,"
		" enabled = excluded.enabled, settings = excluded.settings,"
		" updated_at = excluded.updated_at RETURNING "
		"1)" PG_SERVICES_BUMP,
	};
	char created[24], updated[24];
	const char *vals[9] = {
	    row->id,	   row->name,	    row->scopes,
	    row->origins,  row->match_mode, row->enabled ? "true" : "false",
	    row->settings, created,	    updated};
	const struct pg_query q = {
	    .sql = sql[how], .nparams = 9, .values = vals};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	snprintf(created, sizeof(created), "%" PRId64, row->created_at);
	snprintf(updated, sizeof(updated), "%" PRId64, row->updated_at);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "service write", &q, PGRES_TUPLES_OK, &r);
	if (rc == SA_OK && PQntuples(r) == 0)
		rc = how == DSTORE_CREATE ? SA_ERR_CONFLICT : SA_ERR_NOT_FOUND;
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

static enum sa_err
pg_service_delete(struct dstore *store, const char *id)
{
	struct pg_store *ds = pg_of(store);
	const char *vals[1] = {id};
	const struct pg_query q = {
	    .sql = "WITH w AS (DELETE FROM services WHERE id = $1"
		   " RETURNING 1)" PG_SERVICES_BUMP,
	    .nparams = 1,
	    .values = vals};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "service delete", &q, PGRES_TUPLES_OK, &r);
	if (rc == SA_OK && PQntuples(r) == 0)
		rc = SA_ERR_NOT_FOUND;
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

/* ---- Administration records --------------------------------------------- */

/*
 * pg_rec_apply runs one operation inside the caller's transaction. Every
 * statement takes the same eight parameters: kind, id, owner, doc,
 * version, expires_at (NULL where the operation has none).
 */
static enum sa_err
pg_rec_apply(struct pg_slot *s, const struct dstore_rec_op *o)
{
	static const char *const sql[] = {
	    [REC_CREATE] = "INSERT INTO admin_records (kind, id, owner, doc,"
			   " version, expires_at) VALUES ($1, $2, $3, $4, 1,"
			   " $6::bigint) ON CONFLICT (kind, id) DO NOTHING"
			   " RETURNING $5::bigint",
	    [REC_UPDATE] = "UPDATE admin_records SET owner = $3, doc = $4,"
			   " version = version + 1, expires_at = $6::bigint"
			   " WHERE kind = $1 AND id = $2"
			   " AND ($5::bigint = 0 OR version = $5::bigint)"
			   " RETURNING 1",
	    [REC_DELETE] = "DELETE FROM admin_records WHERE kind = $1"
			   " AND id = $2 AND ($3::text IS NULL OR owner = $3)"
			   " AND $4::text IS NULL AND $5::bigint IS NOT NULL"
			   " AND $6::bigint IS NOT NULL RETURNING 1",
	    [REC_DELETE_OWNED] = "DELETE FROM admin_records WHERE kind = $1"
				 " AND owner = $3 AND $2::text IS NULL"
				 " AND $4::text IS NULL"
				 " AND $5::bigint IS NOT NULL"
				 " AND $6::bigint IS NOT NULL RETURNING 1",
	    [REC_REQUIRE_NONE] = "SELECT 1 FROM admin_records WHERE kind = $1"
				 " AND ($3::text IS NULL OR owner = $3)"
				 " AND $2::text IS NULL AND $4::text IS NULL"
				 " AND $5::bigint IS NOT NULL"
				 " AND $6::bigint IS NOT NULL LIMIT 1",
	    [REC_REQUIRE_SOME] = "SELECT 1 FROM admin_records WHERE kind = $1"
				 " AND owner = $3 AND $2::text IS NULL"
				 " AND $4::text IS NULL"
				 " AND $5::bigint IS NOT NULL"
				 " AND $6::bigint IS NOT NULL LIMIT 1",
	    [REC_DELETE_EXPIRED] = "DELETE FROM admin_records WHERE kind = $1"
				   " AND expires_at > 0"
				   " AND expires_at < $6::bigint"
				   " AND $2::text IS NULL AND $3::text IS NULL"
				   " AND $4::text IS NULL"
				   " AND $5::bigint IS NOT NULL RETURNING 1",
	};
	char version[24], expires[24];
	const char *owner = o->owner;
	const char *vals[6];
	struct pg_query q = {.sql = sql[o->op], .nparams = 6, .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;
	int n;

	if (owner == NULL && (o->op == REC_CREATE || o->op == REC_UPDATE ||
			      o->op == REC_DELETE_OWNED))
		owner = "";
	snprintf(version, sizeof(version), "%" PRId64, o->version);
	snprintf(expires, sizeof(expires), "%" PRId64, o->expires_at);
	vals[0] = o->kind;
	vals[1] =
	    o->op == REC_CREATE || o->op == REC_UPDATE || o->op == REC_DELETE
		? o->id
		: NULL;
	vals[2] = owner;
	vals[3] = o->op == REC_CREATE || o->op == REC_UPDATE ? o->doc : NULL;
	vals[4] = version;
	vals[5] = expires;
	if ((rc = pg_exec(s, "record write", &q, PGRES_TUPLES_OK, &r)) != SA_OK)
		return rc;
	n = PQntuples(r);
	PQclear(r);
	switch (o->op) {
	case REC_CREATE:
		return n > 0 ? SA_OK : o->fail ? o->fail : SA_ERR_CONFLICT;
	case REC_UPDATE:
		if (n > 0)
			return SA_OK;
		return o->fail		 ? o->fail
		       : o->version != 0 ? SA_ERR_CONFLICT
					 : SA_ERR_NOT_FOUND;
	case REC_DELETE:
		return n > 0 ? SA_OK : o->fail ? o->fail : SA_ERR_NOT_FOUND;
	case REC_REQUIRE_NONE:
		return n == 0 ? SA_OK : o->fail ? o->fail : SA_ERR_CONFLICT;
	case REC_REQUIRE_SOME:
		return n > 0 ? SA_OK : o->fail ? o->fail : SA_ERR_CONFLICT;
	default:
		return SA_OK;
	}
}

/*
 * pg_rec_write runs the operations in one transaction under the records'
 * advisory lock: every record write of every server sharing the database
 * is serialised, so a guard's count cannot be overtaken by a concurrent
 * delete (administration writes are rare; correctness wins over
 * parallelism here).
 */
static enum sa_err
pg_rec_write(struct dstore *store, const struct dstore_rec_op *ops, size_t n)
{
	struct pg_store *ds = pg_of(store);
	const struct pg_query lock = {
	    .sql = "SELECT pg_advisory_xact_lock(" PG_LOCK_RECORDS ")"};
	struct pg_slot *s = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_exec0(s, "BEGIN")) != SA_OK ||
	    (rc = pg_exec(s, "record lock", &lock, PGRES_TUPLES_OK, NULL)) !=
		SA_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((rc = pg_rec_apply(s, &ops[i])) != SA_OK)
			goto out;
	rc = pg_exec0(s, "COMMIT");
out:
	if (rc != SA_OK)
		pg_rollback(s);
	pg_release(ds, s);
	return rc;
}

/* pg_rec_rows hands the rows of a records SELECT to cb, after the
 * connection went back to the pool. */
static enum sa_err
pg_rec_rows(struct pg_store *ds, const struct pg_query *q, dstore_rec_cb cb,
	    void *arg)
{
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "record read", q, PGRES_TUPLES_OK, &r);
	pg_release(ds, s);
	if (rc != SA_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && i < REC_LIST_MAX; i++) {
		struct dstore_rec rec = {
		    .kind = PQgetvalue(r, i, 0),
		    .id = PQgetvalue(r, i, 1),
		    .owner = PQgetvalue(r, i, 2),
		    .doc = PQgetvalue(r, i, 3),
		    .version = pg_col_int64(r, i, 4),
		    .expires_at = pg_col_int64(r, i, 5),
		};
		if (cb(&rec, arg) != 0)
			break;
	}
	PQclear(r);
	return SA_OK;
}

static enum sa_err
pg_rec_get(struct dstore *store, const char *kind, const char *id,
	   dstore_rec_cb cb, void *arg)
{
	struct pg_store *ds = pg_of(store);
	const char *vals[2] = {kind, id};
	const struct pg_query q = {
	    .sql = "SELECT kind, id, owner, doc, version, expires_at"
		   " FROM admin_records WHERE kind = $1 AND id = $2",
	    .nparams = 2,
	    .values = vals};

	return pg_rec_rows(ds, &q, cb, arg);
}

static enum sa_err
pg_rec_list(struct dstore *store, const char *kind, const char *owner,
	    dstore_rec_cb cb, void *arg)
{
	struct pg_store *ds = pg_of(store);
	const char *vals[2] = {kind, owner};
	const struct pg_query q = {
	    .sql = "SELECT kind, id, owner, doc, version, expires_at"
		   " FROM admin_records WHERE kind = $1"
		   " AND ($2::text IS NULL OR owner = $2) ORDER BY id"
		   " LIMIT 10000",
	    .nparams = 2,
	    .values = vals};

	return pg_rec_rows(ds, &q, cb, arg);
}

/* ---- Trust document sequence numbers and takeovers --------------------- */

/* pg_seq_raise keeps greatest(stored, seq) for doc in one statement. */
static enum sa_err
pg_seq_raise(struct dstore *store, const char *doc, int64_t seq, int64_t now,
	     int64_t *highest)
{
	struct pg_store *ds = pg_of(store);
	char sq[24], nw[24];
	const char *vals[3] = {doc, sq, nw};
	const struct pg_query q = {
	    .sql = "INSERT INTO trust_sequences AS t (doc, seq, updated_at)"
		   " VALUES ($1, $2, $3) ON CONFLICT (doc) DO UPDATE SET"
		   " seq = greatest(t.seq, excluded.seq), updated_at = CASE"
		   " WHEN excluded.seq > t.seq THEN excluded.updated_at ELSE"
		   " t.updated_at END RETURNING seq",
	    .nparams = 3,
	    .values = vals};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	snprintf(sq, sizeof(sq), "%" PRId64, seq);
	snprintf(nw, sizeof(nw), "%" PRId64, now);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_exec(s, "sequence raise", &q, PGRES_TUPLES_OK, &r)) ==
	    SA_OK) {
		if (PQntuples(r) == 1)
			*highest = pg_col_int64(r, 0, 0);
		else
			rc = SA_ERR_INTERNAL;
	}
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

#define PG_TAKEOVER_COLS                                                       \
	"id, authority, token_id, enrollment, created_at, effective_at"

/* pg_takeover_query runs a query returning at most one takeover row. */
static enum sa_err
pg_takeover_query(struct dstore *store, const char *what, const char *sql,
		  const char *const *vals, int n, struct takeover *out)
{
	struct pg_store *ds = pg_of(store);
	const struct pg_query q = {.sql = sql, .nparams = n, .values = vals};
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	struct takeover t;
	enum sa_err rc;

	memset(&t, 0, sizeof(t));
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_exec(s, what, &q, PGRES_TUPLES_OK, &r)) != SA_OK)
		goto out;
	if (PQntuples(r) == 0) {
		rc = SA_ERR_NOT_FOUND;
		goto out;
	}
	pg_col_copy(r, 0, 0, t.id, sizeof(t.id));
	pg_col_copy(r, 0, 1, t.authority, sizeof(t.authority));
	pg_col_copy(r, 0, 2, t.token_id, sizeof(t.token_id));
	t.enrollment = pg_col_strndup(r, 0, 3);
	t.created_at = pg_col_int64(r, 0, 4);
	t.effective_at = pg_col_int64(r, 0, 5);
	if (t.enrollment == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	*out = t;
out:
	PQclear(r);
	pg_release(ds, s);
	return rc;
}

static enum sa_err
pg_takeover_put(struct dstore *store, const struct takeover *t)
{
	struct pg_store *ds = pg_of(store);
	char created[24], effective[24];
	const char *vals[6] = {t->id,	      t->authority, t->token_id,
			       t->enrollment, created,	    effective};
	const struct pg_query q = {
	    .sql = "INSERT INTO takeovers (" PG_TAKEOVER_COLS ")"
		   " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_id)"
		   " DO UPDATE SET id = excluded.id,"
		   " authority = excluded.authority,"
		   " enrollment = excluded.enrollment,"
		   " created_at = excluded.created_at,"
		   " effective_at = excluded.effective_at",
	    .nparams = 6,
	    .values = vals};
	struct pg_slot *s = NULL;
	enum sa_err rc;

	snprintf(created, sizeof(created), "%" PRId64, t->created_at);
	snprintf(effective, sizeof(effective), "%" PRId64, t->effective_at);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "takeover put", &q, PGRES_COMMAND_OK, NULL);
	pg_release(ds, s);
	return rc;
}

static enum sa_err
pg_takeover_get(struct dstore *ds, const char *token_id, struct takeover *out)
{
	const char *vals[1] = {token_id};

	return pg_takeover_query(ds, "takeover get",
				 "SELECT " PG_TAKEOVER_COLS
				 " FROM takeovers WHERE token_id = $1",
				 vals, 1, out);
}

static enum sa_err
pg_takeover_take(struct dstore *ds, const char *token_id, const char *id,
		 struct takeover *out)
{
	const char *vals[2] = {token_id, id};

	return pg_takeover_query(ds, "takeover take",
				 "DELETE FROM takeovers WHERE token_id = $1"
				 " AND id = $2 RETURNING " PG_TAKEOVER_COLS,
				 vals, 2, out);
}

const struct dstore_ops store_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .ping = pg_ping,
    .audit_append = pg_audit_append,
    .audit_iter = pg_audit_iter,
    .audit_count = pg_audit_count,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .enroll_put = pg_enroll_put,
    .enroll_get = pg_enroll_get,
    .enroll_revoke = pg_enroll_revoke,
    .enroll_revoke_fingerprint = pg_enroll_revoke_fingerprint,
    .enroll_count = pg_enroll_count,
    .services_version = pg_services_version,
    .services_read = pg_services_read,
    .service_write = pg_service_write,
    .service_delete = pg_service_delete,
    .rec_write = pg_rec_write,
    .rec_get = pg_rec_get,
    .rec_list = pg_rec_list,
    .seq_raise = pg_seq_raise,
    .takeover_put = pg_takeover_put,
    .takeover_get = pg_takeover_get,
    .takeover_take = pg_takeover_take,
};
