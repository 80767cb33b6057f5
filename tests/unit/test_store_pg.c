/*
 * test_store_pg.c - the PostgreSQL durable store against a private cluster:
 * migrations, meta, the audit chain (also with two instances writing at
 * once), the database-enforced append-only rule, enrollments and the
 * server going away and coming back.
 *
 * The cluster lives in a temporary directory on a free loopback port, with
 * fsync off (tests only). PostgreSQL refuses to run as root, so when the
 * tests run as root the cluster commands run as the "postgres" system user
 * (created by the Debian postgresql package) through runuser, on a
 * directory that user owns. Without the server binaries (package
 * postgresql, installed by scripts/setup --test) every test is skipped
 * with a message saying why. The cluster is stopped and its directory
 * removed at the end, also when a test fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "audit/audit.h"
#include "core/log.h"
#include "store/store.h"
#include "store_contract.h"
#include "core/util.h"

struct cluster {
	int ok;		 /* the server runs; tests may use it */
	int running;	 /* pg_ctl start succeeded and no stop since */
	int as_postgres; /* run cluster commands through runuser */
	int port;
	int dbs;       /* databases created so far */
	char why[160]; /* reason for skipping */
	char bin[PATH_MAX];
	char dir[64];
	char data[PATH_MAX];
};

static struct cluster cl;

/* A test's own database. */
struct fixture {
	char db[32];
	char url[128];
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * run runs a cluster command (argv[0] is a name in cl.bin), as the
 * postgres user when the test runs as root, with its output appended to
 * DIR/commands.log. Returns the exit status, or -1.
 */
static int
run(const char *const *argv)
{
	const char *full[24];
	char prog[PATH_MAX + 32], logp[PATH_MAX];
	size_t k = 0;
	int status = -1, fd;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/%s", cl.bin, argv[0]);
	snprintf(logp, sizeof(logp), "%s/commands.log", cl.dir);
	if (cl.as_postgres) {
		full[k++] = "runuser";
		full[k++] = "-u";
		full[k++] = "postgres";
		full[k++] = "--";
	}
	full[k++] = prog;
	for (size_t i = 1; argv[i] != NULL && k < 23; i++)
		full[k++] = argv[i];
	full[k] = NULL;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(full[0], (char *const *)full);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t n = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static void
admin_conninfo(char *out, size_t n, const char *db)
{
	snprintf(out, n, "postgres://postgres@127.0.0.1:%d/%s", cl.port, db);
}

/* cluster_start starts the server and waits (bounded) until it accepts. */
static int
cluster_start(void)
{
	char opts[PATH_MAX + 160], logp[PATH_MAX], ci[128];
	const char *argv[] = {"pg_ctl", "-D", cl.data, "-l", logp,    "-w",
			      "-t",	"60", "-o",    opts, "start", NULL};

	snprintf(logp, sizeof(logp), "%s/server.log", cl.dir);
	snprintf(opts, sizeof(opts),
		 "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off",
		 cl.port, cl.dir);
	if (run(argv) != 0)
		return -1;
	cl.running = 1;
	admin_conninfo(ci, sizeof(ci), "postgres");
	for (int i = 0; i < 300; i++) {
		if (PQping(ci) == PQPING_OK)
			return 0;
		usleep(100 * 1000);
	}
	return -1;
}

static int
cluster_stop(void)
{
	const char *argv[] = {"pg_ctl", "-D", cl.data, "-m",   "fast",
			      "-w",	"-t", "60",    "stop", NULL};

	if (!cl.running)
		return 0;
	if (run(argv) != 0)
		return -1;
	cl.running = 0;
	return 0;
}

/* cluster_cleanup stops the server and removes its directory; it runs from
 * the group teardown and, should the process exit early, from atexit. */
static void
cluster_cleanup(void)
{
	cluster_stop();
	if (cl.dir[0] != '\0') {
		nftw(cl.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		cl.dir[0] = '\0';
	}
	cl.ok = 0;
}

/* cluster_find_bin picks the newest /usr/lib/postgresql/N/bin. */
static int
cluster_find_bin(void)
{
	glob_t g;
	int best = -1;
	char *slash;

	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
		return -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
		if (v > best) {
			best = v;
			snprintf(cl.bin, sizeof(cl.bin), "%s", g.gl_pathv[i]);
		}
	}
	globfree(&g);
	if (best < 0 || (slash = strrchr(cl.bin, '/')) == NULL)
		return -1;
	*slash = '\0';
	return 0;
}

static int
group_setup(void **state)
{
	const char *initdb[] = {"initdb", "-D",		cl.data,     "-A",
				"trust",  "-U",		"postgres",  "-E",
				"UTF8",	  "--locale=C", "--no-sync", NULL};
	struct passwd *pw = NULL;

	(void)state;
	log_set_level(SA_LOG_OFF);
	memset(&cl, 0, sizeof(cl));
	if (cluster_find_bin() != 0) {
		snprintf(cl.why, sizeof(cl.why),
			 "no /usr/lib/postgresql/*/bin/initdb (install the "
			 "postgresql package: scripts/setup --test)");
		goto skip;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam("postgres")) == NULL) {
			snprintf(cl.why, sizeof(cl.why),
				 "running as root and there is no postgres "
				 "user to run the cluster as");
			goto skip;
		}
		cl.as_postgres = 1;
	}
	strcpy(cl.dir, "/tmp/sa_pg_XXXXXX");
	if (mkdtemp(cl.dir) == NULL) {
		cl.dir[0] = '\0';
		snprintf(cl.why, sizeof(cl.why), "mkdtemp failed");
		goto skip;
	}
	atexit(cluster_cleanup);
	if (pw != NULL && chown(cl.dir, pw->pw_uid, pw->pw_gid) != 0) {
		snprintf(cl.why, sizeof(cl.why), "cannot chown %s", cl.dir);
		goto fail;
	}
	snprintf(cl.data, sizeof(cl.data), "%s/data", cl.dir);
	if (run(initdb) != 0) {
		snprintf(cl.why, sizeof(cl.why), "initdb failed, see %s",
			 cl.dir);
		goto fail;
	}
	if ((cl.port = free_port()) < 0 || cluster_start() != 0) {
		snprintf(cl.why, sizeof(cl.why), "the server did not start");
		goto fail;
	}
	cl.ok = 1;
	return 0;
skip:
	fprintf(stderr, "test_store_pg: SKIPPING every test: %s\n", cl.why);
	return 0;
fail:
	/* The binaries are there, so a cluster that does not come up is a
	 * failure, not a skip. */
	fprintf(stderr, "test_store_pg: %s\n", cl.why);
	return -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	cluster_cleanup();
	return 0;
}

