/*
 * store_redis.c - the ephemeral store on Redis: sessions with a TTL,
 * rate-limit counters and publish/subscribe shared by every server instance
 * that points at the same Redis (SPEC §3.6, §9).
 *
 * URL: redis://[:password@]host[:port][/db][?prefix=P]. The port defaults
 * to 6379 and the database to 0. The password may be percent-encoded. With
 * prefix, every key and every channel is prefixed with P, so several
 * deployments can share one Redis. Anything else (a user name, TLS, a Unix
 * socket, unknown options) is refused when the store is opened.
 *
 * Commands. hiredis synchronous contexts are not thread-safe, so commands
 * go through a small pool of contexts (at most RD_POOL_MAX, created on
 * demand, each used by one thread at a time) with a connect timeout, a
 * command timeout and TCP keepalive. A pooled context whose peer went away
 * while it sat idle (Redis restarted) is noticed before use and replaced;
 * a context that fails during a command is dropped, and the command is
 * tried once more on a fresh connection only when repeating it cannot
 * change the outcome (GET, PING, a plain SET). When Redis cannot be
 * reached every call returns SA_ERR_UNAVAILABLE within about RD_CONNECT_MS,
 * and for RD_HOLDOFF_MS after a failed connect at once, so a dead Redis
 * does not stall request threads; /health reports it.
 *
 * Each store operation is one round trip and atomic in Redis: set is
 * SET k v [PX ttl] [NX|XX]; get pipelines GET and PTTL; del is DEL; incr
 * is a Lua script that increments and opens the window on the first hit
 * (EVALSHA, falling back to EVAL when the script cache is empty).
 *
 * Subscriptions. A dedicated hiredis async connection on a libevent loop
 * carries SUBSCRIBE for every channel given to estore_subscribe. The loop
 * is the server's WebSocket loop when one is attached (estore_attach_loop),
 * otherwise a private loop thread started on the first subscription.
 * Everything that touches the async connection runs on the loop thread;
 * other threads only activate events. When the connection drops, it is
 * reopened with a backoff from RD_BACKOFF_MIN_MS doubling to
 * RD_BACKOFF_MAX_MS, and every channel is subscribed again. Redis pub/sub
 * keeps nothing for an absent subscriber: messages published during an
 * outage are lost. Callers that must not lose an outcome keep it in the
 * store as well (session_ws.c stores each final event with its session).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/log.h"
#include "store/store_int.h"
#include "core/util.h"

#define RD_DEFAULT_PORT 6379
#define RD_HOST_MAX 255
#define RD_PASSWORD_MAX 512
#define RD_PREFIX_MAX 64
#define RD_DB_MAX 65535
#define RD_POOL_MAX 8
#define RD_CONNECT_MS 1000
#define RD_COMMAND_MS 2000
#define RD_POOL_WAIT_MS 2000
#define RD_HOLDOFF_MS 200
#define RD_BACKOFF_MIN_MS 100
#define RD_BACKOFF_MAX_MS 5000
#define RD_SUB_CONNECT_MS 2000
#define RD_SUBSCRIBE_WAIT_MS 2000
#define RD_LOOP_WAIT_MS 5000
#define RD_SUBS_MAX 1024
#define RD_TTL_MAX ((uint64_t)1 << 46) /* ms, about 2000 years */
#define RD_ARGS_MAX 8
#define RD_NAME_MAX (RD_PREFIX_MAX + ESTORE_KEY_MAX + 1)
#define RD_SCAN_ROUNDS 100000

/*
 * The fixed-window counter: the first increment opens the window, later
 * ones leave it alone; count and remaining TTL come back together.
 */
