/*
 * store_sqlite_admin.c - what operators and the trust refresh write in the
 * SQLite store: the relying-party registry (with its version in the meta
 * table), the administration records, and the highest sequence number seen
 * of each signed trust document.
 *
 * Every operation holds ds->mu on the writing connection (sqlite_lock or
 * sqlite_begin); the writes share group transactions (sqlite_finish).
 */
#include <pthread.h>

#include "core/util.h"
#include "store/store_sqlite_int.h"

/* ---- Relying parties ---------------------------------------------------- */

#define SERVICES_VERSION_SQL                                                   \
	"SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta"             \
	" WHERE key = 'services.version'), 0)"

enum sa_err
sqlite_services_version(struct dstore *store, int64_t *out)
{
	return sqlite_read_int64(sqlite_of(store), SERVICES_VERSION_SQL, NULL,
				 0, out);
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
	    "SELECT " DSTORE_SERVICE_COLS " FROM services ORDER BY id";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int64_t v = 0;
	int r;

	sqlite_lock(ds);
	if ((rc = sqlite_ctl(ds, SQ_BEGIN_READ)) != SA_OK)
		goto out;
	if ((rc = sqlite_query_int64(ds, SERVICES_VERSION_SQL, NULL, 0, &v)) !=
	    SA_OK)
		goto out;
	if ((rc = sqlite_prepare(ds, sql, NULL, 0, &st)) != SA_OK)
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
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = sqlite_fail(ds, sql, r);
out:
	sqlite3_finalize(st);
	rc = sqlite_finish(ds, rc);
	pthread_mutex_unlock(&ds->mu);
	if (rc == SA_OK)
		*version = v;
	return rc;
}

/*
 * services_change runs a registry write (one statement) and bumps the
 * registry version in one IMMEDIATE transaction. A write that changes no
 * row is SA_ERR_NOT_FOUND and bumps nothing.
 */
static enum sa_err
services_change(struct sqlite_store *ds, const char *sql,
		const struct sqlite_arg *args, size_t n)
{
	int64_t changed = 0;
	enum sa_err rc;

	if ((rc = sqlite_begin(ds)) == SA_OK &&
	    (rc = sqlite_do(ds, sql, args, n, &changed)) == SA_OK) {
		if (changed == 0)
			rc = SA_ERR_NOT_FOUND;
		else
			rc = sqlite_exec(
			    ds, "INSERT INTO meta (key, value) VALUES"
				" ('services.version', '1') ON CONFLICT (key)"
				" DO UPDATE SET value ="
				" CAST(CAST(value AS INTEGER) + 1 AS TEXT)");
	}
	rc = sqlite_finish(ds, rc);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/*
 * sqlite_service_write inserts or updates a record and bumps the version in
 * one IMMEDIATE transaction; how decides what an existing (or missing)
 * record means: the insert of DSTORE_CREATE does nothing on an existing id,
 * the update of DSTORE_UPDATE nothing on a missing one. An update keeps
 * created_at.
 */
enum sa_err
sqlite_service_write(struct dstore *store, const struct service_row *row,
		     enum dstore_write how)
{
	static const char *const sql[] = {
	    [DSTORE_CREATE] = "INSERT INTO services (" DSTORE_SERVICE_COLS ")"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
			      " ON CONFLICT (id) DO NOTHING",
	    [DSTORE_UPDATE] =
		"UPDATE services SET name = ?2, scopes = ?3, origins = ?4,"
		" match_mode = ?5, enabled = ?6, settings = ?7,"
		" updated_at = ?9 WHERE id = ?1",
	    [DSTORE_UPSERT] =
		"INSERT INTO services (" DSTORE_SERVICE_COLS ")"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
		" scopes = excluded.scopes, origins = excluded.origins,"
		" match_mode = excluded.match_mode, enabled = excluded.enabled,"
		" settings = excluded.settings, updated_at = "
		"excluded.updated_at",
	};
	const struct sqlite_arg args[] = {
	    SQ_TEXT(row->id),	      SQ_TEXT(row->name),
	    SQ_TEXT(row->scopes),     SQ_TEXT(row->origins),
	    SQ_TEXT(row->match_mode), SQ_INT(row->enabled ? 1 : 0),
	    SQ_TEXT(row->settings),   SQ_INT(row->created_at),
	    SQ_INT(row->updated_at)};
	enum sa_err rc;

	rc = services_change(sqlite_of(store), sql[how], args, ARRAY_LEN(args));
	if (rc == SA_ERR_NOT_FOUND && how == DSTORE_CREATE)
		rc = SA_ERR_CONFLICT;
	return rc;
}

enum sa_err
sqlite_service_delete(struct dstore *store, const char *id)
{
	const struct sqlite_arg args[] = {SQ_TEXT(id)};

	return services_change(sqlite_of(store),
			       "DELETE FROM services WHERE id = ?", args, 1);
}

/* ---- Administration records --------------------------------------------- */

/* How many records of a kind there are (of an owner, when one is given). */
#define REC_COUNT_SQL                                                          \
	"SELECT count(*) FROM admin_records"                                   \
	" WHERE kind = ?1 AND (?3 IS NULL OR owner = ?3)"                      \
	" AND (?2 IS NULL OR id = ?2)"

/* rec_apply runs one operation inside the caller's transaction; every
 * statement takes kind, id, owner, doc, version, expires_at, member as ?1
 * to ?7. */
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
	    [REC_REQUIRE_NONE] = REC_COUNT_SQL,
	    [REC_REQUIRE_SOME] = REC_COUNT_SQL,
	    [REC_DELETE_EXPIRED] = "DELETE FROM admin_records WHERE kind = ?1"
				   " AND expires_at > 0 AND expires_at < ?6",
	    [REC_DELETE_MATCH] = "DELETE FROM admin_records WHERE kind = ?1"
				 " AND (?3 IS NULL OR owner = ?3)"
				 " AND CASE WHEN json_valid(doc) THEN"
				 " json_extract(doc, '$.' || ?7) END = ?4",
	};
	const char *owner = o->owner;
	int64_t n = 0;
	enum sa_err rc;

	if (owner == NULL && (o->op == REC_CREATE || o->op == REC_UPDATE ||
			      o->op == REC_DELETE_OWNED))
		owner = "";
	const struct sqlite_arg args[] = {
	    SQ_TEXT(o->kind),  SQ_TEXT(o->id),	   SQ_TEXT(owner),
	    SQ_TEXT(o->doc),   SQ_INT(o->version), SQ_INT(o->expires_at),
	    SQ_TEXT(o->member)};

	if (o->op == REC_REQUIRE_NONE || o->op == REC_REQUIRE_SOME) {
		rc = sqlite_query_int64(ds, sql[o->op], args, ARRAY_LEN(args),
					&n);
		if (rc == SA_OK && (o->op == REC_REQUIRE_NONE) != (n == 0))
			rc = o->fail ? o->fail : SA_ERR_CONFLICT;
		return rc;
	}
	if ((rc = sqlite_do(ds, sql[o->op], args, ARRAY_LEN(args), &n)) !=
	    SA_OK)
		return rc;
	if (o->affected != NULL)
		*o->affected = n;
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

	rc = sqlite_begin(ds);
	for (size_t i = 0; i < n && rc == SA_OK; i++)
		rc = rec_apply(ds, &ops[i]);
	rc = sqlite_finish(ds, rc);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/*
 * rec_select runs a SELECT of DSTORE_REC_COLS with kind and key as its
 * parameters and hands each row, up to REC_LIST_MAX, to cb under the lock.
 */
