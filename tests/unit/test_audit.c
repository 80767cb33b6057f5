/*
 * test_audit.c - the audit writer (bounds, group commit, failure
 * propagation) and the chain verifier against real tampering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/audit.h"
#include "core/log.h"
#include "store/store_int.h"
#include "core/util.h"

struct fixture {
	char dir[64];
	char db[PATH_MAX];
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
	strcpy(f->dir, "/tmp/sa_audit_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/sealauth.db", f->dir);
	log_set_level(SA_LOG_OFF);
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

/* An independent encoding of the documented hash input. */
static size_t
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
	return 8;
}

static size_t
put_str(unsigned char *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	memcpy(p + 4, s, n);
	return 4 + n;
}

static void
test_row_hash_encoding(void **state)
{
	struct audit_row r = {0};
	unsigned char prev[32], buf[512], want[32], got[32];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 32; i++)
		prev[i] = (unsigned char)i;
	r.seq = 7;
	r.ts_ms = 1700000000123;
	r.event = "auth.approved";
	r.ip = "2001:db8::1";
	r.ua = "Mozilla/5.0";
	r.subject = "tok-9";
	r.detail = "{\"a\":1}";
	memcpy(buf, prev, 32);
	n = 32;
	n += put_u64(buf + n, 7);
	n += put_u64(buf + n, 1700000000123);
	n += put_str(buf + n, r.event);
	n += put_str(buf + n, r.ip);
	n += put_str(buf + n, r.ua);
	n += put_str(buf + n, r.subject);
	n += put_str(buf + n, r.detail);
	sha256(buf, n, want);
	audit_row_hash(&r, prev, got);
	assert_memory_equal(got, want, 32);

	/* Moving a byte from one field to the next changes the hash. */
	r.ip = "2001:db8::";
	r.ua = "1Mozilla/5.0";
	audit_row_hash(&r, prev, want);
	assert_memory_not_equal(got, want, 32);
}

struct rows {
	int n;
	int64_t seq[16];
	char event[16][80];
	char ip[16][80];
	char ua[16][600];
	char subject[16][300];
	char detail[16][128];
};

static int
rows_cb(const struct audit_row *row, void *arg)
{
	struct rows *r = arg;

	if (r->n >= 16)
		return 1;
	r->seq[r->n] = row->seq;
	snprintf(r->event[r->n], sizeof(r->event[0]), "%s", row->event);
	snprintf(r->ip[r->n], sizeof(r->ip[0]), "%s", row->ip);
	snprintf(r->ua[r->n], sizeof(r->ua[0]), "%s", row->ua);
	snprintf(r->subject[r->n], sizeof(r->subject[0]), "%s", row->subject);
	snprintf(r->detail[r->n], sizeof(r->detail[0]), "%s", row->detail);
	r->n++;
	return 0;
}

