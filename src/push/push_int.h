/*
 * push_int.h - what push.c, the providers (FCM, UnifiedPush, log, none) and
 * the HTTP transport share; private to src/push (and its tests). Layers
 * inside push, top down: push.c (queue, workers, retries) calls a provider
 * through struct push_provider; a provider makes one attempt and may use the
 * transport (push_http.c), which knows nothing of providers or results.
 */
#ifndef SEALAUTH_PUSH_INT_H
#define SEALAUTH_PUSH_INT_H

#include "push/push.h"

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

struct push_http_resp;
/*
 * push_result_transport turns a failed push_http_post into an attempt
 * outcome: timeouts and I/O failures are retried, refusals are final. The
 * transport only reports what happened (push_http_resp); the providers
 * call this to judge it.
 */
void push_result_transport(enum sa_err rc, const struct push_http_resp *resp,
			   struct push_result *res);

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

#endif
