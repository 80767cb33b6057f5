/*
 * test_store_sqlite.c - the SQLite durable store: files, migrations, meta,
 * the audit chain and the database-enforced append-only rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/log.h"
#include "store/store.h"
#include "store_contract.h"
#include "core/util.h"

struct fixture {
	char dir[64];
	char db[PATH_MAX];
	char url[PATH_MAX + 16];
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

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

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
	struct dstore *ds = NULL;
	static char big[65538]; /* one byte over the value bound */
	char *v = NULL;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "missing", &v), SA_ERR_NOT_FOUND);
	assert_null(v);
	assert_int_equal(dstore_meta_set(ds, "kid", "abc"), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "kid", &v), SA_OK);
	assert_string_equal(v, "abc");
	free(v);
	assert_int_equal(dstore_meta_set(ds, "kid", "def"), SA_OK);
	dstore_close(ds);
	ds = NULL;

	/* Survives a reopen, overwritten in place. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "kid", &v), SA_OK);
	assert_string_equal(v, "def");
	free(v);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dstore_meta_set(ds, "big", big), SA_ERR_VALIDATION);
	assert_int_equal(dstore_meta_set(ds, "", "x"), SA_ERR_VALIDATION);
	dstore_close(ds);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM meta"), 1);
}

static struct audit_row
mkrow(const char *event, const char *detail)
{
	struct audit_row r;

	memset(&r, 0, sizeof(r));
	r.ts_ms = 1700000000000;
	r.event = event;
	r.ip = "192.0.2.7";
	r.ua = "test-agent/1";
	r.subject = "tok-1";
	r.detail = detail;
	return r;
}

struct collect {
	int n;
	int64_t seq[16];
	char event[16][32];
	unsigned char prev[16][32], hash[16][32];
};

static int
collect_cb(const struct audit_row *row, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < 16);
	c->seq[c->n] = row->seq;
	snprintf(c->event[c->n], sizeof(c->event[0]), "%s", row->event);
	memcpy(c->prev[c->n], row->prev_hash, 32);
	memcpy(c->hash[c->n], row->hash, 32);
	c->n++;
	return 0;
}

static void
test_audit_append_iter_count(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit_row rows[3] = {mkrow("a.one", "{}"),
				    mkrow("a.two", "{\"k\":1}"),
				    mkrow("a.three", "{}")};
	struct audit_row more[2] = {mkrow("b.one", "{}"), mkrow("b.two", "{}")};
	unsigned char zero[32] = {0}, h[32];
	struct collect c;
	int64_t n = 0;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, rows, 3), SA_OK);
	assert_int_equal(rows[0].seq, 1);
	assert_int_equal(rows[2].seq, 3);
	assert_memory_equal(rows[0].prev_hash, zero, 32);
	assert_memory_equal(rows[1].prev_hash, rows[0].hash, 32);
	audit_row_hash(&rows[1], rows[0].hash, h);
	assert_memory_equal(h, rows[1].hash, 32);
	dstore_close(ds);
	ds = NULL;

	/* The chain continues across a reopen. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, more, 2), SA_OK);
	assert_int_equal(more[0].seq, 4);
	assert_memory_equal(more[0].prev_hash, rows[2].hash, 32);
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, 5);

	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_audit_iter(ds, 1, 0, collect_cb, &c), SA_OK);
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(c.seq[i], i + 1);
	assert_string_equal(c.event[1], "a.two");
	assert_string_equal(c.event[4], "b.two");
	assert_memory_equal(c.hash[3], more[0].hash, 32);
	assert_memory_equal(c.prev[4], more[0].hash, 32);

	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_audit_iter(ds, 2, 2, collect_cb, &c), SA_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seq[0], 2);
	assert_int_equal(c.seq[1], 3);
	dstore_close(ds);
}

static void
test_failed_append_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit_row ok = mkrow("x.ok", "{}");
	struct audit_row rows[2] = {mkrow("x.first", "{}"),
				    mkrow(NULL, "{}")}; /* NOT NULL fails */
	int64_t n = -1;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, &ok, 1), SA_OK);
	assert_int_not_equal(dstore_audit_append(ds, rows, 2), SA_OK);
	/* Neither row was written, and neither was given a place in the
	 * chain. */
	assert_int_equal(rows[0].seq, 0);
	assert_int_equal(rows[1].seq, 0);
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, 1);
	/* The store is usable afterwards and the chain continues at 2. */
	ok = mkrow("x.after", "{}");
	assert_int_equal(dstore_audit_append(ds, &ok, 1), SA_OK);
	assert_int_equal(ok.seq, 2);
	dstore_close(ds);
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
fill_enrollment(struct enrollment *e, const char *tok, const char *dev,
		const char *fp)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->token_id, sizeof(e->token_id), "%s", tok);
	snprintf(e->device_id, sizeof(e->device_id), "%s", dev);
	e->public_key_pem = strdup(
	    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	e->push_endpoint = strdup("https://push.example/abc");
	snprintf(e->trust_level, sizeof(e->trust_level), "high");
	e->claims = strdup("{\"givenName\":\"Erika\"}");
	snprintf(e->seal_fingerprint, sizeof(e->seal_fingerprint), "%s", fp);
	e->created_at = 1700000000;
	e->expires_at = 1900000000;
}

