/*
 * test_ws_early.c - which upgrade requests the accept thread takes itself,
 * and that it declines every other one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/ws_early.h"

#define T_LINE "GET /ws/session/sess_abc?token=t0k-EN_1 HTTP/1.1\r\n"
#define T_HOST "Host: auth.example\r\n"
#define T_UPG "Upgrade: websocket\r\n"
#define T_CONN "Connection: Upgrade\r\n"
#define T_VER "Sec-WebSocket-Version: 13\r\n"
#define T_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define T_ORIGIN "Origin: https://auth.example\r\n"

/* t_parse runs the parser on a string; the result, with *r filled. */
static int
t_parse(const char *s, struct ws_early_req *r)
{
	return ws_early_parse(s, strlen(s), r);
}

/* A browser's upgrade, with the headers a browser adds, is taken: every
 * field the server needs is read, and the head ends where it does. */
static void
test_browser_upgrade_taken(void **state)
{
	static const char head[] = T_LINE T_HOST
	    "Connection: keep-alive, Upgrade\r\n"
	    "Pragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\n"
	    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)  \r\n" T_UPG T_ORIGIN
		T_VER "Accept-Encoding: gzip, deflate, br\r\n"
	    "Accept-Language: en-US,en;q=0.9\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
	    "\r\n";
	char buf[sizeof(head) + 16];
	struct ws_early_req r;

	(void)state;
	/* Bytes after the head (a first frame) are not part of it. */
	snprintf(buf, sizeof(buf), "%s%s", head, "\x81\x85");
	assert_int_equal(ws_early_parse(buf, strlen(buf), &r), 1);
	assert_int_equal(r.head_len, strlen(head));
	assert_string_equal(r.path, "/ws/session/sess_abc");
	assert_string_equal(ws_early_query(&r, "token"), "t0k-EN_1");
	assert_null(ws_early_query(&r, "tok"));
	assert_string_equal(r.key, "dGhlIHNhbXBsZSBub25jZQ==");
	assert_int_equal(r.has_origin, 1);
	assert_string_equal(r.origin, "https://auth.example");
	/* Trailing blanks are not part of a value. */
	assert_string_equal(r.ua, "Mozilla/5.0 (X11; Linux x86_64)");
}

/* The least a client may send: no Origin, no User-Agent, no query. */
static void
test_minimal_upgrade_taken(void **state)
{
	struct ws_early_req r;

	(void)state;
	assert_int_equal(
	    t_parse("GET /a/b HTTP/1.1\r\n" T_HOST T_UPG T_CONN T_VER T_KEY
		    "\r\n",
		    &r),
	    1);
	assert_string_equal(r.path, "/a/b");
	assert_int_equal(r.nquery, 0);
	assert_int_equal(r.has_origin, 0);
	assert_string_equal(r.ua, "");
	/* Header names in any case; tokens in any case and order. */
	assert_int_equal(t_parse("GET /a HTTP/1.1\r\nhost: x\r\n"
				 "UPGRADE: WebSocket\r\n"
				 "connection: Upgrade,keep-alive\r\n"
				 "sec-websocket-version:13\r\n"
				 "SEC-WEBSOCKET-KEY:\tk\r\n\r\n",
				 &r),
			 1);
	assert_string_equal(r.key, "k");
}

/* An incomplete head is declined: libmicrohttpd waits for the rest. */
static void
test_incomplete_declined(void **state)
{
	static const char head[] =
	    T_LINE T_HOST T_UPG T_CONN T_VER T_KEY "\r\n";
	struct ws_early_req r;

	(void)state;
	for (size_t n = 0; n < strlen(head); n++)
		assert_int_equal(ws_early_parse(head, n, &r), 0);
	assert_int_equal(ws_early_parse(head, strlen(head), &r), 1);
}