static const char rd_incr_script[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "local w = tonumber(ARGV[1])\n"
    "if n == 1 and w > 0 then redis.call('PEXPIRE', KEYS[1], w) end\n"
    "return {n, redis.call('PTTL', KEYS[1])}\n";

struct rd_target {
	char host[RD_HOST_MAX + 1];
	int port;
	int db;
	char password[RD_PASSWORD_MAX + 1];
	size_t password_len;
	char prefix[RD_PREFIX_MAX + 1];
	size_t prefix_len;
};

struct rd_sub {
	char *channel; /* without the prefix */
	estore_msg_cb cb;
	void *arg;
	int live; /* SUBSCRIBE confirmed on the current connection */
};

/*
 * The subscriber connection and its loop. Fields under "loop thread" are
 * only touched by the thread running base; the others are set before the
 * loop sees the listener or guarded by the store's sub_mu.
 */
struct rd_listener {
	struct redis_store *es;
	struct event_base *base;
	int private_loop;
	pthread_t thread;
	int thread_started;
	struct event *kick;    /* new subscriptions to send */
	struct event *stop_ev; /* close the connection */
	struct event *retry;   /* reconnect after the backoff */
	struct event *timeout; /* a connect that takes too long */
	/* loop thread */
	redisAsyncContext *ac;
	int connected;
	int stopping;
	size_t nsent; /* subs[0, nsent) were sent on this connection */
	uint64_t backoff_ms;
	int outage;
	uint64_t down_since;
	/* sub_mu */
	pthread_t loop_tid;
	int have_tid;
	int stopped;
};

struct redis_store {
	struct estore base; /* first: the interface */
	struct rd_target t;
	char script_sha[41];
	char where[RD_HOST_MAX + 16]; /* host:port for messages */

	/* The command pool. */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	redisContext *idle[RD_POOL_MAX];
	size_t nidle, nlive;
	uint64_t holdoff_until;
	int down; /* logged as unreachable, not yet as back */

	/* Subscriptions: only ever appended, so the loop thread may read
	 * entries [0, nsubs) after dropping sub_mu; live flags need it. */
	pthread_mutex_t sub_mu;
	pthread_cond_t sub_cv;
	struct rd_sub subs[RD_SUBS_MAX];
	size_t nsubs;
	int sub_down; /* the subscriber is between connections */

	/* life_mu orders start, stop, attach and detach of the listener. */
	pthread_mutex_t life_mu;
	struct rd_listener *listener;
	struct event_base *attached; /* the loop to use, or NULL: private */
	int detached;		     /* no listener until attached again */
};

/* rd_of finds the backend's state from the interface it embeds first. */
static inline struct redis_store *
rd_of(struct estore *store)
{
	return (struct redis_store *)store;
}

static pthread_once_t rd_evthread_once = PTHREAD_ONCE_INIT;
static int rd_evthread_rc;

static void
rd_evthread_init(void)
{
	rd_evthread_rc = evthread_use_pthreads();
}

static struct timeval
rd_tv(uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
			     (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

/* ---- URL ----------------------------------------------------------------- */

static int
rd_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* rd_digits parses 1..5 decimal digits of [s, e) into *out. */
static int
rd_digits(const char *s, const char *e, long *out)
{
	long v = 0;

	if (e <= s || e - s > 5)
		return -1;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

static int
rd_host_char(char c, int v6)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-')
		return 1;
	return v6 ? c == ':' : c == '_';
}

static int
rd_prefix_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '.' ||
	       c == '-';
}

/*
 * rd_parse_url fills t from redis://[:password@]host[:port][/db][?prefix=P]
 * or explains in why (which never contains the password) what is wrong.
 */
static int
rd_parse_url(const char *url, struct rd_target *t, char *why, size_t whylen)
{
	const char *p, *auth_end, *at, *host, *host_end;
	int v6 = 0;
	long v;

	memset(t, 0, sizeof(*t));
	t->port = RD_DEFAULT_PORT;
	if (!str_has_prefix(url, "redis://")) {
		snprintf(why, whylen, "the URL must start with redis://");
		return -1;
	}
	p = url + strlen("redis://");
	auth_end = p + strcspn(p, "/?#");
	if (*auth_end == '#') {
		snprintf(why, whylen, "a fragment (#) is not allowed");
		return -1;
	}
	/* The last '@' ends the user info: a password may contain '@'. */
	at = NULL;
	for (const char *c = p; c < auth_end; c++)
		if (*c == '@')
			at = c;
	if (at != NULL) {
		size_t n = 0;

		if (*p != ':') {
			snprintf(why, whylen,
				 "a user name is not supported; give only a "
				 "password: redis://:password@host");
			return -1;
		}
		for (const char *c = p + 1; c < at; c++) {
			char ch = *c;

			if (ch == '%') {
				int hi = c + 2 < at ? rd_hexval(c[1]) : -1;
				int lo = hi >= 0 ? rd_hexval(c[2]) : -1;
				if (lo < 0) {
					snprintf(why, whylen,
						 "bad percent-encoding "
						 "in the password");
					goto bad;
				}
				ch = (char)(hi * 16 + lo);
				c += 2;
			}
			if (ch == '\0' || n >= RD_PASSWORD_MAX) {
				snprintf(why, whylen,
					 "the password holds a NUL byte or is "
					 "longer than %d bytes",
					 RD_PASSWORD_MAX);
				goto bad;
			}
			t->password[n++] = ch;
		}
		if (n == 0) {
			snprintf(why, whylen,
				 "the password after ':' is empty");
			return -1;
		}
		t->password_len = n;
		p = at + 1;
	}
	host = p;
	if (*host == '[') {
		v6 = 1;
		host++;
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (host_end == NULL) {
			snprintf(why, whylen, "an IPv6 address lacks its ']'");
			goto bad;
		}
		p = host_end + 1;
		if (p < auth_end && *p != ':') {
			snprintf(why, whylen, "unexpected text after ']'");
			goto bad;
		}
	} else {
		host_end = host + strcspn(host, ":/?#");
		if (host_end > auth_end)
			host_end = auth_end;
		p = host_end;
	}
	if (host_end == host || host_end - host > RD_HOST_MAX) {
		snprintf(why, whylen, "the host is empty or too long");
		goto bad;
	}
	for (const char *c = host; c < host_end; c++) {
		if (!rd_host_char(*c, v6)) {
			snprintf(why, whylen,
				 "the host has a character that "
				 "is not allowed");
			goto bad;
		}
	}
	memcpy(t->host, host, (size_t)(host_end - host));
	if (p < auth_end && *p == ':') {
		if (rd_digits(p + 1, auth_end, &v) != 0 || v < 1 || v > 65535) {
			snprintf(why, whylen, "the port must be 1 to 65535");
			goto bad;
		}
		t->port = (int)v;
	} else if (p != auth_end) {
		snprintf(why, whylen, "unexpected text after the host");
		goto bad;
	}
	p = auth_end;
	if (*p == '/') {
		const char *e = p + 1 + strcspn(p + 1, "?#");

		if (*e == '#') {
			snprintf(why, whylen, "a fragment (#) is not allowed");
			goto bad;
		}
		if (e > p + 1) {
			if (rd_digits(p + 1, e, &v) != 0 || v > RD_DB_MAX) {
				snprintf(why, whylen,
					 "the path must be a "
					 "database number");
				goto bad;
			}
			t->db = (int)v;
		}
		p = e;
	}
	if (*p == '?') {
		p++;
		if (!str_has_prefix(p, "prefix=")) {
			snprintf(why, whylen, "the only option is ?prefix=");
			goto bad;
		}
		p += strlen("prefix=");
		v = (long)strlen(p);
		if (v < 1 || v > RD_PREFIX_MAX) {
			snprintf(why, whylen,
				 "the prefix must be 1 to %d "
				 "characters",
				 RD_PREFIX_MAX);
			goto bad;
		}
		for (const char *c = p; *c; c++) {
			if (!rd_prefix_char(*c)) {
				snprintf(why, whylen,
					 "the prefix may hold only letters, "
					 "digits and : _ . -");
				goto bad;
			}
		}
		memcpy(t->prefix, p, (size_t)v);
		t->prefix_len = (size_t)v;
	}
	return 0;
bad:
	OPENSSL_cleanse(t->password, sizeof(t->password));
	return -1;
}

/* rd_name writes prefix ‖ key into buf (RD_NAME_MAX bytes) and returns its
 * length, or 0 when key is missing, empty or longer than ESTORE_KEY_MAX. */
static size_t
rd_name(const struct redis_store *es, const char *key, char *buf)
{
	size_t n = key ? strnlen(key, ESTORE_KEY_MAX + 1) : 0;

	if (n == 0 || n > ESTORE_KEY_MAX)
		return 0;
	memcpy(buf, es->t.prefix, es->t.prefix_len);
	memcpy(buf + es->t.prefix_len, key, n);
	buf[es->t.prefix_len + n] = '\0';
	return es->t.prefix_len + n;
}

/* ---- Command pool -------------------------------------------------------- */

/* rd_note_down logs the first failure of an outage; later ones are quiet. */
static void
rd_note_down(struct redis_store *es, const char *reason, int holdoff)
{
	int first;

	pthread_mutex_lock(&es->pool_mu);
	first = !es->down;
	es->down = 1;
	if (holdoff)
		es->holdoff_until = now_mono_ms() + RD_HOLDOFF_MS;
	pthread_mutex_unlock(&es->pool_mu);
	if (first)
		log_warn("store.redis",
			 "Redis at %s is unavailable: %s; sessions, "
			 "rate limits and events fail until it is back",
			 es->where, reason);
}

static void
rd_note_up(struct redis_store *es)
{
	int was;

	pthread_mutex_lock(&es->pool_mu);
	was = es->down;
	es->down = 0;
	es->holdoff_until = 0;
	pthread_mutex_unlock(&es->pool_mu);
	if (was)
		log_info("store.redis", "Redis at %s is reachable again",
			 es->where);
}

/* rd_simple runs one command on a context during setup and tells whether
 * it answered without an error; err gets the error text. */
static int
rd_simple(redisContext *c, int argc, const char **argv, const size_t *len,
	  char *err, size_t errlen)
{
	redisReply *r = redisCommandArgv(c, argc, argv, len);
	int ok = r != NULL && r->type != REDIS_REPLY_ERROR;

	if (r == NULL)
		snprintf(err, errlen, "%s", c->errstr);
	else if (!ok)
		snprintf(err, errlen, "%.200s", r->str);
	freeReplyObject(r);
	return ok;
}

/*
 * rd_conn_open connects a new command context: connect timeout, command
 * timeout, keepalive, then AUTH and SELECT as the URL asks. On success *out
 * owns the context (redisFree).
 */
static enum sa_err
rd_conn_open(struct redis_store *es, redisContext **out)
{
	redisContext *c = NULL;
	char err[256] = "", dbtext[8];
	const char *argv[2];
	size_t len[2];
	uint64_t holdoff;
	enum sa_err rc = SA_ERR_UNAVAILABLE;

	pthread_mutex_lock(&es->pool_mu);
	holdoff = es->holdoff_until;
	pthread_mutex_unlock(&es->pool_mu);
	/* Right after a failed connect, fail at once rather than pile up. */
	if (holdoff != 0 && now_mono_ms() < holdoff)
		return SA_ERR_UNAVAILABLE;
	c = redisConnectWithTimeout(es->t.host, es->t.port,
				    rd_tv(RD_CONNECT_MS));
	if (c == NULL || c->err) {
		rd_note_down(es, c ? c->errstr : "out of memory", 1);
		goto out;
	}
	if (redisSetTimeout(c, rd_tv(RD_COMMAND_MS)) != REDIS_OK ||
	    redisEnableKeepAlive(c) != REDIS_OK) {
		rd_note_down(es, c->errstr, 1);
		goto out;
	}
	if (es->t.password_len > 0) {
		argv[0] = "AUTH";
		len[0] = 4;
		argv[1] = es->t.password;
		len[1] = es->t.password_len;
		if (!rd_simple(c, 2, argv, len, err, sizeof(err))) {
			log_error("store.redis", "Redis at %s refused AUTH: %s",
				  es->where, err);
			rd_note_down(es, "AUTH failed", 1);
			goto out;
		}
	}
	if (es->t.db != 0) {
		argv[0] = "SELECT";
		len[0] = 6;
		len[1] =
		    (size_t)snprintf(dbtext, sizeof(dbtext), "%d", es->t.db);
		argv[1] = dbtext;
		if (!rd_simple(c, 2, argv, len, err, sizeof(err))) {
			log_error("store.redis",
				  "Redis at %s refused SELECT %d: %s",
				  es->where, es->t.db, err);
			rd_note_down(es, "SELECT failed", 1);
			goto out;
		}
	}
	rd_note_up(es);
	*out = c;
	c = NULL;
	rc = SA_OK;
out:
	if (c != NULL)
		redisFree(c);
	return rc;
}

/* rd_stale tells whether an idle context can no longer be used: a quiet
 * Redis connection never has anything to read, so readable means closed
 * (Redis restarted or dropped us) or out of step. */
static int
rd_stale(redisContext *c)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};

	if (c->err != 0)
		return 1;
	return poll(&pfd, 1, 0) != 0;
}

