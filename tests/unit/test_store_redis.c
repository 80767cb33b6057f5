/*
 * test_store_redis.c - the Redis ephemeral store against a private
 * redis-server on loopback: the same contract as the in-process store
 * (TTLs, NX/XX, fixed-window counters, delete races, bounds, pub/sub,
 * threads), then what only a networked store has: URL checks, password and
 * database, key prefixes, the subscriber on an attached loop, and Redis
 * going away and coming back.
 *
 * The server runs with no persistence in a temporary directory, on a free
 * port, and is killed at the end whatever happens (also if this process
 * dies: it gets SIGKILL with its parent). Without redis-server the
 * program exits 77, which ctest reports as skipped, or fails when
 * SEALAUTH_BACKENDS_REQUIRED is set (scripts/test). What every ephemeral
 * backend must do is in store_contract.c; this file adds Redis's own cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <hiredis/hiredis.h>

#include "core/log.h"
#include "store/store.h"
#include "core/util.h"
#include "store_contract.h"
#include "support.h"

#define REDIS_BIN "redis-server"
#define START_WAIT_MS 10000
#define MAX_SERVERS 2

struct redis_proc {
	pid_t pid;
	int port;
	char dir[300];
	char pass[64];
};

static struct redis_proc servers[MAX_SERVERS];
static char tmp_root[256];
static int have_redis;

static int
redis_in_path(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (path == NULL)
		path = "/usr/bin:/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, REDIS_BIN);
		if (access(buf, X_OK) == 0)
			return 1;
		path += n;
		if (*path == ':')
			path++;
	}
	return 0;
}

/* raw_connect opens a plain hiredis connection to a test server, with its
 * password and database; NULL if it does not answer. */