/* setup creates a fresh database for one test. */
static int
setup(void **state)
{
	struct fixture *f;
	char ci[128], sql[64];
	PGconn *c;
	PGresult *r;

	if (!cl.ok) {
		*state = NULL;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->db, sizeof(f->db), "t%d", ++cl.dbs);
	snprintf(f->url, sizeof(f->url), "postgres://postgres@127.0.0.1:%d/%s",
		 cl.port, f->db);
	admin_conninfo(ci, sizeof(ci), "postgres");
	c = PQconnectdb(ci);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
	r = PQexec(c, sql);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

#define NEED_CLUSTER()                                                         \
	do {                                                                   \
		if (!cl.ok)                                                    \
			skip();                                                \
	} while (0)

static PGconn *
raw_conn(const struct fixture *f)
{
	PGconn *c = PQconnectdb(f->url);

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	return c;
}

static int64_t
raw_int(const struct fixture *f, const char *sql)
{
	PGconn *c = raw_conn(f);
	PGresult *r = PQexec(c, sql);
	int64_t v;

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

static void
raw_ok(const struct fixture *f, const char *sql)
{
	PGconn *c = raw_conn(f);
	PGresult *r = PQexec(c, sql);

	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
}

/* raw_refused runs sql on its own connection and expects the audit
 * trigger to refuse it. */
static void
raw_refused(const struct fixture *f, const char *sql)
{
	PGconn *c = raw_conn(f);
	PGresult *r = PQexec(c, sql);

	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_non_null(
	    strstr(PQresultErrorMessage(r), "audit log is append-only"));
	PQclear(r);
	PQfinish(c);
}

static void
test_open_ping_name(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	char url[160];

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_string_equal(dstore_name(ds), "postgres");
	assert_int_equal(dstore_ping(ds), SA_OK);
	dstore_close(ds);
	ds = NULL;
	/* The other scheme and connection parameters in the query string. */
	snprintf(url, sizeof(url),
		 "postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable"
		 "&application_name=sealauth-test",
		 cl.port, f->db);
	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_ping(ds), SA_OK);
	dstore_close(ds);
}

/* open_logged opens url with the error log captured into out. */
static enum sa_err
open_logged(const char *url, char *out, size_t cap)
{
	struct dstore *ds = NULL;
	char path[] = "/tmp/sa_pg_log_XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	enum sa_err rc;
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	log_set_level(SA_LOG_ERROR);
	dup2(fd, 2);
	rc = dstore_open(url, &ds);
	dup2(saved, 2);
	close(saved);
	log_set_level(SA_LOG_OFF);
	assert_null(ds);
	n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return rc;
}

static void
test_bad_urls(void **state)
{
	struct dstore *ds = NULL;
	char url[160], log[2048];

	(void)state;
	NEED_CLUSTER();
	/* libpq cannot parse it: a configuration error, no connection, and
	 * the password in it never reaches the log. */
	assert_int_equal(
	    open_logged("postgres://u:s3cret@[::1/db", log, sizeof(log)),
	    SA_ERR_CONFIG);
	assert_non_null(strstr(log, "invalid database URL"));
	assert_null(strstr(log, "s3cret"));
	assert_int_equal(open_logged("postgres://u:s3cret@h/db?nosuchoption=1",
				     log, sizeof(log)),
			 SA_ERR_CONFIG);
	assert_non_null(strstr(log, "nosuchoption"));
	assert_null(strstr(log, "s3cret"));
	assert_int_equal(dstore_open("postgres://h/d%zz", &ds), SA_ERR_CONFIG);
	/* Nothing listens there: unavailable, not a crash or a hang. */
	snprintf(url, sizeof(url), "postgres://postgres@127.0.0.1:%d/x",
		 free_port());
	assert_int_equal(dstore_open(url, &ds), SA_ERR_UNAVAILABLE);
	/* The server answers but the database does not exist. */
	snprintf(url, sizeof(url), "postgres://postgres@127.0.0.1:%d/nodb",
		 cl.port);
	assert_int_equal(dstore_open(url, &ds), SA_ERR_UNAVAILABLE);
	assert_null(ds);
}

static void
test_migrations_idempotent(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	int64_t n = -1;

	NEED_CLUSTER();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dstore_open(f->url, &ds), SA_OK);
		assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
		assert_int_equal(n, 0);
		dstore_close(ds);
		ds = NULL;
		/* One row per migration, however often the store opens. */
		assert_int_equal(
		    raw_int(f, "SELECT count(*) FROM schema_migrations"),
		    DSTORE_MIGRATIONS);
		assert_int_equal(
		    raw_int(f, "SELECT max(version) FROM schema_migrations"),
		    DSTORE_MIGRATIONS);
	}
	assert_int_equal(raw_int(f, "SELECT count(*) FROM pg_trigger WHERE "
				    "tgrelid = 'audit'::regclass AND NOT "
				    "tgisinternal"),
			 3);
	assert_int_equal(
	    raw_int(f, "SELECT count(*) FROM information_schema.columns WHERE "
		       "table_name = 'audit' AND column_name IN "
		       "('prev_hash', 'hash') AND data_type = 'bytea'"),
	    2);
}