/*
 * rd_acquire takes a context for the calling thread: an idle one if it is
 * still good, else a new connection if the pool has room, else it waits up
 * to RD_POOL_WAIT_MS for one to be released. *reused says the context came
 * from the pool. Give it back with rd_release.
 */
static enum sa_err
rd_acquire(struct redis_store *es, redisContext **out, int *reused)
{
	struct timespec until = mono_deadline_ms(RD_POOL_WAIT_MS);
	redisContext *c = NULL;
	enum sa_err rc;

	pthread_mutex_lock(&es->pool_mu);
	while (es->nidle == 0 && es->nlive >= RD_POOL_MAX) {
		if (pthread_cond_timedwait(&es->pool_cv, &es->pool_mu,
					   &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&es->pool_mu);
			return SA_ERR_UNAVAILABLE;
		}
	}
	if (es->nidle > 0)
		c = es->idle[--es->nidle];
	else
		es->nlive++;
	pthread_mutex_unlock(&es->pool_mu);

	if (c != NULL && !rd_stale(c)) {
		*reused = 1;
		*out = c;
		return SA_OK;
	}
	if (c != NULL)
		redisFree(c);
	if ((rc = rd_conn_open(es, &c)) != SA_OK) {
		pthread_mutex_lock(&es->pool_mu);
		es->nlive--;
		pthread_cond_signal(&es->pool_cv);
		pthread_mutex_unlock(&es->pool_mu);
		return rc;
	}
	*reused = 0;
	*out = c;
	return SA_OK;
}

/* rd_release returns a context to the pool, or drops it when broken. */
static void
rd_release(struct redis_store *es, redisContext *c, int broken)
{
	pthread_mutex_lock(&es->pool_mu);
	if (broken)
		es->nlive--;
	else
		es->idle[es->nidle++] = c;
	pthread_cond_signal(&es->pool_cv);
	pthread_mutex_unlock(&es->pool_mu);
	if (broken)
		redisFree(c);
}

struct rd_cmd {
	int argc;
	const char *argv[RD_ARGS_MAX];
	size_t len[RD_ARGS_MAX];
};

static void
rd_arg(struct rd_cmd *cmd, const void *p, size_t n)
{
	cmd->argv[cmd->argc] = p;
	cmd->len[cmd->argc] = n;
	cmd->argc++;
}

static void
rd_arg_str(struct rd_cmd *cmd, const char *s)
{
	rd_arg(cmd, s, strlen(s));
}

/*
 * rd_exec sends n commands in one write and reads their n replies into
 * replies[] (the caller frees each with freeReplyObject). A connection
 * failure gives SA_ERR_UNAVAILABLE; when repeat is set and the failed
 * context came from the pool, the commands are tried once more on a new
 * connection. Redis error replies are replies, not failures.
 */
