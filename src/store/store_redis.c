/*
 * store_redis.c - the ephemeral store on Redis: sessions with a TTL,
 * rate-limit counters and publish/subscribe shared by every server instance
 * that points at the same Redis.
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
 * is a Lua script that increments and opens the window on the first hit,
 * del_if one that compares and deletes (EVALSHA, falling back to EVAL when
 * the script cache is empty).
 *
 * Subscriptions are in store_redis_sub.c.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/log.h"
#include "store/store_redis_int.h"
#include "core/util.h"

/*
 * The fixed-window counter: the first increment opens the window, later
 * ones leave it alone; count and remaining TTL come back together.
 */
static const char rd_incr_script[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "local w = tonumber(ARGV[1])\n"
    "if n == 1 and w > 0 then redis.call('PEXPIRE', KEYS[1], w) end\n"
    "return {n, redis.call('PTTL', KEYS[1])}\n";

/* Compare and delete: the key goes only while it holds ARGV[1]. */
static const char rd_del_if_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

/* ---- URL ----------------------------------------------------------------- */

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
				int hi = c + 2 < at ? hex_value(c[1]) : -1;
				int lo = hi >= 0 ? hex_value(c[2]) : -1;
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
size_t
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

/* rd_ms_text writes a lifetime in ms as Redis takes it, at most
 * RD_TTL_MAX, and returns out. */
static const char *
rd_ms_text(char out[24], uint64_t ms)
{
	snprintf(out, 24, "%llu",
		 (unsigned long long)(ms > RD_TTL_MAX ? RD_TTL_MAX : ms));
	return out;
}

/*
 * rd_set_cmd fills cmd with SET name val [PX ttl_ms] [NX|XX]; ttl holds
 * the text of the lifetime the command points to.
 */
static void
rd_set_cmd(struct rd_cmd *cmd, const char *name, size_t nlen, const void *val,
	   size_t n, uint64_t ttl_ms, int flags, char ttl[24])
{
	rd_arg_str(cmd, "SET");
	rd_arg(cmd, name, nlen);
	rd_arg(cmd, n > 0 ? val : "", n);
	if (ttl_ms > 0) {
		rd_arg_str(cmd, "PX");
		rd_arg_str(cmd, rd_ms_text(ttl, ttl_ms));
	}
	if (flags & ESTORE_NX)
		rd_arg_str(cmd, "NX");
	if (flags & ESTORE_XX)
		rd_arg_str(cmd, "XX");
}

/* rd_set_reply reads the reply to a SET sent with flags and frees it: no
 * write under NX is a conflict, under XX an absent key. */
static enum sa_err
rd_set_reply(struct redis_store *es, redisReply *r, int flags)
{
	enum sa_err rc;

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
	rd_set_cmd(&cmd, name, nlen, val, n, ttl_ms, flags, ttl);
	/* Repeating SET NX after a lost reply could report a conflict with
	 * our own write, so only the unconditional forms are repeated. */
	if ((rc = rd_exec(es, &cmd, 1, &r, !(flags & ESTORE_NX))) != SA_OK)
		return rc;
	return rd_set_reply(es, r, flags);
}

/*
 * rd_got reads the replies to GET and PTTL of one key into *got, as
 * estore_get reports a value: a new NUL-terminated buffer, its length and
 * its TTL (-1 none; a key that expired between the two commands has 0).
 * Frees both replies.
 */
static enum sa_err
rd_got(struct redis_store *es, redisReply *get, redisReply *pttl,
       struct estore_got *got)
{
	enum sa_err rc = SA_OK;

	got->rc = SA_OK;
	got->ttl_ms = -1;
	if (get->type == REDIS_REPLY_NIL) {
		got->rc = SA_ERR_NOT_FOUND;
	} else if (get->type == REDIS_REPLY_ERROR) {
		rc = rd_reply_err(es, get, "GET");
	} else if (get->type != REDIS_REPLY_STRING ||
		   get->len > ESTORE_VALUE_MAX ||
		   pttl->type != REDIS_REPLY_INTEGER) {
		/* Nothing this store writes is larger; refuse what others
		 * put there. */
		rc = SA_ERR_CONFLICT;
	} else if ((got->val = malloc(get->len + 1)) == NULL) {
		rc = SA_ERR_NOMEM;
	} else {
		memcpy(got->val, get->str, get->len);
		got->val[get->len] = '\0';
		got->n = get->len;
		if (pttl->integer >= 0)
			got->ttl_ms = pttl->integer;
		else if (pttl->integer == -2)
			got->ttl_ms = 0;
	}
	freeReplyObject(get);
	freeReplyObject(pttl);
	return rc;
}

/*
 * rd_get_many pipelines GET and PTTL of every key: one write, one round
 * trip. Reads are repeated on a new connection when the pooled one failed.
 */
static enum sa_err
rd_get_many(struct estore *store, const char *const *keys, size_t n,
	    struct estore_got *got)
{
	struct redis_store *es = rd_of(store);
	char names[ESTORE_GET_MAX][RD_NAME_MAX];
	struct rd_cmd cmds[2 * ESTORE_GET_MAX];
	redisReply *r[2 * ESTORE_GET_MAX] = {0};
	enum sa_err rc, first = SA_OK;

	if (n > ESTORE_GET_MAX)
		return SA_ERR_VALIDATION;
	memset(cmds, 0, sizeof(cmds));
	for (size_t i = 0; i < n; i++) {
		size_t nlen = rd_name(es, keys[i], names[i]);

		if (nlen == 0)
			return SA_ERR_VALIDATION;
		rd_arg_str(&cmds[2 * i], "GET");
		rd_arg(&cmds[2 * i], names[i], nlen);
		rd_arg_str(&cmds[2 * i + 1], "PTTL");
		rd_arg(&cmds[2 * i + 1], names[i], nlen);
	}
	if ((rc = rd_exec(es, cmds, 2 * n, r, 1)) != SA_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = rd_got(es, r[2 * i], r[2 * i + 1], &got[i])) !=
			SA_OK &&
		    first == SA_OK)
			first = rc;
	if (first != SA_OK)
		for (size_t i = 0; i < n; i++) {
			free(got[i].val);
			got[i].val = NULL;
		}
	return first;
}

