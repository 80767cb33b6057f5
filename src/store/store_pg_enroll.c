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
 * pg_enroll_from fills *out (a struct enrollment) from row 0 of a text result
 * of DSTORE_ENROLL_COLS (the caller frees it with enrollment_free);
 * SA_ERR_NOT_FOUND if the result has no row.
 */
static enum sa_err
pg_enroll_from(const PGresult *r, void *out)
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
	*(struct enrollment *)out = e;
	return SA_OK;
}

/*
 * pg_by_token runs a read whose one parameter is a token id and hands its
 * result to from, which fills out (SA_ERR_NOT_FOUND without a row).
 */
static enum sa_err
pg_by_token(struct dstore *store, const char *what, const char *sql,
	    const char *token_id,
	    enum sa_err (*from)(const PGresult *r, void *out), void *out)
{
	const char *vals[1] = {token_id};
	const struct pg_query q = {.sql = sql, .nparams = 1, .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_once(pg_of(store), what, &q, PGRES_TUPLES_OK, &r)) ==
	    SA_OK)
		rc = from(r, out);
	PQclear(r);
	return rc;
}

enum sa_err
pg_enroll_get(struct dstore *store, const char *token_id,
	      struct enrollment *out)
{
	return pg_by_token(store, "enrollment get",
			   "SELECT " DSTORE_ENROLL_COLS
			   " FROM enrollments WHERE token_id = $1",
			   token_id, pg_enroll_from, out);
}

enum sa_err
pg_enroll_count(struct dstore *store, int64_t *out)
{
	return pg_query_int64(pg_of(store), DSTORE_ENROLL_COUNT, NULL, 0, out);
}

/* The most statements a revocation's pipeline has (pg_revoke_write). */
#define PG_REVOKE_STATEMENTS 4

/* The enrollment lock: the two-key advisory lock of a token id, shared by
 * put and revoke so neither can slip between the other's check and write. */
#define PG_ENROLL_LOCK                                                         \
	"SELECT pg_advisory_xact_lock(" PG_LOCK_ENROLL_CLASS ", hashtext($1))"

/*
 * pg_enroll_put replaces the binding in one transaction: under the token
 * id's lock it locks the old row (FOR UPDATE, which also waits out a
 * revocation by fingerprint touching it), then checks the revoked list,
 * removes the takeover it completes, upserts and writes its audit rows
 * (pg_commit_audited). Round trips: the reads, the write, and the audit
 * rows with COMMIT.
 */
enum sa_err
pg_enroll_put(struct dstore *store, const struct enrollment *e,
	      enum enroll_put_mode mode, const char *take_id,
	      const struct dstore_audit *au, struct enrollment *prev,
	      int *had_prev)
{
	struct pg_store *ds = pg_of(store);
	char created[24], expires[24];
	const char *key[1] = {e->token_id};
	const char *take[2] = {e->token_id, take_id};
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
	    /* Last: only a completion has it (nreads). */
	    {.sql = "DELETE FROM takeovers WHERE token_id = $1 AND id = $2"
		    " RETURNING id",
	     .nparams = 2,
	     .values = take},
	};
	const size_t nreads = ARRAY_LEN(reads) - (take_id == NULL);
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
	};
	struct dstore_found found;
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
	if ((rc = pg_pipeline(s, reads, nreads, res)) != SA_OK) {
		pg_report(s, "enrollment put", rc);
		goto out;
	}
	if (res[3] == NULL || PQntuples(res[3]) > 0) {
		rc = res[3] == NULL ? SA_ERR_INTERNAL : SA_ERR_TOKEN_REVOKED;
		goto out;
	}
	if (take_id != NULL && (res[4] == NULL || PQntuples(res[4]) != 1)) {
		rc = res[4] == NULL ? SA_ERR_INTERNAL : SA_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = enroll_put_check(pg_enroll_from(res[2], &old), &old, e, mode,
				   &had)) != SA_OK)
		goto out;
	if ((rc = pg_pipeline(s, writes, ARRAY_LEN(writes), NULL)) != SA_OK) {
		pg_report(s, "enrollment put", rc);
		goto out;
	}
	found.prev = had ? &old : NULL;
	found.count = 1;
	rc = pg_commit_audited(ds, s, "enrollment put", au, &found);