struct open_arg {
	const char *url;
	enum sa_err rc;
};

static void *
open_thread(void *p)
{
	struct open_arg *a = p;
	struct dstore *ds = NULL;

	a->rc = dstore_open(a->url, &ds);
	dstore_close(ds);
	return NULL;
}

static void
test_concurrent_open_migrates_once(void **state)
{
	struct fixture *f = *state;
	struct open_arg args[4];
	pthread_t t[4];

	NEED_CLUSTER();
	/* Four instances start at once on an empty database. */
	for (int i = 0; i < 4; i++) {
		args[i].url = f->url;
		args[i].rc = SA_ERR_INTERNAL;
		assert_int_equal(
		    pthread_create(&t[i], NULL, open_thread, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].rc, SA_OK);
	}
	assert_int_equal(raw_int(f, "SELECT count(*) FROM schema_migrations"),
			 DSTORE_MIGRATIONS);
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	dstore_close(ds);
	ds = NULL;
	raw_ok(f, "INSERT INTO schema_migrations (version) VALUES (999)");
	assert_int_equal(dstore_open(f->url, &ds), SA_ERR_CONFIG);
	assert_null(ds);
	/* Refused without touching anything. */
	assert_int_equal(raw_int(f, "SELECT count(*) FROM schema_migrations"),
			 DSTORE_MIGRATIONS + 1);
}