/* rd_get is rd_get_many of one key. */
static enum sa_err
rd_get(struct estore *store, const char *key, unsigned char **val, size_t *n,
       int64_t *ttl_ms)
{
	struct estore_got got = {0};
	enum sa_err rc = rd_get_many(store, &key, 1, &got);

	if (rc == SA_OK)
		rc = got.rc;
	if (rc != SA_OK)
		return rc;
	*val = got.val;
	if (n != NULL)
		*n = got.n;
	if (ttl_ms != NULL)
		*ttl_ms = got.ttl_ms;
	return SA_OK;
}

/* rd_flag_reply reads an integer reply into *out (may be NULL) as 0 or 1
 * and frees it; an error reply is logged naming what sent it. */
static enum sa_err
rd_flag_reply(struct redis_store *es, redisReply *r, const char *what, int *out)
{
	enum sa_err rc;

	if (r->type == REDIS_REPLY_INTEGER) {
		if (out != NULL)
			*out = r->integer > 0;
		rc = SA_OK;
	} else if (r->type == REDIS_REPLY_ERROR) {
		rc = rd_reply_err(es, r, what);
	} else {
		rc = SA_ERR_INTERNAL;
	}
	freeReplyObject(r);
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
	return rd_flag_reply(es, r, "DEL", existed);
}

/* rd_eval_cmd fills cmd with the call of a script on one key with one
 * argument: by its SHA-1 (EVALSHA), or with by_text by its text (EVAL). */
static void
rd_eval_cmd(struct rd_cmd *cmd, int by_text, const char *script,
	    const char *sha, const char *name, size_t nlen, const void *arg,
	    size_t alen)
{
	memset(cmd, 0, sizeof(*cmd));
	rd_arg_str(cmd, by_text ? "EVAL" : "EVALSHA");
	rd_arg_str(cmd, by_text ? script : sha);
	rd_arg_str(cmd, "1");
	rd_arg(cmd, name, nlen);
	rd_arg(cmd, arg, alen);
}