out:
	pg_clear_all(res, ARRAY_LEN(res));
	if (s != NULL && rc != SA_OK)
		pg_rollback(s);
	pg_release(ds, s);
	enroll_put_prev(rc, had, &old, prev, had_prev);
	return rc;
}

/*
 * pg_revoke_write runs a revocation's n statements (qs, from BEGIN; the
 * one at count_at answers how many enrollments it marked) and commits them
 * with the audit rows of au, asked for only when it marked some if
 * only_some is set. *count gets that number.
 */
static enum sa_err
pg_revoke_write(struct pg_store *ds, const char *what,
		const struct pg_query *qs, size_t n, size_t count_at,
		int only_some, const struct dstore_audit *au, int64_t *count)
{
	const struct dstore_audit none = {NULL, NULL};
	struct dstore_found found = {NULL, 0};
	PGresult *res[PG_REVOKE_STATEMENTS];
	struct pg_slot *s = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_pipeline(s, qs, n, res)) != SA_OK) {
		pg_report(s, what, rc);
		pg_rollback(s);
	} else {
		found.count = pg_col_int64(res[count_at], 0, 0);
		if (only_some && found.count == 0)
			au = &none;
		rc = pg_commit_audited(ds, s, what, au, &found);
	}
	pg_clear_all(res, n);
	pg_release(ds, s);
	*count = found.count;
	return rc;
}

/*
 * pg_enroll_revoke puts the token id on the revoked list (the first
 * revocation's time and reason stay) and marks its enrollment, in one
 * transaction under the token id's lock: one round trip.
 */
enum sa_err
pg_enroll_revoke(struct dstore *store, const char *token_id, int64_t when,
		 const char *reason, const struct dstore_audit *au)
{
	char at[24];
	const char *key[1] = {token_id};
	const char *ins[3] = {token_id, at, reason};
	const char *upd[2] = {at, token_id};
	const struct pg_query qs[PG_REVOKE_STATEMENTS] = {
	    {.sql = "BEGIN"},
	    {.sql = PG_ENROLL_LOCK, .nparams = 1, .values = key},
	    {.sql = "INSERT INTO revoked_tokens (token_id, revoked_at, reason)"
		    " VALUES ($1, $2, $3) ON CONFLICT (token_id) DO NOTHING",
	     .nparams = 3,
	     .values = ins},
	    {.sql = "WITH r AS (UPDATE enrollments SET revoked_at = $1"
		    " WHERE token_id = $2 AND revoked_at = 0 RETURNING 1)"
		    " SELECT count(*) FROM r",
	     .nparams = 2,
	     .values = upd},
	};
	int64_t n = 0;

	snprintf(at, sizeof(at), "%" PRId64, when);
	return pg_revoke_write(pg_of(store), "enrollment revoke", qs,
			       ARRAY_LEN(qs), 3, 0, au, &n);
}

/*
 * pg_enroll_revoke_fingerprint revokes the live enrollments made with a
 * seal and puts their token ids on the revoked list, in one statement,
 * then writes the audit rows when it revoked any, in one transaction;
 * *count is how many enrollments it revoked.
 */
