/*
 * fake_http.h - a loopback HTTP server for tests that talk to a remote
 * service (the push tests' FCM and UnifiedPush endpoints). It accepts
 * every connection on 127.0.0.1 on a free port, one thread per connection,
 * collects each request's body (up to FAKE_HTTP_BODY_MAX bytes, more is
 * flagged, not kept) and hands the complete request to the test's answer
 * function.
 */
#ifndef SEALAUTH_FAKE_HTTP_H
#define SEALAUTH_FAKE_HTTP_H

#include <stddef.h>

#include <microhttpd.h>

#define FAKE_HTTP_BODY_MAX 16384

/* A complete request: body is NUL-terminated; overflow is 1 when the body
 * was longer than FAKE_HTTP_BODY_MAX and was cut. */
struct fake_http_req {
	struct MHD_Connection *c;
	const char *method;
	const char *url;
	const char *body;
	size_t len;
	int overflow;
};

struct fake_http_hooks {
	/* Answers a complete request (queue a response, e.g. fake_http_reply).
	 */
	enum MHD_Result (*answer)(void *arg, const struct fake_http_req *rq);
	/* May be NULL: called when a request's headers arrive, before its
	 * body, on the connection's thread. */
	void (*arrive)(void *arg, const char *url);
	/* May be NULL: called for each new TCP connection. */
	void (*connect)(void *arg);
	void *arg;
};

struct fake_http;

/* fake_http_start starts the server (the test fails if it cannot). */
struct fake_http *fake_http_start(const struct fake_http_hooks *hooks);
unsigned short fake_http_port(const struct fake_http *h);
/* fake_http_stop stops the server, waiting for its threads, and frees it. */
void fake_http_stop(struct fake_http *h);

/* fake_http_reply queues status with body (may be NULL: empty) of type
 * ctype (may be NULL) and a Location header (may be NULL). */
enum MHD_Result fake_http_reply(struct MHD_Connection *c, unsigned status,
				const char *ctype, const char *body,
				const char *location);
/* fake_http_header copies a request header into out ("" when absent). */
void fake_http_header(struct MHD_Connection *c, const char *name, char *out,
		      size_t n);

#endif