static enum sa_err
rd_exec(struct redis_store *es, struct rd_cmd *cmds, size_t n,
	redisReply **replies, int repeat)
{
	redisContext *c;
	int reused = 0;
	enum sa_err rc;

	for (int attempt = 0;; attempt++) {
		size_t got = 0;
		int broken = 0;

		if ((rc = rd_acquire(es, &c, &reused)) != SA_OK)
			return rc;
		for (size_t i = 0; i < n && !broken; i++)
			broken = redisAppendCommandArgv(
				     c, cmds[i].argc, cmds[i].argv,
				     cmds[i].len) != REDIS_OK;
		while (!broken && got < n) {
			void *r = NULL;

			if (redisGetReply(c, &r) != REDIS_OK || r == NULL)
				broken = 1;
			else
				replies[got++] = r;
		}
		if (!broken) {
			rd_release(es, c, 0);
			return SA_OK;
		}
		while (got > 0)
			freeReplyObject(replies[--got]);
		if (!reused || attempt > 0 || !repeat)
			rd_note_down(
			    es, c->errstr[0] ? c->errstr : "connection lost",
			    0);
		rd_release(es, c, 1);
		if (!reused || attempt > 0 || !repeat)
			return SA_ERR_UNAVAILABLE;
	}
}

/* rd_reply_err maps a Redis error reply to an error. */
static enum sa_err
rd_reply_err(struct redis_store *es, const redisReply *r, const char *what)
{
	static const char *const busy[] = {
	    "LOADING",	  "BUSY",     "OOM",	     "READONLY", "NOAUTH",
	    "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOPERM"};
	const char *s = r->str ? r->str : "";

	/* A key that holds something other than a counter or a string. */
	if (str_has_prefix(s, "WRONGTYPE") || strstr(s, "not an integer") ||
	    strstr(s, "overflow"))
		return SA_ERR_CONFLICT;
	for (size_t i = 0; i < ARRAY_LEN(busy); i++) {
		if (str_has_prefix(s, busy[i])) {
			log_warn("store.redis",
				 "Redis at %s refused %s: %.200s", es->where,
				 what, s);
			return SA_ERR_UNAVAILABLE;
		}
	}
	log_error("store.redis",
		  "Redis at %s answered %s with an error: %.200s", es->where,
		  what, s);
	return SA_ERR_INTERNAL;
}

/* ---- Store operations ---------------------------------------------------- */

static enum sa_err
rd_ping(struct estore *store)
{
	struct redis_store *es = rd_of(store);
	struct rd_cmd cmd = {0};
	redisReply *r = NULL;
	enum sa_err rc;

	rd_arg_str(&cmd, "PING");
	if ((rc = rd_exec(es, &cmd, 1, &r, 1)) != SA_OK)
		return rc;
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0)
		rc = SA_OK;
	else if (r->type == REDIS_REPLY_ERROR)
		rc = rd_reply_err(es, r, "PING");
	else
		rc = SA_ERR_UNAVAILABLE;
	freeReplyObject(r);
	return rc;
}

/*
 * rd_set is SET key val [PX ttl] [NX|XX]. Keys, values and flags are
 * checked before anything is sent, as in the in-process store.
 */
static enum sa_err
rd_set(struct estore *store, const char *key, const void *val, size_t n,
       uint64_t ttl_ms, int flags)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], ttl[24];
	size_t nlen = rd_name(es, key, name);
	struct rd_cmd cmd = {0};
	redisReply *r = NULL;
	enum sa_err rc;

	if (nlen == 0 || n > ESTORE_VALUE_MAX || (val == NULL && n > 0) ||
	    (flags & ~(ESTORE_NX | ESTORE_XX)) != 0 ||
	    flags == (ESTORE_NX | ESTORE_XX))
		return SA_ERR_VALIDATION;
	rd_arg_str(&cmd, "SET");
	rd_arg(&cmd, name, nlen);
	rd_arg(&cmd, n > 0 ? val : "", n);
	if (ttl_ms > 0) {
		rd_arg_str(&cmd, "PX");
		snprintf(ttl, sizeof(ttl), "%llu",
			 (unsigned long long)(ttl_ms > RD_TTL_MAX ? RD_TTL_MAX
								  : ttl_ms));
		rd_arg_str(&cmd, ttl);
	}
	if (flags & ESTORE_NX)
		rd_arg_str(&cmd, "NX");
	if (flags & ESTORE_XX)
		rd_arg_str(&cmd, "XX");
	/* Repeating SET NX after a lost reply could report a conflict with
	 * our own write, so only the unconditional forms are repeated. */
	if ((rc = rd_exec(es, &cmd, 1, &r, !(flags & ESTORE_NX))) != SA_OK)
		return rc;
	if (r->type == REDIS_REPLY_STATUS)
		rc = SA_OK;
	else if (r->type == REDIS_REPLY_NIL)
		rc = (flags & ESTORE_NX) ? SA_ERR_CONFLICT : SA_ERR_NOT_FOUND;
	else if (r->type == REDIS_REPLY_ERROR)
		rc = rd_reply_err(es, r, "SET");
	else
		rc = SA_ERR_INTERNAL;
	freeReplyObject(r);
	return rc;
}

/*
 * rd_get pipelines GET and PTTL and copies the value into a new
 * NUL-terminated buffer (caller frees). A key that expires between the two
 * commands is returned with a TTL of 0.
 */
static enum sa_err
rd_get(struct estore *store, const char *key, unsigned char **val, size_t *n,
       int64_t *ttl_ms)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX];
	size_t nlen = rd_name(es, key, name);
	struct rd_cmd cmds[2] = {{0}, {0}};
	redisReply *r[2] = {NULL, NULL};
	unsigned char *copy;
	int64_t ttl = -1;
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	rd_arg_str(&cmds[0], "GET");
	rd_arg(&cmds[0], name, nlen);
	rd_arg_str(&cmds[1], "PTTL");
	rd_arg(&cmds[1], name, nlen);
	if ((rc = rd_exec(es, cmds, 2, r, 1)) != SA_OK)
		return rc;
	if (r[0]->type == REDIS_REPLY_NIL) {
		rc = SA_ERR_NOT_FOUND;
		goto out;
	}
	if (r[0]->type == REDIS_REPLY_ERROR) {
		rc = rd_reply_err(es, r[0], "GET");
		goto out;
	}
	/* Nothing this store writes is larger; refuse what others put there. */
	if (r[0]->type != REDIS_REPLY_STRING || r[0]->len > ESTORE_VALUE_MAX ||
	    r[1]->type != REDIS_REPLY_INTEGER) {
		rc = SA_ERR_CONFLICT;
		goto out;
	}
	if (r[1]->integer >= 0)
		ttl = r[1]->integer;
	else if (r[1]->integer == -2)
		ttl = 0;
	if ((copy = malloc(r[0]->len + 1)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, r[0]->str, r[0]->len);
	copy[r[0]->len] = '\0';
	*val = copy;
	if (n != NULL)
		*n = r[0]->len;
	if (ttl_ms != NULL)
		*ttl_ms = ttl;
	rc = SA_OK;
out:
	freeReplyObject(r[0]);
	freeReplyObject(r[1]);
	return rc;
}

