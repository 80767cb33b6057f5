/*
 * test_push.c - the push queue and the UnifiedPush, log and none providers,
 * against a fake UnifiedPush endpoint served by libmicrohttpd on 127.0.0.1:
 * delivery, retries with backoff, timeouts, final statuses, the address
 * rules (nothing may reach a loopback endpoint unless allowed), redirects,
 * the bounded queue, shutdown and exactly-once callbacks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/log.h"
#include "push/push_int.h"
#include "fake_http.h"
#include "support.h"
#include "core/util.h"

/* Every wait in this file gives up after this long. */
#define DEADLINE_MS 10000

/* ---- a fake UnifiedPush endpoint ---------------------------------------- */

struct fake {
	struct fake_http *h;
	unsigned short port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int connections; /* TCP connections accepted */
	int requests;	 /* requests seen (counted on arrival) */
	int target_hits; /* requests to /target (redirect destination) */
	int answered;	 /* requests whose status was decided */
	int script[16];	 /* statuses for the first requests */
	int nscript;
	int default_status;
	int every_third_503; /* answer 503 to every third request */
	int delay_ms;	     /* sleep before answering */
	int gate;	     /* hold answers until gate_open (at most 5 s) */
	int gate_open;
	char body[FAKE_HTTP_BODY_MAX + 1];
	size_t body_len;
	char ctype[128], ttl[32], urgency[32];
};