/*
 * rd_eval runs a script on one key with one argument: by its SHA-1 first,
 * and by its text when Redis does not have it cached (after a restart or
 * SCRIPT FLUSH). The reply in *r (free it) when SA_OK.
 */
static enum sa_err
rd_eval(struct redis_store *es, const char *script, const char *sha,
	const char *name, size_t nlen, const void *arg, size_t alen,
	redisReply **r)
{
	struct rd_cmd cmd;
	enum sa_err rc;

	*r = NULL;
	for (int by_text = 0; by_text < 2; by_text++) {
		rd_eval_cmd(&cmd, by_text, script, sha, name, nlen, arg, alen);
		if ((rc = rd_exec(es, &cmd, 1, r, 0)) != SA_OK)
			return rc;
		if (by_text || (*r)->type != REDIS_REPLY_ERROR ||
		    !str_has_prefix((*r)->str, "NOSCRIPT"))
			break;
		freeReplyObject(*r);
		*r = NULL;
	}
	return SA_OK;
}

/* rd_del_if runs the compare-and-delete script. */
static enum sa_err
rd_del_if(struct estore *store, const char *key, const void *val, size_t n,
	  int *deleted)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX];
	size_t nlen = rd_name(es, key, name);
	redisReply *r = NULL;
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	if ((rc = rd_eval(es, rd_del_if_script, es->del_if_sha, name, nlen, val,
			  n, &r)) != SA_OK)
		return rc;
	return rd_flag_reply(es, r, "the compare-and-delete script", deleted);
}

/*
 * rd_incr runs the counter script. A key holding something that is not a
 * counter gives SA_ERR_CONFLICT.
 */
static enum sa_err
rd_incr(struct estore *store, const char *key, uint64_t window_ms,
	int64_t *count, int64_t *ttl_ms)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], win[24];
	size_t nlen = rd_name(es, key, name);
	redisReply *r = NULL;
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	rd_ms_text(win, window_ms);
	if ((rc = rd_eval(es, rd_incr_script, es->script_sha, name, nlen, win,
			  strlen(win), &r)) != SA_OK)
		return rc;
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
	return rd_flag_reply(es, r, "PUBLISH", NULL);
}

/* ---- Expiring indexes ---------------------------------------------------- */

/*
 * An index is a sorted set whose entries all score 0, so Redis orders them
 * by their bytes: each is the expiry's distance to ESTORE_EXPIRY_MAX in
 * eleven digits, ':' and the member. Byte order is then the page order
 * (latest expiry first, members in byte order), a cursor is an exclusive
 * ZRANGEBYLEX bound, and the expired entries are the range from
 * ESTORE_EXPIRY_MAX - now on, which every add and page removes first. The
 * set keeps at most ESTORE_INDEX_MAX entries: an add trims the soonest
 * expiring, so it stays bounded even when nobody reads it.
 */
#define RD_IDX_DIGITS 11
#define RD_IDX_ENTRY_MAX (RD_IDX_DIGITS + 1 + ESTORE_MEMBER_MAX + 1)

/* rd_idx_entry writes the sorted-set entry of (member, expires), with
 * lead ("(" or "[" for a range bound, "" for an entry) in front. */
static size_t
rd_idx_entry(char *out, const char *lead, int64_t expires, const char *member)
{
	int n =
	    snprintf(out, RD_IDX_ENTRY_MAX + 1, "%s%0*lld%s%s", lead,
		     RD_IDX_DIGITS, (long long)(ESTORE_EXPIRY_MAX - expires),
		     member ? ":" : "", member ? member : "");

	return n < 0 ? 0 : (size_t)n;
}

/* rd_idx_purge fills cmd with the removal of the entries expired at now;
 * bound receives the text it points to. */
