/*
 * test_store_sqlite.c - the SQLite durable store: files, migrations, meta,
 * the audit chain and the database-enforced append-only rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "store_contract.h"
#include "support.h"
#include "core/util.h"

/* The URL first: the shared contract tests take the fixture as it. */
struct fixture {
	char url[PATH_MAX + 16];
	char dir[64];
	char db[PATH_MAX];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sa_sqlite_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* A parent that does not exist yet: open must create it. */
	snprintf(f->db, sizeof(f->db), "%s/data/sealauth.db", f->dir);
	snprintf(f->url, sizeof(f->url), "sqlite://%s", f->db);
	log_set_level(SA_LOG_ERROR);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_tree(f->dir);
	free(f);
	return 0;
}

static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
raw_text(const char *path, const char *sql, char *out, size_t n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
test_open_creates_private_files(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct stat st;
	char parent[PATH_MAX], mode[16];

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_string_equal(dstore_name(ds), "sqlite");
	assert_int_equal(dstore_ping(ds), SA_OK);
	snprintf(parent, sizeof(parent), "%s/data", f->dir);
	assert_int_equal(stat(parent, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	dstore_close(ds);
	/* WAL is a persistent property of the file. */
	raw_text(f->db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
}

static void
test_migrations_idempotent(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	int64_t n = -1;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(dstore_open(f->url, &ds), SA_OK);
		assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
		assert_int_equal(n, 0);
		dstore_close(ds);
		ds = NULL;
		/* One row per migration, however often the store opens. */
		assert_int_equal(raw_int(f->db, "SELECT count(*) FROM "
						"schema_migrations"),
				 DSTORE_MIGRATIONS);
		assert_int_equal(raw_int(f->db, "SELECT max(version) FROM "
						"schema_migrations"),
				 DSTORE_MIGRATIONS);
	}
	/* A bare path names the same database. */
	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	dstore_close(ds);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master "
					"WHERE type = 'trigger' AND "
					"tbl_name = 'audit'"),
			 2);
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	sqlite3 *db;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	dstore_close(ds);
	ds = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO schema_migrations "
				      "VALUES (999)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(dstore_open(f->url, &ds), SA_ERR_CONFIG);
	assert_null(ds);
}

static void
test_meta(void **state)
{
	struct fixture *f = *state;

	dstore_contract_meta(f->url);
	/* kid and the value exactly at the bound; nothing refused was kept. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM meta"), 2);
}

static void
test_audit_append_iter_count(void **state)
{
	struct fixture *f = *state;

	dstore_contract_audit(f->url);
	assert_int_equal(raw_int(f->db,
				 "SELECT count(*) FROM audit WHERE "
				 "length(hash) = 32 AND ua = 'test-agent/1'"),
			 5);
}

static void
raw_exec_refused(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, &err),
			 SQLITE_CONSTRAINT);
	assert_non_null(err);
	assert_non_null(strstr(err, "audit log is append-only"));
	sqlite3_free(err);
	sqlite3_close(db);
}

static void
test_update_delete_refused_by_db(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit_row rows[2] = {mkrow("y.one", "{}"), mkrow("y.two", "{}")};

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, rows, 2), SA_OK);
	/* While the store is open, through another connection. */
	raw_exec_refused(f->db, "UPDATE audit SET detail = '{\"x\":1}' WHERE "
				"seq = 1");
	raw_exec_refused(f->db, "DELETE FROM audit WHERE seq = 2");
	raw_exec_refused(f->db, "DELETE FROM audit");
	dstore_close(ds);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM audit"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM audit WHERE "
					"detail = '{}'"),
			 2);
}

static void
test_backend_choice(void **state)
{
	struct dstore *ds = NULL;
	struct estore *es = NULL;

	(void)state;
	assert_int_equal(dstore_open("ftp://x/y", &ds), SA_ERR_CONFIG);
	assert_int_equal(dstore_open("", &ds), SA_ERR_CONFIG);
	assert_int_equal(dstore_open("sqlite://", &ds), SA_ERR_CONFIG);
	assert_null(ds);
	assert_int_equal(estore_open("rediss://localhost:6379/0", &es),
			 SA_ERR_CONFIG);
	assert_int_equal(estore_open("memcached://x", &es), SA_ERR_CONFIG);
	assert_null(es);
	assert_int_equal(estore_open("mem:", &es), SA_OK);
	assert_string_equal(estore_name(es), "mem");
	estore_close(es);
	es = NULL;
	assert_int_equal(estore_open("", &es), SA_OK);
	assert_int_equal(estore_ping(es), SA_OK);
	estore_close(es);
}

static void
test_enrollments(void **state)
{
	struct fixture *f = *state;

	dstore_contract_enrollments(f->url);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM revoked_tokens "
					"WHERE reason = 'test'"),
			 1);
}

/* One writer of test_group_commit: every third append it makes is refused
 * by the database (an event of NULL), the others must all land. */