#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void
test_enrollments(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds;
	struct enrollment e, got, prev;
	int had = -1, count = -1;
	int64_t n = -1;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got),
			 SA_ERR_NOT_FOUND);
	fill_enrollment(&e, "tok-1", "dev-a", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, &prev, &had), SA_OK);
	assert_int_equal(had, 0);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-a");
	assert_string_equal(got.push_endpoint, "https://push.example/abc");
	assert_null(got.fcm_token);
	assert_string_equal(got.claims, "{\"givenName\":\"Erika\"}");
	assert_string_equal(got.seal_fingerprint, FP_A);
	assert_int_equal(got.expires_at, 1900000000);
	assert_int_equal(got.revoked_at, 0);
	enrollment_free(&got);

	/* A new device replaces the binding and the old one is handed back. */
	fill_enrollment(&e, "tok-1", "dev-b", FP_A);
	free(e.push_endpoint);
	e.push_endpoint = NULL;
	e.fcm_token = strdup("fcm:token-b");
	assert_int_equal(dstore_enroll_put(ds, &e, &prev, &had), SA_OK);
	assert_int_equal(had, 1);
	assert_string_equal(prev.device_id, "dev-a");
	enrollment_free(&prev);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-b");
	assert_string_equal(got.fcm_token, "fcm:token-b");
	assert_null(got.push_endpoint);
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_count(ds, &n), SA_OK);
	assert_int_equal(n, 1);

	/* Revocation sticks: the token id can never be enrolled again. */
	assert_int_equal(dstore_enroll_revoke(ds, "tok-1", 1700000100, "test"),
			 SA_OK);
	assert_int_equal(dstore_enroll_revoke(ds, "tok-1", 1700000200, "again"),
			 SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_int_equal(got.revoked_at, 1700000100);
	enrollment_free(&got);
	fill_enrollment(&e, "tok-1", "dev-c", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, &had),
			 SA_ERR_TOKEN_REVOKED);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-b"); /* nothing was written */
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_count(ds, &n), SA_OK);
	assert_int_equal(n, 0);

	/* Revoking by seal fingerprint (the VRL) hits every token of that seal.
	 */
	fill_enrollment(&e, "tok-2", "dev-d", FP_B);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	fill_enrollment(&e, "tok-3", "dev-e", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	assert_int_equal(
	    dstore_enroll_revoke_fingerprint(ds, FP_B, 1700000300, &count),
	    SA_OK);
	assert_int_equal(count, 1);
	assert_int_equal(
	    dstore_enroll_revoke_fingerprint(ds, FP_B, 1700000400, &count),
	    SA_OK);
	assert_int_equal(count, 0);
	assert_int_equal(dstore_enroll_get(ds, "tok-2", &got), SA_OK);
	assert_int_equal(got.revoked_at, 1700000300);
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_get(ds, "tok-3", &got), SA_OK);
	assert_int_equal(got.revoked_at, 0);
	enrollment_free(&got);
	fill_enrollment(&e, "tok-2", "dev-f", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL),
			 SA_ERR_TOKEN_REVOKED);
	enrollment_free(&e);

	/* Bounds: the longest token id fits; bad keys never reach the backend.
	 */
	fill_enrollment(&e, "x", "dev", FP_A);
	memset(e.token_id, 'x', sizeof(e.token_id) - 1);
	e.token_id[sizeof(e.token_id) - 1] = '\0';
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "", &got), SA_ERR_NOT_FOUND);
	assert_int_equal(
	    dstore_enroll_revoke_fingerprint(ds, "short", 1, &count),
	    SA_ERR_VALIDATION);
	dstore_close(ds);

	/* Everything survives a reopen. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-3", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-e");
	enrollment_free(&got);
	dstore_close(ds);
}

/* The registry's contract (store_contract.h) on this backend. */
static void
test_services_contract(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL, *ds2 = NULL;

	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	contract_services(ds);
	assert_int_equal(dstore_service_delete(ds, "b-rp"), SA_OK);
	assert_int_equal(dstore_open(f->url, &ds2), SA_OK);
	contract_registry(ds, ds2);
	dstore_close(ds2);
	dstore_close(ds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_services_contract, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_open_creates_private_files,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrations_idempotent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_append_iter_count, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_append_leaves_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_delete_refused_by_db,
					    setup, teardown),
	    cmocka_unit_test(test_backend_choice),
	    cmocka_unit_test_setup_teardown(test_enrollments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