static enum sa_err
rec_select(struct sqlite_store *ds, const char *sql, const char *kind,
	   const char *key, dstore_rec_cb cb, void *arg)
{
	const struct sqlite_arg args[] = {SQ_TEXT(kind), SQ_TEXT(key)};
	sqlite3_stmt *st = NULL;
	int r = SQLITE_DONE, rows = 0;
	enum sa_err rc;

	sqlite_lock(ds);
	if ((rc = sqlite_prepare(ds, sql, args, ARRAY_LEN(args), &st)) != SA_OK)
		goto out;
	while (rows < REC_LIST_MAX && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct dstore_rec rec = {
		    .kind = (const char *)sqlite3_column_text(st, 0),
		    .id = (const char *)sqlite3_column_text(st, 1),
		    .owner = (const char *)sqlite3_column_text(st, 2),
		    .doc = (const char *)sqlite3_column_text(st, 3),
		    .version = sqlite3_column_int64(st, 4),
		    .expires_at = sqlite3_column_int64(st, 5),
		};
		if (!rec.kind || !rec.id || !rec.owner || !rec.doc) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		rows++;
		if (cb(&rec, arg) != 0)
			goto out;
	}
	if (rows < REC_LIST_MAX && r != SQLITE_DONE)
		rc = sqlite_fail(ds, sql, r);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

enum sa_err
sqlite_rec_get(struct dstore *store, const char *kind, const char *id,
	       dstore_rec_cb cb, void *arg)
{
	return rec_select(sqlite_of(store),
			  "SELECT " DSTORE_REC_COLS " FROM admin_records"
			  " WHERE kind = ? AND id = ?",
			  kind, id, cb, arg);
}

enum sa_err
sqlite_rec_list(struct dstore *store, const char *kind, const char *owner,
		dstore_rec_cb cb, void *arg)
{
	return rec_select(sqlite_of(store),
			  "SELECT " DSTORE_REC_COLS " FROM admin_records"
			  " WHERE kind = ?1 AND (?2 IS NULL OR owner = ?2)"
			  " ORDER BY id",
			  kind, owner, cb, arg);
}

/* ---- Trust document sequence numbers ----------------------------------- */

/* sqlite_seq_raise keeps max(stored, seq) for doc in one statement. */
enum sa_err
sqlite_seq_raise(struct dstore *store, const char *doc, int64_t seq,
		 int64_t now, int64_t *highest)
{
	const struct sqlite_arg args[] = {SQ_TEXT(doc), SQ_INT(seq),
					  SQ_INT(now)};

	return sqlite_read_int64(
	    sqlite_of(store),
	    "INSERT INTO trust_sequences (doc, seq, updated_at) VALUES (?, ?, "
	    "?)"
	    " ON CONFLICT (doc) DO UPDATE SET updated_at = CASE WHEN"
	    " excluded.seq > seq THEN excluded.updated_at ELSE updated_at END,"
	    " seq = max(seq, excluded.seq) RETURNING seq",
	    args, ARRAY_LEN(args), highest);
}