static void
abs_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* fake_arrive counts a request as soon as its headers are in. */
static void
fake_arrive(void *arg, const char *url)
{
	struct fake *f = arg;

	pthread_mutex_lock(&f->mu);
	f->requests++;
	if (strcmp(url, "/target") == 0)
		f->target_hits++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void
fake_connect(void *arg)
{
	struct fake *f = arg;

	pthread_mutex_lock(&f->mu);
	f->connections++;
	pthread_mutex_unlock(&f->mu);
}

/* fake_answer answers as the test scripted, after an optional gate and
 * delay, and records the body and headers of the request. */
static enum MHD_Result
fake_answer(void *arg, const struct fake_http_req *rq)
{
	struct fake *f = arg;
	int status, n, delay;
	char loc[128];

	if (strcmp(rq->url, "/redirect") == 0) {
		snprintf(loc, sizeof(loc), "http://127.0.0.1:%u/target",
			 f->port);
		return fake_http_reply(rq->c, 307, NULL, "{}", loc);
	}
	pthread_mutex_lock(&f->mu);
	n = f->requests;
	memcpy(f->body, rq->body, rq->len);
	f->body_len = rq->len;
	fake_http_header(rq->c, "Content-Type", f->ctype, sizeof(f->ctype));
	fake_http_header(rq->c, "TTL", f->ttl, sizeof(f->ttl));
	fake_http_header(rq->c, "Urgency", f->urgency, sizeof(f->urgency));
	if (f->gate) {
		struct timespec ts;
		abs_deadline(&ts, 5000);
		while (!f->gate_open &&
		       pthread_cond_timedwait(&f->cv, &f->mu, &ts) == 0)
			;
	}
	if (f->nscript > 0) {
		status = f->script[0];
		memmove(f->script, f->script + 1,
			(size_t)(--f->nscript) * sizeof(int));
	} else if (f->every_third_503 && n % 3 == 0) {
		status = 503;
	} else {
		status = f->default_status;
	}
	delay = f->delay_ms;
	f->answered++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (delay > 0)
		sleep_ms((unsigned)delay);
	return fake_http_reply(rq->c, (unsigned)status, NULL, "{}", NULL);
}

static struct fake *
fake_start(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct fake_http_hooks hooks = {fake_answer, fake_arrive, fake_connect,
					f};

	assert_non_null(f);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->default_status = 201;
	f->h = fake_http_start(&hooks);
	f->port = fake_http_port(f->h);
	return f;
}

static void
fake_open_gate(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	f->gate_open = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void
fake_stop(struct fake *f)
{
	fake_open_gate(f);
	fake_http_stop(f->h);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}

static int
fake_count(struct fake *f, const int *field)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = *field;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* fake_wait waits until a counter of the fake reaches n. */
static int
fake_wait(struct fake *f, const int *field, int n)
{
	struct timespec ts;
	int ok;

	abs_deadline(&ts, DEADLINE_MS);
	pthread_mutex_lock(&f->mu);
	while (*field < n && pthread_cond_timedwait(&f->cv, &f->mu, &ts) == 0)
		;
	ok = *field >= n;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

/* fake_wait_requests waits until the fake has seen n requests. */
static int
fake_wait_requests(struct fake *f, int n)
{
	return fake_wait(f, &f->requests, n);
}

static void
fake_url(struct fake *f, const char *host, const char *scheme, const char *path,
	 char *out, size_t n)
{
	snprintf(out, n, "%s://%s:%u%s", scheme, host, f->port, path);
}

/* ---- callback recording ------------------------------------------------- */

struct outcome {
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	int *total;
	int calls;
	enum sa_err rc;
	int attempts;
	char reason[PUSH_REASON_MAX];
	char provider[16];
	uint64_t at_ms;
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t out_cv = PTHREAD_COND_INITIALIZER;
static int out_total;

static void
on_done(enum sa_err rc, const char *provider, const char *reason, int attempts,
	void *arg)
{
	struct outcome *o = arg;

	pthread_mutex_lock(&out_mu);
	o->calls++;
	o->rc = rc;
	o->attempts = attempts;
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
	snprintf(o->provider, sizeof(o->provider), "%s", provider);
	o->at_ms = now_mono_ms();
	out_total++;
	pthread_cond_broadcast(&out_cv);
	pthread_mutex_unlock(&out_mu);
}

static void
outcome_reset(void)
{
	pthread_mutex_lock(&out_mu);
	out_total = 0;
	pthread_mutex_unlock(&out_mu);
}

/* wait_total waits until n callbacks ran in all (since outcome_reset). */
static int
wait_total(int n)
{
	struct timespec ts;
	int ok;

	abs_deadline(&ts, DEADLINE_MS);
	pthread_mutex_lock(&out_mu);
	while (out_total < n &&
	       pthread_cond_timedwait(&out_cv, &out_mu, &ts) == 0)
		;
	ok = out_total >= n;
	pthread_mutex_unlock(&out_mu);
	return ok;
}

static json_t *
login_msg(void)
{
	json_t *m = json_pack(
	    "{s:s, s:s, s:s, s:[s,s], s:s, s:s, s:s, s:s, s:s}", "sessionId",
	    "sess_AbC123", "otp", "042917", "serviceName", "Bäckerei Müller",
	    "scopes", "identity:name", "identity:age_over_18", "random",
	    "r4nd0m", "expiresAt", "2030-01-01T00:00:00Z", "origin",
	    "https://shop.example", "requestIp", "203.0.113.7", "userAgent",
	    "Mozilla/5.0 \"quoted\"");

	assert_non_null(m);
	return m;
}

static struct pusher *
open_pusher(const char *mode, int allow_private, long timeout_ms, int attempts,
	    long backoff_ms, int workers, size_t queue_max)
{
	struct push_config cfg = {0};
	struct pusher *p = NULL;

	cfg.mode = mode;
	cfg.allow_private_targets = allow_private;
	cfg.timeout_ms = timeout_ms;
	cfg.max_attempts = attempts;
	cfg.backoff_ms = backoff_ms;
	cfg.workers = workers;
	cfg.queue_max = queue_max;
	assert_int_equal(push_open(&cfg, &p), SA_OK);
	assert_non_null(p);
	return p;
}

/* send_up queues the login message for an endpoint and expects SA_OK. */
static void
send_up(struct pusher *p, const char *url, struct outcome *o)
{
	struct push_target t = {NULL, url};

	assert_int_equal(push_send(p, &t, login_msg(), on_done, o), SA_OK);
}

static int
setup(void **state)
{
	log_set_level(SA_LOG_OFF);
	outcome_reset();
	return 0;
}

/* ---- UnifiedPush -------------------------------------------------------- */

static void
test_up_delivers_body_intact(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 2000, 3, 10, 2, 0);
	struct outcome o = {0};
	json_t *got, *want = login_msg();
	char url[128];

	assert_string_equal(push_mode(p), "unifiedpush");
	fake_url(f, "127.0.0.1", "http", "/up/AbCdEf?x=1", url, sizeof(url));
	send_up(p, url, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.rc, SA_OK);
	assert_int_equal(o.attempts, 1);
	assert_string_equal(o.provider, "unifiedpush");

	pthread_mutex_lock(&f->mu);
	got = json_loadb(f->body, f->body_len, 0, NULL);
	assert_string_equal(f->ctype, "application/json");
	assert_string_equal(f->ttl, "120");
	assert_string_equal(f->urgency, "high");
	pthread_mutex_unlock(&f->mu);
	assert_non_null(got);
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	push_close(p);
	fake_stop(f);
}

static void
test_up_410_is_final(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 2000, 3, 10, 1, 0);
	struct outcome o = {0};
	char url[128];

	f->default_status = 410;
	fake_url(f, "127.0.0.1", "http", "/up/gone", url, sizeof(url));
	send_up(p, url, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_ERR_PUSH);
	assert_int_equal(o.attempts, 1);
	assert_non_null(strstr(o.reason, "gone"));
	assert_non_null(strstr(o.reason, "410"));
	push_close(p);
	assert_int_equal(fake_count(f, &f->requests), 1);
	assert_int_equal(o.calls, 1);
	fake_stop(f);
}

static void
test_up_503_then_200_retries(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 2000, 3, 80, 1, 0);
	struct outcome o = {0};
	uint64_t t0;
	char url[128];

	f->script[0] = 503;
	f->nscript = 1;
	f->default_status = 200;
	fake_url(f, "127.0.0.1", "http", "/up/busy", url, sizeof(url));
	t0 = now_mono_ms();
	send_up(p, url, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_OK);
	assert_int_equal(o.attempts, 2);
	assert_true(o.at_ms - t0 >= 80); /* the backoff was honoured */
	assert_int_equal(fake_count(f, &f->requests), 2);
	push_close(p);
	fake_stop(f);
}

/* A retry's wanted callback: counts the questions and answers *answer. */
struct wanted {
	struct outcome o;
	_Atomic int asked;
	int answer;
};

static int
wanted_cb(void *arg)
{
	struct wanted *w = arg;

	w->asked++;
	return w->answer;
}

static void
wanted_done(enum sa_err rc, const char *provider, const char *reason,
	    int attempts, void *arg)
{
	on_done(rc, provider, reason, attempts, &((struct wanted *)arg)->o);
}

/*
 * send_wanted sends the login message with w's wanted callback, waits for
 * the total-th callback and checks its outcome: rc after attempts, with
 * wanted asked once.
 */
static void
send_wanted(struct pusher *p, const struct push_target *t, struct wanted *w,
	    int total, enum sa_err rc, int attempts)
{
	assert_int_equal(
	    push_send_while(p, t, login_msg(), wanted_cb, wanted_done, w),
	    SA_OK);
	assert_true(wait_total(total));
	assert_int_equal(w->o.rc, rc);
	assert_int_equal(w->o.attempts, attempts);
	assert_int_equal(w->asked, 1);
}

/*
 * A message whose sender no longer wants it (a login answered while its
 * push waited for a retry) is not sent again: the callback hears
 * SA_ERR_REPLAY after the one attempt. Still wanted, it is retried; the
 * first attempt never asks.
 */
static void
test_up_retry_only_while_wanted(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 2000, 3, 40, 1, 0);
	struct wanted no = {.answer = 0}, yes = {.answer = 1};
	char url[128];
	struct push_target t = {NULL, url};

	f->script[0] = 503;
	f->script[1] = 503;
	f->nscript = 2;
	f->default_status = 200;
	fake_url(f, "127.0.0.1", "http", "/up/busy", url, sizeof(url));
	send_wanted(p, &t, &no, 1, SA_ERR_REPLAY, 1);
	assert_non_null(strstr(no.o.reason, "not retried"));
	assert_non_null(strstr(no.o.reason, "503"));
	assert_int_equal(fake_count(f, &f->requests), 1);
	send_wanted(p, &t, &yes, 2, SA_OK, 2);
	assert_int_equal(fake_count(f, &f->requests), 3);
	push_close(p);
	assert_int_equal(no.o.calls, 1);
	assert_int_equal(yes.o.calls, 1);
	fake_stop(f);
}

