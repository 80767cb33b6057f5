/*
 * store_pg_admin.c - what operators and the trust refresh write in the
 * PostgreSQL store: the relying-party registry (with its version in the
 * meta table), the administration records, and the highest sequence number
 * seen of each signed trust document.
 */
#include <inttypes.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "core/util.h"
#include "store/store_pg_int.h"

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

enum sa_err
pg_services_version(struct dstore *store, int64_t *out)
{
	return pg_query_int64(pg_of(store), PG_SERVICES_VERSION, NULL, 0, out);
}

/*
 * pg_services_read reads the version, then the records; the callbacks run
 * on the result after the connection went back to the pool.
 */
enum sa_err
pg_services_read(struct dstore *store, int64_t *version, service_row_cb cb,
		 void *arg)
{
	struct pg_store *ds = pg_of(store);
	const struct pg_query q = {
	    .sql = "SELECT id, name, scopes, origins, match_mode,"
		   " enabled::int, settings, created_at, updated_at"
		   " FROM services ORDER BY id"};
	PGresult *r = NULL;
	int64_t v = 0;
	enum sa_err rc;

	if ((rc = pg_query_int64(ds, PG_SERVICES_VERSION, NULL, 0, &v)) !=
	    SA_OK)
		return rc;
	if ((rc = pg_once(ds, "services read", &q, PGRES_TUPLES_OK, &r)) !=
	    SA_OK)
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
 * pg_services_change runs a registry write that bumps the version in the
 * same statement (PG_SERVICES_BUMP); one that touched no row returns none
 * and is SA_ERR_NOT_FOUND.
 */
static enum sa_err
pg_services_change(struct dstore *store, const char *what, const char *sql,
		   const char *const *vals, int n)
{
	const struct pg_query q = {.sql = sql, .nparams = n, .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;

	rc = pg_once(pg_of(store), what, &q, PGRES_TUPLES_OK, &r);
	if (rc == SA_OK && PQntuples(r) == 0)
		rc = SA_ERR_NOT_FOUND;
	PQclear(r);
	return rc;
}

/*
 * pg_service_write writes a record and bumps the version in one statement
 * (so one transaction). A create that meets an existing id, or an update
 * that meets none, touches no row and returns none.
 */
enum sa_err
pg_service_write(struct dstore *store, const struct service_row *row,
		 enum dstore_write how)
{
	static const char *const sql[] = {
	    [DSTORE_CREATE] =
		"WITH w AS (INSERT INTO services (" DSTORE_SERVICE_COLS ")"
		" VALUES ($1, $2, $3, $4, $5, $6::boolean, $7, $8, $9)"
		" ON CONFLICT (id) DO NOTHING RETURNING 1)" PG_SERVICES_BUMP,
	    [DSTORE_UPDATE] =
		"WITH w AS (UPDATE services SET name = $2, scopes = $3,"
		" origins = $4, match_mode = $5, enabled = $6::boolean,"
		" settings = $7, updated_at = $9 WHERE id = $1"
		" AND $8::bigint IS NOT NULL RETURNING 1)" PG_SERVICES_BUMP,
	    [DSTORE_UPSERT] =
		"WITH w AS (INSERT INTO services (" DSTORE_SERVICE_COLS ")"
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
	enum sa_err rc;

	snprintf(created, sizeof(created), "%" PRId64, row->created_at);
	snprintf(updated, sizeof(updated), "%" PRId64, row->updated_at);
	rc = pg_services_change(store, "service write", sql[how], vals, 9);
	if (rc == SA_ERR_NOT_FOUND && how == DSTORE_CREATE)
		rc = SA_ERR_CONFLICT;
	return rc;
}

enum sa_err
pg_service_delete(struct dstore *store, const char *id)
{
	const char *vals[1] = {id};

	return pg_services_change(store, "service delete",
				  "WITH w AS (DELETE FROM services WHERE id = "
				  "$1 RETURNING 1)" PG_SERVICES_BUMP,
				  vals, 1);
}

/* ---- Administration records --------------------------------------------- */

/*
 * pg_rec_apply runs one operation inside the caller's transaction. Every
 * statement takes the same six parameters: kind, id, owner, doc, version,
 * expires_at (NULL where the operation has none); REC_DELETE_MATCH a
 * seventh, the doc member it compares.
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
				 " AND ($2::text IS NULL OR id = $2)"
				 " AND $4::text IS NULL"
				 " AND $5::bigint IS NOT NULL"
				 " AND $6::bigint IS NOT NULL LIMIT 1",
	    [REC_REQUIRE_SOME] = "SELECT 1 FROM admin_records WHERE kind = $1"
				 " AND ($3::text IS NULL OR owner = $3)"
				 " AND ($2::text IS NULL OR id = $2)"
				 " AND $4::text IS NULL"
				 " AND $5::bigint IS NOT NULL"
				 " AND $6::bigint IS NOT NULL LIMIT 1",
	    [REC_DELETE_EXPIRED] = "DELETE FROM admin_records WHERE kind = $1"
				   " AND expires_at > 0"
				   " AND expires_at < $6::bigint"
				   " AND $2::text IS NULL AND $3::text IS NULL"
				   " AND $4::text IS NULL"
				   " AND $5::bigint IS NOT NULL RETURNING 1",
	    [REC_DELETE_MATCH] = "DELETE FROM admin_records WHERE kind = $1"
				 " AND ($3::text IS NULL OR owner = $3)"
				 " AND doc::jsonb ->> $7::text = $4::text"
				 " AND $2::text IS NULL"
				 " AND $5::bigint IS NOT NULL"
				 " AND $6::bigint IS NOT NULL RETURNING 1",
	};
	char version[24], expires[24];
	const char *owner = o->owner;
	const char *vals[7];
	struct pg_query q = {.sql = sql[o->op],
			     .nparams = o->op == REC_DELETE_MATCH ? 7 : 6,
			     .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;
	int n;

	if (owner == NULL && (o->op == REC_CREATE || o->op == REC_UPDATE ||
			      o->op == REC_DELETE_OWNED))
		owner = "";
	snprintf(version, sizeof(version), "%" PRId64, o->version);
	snprintf(expires, sizeof(expires), "%" PRId64, o->expires_at);
	vals[0] = o->kind;
	vals[1] = o->op == REC_CREATE || o->op == REC_UPDATE ||
			  o->op == REC_DELETE || o->op == REC_REQUIRE_NONE ||
			  o->op == REC_REQUIRE_SOME
		      ? o->id
		      : NULL;
	vals[2] = owner;
	vals[3] = o->op == REC_CREATE || o->op == REC_UPDATE ||
			  o->op == REC_DELETE_MATCH
		      ? o->doc
		      : NULL;
	vals[4] = version;
	vals[5] = expires;
	vals[6] = o->member;
	if ((rc = pg_exec(s, "record write", &q, PGRES_TUPLES_OK, &r)) != SA_OK)
		return rc;
	n = PQntuples(r);
	PQclear(r);
	if (o->affected != NULL && o->op != REC_REQUIRE_NONE &&
	    o->op != REC_REQUIRE_SOME)
		*o->affected = n;
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
enum sa_err
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

/* pg_rec_rows runs a records SELECT with kind and key as $1 and $2 and
 * hands its rows to cb, after the connection went back to the pool. */
static enum sa_err
pg_rec_rows(struct dstore *store, const char *sql, const char *kind,
	    const char *key, dstore_rec_cb cb, void *arg)
{
	const char *vals[2] = {kind, key};
	const struct pg_query q = {.sql = sql, .nparams = 2, .values = vals};
	PGresult *r = NULL;
	enum sa_err rc;

	if ((rc = pg_once(pg_of(store), "record read", &q, PGRES_TUPLES_OK,
			  &r)) != SA_OK)
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

enum sa_err
pg_rec_get(struct dstore *store, const char *kind, const char *id,
	   dstore_rec_cb cb, void *arg)
{
	return pg_rec_rows(store,
			   "SELECT " DSTORE_REC_COLS
			   " FROM admin_records WHERE kind = $1 AND id = $2",
			   kind, id, cb, arg);
}

enum sa_err
pg_rec_list(struct dstore *store, const char *kind, const char *owner,
	    dstore_rec_cb cb, void *arg)
{
	return pg_rec_rows(store,
			   "SELECT " DSTORE_REC_COLS
			   " FROM admin_records WHERE kind = $1"
			   " AND ($2::text IS NULL OR owner = $2) ORDER BY id"
			   " LIMIT 10000",
			   kind, owner, cb, arg);
}

/* ---- Trust document sequence numbers ----------------------------------- */

/* pg_seq_raise keeps greatest(stored, seq) for doc in one statement. */
enum sa_err
pg_seq_raise(struct dstore *store, const char *doc, int64_t seq, int64_t now,
	     int64_t *highest)
{
	char sq[24], nw[24];
	const char *vals[3] = {doc, sq, nw};

	snprintf(sq, sizeof(sq), "%" PRId64, seq);
	snprintf(nw, sizeof(nw), "%" PRId64, now);
	return pg_query_int64(
	    pg_of(store),
	    "INSERT INTO trust_sequences AS t (doc, seq, updated_at)"
	    " VALUES ($1, $2, $3) ON CONFLICT (doc) DO UPDATE SET"
	    " seq = greatest(t.seq, excluded.seq), updated_at = CASE"
	    " WHEN excluded.seq > t.seq THEN excluded.updated_at ELSE"
	    " t.updated_at END RETURNING seq",
	    vals, 3, highest);
}