static void
test_log_fields_and_bounds(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	char ua[700], ip[100], event[66], subject[258];
	char *bigdetail = malloc(9000);
	struct rows *r = calloc(1, sizeof(*r));
	int64_t n = -1;

	assert_non_null(bigdetail);
	assert_non_null(r);
	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 16, &a), SA_OK);

	/* Row 1: ordinary, detail keys sorted and compact. */
	assert_int_equal(audit_log(a, "enroll.ok", "192.0.2.1", "UA/1", "tok-1",
				   json_pack("{s:i, s:s}", "z", 1, "a", "b")),
			 SA_OK);
	/* Row 2: no detail, NULL ip/ua/subject. */
	assert_int_equal(
	    audit_log(a, "trust.refresh_failed", NULL, NULL, NULL, NULL),
	    SA_OK);
	/* Row 3: an over-long user agent is cut to 512 bytes without
	 * splitting the two-byte character that straddles the limit. */
	memset(ua, 'u', sizeof(ua));
	ua[510] = (char)0xc3;
	ua[511] = (char)0xa9; /* é at bytes 510..511: fits */
	ua[512] = (char)0xc3;
	ua[513] = (char)0xa9; /* é at 512..513: does not */
	ua[sizeof(ua) - 1] = '\0';
	memset(ip, '1', sizeof(ip));
	ip[sizeof(ip) - 1] = '\0';
	assert_int_equal(audit_log(a, "auth.started", ip, ua, "", NULL), SA_OK);
	/* Row 4: an oversized detail is replaced by a marker, the event kept.
	 */
	memset(bigdetail, 'x', 8999);
	bigdetail[8999] = '\0';
	assert_int_equal(audit_log(a, "admin.action", "", "", "admin-1",
				   json_pack("{s:s}", "blob", bigdetail)),
			 SA_OK);

	/* Refused outright, and nothing written. */
	memset(event, 'e', sizeof(event));
	event[65] = '\0';
	assert_int_equal(audit_log(a, event, "", "", "", NULL),
			 SA_ERR_VALIDATION);
	assert_int_equal(audit_log(a, "", "", "", "", NULL), SA_ERR_VALIDATION);
	assert_int_equal(audit_log(a, NULL, "", "", "", NULL),
			 SA_ERR_VALIDATION);
	memset(subject, 's', sizeof(subject));
	subject[257] = '\0';
	assert_int_equal(audit_log(a, "auth.rejected", "", "", subject, NULL),
			 SA_ERR_VALIDATION);
	assert_int_equal(
	    audit_log(a, "auth.rejected", "", "", "", json_pack("[i]", 1)),
	    SA_ERR_VALIDATION);
	event[64] = '\0'; /* exactly 64 bytes is fine */
	assert_int_equal(audit_log(a, event, "", "", "", NULL), SA_OK);

	audit_close(a);
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, 5);
	assert_int_equal(dstore_audit_iter(ds, 1, 0, rows_cb, r), SA_OK);
	assert_int_equal(r->n, 5);
	assert_string_equal(r->event[0], "enroll.ok");
	assert_string_equal(r->ip[0], "192.0.2.1");
	assert_string_equal(r->subject[0], "tok-1");
	assert_string_equal(r->detail[0], "{\"a\":\"b\",\"z\":1}");
	assert_string_equal(r->detail[1], "{}");
	assert_string_equal(r->ip[1], "");
	assert_int_equal(strlen(r->ua[2]), 512);
	assert_int_equal((unsigned char)r->ua[2][511], 0xa9);
	assert_int_equal(strlen(r->ip[2]), AUDIT_IP_MAX);
	assert_string_equal(r->detail[3], "{\"detail_omitted_bytes\":9010}");
	assert_int_equal(strlen(r->event[4]), 64);
	dstore_close(ds);
	free(bigdetail);
	free(r);
}

#define GC_THREADS 8
#define GC_CALLS 500

struct gc_worker {
	struct audit *a;
	int id;
	int failures;
};

static void *
gc_run(void *arg)
{
	struct gc_worker *w = arg;
	char subject[32];

	for (int i = 0; i < GC_CALLS; i++) {
		snprintf(subject, sizeof(subject), "w%d-%d", w->id, i);
		if (audit_log(w->a, "auth.approved", "198.51.100.4", "bench",
			      subject, json_pack("{s:i}", "i", i)) != SA_OK)
			w->failures++;
	}
	return NULL;
}

/* run_workers runs fn on n threads over a and checks that no call failed.
 */
static void
run_workers(struct audit *a, int n, void *(*fn)(void *))
{
	struct gc_worker w[8];
	pthread_t t[8];

	assert_true(n <= 8);
	for (int i = 0; i < n; i++) {
		w[i] = (struct gc_worker){a, i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, fn, &w[i]), 0);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
}

struct seq_check {
	int64_t next;
	int64_t rows;
};

static int
seq_cb(const struct audit_row *row, void *arg)
{
	struct seq_check *c = arg;

	if (row->seq != c->next)
		return 1;
	c->next++;
	c->rows++;
	return 0;
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	struct audit_verify_result res;
	struct seq_check sc = {1, 0};
	uint64_t batches = 0, rows = 0;
	int64_t n = 0;

	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 512, &a), SA_OK);
	run_workers(a, GC_THREADS, gc_run);
	/* Every call returned after its commit: all rows are there now. */
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, GC_THREADS * GC_CALLS);
	audit_stats(a, &batches, &rows);
	audit_close(a);
	assert_int_equal(rows, GC_THREADS * GC_CALLS);
	assert_true(batches >= 1);
	assert_true(batches < rows);
	print_message("group commit: %llu rows in %llu transactions\n",
		      (unsigned long long)rows, (unsigned long long)batches);

	assert_int_equal(dstore_audit_iter(ds, 1, 0, seq_cb, &sc), SA_OK);
	assert_int_equal(sc.rows, GC_THREADS * GC_CALLS);
	assert_int_equal(sc.next, GC_THREADS * GC_CALLS + 1);
	assert_int_equal(audit_verify(ds, &res), SA_OK);
	assert_int_equal(res.first_bad_seq, 0);
	assert_int_equal(res.rows, GC_THREADS * GC_CALLS);
	dstore_close(ds);
}