static void
rd_idx_purge(struct rd_cmd *cmd, const char *name, size_t nlen, int64_t now,
	     char *bound)
{
	rd_idx_entry(bound, "[", now, NULL);
	rd_arg_str(cmd, "ZREMRANGEBYLEX");
	rd_arg(cmd, name, nlen);
	rd_arg_str(cmd, bound);
	rd_arg_str(cmd, "+");
}

/* rd_idx_replies checks that every reply is an integer (or an array for
 * the one at array_at, -1 for none). */
static enum sa_err
rd_idx_replies(struct redis_store *es, redisReply **r, size_t n, int array_at,
	       const char *what)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i]->type == REDIS_REPLY_ERROR)
			return rd_reply_err(es, r[i], what);
		if (r[i]->type != ((int)i == array_at ? REDIS_REPLY_ARRAY
						      : REDIS_REPLY_INTEGER))
			return SA_ERR_INTERNAL;
	}
	return SA_OK;
}

/* Room for what rd_idx_add_cmds points its commands to. */
struct rd_idx_add_buf {
	char bound[RD_IDX_ENTRY_MAX + 2], entry[RD_IDX_ENTRY_MAX + 2], keep[24];
};

/*
 * rd_idx_add_cmds fills cmds (room for three) with an add to the index
 * name: the removal of entries expired at now, then, unless (member,
 * expires) is expired itself, its ZADD and the trim to ESTORE_INDEX_MAX.
 * Returns how many commands; the ZADD, when there is one, is cmds[1].
 */
static size_t
rd_idx_add_cmds(struct rd_cmd *cmds, const char *name, size_t nlen,
		const char *member, int64_t expires, int64_t now,
		struct rd_idx_add_buf *b)
{
	memset(cmds, 0, 3 * sizeof(*cmds));
	rd_idx_purge(&cmds[0], name, nlen, now, b->bound);
	if (expires <= now)
		return 1;
	rd_arg_str(&cmds[1], "ZADD");
	rd_arg(&cmds[1], name, nlen);
	rd_arg_str(&cmds[1], "0");
	rd_arg(&cmds[1], b->entry, rd_idx_entry(b->entry, "", expires, member));
	snprintf(b->keep, sizeof(b->keep), "%d", ESTORE_INDEX_MAX);
	rd_arg_str(&cmds[2], "ZREMRANGEBYRANK");
	rd_arg(&cmds[2], name, nlen);
	rd_arg_str(&cmds[2], b->keep);
	rd_arg_str(&cmds[2], "-1");
	return 3;
}

static enum sa_err
rd_index_add(struct estore *store, const char *index, const char *member,
	     int64_t expires, int64_t now)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX];
	size_t nlen = rd_name(es, index, name), n;
	struct rd_idx_add_buf b;
	struct rd_cmd cmds[3];
	redisReply *r[3] = {NULL, NULL, NULL};
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	n = rd_idx_add_cmds(cmds, name, nlen, member, expires, now, &b);
	/* Every command may run twice after a lost reply: same result. */
	if ((rc = rd_exec(es, cmds, n, r, 1)) != SA_OK)
		return rc;
	rc = rd_idx_replies(es, r, n, -1, "ZADD");
	for (size_t i = 0; i < n; i++)
		freeReplyObject(r[i]);
	return rc;
}

static enum sa_err
rd_index_del(struct estore *store, const char *index, const char *member,
	     int64_t expires)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], entry[RD_IDX_ENTRY_MAX + 2];
	size_t nlen = rd_name(es, index, name);
	struct rd_cmd cmd = {0};
	redisReply *r = NULL;
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	rd_arg_str(&cmd, "ZREM");
	rd_arg(&cmd, name, nlen);
	rd_arg(&cmd, entry, rd_idx_entry(entry, "", expires, member));
	if ((rc = rd_exec(es, &cmd, 1, &r, 1)) != SA_OK)
		return rc;
	rc = rd_idx_replies(es, &r, 1, -1, "ZREM");
	freeReplyObject(r);
	return rc;
}

/* What the commands of a removal batch point into while they are sent. */
struct rd_rm_buf {
	char names[ESTORE_RM_MAX][RD_NAME_MAX];
	char entries[ESTORE_RM_MAX][RD_IDX_ENTRY_MAX + 2];
	size_t nlen[ESTORE_RM_MAX];
};