static void
test_up_slow_endpoint_times_out(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 150, 2, 10, 1, 0);
	struct outcome o = {0};
	char url[128];

	f->delay_ms = 700;
	fake_url(f, "127.0.0.1", "http", "/up/slow", url, sizeof(url));
	send_up(p, url, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_ERR_TIMEOUT);
	assert_int_equal(o.attempts, 2);
	assert_non_null(strstr(o.reason, "timeout"));
	assert_int_equal(fake_count(f, &f->requests), 2);
	push_close(p);
	fake_stop(f);
}

/* One worker sends five messages over one kept-alive connection. */
static void
test_up_connection_reused(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 2000, 3, 10, 1, 0);
	struct outcome o[5];
	char url[128];

	memset(o, 0, sizeof(o));
	fake_url(f, "127.0.0.1", "http", "/up/ka", url, sizeof(url));
	for (int i = 0; i < 5; i++) {
		send_up(p, url, &o[i]);
		assert_true(wait_total(i + 1));
		assert_int_equal(o[i].rc, SA_OK);
	}
	assert_int_equal(fake_count(f, &f->requests), 5);
	assert_int_equal(fake_count(f, &f->connections), 1);
	push_close(p);
	fake_stop(f);
}

/* Without allow_private_targets nothing may reach a loopback endpoint, by
 * address or by name, over http or https. */