/* A group of three events per call, racing single events, with batches of
 * two rows: every group must still land in one transaction. */
#define GROUP_THREADS 4
#define GROUP_CALLS 40

static void *
group_run(void *arg)
{
	struct gc_worker *w = arg;
	char s0[32], s1[32], s2[32];

	for (int i = 0; i < GROUP_CALLS; i++) {
		snprintf(s0, sizeof(s0), "g%d-%d-0", w->id, i);
		snprintf(s1, sizeof(s1), "g%d-%d-1", w->id, i);
		snprintf(s2, sizeof(s2), "g%d-%d-2", w->id, i);
		const struct audit_event ev[] = {
		    {"sso.login", s0, json_pack("{s:i}", "i", i)},
		    {"saml.assertion", s1, NULL},
		    {"oidc.code", s2, json_pack("{s:i}", "k", 2)},
		};
		if (audit_log_many(w->a, "192.0.2.7", "UA", ev, 3) != SA_OK)
			w->failures++;
		if (audit_log(w->a, "auth.approved", "", "", "single", NULL) !=
		    SA_OK)
			w->failures++;
	}
	return NULL;
}

struct group_check {
	char prev[2][32]; /* the subjects of the two rows before */
	int64_t rows, groups, broken;
};

/* group_cb checks that the third row of every group follows its first two
 * directly in the chain. */
static int
group_cb(const struct audit_row *row, void *arg)
{
	struct group_check *c = arg;
	size_t n = strlen(row->subject);

	c->rows++;
	if (n > 2 && strcmp(row->subject + n - 2, "-2") == 0) {
		char want0[32], want1[32];

		snprintf(want0, sizeof(want0), "%.*s-0", (int)(n - 2),
			 row->subject);
		snprintf(want1, sizeof(want1), "%.*s-1", (int)(n - 2),
			 row->subject);
		if (strcmp(c->prev[0], want0) != 0 ||
		    strcmp(c->prev[1], want1) != 0)
			c->broken++;
		c->groups++;
	}
	snprintf(c->prev[0], sizeof(c->prev[0]), "%s", c->prev[1]);
	snprintf(c->prev[1], sizeof(c->prev[1]), "%s", row->subject);
	return 0;
}

static void
test_log_many_is_one_commit(void **state)
{
	uint64_t b0 = 0, b1 = 0, r1 = 0;
	struct group_check gc;
	struct audit_verify_result res;
	struct fixture *f = *state;
	int64_t n = 0;
	struct dstore *ds = NULL;
	struct audit *a = NULL;

	memset(&gc, 0, sizeof(gc));
	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 2, &a), SA_OK);

	/* Alone: three rows, one transaction, although a batch holds two. */
	{
		const struct audit_event ev[] = {
		    {"sso.login", "a-0", NULL},
		    {"saml.assertion", "a-1", json_pack("{s:s}", "x", "y")},
		    {"oidc.code", "a-2", NULL},
		};
		audit_stats(a, &b0, NULL);
		assert_int_equal(audit_log_many(a, "", "", ev, 3), SA_OK);
		audit_stats(a, &b1, &r1);
		assert_int_equal(b1 - b0, 1);
		assert_int_equal(r1, 3);
	}
	/* One bad event refuses the group: nothing written, details freed. */
	{
		const struct audit_event ev[] = {
		    {"sso.login", "b-0", json_pack("{s:i}", "i", 1)},
		    {"", "b-1", NULL},
		};
		assert_int_equal(audit_log_many(a, "", "", ev, 2),
				 SA_ERR_VALIDATION);
		assert_int_equal(audit_log_many(a, "", "", ev, 0),
				 SA_ERR_VALIDATION);
		assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
		assert_int_equal(n, 3);
	}
	/* Racing: no other row ever comes between the rows of a group. */
	run_workers(a, GROUP_THREADS, group_run);
	audit_close(a);
	assert_int_equal(dstore_audit_iter(ds, 1, 0, group_cb, &gc), SA_OK);
	assert_int_equal(gc.rows, 3 + GROUP_THREADS * GROUP_CALLS * 4);
	assert_int_equal(gc.groups, 1 + GROUP_THREADS * GROUP_CALLS);
	assert_int_equal(gc.broken, 0);
	assert_int_equal(audit_verify(ds, &res), SA_OK);
	assert_int_equal(res.first_bad_seq, 0);
	dstore_close(ds);
}