static void
test_meta(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	static char big[65538]; /* one byte over the value bound */
	char *v = NULL;

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "missing", &v), SA_ERR_NOT_FOUND);
	assert_null(v);
	assert_int_equal(dstore_meta_set(ds, "kid", "abc"), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "kid", &v), SA_OK);
	assert_string_equal(v, "abc");
	free(v);
	assert_int_equal(dstore_meta_set(ds, "kid", "d'e\"f\\g"), SA_OK);
	dstore_close(ds);
	ds = NULL;

	/* Survives a reopen, overwritten in place, quotes taken literally. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "kid", &v), SA_OK);
	assert_string_equal(v, "d'e\"f\\g");
	free(v);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dstore_meta_set(ds, "big", big), SA_ERR_VALIDATION);
	big[sizeof(big) - 2] = '\0'; /* exactly at the bound */
	assert_int_equal(dstore_meta_set(ds, "big", big), SA_OK);
	assert_int_equal(dstore_meta_set(ds, "", "x"), SA_ERR_VALIDATION);
	/* Bytes that are not UTF-8 are refused by the database. */
	assert_int_equal(dstore_meta_set(ds, "bin", "\xff\xfe"),
			 SA_ERR_VALIDATION);
	dstore_close(ds);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM meta"), 2);
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
	char detail[16][32];
	unsigned char prev[16][32], hash[16][32];
};

static int
collect_cb(const struct audit_row *row, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < 16);
	c->seq[c->n] = row->seq;
	snprintf(c->event[c->n], sizeof(c->event[0]), "%s", row->event);
	snprintf(c->detail[c->n], sizeof(c->detail[0]), "%s", row->detail);
	memcpy(c->prev[c->n], row->prev_hash, 32);
	memcpy(c->hash[c->n], row->hash, 32);
	c->n++;
	return 0;
}

static void
assert_intact(struct dstore *ds, int64_t rows)
{
	struct audit_verify_result res;

	assert_int_equal(audit_verify(ds, &res), SA_OK);
	if (res.first_bad_seq != 0)
		fail_msg("chain broken at %lld: %s",
			 (long long)res.first_bad_seq, res.reason);
	assert_int_equal(res.rows, rows);
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

	NEED_CLUSTER();
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

	/* The chain continues across a reopen (a new handle reads the tail). */
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
	assert_string_equal(c.detail[1], "{\"k\":1}");
	assert_string_equal(c.event[4], "b.two");
	assert_memory_equal(c.hash[3], more[0].hash, 32);
	assert_memory_equal(c.prev[4], more[0].hash, 32);

	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_audit_iter(ds, 2, 2, collect_cb, &c), SA_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seq[0], 2);
	assert_int_equal(c.seq[1], 3);
	assert_intact(ds, 5);
	dstore_close(ds);
	/* What the database holds is what was hashed. */
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit WHERE "
				    "octet_length(hash) = 32 AND event LIKE "
				    "'_.%' AND ua = 'test-agent/1'"),
			 5);
}

static int
count_cb(const struct audit_row *row, void *arg)
{
	int64_t *n = arg;

	assert_int_equal(row->seq, *n + 1);
	(*n)++;
	return 0;
}

static void
test_audit_big_batch_pages(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	enum { N = 1000 };
	struct audit_row *rows = calloc(N, sizeof(*rows));
	int64_t n = 0;

	NEED_CLUSTER();
	assert_non_null(rows);
	for (int i = 0; i < N; i++)
		rows[i] = mkrow("big.row", "{\"i\":1}");
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	/* One batch, one transaction; read back across several pages. */
	assert_int_equal(dstore_audit_append(ds, rows, N), SA_OK);
	assert_int_equal(rows[N - 1].seq, N);
	assert_int_equal(dstore_audit_iter(ds, 1, 0, count_cb, &n), SA_OK);
	assert_int_equal(n, N);
	assert_intact(ds, N);
	dstore_close(ds);
	free(rows);
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

	NEED_CLUSTER();
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
	assert_intact(ds, 2);
	dstore_close(ds);
}

