/*
 * store_pg_enroll.c - enrollments, the revoked list and pending takeovers
 * in the PostgreSQL store.
 *
 * A write to one token id's enrollment or revocation runs under that token
 * id's advisory lock (PG_ENROLL_LOCK), so a put and a revoke from any
 * instance cannot slip between each other's check and write.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/util.h"
#include "store/store_pg_int.h"

/* ---- Enrollments -------------------------------------------------------- */

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
 * pg_enroll_from fills *out from row 0 of a text result of DSTORE_ENROLL_COLS
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

enum sa_err
pg_enroll_get(struct dstore *store, const char *token_id,
	      struct enrollment *out)
{
	const char *vals[1] = {token_id};
	const struct pg_query q = {.sql =
				       "SELECT " DSTORE_ENROLL_COLS
				       " FROM enrollments WHERE token_id = $1",
				   .nparams = 1,
				   .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_once(pg_of(store), "enrollment get", &q, PGRES_TUPLES_OK,
			  &r)) == SA_OK)
		rc = pg_enroll_from(r, out);
	PQclear(r);
	return rc;
}

enum sa_err
pg_enroll_count(struct dstore *store, int64_t *out)
{
	return pg_query_int64(pg_of(store), DSTORE_ENROLL_COUNT, NULL, 0, out);
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
enum sa_err
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
	    {.sql = "SELECT " DSTORE_ENROLL_COLS " FROM enrollments"
		    " WHERE token_id = $1 FOR UPDATE",
	     .nparams = 1,
	     .values = key},
	    {.sql = "SELECT 1 FROM revoked_tokens WHERE token_id = $1",
	     .nparams = 1,
	     .values = key},
	};
	const struct pg_query writes[] = {
	    {.sql = "INSERT INTO enrollments (" DSTORE_ENROLL_COLS ")"
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
	enroll_put_prev(rc, had, &old, prev, had_prev);
	return rc;
}

/*
 * pg_enroll_revoke puts the token id on the revoked list (the first
 * revocation's time and reason stay) and marks its enrollment, in one
 * transaction under the token id's lock: one round trip.
 */
enum sa_err
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
enum sa_err
pg_enroll_revoke_fingerprint(struct dstore *store, const char *fingerprint,
			     int64_t when, int *count)
{
	char at[24];
	const char *vals[2] = {at, fingerprint};
	int64_t n = 0;
	enum sa_err rc;

	snprintf(at, sizeof(at), "%" PRId64, when);
	rc = pg_query_int64(
	    pg_of(store),
	    "WITH r AS (UPDATE enrollments SET revoked_at = $1"
	    " WHERE seal_fingerprint = $2 AND revoked_at = 0"
	    " RETURNING token_id),"
	    " i AS (INSERT INTO revoked_tokens (token_id, revoked_at,"
	    " reason) SELECT token_id, $1, 'seal on the revocation list'"
	    " FROM r ON CONFLICT (token_id) DO NOTHING)"
	    " SELECT count(*) FROM r",
	    vals, 2, &n);
	if (rc == SA_OK)
		*count = (int)n;
	return rc;
}

/* pg_enroll_list runs the admin API's page query (store.h). */
enum sa_err
pg_enroll_list(struct dstore *store, const struct enroll_filter *f,
	       enroll_row_cb cb, void *arg)
{
	struct pg_store *ds = pg_of(store);
	char status[8], now[24], since[24], until[24], after[24], limit[16];
	const char *vals[9] = {
	    f->token_prefix, f->authority, status,	   now,	 since,
	    until,	     after,	   f->after_token, limit};
	const struct pg_query q = {
	    .sql = "SELECT authority, token_id, device_id, fcm_token,"
		   " push_endpoint, trust_level, seal_fingerprint, created_at,"
		   " expires_at, revoked_at FROM enrollments"
		   " WHERE substr(token_id, 1, length($1::text)) = $1::text"
		   " AND ($2::text = '' OR authority = $2::text)"
		   " AND ($3::int = 0 OR ($3::int = 1 AND revoked_at = 0"
		   " AND expires_at > $4::bigint)"
		   " OR ($3::int = 2 AND revoked_at <> 0)"
		   " OR ($3::int = 3 AND revoked_at = 0"
		   " AND expires_at <= $4::bigint))"
		   " AND created_at >= $5::bigint"
		   " AND ($6::bigint = 0 OR created_at < $6::bigint)"
		   " AND ($8::text = '' OR created_at < $7::bigint"
		   " OR (created_at = $7::bigint AND token_id > $8::text))"
		   " ORDER BY created_at DESC, token_id ASC LIMIT $9::int",
	    .nparams = 9,
	    .values = vals};
	struct enrollment e;
	struct pg_slot *s = NULL;
	PGresult *r = NULL;
	enum sa_err rc;

	snprintf(status, sizeof(status), "%d", (int)f->status);
	snprintf(now, sizeof(now), "%" PRId64, f->now);
	snprintf(since, sizeof(since), "%" PRId64, f->since);
	snprintf(until, sizeof(until), "%" PRId64, f->until);
	snprintf(after, sizeof(after), "%" PRId64, f->after_created);
	snprintf(limit, sizeof(limit), "%d", f->limit);
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, "enrollment list", &q, PGRES_TUPLES_OK, &r);
	pg_release(ds, s);
	for (int i = 0; rc == SA_OK && i < PQntuples(r); i++) {
		memset(&e, 0, sizeof(e));
		pg_col_copy(r, i, 0, e.authority, sizeof(e.authority));
		pg_col_copy(r, i, 1, e.token_id, sizeof(e.token_id));
		pg_col_copy(r, i, 2, e.device_id, sizeof(e.device_id));
		e.fcm_token = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
		e.push_endpoint =
		    PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
		pg_col_copy(r, i, 5, e.trust_level, sizeof(e.trust_level));
		pg_col_copy(r, i, 6, e.seal_fingerprint,
			    sizeof(e.seal_fingerprint));
		e.created_at = pg_col_int64(r, i, 7);
		e.expires_at = pg_col_int64(r, i, 8);
		e.revoked_at = pg_col_int64(r, i, 9);
		if (cb(&e, arg) != 0)
			break;
	}
	PQclear(r);
	return rc;
}