static redisContext *
raw_connect(const struct redis_proc *s, int db)
{
	struct timeval tv = {1, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
	redisReply *r;

	if (c == NULL || c->err) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (s->pass[0] != '\0') {
		r = redisCommand(c, "AUTH %s", s->pass);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	r = redisCommand(c, "SELECT %d", db);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(r);
	return c;
}

/* raw_cmd runs one command on a fresh connection and returns its reply
 * (caller frees), or NULL. */
static redisReply *
raw_cmd(const struct redis_proc *s, int db, const char *fmt, ...)
{
	redisContext *c = raw_connect(s, db);
	redisReply *r;
	va_list ap;

	if (c == NULL)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

static int
redis_answers(const struct redis_proc *s)
{
	redisReply *r = raw_cmd(s, 0, "PING");
	int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

	freeReplyObject(r);
	return ok;
}

/*
 * redis_start runs redis-server on s->port (a free one when 0), without
 * persistence, in its own directory, and waits until it answers.
 */
static int
redis_start(struct redis_proc *s, int index)
{
	char port[16], logfile[340];
	pid_t pid;
	uint64_t until;

	if (s->port == 0)
		s->port = free_port();
	snprintf(s->dir, sizeof(s->dir), "%s/r%d", tmp_root, index);
	if (mkdir_p(s->dir, 0700) != SA_OK)
		return -1;
	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(logfile, sizeof(logfile), "%s/redis.log", s->dir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		const char *argv[20];
		int n = 0, fd;

		/* Never outlive the test, even if it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		argv[n++] = REDIS_BIN;
		argv[n++] = "--port";
		argv[n++] = port;
		argv[n++] = "--bind";
		argv[n++] = "127.0.0.1";
		argv[n++] = "--save";
		argv[n++] = "";
		argv[n++] = "--appendonly";
		argv[n++] = "no";
		argv[n++] = "--dir";
		argv[n++] = s->dir;
		argv[n++] = "--daemonize";
		argv[n++] = "no";
		if (s->pass[0] != '\0') {
			argv[n++] = "--requirepass";
			argv[n++] = s->pass;
		}
		argv[n] = NULL;
		execvp(REDIS_BIN, (char *const *)argv);
		_exit(127);
	}
	s->pid = pid;
	until = now_mono_ms() + START_WAIT_MS;
	while (now_mono_ms() < until) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			s->pid = 0;
			return -1;
		}
		if (redis_answers(s))
			return 0;
		sleep_ms(20);
	}
	return -1;
}

/* redis_stop ends a test server: SIGTERM, then SIGKILL after 5 s. */
static void
redis_stop(struct redis_proc *s)
{
	uint64_t until = now_mono_ms() + 5000;
	int status;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &status, WNOHANG) == 0) {
		if (now_mono_ms() > until) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		sleep_ms(10);
	}
	s->pid = 0;
}

static void
stop_all(void)
{
	for (int i = 0; i < MAX_SERVERS; i++)
		redis_stop(&servers[i]);
	if (tmp_root[0] != '\0') {
		rm_tree(tmp_root);
		tmp_root[0] = '\0';
	}
}

static void
url_of(const struct redis_proc *s, const char *rest, char *out, size_t n)
{
	snprintf(out, n, "redis://127.0.0.1:%d%s", s->port, rest);
}

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	log_set_level(SA_LOG_ERROR);
	snprintf(tmp_root, sizeof(tmp_root), "%s/sealauth-redis-XXXXXX",
		 tmp ? tmp : "/tmp");
	if (mkdtemp(tmp_root) == NULL)
		return -1;
	atexit(stop_all);
	if (redis_start(&servers[0], 0) != 0) {
		fprintf(stderr, "redis-server did not start\n");
		return -1;
	}
	have_redis = 1;
	return 0;
}

static int
group_teardown(void **state)
{
	stop_all();
	return 0;
}

/* setup empties the server and opens a store on it. */
static int
setup(void **state)
{
	struct estore *es = NULL;
	char url[128];
	redisReply *r;

	*state = NULL;
	if (!have_redis)
		return -1;
	r = raw_cmd(&servers[0], 0, "FLUSHALL");
	assert_non_null(r);
	freeReplyObject(r);
	url_of(&servers[0], "", url, sizeof(url));
	assert_int_equal(estore_open(url, &es), SA_OK);
	assert_string_equal(estore_name(es), "redis");
	*state = es;
	return 0;
}

static int
teardown(void **state)
{
	estore_close(*state);
	return 0;
}

static void
test_set_get_ttl_expiry(void **state)
{
	estore_contract_ttl(*state);
}

static void
test_nx_xx(void **state)
{
	estore_contract_nx_xx(*state);
}

static void
test_incr_fixed_window(void **state)
{
	struct estore *es = *state;
	int64_t count = 0, ttl = 0;
	redisReply *r;

	estore_contract_incr(es);
	/* The script cache emptied (as after a Redis restart): EVAL again. */
	assert_int_equal(estore_incr(es, "flushed", 0, &count, &ttl), SA_OK);
	assert_int_equal(count, 1);
	r = raw_cmd(&servers[0], 0, "SCRIPT FLUSH");
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(estore_incr(es, "flushed", 0, &count, &ttl), SA_OK);
	assert_int_equal(count, 2);
}

static void
test_del_race_exactly_once(void **state)
{
	estore_contract_del_race(*state, 500);
}

static void
test_bounds(void **state)
{
	estore_contract_bounds(*state);
}

static void
test_index(void **state)
{
	estore_contract_index(*state);
}

static void
test_del_if(void **state)
{
	estore_contract_del_if(*state);
}

static void
test_get_many(void **state)
{
	struct estore *es = *state;
	const char *keys[2] = {"gm:ok", "gm:set"};
	struct estore_got got[2];
	redisReply *r;

	estore_contract_get_many(es);
	/* A key holding another type fails the call, nothing handed out. */
	assert_int_equal(estore_set(es, "gm:ok", "v", 1, 60000, 0), SA_OK);
	r = raw_cmd(&servers[0], 0, "SADD gm:set x");
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(estore_get_many(es, keys, 2, got), SA_ERR_CONFLICT);
	assert_null(got[0].val);
	assert_null(got[1].val);
}

static void
test_set_listed(void **state)
{
	struct estore *es = *state;
	unsigned char *val = NULL;
	size_t n = 0;

	estore_contract_set_listed(es);
	/* The listing fails (the index's name holds a string): the key just
	 * stored is removed again, and the failure returned. */
	assert_int_equal(estore_set(es, "sl:str", "x", 1, 60000, 0), SA_OK);
	assert_int_equal(estore_set_listed(es, "sl:k", "v", 1, 60000, "sl:str",
					   "k", 1700000100, 1700000000),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_get(es, "sl:k", &val, &n, NULL),
			 SA_ERR_NOT_FOUND);
}

static void
test_set_publish(void **state)
{
	estore_contract_set_publish(*state);
}

static void
test_set_remove(void **state)
{
	estore_contract_set_remove(*state);
}

static void
test_remove(void **state)
{
	struct estore *es = *state;
	struct estore_rm rm = {
	    .kind = ESTORE_RM_KEY_IF, .key = "flushed", .val = "v", .n = 1};
	unsigned char *val = NULL;
	size_t n = 0;
	redisReply *r;

	estore_contract_remove(es);
	/* The script cache emptied (as after a Redis restart): the
	 * compare-and-delete in a batch runs again by its text. */
	assert_int_equal(estore_set(es, "flushed", "v", 1, 60000, 0), SA_OK);
	r = raw_cmd(&servers[0], 0, "SCRIPT FLUSH");
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(estore_remove(es, &rm, 1), SA_OK);
	assert_int_equal(estore_get(es, "flushed", &val, &n, NULL),
			 SA_ERR_NOT_FOUND);
}

static void
test_pubsub_contract(void **state)
{
	estore_contract_pubsub(*state);
}

/* Across instances: two stores subscribe, a third publishes; delivery on a
 * store thread. */
static void
test_pubsub_across_instances(void **state)
{
	struct estore *es = *state, *es2 = NULL, *pub = NULL;
	struct inbox a, b, c, other;
	char url[128];

	inbox_init(&a);
	inbox_init(&b);
	inbox_init(&c);
	inbox_init(&other);
	url_of(&servers[0], "", url, sizeof(url));
	/* Two "instances" subscribe, a third publishes. */
	assert_int_equal(estore_open(url, &es2), SA_OK);
	assert_int_equal(estore_open(url, &pub), SA_OK);
	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &a),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &b),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:xyz", on_msg, &other),
			 SA_OK);
	assert_int_equal(estore_subscribe(es2, "session:abc", on_msg, &c),
			 SA_OK);
	/* Subscribed when subscribe returned: the first publish arrives. */
	assert_int_equal(estore_publish(pub, "session:abc", "approved", 8),
			 SA_OK);
	assert_int_equal(inbox_wait(&a, 1, 5000), 1);
	assert_int_equal(inbox_wait(&b, 1, 5000), 1);
	assert_int_equal(inbox_wait(&c, 1, 5000), 1);
	assert_string_equal(a.last, "approved");
	assert_string_equal(b.last, "approved");
	assert_string_equal(c.last, "approved");
	assert_string_equal(a.channel, "session:abc");
	/* Delivered on a store thread, not the publisher's. */
	assert_false(pthread_equal(a.thread, pthread_self()));

	/* Redis delivers in order: once the second message is in, the one to
	 * a channel nobody listens to would have been too. */
	assert_int_equal(estore_publish(pub, "session:none", "x", 1), SA_OK);
	assert_int_equal(estore_publish(es, "session:abc", "again", 5), SA_OK);
	assert_int_equal(inbox_wait(&a, 2, 5000), 2);
	assert_int_equal(inbox_wait(&c, 2, 5000), 2);
	assert_string_equal(c.last, "again");
	assert_int_equal(other.n, 0);
	assert_int_equal(estore_subscribe(es, "c", NULL, &a),
			 SA_ERR_VALIDATION);
	estore_close(es2);
	estore_close(pub);
	inbox_destroy(&a);
	inbox_destroy(&b);
	inbox_destroy(&c);
	inbox_destroy(&other);
}