static void
test_update_delete_truncate_refused_by_db(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit_row rows[2] = {mkrow("y.one", "{}"), mkrow("y.two", "{}")};
	struct audit_verify_result res;

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, rows, 2), SA_OK);
	/* While the store is open, through another connection, as the
	 * superuser even. */
	raw_refused(f, "UPDATE audit SET detail = '{\"x\":1}' WHERE seq = 1");
	raw_refused(f, "DELETE FROM audit WHERE seq = 2");
	raw_refused(f, "DELETE FROM audit");
	raw_refused(f, "TRUNCATE audit");
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 2);
	assert_int_equal(
	    raw_int(f, "SELECT count(*) FROM audit WHERE detail = '{}'"), 2);
	assert_intact(ds, 2);

	/* Someone who can switch the trigger off still cannot hide an edit:
	 * the chain shows which row. */
	raw_ok(f, "ALTER TABLE audit DISABLE TRIGGER audit_no_update");
	raw_ok(f, "UPDATE audit SET detail = '{\"x\":1}' WHERE seq = 2");
	assert_int_equal(audit_verify(ds, &res), SA_OK);
	assert_int_equal(res.first_bad_seq, 2);
	dstore_close(ds);
}

static void
test_tail_moved_by_other_instance(void **state)
{
	struct fixture *f = *state;
	struct dstore *a = NULL, *b = NULL;
	struct audit_row r1 = mkrow("i.a1", "{}"), r2 = mkrow("i.b1", "{}"),
			 r3[2] = {mkrow("i.a2", "{}"), mkrow("i.a3", "{}")};

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &a), SA_OK);
	assert_int_equal(dstore_open(f->url, &b), SA_OK);
	assert_int_equal(dstore_audit_append(a, &r1, 1), SA_OK);
	assert_int_equal(dstore_audit_append(b, &r2, 1), SA_OK);
	assert_int_equal(r2.seq, 2);
	/* a last saw seq 1; its batch must still follow seq 2. */
	assert_int_equal(dstore_audit_append(a, r3, 2), SA_OK);
	assert_int_equal(r3[0].seq, 3);
	assert_memory_equal(r3[0].prev_hash, r2.hash, 32);
	assert_intact(a, 4);
	dstore_close(a);
	dstore_close(b);
}

struct writer {
	struct dstore *ds;
	int id;
	int rows;
	enum sa_err rc;
};

#define WRITER_BATCHES 25

static void *
writer_thread(void *p)
{
	struct writer *w = p;
	struct audit_row rows[4];
	char subject[32];

	snprintf(subject, sizeof(subject), "writer-%d", w->id);
	w->rc = SA_OK;
	for (int i = 0; i < WRITER_BATCHES && w->rc == SA_OK; i++) {
		size_t n = (size_t)(i + w->id) % 4 + 1;

		for (size_t k = 0; k < n; k++) {
			rows[k] = mkrow("c.append", "{}");
			rows[k].subject = subject;
		}
		w->rc = dstore_audit_append(w->ds, rows, n);
		if (w->rc == SA_OK)
			w->rows += (int)n;
	}
	return NULL;
}

