/*
 * store_sqlite.c - the embedded durable store on SQLite.
 *
 * One sqlite3 handle opened with SQLITE_OPEN_FULLMUTEX serves every thread.
 * Each operation also holds ds->mu for its whole length: on a shared handle a
 * transaction begun by one thread would otherwise swallow the statements of
 * another (and roll them back with its own), and a reader would see rows not
 * yet committed. The one exception is the group commit (sqlite_finish): a
 * write that is done lets go of ds->mu while it waits for a later write to
 * commit its savepoint together with that write's own, and a use outside
 * the writes (sqlite_lock) commits an open group first. The database runs in
 * WAL mode with synchronous=FULL, so a committed audit row has been fsynced.
 *
 * This file opens the database and keeps the audit log and the metadata;
 * enrollments and takeovers are in store_sqlite_enroll.c, the registry, the
 * administration records and trust sequence numbers in store_sqlite_admin.c
 * (store_sqlite_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "store/store_sqlite_int.h"
#include "core/util.h"

#define SQLITE_BUSY_MS 5000
/*
 * The writer's page cache (SQLite's default is about 2 MB). Most of what it
 * writes is the audit log, appended at the end of its table and never read
 * back by this connection, so a full default cache holds pages nobody needs:
 * under load it is the largest share of SQLite's memory. The right edge of
 * each tree and the small tables fit in far less.
 */
#define SQLITE_WRITER_CACHE "PRAGMA cache_size=-512"
/* Enough for the logins of a busy minute on one server; the TTL covers the
 * seconds between a login's initiation and its verification. */
#define ENROLL_CACHE_SLOTS 16384
#define ENROLL_CACHE_TTL_MS 60000
#define SQLITE_META_KEY_MAX 128
#define SQLITE_META_VALUE_MAX 65536

/* The columns of an enrollment after its token id, as migration 2 made
 * them and migration 5 copied them. */
#define SQLITE_ENROLL_COLUMNS                                                  \
	" device_id TEXT NOT NULL, public_key_pem TEXT NOT NULL,"              \
	" fcm_token TEXT, push_endpoint TEXT, trust_level TEXT NOT NULL,"      \
	" claims TEXT NOT NULL, seal_fingerprint TEXT NOT NULL,"               \
	" created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"           \
	" revoked_at INTEGER NOT NULL DEFAULT 0"

/*
 * The schema, one migration per entry, applied in order, each in its own
 * transaction; schema_migrations records which ran. Never edit an entry that
 * has shipped: add a new one.
 */
static const char *const sqlite_migrations[] = {
    /* 1: metadata and the append-only, hash-chained audit log. */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " ts_ms INTEGER NOT NULL,"
    " event TEXT NOT NULL,"
    " ip TEXT NOT NULL,"
    " ua TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " detail TEXT NOT NULL,"
    " prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32));"
    /* The database itself refuses to rewrite history (SPEC section 8). */
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;",
    /* 2: enrollments (token id -> device key) and revoked token ids. */
    "CREATE TABLE enrollments ("
    " token_id TEXT PRIMARY KEY," SQLITE_ENROLL_COLUMNS ");"
    "CREATE INDEX enrollments_fingerprint ON enrollments (seal_fingerprint);"
    "CREATE TABLE revoked_tokens ("
    " token_id TEXT PRIMARY KEY,"
    " revoked_at INTEGER NOT NULL,"
    " reason TEXT NOT NULL);",
    /* 3: the relying-party registry; protocol settings in one JSON column.
     * Its version is the meta row "services.version". */
    "CREATE TABLE services ("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " scopes TEXT NOT NULL,"
    " origins TEXT NOT NULL,"
    " match_mode TEXT NOT NULL,"
    " enabled INTEGER NOT NULL,"
    " settings TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);",
    /* 4: administration records (admins, passkeys, their sessions). */
    "CREATE TABLE admin_records ("
    " kind TEXT NOT NULL,"
    " id TEXT NOT NULL,"
    " owner TEXT NOT NULL,"
    " doc TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " PRIMARY KEY (kind, id));"
    "CREATE INDEX admin_records_owner ON admin_records (kind, owner);",
    /* 5: enrollments keyed on (issuing authority, token id), a token id
     * still bound to one authority only (UNIQUE); existing rows take the
     * authority their last enroll.ok audit row names. The highest sequence
     * number of each signed trust document, and pending takeovers. */
    "CREATE TABLE enrollments_v3 ("
    " authority TEXT NOT NULL,"
    " token_id TEXT NOT NULL UNIQUE," SQLITE_ENROLL_COLUMNS ","
    " PRIMARY KEY (authority, token_id));"
    "INSERT INTO enrollments_v3 SELECT coalesce((SELECT"
    " json_extract(a.detail, '$.iac') FROM audit a WHERE a.event = "
    "'enroll.ok' AND a.subject = e.token_id AND json_valid(a.detail)"
    " ORDER BY a.seq DESC LIMIT 1), ''), e.token_id, e.device_id,"
    " e.public_key_pem, e.fcm_token, e.push_endpoint, e.trust_level,"
    " e.claims, e.seal_fingerprint, e.created_at, e.expires_at,"
    " e.revoked_at FROM enrollments e;"
    "DROP TABLE enrollments;"
    "ALTER TABLE enrollments_v3 RENAME TO enrollments;"
    "CREATE INDEX enrollments_fingerprint ON enrollments (seal_fingerprint);"
    "CREATE TABLE trust_sequences ("
    " doc TEXT PRIMARY KEY,"
    " seq INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE takeovers ("
    " token_id TEXT PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " authority TEXT NOT NULL,"
    " enrollment TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " effective_at INTEGER NOT NULL);",
};
_Static_assert(ARRAY_LEN(sqlite_migrations) == DSTORE_MIGRATIONS,
	       "store.h counts the migrations");

