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
 * postgresql, installed by scripts/setup --test) the program exits 77,
 * which ctest reports as skipped, or fails when SEALAUTH_BACKENDS_REQUIRED
 * is set (scripts/test). What every durable backend must do is in
 * store_contract.c; this file adds PostgreSQL's own cases. The cluster is
 * stopped and its directory removed at the end, also when a test fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
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
#include "support.h"
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

/* A test's own database; the URL first: the shared contract tests take
 * the fixture as it. */
struct fixture {
	char url[128];
	char db[32];
};

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
		rm_tree(cl.dir);
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
		snprintf(cl.why, sizeof(cl.why), "initdb disappeared");
		goto fail;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam("postgres")) == NULL) {
			snprintf(cl.why, sizeof(cl.why),
				 "running as root and there is no postgres "
				 "user to run the cluster as");
			goto fail;
		}
		cl.as_postgres = 1;
	}
	strcpy(cl.dir, "/tmp/sa_pg_XXXXXX");
	if (mkdtemp(cl.dir) == NULL) {
		cl.dir[0] = '\0';
		snprintf(cl.why, sizeof(cl.why), "mkdtemp failed");
		goto fail;
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
fail:
	/* The binaries are there (main checked), so a cluster that does not
	 * come up is a failure, not a skip. */
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
		return -1;
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

	dstore_contract_meta(f->url);
	/* Bytes that are not UTF-8 are refused by the database. */
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_meta_set(ds, "bin", "\xff\xfe"),
			 SA_ERR_VALIDATION);
	dstore_close(ds);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM meta"), 2);
}

static void
test_audit_append_iter_count(void **state)
{
	struct fixture *f = *state;

	dstore_contract_audit(f->url);
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
test_update_delete_truncate_refused_by_db(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct audit_row rows[2] = {mkrow("y.one", "{}"), mkrow("y.two", "{}")};
	struct audit_verify_result res;

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
test_enrollments(void **state)
{
	struct fixture *f = *state;

	dstore_contract_enrollments(f->url);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM revoked_tokens "
				    "WHERE reason = 'test'"),
			 1);
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
	int n = snprintf(ci, sizeof(ci), "postgres://%s@127.0.0.1:%d/%s", role,
			 cl.port, f->db);

	assert_true(n > 0 && (size_t)n < sizeof(ci));
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

/*
 * A database written before authorities were recorded migrates: each
 * binding takes the authority its last enroll.ok audit row names, one
 * without such a row keeps none.
 */
static void
test_migration_derives_authority(void **state)
{
	struct fixture *f = *state;
	struct dstore *ds = NULL;
	struct enrollment got;

	raw_ok(f,
	       "CREATE TABLE schema_migrations (version integer PRIMARY "
	       "KEY, applied_at timestamptz NOT NULL DEFAULT now());"
	       "INSERT INTO schema_migrations (version) VALUES (1), (2);"
	       "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);"
	       "CREATE TABLE audit (seq bigint PRIMARY KEY, ts_ms bigint NOT "
	       "NULL, event text NOT NULL, ip text NOT NULL, ua text NOT "
	       "NULL, subject text NOT NULL, detail text NOT NULL, prev_hash "
	       "bytea NOT NULL, hash bytea NOT NULL);"
	       "CREATE TABLE enrollments (token_id text PRIMARY KEY, "
	       "device_id text NOT NULL, public_key_pem text NOT NULL, "
	       "fcm_token text, push_endpoint text, trust_level text NOT "
	       "NULL, claims text NOT NULL, seal_fingerprint text NOT NULL, "
	       "created_at bigint NOT NULL, expires_at bigint NOT NULL, "
	       "revoked_at bigint NOT NULL DEFAULT 0);"
	       "CREATE TABLE revoked_tokens (token_id text PRIMARY KEY, "
	       "revoked_at bigint NOT NULL, reason text NOT NULL);"
	       "INSERT INTO audit VALUES (1, 1, 'enroll.ok', '', '', 'T-1', "
	       "'{\"iac\":\"OLD\"}', '\\x00', '\\x00'),"
	       " (2, 2, 'enroll.ok', '', '', 'T-1', '{\"iac\":\"DEMO\"}',"
	       " '\\x00', '\\x00');"
	       "INSERT INTO enrollments VALUES ('T-1', 'd1', 'pem', NULL, "
	       "NULL, 'high', '{}', 'fp', 1, 2, 0), ('T-2', 'd2', 'pem', NULL,"
	       " NULL, 'high', '{}', 'fp', 1, 2, 0);");
	assert_int_equal(dstore_open(f->url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "T-1", &got), SA_OK);
	assert_string_equal(got.authority, "DEMO");
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_get(ds, "T-2", &got), SA_OK);
	assert_string_equal(got.authority, "");
	enrollment_free(&got);
	dstore_close(ds);
}

int
main(void)
{
	if (cluster_find_bin() != 0)
		return store_backend_missing(
		    "test_store_pg", "no /usr/lib/postgresql/*/bin/initdb "
				     "(the postgresql package: scripts/setup "
				     "--test)");
	const struct CMUnitTest tests[] = {
	    DSTORE_CONTRACT_TESTS(setup, teardown),
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
	    cmocka_unit_test_setup_teardown(
		test_update_delete_truncate_refused_by_db, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_moved_by_other_instance,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_instances_concurrent_chain,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enrollments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migration_derives_authority,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_enroll_put, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_least_privilege_role, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_server_stopped_then_restarted,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
