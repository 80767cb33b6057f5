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
 * both. What push.c, the providers and the HTTP transport share is in the
 * private push_int.h.
 */
#ifndef SEALAUTH_PUSH_H
#define SEALAUTH_PUSH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "core/errors.h"

struct metrics;

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
	long backoff_ms;	 /* first retry delay, doubling; default 500 */
	int workers;		 /* sending threads, default 2 */
	size_t queue_max;	 /* queued messages, default 10000 */
	struct metrics *metrics; /* counts outcomes by provider; may be NULL */
};

/* Where a message goes: exactly one of the two is set (non-NULL). */
struct push_target {
	const char *fcm_token; /* FCM registration token */
	const char *endpoint;  /* UnifiedPush endpoint URL */
};

/*
 * Called once per accepted push_send, on a push worker thread (for the log
 * and none providers: on the caller's thread, before push_send returns), with
 * the final outcome: SA_OK when delivered, else the last error (SA_ERR_PUSH
 * for a refusal by the push service or by our endpoint rules,
 * SA_ERR_TIMEOUT, SA_ERR_SHUTTING_DOWN when the pusher closed first,
 * SA_ERR_REPLAY when a retry was no longer wanted). provider names what
 * took the message ("fcm", "unifiedpush", "log": written to the log only,
 * "none": dropped), so an audit row can say where a message went; reason is
 * a short text; both are valid during the call only. attempts counts the
 * delivery attempts made.
 */
typedef void (*push_done_cb)(enum sa_err rc, const char *provider,
			     const char *reason, int attempts, void *arg);

/*
 * Asked on a push worker before each retry (never before the first
 * attempt) with the arg of push_send_while: nonzero while the message is
 * still needed. When it says no, the message is not sent again and the
 * done callback runs with SA_ERR_REPLAY and a reason that starts "not
 * retried". It must not block for long: it holds a worker.
 */
typedef int (*push_wanted_cb)(void *arg);

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
 * push_send_while is push_send for a message that may stop being needed
 * while it waits for a retry, such as a login push once the login was
 * answered or ended: wanted (may be NULL) is asked before every retry.
 */
enum sa_err push_send_while(struct pusher *p, const struct push_target *t,
			    json_t *msg, push_wanted_cb wanted, push_done_cb cb,
			    void *arg);

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

#endif
