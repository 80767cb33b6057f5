/*
 * test_http_park.c - parked requests: answered through the continuation
 * whether the work ends before the handler returns, just after or much
 * later, on a connection kept alive, and the worker serves other
 * connections meanwhile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "net/http.h"

/* One unpark to run on a thread of its own after delay_us. */
struct later {
	struct http_request *req;
	useconds_t delay_us;
};

static void *
later_main(void *arg)
{
	struct later *l = arg;

	usleep(l->delay_us);
	http_req_unpark(l->req);
	free(l);
	return NULL;
}

/* answer is the continuation: 200 with the path it was parked for. */
static enum sa_err
answer(struct http_request *req, struct http_response *res, void *arg)
{
	(void)req;
	if (res != NULL)
		http_res_json(res, 200, json_pack("{s:s}", "parked", arg));
	return SA_OK;
}

/* park_for parks req and unparks it from another thread after us. */
static enum sa_err
park_for(struct http_request *req, const char *name, useconds_t us)
{
	struct later *l = malloc(sizeof(*l));
	pthread_t th;

	assert_non_null(l);
	l->req = req;
	l->delay_us = us;
	http_req_park(req, answer, (void *)name);
	assert_int_equal(pthread_create(&th, NULL, later_main, l), 0);
	pthread_detach(th);
	return SA_OK;
}

static enum sa_err
h_now(struct http_request *req, struct http_response *res)
{
	(void)res;
	/* Unparked before the handler even returns (a failure path). */
	http_req_park(req, answer, "now");
	http_req_unpark(req);
	return SA_OK;
}

static enum sa_err
h_soon(struct http_request *req, struct http_response *res)
{
	(void)res;
	return park_for(req, "soon", 100);
}

static enum sa_err
h_late(struct http_request *req, struct http_response *res)
{
	(void)res;
	return park_for(req, "late", 1000 * 1000);
}

static const struct route routes[] = {
    {"GET", "/now", 0, NULL, NULL, h_now, NULL, NULL},
    {"GET", "/soon", 0, NULL, NULL, h_soon, NULL, NULL},
    {"GET", "/late", 0, NULL, NULL, h_late, NULL, NULL},
};

static struct http_server *
start(void)
{
	struct http_config cfg = {0};
	struct http_server *srv = NULL;

	cfg.listen = "127.0.0.1:0";
	cfg.threads = 1; /* one worker: a held one would show */
	cfg.connection_limit = 64;
	cfg.connection_memory = 32 * 1024;
	cfg.connection_timeout = 10;
	cfg.body_limit = 65536;
	assert_int_equal(
	    http_server_start(&cfg, routes, ARRAY_LEN(routes), &srv), SA_OK);
	return srv;
}

static size_t
keep(char *p, size_t sz, size_t n, void *arg)
{
	char *out = arg;
	size_t have = strlen(out), add = sz * n;

	if (have + add < 256) {
		memcpy(out + have, p, add);
		out[have + add] = '\0';
	}
	return sz * n;
}

/* get fetches path on handle c (kept alive); returns the status, the body
 * in body (256 bytes) and in *reused whether the connection was reused. */
static long
get(CURL *c, unsigned int port, const char *path, char *body, int *reused)
{
	char url[128];
	long status = 0, conns = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	body[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	if (curl_easy_perform(c) != CURLE_OK)
		return 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
	if (reused != NULL)
		*reused = conns == 0;
	return status;
}

/*
 * Unparked before the handler returns, just after or 1 s later, a
 * request is answered by its continuation, and the connection stays alive
 * across all of them.
 */
static void
test_park_answers_each_way_keeping_alive(void **state)
{
	struct http_server *srv = start();
	unsigned int port = http_server_port(srv);
	CURL *c = curl_easy_init();
	static const char *const order[] = {"now", "soon", "late", "now"};
	char path[16], want[64], body[256];
	int reused = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(order); i++) {
		snprintf(path, sizeof(path), "/%s", order[i]);
		snprintf(want, sizeof(want), "{\"parked\":\"%s\"}", order[i]);
		assert_int_equal(get(c, port, path, body, &reused), 200);
		assert_string_equal(body, want);
		if (i > 0)
			assert_true(reused);
	}
	curl_easy_cleanup(c);
	http_server_stop(srv);
}

struct fetch {
	unsigned int port;
	const char *path;
	long status;
	uint64_t done_ms;
};

static void *
fetch_main(void *arg)
{
	struct fetch *f = arg;
	CURL *c = curl_easy_init();
	char body[256];

	f->status = get(c, f->port, f->path, body, NULL);
	f->done_ms = now_mono_ms();
	curl_easy_cleanup(c);
	return NULL;
}

/*
 * A request whose work takes longer than the wait does not hold the one
 * worker: another connection is answered while it is parked.
 */
static void
test_long_park_frees_the_worker(void **state)
{
	struct http_server *srv = start();
	struct fetch late = {http_server_port(srv), "/late", 0, 0};
	struct fetch now = {http_server_port(srv), "/now", 0, 0};
	pthread_t a, b;

	(void)state;
	assert_int_equal(pthread_create(&a, NULL, fetch_main, &late), 0);
	usleep(50 * 1000);
	assert_int_equal(pthread_create(&b, NULL, fetch_main, &now), 0);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	assert_int_equal(late.status, 200);
	assert_int_equal(now.status, 200);
	assert_true(now.done_ms < late.done_ms);
	http_server_stop(srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_park_answers_each_way_keeping_alive),
	    cmocka_unit_test(test_long_park_frees_the_worker),
	};
	int rc;

	log_set_level(SA_LOG_OFF);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
