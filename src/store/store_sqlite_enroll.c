/*
 * store_sqlite_enroll.c - enrollments, the revoked list and pending
 * takeovers in the SQLite store.
 *
 * Reads on the login path (an enrollment, a pending takeover) go to one of
 * the reading connections and, for enrollments, through the cache; every
 * write runs on the writing connection under ds->mu and drops from the
 * cache what it changed, after its commit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_sqlite_int.h"

/* ---- Enrollments -------------------------------------------------------- */

static char *
col_strdup_or_null(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return sqlite_col_strdup(st, col);
}

static void
col_copy(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

/*
 * row_step steps st on connection db: SA_OK with a row, SA_ERR_NOT_FOUND
 * at the end, otherwise the error, logged under what. It does not use
 * sqlite_fail, since db need not be the writing connection.
 */
static enum sa_err
row_step(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int r = sqlite3_step(st);

	if (r == SQLITE_ROW)
		return SA_OK;
	if (r == SQLITE_DONE)
		return SA_ERR_NOT_FOUND;
	log_error("store.sqlite", "%s: %s (%d)", what, sqlite3_errmsg(db),
		  sqlite3_extended_errcode(db));
	return sqlite_err(r);
}

/*
 * enroll_read loads one token id's row with st (ENROLL_SELECT prepared on
 * db); the caller holds the lock that guards that connection.
 */
static enum sa_err
enroll_read(sqlite3 *db, sqlite3_stmt *st, const char *token_id,
	    struct enrollment *out)
{
	struct enrollment e;
	enum sa_err rc;

	memset(&e, 0, sizeof(e));
	sqlite3_bind_text(st, 1, token_id, -1, SQLITE_STATIC);
	if ((rc = row_step(db, st, "read enrollment")) != SA_OK)
		goto out;
	col_copy(st, 0, e.authority, sizeof(e.authority));
	col_copy(st, 1, e.token_id, sizeof(e.token_id));
	col_copy(st, 2, e.device_id, sizeof(e.device_id));
	e.public_key_pem = sqlite_col_strdup(st, 3);
	e.fcm_token = col_strdup_or_null(st, 4);
	e.push_endpoint = col_strdup_or_null(st, 5);
	col_copy(st, 6, e.trust_level, sizeof(e.trust_level));
	e.claims = sqlite_col_strdup(st, 7);
	col_copy(st, 8, e.seal_fingerprint, sizeof(e.seal_fingerprint));
	e.created_at = sqlite3_column_int64(st, 9);
	e.expires_at = sqlite3_column_int64(st, 10);
	e.revoked_at = sqlite3_column_int64(st, 11);
	if (e.public_key_pem == NULL || e.claims == NULL ||
	    (sqlite3_column_type(st, 4) != SQLITE_NULL &&
	     e.fcm_token == NULL) ||
	    (sqlite3_column_type(st, 5) != SQLITE_NULL &&
	     e.push_endpoint == NULL)) {
		enrollment_free(&e);
		rc = SA_ERR_NOMEM;
		goto out;
	}
	*out = e;
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

enum sa_err
sqlite_enroll_get(struct dstore *store, const char *token_id,
		  struct enrollment *out)
{
	struct sqlite_store *ds = sqlite_of(store);
	struct enroll_cache_ticket t;
	struct sqlite_reader *rd;
	enum sa_err rc;

	if (enroll_cache_get(ds->cache, token_id, out, &t))
		return SA_OK;
	sqlite_reader_take(ds, &rd);
	rc = enroll_read(rd->db, rd->sel_enroll, token_id, out);
	pthread_mutex_unlock(&rd->mu);
	if (rc == SA_OK)
		enroll_cache_put(ds->cache, out, &t);
	return rc;
}

enum sa_err
sqlite_enroll_count(struct dstore *store, int64_t *out)
{
	return sqlite_read_int64(sqlite_of(store), DSTORE_ENROLL_COUNT, NULL, 0,
				 out);
}

/*
 * sqlite_enroll_put replaces the binding inside one IMMEDIATE transaction,
 * so the revoked check, the read of the old binding, the removal of the
 * takeover it completes, the write and its audit rows cannot be
 * interleaved with another writer, and commit (durably) together.
 */
enum sa_err
sqlite_enroll_put(struct dstore *store, const struct enrollment *e,
		  enum enroll_put_mode mode, const char *take_id,
		  const struct dstore_audit *au, struct enrollment *prev,
		  int *had_prev)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] =
	    "INSERT OR REPLACE INTO enrollments (token_id, device_id,"
	    " public_key_pem, fcm_token, push_endpoint, trust_level, claims,"
	    " seal_fingerprint, created_at, expires_at, revoked_at, authority)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)";
	const struct sqlite_arg args[] = {
	    SQ_TEXT(e->token_id),	SQ_TEXT(e->device_id),
	    SQ_TEXT(e->public_key_pem), SQ_TEXT(e->fcm_token),
	    SQ_TEXT(e->push_endpoint),	SQ_TEXT(e->trust_level),
	    SQ_TEXT(e->claims),		SQ_TEXT(e->seal_fingerprint),
	    SQ_INT(e->created_at),	SQ_INT(e->expires_at),
	    SQ_TEXT(e->authority)};
	const struct sqlite_arg take[] = {SQ_TEXT(e->token_id),
					  SQ_TEXT(take_id)};
	struct dstore_found found;
	struct enrollment old;
	int64_t revoked = 0, taken = 0;
	enum sa_err rc;
	int had = 0;

	memset(&old, 0, sizeof(old));
	if ((rc = sqlite_begin(ds)) != SA_OK)
		goto out;
	if ((rc = sqlite_query_int64(ds,
				     "SELECT count(*) FROM revoked_tokens"
				     " WHERE token_id = ?",
				     args, 1, &revoked)) != SA_OK)
		goto out;
	if (revoked) {
		rc = SA_ERR_TOKEN_REVOKED;
		goto out;
	}
	if ((rc = enroll_put_check(
		 enroll_read(ds->db, ds->sel_enroll, e->token_id, &old), &old,
		 e, mode, &had)) != SA_OK)
		goto out;
	if (take_id != NULL &&
	    (rc = sqlite_do(ds,
			    "DELETE FROM takeovers WHERE token_id = ?"
			    " AND id = ?",
			    take, ARRAY_LEN(take), &taken)) == SA_OK &&
	    taken == 0)
		rc = SA_ERR_NOT_FOUND;
	if (rc != SA_OK)
		goto out;
	if ((rc = sqlite_do(ds, sql, args, ARRAY_LEN(args), NULL)) != SA_OK)
		goto out;
	found.prev = had ? &old : NULL;
	found.count = 1;
	rc = sqlite_audit_rows(ds, au, &found);
out:
	rc = sqlite_finish(ds, rc);
	/* After the commit, so no read of the old row can be kept. */
	enroll_cache_forget(ds->cache, e->token_id);
	pthread_mutex_unlock(&ds->mu);
	enroll_put_prev(rc, had, &old, prev, had_prev);
	return rc;
}