#define GROUP_THREADS 8
#define GROUP_WRITES 60

struct group_writer {
	struct dstore *ds;
	int ok, refused, wrong;
};

static void *
group_write(void *arg)
{
	struct group_writer *w = arg;

	for (int i = 0; i < GROUP_WRITES; i++) {
		struct audit_row row = {.ts_ms = 1,
					.event = "test.group",
					.ip = "",
					.ua = "",
					.subject = "",
					.detail = "{}"};
		enum sa_err rc;

		if (i % 3 == 2)
			row.event = NULL;
		rc = dstore_audit_append(w->ds, &row, 1);
		if (i % 3 == 2 && rc != SA_OK)
			w->refused++;
		else if (i % 3 != 2 && rc == SA_OK && row.seq > 0)
			w->ok++;
		else
			w->wrong++;
	}
	return NULL;
}

/*
 * Writes from many threads share transactions (the group commit): a write
 * the database refuses is undone alone, every other one is kept, and the
 * chain has no gap nor fork.
 */
static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct group_writer w[GROUP_THREADS];
	pthread_t t[GROUP_THREADS];
	struct dstore *ds = NULL;
	int ok = 0;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	for (int i = 0; i < GROUP_THREADS; i++) {
		w[i] = (struct group_writer){.ds = ds};
		assert_int_equal(
		    pthread_create(&t[i], NULL, group_write, &w[i]), 0);
	}
	for (int i = 0; i < GROUP_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].wrong, 0);
		assert_int_equal(w[i].refused, GROUP_WRITES / 3);
		ok += w[i].ok;
	}
	assert_int_equal(ok, GROUP_THREADS * GROUP_WRITES * 2 / 3);
	dstore_close(ds);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM audit"), ok);
	assert_int_equal(raw_int(f->db, "SELECT max(seq) FROM audit"), ok);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM audit a JOIN"
					" audit b ON b.seq = a.seq + 1"
					" WHERE b.prev_hash != a.hash"),
			 0);
}

/* db_fds counts this process's descriptors open on path itself (the
 * -wal and -shm files have names of their own). */
static int
db_fds(const char *path)
{
	char link[64], target[PATH_MAX];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += strcmp(target, path) == 0;
	}
	return n;
}

static int
count_row(const struct enrollment *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* list_all lists every enrollment through the next reading connection. */
static enum sa_err
list_all(struct dstore *ds, int *rows)
{
	struct enroll_filter flt = {.status = ENROLL_ANY, .limit = 10};

	*rows = 0;
	return dstore_enroll_list(ds, &flt, count_row, rows);
}

/*
 * The reading connections: one opens with the store, the others on their
 * first read. A reader that cannot open leaves its read to the first one,
 * and opens on a later read.
 */
static void
test_readers_open_on_first_read(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct enrollment e;
	char away[PATH_MAX + 8];
	int rows = -1;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	fill_enrollment(&e, "tok-1", "dev-a", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	/* The writer, the checkpointer and the first reader. */
	assert_int_equal(db_fds(f->db), 3);

	/* With the file moved away no other reader can open; reads go round
	 * the four connections and all of them are answered by the first. */
	snprintf(away, sizeof(away), "%s.away", f->db);
	assert_int_equal(rename(f->db, away), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(list_all(ds, &rows), SA_OK);
		assert_int_equal(rows, 1);
	}
	assert_int_equal(rename(away, f->db), 0);
	assert_int_equal(db_fds(f->db), 3);

	/* Back in place: every reader opens on its next read. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(list_all(ds, &rows), SA_OK);
		assert_int_equal(rows, 1);
	}
	assert_int_equal(db_fds(f->db), 6);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &e), SA_OK);
	assert_string_equal(e.device_id, "dev-a");
	enrollment_free(&e);
	dstore_close(ds);
	assert_int_equal(db_fds(f->db), 0);
}

/* raw_exec runs SQL on the file directly, as an older binary would. */
static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * A database written before authorities were recorded migrates: each
 * binding takes the authority its last enroll.ok audit row names, one
 * without such a row keeps none, and the audit chain is untouched.
 */
static void
test_migration_derives_authority(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct enrollment got;
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/data", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	raw_exec(
	    f->db,
	    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);"
	    "INSERT INTO schema_migrations VALUES (1), (2);"
	    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT "
	    "NULL, event TEXT NOT NULL, ip TEXT NOT NULL, ua TEXT NOT NULL,"
	    " subject TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BLOB "
	    "NOT NULL, hash BLOB NOT NULL);"
	    "CREATE TABLE enrollments (token_id TEXT PRIMARY KEY, device_id "
	    "TEXT NOT NULL, public_key_pem TEXT NOT NULL, fcm_token TEXT, "
	    "push_endpoint TEXT, trust_level TEXT NOT NULL, claims TEXT NOT "
	    "NULL, seal_fingerprint TEXT NOT NULL, created_at INTEGER NOT "
	    "NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL "
	    "DEFAULT 0);"
	    "CREATE TABLE revoked_tokens (token_id TEXT PRIMARY KEY, "
	    "revoked_at INTEGER NOT NULL, reason TEXT NOT NULL);"
	    "INSERT INTO audit VALUES (1, 1, 'enroll.ok', '', '', 'T-1', "
	    "'{\"iac\":\"OLD\"}', zeroblob(32), zeroblob(32));"
	    "INSERT INTO audit VALUES (2, 2, 'enroll.ok', '', '', 'T-1', "
	    "'{\"iac\":\"DEMO\"}', zeroblob(32), zeroblob(32));"
	    "INSERT INTO enrollments VALUES ('T-1', 'd1', 'pem', NULL, NULL,"
	    " 'high', '{}', 'fp', 1, 2, 0);"
	    "INSERT INTO enrollments VALUES ('T-2', 'd2', 'pem', NULL, NULL,"
	    " 'high', '{}', 'fp', 1, 2, 0);");
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "T-1", &got), SA_OK);
	assert_string_equal(got.authority, "DEMO");
	assert_string_equal(got.device_id, "d1");
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_get(ds, "T-2", &got), SA_OK);
	assert_string_equal(got.authority, "");
	enrollment_free(&got);
	dstore_close(ds);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM audit"), 2);
}

