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
 *
 * This file opens the database and keeps the audit log and the metadata;
 * enrollments and takeovers are in store_pg_enroll.c, the registry, the
 * administration records and trust sequence numbers in store_pg_admin.c
 * (store_pg_int.h).
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
#include "store/pq_lib.h"
#include "store/store_pg_int.h"
#include "core/util.h"

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
 * cannot parse, or a libpq that cannot be loaded (waiting would not bring
 * it), is SA_ERR_CONFIG; a server that does not answer is
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
	/* Opened here, on first use: a missing libpq says so, not "out of
	 * memory" (its stubs return NULL). */
	if (!pq_lib_usable()) {
		log_error("store.pg",
			  "the PostgreSQL store needs libpq (%s), which could "
			  "not be loaded: install the libpq5 package",
			  PQ_LIB_SONAME);
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
	int64_t one = 0;
	enum sa_err rc;

	rc = pg_query_int64(pg_of(store), "SELECT 1", NULL, 0, &one);
	if (rc == SA_OK && one != 1)
		rc = SA_ERR_INTERNAL;
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
 * What an audit append runs first: the transaction, a synchronous commit
 * whatever the server default, the audit lock (held until COMMIT, so
 * instances append one at a time) and the read of the tail.
 */
static const struct pg_query pg_audit_head[] = {
    {.sql = "BEGIN"},
    {.sql = "SET LOCAL synchronous_commit = on"},
    {.sql = "SELECT pg_advisory_xact_lock(" PG_LOCK_AUDIT ")"},
    {.sql = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
     .binary = 1},
};

/* pg_tail_note keeps the last row this handle saw committed. */
static void
pg_tail_note(struct pg_store *ds, const struct audit_row *last)
{
	pthread_mutex_lock(&ds->mu);
	if (!ds->tail_known || last->seq > ds->tail_seq) {
		ds->tail_known = 1;
		ds->tail_seq = last->seq;
		memcpy(ds->tail_hash, last->hash, 32);
	}
	pthread_mutex_unlock(&ds->mu);
}

enum sa_err
pg_commit_audited(struct pg_store *ds, struct pg_slot *s, const char *what,
		  const struct dstore_audit *au,
		  const struct dstore_found *found)
{
	struct audit_row rows[DSTORE_AUDIT_ROWS_MAX];
	struct audit_row chained[DSTORE_AUDIT_ROWS_MAX];
	struct pg_audit_params params[DSTORE_AUDIT_ROWS_MAX];
	struct pg_query qs[DSTORE_AUDIT_ROWS_MAX + 1];
	PGresult *res[ARRAY_LEN(pg_audit_head) - 1];
	unsigned char prev[32];
	int64_t seq = 0;
	size_t n = 0, k = 0;
	enum sa_err rc;

	if ((rc = dstore_audit_rows(au, found, rows, &n)) != SA_OK) {
		pg_rollback(s);
		return rc;
	}
	if (n > 0) {
		rc = pg_pipeline(s, pg_audit_head + 1, ARRAY_LEN(res), res);
		if (rc == SA_OK)
			rc = pg_audit_tail(res[ARRAY_LEN(res) - 1], &seq, prev);
		pg_clear_all(res, ARRAY_LEN(res));
		if (rc == SA_OK) {
			audit_rows_chain(rows, chained, n, seq, prev);
			for (size_t i = 0; i < n; i++)
				pg_audit_bind(&params[i], &chained[i],
					      &qs[k++]);
		}
	}
	if (rc == SA_OK) {
		qs[k++] = (struct pg_query){.sql = "COMMIT"};
		rc = pg_pipeline(s, qs, k, NULL);
	}
	if (rc != SA_OK) {
		pg_report(s, what, rc);
		pg_rollback(s);
		return rc;
	}
	if (n > 0)
		pg_tail_note(ds, &chained[n - 1]);
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
	const struct pg_query *head = pg_audit_head;
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
	audit_rows_chain(rows, chained, n, seq, tail);
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
	pg_tail_note(ds, &chained[n - 1]);
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

/* pg_col_strndup copies a column's bytes into a new string. */
char *
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
	PGresult *r = NULL;
	enum sa_err rc;

	snprintf(from, sizeof(from), "%" PRId64, from_seq);
	snprintf(lim, sizeof(lim), "%zu", want);
	if ((rc = pg_once(ds, "audit read", &q, PGRES_TUPLES_OK, &r)) != SA_OK)
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

/* pg_query_int64 runs a statement that returns one row of one value (a
 * write with RETURNING too) with n text parameters. */
enum sa_err
pg_query_int64(struct pg_store *ds, const char *sql, const char *const *vals,
	       int n, int64_t *out)
{
	const struct pg_query q = {.sql = sql, .nparams = n, .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;

	rc = pg_once(ds, sql, &q, PGRES_TUPLES_OK, &r);
	if (rc == SA_OK && (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)))
		rc = SA_ERR_INTERNAL;
	if (rc == SA_OK)
		*out = pg_col_int64(r, 0, 0);
	PQclear(r);
	return rc;
}

static enum sa_err
pg_audit_count(struct dstore *store, int64_t *out)
{
	return pg_query_int64(pg_of(store), "SELECT count(*) FROM audit", NULL,
			      0, out);
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
	PGresult *r = NULL;
	char *v;
	enum sa_err rc;

	if (!pg_meta_key_ok(key))
		return SA_ERR_VALIDATION;
	if ((rc = pg_once(ds, "meta get", &q, PGRES_TUPLES_OK, &r)) != SA_OK)
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
	return rc;
}

/* pg_meta_set inserts or replaces key's value. */
static enum sa_err
pg_meta_set(struct dstore *store, const char *key, const char *value)
{
	const char *vals[2] = {key, value};
	const struct pg_query q = {
	    .sql = "INSERT INTO meta (key, value) VALUES ($1, $2)"
		   " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	    .nparams = 2,
	    .values = vals};

	if (!pg_meta_key_ok(key) || value == NULL ||
	    strnlen(value, PG_META_VALUE_MAX + 1) > PG_META_VALUE_MAX)
		return SA_ERR_VALIDATION;
	return pg_once(pg_of(store), "meta set", &q, PGRES_COMMAND_OK, NULL);
}

/* Each operation of the lists in store_int.h is pg_ and its name. */
#define PG_OP_INIT(op, params) .op = pg_##op,
const struct dstore_ops store_pg_ops = {.name = "postgres",
					.open = pg_open,
					.close = pg_close,
					DSTORE_CORE_OPS(PG_OP_INIT)
					    DSTORE_ENROLL_OPS(PG_OP_INIT)
						DSTORE_ADMIN_OPS(PG_OP_INIT)};