/*
 * rd_rm_cmds builds the commands of a removal batch into cmds (zeroed):
 * DEL, the compare-and-delete script by its SHA-1, ZREM.
 */
static enum sa_err
rd_rm_cmds(struct redis_store *es, const struct estore_rm *items, size_t n,
	   struct rd_rm_buf *b, struct rd_cmd *cmds)
{
	if (n > ESTORE_RM_MAX)
		return SA_ERR_VALIDATION;
	for (size_t i = 0; i < n; i++) {
		const struct estore_rm *it = &items[i];

		if ((b->nlen[i] = rd_name(es, it->key, b->names[i])) == 0)
			return SA_ERR_VALIDATION;
		if (it->kind == ESTORE_RM_KEY_IF) {
			rd_eval_cmd(&cmds[i], 0, rd_del_if_script,
				    es->del_if_sha, b->names[i], b->nlen[i],
				    it->val, it->n);
		} else if (it->kind == ESTORE_RM_INDEX) {
			rd_arg_str(&cmds[i], "ZREM");
			rd_arg(&cmds[i], b->names[i], b->nlen[i]);
			rd_arg(&cmds[i], b->entries[i],
			       rd_idx_entry(b->entries[i], "", it->expires,
					    it->member));
		} else {
			rd_arg_str(&cmds[i], "DEL");
			rd_arg(&cmds[i], b->names[i], b->nlen[i]);
		}
	}
	return SA_OK;
}

/*
 * rd_rm_replies reads (and frees) the replies of a removal batch: a script
 * Redis no longer has cached (NOSCRIPT) runs again on its own, by its
 * text. The first failure is returned.
 */
static enum sa_err
rd_rm_replies(struct redis_store *es, const struct estore_rm *items, size_t n,
	      struct rd_rm_buf *b, redisReply **r)
{
	static const char *const what[] = {[ESTORE_RM_KEY] = "DEL",
					   [ESTORE_RM_KEY_IF] =
					       "the compare-and-delete script",
					   [ESTORE_RM_INDEX] = "ZREM"};
	enum sa_err rc = SA_OK, first = SA_OK;

	for (size_t i = 0; i < n; i++) {
		if (items[i].kind == ESTORE_RM_KEY_IF &&
		    r[i]->type == REDIS_REPLY_ERROR &&
		    str_has_prefix(r[i]->str, "NOSCRIPT")) {
			freeReplyObject(r[i]);
			r[i] = NULL;
			rc = rd_eval(es, rd_del_if_script, es->del_if_sha,
				     b->names[i], b->nlen[i], items[i].val,
				     items[i].n, &r[i]);
		}
		if (r[i] != NULL)
			rc = rd_flag_reply(es, r[i], what[items[i].kind], NULL);
		r[i] = NULL;
		if (first == SA_OK)
			first = rc;
	}
	return first;
}

/*
 * rd_remove sends the batch's commands in one write. Like DEL, a batch
 * whose connection failed is not repeated: a key set again between the two
 * sends could be deleted by the second.
 */
static enum sa_err
rd_remove(struct estore *store, const struct estore_rm *items, size_t n)
{
	struct redis_store *es = rd_of(store);
	struct rd_rm_buf b;
	struct rd_cmd cmds[ESTORE_RM_MAX];
	redisReply *r[ESTORE_RM_MAX] = {0};
	enum sa_err rc;

	memset(cmds, 0, sizeof(cmds));
	if ((rc = rd_rm_cmds(es, items, n, &b, cmds)) != SA_OK ||
	    (rc = rd_exec(es, cmds, n, r, 0)) != SA_OK)
		return rc;
	return rd_rm_replies(es, items, n, &b, r);
}

/*
 * rd_set_remove sends SET and the removal batch in one write; Redis runs
 * them in that order. Never repeated: SET NX could then report our own
 * write as a conflict, and the removals could meet keys set again.
 */