/* write_chain logs ten events into a fresh database and closes it. */
static void
write_chain(const char *path)
{
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	struct audit_verify_result res;
	char subject[16];

	assert_int_equal(dstore_open(path, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 4, &a), SA_OK);
	for (int i = 1; i <= 10; i++) {
		snprintf(subject, sizeof(subject), "tok-%d", i);
		assert_int_equal(audit_log(a, "auth.approved", "192.0.2.9",
					   "UA", subject,
					   json_pack("{s:i}", "n", i)),
				 SA_OK);
	}
	audit_close(a);
	assert_int_equal(audit_verify(ds, &res), SA_OK);
	assert_int_equal(res.first_bad_seq, 0);
	assert_int_equal(res.rows, 10);
	dstore_close(ds);
}

/* tamper applies raw SQL to the database file, bypassing the store. */
static void
tamper(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("tamper: %s", err);
	sqlite3_close(db);
}

static void
verify_path(const char *path, struct audit_verify_result *res)
{
	struct dstore *ds = NULL;

	assert_int_equal(dstore_open(path, &ds), SA_OK);
	assert_int_equal(audit_verify(ds, res), SA_OK);
	dstore_close(ds);
}

static void
test_verify_modified_row(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result res;

	char copy[PATH_MAX];
	unsigned char *data = NULL;
	size_t n = 0;

	write_chain(f->db);
	/* Closing the store checkpointed the WAL: the file is complete. */
	snprintf(copy, sizeof(copy), "%s/copy.db", f->dir);
	assert_int_equal(read_file(f->db, 64 << 20, &data, &n), SA_OK);
	assert_int_equal(write_file_atomic(copy, data, n, 0600), SA_OK);
	free(data);
	/* The triggers stop this until they are dropped. */
	tamper(copy, "DROP TRIGGER audit_no_update;"
		     "UPDATE audit SET detail = '{\"n\":999}' WHERE seq = 4");
	verify_path(copy, &res);
	assert_int_equal(res.first_bad_seq, 4);
	assert_int_equal(res.rows, 4);
	assert_non_null(strstr(res.reason, "hash does not match"));
	/* The original is untouched and still verifies. */
	verify_path(f->db, &res);
	assert_int_equal(res.first_bad_seq, 0);
	assert_int_equal(res.rows, 10);
}

static void
test_verify_rehashed_row(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result res;
	struct audit_row row = {0};
	unsigned char prev[32], h[32];
	char *hex, sql[256];
	sqlite3 *db;
	sqlite3_stmt *st;

	write_chain(f->db);
	/* A careful forger rewrites row 3 and its own hash: the next row's
	 * prev_hash still gives it away. */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT seq, ts_ms, event, ip, ua, "
					    "subject, prev_hash FROM audit "
					    "WHERE seq = 3",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	row.seq = sqlite3_column_int64(st, 0);
	row.ts_ms = sqlite3_column_int64(st, 1);
	row.event = (const char *)sqlite3_column_text(st, 2);
	row.ip = (const char *)sqlite3_column_text(st, 3);
	row.ua = (const char *)sqlite3_column_text(st, 4);
	row.subject = "someone-else";
	row.detail = "{\"n\":3}";
	memcpy(prev, sqlite3_column_blob(st, 6), 32);
	audit_row_hash(&row, prev, h);
	sqlite3_finalize(st);
	sqlite3_close(db);
	hex = hex_encode(h, 32);
	snprintf(sql, sizeof(sql),
		 "DROP TRIGGER audit_no_update; UPDATE audit SET subject = "
		 "'someone-else', hash = x'%s' WHERE seq = 3",
		 hex);
	free(hex);
	tamper(f->db, sql);
	verify_path(f->db, &res);
	assert_int_equal(res.first_bad_seq, 4);
	assert_non_null(strstr(res.reason, "prev_hash does not match the hash "
					   "of seq 3"));
}