/* sqlite_err maps a SQLite result code to the project's error enum. */
enum sa_err
sqlite_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return SA_OK;
	case SQLITE_NOMEM:
		return SA_ERR_NOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SA_ERR_UNAVAILABLE;
	case SQLITE_FULL:
		return SA_ERR_DISK_FULL;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		return SA_ERR_IO;
	case SQLITE_CONSTRAINT:
		return SA_ERR_CONFLICT;
	default:
		return SA_ERR_INTERNAL;
	}
}

/*
 * sqlite_fail logs the handle's last error for an operation and maps rc. A
 * write refused for want of space (SQLITE_FULL, or an I/O error whose
 * errno is ENOSPC) is SA_ERR_DISK_FULL and marks the store as degraded.
 */
enum sa_err
sqlite_fail(struct sqlite_store *ds, const char *what, int rc)
{
	log_error("store.sqlite", "%s: %s (%d)", what, sqlite3_errmsg(ds->db),
		  sqlite3_extended_errcode(ds->db));
	if ((rc & 0xff) == SQLITE_FULL ||
	    ((rc & 0xff) == SQLITE_IOERR &&
	     sqlite3_system_errno(ds->db) == ENOSPC)) {
		if (!atomic_exchange(&ds->disk_full, 1))
			log_error("store.sqlite",
				  "the disk is full: writes are refused "
				  "with 503 until space returns");
		return SA_ERR_DISK_FULL;
	}
	return sqlite_err(rc);
}

/* sqlite_space_back clears the disk-full mark after a write succeeded. */
static void
sqlite_space_back(struct sqlite_store *ds)
{
	if (atomic_exchange(&ds->disk_full, 0))
		log_info("store.sqlite",
			 "the disk has space again: writes are accepted");
}