static enum sa_err
rd_set_remove(struct estore *store, const char *key, const void *val, size_t n,
	      uint64_t ttl_ms, int flags, const struct estore_rm *items,
	      size_t nitems)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], ttl[24];
	size_t nlen = rd_name(es, key, name);
	struct rd_rm_buf b;
	struct rd_cmd cmds[1 + ESTORE_RM_MAX];
	redisReply *r[1 + ESTORE_RM_MAX] = {0};
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	memset(cmds, 0, sizeof(cmds));
	rd_set_cmd(&cmds[0], name, nlen, val, n, ttl_ms, flags, ttl);
	if ((rc = rd_rm_cmds(es, items, nitems, &b, &cmds[1])) != SA_OK ||
	    (rc = rd_exec(es, cmds, 1 + nitems, r, 0)) != SA_OK)
		return rc;
	rc = rd_set_reply(es, r[0], flags);
	(void)rd_rm_replies(es, items, nitems, &b, &r[1]);
	return rc;
}

/*
 * rd_set_listed sends SET ... NX and the index add in one write. Not
 * repeated after a failed connection (SET NX could then report our own
 * write as a conflict). When the key existed, an entry the ZADD added is
 * taken out again; when the key was stored but the listing failed, the
 * key is deleted: each a second round trip on a path that is rare.
 */
static enum sa_err
rd_set_listed(struct estore *store, const char *key, const void *val, size_t n,
	      uint64_t ttl_ms, const char *index, const char *member,
	      int64_t expires, int64_t now)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], iname[RD_NAME_MAX], ttl[24];
	size_t nlen = rd_name(es, key, name), ilen = rd_name(es, index, iname);
	size_t k;
	struct rd_idx_add_buf b;
	struct rd_cmd cmds[4];
	redisReply *r[4] = {NULL, NULL, NULL, NULL};
	enum sa_err rc, irc;
	int added;

	if (nlen == 0 || ilen == 0)
		return SA_ERR_VALIDATION;
	memset(cmds, 0, sizeof(cmds));
	rd_set_cmd(&cmds[0], name, nlen, val, n, ttl_ms, ESTORE_NX, ttl);
	k = rd_idx_add_cmds(&cmds[1], iname, ilen, member, expires, now, &b);
	if ((rc = rd_exec(es, cmds, 1 + k, r, 0)) != SA_OK)
		return rc;
	rc = rd_set_reply(es, r[0], ESTORE_NX);
	irc = rd_idx_replies(es, &r[1], k, -1, "ZADD");
	added = irc == SA_OK && k > 1 && r[2]->integer > 0;
	for (size_t i = 1; i < 1 + k; i++)
		freeReplyObject(r[i]);
	if (rc != SA_OK) {
		if (added)
			rd_index_del(store, index, member, expires);
		return rc;
	}
	if (irc != SA_OK)
		rd_del(store, key, NULL);
	return irc;
}

/*
 * rd_set_publish sends SET and PUBLISH in one write; Redis runs them in
 * that order. Never repeated: a repeated PUBLISH would deliver twice.
 */
static enum sa_err
rd_set_publish(struct estore *store, const char *key, const void *val, size_t n,
	       uint64_t ttl_ms, const char *channel, const void *msg, size_t mn,
	       enum sa_err *published)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], cname[RD_NAME_MAX], ttl[24];
	size_t nlen = rd_name(es, key, name),
	       clen = rd_name(es, channel, cname);
	struct rd_cmd cmds[2];
	redisReply *r[2] = {NULL, NULL};
	enum sa_err rc;

	*published = SA_ERR_VALIDATION;
	if (nlen == 0 || clen == 0)
		return SA_ERR_VALIDATION;
	memset(cmds, 0, sizeof(cmds));
	rd_set_cmd(&cmds[0], name, nlen, val, n, ttl_ms, 0, ttl);
	rd_arg_str(&cmds[1], "PUBLISH");
	rd_arg(&cmds[1], cname, clen);
	rd_arg(&cmds[1], msg, mn);
	if ((rc = rd_exec(es, cmds, 2, r, 0)) != SA_OK) {
		*published = rc;
		return rc;
	}
	rc = rd_set_reply(es, r[0], 0);
	*published = rd_flag_reply(es, r[1], "PUBLISH", NULL);
	return rc;
}