/* file_size is the size of path in bytes, or 0 when it does not exist. */
static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* thread_named tells whether a thread of this process has the name. */
static int
thread_named(const char *name)
{
	char path[300], comm[32];
	struct dirent *de;
	int found = 0;
	DIR *d = opendir("/proc/self/task");
	FILE *fp;

	assert_non_null(d);
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), fp) != NULL &&
		    strncmp(comm, name, strlen(name)) == 0)
			found = 1;
		fclose(fp);
	}
	closedir(d);
	return found;
}

/* put_values commits writes from..to-1 one by one: write i sets meta key
 * "ckpt.<i % 20>" to vlen copies of the letter 'a' + i % 26. */
static void
put_values(struct dstore *ds, int from, int to, size_t vlen)
{
	char key[32], *value = malloc(vlen + 1);

	assert_non_null(value);
	for (int i = from; i < to; i++) {
		memset(value, 'a' + i % 26, vlen);
		value[vlen] = '\0';
		snprintf(key, sizeof(key), "ckpt.%d", i % 20);
		assert_int_equal(dstore_meta_set(ds, key, value), SA_OK);
	}
	free(value);
}

/*
 * Checkpoints run on their own thread: the writer's commits fill the log
 * without copying it into the database file themselves, yet the file grows
 * (only a checkpoint writes it in WAL mode). Under writes that never pause
 * the log cannot start over behind a checkpoint that runs beside them, so
 * past 10,000 pages the writer checkpoints what is left itself: the log
 * stays under that however much goes through it.
 */
static void
test_checkpoints_off_the_commit(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	char wal[PATH_MAX + 8], *back = NULL;
	const off_t frame = 4096 + 24; /* a page and its frame header */
	size_t vlen = 64 * 1024;
	off_t before;
	int grown = 0;

	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	/* The thread names itself as it starts: give it a moment. */
	for (int i = 0; i < 100 && !thread_named("sa-checkpoint"); i++)
		sleep_ms(10);
	assert_true(thread_named("sa-checkpoint"));
	before = file_size(f->db);
	/* 80 commits of 64 KiB: about 1,400 pages through the log. */
	put_values(ds, 0, 80, vlen);
	/* The checkpointer copies in the background: wait for it, bounded. */
	for (int i = 0; i < 100 && !grown; i++) {
		grown = file_size(f->db) >= before + 20 * (off_t)vlen &&
			sqlite_ckpt_runs(ds) > 0;
		if (!grown)
			sleep_ms(50);
	}
	assert_true(grown);
	/* 800 more without a pause: about 14,000 pages. */
	put_values(ds, 80, 880, vlen);
	assert_true(file_size(wal) <= 10500 * frame);
	assert_int_equal(dstore_meta_get(ds, "ckpt.19", &back), SA_OK);
	assert_int_equal(strlen(back), vlen);
	assert_int_equal(back[0], 'a' + 879 % 26);
	free(back);
	dstore_close(ds);
	assert_false(thread_named("sa-checkpoint"));
	/* Everything is there after a reopen. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "ckpt.0", &back), SA_OK);
	assert_int_equal(back[0], 'a' + 860 % 26);
	free(back);
	dstore_close(ds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    DSTORE_CONTRACT_TESTS(setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_creates_private_files,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrations_idempotent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_append_iter_count, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_update_delete_refused_by_db,
					    setup, teardown),
	    cmocka_unit_test(test_backend_choice),
	    cmocka_unit_test_setup_teardown(test_enrollments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoints_off_the_commit,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readers_open_on_first_read,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration_derives_authority,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
