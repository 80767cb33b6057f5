/*
 * push.h - delivery of messages to phones: FCM HTTP v1, UnifiedPush, a log
 * provider for development and a no-op provider for benchmarks.
 *
 * Sending is asynchronous. push_send validates and queues a message and
 * returns at once; a pool of worker threads delivers it, retries transient
 * failures with exponential backoff and finally calls the caller's callback
 * exactly once with the outcome. The HTTP handlers never wait on the network.
 * The log and none providers touch no network: they run on the caller's
 * thread, inside push_send, which saves two thread hand-offs per login.
 *
 * The provider is chosen per target in one place (push.c): an FCM token goes
 * to FCM, an endpoint URL to UnifiedPush; mode "log" and mode "none" replace
 * both. Callers use the functions of the first part of this file only; the
 * second part is shared by push.c and the provider files.
 */
#ifndef SEALAUTH_PUSH_H
#define SEALAUTH_PUSH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "core/errors.h"

struct pusher;

/*
 * Configuration of a pusher. Zero or NULL fields take the default shown.
 * push_open copies what it keeps, so the strings need not outlive the call.
 */
struct push_config {
	const char *mode; /* "auto" (default), "log", "none" */
	const char
	    *fcm_service_account_path; /* NULL or "": FCM not configured */
	const char
	    *fcm_token_url; /* replaces the account's token_uri (tests) */
	const char
	    *fcm_send_url; /* base, default "https://fcm.googleapis.com" */
	int allow_private_targets; /* 1: endpoints may be loopback or private,
				      and http:// is allowed (development) */
	long timeout_ms;	   /* per HTTP request, default 5000 */
	int max_attempts;	   /* default 3 */
	long backoff_ms;  /* first retry delay, doubling; default 500 */
	int workers;	  /* sending threads, default 2 */
	size_t queue_max; /* queued messages, default 10000 */
};

/* Where a message goes: exactly one of the two is set (non-NULL). */
struct push_target {
	const char *fcm_token; /* FCM registration token */
	const char *endpoint;  /* UnifiedPush endpoint URL */
};

/*
 * Called once per accepted push_send, on a push worker thread (for the log
 * and none providers: on the caller's thread, before push_send returns), with
 * the
 * final outcome: SA_OK when delivered, else the last error (SA_ERR_PUSH for
 * a refusal by the push service or by our endpoint rules, SA_ERR_TIMEOUT,
 * SA_ERR_SHUTTING_DOWN when the pusher closed first). reason is a short text
 * valid during the call only; attempts counts the delivery attempts made.
 */
typedef void (*push_done_cb)(enum sa_err rc, const char *reason, int attempts,
			     void *arg);

/* Limits on what push_send accepts. */
#define PUSH_MSG_MAX 4096	/* bytes of compact JSON; FCM's data limit */
#define PUSH_FCM_TOKEN_MAX 4096 /* bytes of an FCM registration token */
#define PUSH_ENDPOINT_MAX 2048	/* bytes of a UnifiedPush endpoint URL */
#define PUSH_REASON_MAX 256	/* bytes of a reason text, with its NUL */

/*
 * push_open checks the configuration, loads the FCM service account when one
 * is configured (and the mode needs it) and starts the workers. A missing or
 * malformed service-account field fails with SA_ERR_CONFIG and a log line
 * naming the field. On success *out owns the pusher; close with push_close.
 */
enum sa_err push_open(const struct push_config *cfg, struct pusher **out);

/*
 * push_send queues msg (a JSON object; the reference is stolen whatever the
 * outcome) for the target and returns at once. On SA_OK cb (may be NULL)
 * will run exactly once. Otherwise cb never runs and the error says why:
 * SA_ERR_BAD_REQUEST (not exactly one target, a target or message too long
 * or malformed), SA_ERR_PUSH (an FCM token but FCM is not configured),
 * SA_ERR_UNAVAILABLE (queue full), SA_ERR_SHUTTING_DOWN, SA_ERR_NOMEM.
 * Safe to call from any thread.
 */
enum sa_err push_send(struct pusher *p, const struct push_target *t,
		      json_t *msg, push_done_cb cb, void *arg);

/*
 * push_close stops accepting messages, lets attempts in flight finish for at
 * most about timeout_ms (then aborts them), fails every message still queued
 * with SA_ERR_SHUTTING_DOWN through its callback, joins the workers and
 * frees the pusher. NULL is ignored.
 */
void push_close(struct pusher *p);

/* push_mode names what the pusher does, for /health and logs:
 * "fcm+unifiedpush", "unifiedpush", "log" or "none". */
const char *push_mode(const struct pusher *p);

/* ---- Shared by push.c and the providers --------------------------------- */