static void
test_up_private_targets_refused(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 0, 1000, 3, 10, 2, 0);
	static const struct {
		const char *scheme, *host, *expect;
	} cases[] = {
	    {"http", "127.0.0.1", "https"},
	    {"https", "127.0.0.1", "loopback"},
	    {"https", "localhost", "loopback"},
	    {"https", "[::1]", "loopback"},
	    {"https", "127.1", "loopback"},
	};
	struct outcome o[ARRAY_LEN(cases)];
	char url[128];

	memset(o, 0, sizeof(o));
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		fake_url(f, cases[i].host, cases[i].scheme, "/up/x", url,
			 sizeof(url));
		send_up(p, url, &o[i]);
	}
	assert_true(wait_total((int)ARRAY_LEN(cases)));
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].rc, SA_ERR_PUSH);
		assert_int_equal(o[i].attempts, 1);
		if (strstr(o[i].reason, cases[i].expect) == NULL)
			fail_msg("case %zu: reason \"%s\"", i, o[i].reason);
	}
	push_close(p);
	assert_int_equal(fake_count(f, &f->connections), 0);
	assert_int_equal(fake_count(f, &f->requests), 0);
	fake_stop(f);
}

static void
test_up_plain_http_only_on_loopback(void **state)
{
	struct pusher *p = open_pusher(NULL, 1, 1000, 1, 10, 1, 0);
	struct outcome o = {0};

	/* A private, non-loopback address: with private targets allowed the
	 * address passes, but http:// does not leave loopback. The refusal
	 * comes before the connect, so nothing is sent anywhere. */
	send_up(p, "http://10.255.255.1:9/up", &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_ERR_PUSH);
	assert_int_equal(o.attempts, 1);
	assert_non_null(strstr(o.reason, "loopback"));
	push_close(p);
}

static void
test_up_redirect_not_followed(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 2000, 3, 10, 1, 0);
	struct outcome o = {0};
	char url[128];

	fake_url(f, "127.0.0.1", "http", "/redirect", url, sizeof(url));
	send_up(p, url, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_ERR_PUSH);
	assert_int_equal(o.attempts, 1);
	assert_non_null(strstr(o.reason, "307"));
	push_close(p);
	assert_int_equal(fake_count(f, &f->requests), 1);
	assert_int_equal(fake_count(f, &f->target_hits), 0);
	fake_stop(f);
}

/* ---- the queue ---------------------------------------------------------- */