/* sqlite_exec runs SQL without results; the caller holds ds->mu. */
enum sa_err
sqlite_exec(struct sqlite_store *ds, const char *sql)
{
	int rc = sqlite3_exec(ds->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sqlite_fail(ds, sql, rc);
	return SA_OK;
}

/* The SQL of each transaction control statement (enum sqlite_ctl). */
static const char *const sqlite_ctl_sql[SQ_CTL_N] = {
    [SQ_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [SQ_BEGIN_READ] = "BEGIN",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT w",
    [SQ_RELEASE] = "RELEASE w",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO w",
};

/* sqlite_run steps a prepared statement that returns no rows and resets it;
 * the caller holds ds->mu. */
static enum sa_err
sqlite_run(struct sqlite_store *ds, sqlite3_stmt *st)
{
	int r = sqlite3_step(st);

	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sqlite_fail(ds, sqlite3_sql(st), r);
	return SA_OK;
}

/* sqlite_ctl runs one prepared transaction control statement; the caller
 * holds ds->mu. */
enum sa_err
sqlite_ctl(struct sqlite_store *ds, enum sqlite_ctl which)
{
	return sqlite_run(ds, ds->st_ctl[which]);
}

/* sqlite_rollback ends a failed transaction; a failure here is only logged
 * since the caller already reports the first error. */
void
sqlite_rollback(struct sqlite_store *ds)
{
	if (!sqlite3_get_autocommit(ds->db))
		(void)sqlite_ctl(ds, SQ_ROLLBACK);
}

/* Writes that share one COMMIT at most: a bound on how long the first
 * waits while others keep coming. */
#define SQLITE_GROUP_MAX 64

/*
 * group_end_locked commits the open group transaction (rc SA_OK and some
 * write kept) or rolls it back, and tells each waiting write the outcome.
 */
static void
group_end_locked(struct sqlite_store *ds, enum sa_err rc)
{
	struct sqlite_member *m, *next;

	if (rc == SA_OK && ds->grp_n > 0)
		rc = sqlite_ctl(ds, SQ_COMMIT);
	if (rc != SA_OK || ds->grp_n == 0)
		sqlite_rollback(ds);
	else
		sqlite_space_back(ds);
	/* The members sleep until they hold ds->mu again: still valid. */
	for (m = ds->grp_members; m != NULL; m = next) {
		next = m->next;
		m->rc = rc;
		m->done = 1;
	}
	ds->grp_members = NULL;
	ds->grp_n = 0;
	ds->grp_open = 0;
	pthread_cond_broadcast(&ds->grp_cv);
}

void
sqlite_lock(struct sqlite_store *ds)
{
	pthread_mutex_lock(&ds->mu);
	if (ds->grp_open)
		group_end_locked(ds, SA_OK);
}

/*
 * sqlite_begin takes ds->mu and starts a write: in the open group
 * transaction, or in an IMMEDIATE transaction it opens, inside a savepoint
 * of its own. The caller ends it with sqlite_finish and releases ds->mu,
 * whatever this returned.
 */
enum sa_err
sqlite_begin(struct sqlite_store *ds)
{
	enum sa_err rc;

	atomic_fetch_add(&ds->grp_want, 1);
	pthread_mutex_lock(&ds->mu);
	atomic_fetch_sub(&ds->grp_want, 1);
	if (!ds->grp_open) {
		if ((rc = sqlite_ctl(ds, SQ_BEGIN_WRITE)) != SA_OK)
			return rc;
		ds->grp_open = 1;
	}
	if ((rc = sqlite_ctl(ds, SQ_SAVEPOINT)) == SA_OK)
		ds->grp_sp = 1;
	return rc;
}

/*
 * sqlite_finish keeps the write when rc is SA_OK and undoes it otherwise,
 * then returns once it is durable: when another write is on its way in,
 * it leaves the transaction open for it and waits for the COMMIT that
 * write (or a later one) makes; otherwise it commits itself. A failed
 * COMMIT fails every write of the group. A read transaction the caller
 * opened itself (after sqlite_lock) is committed or rolled back as it is.
 * ds->mu stays held.
 */
enum sa_err
sqlite_finish(struct sqlite_store *ds, enum sa_err rc)
{
	struct sqlite_member me = {NULL, SA_OK, 0};

	if (ds->grp_sp) {
		ds->grp_sp = 0;
		if (rc == SA_OK)
			rc = sqlite_ctl(ds, SQ_RELEASE);
		if (rc != SA_OK && !sqlite3_get_autocommit(ds->db)) {
			(void)sqlite_ctl(ds, SQ_ROLLBACK_TO);
			(void)sqlite_ctl(ds, SQ_RELEASE);
		}
	}
	if (!ds->grp_open) {
		/* BEGIN failed, or the caller's own read transaction ends. */
		if (rc == SA_OK)
			rc = sqlite_ctl(ds, SQ_COMMIT);
		if (rc != SA_OK)
			sqlite_rollback(ds);
		return rc;
	}
	if (sqlite3_get_autocommit(ds->db)) {
		/* SQLite ended the transaction itself (an I/O error, a full
		 * disk): every write in it is lost. */
		if (rc == SA_OK)
			rc = SA_ERR_INTERNAL;
		group_end_locked(ds, rc);
		return rc;
	}
	if (rc == SA_OK) {
		me.next = ds->grp_members;
		ds->grp_members = &me;
		ds->grp_n++;
	}
	if (ds->grp_n > 0 && ds->grp_n < SQLITE_GROUP_MAX &&
	    atomic_load(&ds->grp_want) > 0) {
		while (rc == SA_OK && !me.done)
			pthread_cond_wait(&ds->grp_cv, &ds->mu);
	} else {
		group_end_locked(ds, SA_OK);
	}
	return rc == SA_OK ? me.rc : rc;
}

/*
 * sqlite_bind binds args to the parameters of st in order (?1, ?2, ...);
 * an argument past the statement's last parameter is not bound, so the
 * statements of one operation can share one list. Returns a SQLite code.
 */
int
sqlite_bind(sqlite3_stmt *st, const struct sqlite_arg *args, size_t n)
{
	int last = sqlite3_bind_parameter_count(st), r = SQLITE_OK;

	for (int i = 0; (size_t)i < n && i < last && r == SQLITE_OK; i++)
		r = args[i].is_int ? sqlite3_bind_int64(st, i + 1, args[i].num)
				   : sqlite3_bind_text(st, i + 1, args[i].text,
						       -1, SQLITE_STATIC);
	return r;
}

/* sqlite_prepare compiles sql on the writing connection and binds args;
 * the caller holds ds->mu and finalizes *st. */
enum sa_err
sqlite_prepare(struct sqlite_store *ds, const char *sql,
	       const struct sqlite_arg *args, size_t n, sqlite3_stmt **st)
{
	int r = sqlite3_prepare_v2(ds->db, sql, -1, st, NULL);

	if (r == SQLITE_OK)
		r = sqlite_bind(*st, args, n);
	if (r != SQLITE_OK)
		return sqlite_fail(ds, sql, r);
	return SA_OK;
}

/*
 * sqlite_cached finds the compiled statement of sql in the writer's cache,
 * compiling it on a miss (into a free slot, or in place of the oldest).
 * The SQL of the store's operations is constant text, so the cache is
 * looked up by address and the text compared to be sure. The caller holds
 * ds->mu; the statement stays owned by the cache and is reset after use.
 */
static enum sa_err
sqlite_cached(struct sqlite_store *ds, const char *sql, sqlite3_stmt **out)
{
	struct sqlite_cached *c;
	int r;

	for (size_t i = 0; i < SQLITE_STMT_CACHE; i++) {
		c = &ds->stmts[i];
		if (c->st != NULL && c->sql == sql &&
		    strcmp(sqlite3_sql(c->st), sql) == 0) {
			*out = c->st;
			return SA_OK;
		}
	}
	c = &ds->stmts[ds->next_stmt++ % SQLITE_STMT_CACHE];
	sqlite3_finalize(c->st);
	c->st = NULL;
	c->sql = NULL;
	r = sqlite3_prepare_v3(ds->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &c->st, NULL);
	if (r != SQLITE_OK) {
		sqlite3_finalize(c->st);
		c->st = NULL;
		return sqlite_fail(ds, sql, r);
	}
	c->sql = sql;
	*out = c->st;
	return SA_OK;
}

/*
 * sqlite_steps runs sql with args to its end: *rows gets how many rows it
 * returned and *first (may be NULL) the first column of the first. The
 * statement comes from the writer's cache. The caller holds ds->mu.
 */
static enum sa_err
sqlite_steps(struct sqlite_store *ds, const char *sql,
	     const struct sqlite_arg *args, size_t n, int64_t *rows,
	     int64_t *first)
{
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int r;

	*rows = 0;
	if ((rc = sqlite_cached(ds, sql, &st)) != SA_OK)
		return rc;
	if ((r = sqlite_bind(st, args, n)) != SQLITE_OK) {
		rc = sqlite_fail(ds, sql, r);
		goto out;
	}
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		if ((*rows)++ == 0 && first != NULL)
			*first = sqlite3_column_int64(st, 0);
	if (r != SQLITE_DONE)
		rc = sqlite_fail(ds, sql, r);
out:
	/* No bound text may outlive the caller's strings. */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* sqlite_do runs a statement that returns no rows; *changes (may be NULL)
 * gets how many rows it changed. The caller holds ds->mu. */
enum sa_err
sqlite_do(struct sqlite_store *ds, const char *sql,
	  const struct sqlite_arg *args, size_t n, int64_t *changes)
{
	int64_t rows;
	enum sa_err rc = sqlite_steps(ds, sql, args, n, &rows, NULL);

	if (rc == SA_OK && changes != NULL)
		*changes = sqlite3_changes(ds->db);
	return rc;
}

/*
 * sqlite_query_int64 runs a statement that returns one row of one value (a
 * query, or a write with RETURNING: it runs to its end, so the write is
 * applied); *out is set on success. The caller holds ds->mu.
 */
enum sa_err
sqlite_query_int64(struct sqlite_store *ds, const char *sql,
		   const struct sqlite_arg *args, size_t n, int64_t *out)
{
	int64_t rows, v = 0;
	enum sa_err rc = sqlite_steps(ds, sql, args, n, &rows, &v);

	if (rc == SA_OK && rows != 1) {
		log_error("store.sqlite", "%s: %lld rows, not one", sql,
			  (long long)rows);
		rc = SA_ERR_INTERNAL;
	}
	if (rc == SA_OK)
		*out = v;
	return rc;
}

/* sqlite_read_int64 is sqlite_query_int64 under ds->mu. */
enum sa_err
sqlite_read_int64(struct sqlite_store *ds, const char *sql,
		  const struct sqlite_arg *args, size_t n, int64_t *out)
{
	enum sa_err rc;

	sqlite_lock(ds);
	rc = sqlite_query_int64(ds, sql, args, n, out);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/* sqlite_write runs one statement that returns no rows under ds->mu, in
 * its own transaction. */
enum sa_err
sqlite_write(struct sqlite_store *ds, const char *sql,
	     const struct sqlite_arg *args, size_t n)
{
	enum sa_err rc;

	sqlite_lock(ds);
	rc = sqlite_do(ds, sql, args, n, NULL);
	pthread_mutex_unlock(&ds->mu);
	if (rc == SA_OK)
		sqlite_space_back(ds);
	return rc;
}

/*
 * sqlite_path extracts the file path from "sqlite://PATH" or a bare path
 * into a bounded buffer.
 */
static enum sa_err
sqlite_path(const char *url, char path[PATH_MAX])
{
	const char *p = str_has_prefix(url, "sqlite://") ? url + 9 : url;
	size_t n = strlen(p);

	if (n == 0 || n >= PATH_MAX) {
		log_error("store.sqlite",
			  "the database path is empty or too long");
		return SA_ERR_CONFIG;
	}
	memcpy(path, p, n + 1);
	return SA_OK;
}

/*
 * sqlite_prepare_file creates the parent directory (0700) and the database
 * file (0600) before SQLite opens it, so neither is ever readable by others;
 * SQLite gives the -wal and -shm files the mode of the database file.
 */
static enum sa_err
sqlite_prepare_file(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;

	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, 0700) != SA_OK) {
			log_error("store.sqlite", "cannot create %s: %s", dir,
				  strerror(errno));
			return SA_ERR_IO;
		}
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error("store.sqlite", "cannot open %s: %s", path,
			  strerror(errno));
		return SA_ERR_IO;
	}
	close(fd);
	return SA_OK;
}

/*
 * sqlite_pragma sets a pragma and, when want is not NULL, checks that the
 * value it reports back equals want (journal_mode answers with the mode it
 * really chose).
 */
static enum sa_err
sqlite_pragma(struct sqlite_store *ds, const char *sql, const char *want)
{
	sqlite3_stmt *st = NULL;
	enum sa_err rc = SA_ERR_INTERNAL;
	int r;

	if ((r = sqlite3_prepare_v2(ds->db, sql, -1, &st, NULL)) != SQLITE_OK) {
		rc = sqlite_fail(ds, sql, r);
		goto out;
	}
	r = sqlite3_step(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		rc = sqlite_fail(ds, sql, r);
		goto out;
	}
	if (want != NULL) {
		const char *got = r == SQLITE_ROW
				      ? (const char *)sqlite3_column_text(st, 0)
				      : NULL;
		if (got == NULL || strcasecmp(got, want) != 0) {
			log_error("store.sqlite", "%s gave %s, not %s", sql,
				  got ? got : "nothing", want);
			goto out;
		}
	}
	rc = SA_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * sqlite_migrate applies the migrations the database has not seen, each in
 * one transaction. A database that has migrations this binary does not know
 * is refused rather than written with an older idea of the schema.
 */
static enum sa_err
sqlite_migrate(struct sqlite_store *ds)
{
	enum sa_err rc;
	int64_t have = 0;

	rc = sqlite_exec(ds, "CREATE TABLE IF NOT EXISTS schema_migrations"
			     " (version INTEGER PRIMARY KEY)");
	if (rc != SA_OK)
		return rc;
	rc = sqlite_query_int64(
	    ds, "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL,
	    0, &have);
	if (rc != SA_OK)
		return rc;
	if (have > (int64_t)ARRAY_LEN(sqlite_migrations)) {
		log_error("store.sqlite",
			  "database schema version %lld is newer than this "
			  "binary knows (%zu)",
			  (long long)have, ARRAY_LEN(sqlite_migrations));
		return SA_ERR_CONFIG;
	}
	for (size_t i = 0; i < ARRAY_LEN(sqlite_migrations); i++) {
		const struct sqlite_arg version[] = {SQ_INT((int64_t)i + 1)};
		int64_t done = 0;

		if ((rc = sqlite_exec(ds, "BEGIN IMMEDIATE")) != SA_OK)
			return rc;
		/* Re-read inside the write lock: another process may have
		 * migrated between our first look and now. */
		if ((rc = sqlite_query_int64(
			 ds,
			 "SELECT count(*) FROM "
			 "schema_migrations WHERE version = ?",
			 version, 1, &done)) != SA_OK)
			goto fail;
		if (done == 0) {
			if ((rc = sqlite_exec(ds, sqlite_migrations[i])) !=
			    SA_OK)
				goto fail;
			if ((rc = sqlite_do(ds,
					    "INSERT INTO schema_migrations "
					    "(version) VALUES (?)",
					    version, 1, NULL)) != SA_OK)
				goto fail;
			log_info("store.migrate", "applied migration %zu",
				 i + 1);
		}
		if ((rc = sqlite_exec(ds, "COMMIT")) != SA_OK)
			goto fail;
	}
	return SA_OK;
fail:
	sqlite_rollback(ds);
	return rc;
}

static void sqlite_close(struct dstore *ds);

/*
 * sqlite_cache_open makes the enrollment cache of the database at path. Its
 * versions live in "PATH-cache", mapped by every server that opens the
 * database, so a write by one invalidates the others' entries too.
 */
static enum sa_err
sqlite_cache_open(const char *path, struct enroll_cache **out)
{
	char shared[PATH_MAX + 8];

	if ((size_t)snprintf(shared, sizeof(shared), "%s-cache", path) >=
	    sizeof(shared))
		return SA_ERR_CONFIG;
	return enroll_cache_open(shared, ENROLL_CACHE_SLOTS,
				 ENROLL_CACHE_TTL_MS, out);
}

/* reader_open opens a reading connection and prepares its enrollment
 * read; on failure rd is left closed, to be tried again by a later read. */
static enum sa_err
reader_open(struct sqlite_store *ds, struct sqlite_reader *rd)
{
	uint64_t now, last;
	int r = sqlite3_open_v2(ds->path, &rd->db,
				SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				    SQLITE_OPEN_NOFOLLOW,
				NULL);

	if (r == SQLITE_OK) {
		sqlite3_busy_timeout(rd->db, SQLITE_BUSY_MS);
		r = sqlite3_prepare_v3(rd->db, ENROLL_SELECT, -1,
				       SQLITE_PREPARE_PERSISTENT,
				       &rd->sel_enroll, NULL);
	}
	if (r == SQLITE_OK)
		return SA_OK;
	/* Once a second at most: every read may retry (sqlite_reader_take). */
	now = now_mono_ms();
	last = atomic_load(&ds->reader_warned_ms);
	if ((last == 0 || now - last >= 1000) &&
	    atomic_compare_exchange_strong(&ds->reader_warned_ms, &last, now))
		log_error("store.sqlite", "open reader: %s",
			  rd->db ? sqlite3_errmsg(rd->db) : "out of memory");
	sqlite3_finalize(rd->sel_enroll);
	sqlite3_close_v2(rd->db);
	rd->sel_enroll = NULL;
	rd->db = NULL;
	return sqlite_err(r);
}

void
sqlite_reader_take(struct sqlite_store *ds, struct sqlite_reader **out)
{
	struct sqlite_reader *rd =
	    &ds->readers[atomic_fetch_add(&ds->next_reader, 1) %
			 SQLITE_READERS];

	pthread_mutex_lock(&rd->mu);
	if (rd->db == NULL && reader_open(ds, rd) != SA_OK) {
		/* The first reader opened with the store and stays open: the
		 * read waits its turn there rather than fail. */
		pthread_mutex_unlock(&rd->mu);
		rd = &ds->readers[0];
		pthread_mutex_lock(&rd->mu);
	}
	*out = rd;
}

/*
 * sqlite_open opens (creating if needed) the database named by url, sets
 * the pragmas and runs pending migrations. *out owns the handle.
 */
static enum sa_err
sqlite_open(const char *url, struct dstore **out)
{
	char path[PATH_MAX];
	struct sqlite_store *ds = NULL;
	enum sa_err rc;
	int r;

	if ((rc = sqlite_path(url, path)) != SA_OK)
		goto out;
	if ((rc = sqlite_prepare_file(path)) != SA_OK)
		goto out;
	if ((ds = calloc(1, sizeof(*ds))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	ds->base.ops = &store_sqlite_ops;
	if ((rc = sqlite_cache_open(path, &ds->cache)) != SA_OK) {
		free(ds);
		ds = NULL;
		goto out;
	}
	pthread_mutex_init(&ds->mu, NULL);
	pthread_cond_init(&ds->grp_cv, NULL);
	for (size_t i = 0; i < SQLITE_READERS; i++)
		pthread_mutex_init(&ds->readers[i].mu, NULL);
	r = sqlite3_open_v2(path, &ds->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX |
				SQLITE_OPEN_NOFOLLOW,
			    NULL);
	if (r != SQLITE_OK) {
		rc = ds->db ? sqlite_fail(ds, "open", r) : SA_ERR_NOMEM;
		goto out;
	}
	sqlite3_extended_result_codes(ds->db, 1);
	sqlite3_busy_timeout(ds->db, SQLITE_BUSY_MS);
	if ((rc = sqlite_pragma(ds, "PRAGMA journal_mode=WAL", "wal")) !=
		SA_OK ||
	    (rc = sqlite_pragma(ds, "PRAGMA synchronous=FULL", NULL)) !=
		SA_OK ||
	    (rc = sqlite_pragma(ds, "PRAGMA foreign_keys=ON", NULL)) != SA_OK ||
	    (rc = sqlite_pragma(ds, SQLITE_WRITER_CACHE, NULL)) != SA_OK)
		goto out;
	/* Before the migrations, which roll back with them. */
	for (size_t i = 0; i < SQ_CTL_N && r == SQLITE_OK; i++)
		r = sqlite3_prepare_v3(ds->db, sqlite_ctl_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT,
				       &ds->st_ctl[i], NULL);
	if (r != SQLITE_OK) {
		rc = sqlite_fail(ds, "prepare transaction control", r);
		goto out;
	}
	if ((rc = sqlite_migrate(ds)) != SA_OK)
		goto out;
	r = sqlite3_prepare_v3(ds->db,
			       "INSERT INTO audit (seq, ts_ms, event, ip, ua, "
			       "subject, detail, prev_hash, hash) VALUES "
			       "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, SQLITE_PREPARE_PERSISTENT, &ds->ins_audit,
			       NULL);
	if (r != SQLITE_OK) {
		rc = sqlite_fail(ds, "prepare audit insert", r);
		goto out;
	}
	r = sqlite3_prepare_v3(ds->db, ENROLL_SELECT, -1,
			       SQLITE_PREPARE_PERSISTENT, &ds->sel_enroll,
			       NULL);
	if (r == SQLITE_OK)
		r = sqlite3_prepare_v3(ds->db,
				       "SELECT seq, hash FROM audit"
				       " ORDER BY seq DESC LIMIT 1",
				       -1, SQLITE_PREPARE_PERSISTENT,
				       &ds->st_tail, NULL);
	if (r != SQLITE_OK) {
		rc = sqlite_fail(ds, "prepare statements", r);
		goto out;
	}
	str_copy(ds->path, sizeof(ds->path), path);
	if ((rc = reader_open(ds, &ds->readers[0])) != SA_OK)
		goto out;
	(void)sqlite_ckpt_start(ds); /* says itself why it could not */
	*out = &ds->base;
	ds = NULL;
	rc = SA_OK;
out:
	if (ds != NULL)
		sqlite_close(&ds->base);
	return rc;
}

/* sqlite_close finalizes statements and closes the handle. */
static void
sqlite_close(struct dstore *store)
{
	struct sqlite_store *ds = sqlite_of(store);
	if (ds == NULL)
		return;
	sqlite_ckpt_stop(ds);
	sqlite3_finalize(ds->ins_audit);
	sqlite3_finalize(ds->sel_enroll);
	for (size_t i = 0; i < SQ_CTL_N; i++)
		sqlite3_finalize(ds->st_ctl[i]);
	for (size_t i = 0; i < SQLITE_STMT_CACHE; i++)
		sqlite3_finalize(ds->stmts[i].st);
	sqlite3_finalize(ds->st_tail);
	for (size_t i = 0; i < SQLITE_READERS; i++) {
		sqlite3_finalize(ds->readers[i].sel_enroll);
		if (ds->readers[i].db != NULL)
			sqlite3_close_v2(ds->readers[i].db);
		pthread_mutex_destroy(&ds->readers[i].mu);
	}
	if (ds->db != NULL && sqlite3_close_v2(ds->db) != SQLITE_OK)
		log_warn("store.sqlite", "close: %s", sqlite3_errmsg(ds->db));
	pthread_cond_destroy(&ds->grp_cv);
	pthread_mutex_destroy(&ds->mu);
	enroll_cache_free(ds->cache);
	free(ds);
}

static enum sa_err sqlite_meta_set(struct dstore *ds, const char *key,
				   const char *value);

/*
 * sqlite_ping reads a constant; after a write failed for want of space it
 * also writes a small probe row, so /health reports the disk full until a
 * write can succeed again, and then by itself reports the store healthy.
 */
static enum sa_err
sqlite_ping(struct dstore *store)
{
	struct sqlite_store *ds = sqlite_of(store);
	int64_t one = 0;
	char now[24];
	enum sa_err rc;

	rc = sqlite_read_int64(ds, "SELECT 1", NULL, 0, &one);
	if (rc == SA_OK && one != 1)
		rc = SA_ERR_INTERNAL;
	if (rc == SA_OK && atomic_load(&ds->disk_full)) {
		snprintf(now, sizeof(now), "%lld", (long long)now_unix());
		if ((rc = sqlite_meta_set(store, "health_probe", now)) == SA_OK)
			sqlite_space_back(ds);
	}
	return rc;
}

/*
 * sqlite_tail reads the last row's seq and hash; an empty log gives seq 0
 * and the genesis hash of 32 zero bytes. The caller holds the write lock.
 */
static enum sa_err
sqlite_tail(struct sqlite_store *ds, int64_t *seq, unsigned char hash[32])
{
	sqlite3_stmt *st = ds->st_tail;
	enum sa_err rc;
	int r;

	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		*seq = 0;
		memset(hash, 0, 32);
		rc = SA_OK;
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = sqlite_fail(ds, sqlite3_sql(st), r);
		goto out;
	}
	if (sqlite3_column_bytes(st, 1) != 32) {
		/* Chaining onto a damaged tail would hide the damage. */
		log_error("store.sqlite",
			  "the last audit row has a malformed hash");
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	*seq = sqlite3_column_int64(st, 0);
	memcpy(hash, sqlite3_column_blob(st, 1), 32);
	rc = SA_OK;
out:
	sqlite3_reset(st);
	return rc;
}

/* sqlite_insert_row binds one chained row to the prepared insert and runs it.
 */
static enum sa_err
sqlite_insert_row(struct sqlite_store *ds, const struct audit_row *row)
{
	sqlite3_stmt *st = ds->ins_audit;
	int r;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if ((r = sqlite3_bind_int64(st, 1, row->seq)) != SQLITE_OK ||
	    (r = sqlite3_bind_int64(st, 2, row->ts_ms)) != SQLITE_OK ||
	    (r = sqlite3_bind_text(st, 3, row->event, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (r = sqlite3_bind_text(st, 4, row->ip, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (r = sqlite3_bind_text(st, 5, row->ua, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (r = sqlite3_bind_text(st, 6, row->subject, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (r = sqlite3_bind_text(st, 7, row->detail, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (r = sqlite3_bind_blob(st, 8, row->prev_hash, 32, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (r = sqlite3_bind_blob(st, 9, row->hash, 32, SQLITE_STATIC)) !=
		SQLITE_OK)
		return sqlite_fail(ds, "bind audit row", r);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r != SQLITE_DONE)
		return sqlite_fail(ds, "insert audit row", r);
	return SA_OK;
}

/*
 * sqlite_chain_insert chains rows[0..n) after the log's tail into chained
 * and inserts them; the caller holds ds->mu inside a write transaction.
 */
static enum sa_err
sqlite_chain_insert(struct sqlite_store *ds, const struct audit_row *rows,
		    struct audit_row *chained, size_t n)
{
	unsigned char prev[32];
	int64_t seq = 0;
	enum sa_err rc;

	if ((rc = sqlite_tail(ds, &seq, prev)) != SA_OK)
		return rc;
	audit_rows_chain(rows, chained, n, seq, prev);
	for (size_t i = 0; i < n && rc == SA_OK; i++)
		rc = sqlite_insert_row(ds, &chained[i]);
	return rc;
}

enum sa_err
sqlite_audit_rows(struct sqlite_store *ds, const struct dstore_audit *au,
		  const struct dstore_found *found)
{
	struct audit_row rows[DSTORE_AUDIT_ROWS_MAX];
	struct audit_row chained[DSTORE_AUDIT_ROWS_MAX];
	size_t n = 0;
	enum sa_err rc;

	if ((rc = dstore_audit_rows(au, found, rows, &n)) != SA_OK || n == 0)
		return rc;
	return sqlite_chain_insert(ds, rows, chained, n);
}

/*
 * sqlite_audit_append chains and inserts n rows in one BEGIN IMMEDIATE
 * transaction. The chain is computed on copies; seq, prev_hash and hash of
 * the caller's rows are written only after COMMIT succeeded, so a failed
 * append leaves them as they were.
 */
static enum sa_err
sqlite_audit_append(struct dstore *store, struct audit_row *rows, size_t n)
{
	struct sqlite_store *ds = sqlite_of(store);
	struct audit_row *chained = NULL;
	enum sa_err rc;

	if ((chained = calloc(n, sizeof(*chained))) == NULL)
		return SA_ERR_NOMEM;
	if ((rc = sqlite_begin(ds)) == SA_OK)
		rc = sqlite_chain_insert(ds, rows, chained, n);
	rc = sqlite_finish(ds, rc);
	pthread_mutex_unlock(&ds->mu);
	if (rc == SA_OK) {
		for (size_t i = 0; i < n; i++) {
			rows[i].seq = chained[i].seq;
			memcpy(rows[i].prev_hash, chained[i].prev_hash, 32);
			memcpy(rows[i].hash, chained[i].hash, 32);
		}
	}
	free(chained);
	return rc;
}

/* sqlite_col_strdup copies a text column into a new string ("" for NULL). */
char *
sqlite_col_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return strdup(t ? (const char *)t : "");
}

/*
 * sqlite_read_page copies up to want rows with seq >= from_seq into pg. A
 * row whose hash columns are not 32 bytes is refused with SA_ERR_INTERNAL
 * (the rows before it are still in pg).
 */
static enum sa_err
sqlite_read_page(struct dstore *store, int64_t from_seq, size_t want,
		 struct audit_page *pg)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] =
	    "SELECT seq, ts_ms, event, ip, ua, subject, detail, prev_hash, "
	    "hash FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?";
	sqlite3_stmt *st = NULL;
	enum sa_err rc;
	int r;

	const struct sqlite_arg args[] = {SQ_INT(from_seq),
					  SQ_INT((int64_t)want)};

	sqlite_lock(ds);
	if ((rc = sqlite_prepare(ds, sql, args, ARRAY_LEN(args), &st)) != SA_OK)
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_row *row = &pg->rows[pg->n];

		memset(row, 0, sizeof(*row));
		if (sqlite3_column_bytes(st, 7) != 32 ||
		    sqlite3_column_bytes(st, 8) != 32) {
			log_error("store.sqlite",
				  "audit row %lld has a malformed hash",
				  (long long)sqlite3_column_int64(st, 0));
			rc = SA_ERR_INTERNAL;
			goto out;
		}
		row->seq = sqlite3_column_int64(st, 0);
		row->ts_ms = sqlite3_column_int64(st, 1);
		row->event = sqlite_col_strdup(st, 2);
		row->ip = sqlite_col_strdup(st, 3);
		row->ua = sqlite_col_strdup(st, 4);
		row->subject = sqlite_col_strdup(st, 5);
		row->detail = sqlite_col_strdup(st, 6);
		memcpy(row->prev_hash, sqlite3_column_blob(st, 7), 32);
		memcpy(row->hash, sqlite3_column_blob(st, 8), 32);
		pg->n++;
		if (!row->event || !row->ip || !row->ua || !row->subject ||
		    !row->detail) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
	}
	rc = r == SQLITE_DONE ? SA_OK : sqlite_fail(ds, sql, r);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/*
 * sqlite_audit_iter walks rows with seq >= from_seq in pages, calling cb
 * outside the lock so a long walk (audit verify) does not stall the writer
 * and cb may itself use the store. Rows are append-only, so paging by seq
 * sees each row once.
 */
static enum sa_err
sqlite_audit_iter(struct dstore *store, int64_t from_seq, int64_t limit,
		  audit_row_cb cb, void *arg)
{
	return audit_walk(store, from_seq, limit, cb, arg, sqlite_read_page);
}

static enum sa_err
sqlite_audit_count(struct dstore *store, int64_t *out)
{
	return sqlite_read_int64(sqlite_of(store), "SELECT count(*) FROM audit",
				 NULL, 0, out);
}

/* sqlite_meta_key_ok bounds metadata keys; values are bounded by the caller
 * of meta_set below. */
static int
sqlite_meta_key_ok(const char *key)
{
	size_t n = key ? strnlen(key, SQLITE_META_KEY_MAX + 1) : 0;

	return n > 0 && n <= SQLITE_META_KEY_MAX;
}

/* sqlite_meta_get copies the value of key into a new string (caller frees). */
static enum sa_err
sqlite_meta_get(struct dstore *store, const char *key, char **out)
{
	struct sqlite_store *ds = sqlite_of(store);
	static const char sql[] = "SELECT value FROM meta WHERE key = ?";
	const struct sqlite_arg args[] = {SQ_TEXT(key)};
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	enum sa_err rc;
	int r;

	if (!sqlite_meta_key_ok(key))
		return SA_ERR_VALIDATION;
	sqlite_lock(ds);
	if ((rc = sqlite_prepare(ds, sql, args, 1, &st)) != SA_OK)
		goto out;
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		rc = SA_ERR_NOT_FOUND;
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = sqlite_fail(ds, sql, r);
		goto out;
	}
	if ((v = sqlite_col_strdup(st, 0)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	*out = v;
	rc = SA_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&ds->mu);
	return rc;
}

/* sqlite_meta_set inserts or replaces key's value. */
static enum sa_err
sqlite_meta_set(struct dstore *store, const char *key, const char *value)
{
	const struct sqlite_arg args[] = {SQ_TEXT(key), SQ_TEXT(value)};

	if (!sqlite_meta_key_ok(key) || value == NULL ||
	    strnlen(value, SQLITE_META_VALUE_MAX + 1) > SQLITE_META_VALUE_MAX)
		return SA_ERR_VALIDATION;
	return sqlite_write(
	    sqlite_of(store),
	    "INSERT INTO meta (key, value) VALUES (?, ?) ON "
	    "CONFLICT (key) DO UPDATE SET value = excluded.value",
	    args, ARRAY_LEN(args));
}

/* Each operation of the lists in store_int.h is sqlite_ and its name. */
#define SQLITE_OP_INIT(op, params) .op = sqlite_##op,
const struct dstore_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    DSTORE_CORE_OPS(SQLITE_OP_INIT) DSTORE_ENROLL_OPS(SQLITE_OP_INIT)
	DSTORE_ADMIN_OPS(SQLITE_OP_INIT)};