static void
test_concurrency_smoke(void **state)
{
	struct estore *es = *state;
	redisReply *r;

	estore_contract_concurrency(es, 400);
	/* Eight threads share at most eight connections. */
	r = raw_cmd(&servers[0], 0, "CLIENT LIST");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	size_t clients = 0;
	for (const char *p = r->str; (p = strstr(p, "cmd=")) != NULL; p++)
		clients++;
	freeReplyObject(r);
	assert_true(clients <= 8 + 1); /* the pool and this connection */
}

static void
test_url_checks(void **state)
{
	static const char *const bad[] = {
	    "redis://",
	    "redis://:6379",
	    "redis://127.0.0.1:0",
	    "redis://127.0.0.1:65536",
	    "redis://127.0.0.1:12x",
	    "redis://user:pw@127.0.0.1",
	    "redis://:@127.0.0.1",
	    "redis://:bad%zz@127.0.0.1",
	    "redis://127.0.0.1/abc",
	    "redis://127.0.0.1/1/2",
	    "redis://127.0.0.1?db=1",
	    "redis://127.0.0.1?prefix=",
	    "redis://127.0.0.1?prefix=a*b",
	    "redis://127.0.0.1#x",
	    "redis://[::1",
	    "redis://ho st",
	    "rediss://127.0.0.1",
	    "redis+sentinel://127.0.0.1",
	    "unix:///tmp/redis.sock",
	};
	struct estore *es = NULL;
	char url[128];
	uint64_t t0;
	int port = free_port();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		es = NULL;
		if (estore_open(bad[i], &es) != SA_ERR_CONFIG)
			fail_msg("accepted %s", bad[i]);
		assert_null(es);
	}
	/* A valid URL with nobody listening opens (the server must start
	 * without Redis) and reports unavailable, quickly. */
	snprintf(url, sizeof(url),
		 "redis://:pw%%40x@127.0.0.1:%d/2?prefix=a:", port);
	assert_int_equal(estore_open(url, &es), SA_OK);
	t0 = now_mono_ms();
	assert_int_equal(estore_ping(es), SA_ERR_UNAVAILABLE);
	assert_int_equal(estore_set(es, "k", "v", 1, 0, 0), SA_ERR_UNAVAILABLE);
	assert_true(now_mono_ms() - t0 < 2000);
	estore_close(es);
	snprintf(url, sizeof(url), "redis://[::1]:%d", port);
	assert_int_equal(estore_open(url, &es), SA_OK);
	estore_close(es);
}