static void
test_two_instances_concurrent_chain(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds[2] = {NULL, NULL};
	struct writer w[8];
	pthread_t t[8];
	int64_t n = -1;
	int total = 0;

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds[0]), SA_OK);
	assert_int_equal(dstore_open(f->url, &ds[1]), SA_OK);
	for (int i = 0; i < 8; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].ds = ds[i % 2];
		w[i].id = i;
		assert_int_equal(
		    pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, SA_OK);
		total += w[i].rows;
	}
	assert_int_equal(dstore_audit_count(ds[1], &n), SA_OK);
	assert_int_equal(n, total);
	/* One linear chain, whichever instance reads it. */
	assert_intact(ds[0], total);
	assert_intact(ds[1], total);
	assert_int_equal(
	    raw_int(f, "SELECT count(DISTINCT subject) FROM audit"), 8);
	dstore_close(ds[0]);
	dstore_close(ds[1]);
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
	struct dstore *ds = NULL;
	struct enrollment e, got, prev;
	int had = -1, count = -1;
	int64_t n = -1;

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got),
			 SA_ERR_NOT_FOUND);
	fill_enrollment(&e, "tok-1", "dev-a", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, &prev, &had), SA_OK);
	assert_int_equal(had, 0);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.token_id, "tok-1");
	assert_string_equal(got.device_id, "dev-a");
	assert_string_equal(got.public_key_pem,
			    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END "
			    "PUBLIC KEY-----\n");
	assert_string_equal(got.push_endpoint, "https://push.example/abc");
	assert_null(got.fcm_token);
	assert_string_equal(got.trust_level, "high");
	assert_string_equal(got.claims, "{\"givenName\":\"Erika\"}");
	assert_string_equal(got.seal_fingerprint, FP_A);
	assert_int_equal(got.created_at, 1700000000);
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
	assert_string_equal(prev.push_endpoint, "https://push.example/abc");
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
	had = -1;
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, &had),
			 SA_ERR_TOKEN_REVOKED);
	assert_int_equal(had, 0);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-b"); /* nothing was written */
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_count(ds, &n), SA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM revoked_tokens "
				    "WHERE reason = 'test'"),
			 1);

	/* Revoking by seal fingerprint (the VRL) hits every token of that
	 * seal. */
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

	/* Bounds: the longest token id fits; bad keys never reach the
	 * backend; quotes are data. */
	fill_enrollment(&e, "x", "dev", FP_A);
	memset(e.token_id, 'x', sizeof(e.token_id) - 1);
	e.token_id[sizeof(e.token_id) - 1] = '\0';
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	fill_enrollment(&e, "it's; DROP TABLE audit;--", "dev", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	assert_int_equal(
	    dstore_enroll_get(ds, "it's; DROP TABLE audit;--", &got), SA_OK);
	assert_string_equal(got.device_id, "dev");
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_get(ds, "", &got), SA_ERR_NOT_FOUND);
	assert_int_equal(
	    dstore_enroll_revoke_fingerprint(ds, "short", 1, &count),
	    SA_ERR_VALIDATION);
	dstore_close(ds);
	ds = NULL;

	/* Everything survives a reopen. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-3", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-e");
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_count(ds, &n), SA_OK);
	assert_int_equal(n, 3);
	dstore_close(ds);
}

struct putter {
	struct dstore *ds;
	int id;
	int had;
	enum sa_err rc;
};

static void *
put_thread(void *p)
{
	struct putter *w = p;
	struct enrollment e;
	char dev[32];

	snprintf(dev, sizeof(dev), "dev-%d", w->id);
	fill_enrollment(&e, "tok-race", dev, FP_A);
	w->rc = dstore_enroll_put(w->ds, &e, NULL, &w->had);
	enrollment_free(&e);
	return NULL;
}

static void
test_concurrent_enroll_put(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds[2] = {NULL, NULL};
	struct putter w[6];
	pthread_t t[6];
	int had = 0;

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds[0]), SA_OK);
	assert_int_equal(dstore_open(f->url, &ds[1]), SA_OK);
	for (int i = 0; i < 6; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].ds = ds[i % 2];
		w[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, put_thread, &w[i]),
				 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, SA_OK);
		had += w[i].had;
	}
	/* Serialised per token id: exactly one put found nothing before it,
	 * every other one replaced (and was told of) a previous binding. */
	assert_int_equal(had, 5);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM enrollments"), 1);
	dstore_close(ds[0]);
	dstore_close(ds[1]);
}

/* raw_as runs sql on f's database as role and returns its status. */
static ExecStatusType
raw_as(const struct fixture *f, const char *role, const char *sql)
{
	char ci[160];
	PGconn *c;
	PGresult *r;
	ExecStatusType st;

	snprintf(ci, sizeof(ci), "postgres://%s@127.0.0.1:%d/%s", role, cl.port,
		 f->db);
	c = PQconnectdb(ci);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	st = PQresultStatus(r);
	PQclear(r);
	PQfinish(c);
	return st;
}