/*
 * What one delivery attempt may use. Each worker owns two curl easy handles
 * (never shared between threads): "service" for configured services (FCM
 * and its token endpoint) and "device" for endpoints that devices gave us,
 * so a connection opened to a configured host is never reused for a device
 * endpoint that bypassed the address rules.
 */
struct push_call {
	const struct push_config *cfg; /* the pusher's copy, defaults applied */
	struct push_fcm *fcm;	       /* NULL when FCM is not configured */
	void *service;		       /* CURL * of this worker */
	void *device;		       /* CURL * of this worker */
	const _Atomic uint64_t *abort_at_ms; /* non-zero: abort transfers
						after this monotonic time */
	const char *target;		     /* FCM token or endpoint URL */
	json_t *msg;			     /* borrowed */
	const char *body;		     /* msg as compact JSON */
	size_t body_len;
};

/* The outcome of one attempt, filled by a provider. */
struct push_result {
	enum sa_err rc;	     /* SA_OK: delivered */
	int retry;	     /* 1: transient failure, worth another attempt */
	long retry_after_ms; /* the service's Retry-After hint, 0 if none */
	char reason[PUSH_REASON_MAX];
};

/*
 * A provider: send makes one attempt and fills res. Thread-safe. A local
 * provider does no I/O and never asks for a retry, so push_send runs it on
 * the caller's thread instead of queueing it for a worker.
 */
struct push_provider {
	const char *name;
	void (*send)(const struct push_call *call, struct push_result *res);
	int local;
};

extern const struct push_provider push_fcm_provider;
extern const struct push_provider push_unifiedpush_provider;
extern const struct push_provider push_log_provider;
extern const struct push_provider push_none_provider;

/* push_result_set fills res with a printf-formatted reason. */
void push_result_set(struct push_result *res, enum sa_err rc, int retry,
		     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- FCM state (push_fcm.c) ---- */

struct push_fcm;

/*
 * push_fcm_open reads the service-account JSON at path (at most 64 KiB):
 * type "service_account", project_id, client_email, private_key (RSA PEM)
 * and token_uri. token_url and send_url override the token URI and the send
 * base (NULL: from the file, https://fcm.googleapis.com); both must be https
 * unless allow_http. The key text is wiped once the EVP_PKEY holds the key.
 * *out is freed with push_fcm_close.
 */
enum sa_err push_fcm_open(const char *path, const char *token_url,
			  const char *send_url, int allow_http,
			  struct push_fcm **out);
void push_fcm_close(struct push_fcm *f);

/* ---- HTTP (push_http.c) ---- */

#define PUSH_HTTP_BODY_MAX 16384 /* response bytes kept; more aborts */

/* push_http_global_init initialises libcurl once per process. */
enum sa_err push_http_global_init(void);

/* One POST. headers is a struct curl_slist * (may be NULL). */
struct push_http_req {
	const char *url;
	void *headers;
	const char *body;
	size_t body_len;
	long timeout_ms;
	int device; /* 1: a device endpoint; the address rules apply */
	int allow_private;
	const _Atomic uint64_t *abort_at_ms;
};

struct push_http_resp {
	long status;	     /* HTTP status, 0 when none was received */
	long retry_after_ms; /* Retry-After, 0 if absent */
	char body[PUSH_HTTP_BODY_MAX + 1]; /* NUL-terminated, truncated */
	size_t body_len;
	char error[PUSH_REASON_MAX]; /* why there is no status */
};

/*
 * push_http_post sends the request on the easy handle h (reset first, so
 * its connections are kept alive for the next call) with redirects off,
 * proxies off and no signals. SA_OK means a response status arrived (any
 * status). Otherwise: SA_ERR_TIMEOUT, SA_ERR_FORBIDDEN (a device endpoint
 * resolved to a refused address, or used http:// off loopback),
 * SA_ERR_SHUTTING_DOWN (aborted), SA_ERR_IO (other transport failures),
 * with resp->error saying why.
 */
enum sa_err push_http_post(void *h, const struct push_http_req *rq,
			   struct push_http_resp *resp);

/*
 * push_http_transport_result turns a failed push_http_post into an attempt
 * outcome: timeouts and I/O failures are retried, refusals are final.
 */
void push_http_transport_result(enum sa_err rc,
				const struct push_http_resp *resp,
				struct push_result *res);

/*
 * push_http_addr_refused tells why a device endpoint may not connect to an
 * address: "loopback", "private", "link-local", "multicast", "unspecified",
 * "shared address space (CGNAT)", "reserved", or NULL when it is a public
 * unicast address. IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by
 * the IPv4 address they carry.
 */
const char *push_http_addr_refused(const struct sockaddr *sa, socklen_t len);

/* push_http_is_loopback tells whether an address is 127/8 or ::1. */
int push_http_is_loopback(const struct sockaddr *sa, socklen_t len);

#endif