static void
test_verify_deleted_row(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result res;

	write_chain(f->db);
	tamper(f->db, "DROP TRIGGER audit_no_delete;"
		      "DELETE FROM audit WHERE seq = 5");
	verify_path(f->db, &res);
	assert_int_equal(res.first_bad_seq, 6);
	assert_non_null(strstr(res.reason, "seq 6 follows seq 4"));
	assert_non_null(strstr(res.reason, "missing"));
}

static void
test_verify_changed_prev_hash(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result res;

	write_chain(f->db);
	tamper(f->db,
	       "DROP TRIGGER audit_no_update;"
	       "UPDATE audit SET prev_hash = zeroblob(32) WHERE seq = 7");
	verify_path(f->db, &res);
	assert_int_equal(res.first_bad_seq, 7);
	assert_non_null(strstr(res.reason, "prev_hash"));
}

/* A durable store whose writes always fail, to see the error reach every
 * caller of a batch. */
struct failing_store {
	struct dstore base; /* first: the interface */
	pthread_mutex_t mu;
	int appends;
	size_t rows;
};

static enum sa_err
failing_append(struct dstore *ds, struct audit_row *rows, size_t n)
{
	struct failing_store *fs = (struct failing_store *)ds;
	struct timespec ts = {0, 20 * 1000000L};

	(void)rows;
	/* Slow enough that the other callers queue behind this batch. */
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&fs->mu);
	fs->appends++;
	fs->rows += n;
	pthread_mutex_unlock(&fs->mu);
	return SA_ERR_UNAVAILABLE;
}

static const struct dstore_ops failing_ops = {
    .name = "failing",
    .audit_append = failing_append,
};

struct fail_worker {
	struct audit *a;
	enum sa_err rc;
};

static void *
fail_run(void *arg)
{
	struct fail_worker *w = arg;

	w->rc = audit_log(w->a, "auth.approved", "", "", "", NULL);
	return NULL;
}

static void
test_store_failure_reaches_every_caller(void **state)
{
	struct failing_store fs = {
	    {.ops = &failing_ops}, PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct fail_worker w[6];
	pthread_t t[6];
	struct audit *a = NULL;
	uint64_t batches = 1, rows = 1;

	(void)state;
	assert_int_equal(audit_open(&fs.base, 64, &a), SA_OK);
	for (int i = 0; i < 6; i++) {
		w[i] = (struct fail_worker){a, SA_OK};
		assert_int_equal(pthread_create(&t[i], NULL, fail_run, &w[i]),
				 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, SA_ERR_UNAVAILABLE);
	}
	audit_stats(a, &batches, &rows);
	audit_close(a);
	assert_int_equal(batches, 0);
	assert_int_equal(rows, 0);
	assert_int_equal(fs.rows, 6); /* each event was tried exactly once */
	assert_true(fs.appends >= 1 && fs.appends <= 6);
	/* The writer's failed commits mark the store as failing. */
	assert_int_equal(dstore_writes_failing(&fs.base), SA_ERR_UNAVAILABLE);
}

/* A store whose writes answer what the test says. */
struct told_store {
	struct dstore base;
	enum sa_err next;
};

static enum sa_err
told_append(struct dstore *ds, struct audit_row *rows, size_t n)
{
	(void)rows;
	(void)n;
	return ((struct told_store *)ds)->next;
}

static enum sa_err
told_meta_set(struct dstore *ds, const char *key, const char *value)
{
	(void)key;
	(void)value;
	return ((struct told_store *)ds)->next;
}

static const struct dstore_ops told_ops = {
    .name = "told",
    .audit_append = told_append,
    .meta_set = told_meta_set,
};

static void
test_store_failing_until_a_write_succeeds(void **state)
{
	struct told_store ts = {{.ops = &told_ops}, SA_OK};
	struct audit_row row;
	/* What each write answers, and the mark it leaves. */
	static const struct {
		int meta;
		enum sa_err rc, mark;
	} steps[] = {
	    {0, SA_OK, SA_OK},
	    {0, SA_ERR_DISK_FULL, SA_ERR_DISK_FULL},
	    /* A write refused for itself says nothing of the store. */
	    {1, SA_ERR_CONFLICT, SA_ERR_DISK_FULL},
	    {0, SA_ERR_VALIDATION, SA_ERR_DISK_FULL},
	    {1, SA_OK, SA_OK},
	    {1, SA_ERR_IO, SA_ERR_IO},
	    {0, SA_ERR_UNAVAILABLE, SA_ERR_UNAVAILABLE},
	    {0, SA_OK, SA_OK},
	    {0, SA_ERR_NOT_FOUND, SA_OK},
	};

	(void)state;
	memset(&row, 0, sizeof(row));
	assert_int_equal(dstore_writes_failing(&ts.base), SA_OK);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		ts.next = steps[i].rc;
		assert_int_equal(steps[i].meta
				     ? dstore_meta_set(&ts.base, "k", "v")
				     : dstore_audit_append(&ts.base, &row, 1),
				 steps[i].rc);
		assert_int_equal(dstore_writes_failing(&ts.base),
				 steps[i].mark);
	}
}