enum sa_err
pg_enroll_revoke_fingerprint(struct dstore *store, const char *fingerprint,
			     int64_t when, int *count,
			     const struct dstore_audit *au)
{
	char at[24];
	const char *vals[2] = {at, fingerprint};
	const struct pg_query qs[] = {
	    {.sql = "BEGIN"},
	    {.sql = "WITH r AS (UPDATE enrollments SET revoked_at = $1"
		    " WHERE seal_fingerprint = $2 AND revoked_at = 0"
		    " RETURNING token_id),"
		    " i AS (INSERT INTO revoked_tokens (token_id, revoked_at,"
		    " reason) SELECT token_id, $1, 'seal on the revocation"
		    " list' FROM r ON CONFLICT (token_id) DO NOTHING)"
		    " SELECT count(*) FROM r",
	     .nparams = 2,
	     .values = vals},
	};
	int64_t n = 0;
	enum sa_err rc;

	snprintf(at, sizeof(at), "%" PRId64, when);
	rc = pg_revoke_write(pg_of(store), "revoke by fingerprint", qs,
			     ARRAY_LEN(qs), 1, 1, au, &n);
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

/* pg_takeover_from copies row 0 of a takeover result into *out (a struct
 * takeover); SA_ERR_NOT_FOUND when there is none. */
static enum sa_err
pg_takeover_from(const PGresult *r, void *out)
{
	struct takeover t;

	if (r == NULL || PQntuples(r) == 0)
		return SA_ERR_NOT_FOUND;
	memset(&t, 0, sizeof(t));
	pg_col_copy(r, 0, 0, t.id, sizeof(t.id));
	pg_col_copy(r, 0, 1, t.authority, sizeof(t.authority));
	pg_col_copy(r, 0, 2, t.token_id, sizeof(t.token_id));
	t.enrollment = pg_col_strndup(r, 0, 3);
	t.created_at = pg_col_int64(r, 0, 4);
	t.effective_at = pg_col_int64(r, 0, 5);
	if (t.enrollment == NULL)
		return SA_ERR_NOMEM;
	*(struct takeover *)out = t;
	return SA_OK;
}

/*
 * pg_takeover_write runs one takeover statement (q) in a transaction
 * with the audit rows of au, and copies the row it returned, if it
 * returns rows (want_row), into *out once both committed.
 */
static enum sa_err
pg_takeover_write(struct dstore *store, const char *what,
		  const struct pg_query *q, int want_row,
		  const struct dstore_audit *au, struct takeover *out)
{
	struct pg_store *ds = pg_of(store);
	const struct pg_query qs[] = {{.sql = "BEGIN"}, *q};
	struct dstore_found found = {NULL, 0};
	PGresult *res[ARRAY_LEN(qs)];
	struct pg_slot *s = NULL;
	struct takeover t;
	enum sa_err rc;

	memset(&t, 0, sizeof(t));
	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	if ((rc = pg_pipeline(s, qs, ARRAY_LEN(qs), res)) != SA_OK) {
		pg_report(s, what, rc);
		pg_rollback(s);
		goto out;
	}
	if (want_row && (rc = pg_takeover_from(res[1], &t)) != SA_OK) {
		pg_rollback(s);
		goto out;
	}
	rc = pg_commit_audited(ds, s, what, au, &found);
out:
	pg_clear_all(res, ARRAY_LEN(res));
	pg_release(ds, s);
	if (rc == SA_OK && want_row)
		*out = t;
	else
		takeover_free(&t);
	return rc;
}

enum sa_err
pg_takeover_put(struct dstore *store, const struct takeover *t,
		const struct dstore_audit *au)
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
	return pg_takeover_write(store, "takeover put", &q, 0, au, NULL);
}

enum sa_err
pg_takeover_get(struct dstore *ds, const char *token_id, struct takeover *out)
{
	return pg_by_token(ds, "takeover get",
			   "SELECT " DSTORE_TAKEOVER_COLS
			   " FROM takeovers WHERE token_id = $1",
			   token_id, pg_takeover_from, out);
}

enum sa_err
pg_takeover_take(struct dstore *ds, const char *token_id, const char *id,
		 const struct dstore_audit *au, struct takeover *out)
{
	const char *vals[2] = {token_id, id};
	const struct pg_query q = {
	    .sql = "DELETE FROM takeovers WHERE token_id = $1"
		   " AND id = $2 RETURNING " DSTORE_TAKEOVER_COLS,
	    .nparams = 2,
	    .values = vals};

	return pg_takeover_write(ds, "takeover take", &q, 1, au, out);
}
