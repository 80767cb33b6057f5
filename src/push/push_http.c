/*
 * push_http.c - the libcurl plumbing shared by the push providers: a
 * bounded POST on a caller-owned easy handle, and the enforcement of the
 * address rules (core/ipaddr.c) that keep device-supplied endpoints off
 * internal networks (SSRF).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "push/push_int.h"
#include "core/ipaddr.h"
#include "core/util.h"

/* State of one transfer, shared with the callbacks. */
struct http_xfer {
	const struct push_http_req *rq;
	struct push_http_resp *resp;
	int plain;    /* the URL is http:// */
	int refused;  /* the address rules refused a connection */
	int overflow; /* the body passed PUSH_HTTP_BODY_MAX */
	int aborted;  /* the pusher is shutting down */
};

/*
 * http_opensocket is where the address rules are enforced: curl calls it
 * with the address it is about to connect to, after name resolution, so a
 * name that resolves to an internal address is caught, whatever the name.
 */
static curl_socket_t
http_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct http_xfer *x = clientp;
	const struct sockaddr *sa = &addr->addr;
	socklen_t len = addr->addrlen;
	const char *why;

	if (purpose != CURLSOCKTYPE_IPCXN)
		goto refuse;
	if (x->rq->device) {
		why = ipaddr_refused(sa, len);
		if (why != NULL && !x->rq->allow_private) {
			snprintf(x->resp->error, sizeof(x->resp->error),
				 "endpoint address refused: %s", why);
			goto refuse;
		}
		/* Plain http would expose the message on the wire; it is
		 * only for development against a loopback distributor. */
		if (x->plain && !ipaddr_is_loopback(sa, len)) {
			snprintf(x->resp->error, sizeof(x->resp->error),
				 "endpoint refused: http:// only on loopback");
			goto refuse;
		}
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC,
		      addr->protocol);
refuse:
	x->refused = 1;
	return CURL_SOCKET_BAD;
}

/* http_write keeps at most PUSH_HTTP_BODY_MAX bytes; more aborts. */
static size_t
http_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct http_xfer *x = userdata;
	struct push_http_resp *r = x->resp;
	size_t n = size * nmemb;

	if (n > PUSH_HTTP_BODY_MAX - r->body_len) {
		x->overflow = 1;
		return 0;
	}
	memcpy(r->body + r->body_len, ptr, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

/* http_progress aborts the transfer once the pusher's deadline passes. */
static int
http_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
	      curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_xfer *x = clientp;
	uint64_t at;

	if (x->rq->abort_at_ms == NULL)
		return 0;
	at = atomic_load(x->rq->abort_at_ms);
	if (at != 0 && now_mono_ms() >= at) {
		x->aborted = 1;
		return 1;
	}
	return 0;
}

#define SETOPT(h, opt, val)                                                    \
	do {                                                                   \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)           \
			goto setopt_failed;                                    \
	} while (0)

/*
 * push_http_post: see push.h. The handle is reset before use, which keeps
 * its connection cache, so consecutive posts to one service reuse a
 * keep-alive connection.
 */
enum sa_err
push_http_post(void *h, const struct push_http_req *rq,
	       struct push_http_resp *resp)
{
	struct http_xfer x = {rq, resp, 0, 0, 0, 0};
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *protocols;
	CURLcode cc;
	curl_off_t ra = 0;
	long status = 0;

	resp->status = 0;
	resp->retry_after_ms = 0;
	resp->body[0] = '\0';
	resp->body_len = 0;
	resp->error[0] = '\0';
	if (rq->abort_at_ms != NULL && atomic_load(rq->abort_at_ms) != 0 &&
	    now_mono_ms() >= atomic_load(rq->abort_at_ms)) {
		snprintf(resp->error, sizeof(resp->error), "shutting down");
		return SA_ERR_SHUTTING_DOWN;
	}
	x.plain = strncasecmp(rq->url, "http://", 7) == 0;
	protocols = rq->allow_private ? "http,https" : "https";

	curl_easy_reset(h);
	SETOPT(h, CURLOPT_URL, rq->url);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, protocols);
	SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_PROXY, ""); /* an environment proxy would hide
					 the address we must check */
	SETOPT(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms);
	SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(h, CURLOPT_USERAGENT, "sealauth/" SEALAUTH_VERSION);
	SETOPT(h, CURLOPT_POST, 1L);
	SETOPT(h, CURLOPT_POSTFIELDS, rq->body);
	SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	SETOPT(h, CURLOPT_HTTPHEADER, (struct curl_slist *)rq->headers);
	SETOPT(h, CURLOPT_OPENSOCKETFUNCTION, http_opensocket);
	SETOPT(h, CURLOPT_OPENSOCKETDATA, &x);
	SETOPT(h, CURLOPT_WRITEFUNCTION, http_write);
	SETOPT(h, CURLOPT_WRITEDATA, &x);
	SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	SETOPT(h, CURLOPT_XFERINFOFUNCTION, http_progress);
	SETOPT(h, CURLOPT_XFERINFODATA, &x);
	SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PUSH_HTTP_BODY_MAX);

	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra > 0)
		resp->retry_after_ms = ra > 3600 ? 3600000L : (long)ra * 1000L;
	/* The handle keeps pointers to our stack; drop them. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);

	if (x.aborted) {
		snprintf(resp->error, sizeof(resp->error), "shutting down");
		return SA_ERR_SHUTTING_DOWN;
	}
	if (x.refused) {
		if (resp->error[0] == '\0')
			snprintf(resp->error, sizeof(resp->error),
				 "connection refused by the address rules");
		return SA_ERR_FORBIDDEN;
	}
	if (cc == CURLE_UNSUPPORTED_PROTOCOL) {
		snprintf(resp->error, sizeof(resp->error),
			 "URL scheme not allowed (%s only)", protocols);
		return SA_ERR_FORBIDDEN;
	}
	if (status > 0 &&
	    (cc == CURLE_OK || x.overflow || cc == CURLE_FILESIZE_EXCEEDED)) {
		/* An over-long body still carries a status that decides. */
		resp->status = status;
		return SA_OK;
	}
	snprintf(resp->error, sizeof(resp->error), "%s",
		 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return SA_ERR_TIMEOUT;
	return SA_ERR_IO;

setopt_failed:
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	snprintf(resp->error, sizeof(resp->error), "curl option refused");
	return SA_ERR_INTERNAL;
}