static void
test_verify_empty_log(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result res;

	verify_path(f->db, &res);
	assert_int_equal(res.rows, 0);
	assert_int_equal(res.first_bad_seq, 0);
}

struct async_count {
	pthread_mutex_t mu;
	int ok, failed;
};

static void
async_cb(enum sa_err rc, void *arg)
{
	struct async_count *c = arg;

	pthread_mutex_lock(&c->mu);
	if (rc == SA_OK)
		c->ok++;
	else
		c->failed++;
	pthread_mutex_unlock(&c->mu);
}

static void
test_async_events(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	struct audit_verify_result res;
	struct async_count c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	int64_t n = 0;

	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 64, &a), SA_OK);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(
		    audit_log_cb(a, "test.async", "127.0.0.1", "ua", "s",
				 json_pack("{s:i}", "i", i), async_cb, &c),
		    SA_OK);
	/* A synchronous event queued after them is durable after them too. */
	assert_int_equal(audit_log(a, "test.sync", "", "", "", NULL), SA_OK);
	assert_int_equal(c.ok, 1000);
	assert_int_equal(c.failed, 0);
	/* A bad event is refused at once and its callback never runs. */
	assert_int_equal(audit_log_cb(a, "", "", "", "", NULL, async_cb, &c),
			 SA_ERR_VALIDATION);
	audit_close(a);
	assert_int_equal(c.ok + c.failed, 1000);
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, 1001);
	assert_int_equal(audit_verify(ds, &res), SA_OK);
	assert_int_equal(res.first_bad_seq, 0);
	dstore_close(ds);
}

/* wait_ok waits (bounded) until n callbacks have reported success. */
static void
wait_ok(struct async_count *c, int n)
{
	for (int i = 0; i < 10000; i++) {
		int ok;
		pthread_mutex_lock(&c->mu);
		ok = c->ok;
		pthread_mutex_unlock(&c->mu);
		if (ok >= n)
			return;
		usleep(1000);
	}
	fail_msg("callbacks did not arrive");
}

/*
 * The writer thread keeps at least the commit gap between commits: events
 * queued just after one commit all share the next one. The first event of
 * an idle log is committed without waiting for the gap.
 */
static void
test_commit_gap(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	struct async_count c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	uint64_t batches = 0, rows = 0;

	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 64, &a), SA_OK);
	audit_set_commit_gap(a, 300000);
	assert_int_equal(
	    audit_log_cb(a, "test.first", "", "", "", NULL, async_cb, &c),
	    SA_OK);
	wait_ok(&c, 1);
	audit_stats(a, &batches, &rows);
	assert_int_equal(batches, 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(audit_log_cb(a, "test.gap", "", "", "",
					      json_pack("{s:i}", "i", i),
					      async_cb, &c),
				 SA_OK);
	wait_ok(&c, 11);
	audit_stats(a, &batches, &rows);
	assert_int_equal(rows, 11);
	assert_int_equal(batches, 2);
	audit_close(a);
	dstore_close(ds);
}