/*
 * sqlite_enroll_revoke puts the token id on the revoked list (the first
 * revocation's time and reason stay) and marks its enrollment, with its
 * audit rows, in one IMMEDIATE transaction.
 */
enum sa_err
sqlite_enroll_revoke(struct dstore *store, const char *token_id, int64_t when,
		     const char *reason, const struct dstore_audit *au)
{
	struct sqlite_store *ds = sqlite_of(store);
	const struct sqlite_arg args[] = {SQ_TEXT(token_id), SQ_INT(when),
					  SQ_TEXT(reason)};
	struct dstore_found found = {NULL, 0};
	enum sa_err rc;

	if ((rc = sqlite_begin(ds)) == SA_OK &&
	    (rc = sqlite_do(ds,
			    "INSERT OR IGNORE INTO revoked_tokens"
			    " (token_id, revoked_at, reason) VALUES (?, ?, ?)",
			    args, ARRAY_LEN(args), NULL)) == SA_OK &&
	    (rc = sqlite_do(ds,
			    "UPDATE enrollments SET revoked_at = ?2"
			    " WHERE token_id = ?1 AND revoked_at = 0",
			    args, ARRAY_LEN(args), &found.count)) == SA_OK)
		rc = sqlite_audit_rows(ds, au, &found);
	rc = sqlite_finish(ds, rc);
	enroll_cache_forget(ds->cache, token_id);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/*
 * sqlite_enroll_revoke_fingerprint revokes the token ids enrolled with a
 * seal: each goes on the revoked list, so the same seal cannot be enrolled
 * again under that token id either. Audit rows are written with it when it
 * marked any.
 */
enum sa_err
sqlite_enroll_revoke_fingerprint(struct dstore *store, const char *fingerprint,
				 int64_t when, int *count,
				 const struct dstore_audit *au)
{
	struct sqlite_store *ds = sqlite_of(store);
	const struct sqlite_arg args[] = {SQ_INT(when), SQ_TEXT(fingerprint)};
	struct dstore_found found = {NULL, 0};
	enum sa_err rc;

	if ((rc = sqlite_begin(ds)) == SA_OK &&
	    (rc = sqlite_do(ds,
			    "INSERT OR IGNORE INTO revoked_tokens (token_id,"
			    " revoked_at, reason) SELECT token_id, ?,"
			    " 'seal on the revocation list' FROM enrollments"
			    " WHERE seal_fingerprint = ? AND revoked_at = 0",
			    args, ARRAY_LEN(args), NULL)) == SA_OK &&
	    (rc = sqlite_do(ds,
			    "UPDATE enrollments SET revoked_at = ?"
			    " WHERE seal_fingerprint = ? AND revoked_at = 0",
			    args, ARRAY_LEN(args), &found.count)) == SA_OK &&
	    found.count > 0)
		rc = sqlite_audit_rows(ds, au, &found);
	rc = sqlite_finish(ds, rc);
	if (rc == SA_OK)
		*count = (int)found.count;
	enroll_cache_clear(ds->cache);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/*
 * sqlite_enroll_list runs the admin API's page query on a reading
 * connection, so it never waits for the writer. The callback runs with
 * that connection's lock held: it must not call the store.
 */
enum sa_err
sqlite_enroll_list(struct dstore *store, const struct enroll_filter *f,
		   enroll_row_cb cb, void *arg)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] =
	    "SELECT authority, token_id, device_id, fcm_token, push_endpoint,"
	    " trust_level, seal_fingerprint, created_at, expires_at, revoked_at"
	    " FROM enrollments"
	    " WHERE substr(token_id, 1, length(?1)) = ?1"
	    " AND (?2 = '' OR authority = ?2)"
	    " AND (?3 = 0 OR (?3 = 1 AND revoked_at = 0 AND expires_at > ?4)"
	    " OR (?3 = 2 AND revoked_at <> 0)"
	    " OR (?3 = 3 AND revoked_at = 0 AND expires_at <= ?4))"
	    " AND created_at >= ?5 AND (?6 = 0 OR created_at < ?6)"
	    " AND (?8 = '' OR created_at < ?7"
	    " OR (created_at = ?7 AND token_id > ?8))"
	    " ORDER BY created_at DESC, token_id ASC LIMIT ?9";
	struct sqlite_reader *rd;
	struct enrollment e;
	sqlite3_stmt *st = NULL;
	enum sa_err rc = SA_OK;
	int r;

	sqlite_reader_take(ds, &rd);
	if ((r = sqlite3_prepare_v2(rd->db, sql, -1, &st, NULL)) != SQLITE_OK) {
		log_error("store.sqlite", "enrollment list: %s",
			  sqlite3_errmsg(rd->db));
		rc = sqlite_err(r);
		goto out;
	}
	sqlite3_bind_text(st, 1, f->token_prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->authority, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)f->status);
	sqlite3_bind_int64(st, 4, f->now);
	sqlite3_bind_int64(st, 5, f->since);
	sqlite3_bind_int64(st, 6, f->until);
	sqlite3_bind_int64(st, 7, f->after_created);
	sqlite3_bind_text(st, 8, f->after_token, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, f->limit);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		col_copy(st, 0, e.authority, sizeof(e.authority));
		col_copy(st, 1, e.token_id, sizeof(e.token_id));
		col_copy(st, 2, e.device_id, sizeof(e.device_id));
		e.fcm_token = (char *)sqlite3_column_text(st, 3);
		e.push_endpoint = (char *)sqlite3_column_text(st, 4);
		col_copy(st, 5, e.trust_level, sizeof(e.trust_level));
		col_copy(st, 6, e.seal_fingerprint, sizeof(e.seal_fingerprint));
		e.created_at = sqlite3_column_int64(st, 7);
		e.expires_at = sqlite3_column_int64(st, 8);
		e.revoked_at = sqlite3_column_int64(st, 9);
		if (cb(&e, arg) != 0)
			break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		log_error("store.sqlite", "enrollment list: %s",
			  sqlite3_errmsg(rd->db));
		rc = sqlite_err(r);
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&rd->mu);
	return rc;
}