static void
test_queue_full_fails_fast(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 5000, 1, 10, 1, 2);
	struct outcome o[4];
	struct push_target t;
	char url[128];
	uint64_t t0;

	memset(o, 0, sizeof(o));
	f->gate = 1;
	fake_url(f, "127.0.0.1", "http", "/up/q", url, sizeof(url));
	t.fcm_token = NULL;
	t.endpoint = url;
	send_up(p, url, &o[0]);
	assert_true(fake_wait_requests(f, 1)); /* the worker is busy */
	send_up(p, url, &o[1]);
	send_up(p, url, &o[2]);
	t0 = now_mono_ms();
	assert_int_equal(push_send(p, &t, login_msg(), on_done, &o[3]),
			 SA_ERR_UNAVAILABLE);
	assert_true(now_mono_ms() - t0 < 100); /* did not wait */
	fake_open_gate(f);
	assert_true(wait_total(3));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].rc, SA_OK);
	}
	push_close(p);
	assert_int_equal(o[3].calls, 0); /* refused: no callback */
	fake_stop(f);
}

struct opener {
	struct fake *f;
	unsigned after_ms;
};

static void *
open_gate_later(void *arg)
{
	struct opener *op = arg;

	sleep_ms(op->after_ms);
	fake_open_gate(op->f);
	return NULL;
}

/* push_close lets the attempt in flight finish and fails the queued ones
 * with SA_ERR_SHUTTING_DOWN, including one waiting for its retry. */
static void
test_close_fails_pending(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 3000, 3, 5000, 1, 0);
	struct outcome o[4];
	struct opener op = {f, 200};
	pthread_t th;
	char url[128], retry_url[128];

	memset(o, 0, sizeof(o));
	fake_url(f, "127.0.0.1", "http", "/up/c", url, sizeof(url));
	fake_url(f, "127.0.0.1", "http", "/up/r", retry_url, sizeof(retry_url));
	/* o[0]: 503 once, then it waits 5 s for its retry. */
	f->script[0] = 503;
	f->nscript = 1;
	send_up(p, retry_url, &o[0]);
	assert_true(fake_wait(f, &f->answered, 1));
	pthread_mutex_lock(&f->mu);
	f->gate = 1;
	f->default_status = 200;
	pthread_mutex_unlock(&f->mu);
	send_up(p, url, &o[1]); /* in flight, held by the gate */
	assert_true(fake_wait_requests(f, 2));
	send_up(p, url, &o[2]);
	send_up(p, url, &o[3]);
	assert_int_equal(pthread_create(&th, NULL, open_gate_later, &op), 0);
	push_close(p);
	pthread_join(th, NULL);

	for (int i = 0; i < 4; i++)
		assert_int_equal(o[i].calls, 1);
	assert_int_equal(o[1].rc, SA_OK);
	assert_int_equal(o[0].rc, SA_ERR_SHUTTING_DOWN);
	assert_int_equal(o[0].attempts, 1);
	assert_int_equal(o[2].rc, SA_ERR_SHUTTING_DOWN);
	assert_int_equal(o[2].attempts, 0);
	assert_int_equal(o[3].rc, SA_ERR_SHUTTING_DOWN);
	assert_int_equal(fake_count(f, &f->requests), 2);
	fake_stop(f);
}

/* An endpoint that never answers does not hold push_close for long. */
static void
test_close_is_bounded(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 800, 3, 10, 1, 0);
	struct outcome o = {0};
	char url[128];
	uint64_t t0;

	f->gate = 1;
	fake_url(f, "127.0.0.1", "http", "/up/stuck", url, sizeof(url));
	send_up(p, url, &o);
	assert_true(fake_wait_requests(f, 1));
	t0 = now_mono_ms();
	push_close(p);
	assert_true(now_mono_ms() - t0 < 2500);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.rc, SA_ERR_SHUTTING_DOWN);
	fake_stop(f);
}

#define CONC_THREADS 4
#define CONC_PER_THREAD 50

struct conc {
	struct pusher *p;
	const char *url;
	struct outcome *o;
	int rc_fail;
};