/* rd_del is DEL: atomic in Redis, so of racing callers exactly one sees 1.
 * It is never repeated, which could make both see 0. */
static enum sa_err
rd_del(struct estore *store, const char *key, int *existed)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX];
	size_t nlen = rd_name(es, key, name);
	struct rd_cmd cmd = {0};
	redisReply *r = NULL;
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	rd_arg_str(&cmd, "DEL");
	rd_arg(&cmd, name, nlen);
	if ((rc = rd_exec(es, &cmd, 1, &r, 0)) != SA_OK)
		return rc;
	if (r->type == REDIS_REPLY_INTEGER) {
		if (existed != NULL)
			*existed = r->integer > 0;
		rc = SA_OK;
	} else if (r->type == REDIS_REPLY_ERROR) {
		rc = rd_reply_err(es, r, "DEL");
	} else {
		rc = SA_ERR_INTERNAL;
	}
	freeReplyObject(r);
	return rc;
}

/*
 * rd_incr runs the counter script: by its SHA-1 first, and by its text
 * when Redis does not have it cached (after a restart or SCRIPT FLUSH).
 * A key holding something that is not a counter gives SA_ERR_CONFLICT.
 */
static enum sa_err
rd_incr(struct estore *store, const char *key, uint64_t window_ms,
	int64_t *count, int64_t *ttl_ms)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], win[24];
	size_t nlen = rd_name(es, key, name);
	struct rd_cmd cmd;
	redisReply *r = NULL;
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	snprintf(win, sizeof(win), "%llu",
		 (unsigned long long)(window_ms > RD_TTL_MAX ? RD_TTL_MAX
							     : window_ms));
	for (int by_text = 0; by_text < 2; by_text++) {
		memset(&cmd, 0, sizeof(cmd));
		rd_arg_str(&cmd, by_text ? "EVAL" : "EVALSHA");
		rd_arg_str(&cmd, by_text ? rd_incr_script : es->script_sha);
		rd_arg_str(&cmd, "1");
		rd_arg(&cmd, name, nlen);
		rd_arg_str(&cmd, win);
		if ((rc = rd_exec(es, &cmd, 1, &r, 0)) != SA_OK)
			return rc;
		if (by_text || r->type != REDIS_REPLY_ERROR ||
		    !str_has_prefix(r->str, "NOSCRIPT"))
			break;
		freeReplyObject(r);
		r = NULL;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER) {
		*count = r->element[0]->integer;
		if (ttl_ms != NULL)
			*ttl_ms = r->element[1]->integer >= 0
				      ? r->element[1]->integer
				      : -1;
		rc = SA_OK;
	} else if (r->type == REDIS_REPLY_ERROR) {
		rc = rd_reply_err(es, r, "the counter script");
	} else {
		rc = SA_ERR_INTERNAL;
	}
	freeReplyObject(r);
	return rc;
}

/* rd_publish is PUBLISH on the prefixed channel; subscribers in every
 * instance connected to this Redis receive it, on their loop thread. */
static enum sa_err
rd_publish(struct estore *store, const char *channel, const void *msg, size_t n)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX];
	size_t nlen = rd_name(es, channel, name);
	struct rd_cmd cmd = {0};
	redisReply *r = NULL;
	enum sa_err rc;

	if (nlen == 0 || n > ESTORE_VALUE_MAX || (msg == NULL && n > 0))
		return SA_ERR_VALIDATION;
	rd_arg_str(&cmd, "PUBLISH");
	rd_arg(&cmd, name, nlen);
	rd_arg(&cmd, n > 0 ? msg : "", n);
	if ((rc = rd_exec(es, &cmd, 1, &r, 0)) != SA_OK)
		return rc;
	if (r->type == REDIS_REPLY_INTEGER)
		rc = SA_OK;
	else if (r->type == REDIS_REPLY_ERROR)
		rc = rd_reply_err(es, r, "PUBLISH");
	else
		rc = SA_ERR_INTERNAL;
	freeReplyObject(r);
	return rc;
}

/*
 * rd_count is DBSIZE, or with a prefix the number of keys SCAN finds under
 * it (O(keys), like the in-process count: for /health and tests). 0 when
 * Redis does not answer.
 */
static size_t
rd_count(struct estore *store)
{
	struct redis_store *es = rd_of(store);
	char cursor[32] = "0", match[RD_PREFIX_MAX + 2];
	struct rd_cmd cmd;
	redisReply *r = NULL;
	size_t total = 0;

	if (es->t.prefix_len == 0) {
		memset(&cmd, 0, sizeof(cmd));
		rd_arg_str(&cmd, "DBSIZE");
		if (rd_exec(es, &cmd, 1, &r, 1) != SA_OK)
			return 0;
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			total = (size_t)r->integer;
		freeReplyObject(r);
		return total;
	}
	/* The prefix alphabet has no glob characters, so it matches itself. */
	snprintf(match, sizeof(match), "%s*", es->t.prefix);
	for (int round = 0; round < RD_SCAN_ROUNDS; round++) {
		int done;

		memset(&cmd, 0, sizeof(cmd));
		rd_arg_str(&cmd, "SCAN");
		rd_arg_str(&cmd, cursor);
		rd_arg_str(&cmd, "MATCH");
		rd_arg_str(&cmd, match);
		rd_arg_str(&cmd, "COUNT");
		rd_arg_str(&cmd, "1000");
		if (rd_exec(es, &cmd, 1, &r, 1) != SA_OK)
			return 0;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return 0;
		}
		total += r->element[1]->elements;
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		freeReplyObject(r);
		done = strcmp(cursor, "0") == 0;
		if (done)
			break;
	}
	return total;
}

/* ---- Subscriber ---------------------------------------------------------- */

static void rd_listener_connect(struct rd_listener *l);

/* rd_listener_retry arms the reconnect timer and doubles the backoff. */
static void
rd_listener_retry(struct rd_listener *l)
{
	struct timeval tv = rd_tv(l->backoff_ms);

	if (l->stopping)
		return;
	evtimer_add(l->retry, &tv);
	l->backoff_ms *= 2;
	if (l->backoff_ms > RD_BACKOFF_MAX_MS)
		l->backoff_ms = RD_BACKOFF_MAX_MS;
}

