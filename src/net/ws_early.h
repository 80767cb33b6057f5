/*
 * ws_early.h - reading a WebSocket upgrade that arrived whole with its
 * connection, so that the accept thread can answer it itself (http.c,
 * early_upgrade) instead of handing the connection to libmicrohttpd.
 *
 * ws_early_parse takes the bytes peeked from a new connection and accepts
 * only the plainest complete request head:
 *
 *   - the request line "GET <target> HTTP/1.1", the target an absolute
 *     path of letters, digits and "-._~/" with an optional query of
 *     "name=value" pairs of the same characters (no percent-escapes, no
 *     '+', so the target reads the same decoded or not; no name twice);
 *   - header lines "Name: value" with token names and printable ASCII
 *     values (no obs-text, no folding), each ended by CRLF, then a blank
 *     line, all within WS_EARLY_HEAD_MAX bytes;
 *   - exactly one Host, Upgrade (with the token "websocket"), Connection
 *     (with the token "upgrade"), Sec-WebSocket-Version (13) and
 *     Sec-WebSocket-Key; at most one Origin and User-Agent;
 *   - no Content-Length, Transfer-Encoding, Expect or X-Forwarded-For.
 *
 * Anything else is declined, whether valid or not: the caller then hands
 * the connection to libmicrohttpd with nothing read, which answers it as
 * it answers every request. So this parser only ever accepts a subset of
 * what the libmicrohttpd path accepts, and never refuses anything itself.
 */
#ifndef SEALAUTH_WS_EARLY_H
#define SEALAUTH_WS_EARLY_H

#include <stddef.h>

#define WS_EARLY_HEAD_MAX 4096	 /* bytes peeked and parsed at most */
#define WS_EARLY_TARGET_MAX 1024 /* the target, query included */
#define WS_EARLY_VALUE_MAX 512	 /* Origin and User-Agent */
#define WS_EARLY_QUERY_MAX 8	 /* query arguments */

struct ws_early_req {
	size_t head_len; /* the request head's bytes, blank line included */
	char path[WS_EARLY_TARGET_MAX];
	/* The query's arguments, split in qbuf: names and values. */
	char qbuf[WS_EARLY_TARGET_MAX];
	const char *qname[WS_EARLY_QUERY_MAX];
	const char *qvalue[WS_EARLY_QUERY_MAX];
	size_t nquery;
	char key[32];
	char origin[WS_EARLY_VALUE_MAX]; /* "" when has_origin is 0 */
	int has_origin;
	char ua[WS_EARLY_VALUE_MAX]; /* "" when none */
};

/*
 * ws_early_parse reads the n bytes at buf; 1 when they start with a
 * request head of the form above (out filled, out->head_len its length),
 * 0 to decline.
 */
int ws_early_parse(const char *buf, size_t n, struct ws_early_req *out);

/* ws_has_token tells whether a comma-separated header value (may be NULL)
 * lists token, compared without case. */
int ws_has_token(const char *value, const char *token);

/* ws_early_query returns the value of a query argument, or NULL. */
const char *ws_early_query(const struct ws_early_req *r, const char *name);

#endif