static void *
conc_sender(void *arg)
{
	struct conc *c = arg;
	struct push_target t = {NULL, c->url};

	for (int i = 0; i < CONC_PER_THREAD; i++)
		if (push_send(c->p, &t, login_msg(), on_done, &c->o[i]) !=
		    SA_OK)
			c->rc_fail++;
	return NULL;
}

/* 200 sends from four threads, a third of the answers 503: every callback
 * runs exactly once, and the attempts reported match what the fake saw. */
static void
test_callbacks_exactly_once(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p = open_pusher(NULL, 1, 2000, 3, 2, 4, 0);
	struct outcome *o = calloc(CONC_THREADS * CONC_PER_THREAD, sizeof(*o));
	struct conc c[CONC_THREADS];
	pthread_t th[CONC_THREADS];
	char url[128];
	int attempts = 0, ok = 0;

	assert_non_null(o);
	f->default_status = 200;
	f->every_third_503 = 1;
	fake_url(f, "127.0.0.1", "http", "/up/many", url, sizeof(url));
	for (int i = 0; i < CONC_THREADS; i++) {
		c[i] = (struct conc){p, url, o + i * CONC_PER_THREAD, 0};
		assert_int_equal(
		    pthread_create(&th[i], NULL, conc_sender, &c[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].rc_fail, 0);
	}
	assert_true(wait_total(CONC_THREADS * CONC_PER_THREAD));
	push_close(p);
	for (int i = 0; i < CONC_THREADS * CONC_PER_THREAD; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_true(o[i].attempts >= 1 && o[i].attempts <= 3);
		attempts += o[i].attempts;
		ok += o[i].rc == SA_OK;
		if (o[i].rc != SA_OK)
			assert_int_equal(o[i].attempts, 3);
	}
	assert_int_equal(out_total, CONC_THREADS * CONC_PER_THREAD);
	assert_int_equal(attempts, fake_count(f, &f->requests));
	assert_true(attempts > CONC_THREADS * CONC_PER_THREAD); /* retries */
	assert_true(ok >= CONC_THREADS * CONC_PER_THREAD * 8 / 10);
	free(o);
	fake_stop(f);
}

/* ---- log and none ------------------------------------------------------- */

/* Captures standard error (where log lines go) into a temporary file. */
struct capture {
	int saved;
	char path[64];
};

static void
capture_start(struct capture *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "/tmp/test_push_log_XXXXXX");
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static char *
capture_stop(struct capture *c)
{
	unsigned char *text = NULL;
	size_t n = 0;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	assert_int_equal(read_file(c->path, 1 << 20, &text, &n), SA_OK);
	unlink(c->path);
	return (char *)text;
}

static void
test_mode_none_and_log_never_send(void **state)
{
	struct fake *f = fake_start();
	struct pusher *p;
	struct outcome o[6];
	struct push_target up = {NULL, NULL}, fcm = {"fcm-token-abc", NULL};
	struct push_target none = {NULL, NULL};
	struct capture cap;
	char url[128], *logged;

	memset(o, 0, sizeof(o));
	fake_url(f, "127.0.0.1", "http", "/up/dev", url, sizeof(url));
	up.endpoint = url;

	p = open_pusher("none", 1, 1000, 3, 10, 1, 0);
	assert_string_equal(push_mode(p), "none");
	assert_int_equal(push_send(p, &up, login_msg(), on_done, &o[0]), SA_OK);
	/* No network, so no worker: done before push_send returned. */
	assert_int_equal(o[0].calls, 1);
	assert_int_equal(push_send(p, &fcm, login_msg(), on_done, &o[1]),
			 SA_OK);
	assert_int_equal(o[1].calls, 1);
	/* A device enrolled without a push target still logs in. */
	assert_int_equal(push_send(p, &none, login_msg(), on_done, &o[4]),
			 SA_OK);
	assert_int_equal(o[4].calls, 1);
	assert_true(wait_total(3));
	push_close(p);

	log_set_level(SA_LOG_INFO);
	capture_start(&cap);
	p = open_pusher("log", 1, 1000, 3, 10, 1, 0);
	assert_int_equal(push_send(p, &up, login_msg(), on_done, &o[2]), SA_OK);
	assert_int_equal(push_send(p, &fcm, login_msg(), on_done, &o[3]),
			 SA_OK);
	assert_int_equal(push_send(p, &none, login_msg(), on_done, &o[5]),
			 SA_OK);
	assert_true(wait_total(6));
	assert_string_equal(push_mode(p), "log");
	push_close(p);
	logged = capture_stop(&cap);
	log_set_level(SA_LOG_OFF);

	assert_non_null(strstr(logged, "(no push target)"));
	for (int i = 0; i < 6; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].rc, SA_OK);
		assert_int_equal(o[i].attempts, 1);
		/* Said as what it is: nothing went to a phone. */
		assert_string_equal(
		    o[i].provider, i == 0 || i == 1 || i == 4 ? "none" : "log");
	}
	assert_non_null(strstr(logged, "\"event\":\"push.log\""));
	assert_non_null(strstr(logged, "not sent"));
	assert_non_null(strstr(logged, "sess_AbC123"));
	free(logged);
	assert_int_equal(fake_count(f, &f->connections), 0);
	assert_int_equal(fake_count(f, &f->requests), 0);
	fake_stop(f);
}