/* ---- Takeovers ---------------------------------------------------------- */

/* takeover_from copies a row of DSTORE_TAKEOVER_COLS into *out. */
static enum sa_err
takeover_from(sqlite3_stmt *st, struct takeover *out)
{
	struct takeover t;

	memset(&t, 0, sizeof(t));
	col_copy(st, 0, t.id, sizeof(t.id));
	col_copy(st, 1, t.authority, sizeof(t.authority));
	col_copy(st, 2, t.token_id, sizeof(t.token_id));
	t.enrollment = sqlite_col_strdup(st, 3);
	t.created_at = sqlite3_column_int64(st, 4);
	t.effective_at = sqlite3_column_int64(st, 5);
	if (t.enrollment == NULL)
		return SA_ERR_NOMEM;
	*out = t;
	return SA_OK;
}

/*
 * takeover_run runs sql (token_id bound first, id second when given) on
 * connection db, whose lock the caller holds, and copies its one row, if
 * any, into *out.
 */
static enum sa_err
takeover_run(sqlite3 *db, const char *sql, const char *token_id, const char *id,
	     struct takeover *out)
{
	const struct sqlite_arg args[] = {SQ_TEXT(token_id), SQ_TEXT(id)};
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int r;

	r = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (r == SQLITE_OK)
		r = sqlite_bind(st, args, ARRAY_LEN(args));
	if (r != SQLITE_OK) {
		log_error("store.sqlite", "takeover: %s (%d)",
			  sqlite3_errmsg(db), sqlite3_extended_errcode(db));
		rc = sqlite_err(r);
		goto out;
	}
	if ((rc = row_step(db, st, "takeover")) != SA_OK ||
	    (rc = takeover_from(st, out)) != SA_OK)
		goto out;
	/* finish the statement, so a DELETE ... RETURNING is applied */
	while ((rc = row_step(db, st, "takeover")) == SA_OK)
		;
	if (rc == SA_ERR_NOT_FOUND) {
		rc = SA_OK;
	} else {
		takeover_free(out);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * sqlite_takeover_put stores a pending takeover and its audit rows in one
 * IMMEDIATE transaction.
 */
enum sa_err
sqlite_takeover_put(struct dstore *store, const struct takeover *t,
		    const struct dstore_audit *au)
{
	struct sqlite_store *ds = sqlite_of(store);
	const struct sqlite_arg args[] = {
	    SQ_TEXT(t->id),	   SQ_TEXT(t->authority),
	    SQ_TEXT(t->token_id),  SQ_TEXT(t->enrollment),
	    SQ_INT(t->created_at), SQ_INT(t->effective_at)};
	struct dstore_found found = {NULL, 0};
	enum sa_err rc;

	if ((rc = sqlite_begin(ds)) == SA_OK &&
	    (rc = sqlite_do(ds,
			    "INSERT OR REPLACE INTO takeovers"
			    " (" DSTORE_TAKEOVER_COLS ") VALUES"
			    " (?, ?, ?, ?, ?, ?)",
			    args, ARRAY_LEN(args), NULL)) == SA_OK)
		rc = sqlite_audit_rows(ds, au, &found);
	rc = sqlite_finish(ds, rc);
	/* After the commit: no cached "none pending" outlives it. */
	enroll_cache_forget(ds->cache, t->token_id);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/*
 * sqlite_takeover_get reads on a reader connection, so the check every
 * login start makes never waits behind the writer; and where the cache
 * knows that none is pending, it does not read at all.
 */
enum sa_err
sqlite_takeover_get(struct dstore *store, const char *token_id,
		    struct takeover *out)
{
	struct sqlite_store *ds = sqlite_of(store);
	struct enroll_cache_ticket t;
	struct sqlite_reader *rd;
	enum sa_err rc;

	if (enroll_cache_no_takeover(ds->cache, token_id, &t))
		return SA_ERR_NOT_FOUND;
	sqlite_reader_take(ds, &rd);
	rc = takeover_run(rd->db,
			  "SELECT " DSTORE_TAKEOVER_COLS
			  " FROM takeovers WHERE token_id = ?",
			  token_id, NULL, out);
	pthread_mutex_unlock(&rd->mu);
	if (rc == SA_ERR_NOT_FOUND)
		enroll_cache_note_no_takeover(ds->cache, token_id, &t);
	return rc;
}

/*
 * sqlite_takeover_take removes the takeover and writes its audit rows in
 * one IMMEDIATE transaction; *out is filled only when both committed.
 */
enum sa_err
sqlite_takeover_take(struct dstore *store, const char *token_id, const char *id,
		     const struct dstore_audit *au, struct takeover *out)
{
	struct sqlite_store *ds = sqlite_of(store);
	struct dstore_found found = {NULL, 0};
	struct takeover t;
	enum sa_err rc;

	memset(&t, 0, sizeof(t));
	if ((rc = sqlite_begin(ds)) == SA_OK &&
	    (rc = takeover_run(ds->db,
			       "DELETE FROM takeovers WHERE token_id = ? AND "
			       "id = ? RETURNING " DSTORE_TAKEOVER_COLS,
			       token_id, id, &t)) == SA_OK)
		rc = sqlite_audit_rows(ds, au, &found);
	rc = sqlite_finish(ds, rc);
	pthread_mutex_unlock(&ds->mu);
	if (rc == SA_OK)
		*out = t;
	else
		takeover_free(&t);
	return rc;
}