static void
test_prefix_isolation(void **state)
{
	struct estore *a = NULL, *b = NULL;
	struct inbox ia, ib;
	char url[128];
	unsigned char *v = NULL;
	redisReply *r;
	int existed = 0;

	inbox_init(&ia);
	inbox_init(&ib);
	url_of(&servers[0], "?prefix=dep-a:", url, sizeof(url));
	assert_int_equal(estore_open(url, &a), SA_OK);
	url_of(&servers[0], "/0?prefix=dep-b:", url, sizeof(url));
	assert_int_equal(estore_open(url, &b), SA_OK);
	assert_int_equal(estore_set(a, "sess:1", "A", 1, 0, 0), SA_OK);
	assert_int_equal(estore_set(b, "sess:1", "B", 1, 0, ESTORE_NX), SA_OK);
	assert_int_equal(estore_get(a, "sess:1", &v, NULL, NULL), SA_OK);
	assert_string_equal((char *)v, "A");
	free(v);
	assert_int_equal(estore_get(b, "sess:1", &v, NULL, NULL), SA_OK);
	assert_string_equal((char *)v, "B");
	free(v);
	assert_int_equal(estore_set(b, "only-b", "x", 1, 0, 0), SA_OK);
	assert_int_equal(estore_count(a), 1);
	assert_int_equal(estore_count(b), 2);
	{
		/* Redis keeps the data: no footprint in this process. */
		size_t n = 1, bytes = 1;

		assert_int_equal(estore_footprint(a, &n, &bytes),
				 SA_ERR_NOT_FOUND);
		assert_true(n == 0 && bytes == 0);
	}
	r = raw_cmd(&servers[0], 0, "GET dep-a:sess:1");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_string_equal(r->str, "A");
	freeReplyObject(r);
	assert_int_equal(estore_del(a, "only-b", &existed), SA_OK);
	assert_int_equal(existed, 0);

	/* Channels are prefixed too. */
	assert_int_equal(estore_subscribe(a, "events", on_msg, &ia), SA_OK);
	assert_int_equal(estore_subscribe(b, "events", on_msg, &ib), SA_OK);
	assert_int_equal(estore_publish(b, "events", "to-b", 4), SA_OK);
	assert_int_equal(estore_publish(a, "events", "to-a", 4), SA_OK);
	assert_int_equal(inbox_wait(&ia, 1, 5000), 1);
	assert_int_equal(inbox_wait(&ib, 1, 5000), 1);
	assert_string_equal(ia.last, "to-a");
	assert_string_equal(ia.channel, "events");
	assert_string_equal(ib.last, "to-b");
	estore_close(a);
	estore_close(b);
	inbox_destroy(&ia);
	inbox_destroy(&ib);
}