/* rd_listener_down marks every subscription as not live and logs the
 * start of an outage once. Loop thread. */
static void
rd_listener_down(struct rd_listener *l, const char *reason)
{
	struct redis_store *es = l->es;

	pthread_mutex_lock(&es->sub_mu);
	for (size_t i = 0; i < es->nsubs; i++)
		es->subs[i].live = 0;
	es->sub_down = 1;
	pthread_cond_broadcast(&es->sub_cv);
	pthread_mutex_unlock(&es->sub_mu);
	l->connected = 0;
	l->nsent = 0;
	if (l->stopping)
		return;
	if (!l->outage) {
		l->outage = 1;
		l->down_since = now_mono_ms();
		log_warn(
		    "store.redis",
		    "the subscriber connection to Redis at %s is down (%s); "
		    "reconnecting; events published meanwhile are lost",
		    es->where, reason);
	} else {
		log_debug("store.redis",
			  "subscriber reconnect to %s failed: %s", es->where,
			  reason);
	}
}

/*
 * rd_on_message receives subscription confirmations and messages. A
 * confirmation marks the channel live; a message goes to every callback
 * registered for its channel, in registration order, with no lock held.
 * hiredis calls it with a NULL reply when the connection is freed.
 */
static void
rd_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rd_listener *l = privdata;
	struct redis_store *es = l->es;
	redisReply *r = reply, *kind, *ch;
	char name[RD_NAME_MAX];
	const char *channel;
	size_t nsubs;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;
	kind = r->element[0];
	ch = r->element[1];
	if (kind->type != REDIS_REPLY_STRING ||
	    ch->type != REDIS_REPLY_STRING || ch->len >= sizeof(name) ||
	    ch->len < es->t.prefix_len ||
	    memcmp(ch->str, es->t.prefix, es->t.prefix_len) != 0)
		return;
	memcpy(name, ch->str, ch->len);
	name[ch->len] = '\0';
	channel = name + es->t.prefix_len;
	if (strcmp(kind->str, "subscribe") == 0) {
		pthread_mutex_lock(&es->sub_mu);
		for (size_t i = 0; i < es->nsubs; i++)
			if (strcmp(es->subs[i].channel, channel) == 0)
				es->subs[i].live = 1;
		es->sub_down = 0;
		pthread_cond_broadcast(&es->sub_cv);
		pthread_mutex_unlock(&es->sub_mu);
		l->backoff_ms = RD_BACKOFF_MIN_MS;
		if (l->outage) {
			l->outage = 0;
			log_info("store.redis",
				 "the subscriber is back on Redis at %s after "
				 "%llu ms and has subscribed again",
				 es->where,
				 (unsigned long long)(now_mono_ms() -
						      l->down_since));
		}
		return;
	}
	if (strcmp(kind->str, "message") != 0 ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return;
	pthread_mutex_lock(&es->sub_mu);
	nsubs = es->nsubs;
	pthread_mutex_unlock(&es->sub_mu);
	for (size_t i = 0; i < nsubs; i++) {
		const struct rd_sub *s = &es->subs[i];

		if (strcmp(s->channel, channel) == 0)
			s->cb(s->channel, r->element[2]->str,
			      r->element[2]->len, s->arg);
	}
}

static void
rd_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rd_listener *l = privdata;
	redisReply *r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_error("store.redis",
			  "Redis at %s refused the subscriber's "
			  "AUTH: %.200s",
			  l->es->where, r->str);
}

/* rd_listener_send subscribes the connection to the channels registered
 * since the last call, each distinct channel once. Loop thread. */
static void
rd_listener_send(struct rd_listener *l)
{
	struct redis_store *es = l->es;
	char name[RD_NAME_MAX];
	size_t n;

	if (l->ac == NULL)
		return;
	pthread_mutex_lock(&es->sub_mu);
	n = es->nsubs;
	pthread_mutex_unlock(&es->sub_mu);
	for (size_t i = l->nsent; i < n; i++) {
		const char *argv[2] = {"SUBSCRIBE", name};
		size_t len[2] = {9, rd_name(es, es->subs[i].channel, name)};
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(es->subs[j].channel, es->subs[i].channel) ==
			    0)
				break;
		if (j < i) {
			/* Already subscribed on this connection. */
			pthread_mutex_lock(&es->sub_mu);
			if (es->subs[j].live) {
				es->subs[i].live = 1;
				pthread_cond_broadcast(&es->sub_cv);
			}
			pthread_mutex_unlock(&es->sub_mu);
			continue;
		}
		redisAsyncCommandArgv(l->ac, rd_on_message, l, 2, argv, len);
	}
	l->nsent = n;
}

static void
rd_on_connect(const redisAsyncContext *ac, int status)
{
	struct rd_listener *l = ac->data;

	evtimer_del(l->timeout);
	if (status != REDIS_OK) {
		/* hiredis frees the context after this returns. */
		l->ac = NULL;
		rd_listener_down(l, ac->errstr);
		rd_listener_retry(l);
		return;
	}
	l->connected = 1;
	redisEnableKeepAlive(&l->ac->c);
}

static void
rd_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rd_listener *l = ac->data;

	/* hiredis frees the context after this returns. */
	l->ac = NULL;
	evtimer_del(l->timeout);
	rd_listener_down(l, status == REDIS_OK ? "closed" : ac->errstr);
	rd_listener_retry(l);
}

/*
 * rd_listener_connect opens the async connection and queues AUTH and
 * SUBSCRIBE for every channel; hiredis sends them once connected. hiredis
 * 0.14 has no connect timeout for async contexts, so a timer provides one.
 * A host name is resolved here, synchronously, on the loop thread: give
 * an address or a name the local resolver answers at once. Loop thread.
 */
