/*
 * http_int.h - what the parts of the HTTP server share and its callers do
 * not see: the state of one connection and of one request, and the strict
 * framing checks (http_strict.c) that http.c runs on a request's first call.
 */
#ifndef SEALAUTH_HTTP_INT_H
#define SEALAUTH_HTTP_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "core/util.h"
#include "net/http.h"
#include "net/netaddr.h"

/* Route parameters are short ids; a smaller request struct also keeps
 * glibc from consolidating its free lists on every request. */
#define PARAMS_MAX_LEN 256

/*
 * http_header_overdue tells whether a connection waiting for request
 * headers since since_ms (its opening or its previous answer) is past the
 * header deadline of limit_ms at now_ms. A worker stamps since_ms when it
 * ends a request, with no lock the sweeper holds, so it can be later than
 * the now_ms the sweeper read before its walk: that connection was served
 * a moment ago and is not overdue (the unsigned difference would wrap).
 */
static inline int
http_header_overdue(uint64_t now_ms, uint64_t since_ms, uint64_t limit_ms)
{
	return since_ms <= now_ms && now_ms - since_ms >= limit_ms;
}

/*
 * What the server knows of one connection, from its opening to its close
 * (MHD's socket context): enough to cut a connection whose request headers
 * are late, and to mark a request line that decoded to a NUL byte.
 */
struct conn_state {
	struct conn_state *prev, *next; /* srv->conns, under srv->conn_mu */
	int fd;
	_Atomic uint64_t since_ms; /* opened, or its last request ended */
	atomic_int in_request;	   /* headers complete; being served */
	atomic_int upgraded;	   /* a WebSocket now: never cut here */
	atomic_int bad_url;	   /* %00 in the path or query */
	int cut;		   /* shut down by the sweeper */
	/* Counted in srv's connection counts (conn_count.h) under addr
	 * (has_addr 0: in the total only), set when MHD starts it; 0: over
	 * a limit, shut down and never served. handed: the count went with
	 * the connection's WebSocket, which gives it back when it ends. */
	int counted, has_addr, handed;
	struct netaddr addr;
};

struct ws_early_req;

struct http_request {
	struct http_server *srv;
	struct conn_state *cs;
	/* NULL for an upgrade the accept thread answers (early_upgrade):
	 * its query is read from wsreq, it has no other headers. */
	struct MHD_Connection *conn;
	const struct ws_early_req *wsreq;
	char id[24];
	char ip[NETADDR_TEXT_MAX];
	const char *ua;
	const char *origin;
	char method[16];
	char *path;
	const struct route *route;
	char allow[64]; /* methods of a path matched with another method */
	char scratch[PARAMS_MAX_LEN];
	const char *params[HTTP_PARAMS_MAX];
	size_t nparams;
	struct buf body;
	enum sa_err early; /* an error found while the body streams in */
	json_t *json;
	char *raw_query; /* the query string as sent, for signed URLs */
	/* The request target as MHD's request-line parser left it, before
	 * unescaping: where it starts and its length up to the first NUL. */
	uintptr_t line_uri;
	size_t line_uri_len;
	uint64_t start_us;
	unsigned int status; /* what was answered, for the access log */
	int upgraded;
	http_cont cont; /* set while parked (http_req_park) */
	void *cont_arg;
};

/* http_tchar tells whether c is a tchar of RFC 9110 §5.6.2, a character
 * of a header name (ASCII only, whatever the locale). */
int http_tchar(unsigned char c);

/* http_conn_state_of returns the state of conn (its MHD socket context), or
 * NULL when none could be allocated. */
struct conn_state *http_conn_state_of(struct MHD_Connection *conn);

/*
 * http_strict_check refuses a request that two HTTP parsers could read
 * differently (http_strict.c lists what it checks). url and version are
 * what MHD passed to the access handler. Returns NULL, or the reason with
 * *field the header or part concerned.
 */
const char *http_strict_check(struct http_request *req, const char *url,
			      const char *version, const char **field);

/* http_unescape_url is MHD's unescape callback: MHD's own decoding, and
 * the connection marked (bad_url) when an escape decodes to NUL. */
size_t http_unescape_url(void *cls, struct MHD_Connection *conn, char *s);

#endif