static enum sa_err
rd_index_page(struct estore *store, const char *index, int64_t now,
	      int64_t after_expires, const char *after, int limit,
	      estore_index_cb cb, void *arg)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX], bound[RD_IDX_ENTRY_MAX + 2],
	    from[RD_IDX_ENTRY_MAX + 2], to[RD_IDX_ENTRY_MAX + 2], lim[16];
	size_t nlen = rd_name(es, index, name);
	struct rd_cmd cmds[2];
	redisReply *r[2] = {NULL, NULL};
	enum sa_err rc;

	if (nlen == 0)
		return SA_ERR_VALIDATION;
	memset(cmds, 0, sizeof(cmds));
	rd_idx_purge(&cmds[0], name, nlen, now, bound);
	if (after != NULL)
		rd_idx_entry(from, "(", after_expires, after);
	else
		snprintf(from, sizeof(from), "-");
	rd_idx_entry(to, "(", now, NULL);
	snprintf(lim, sizeof(lim), "%d", limit);
	rd_arg_str(&cmds[1], "ZRANGEBYLEX");
	rd_arg(&cmds[1], name, nlen);
	rd_arg_str(&cmds[1], from);
	rd_arg_str(&cmds[1], to);
	rd_arg_str(&cmds[1], "LIMIT");
	rd_arg_str(&cmds[1], "0");
	rd_arg_str(&cmds[1], lim);
	if ((rc = rd_exec(es, cmds, 2, r, 1)) != SA_OK)
		return rc;
	if ((rc = rd_idx_replies(es, r, 2, 1, "ZRANGEBYLEX")) != SA_OK)
		goto out;
	for (size_t i = 0; i < r[1]->elements; i++) {
		const redisReply *e = r[1]->element[i];
		char member[ESTORE_MEMBER_MAX + 1], *end = NULL;
		long long inv;

		/* Entries this store did not write are skipped. */
		if (e->type != REDIS_REPLY_STRING ||
		    e->len <= RD_IDX_DIGITS + 1 ||
		    e->len > RD_IDX_DIGITS + 1 + ESTORE_MEMBER_MAX ||
		    e->str[RD_IDX_DIGITS] != ':')
			continue;
		inv = strtoll(e->str, &end, 10);
		if (end != e->str + RD_IDX_DIGITS || inv < 0)
			continue;
		memcpy(member, e->str + RD_IDX_DIGITS + 1,
		       e->len - RD_IDX_DIGITS - 1);
		member[e->len - RD_IDX_DIGITS - 1] = '\0';
		if (cb(member, ESTORE_EXPIRY_MAX - inv, arg) != 0)
			break;
	}
out:
	freeReplyObject(r[0]);
	freeReplyObject(r[1]);
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

/* ---- Open and close ------------------------------------------------------ */

static void rd_close(struct estore *es);

/* rd_sha1_hex writes the SHA-1 of a script in hex, as EVALSHA names it. */
static int
rd_sha1_hex(const char *script, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(script, strlen(script), md, &mdlen, EVP_sha1(), NULL) !=
		1 ||
	    mdlen != 20)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

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
	if (rd_sha1_hex(rd_incr_script, es->script_sha) != 0 ||
	    rd_sha1_hex(rd_del_if_script, es->del_if_sha) != 0) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
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
    .get_many = rd_get_many,
    .del = rd_del,
    .del_if = rd_del_if,
    .remove = rd_remove,
    .incr = rd_incr,
    .publish = rd_publish,
    .subscribe = rd_subscribe,
    .set_publish = rd_set_publish,
    .count = rd_count,
    .index_add = rd_index_add,
    .index_del = rd_index_del,
    .set_listed = rd_set_listed,
    .set_remove = rd_set_remove,
    .index_page = rd_index_page,
    .attach_loop = rd_attach_loop,
    .detach_loop = rd_detach_loop,
};