static void
test_password_and_database(void **state)
{
	struct redis_proc *s = &servers[1];
	struct estore *es = NULL, *wrong = NULL;
	struct inbox in;
	char url[256];
	unsigned char *v = NULL;
	redisReply *r;

	inbox_init(&in);
	snprintf(s->pass, sizeof(s->pass), "s3cr@t/x");
	assert_int_equal(redis_start(s, 1), 0);
	snprintf(url, sizeof(url), "redis://:s3cr%%40t%%2Fx@127.0.0.1:%d/3",
		 s->port);
	assert_int_equal(estore_open(url, &es), SA_OK);
	assert_int_equal(estore_ping(es), SA_OK);
	assert_int_equal(estore_set(es, "k", "in-db-3", 7, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "k", &v, NULL, NULL), SA_OK);
	assert_string_equal((char *)v, "in-db-3");
	free(v);
	r = raw_cmd(s, 3, "GET k");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	freeReplyObject(r);
	r = raw_cmd(s, 0, "GET k");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	/* The subscriber authenticates too. */
	assert_int_equal(estore_subscribe(es, "ch", on_msg, &in), SA_OK);
	assert_int_equal(estore_publish(es, "ch", "hi", 2), SA_OK);
	assert_int_equal(inbox_wait(&in, 1, 5000), 1);

	snprintf(url, sizeof(url), "redis://:nope@127.0.0.1:%d/3", s->port);
	assert_int_equal(estore_open(url, &wrong), SA_OK);
	assert_int_equal(estore_ping(wrong), SA_ERR_UNAVAILABLE);
	assert_int_equal(estore_get(wrong, "k", &v, NULL, NULL),
			 SA_ERR_UNAVAILABLE);
	estore_close(wrong);
	estore_close(es);
	redis_stop(s);
	inbox_destroy(&in);
}

struct loop {
	struct event_base *base;
	pthread_t thread;
};