/* ---- what push_send and push_open refuse -------------------------------- */

static void
test_send_refusals(void **state)
{
	struct pusher *p = open_pusher(NULL, 0, 1000, 3, 10, 1, 0);
	struct push_target both = {"tok", "https://push.example/x"};
	struct push_target none = {NULL, NULL};
	struct push_target fcm = {"tok", NULL};
	struct push_target up = {NULL, "https://push.example/x"};
	struct push_target space = {NULL, "https://push.example/a b"};
	struct outcome o = {0};
	char big[PUSH_MSG_MAX + 2];
	struct push_config bad = {0};
	struct pusher *q = NULL;

	assert_int_equal(push_send(p, &both, login_msg(), on_done, &o),
			 SA_ERR_BAD_REQUEST);
	/* No target: a real provider has nowhere to send. */
	assert_int_equal(push_send(p, &none, login_msg(), on_done, &o),
			 SA_ERR_PUSH);
	assert_int_equal(push_send(p, &space, login_msg(), on_done, &o),
			 SA_ERR_BAD_REQUEST);
	/* FCM without a service account fails at once. */
	assert_int_equal(push_send(p, &fcm, login_msg(), on_done, &o),
			 SA_ERR_PUSH);
	assert_int_equal(push_send(p, &up, json_array(), on_done, &o),
			 SA_ERR_BAD_REQUEST);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(
	    push_send(p, &up, json_pack("{s:s}", "x", big), on_done, &o),
	    SA_ERR_BAD_REQUEST);
	push_close(p);
	assert_int_equal(o.calls, 0);

	bad.mode = "carrier-pigeon";
	assert_int_equal(push_open(&bad, &q), SA_ERR_CONFIG);
	assert_null(q);
	bad.mode = NULL;
	bad.workers = 1000;
	assert_int_equal(push_open(&bad, &q), SA_ERR_CONFIG);
	assert_null(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_up_delivers_body_intact, setup),
	    cmocka_unit_test_setup(test_up_410_is_final, setup),
	    cmocka_unit_test_setup(test_up_503_then_200_retries, setup),
	    cmocka_unit_test_setup(test_up_retry_only_while_wanted, setup),
	    cmocka_unit_test_setup(test_up_slow_endpoint_times_out, setup),
	    cmocka_unit_test_setup(test_up_connection_reused, setup),
	    cmocka_unit_test_setup(test_up_private_targets_refused, setup),
	    cmocka_unit_test_setup(test_up_plain_http_only_on_loopback, setup),
	    cmocka_unit_test_setup(test_up_redirect_not_followed, setup),
	    cmocka_unit_test_setup(test_queue_full_fails_fast, setup),
	    cmocka_unit_test_setup(test_close_fails_pending, setup),
	    cmocka_unit_test_setup(test_close_is_bounded, setup),
	    cmocka_unit_test_setup(test_callbacks_exactly_once, setup),
	    cmocka_unit_test_setup(test_mode_none_and_log_never_send, setup),
	    cmocka_unit_test_setup(test_send_refusals, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