/*
 * After a commit of AUDIT_BUSY_ROWS events or more the writer thread waits
 * the busy gap before the next; after a smaller one, the commit gap again.
 */
static void
test_busy_gap_after_a_large_batch(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	struct async_count c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	uint64_t batches = 0, rows = 0, t0;
	int ok;

	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 512, &a), SA_OK);
	audit_set_commit_gap(a, 200000); /* 200 ms */
	audit_set_busy_gap(a, 5000000);	 /* 5 s */
	assert_int_equal(
	    audit_log_cb(a, "test.first", "", "", "", NULL, async_cb, &c),
	    SA_OK);
	wait_ok(&c, 1);
	/* These wait out the 200 ms gap together: one large batch. */
	for (int i = 0; i < AUDIT_BUSY_ROWS + 4; i++)
		assert_int_equal(audit_log_cb(a, "test.busy", "", "", "",
					      json_pack("{s:i}", "i", i),
					      async_cb, &c),
				 SA_OK);
	wait_ok(&c, AUDIT_BUSY_ROWS + 5);
	audit_stats(a, &batches, &rows);
	assert_int_equal(batches, 2);
	/* The next waits the busy gap: still queued well after 200 ms, and
	 * written once the 5 s are over. */
	t0 = now_mono_ms();
	assert_int_equal(
	    audit_log_cb(a, "test.after", "", "", "", NULL, async_cb, &c),
	    SA_OK);
	usleep(1000000);
	pthread_mutex_lock(&c.mu);
	ok = c.ok;
	pthread_mutex_unlock(&c.mu);
	assert_int_equal(ok, AUDIT_BUSY_ROWS + 5);
	wait_ok(&c, AUDIT_BUSY_ROWS + 6);
	assert_true(now_mono_ms() - t0 >= 4000);
	/* That batch was one event: the commit gap holds again, so the next
	 * is written long before another 5 s. */
	t0 = now_mono_ms();
	assert_int_equal(
	    audit_log_cb(a, "test.small", "", "", "", NULL, async_cb, &c),
	    SA_OK);
	wait_ok(&c, AUDIT_BUSY_ROWS + 7);
	assert_true(now_mono_ms() - t0 < 3000);
	audit_stats(a, &batches, &rows);
	assert_int_equal(batches, 4);
	assert_int_equal(rows, AUDIT_BUSY_ROWS + 7);
	audit_close(a);
	dstore_close(ds);
}

/*
 * audit_flush returns only once every event queued before it was written
 * and its callback ran, even while the writer thread waits out a commit
 * gap; and at once when nothing is queued.
 */
static void
test_flush_waits_for_callbacks(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	struct async_count c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 64, &a), SA_OK);
	audit_flush(a);
	audit_set_commit_gap(a, 200000); /* 200 ms */
	assert_int_equal(
	    audit_log_cb(a, "test.first", "", "", "", NULL, async_cb, &c),
	    SA_OK);
	wait_ok(&c, 1);
	/* These wait out the gap after the first commit. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(audit_log_cb(a, "test.flush", "", "", "",
					      json_pack("{s:i}", "i", i),
					      async_cb, &c),
				 SA_OK);
	audit_flush(a);
	pthread_mutex_lock(&c.mu);
	assert_int_equal(c.ok, 6);
	pthread_mutex_unlock(&c.mu);
	audit_close(a);
	dstore_close(ds);
}

/* A store whose first write waits until the test opens the gate. */
struct gate_store {
	struct dstore base;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered, open;
	size_t rows;
};

static enum sa_err
gate_append(struct dstore *ds, struct audit_row *rows, size_t n)
{
	struct gate_store *g = (struct gate_store *)ds;

	(void)rows;
	pthread_mutex_lock(&g->mu);
	g->entered = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	g->rows += n;
	pthread_mutex_unlock(&g->mu);
	return SA_OK;
}