static void *
loop_run(void *arg)
{
	struct loop *l = arg;

	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* The server's way: the subscriber on a loop the caller runs, detached
 * before that loop is freed. */
static void
test_attached_loop(void **state)
{
	struct estore *es = *state;
	struct inbox in, early;
	struct loop lp;

	inbox_init(&in);
	inbox_init(&early);
	assert_int_equal(evthread_use_pthreads(), 0);
	lp.base = event_base_new();
	assert_non_null(lp.base);
	assert_int_equal(pthread_create(&lp.thread, NULL, loop_run, &lp), 0);

	/* A subscription made before attaching moves to the loop. */
	assert_int_equal(estore_subscribe(es, "early", on_msg, &early), SA_OK);
	assert_int_equal(estore_attach_loop(es, lp.base), SA_OK);
	assert_int_equal(estore_subscribe(es, "events", on_msg, &in), SA_OK);
	assert_int_equal(estore_publish(es, "events", "one", 3), SA_OK);
	assert_int_equal(estore_publish(es, "early", "two", 3), SA_OK);
	assert_int_equal(inbox_wait(&in, 1, 5000), 1);
	assert_int_equal(inbox_wait(&early, 1, 5000), 1);
	assert_true(pthread_equal(in.thread, lp.thread));
	assert_true(pthread_equal(early.thread, lp.thread));

	/* Detached: nothing more is delivered, and the loop may go. */
	estore_detach_loop(es);
	assert_int_equal(estore_publish(es, "events", "late", 4), SA_OK);
	sleep_ms(300);
	assert_int_equal(in.n, 1);
	event_base_loopbreak(lp.base);
	pthread_join(lp.thread, NULL);
	event_base_free(lp.base);
	/* Commands do not need the loop. */
	assert_int_equal(estore_set(es, "after", "x", 1, 0, 0), SA_OK);
	inbox_destroy(&in);
	inbox_destroy(&early);
}

/*
 * Redis stops: every call fails fast with SA_ERR_UNAVAILABLE (bounds are
 * still checked first), and the server process keeps going. Redis comes
 * back on the same port: calls work again and the subscriber subscribes
 * again by itself.
 */
static void
test_redis_down_and_back(void **state)
{
	struct estore *es = *state;
	struct inbox in;
	char big[ESTORE_KEY_MAX + 2];
	unsigned char *v = NULL;
	int64_t count = 0;
	int existed = 0, got = 0;
	uint64_t t0, until;

	inbox_init(&in);
	assert_int_equal(estore_subscribe(es, "events", on_msg, &in), SA_OK);
	assert_int_equal(estore_set(es, "k", "v", 1, 0, 0), SA_OK);
	assert_int_equal(estore_publish(es, "events", "before", 6), SA_OK);
	assert_int_equal(inbox_wait(&in, 1, 5000), 1);

	redis_stop(&servers[0]);
	t0 = now_mono_ms();
	assert_int_equal(estore_ping(es), SA_ERR_UNAVAILABLE);
	assert_int_equal(estore_set(es, "k", "w", 1, 0, 0), SA_ERR_UNAVAILABLE);
	assert_int_equal(estore_get(es, "k", &v, NULL, NULL),
			 SA_ERR_UNAVAILABLE);
	assert_null(v);
	assert_int_equal(estore_del(es, "k", &existed), SA_ERR_UNAVAILABLE);
	assert_int_equal(estore_incr(es, "c", 1000, &count, NULL),
			 SA_ERR_UNAVAILABLE);
	assert_int_equal(estore_publish(es, "events", "lost", 4),
			 SA_ERR_UNAVAILABLE);
	assert_int_equal(estore_count(es), 0);
	/* Checked before anything is sent: still a validation error. */
	memset(big, 'k', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(estore_set(es, big, "v", 1, 0, 0), SA_ERR_VALIDATION);
	assert_true(now_mono_ms() - t0 < 3000);
	/* A subscription made while Redis is down does not hang. */
	struct inbox later;
	inbox_init(&later);
	t0 = now_mono_ms();
	assert_int_equal(estore_subscribe(es, "later", on_msg, &later), SA_OK);
	assert_true(now_mono_ms() - t0 < 2500);

	assert_int_equal(redis_start(&servers[0], 0), 0);
	until = now_mono_ms() + 10000;
	while (estore_ping(es) != SA_OK && now_mono_ms() < until)
		sleep_ms(50);
	assert_int_equal(estore_ping(es), SA_OK);
	assert_int_equal(estore_set(es, "k", "back", 4, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "k", &v, NULL, NULL), SA_OK);
	assert_string_equal((char *)v, "back");
	free(v);
	assert_int_equal(estore_incr(es, "c", 1000, &count, NULL), SA_OK);
	assert_int_equal(count, 1);

	/* The subscriber reconnects with a backoff of at most 5 s. */
	until = now_mono_ms() + 15000;
	while (now_mono_ms() < until) {
		assert_int_equal(estore_publish(es, "events", "after", 5),
				 SA_OK);
		if ((got = inbox_wait(&in, 2, 200)) >= 2)
			break;
	}
	assert_true(got >= 2);
	assert_string_equal(in.last, "after");
	assert_int_equal(estore_publish(es, "later", "x", 1), SA_OK);
	assert_int_equal(inbox_wait(&later, 1, 5000), 1);
	inbox_destroy(&in);
	inbox_destroy(&later);
}

int
main(void)
{
	if (!redis_in_path())
		return store_backend_missing(
		    "test_store_redis",
		    "redis-server is not installed (scripts/setup --test)");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_set_get_ttl_expiry, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_nx_xx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incr_fixed_window, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_del_race_exactly_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_del_if, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_publish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_listed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pubsub_contract, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pubsub_across_instances, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency_smoke, setup,
					    teardown),
	    cmocka_unit_test(test_url_checks),
	    cmocka_unit_test(test_prefix_isolation),
	    cmocka_unit_test(test_password_and_database),
	    cmocka_unit_test_setup_teardown(test_attached_loop, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_redis_down_and_back, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