static void
rd_listener_connect(struct rd_listener *l)
{
	struct redis_store *es = l->es;
	struct timeval tv = rd_tv(RD_SUB_CONNECT_MS);
	redisAsyncContext *ac;

	if (l->stopping || l->ac != NULL)
		return;
	ac = redisAsyncConnect(es->t.host, es->t.port);
	if (ac == NULL || ac->err) {
		rd_listener_down(l, ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		rd_listener_retry(l);
		return;
	}
	ac->data = l;
	if (redisLibeventAttach(ac, l->base) != REDIS_OK) {
		redisAsyncFree(ac);
		rd_listener_down(l, "cannot attach to the event loop");
		rd_listener_retry(l);
		return;
	}
	redisAsyncSetConnectCallback(ac, rd_on_connect);
	redisAsyncSetDisconnectCallback(ac, rd_on_disconnect);
	l->ac = ac;
	l->nsent = 0;
	evtimer_add(l->timeout, &tv);
	if (es->t.password_len > 0) {
		const char *argv[2] = {"AUTH", es->t.password};
		size_t len[2] = {4, es->t.password_len};
		redisAsyncCommandArgv(ac, rd_on_auth, l, 2, argv, len);
	}
	rd_listener_send(l);
}

static void
rd_note_loop_thread(struct rd_listener *l)
{
	pthread_mutex_lock(&l->es->sub_mu);
	l->loop_tid = pthread_self();
	l->have_tid = 1;
	pthread_mutex_unlock(&l->es->sub_mu);
}

/* rd_kick_cb runs on the loop thread when subscriptions were added. */
static void
rd_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rd_listener *l = arg;

	rd_note_loop_thread(l);
	if (l->stopping)
		return;
	if (l->ac == NULL) {
		if (!evtimer_pending(l->retry, NULL))
			rd_listener_connect(l);
		return;
	}
	rd_listener_send(l);
}

static void
rd_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	rd_listener_connect(arg);
}

/* rd_timeout_cb gives up on a connect that did not complete in time. */
static void
rd_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rd_listener *l = arg;
	redisAsyncContext *ac = l->ac;

	if (ac == NULL || l->connected)
		return;
	l->ac = NULL;
	/* Not connected: hiredis calls no disconnect callback for it. */
	redisAsyncFree(ac);
	rd_listener_down(l, "connect timed out");
	rd_listener_retry(l);
}

/* rd_stop_cb closes the connection on the loop thread and says so. */
static void
rd_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rd_listener *l = arg;
	struct redis_store *es = l->es;
	redisAsyncContext *ac = l->ac;

	rd_note_loop_thread(l);
	l->stopping = 1;
	evtimer_del(l->retry);
	evtimer_del(l->timeout);
	if (ac != NULL) {
		l->ac = NULL;
		redisAsyncFree(ac);
	}
	if (l->private_loop)
		event_base_loopbreak(l->base);
	pthread_mutex_lock(&es->sub_mu);
	for (size_t i = 0; i < es->nsubs; i++)
		es->subs[i].live = 0;
	l->stopped = 1;
	pthread_cond_broadcast(&es->sub_cv);
	pthread_mutex_unlock(&es->sub_mu);
}

static void *
rd_loop(void *arg)
{
	struct rd_listener *l = arg;

	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void
rd_listener_free(struct rd_listener *l)
{
	if (l->kick != NULL)
		event_free(l->kick);
	if (l->stop_ev != NULL)
		event_free(l->stop_ev);
	if (l->retry != NULL)
		event_free(l->retry);
	if (l->timeout != NULL)
		event_free(l->timeout);
	if (l->private_loop && l->base != NULL)
		event_base_free(l->base);
	free(l);
}

/*
 * rd_listener_start creates the subscriber on base, or on a private loop
 * thread when base is NULL, and asks it to connect. The caller holds
 * life_mu; es->listener is set on success.
 */
static enum sa_err
rd_listener_start(struct redis_store *es, struct event_base *base)
{
	struct rd_listener *l;

	pthread_once(&rd_evthread_once, rd_evthread_init);
	if (rd_evthread_rc != 0)
		return SA_ERR_INTERNAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return SA_ERR_NOMEM;
	l->es = es;
	l->backoff_ms = RD_BACKOFF_MIN_MS;
	if (base == NULL) {
		l->private_loop = 1;
		base = event_base_new();
	}
	l->base = base;
	if (base == NULL ||
	    (l->kick = event_new(base, -1, 0, rd_kick_cb, l)) == NULL ||
	    (l->stop_ev = event_new(base, -1, 0, rd_stop_cb, l)) == NULL ||
	    (l->retry = evtimer_new(base, rd_retry_cb, l)) == NULL ||
	    (l->timeout = evtimer_new(base, rd_timeout_cb, l)) == NULL)
		goto fail;
	if (l->private_loop) {
		if (pthread_create(&l->thread, NULL, rd_loop, l) != 0)
			goto fail;
		l->thread_started = 1;
	}
	pthread_mutex_lock(&es->sub_mu);
	es->sub_down = 0;
	pthread_mutex_unlock(&es->sub_mu);
	es->listener = l;
	event_active(l->kick, EV_READ, 0);
	return SA_OK;
fail:
	rd_listener_free(l);
	return SA_ERR_INTERNAL;
}

/*
 * rd_listener_stop closes the subscriber connection on its loop thread and
 * waits: for a private loop until its thread has ended, for an attached one
 * up to RD_LOOP_WAIT_MS. If an attached loop does not run the stop in time
 * (it was stopped first, against the contract), the listener is left alone
 * rather than freed under a loop that may still use it. The caller holds
 * life_mu.
 */
static void
rd_listener_stop(struct redis_store *es)
{
	struct rd_listener *l = es->listener;
	struct timespec until = mono_deadline_ms(RD_LOOP_WAIT_MS);
	int on_loop, stopped;

	if (l == NULL)
		return;
	es->listener = NULL;
	pthread_mutex_lock(&es->sub_mu);
	on_loop = l->have_tid && pthread_equal(l->loop_tid, pthread_self());
	pthread_mutex_unlock(&es->sub_mu);
	if (on_loop)
		rd_stop_cb(-1, 0, l);
	else
		event_active(l->stop_ev, EV_READ, 0);
	if (l->private_loop && on_loop) {
		/* Called from a subscriber callback: the loop cannot be freed
		 * under itself. It ends after this callback; it is left. */
		pthread_detach(l->thread);
		log_error("store.redis",
			  "the store was closed from a subscriber "
			  "callback; its loop is left behind");
		return;
	}
	if (l->private_loop) {
		if (l->thread_started)
			pthread_join(l->thread, NULL);
		rd_listener_free(l);
		return;
	}
	pthread_mutex_lock(&es->sub_mu);
	while (!l->stopped && pthread_cond_timedwait(&es->sub_cv, &es->sub_mu,
						     &until) != ETIMEDOUT)
		;
	stopped = l->stopped;
	pthread_mutex_unlock(&es->sub_mu);
	if (!stopped) {
		log_error("store.redis",
			  "the event loop did not close the Redis "
			  "subscriber; leaving it");
		return;
	}
	rd_listener_free(l);
}

/*
 * rd_subscribe registers cb for channel for the life of the store, starts
 * the subscriber if this is the first subscription, and waits up to
 * RD_SUBSCRIBE_WAIT_MS for Redis to confirm it, so a message published
 * right after it returns is received. When Redis is down it returns SA_OK
 * at once: the channel is subscribed when the connection comes back.
 */
static enum sa_err
rd_subscribe(struct estore *store, const char *channel, estore_msg_cb cb,
	     void *arg)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX];
	struct timespec until = mono_deadline_ms(RD_SUBSCRIBE_WAIT_MS);
	struct rd_sub *s;
	struct rd_listener *l;
	enum sa_err rc = SA_OK;
	char *copy;
	int on_loop;

	if (rd_name(es, channel, name) == 0 || cb == NULL)
		return SA_ERR_VALIDATION;
	if ((copy = strdup(channel)) == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_lock(&es->life_mu);
	pthread_mutex_lock(&es->sub_mu);
	if (es->nsubs >= RD_SUBS_MAX) {
		pthread_mutex_unlock(&es->sub_mu);
		pthread_mutex_unlock(&es->life_mu);
		free(copy);
		return SA_ERR_UNAVAILABLE;
	}
	s = &es->subs[es->nsubs];
	s->channel = copy;
	s->cb = cb;
	s->arg = arg;
	s->live = 0;
	es->nsubs++;
	pthread_mutex_unlock(&es->sub_mu);
	if (es->listener == NULL && !es->detached)
		rc = rd_listener_start(es, es->attached);
	else if (es->listener != NULL)
		event_active(es->listener->kick, EV_READ, 0);
	l = es->listener;
	pthread_mutex_unlock(&es->life_mu);
	if (rc != SA_OK || l == NULL)
		return rc;

	pthread_mutex_lock(&es->sub_mu);
	on_loop = l->have_tid && pthread_equal(l->loop_tid, pthread_self());
	while (!on_loop && !s->live && !es->sub_down &&
	       pthread_cond_timedwait(&es->sub_cv, &es->sub_mu, &until) !=
		   ETIMEDOUT)
		;
	pthread_mutex_unlock(&es->sub_mu);
	return SA_OK;
}