/* ---- Takeovers ---------------------------------------------------------- */

/* pg_takeover_query runs a query returning at most one takeover row. */
static enum sa_err
pg_takeover_query(struct dstore *store, const char *what, const char *sql,
		  const char *const *vals, int n, struct takeover *out)
{
	const struct pg_query q = {.sql = sql, .nparams = n, .values = vals};
	PGresult *r = NULL;
	struct takeover t;
	enum sa_err rc;

	memset(&t, 0, sizeof(t));
	if ((rc = pg_once(pg_of(store), what, &q, PGRES_TUPLES_OK, &r)) !=
	    SA_OK)
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
	return rc;
}

enum sa_err
pg_takeover_put(struct dstore *store, const struct takeover *t)
{
	char created[24], effective[24];
	const char *vals[6] = {t->id,	      t->authority, t->token_id,
			       t->enrollment, created,	    effective};
	const struct pg_query q = {
	    .sql = "INSERT INTO takeovers (" DSTORE_TAKEOVER_COLS ")"
		   " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_id)"
		   " DO UPDATE SET id = excluded.id,"
		   " authority = excluded.authority,"
		   " enrollment = excluded.enrollment,"
		   " created_at = excluded.created_at,"
		   " effective_at = excluded.effective_at",
	    .nparams = 6,
	    .values = vals};

	snprintf(created, sizeof(created), "%" PRId64, t->created_at);
	snprintf(effective, sizeof(effective), "%" PRId64, t->effective_at);
	return pg_once(pg_of(store), "takeover put", &q, PGRES_COMMAND_OK,
		       NULL);
}

enum sa_err
pg_takeover_get(struct dstore *ds, const char *token_id, struct takeover *out)
{
	const char *vals[1] = {token_id};

	return pg_takeover_query(ds, "takeover get",
				 "SELECT " DSTORE_TAKEOVER_COLS
				 " FROM takeovers WHERE token_id = $1",
				 vals, 1, out);
}

enum sa_err
pg_takeover_take(struct dstore *ds, const char *token_id, const char *id,
		 struct takeover *out)
{
	const char *vals[2] = {token_id, id};

	return pg_takeover_query(ds, "takeover take",
				 "DELETE FROM takeovers WHERE token_id = $1"
				 " AND id = $2 RETURNING " DSTORE_TAKEOVER_COLS,
				 vals, 2, out);
}