/* Each of these is declined, valid HTTP or not. */
static void
test_others_declined(void **state)
{
	static const char *const bad[] = {
	    /* The request line. */
	    "POST /ws/session/s HTTP/1.1\r\n",
	    "get /ws/session/s HTTP/1.1\r\n",
	    "GET /ws/session/s HTTP/1.0\r\n",
	    "GET  /ws/session/s HTTP/1.1\r\n",
	    "GET /ws/session/s HTTP/1.1 \r\n",
	    "GET /ws/session/s HTTP/1.1\n",
	    "GET http://x/ws/session/s HTTP/1.1\r\n",
	    "GET * HTTP/1.1\r\n",
	    "GET /ws/session/s%41 HTTP/1.1\r\n",
	    "GET /ws/session/s+t HTTP/1.1\r\n",
	    "GET /ws//session/s HTTP/1.1\r\n",
	    "GET /ws/./session/s HTTP/1.1\r\n",
	    "GET /ws/../session/s HTTP/1.1\r\n",
	    "GET /ws/session/s#frag HTTP/1.1\r\n",
	    "GET /ws/session/s\x01 HTTP/1.1\r\n",
	    "GET /ws/session/s? HTTP/1.1\r\n",
	    "GET /ws/session/s?token HTTP/1.1\r\n",
	    "GET /ws/session/s?=x HTTP/1.1\r\n",
	    "GET /ws/session/s?token=a&token=b HTTP/1.1\r\n",
	    "GET /ws/session/s?token=a& HTTP/1.1\r\n",
	    "GET /ws/session/s?token=a%20b HTTP/1.1\r\n",
	    "GET /ws/session/s?token=a+b HTTP/1.1\r\n",
	    "GET /ws/session/s?token=a?b HTTP/1.1\r\n",
	    "GET /ws/session/s?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9 "
	    "HTTP/1.1\r\n",
	};
	static const char rest[] = T_HOST T_UPG T_CONN T_VER T_KEY "\r\n";
	char buf[1024];
	struct ws_early_req r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", bad[i], rest);
		if (ws_early_parse(buf, strlen(buf), &r) != 0)
			fail_msg("taken: %s", bad[i]);
	}
}

/* Headers: each line of these added to a good head makes it declined. */
#define T_L(x)                                                                 \
	{                                                                      \
		x, sizeof(x) - 1                                               \
	}
static void
test_headers_declined(void **state)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
	    T_L("Host: second\r\n"),
	    T_L("Upgrade: websocket\r\n"),
	    T_L("Connection: Upgrade\r\n"),
	    T_L("Sec-WebSocket-Version: 13\r\n"),
	    T_L("Sec-WebSocket-Key: b\r\n"),
	    T_L("Origin: https://a\r\nOrigin: https://b\r\n"),
	    T_L("User-Agent: a\r\nUser-Agent: b\r\n"),
	    T_L("Content-Length: 0\r\n"),
	    T_L("Transfer-Encoding: chunked\r\n"),
	    T_L("Expect: 100-continue\r\n"),
	    T_L("X-Forwarded-For: 192.0.2.1\r\n"),
	    T_L("x-forwarded-for: 192.0.2.1\r\n"),
	    T_L(" Folded: value\r\n"),
	    T_L("X-Folded: a\r\n continued\r\n"),
	    T_L("Bad Name: x\r\n"),
	    T_L("Bad@Name: x\r\n"),
	    T_L(": no name\r\n"),
	    T_L("NoColon\r\n"),
	    T_L("X-Bare-LF: x\n"),
	    T_L("X-Bare-CR: x\ry\r\n"),
	    T_L("X-Nul: a\0b\r\n"),
	    T_L("X-High: caf\xc3\xa9\r\n"),
	    T_L("X-Del: \x7f\r\n"),
	};
	static const char good[] = T_LINE T_HOST T_UPG T_CONN T_VER T_KEY;
	char buf[1024];
	struct ws_early_req r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = sizeof(good) - 1;

		memcpy(buf, good, n);
		memcpy(buf + n, bad[i].s, bad[i].n);
		n += bad[i].n;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
		if (ws_early_parse(buf, n, &r) != 0)
			fail_msg("taken with header %zu: %s", i, bad[i].s);
	}
	/* The same head without the added line is taken. */
	memcpy(buf, good, sizeof(good) - 1);
	memcpy(buf + sizeof(good) - 1, "\r\n", 2);
	assert_int_equal(ws_early_parse(buf, sizeof(good) + 1, &r), 1);
}

/* The handshake's own fields, each missing or wrong, and values too long
 * to keep. */