static const struct dstore_ops gate_ops = {
    .name = "gate",
    .audit_append = gate_append,
};

struct inner_ctx {
	struct audit *a;
	struct async_count *c;
	enum sa_err rc;
};

/* The callback of the first event queues one more, as push_done does. */
static void
queue_inner(enum sa_err rc, void *arg)
{
	struct inner_ctx *in = arg;

	(void)rc;
	in->rc = audit_log_cb(in->a, "test.inner", "", "", "", NULL, async_cb,
			      in->c);
}

/*
 * A callback that queues an event while the queue is full does not wait
 * for room: the write that would make room is its own batch's, still in
 * progress, so waiting would stop the writer for good.
 */
static void
test_callback_queues_into_a_full_queue(void **state)
{
	struct gate_store g = {{.ops = &gate_ops},
			       PTHREAD_MUTEX_INITIALIZER,
			       PTHREAD_COND_INITIALIZER,
			       0,
			       0,
			       0};
	struct async_count c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct audit *a = NULL;
	struct inner_ctx in = {NULL, &c, SA_ERR_INTERNAL};

	(void)state;
	assert_int_equal(audit_open(&g.base, 64, &a), SA_OK);
	in.a = a;
	assert_int_equal(
	    audit_log_cb(a, "test.outer", "", "", "", NULL, queue_inner, &in),
	    SA_OK);
	/* The writer holds the first event in its write; fill the queue. */
	pthread_mutex_lock(&g.mu);
	while (!g.entered)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	for (size_t i = 0; i < AUDIT_QUEUE_MAX; i++)
		assert_int_equal(
		    audit_log_cb(a, "test.fill", "", "", "", NULL, NULL, NULL),
		    SA_OK);
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	/* Bounded: a writer stuck in the callback never reports the inner
	 * event. */
	wait_ok(&c, 1);
	assert_int_equal(in.rc, SA_OK);
	audit_close(a);
	assert_int_equal(g.rows, 1 + AUDIT_QUEUE_MAX + 1);
}

/*
 * While the writer thread waits out the gap, events do not wake it one by
 * one, but a full batch goes at once, and closing writes what is queued
 * without waiting for the gap.
 */
static void
test_commit_gap_full_batch_and_close(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	struct async_count c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	uint64_t batches = 0, rows = 0, t0;

	assert_int_equal(dstore_open(f->db, &ds), SA_OK);
	assert_int_equal(audit_open(ds, 8, &a), SA_OK);
	audit_set_commit_gap(a, 30000000); /* 30 s */
	assert_int_equal(
	    audit_log_cb(a, "test.first", "", "", "", NULL, async_cb, &c),
	    SA_OK);
	wait_ok(&c, 1);
	t0 = now_mono_ms();
	for (int i = 0; i < 8; i++)
		assert_int_equal(audit_log_cb(a, "test.full", "", "", "",
					      json_pack("{s:i}", "i", i),
					      async_cb, &c),
				 SA_OK);
	wait_ok(&c, 9);
	assert_true(now_mono_ms() - t0 < 10000);
	audit_stats(a, &batches, &rows);
	assert_int_equal(batches, 2);
	assert_int_equal(rows, 9);
	assert_int_equal(
	    audit_log_cb(a, "test.last", "", "", "", NULL, async_cb, &c),
	    SA_OK);
	t0 = now_mono_ms();
	audit_close(a);
	assert_true(now_mono_ms() - t0 < 10000);
	assert_int_equal(c.ok, 10);
	dstore_close(ds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_row_hash_encoding),
	    cmocka_unit_test_setup_teardown(test_log_fields_and_bounds, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_many_is_one_commit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_async_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_gap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_busy_gap_after_a_large_batch,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_waits_for_callbacks,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_commit_gap_full_batch_and_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_modified_row, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_verify_rehashed_row, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_verify_deleted_row, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_verify_changed_prev_hash,
					    setup, teardown),
	    cmocka_unit_test(test_store_failure_reaches_every_caller),
	    cmocka_unit_test(test_store_failing_until_a_write_succeeds),
	    cmocka_unit_test(test_callback_queues_into_a_full_queue),
	    cmocka_unit_test_setup_teardown(test_verify_empty_log, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
