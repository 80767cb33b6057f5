/*
 * test_dynlib.c - libraries loaded on first use: a library or a symbol
 * that is missing fails the whole load and leaves nothing half resolved;
 * libcurl and libpq are not mapped until one of their functions is called,
 * and then every kind of argument reaches them intact: curl_easy_setopt's
 * longs, data and function pointers and 64-bit offsets, and
 * curl_easy_getinfo's pointers, shown by a transfer of a local file whose
 * outcome depends on each of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <zlib.h>

#include "core/curl_lib.h"
#include "core/dynlib.h"
#include "core/util.h"
#include "store/pq_lib.h"

static void
test_missing_library_fails(void **state)
{
	void *f = (void *)&f;
	const struct dynlib_sym syms[] = {{"zlibVersion", &f}};

	(void)state;
	assert_int_equal(dynlib_load("libsealauth-missing.so.0", syms, 1),
			 SA_ERR_UNAVAILABLE);
	assert_null(f);
	assert_false(dynlib_is_loaded("libsealauth-missing.so.0"));
}

static void
test_missing_symbol_fails_the_whole_load(void **state)
{
	void *a = NULL, *b = NULL;
	const struct dynlib_sym syms[] = {{"zlibVersion", &a},
					  {"sealauth_no_such_function", &b}};

	(void)state;
	assert_int_equal(dynlib_load("libz.so.1", syms, 2), SA_ERR_UNAVAILABLE);
	assert_null(a);
	assert_null(b);
}

static void
test_symbols_resolve_to_the_library(void **state)
{
	const char *(*version)(void) = NULL;
	const struct dynlib_sym syms[] = {{"zlibVersion", (void **)&version}};

	(void)state;
	assert_int_equal(dynlib_load("libz.so.1", syms, 1), SA_OK);
	assert_non_null(version);
	assert_string_equal(version(), zlibVersion());
	assert_true(dynlib_is_loaded("libz.so.1"));
}

struct sink {
	char data[256];
	size_t len;
};

static size_t
sink_write(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (len > sizeof(s->data) - s->len)
		return 0;
	memcpy(s->data + s->len, p, len);
	s->len += len;
	return len;
}

/* fetch transfers url into s after skipping `from` bytes, given as a long,
 * or as a curl_off_t when from is negative (its absolute value). */
static CURLcode
fetch(CURL *c, const char *url, long from, struct sink *s)
{
	memset(s, 0, sizeof(*s));
	curl_easy_reset(c);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write),
			 CURLE_OK);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEDATA, s), CURLE_OK);
	if (from >= 0)
		assert_int_equal(curl_easy_setopt(c, CURLOPT_RESUME_FROM, from),
				 CURLE_OK);
	else
		assert_int_equal(curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE,
						  (curl_off_t)-from),
				 CURLE_OK);
	return curl_easy_perform(c);
}

static void
test_curl_loads_on_first_call_and_passes_every_argument(void **state)
{
	char path[] = "/tmp/sealauth-dynlib-XXXXXX";
	char url[64], *escaped, *effective = NULL;
	struct sink s;
	curl_off_t got = 0;
	long code = -1;
	CURL *c;
	int fd;

	(void)state;
	assert_false(dynlib_is_loaded("libcurl.so.4"));
	escaped = curl_easy_escape(NULL, "a b/c", 0);
	assert_true(dynlib_is_loaded("libcurl.so.4"));
	assert_true(curl_lib_usable());
	assert_string_equal(escaped, "a%20b%2Fc");
	curl_free(escaped);

	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "0123456789abcdefghij", 20), 20);
	close(fd);
	snprintf(url, sizeof(url), "file://%s", path);
	assert_non_null(c = curl_easy_init());

	/* The whole file: the data, a function and a string. */
	assert_int_equal(fetch(c, url, 0, &s), CURLE_OK);
	assert_int_equal(s.len, 20);
	assert_memory_equal(s.data, "0123456789abcdefghij", 20);
	assert_int_equal(curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got),
			 CURLE_OK);
	assert_int_equal(got, 20);
	assert_int_equal(curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code),
			 CURLE_OK);
	assert_int_equal(code, 0);
	assert_int_equal(
	    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective), CURLE_OK);
	assert_string_equal(effective, url);

	/* A long: the transfer starts 15 bytes in. */
	assert_int_equal(fetch(c, url, 15L, &s), CURLE_OK);
	assert_int_equal(s.len, 5);
	assert_memory_equal(s.data, "fghij", 5);

	/* A curl_off_t: 12 bytes in. */
	assert_int_equal(fetch(c, url, -12L, &s), CURLE_OK);
	assert_int_equal(s.len, 8);
	assert_memory_equal(s.data, "cdefghij", 8);
	assert_int_equal(curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got),
			 CURLE_OK);
	assert_int_equal(got, 8);

	/* An option number of no known type is refused. */
	assert_int_equal(curl_easy_setopt(c, (CURLoption)99999, 1L),
			 CURLE_UNKNOWN_OPTION);
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");

	curl_easy_cleanup(c);
	unlink(path);
}

static void
test_libpq_loads_on_first_call(void **state)
{
	PQconninfoOption *opts;
	char *err = NULL;
	const char *port = NULL;

	(void)state;
	assert_false(dynlib_is_loaded("libpq.so.5"));
	opts = PQconninfoParse("host=127.0.0.1 port=1 dbname=sealauth", &err);
	assert_true(dynlib_is_loaded("libpq.so.5"));
	/* Asked afterwards, the loader answers from the load just done. */
	assert_true(pq_lib_usable());
	assert_non_null(opts);
	assert_null(err);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	assert_non_null(port);
	assert_string_equal(port, "1");
	PQconninfoFree(opts);

	/* A malformed string is reported through the library's own message,
	 * which the caller frees with the library's own function. */
	assert_null(PQconninfoParse("host", &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "host"));
	PQfreemem(err);

	/* Port 1 on loopback: nobody listens. */
	assert_int_equal(PQping("host=127.0.0.1 port=1 connect_timeout=2"),
			 PQPING_NO_RESPONSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_library_fails),
	    cmocka_unit_test(test_missing_symbol_fails_the_whole_load),
	    cmocka_unit_test(test_symbols_resolve_to_the_library),
	    cmocka_unit_test(
		test_curl_loads_on_first_call_and_passes_every_argument),
	    cmocka_unit_test(test_libpq_loads_on_first_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
