/*
 * store_sqlite_admin.c - what operators and the trust refresh write in the
 * SQLite store: the relying-party registry (with its version in the meta
 * table), the administration records, and the highest sequence number seen
 * of each signed trust document.
 *
 * Every operation holds ds->mu on the writing connection for its whole
 * length; the writes run in IMMEDIATE transactions.
 */
#include <pthread.h>
#include <string.h>

#include "store/store_sqlite_int.h"

/* ---- Relying parties ---------------------------------------------------- */

#define SERVICES_VERSION_SQL                                                   \
	"SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta"             \
	" WHERE key = 'services.version'), 0)"

enum sa_err
sqlite_services_version(struct dstore *store, int64_t *out)
{
	struct sqlite_store *ds = sqlite_of(store);
	enum sa_err rc;
	int64_t v = 0;

	pthread_mutex_lock(&ds->mu);
	rc = sqlite_query_int64(ds, SERVICES_VERSION_SQL, &v);
	pthread_mutex_unlock(&ds->mu);
	if (rc == SA_OK)
		*out = v;
	return rc;
}

/*
 * sqlite_services_read reads the version and the records in one read
 * transaction, copying nothing: the callback runs under the lock and must
 * not use the store.
 */
enum sa_err
sqlite_services_read(struct dstore *store, int64_t *version, service_row_cb cb,
		     void *arg)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] =
	    "SELECT id, name, scopes, origins, match_mode, enabled, settings,"
	    " created_at, updated_at FROM services ORDER BY id";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int64_t v = 0;
	int r;

	pthread_mutex_lock(&ds->mu);
	if ((rc = sqlite_exec(ds, "BEGIN")) != SA_OK)
		goto out;
	if ((rc = sqlite_query_int64(ds, SERVICES_VERSION_SQL, &v)) != SA_OK)
		goto out;
	if ((rc = sqlite_prepare(ds, sql, &st)) != SA_OK)
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct service_row row = {
		    .id = (const char *)sqlite3_column_text(st, 0),
		    .name = (const char *)sqlite3_column_text(st, 1),
		    .scopes = (const char *)sqlite3_column_text(st, 2),
		    .origins = (const char *)sqlite3_column_text(st, 3),
		    .match_mode = (const char *)sqlite3_column_text(st, 4),
		    .enabled = sqlite3_column_int(st, 5),
		    .settings = (const char *)sqlite3_column_text(st, 6),
		    .created_at = sqlite3_column_int64(st, 7),
		    .updated_at = sqlite3_column_int64(st, 8),
		};
		if (!row.id || !row.name || !row.scopes || !row.origins ||
		    !row.match_mode || !row.settings) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		if (cb(&row, arg) != 0)
			break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		rc = sqlite_fail(ds, sql, r);
		goto out;
	}
	rc = sqlite_exec(ds, "COMMIT");
out:
	sqlite3_finalize(st);
	if (rc != SA_OK)
		sqlite_rollback(ds);
	pthread_mutex_unlock(&ds->mu);
	if (rc == SA_OK)
		*version = v;
	return rc;
}

/* services_bump adds one to the registry version; inside the caller's
 * transaction, under ds->mu. */
static enum sa_err
services_bump(struct sqlite_store *ds)
{
	return sqlite_exec(
	    ds, "INSERT INTO meta (key, value) VALUES ('services.version', '1')"
		" ON CONFLICT (key) DO UPDATE SET"
		" value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)");
}

/*
 * sqlite_service_write inserts or updates a record and bumps the version in
 * one IMMEDIATE transaction; how decides what an existing (or missing)
 * record means. An update keeps created_at.
 */
enum sa_err
sqlite_service_write(struct dstore *store, const struct service_row *row,
		     enum dstore_write how)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char ins[] =
	    "INSERT INTO services (id, name, scopes, origins, match_mode,"
	    " enabled, settings, created_at, updated_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	    " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
	    " scopes = excluded.scopes, origins = excluded.origins,"
	    " match_mode = excluded.match_mode, enabled = excluded.enabled,"
	    " settings = excluded.settings, updated_at = excluded.updated_at";
	sqlite3_stmt *st = NULL;
	int64_t exists = 0;
	enum sa_err rc;
	int r;

	pthread_mutex_lock(&ds->mu);
	if ((rc = sqlite_exec(ds, "BEGIN IMMEDIATE")) != SA_OK)
		goto out;
	if ((rc = sqlite_prepare(ds,
				 "SELECT count(*) FROM services WHERE id = ?",
				 &st)) != SA_OK)
		goto out;
	sqlite3_bind_text(st, 1, row->id, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) != SQLITE_ROW) {
		rc = sqlite_fail(ds, "service exists", r);
		goto out;
	}
	exists = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (how == DSTORE_CREATE && exists) {
		rc = SA_ERR_CONFLICT;
		goto out;
	}
	if (how == DSTORE_UPDATE && !exists) {
		rc = SA_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = sqlite_prepare(ds, ins, &st)) != SA_OK)
		goto out;
	sqlite3_bind_text(st, 1, row->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, row->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, row->scopes, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, row->origins, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, row->match_mode, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, row->enabled ? 1 : 0);
	sqlite3_bind_text(st, 7, row->settings, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, row->created_at);
	sqlite3_bind_int64(st, 9, row->updated_at);
	if ((r = sqlite3_step(st)) != SQLITE_DONE) {
		rc = sqlite_fail(ds, ins, r);
		goto out;
	}
	if ((rc = services_bump(ds)) != SA_OK)
		goto out;
	rc = sqlite_exec(ds, "COMMIT");