static void
test_handshake_declined(void **state)
{
	static const char *const bad[] = {
	    T_LINE T_UPG T_CONN T_VER T_KEY,
	    T_LINE "Host:\r\n" T_UPG T_CONN T_VER T_KEY,
	    T_LINE T_HOST T_CONN T_VER T_KEY,
	    T_LINE T_HOST "Upgrade: h2c\r\n" T_CONN T_VER T_KEY,
	    T_LINE T_HOST T_UPG T_VER T_KEY,
	    T_LINE T_HOST T_UPG "Connection: keep-alive\r\n" T_VER T_KEY,
	    T_LINE T_HOST T_UPG T_CONN T_KEY,
	    T_LINE T_HOST T_UPG T_CONN "Sec-WebSocket-Version: 8\r\n" T_KEY,
	    T_LINE T_HOST T_UPG T_CONN "Sec-WebSocket-Version: 13, 8\r\n" T_KEY,
	    T_LINE T_HOST T_UPG T_CONN T_VER,
	    T_LINE T_HOST T_UPG T_CONN T_VER
	    "Sec-WebSocket-Key: 0123456789abcdef0123456789abcdef\r\n",
	};
	char buf[2048];
	struct ws_early_req r;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s\r\n", bad[i]);
		if (ws_early_parse(buf, strlen(buf), &r) != 0)
			fail_msg("taken: %zu", i);
	}
	/* A User-Agent of WS_EARLY_VALUE_MAX bytes does not fit. */
	n = (size_t)snprintf(buf, sizeof(buf), "%sUser-Agent: ",
			     T_LINE T_HOST T_UPG T_CONN T_VER T_KEY);
	memset(buf + n, 'u', WS_EARLY_VALUE_MAX);
	n += WS_EARLY_VALUE_MAX;
	memcpy(buf + n, "\r\n\r\n", 5);
	assert_int_equal(ws_early_parse(buf, n + 4, &r), 0);
	/* One byte less does. */
	memcpy(buf + n - 1, "\r\n\r\n", 5);
	assert_int_equal(ws_early_parse(buf, n + 3, &r), 1);
	assert_int_equal(strlen(r.ua), WS_EARLY_VALUE_MAX - 1);
}

/* More than WS_EARLY_HEAD_MAX bytes of head, or too many lines: declined
 * (libmicrohttpd applies its own limits). */
static void
test_limits_declined(void **state)
{
	static char buf[WS_EARLY_HEAD_MAX + 512];
	struct ws_early_req r;
	size_t n = 0;

	(void)state;
	n = (size_t)snprintf(buf, sizeof(buf), "%s",
			     T_LINE T_HOST T_UPG T_CONN T_VER T_KEY);
	/* Ten lines of 400 bytes: few lines, too many bytes. */
	for (int i = 0; i < 10; i++) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-Pad: ");
		memset(buf + n, 'p', 391);
		n += 391;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	assert_true(n > WS_EARLY_HEAD_MAX);
	memcpy(buf + n, "\r\n", 3);
	assert_int_equal(ws_early_parse(buf, n + 2, &r), 0);
	/* 65 short header lines fit the bytes but not the line count. */
	n = (size_t)snprintf(buf, sizeof(buf), "%s",
			     T_LINE T_HOST T_UPG T_CONN T_VER T_KEY);
	for (int i = 0; i < 60; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: y\r\n");
	memcpy(buf + n, "\r\n", 3);
	assert_int_equal(ws_early_parse(buf, n + 2, &r), 0);
	/* 59 do (64 lines with the five the handshake needs). */
	n -= 6;
	memcpy(buf + n, "\r\n", 3);
	assert_int_equal(ws_early_parse(buf, n + 2, &r), 1);
}

/* ws_has_token reads comma-separated lists. */
static void
test_has_token(void **state)
{
	(void)state;
	assert_true(ws_has_token("Upgrade", "upgrade"));
	assert_true(ws_has_token(" keep-alive ,\tUpgrade ", "upgrade"));
	assert_false(ws_has_token("Upgraded", "upgrade"));
	assert_false(ws_has_token("up grade", "upgrade"));
	assert_false(ws_has_token("", "upgrade"));
	assert_false(ws_has_token(NULL, "upgrade"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_browser_upgrade_taken),
	    cmocka_unit_test(test_minimal_upgrade_taken),
	    cmocka_unit_test(test_incomplete_declined),
	    cmocka_unit_test(test_others_declined),
	    cmocka_unit_test(test_headers_declined),
	    cmocka_unit_test(test_handshake_declined),
	    cmocka_unit_test(test_limits_declined),
	    cmocka_unit_test(test_has_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