/* rd_attach_loop moves the subscriber onto base (see store.h). */
static enum sa_err
rd_attach_loop(struct estore *store, struct event_base *base)
{
	struct redis_store *es = rd_of(store);
	enum sa_err rc = SA_OK;
	size_t nsubs;

	if (base == NULL)
		return SA_ERR_VALIDATION;
	pthread_mutex_lock(&es->life_mu);
	if (es->listener == NULL || es->listener->base != base) {
		rd_listener_stop(es);
		es->attached = base;
		es->detached = 0;
		pthread_mutex_lock(&es->sub_mu);
		nsubs = es->nsubs;
		pthread_mutex_unlock(&es->sub_mu);
		if (nsubs > 0)
			rc = rd_listener_start(es, base);
	}
	pthread_mutex_unlock(&es->life_mu);
	return rc;
}

static void
rd_detach_loop(struct estore *store)
{
	struct redis_store *es = rd_of(store);
	pthread_mutex_lock(&es->life_mu);
	if (es->attached != NULL) {
		rd_listener_stop(es);
		es->attached = NULL;
		es->detached = 1;
	}
	pthread_mutex_unlock(&es->life_mu);
}

/* ---- Open and close ------------------------------------------------------ */

static void rd_close(struct estore *es);

/*
 * rd_open checks the URL, prepares the pool and checks that Redis answers.
 * A Redis that does not answer yet is logged, not fatal: the server starts,
 * /health says the sessions store is down, and calls work once Redis is
 * up. A malformed URL is SA_ERR_CONFIG. *out owns the store.
 */
static enum sa_err
rd_open(const char *url, struct estore **out)
{
	struct redis_store *es;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char why[160];
	enum sa_err rc;

	if ((es = calloc(1, sizeof(*es))) == NULL)
		return SA_ERR_NOMEM;
	es->base.ops = &store_redis_ops;
	pthread_mutex_init(&es->pool_mu, NULL);
	pthread_mutex_init(&es->sub_mu, NULL);
	pthread_mutex_init(&es->life_mu, NULL);
	cond_init_mono(&es->pool_cv);
	cond_init_mono(&es->sub_cv);
	if (rd_parse_url(url, &es->t, why, sizeof(why)) != 0) {
		log_error("store.redis", "REDIS_URL is not valid: %s", why);
		rc = SA_ERR_CONFIG;
		goto out;
	}
	snprintf(es->where, sizeof(es->where),
		 strchr(es->t.host, ':') ? "[%s]:%d" : "%s:%d", es->t.host,
		 es->t.port);
	if (EVP_Digest(rd_incr_script, strlen(rd_incr_script), md, &mdlen,
		       EVP_sha1(), NULL) != 1 ||
	    mdlen != 20) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(es->script_sha + 2 * i, 3, "%02x", md[i]);
	log_info("store.redis", "sessions in Redis at %s, database %d%s%s",
		 es->where, es->t.db, es->t.prefix_len ? ", key prefix " : "",
		 es->t.prefix);
	if (rd_ping(&es->base) != SA_OK)
		log_warn("store.redis",
			 "Redis at %s does not answer yet; the "
			 "server starts and retries on each call",
			 es->where);
	*out = &es->base;
	es = NULL;
	rc = SA_OK;
out:
	if (es != NULL)
		rd_close(&es->base);
	return rc;
}

/* rd_close stops the subscriber, closes every pooled connection and wipes
 * the password. No call may be running on the store. */
static void
rd_close(struct estore *store)
{
	struct redis_store *es = rd_of(store);
	if (es == NULL)
		return;
	pthread_mutex_lock(&es->life_mu);
	rd_listener_stop(es);
	pthread_mutex_unlock(&es->life_mu);
	for (size_t i = 0; i < es->nidle; i++)
		redisFree(es->idle[i]);
	for (size_t i = 0; i < es->nsubs; i++)
		free(es->subs[i].channel);
	OPENSSL_cleanse(es->t.password, sizeof(es->t.password));
	pthread_cond_destroy(&es->pool_cv);
	pthread_cond_destroy(&es->sub_cv);
	pthread_mutex_destroy(&es->pool_mu);
	pthread_mutex_destroy(&es->sub_mu);
	pthread_mutex_destroy(&es->life_mu);
	free(es);
}

const struct estore_ops store_redis_ops = {
    .name = "redis",
    .open = rd_open,
    .close = rd_close,
    .ping = rd_ping,
    .set = rd_set,
    .get = rd_get,
    .del = rd_del,
    .incr = rd_incr,
    .publish = rd_publish,
    .subscribe = rd_subscribe,
    .count = rd_count,
    .attach_loop = rd_attach_loop,
    .detach_loop = rd_detach_loop,
};