out:
	sqlite3_finalize(st);
	if (rc != SA_OK)
		sqlite_rollback(ds);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

enum sa_err
sqlite_service_delete(struct dstore *store, const char *id)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char del[] = "DELETE FROM services WHERE id = ?";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int r;

	pthread_mutex_lock(&ds->mu);
	if ((rc = sqlite_exec(ds, "BEGIN IMMEDIATE")) != SA_OK)
		goto out;
	if ((rc = sqlite_prepare(ds, del, &st)) != SA_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) != SQLITE_DONE) {
		rc = sqlite_fail(ds, del, r);
		goto out;
	}
	if (sqlite3_changes(ds->db) == 0) {
		rc = SA_ERR_NOT_FOUND;
		goto out;
	}
	if ((rc = services_bump(ds)) != SA_OK)
		goto out;
	rc = sqlite_exec(ds, "COMMIT");
out:
	sqlite3_finalize(st);
	if (rc != SA_OK)
		sqlite_rollback(ds);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/* ---- Administration records --------------------------------------------- */

/* rec_count counts records of kind (and owner when not NULL); under the
 * caller's transaction. */
static enum sa_err
rec_count(struct sqlite_store *ds, const char *kind, const char *owner,
	  int64_t *out)
{
	static const char sql[] =
	    "SELECT count(*) FROM admin_records"
	    " WHERE kind = ?1 AND (?2 IS NULL OR owner = ?2)";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int r;

	if ((rc = sqlite_prepare(ds, sql, &st)) != SA_OK)
		return rc;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (owner != NULL)
		sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	if ((r = sqlite3_step(st)) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		rc = sqlite_fail(ds, sql, r);
	sqlite3_finalize(st);
	return rc;
}

/* rec_apply runs one operation inside the caller's transaction. */
static enum sa_err
rec_apply(struct sqlite_store *ds, const struct dstore_rec_op *o)
{
	static const char *const sql[] = {
	    [REC_CREATE] =
		"INSERT INTO admin_records (kind, id, owner, doc,"
		" version, expires_at) VALUES (?1, ?2, ?3, ?4, 1, ?6)"
		" ON CONFLICT (kind, id) DO NOTHING",
	    [REC_UPDATE] = "UPDATE admin_records SET owner = ?3, doc = ?4,"
			   " version = version + 1, expires_at = ?6"
			   " WHERE kind = ?1 AND id = ?2"
			   " AND (?5 = 0 OR version = ?5)",
	    [REC_DELETE] = "DELETE FROM admin_records WHERE kind = ?1"
			   " AND id = ?2 AND (?3 IS NULL OR owner = ?3)",
	    [REC_DELETE_OWNED] = "DELETE FROM admin_records WHERE kind = ?1"
				 " AND owner = ?3",
	    [REC_DELETE_EXPIRED] = "DELETE FROM admin_records WHERE kind = ?1"
				   " AND expires_at > 0 AND expires_at < ?6",
	};
	const char *owner = o->owner;
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	enum sa_err rc;
	int r;

	if (o->op == REC_REQUIRE_NONE || o->op == REC_REQUIRE_SOME) {
		if ((rc = rec_count(ds, o->kind, o->owner, &n)) != SA_OK)
			return rc;
		if ((o->op == REC_REQUIRE_NONE) != (n == 0))
			return o->fail ? o->fail : SA_ERR_CONFLICT;
		return SA_OK;
	}
	if (owner == NULL && (o->op == REC_CREATE || o->op == REC_UPDATE ||
			      o->op == REC_DELETE_OWNED))
		owner = "";
	if ((rc = sqlite_prepare(ds, sql[o->op], &st)) != SA_OK)
		return rc;
	sqlite3_bind_text(st, 1, o->kind, -1, SQLITE_STATIC);
	if (o->id != NULL)
		sqlite3_bind_text(st, 2, o->id, -1, SQLITE_STATIC);
	if (owner != NULL)
		sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
	if (o->doc != NULL)
		sqlite3_bind_text(st, 4, o->doc, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, o->version);
	sqlite3_bind_int64(st, 6, o->expires_at);
	if ((r = sqlite3_step(st)) != SQLITE_DONE) {
		rc = sqlite_fail(ds, sql[o->op], r);
		goto out;
	}
	n = sqlite3_changes(ds->db);
	rc = SA_OK;
	if (n == 0 && o->op == REC_CREATE)
		rc = o->fail ? o->fail : SA_ERR_CONFLICT;
	else if (n == 0 && o->op == REC_DELETE)
		rc = o->fail ? o->fail : SA_ERR_NOT_FOUND;
	else if (n == 0 && o->op == REC_UPDATE)
		/* Gone, or changed since it was read: either way the caller's
		 * view is stale. */
		rc = o->fail	       ? o->fail
		     : o->version != 0 ? SA_ERR_CONFLICT
				       : SA_ERR_NOT_FOUND;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * sqlite_rec_write runs the operations in one IMMEDIATE transaction: the
 * write lock is taken at BEGIN, so the guards' counts and the writes after
 * them see no other writer, whichever process it is.
 */
enum sa_err
sqlite_rec_write(struct dstore *store, const struct dstore_rec_op *ops,
		 size_t n)
{
	struct sqlite_store *ds = sqlite_of(store);
	enum sa_err rc;

	pthread_mutex_lock(&ds->mu);
	if ((rc = sqlite_exec(ds, "BEGIN IMMEDIATE")) != SA_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((rc = rec_apply(ds, &ops[i])) != SA_OK)
			goto out;
	rc = sqlite_exec(ds, "COMMIT");
out:
	if (rc != SA_OK)
		sqlite_rollback(ds);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/* rec_walk runs a SELECT of (kind, id, owner, doc, version, expires_at)
 * and hands each row to cb under the lock. */
static enum sa_err
rec_walk(struct sqlite_store *ds, sqlite3_stmt *st, dstore_rec_cb cb, void *arg)
{
	int r, rows = 0;

	while (rows < REC_LIST_MAX && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct dstore_rec rec = {
		    .kind = (const char *)sqlite3_column_text(st, 0),
		    .id = (const char *)sqlite3_column_text(st, 1),
		    .owner = (const char *)sqlite3_column_text(st, 2),
		    .doc = (const char *)sqlite3_column_text(st, 3),
		    .version = sqlite3_column_int64(st, 4),
		    .expires_at = sqlite3_column_int64(st, 5),
		};
		if (!rec.kind || !rec.id || !rec.owner || !rec.doc)
			return SA_ERR_NOMEM;
		rows++;
		if (cb(&rec, arg) != 0)
			return SA_OK;
	}
	if (rows == REC_LIST_MAX)
		return SA_OK;
	return r == SQLITE_DONE ? SA_OK : sqlite_fail(ds, sqlite3_sql(st), r);
}

enum sa_err
sqlite_rec_get(struct dstore *store, const char *kind, const char *id,
	       dstore_rec_cb cb, void *arg)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] =
	    "SELECT kind, id, owner, doc, version, expires_at"
	    " FROM admin_records WHERE kind = ? AND id = ?";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;

	pthread_mutex_lock(&ds->mu);
	if ((rc = sqlite_prepare(ds, sql, &st)) == SA_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
		rc = rec_walk(ds, st, cb, arg);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

enum sa_err
sqlite_rec_list(struct dstore *store, const char *kind, const char *owner,
		dstore_rec_cb cb, void *arg)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] =
	    "SELECT kind, id, owner, doc, version, expires_at"
	    " FROM admin_records WHERE kind = ?1 AND (?2 IS NULL OR owner = ?2)"
	    " ORDER BY id";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;

	pthread_mutex_lock(&ds->mu);
	if ((rc = sqlite_prepare(ds, sql, &st)) == SA_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		if (owner != NULL)
			sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
		rc = rec_walk(ds, st, cb, arg);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/* ---- Trust document sequence numbers ----------------------------------- */

/* sqlite_seq_raise keeps max(stored, seq) for doc in one statement. */
enum sa_err
sqlite_seq_raise(struct dstore *store, const char *doc, int64_t seq,
		 int64_t now, int64_t *highest)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] =
	    "INSERT INTO trust_sequences (doc, seq, updated_at) VALUES (?, ?, "
	    "?)"
	    " ON CONFLICT (doc) DO UPDATE SET"
	    " updated_at = CASE WHEN excluded.seq > seq THEN "
	    "excluded.updated_at"
	    " ELSE updated_at END, seq = max(seq, excluded.seq) RETURNING seq";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int r;

	pthread_mutex_lock(&ds->mu);
	if ((rc = sqlite_prepare(ds, sql, &st)) != SA_OK)
		goto out;
	sqlite3_bind_text(st, 1, doc, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, now);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW) {
		rc = sqlite_fail(ds, sql, r);
		goto out;
	}
	*highest = sqlite3_column_int64(st, 0);
	r = sqlite3_step(st);
	rc = r == SQLITE_DONE ? SA_OK : sqlite_fail(ds, sql, r);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}