static void
test_least_privilege_role(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit_row r = mkrow("p.app", "{}");
	struct enrollment e;
	char url[160], sql[256];

	NEED_CLUSTER();
	snprintf(sql, sizeof(sql), "CREATE ROLE app_%s LOGIN", f->db);
	raw_ok(f, sql);
	snprintf(url, sizeof(url), "postgres://app_%s@127.0.0.1:%d/%s", f->db,
		 cl.port, f->db);
	/* Not migrated yet and not allowed to create tables: refused. */
	raw_ok(f, "REVOKE CREATE ON SCHEMA public FROM PUBLIC");
	assert_int_equal(dstore_open(url, &ds), SA_ERR_CONFIG);
	assert_null(ds);

	/* The owner migrates; the application role gets only what the
	 * operations guide grants, and runs. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	dstore_close(ds);
	ds = NULL;
	snprintf(sql, sizeof(sql),
		 "GRANT SELECT ON schema_migrations TO app_%s;"
		 "GRANT SELECT, INSERT ON audit TO app_%s;"
		 "GRANT SELECT, INSERT, UPDATE ON meta, enrollments,"
		 " revoked_tokens TO app_%s",
		 f->db, f->db, f->db);
	raw_ok(f, sql);
	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, &r, 1), SA_OK);
	assert_int_equal(dstore_meta_set(ds, "k", "v"), SA_OK);
	fill_enrollment(&e, "tok-p", "dev", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	fill_enrollment(&e, "tok-p", "dev-2", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_revoke(ds, "tok-p", 5, "x"), SA_OK);
	assert_intact(ds, 1);
	dstore_close(ds);
	/* That role cannot switch the append-only triggers off. */
	snprintf(sql, sizeof(sql), "app_%s", f->db);
	assert_int_equal(
	    raw_as(f, sql, "ALTER TABLE audit DISABLE TRIGGER audit_no_update"),
	    PGRES_FATAL_ERROR);
	assert_int_equal(raw_as(f, sql, "TRUNCATE audit"), PGRES_FATAL_ERROR);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM audit"), 1);
}

static void
test_server_stopped_then_restarted(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL, *other = NULL;
	struct audit_row r = mkrow("r.before", "{}");
	struct enrollment got;
	char *v = NULL;
	int64_t n = -1;

	NEED_CLUSTER();
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, &r, 1), SA_OK);
	assert_int_equal(dstore_meta_set(ds, "k", "v"), SA_OK);

	assert_int_equal(cluster_stop(), 0);
	assert_int_equal(dstore_ping(ds), SA_ERR_UNAVAILABLE);
	r = mkrow("r.down", "{}");
	assert_int_equal(dstore_audit_append(ds, &r, 1), SA_ERR_UNAVAILABLE);
	assert_int_equal(r.seq, 0);
	assert_int_equal(dstore_meta_get(ds, "k", &v), SA_ERR_UNAVAILABLE);
	assert_int_equal(dstore_enroll_get(ds, "tok", &got),
			 SA_ERR_UNAVAILABLE);
	assert_int_equal(dstore_open(f->url, &other), SA_ERR_UNAVAILABLE);
	assert_null(other);

	/* The same handle works again once the server is back. */
	assert_int_equal(cluster_start(), 0);
	assert_int_equal(dstore_ping(ds), SA_OK);
	r = mkrow("r.after", "{}");
	assert_int_equal(dstore_audit_append(ds, &r, 1), SA_OK);
	assert_int_equal(r.seq, 2);
	assert_int_equal(dstore_meta_get(ds, "k", &v), SA_OK);
	assert_string_equal(v, "v");
	free(v);
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, 2);
	assert_intact(ds, 2);

	/* A restart while the handle is idle costs no failed operation: the
	 * pooled connections the server closed are found and replaced when
	 * they are next taken. */
	assert_int_equal(cluster_stop(), 0);
	assert_int_equal(cluster_start(), 0);
	assert_int_equal(dstore_ping(ds), SA_OK);
	r = mkrow("r.restarted", "{}");
	assert_int_equal(dstore_audit_append(ds, &r, 1), SA_OK);
	assert_int_equal(r.seq, 3);
	assert_intact(ds, 3);
	dstore_close(ds);
}

/* The registry's contract (store_contract.h) on this backend. */
static void
test_services_contract(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL, *ds2 = NULL;

	NEED_CLUSTER();
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
	    cmocka_unit_test_setup_teardown(test_open_ping_name, setup,
					    teardown),
	    cmocka_unit_test(test_bad_urls),
	    cmocka_unit_test_setup_teardown(test_migrations_idempotent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_open_migrates_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_append_iter_count, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_audit_big_batch_pages, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_append_leaves_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_update_delete_truncate_refused_by_db, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_moved_by_other_instance,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_instances_concurrent_chain,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enrollments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_enroll_put, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_least_privilege_role, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_server_stopped_then_restarted,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
