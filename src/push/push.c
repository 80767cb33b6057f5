/*
 * push.c - the push interface: provider choice, the bounded queue and the
 * worker threads that deliver and retry.
 *
 * Jobs wait in two lists under one mutex: "ready" (FIFO) and "later"
 * (retries, sorted by their not-before time). A retry waiting for its
 * backoff therefore never holds a worker: the workers take ready jobs, and
 * a waiting worker sleeps on the condition variable until either a job is
 * queued or the earliest retry is due. Every accepted job leaves the pusher
 * through job_finish, which runs the callback exactly once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "core/curl_lib.h"
#include "core/json_out.h"
#include "core/log.h"
#include "core/metrics.h"
#include "push/push_int.h"
#include "core/util.h"

#define PUSH_WORKERS_MAX 64
#define PUSH_ATTEMPTS_MAX 10
#define PUSH_TIMEOUT_MAX 60000
#define PUSH_BACKOFF_MAX 30000 /* also the cap of any one retry delay */
#define PUSH_QUEUE_MAX 1000000

struct push_job {
	struct push_job *next;
	const struct push_provider *prov;
	char *target;
	json_t *msg;
	char *body; /* msg as compact JSON */
	size_t body_len;
	push_wanted_cb wanted; /* asked before each retry; may be NULL */
	push_done_cb cb;
	void *arg;
	int attempts;
	uint64_t not_before_ms;
	struct push_result last;
	struct metrics *metrics; /* counts the outcome; may be NULL */
};

struct push_worker {
	struct pusher *p;
	pthread_t thread;
	int started;
	CURL *service;
	CURL *device;
};

struct pusher {
	struct push_config cfg; /* defaults applied; strings below */
	char *mode;
	char *fcm_path;
	char *fcm_token_url;
	char *fcm_send_url;
	const char *describe; /* for push_mode */
	int http; /* the providers send over HTTP: workers need handles */
	const struct push_provider *fcm_prov;
	const struct push_provider *up_prov;
	struct push_fcm *fcm;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* work arrived, or shutting down */
	struct push_job *ready, *ready_tail;
	struct push_job *later; /* sorted by not_before_ms */
	size_t queued;		/* ready + later */
	int stopping;
	_Atomic uint64_t abort_at_ms;

	struct push_worker *workers;
	int nworkers;
};

void
push_result_set(struct push_result *res, enum sa_err rc, int retry,
		const char *fmt, ...)
{
	va_list ap;

	res->rc = rc;
	res->retry = retry;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

void
push_result_transport(enum sa_err rc, const struct push_http_resp *resp,
		      struct push_result *res)
{
	switch (rc) {
	case SA_ERR_TIMEOUT:
		push_result_set(res, SA_ERR_TIMEOUT, 1, "timeout: %s",
				resp->error);
		break;
	case SA_ERR_IO:
		push_result_set(res, SA_ERR_PUSH, 1, "transport: %s",
				resp->error);
		break;
	case SA_ERR_SHUTTING_DOWN:
		push_result_set(res, SA_ERR_SHUTTING_DOWN, 0, "%s",
				resp->error);
		break;
	case SA_ERR_FORBIDDEN:
		push_result_set(res, SA_ERR_PUSH, 0, "%s", resp->error);
		break;
	default:
		push_result_set(res, rc, 0, "%s", resp->error);
		break;
	}
}

static void
job_free(struct push_job *j)
{
	if (j == NULL)
		return;
	free(j->target);
	json_decref(j->msg);
	if (j->body != NULL)
		OPENSSL_cleanse(j->body, j->body_len); /* may hold a code */
	free(j->body);
	free(j);
}

/*
 * job_finish reports the outcome of a job that leaves the pusher, logs
 * failures (so none goes unnoticed even without a callback) and frees it.
 */
static void
job_finish(struct push_job *j, enum sa_err rc, const char *reason)
{
	if (rc != SA_OK) {
		int dropped = rc == SA_ERR_REPLAY;
		json_t *f = json_pack("{s:s, s:s, s:s, s:i}", "msg", reason,
				      "provider", j->prov->name, "error",
				      sa_err_code(rc), "attempts", j->attempts);
		log_json(dropped ? SA_LOG_INFO : SA_LOG_WARN,
			 dropped ? "push.dropped" : "push.failed", f);
	}
	metrics_add(j->metrics, M_PUSH, j->prov->name,
		    rc == SA_OK		  ? "ok"
		    : rc == SA_ERR_REPLAY ? "dropped"
					  : "failed",
		    1);
	if (j->cb != NULL)
		j->cb(rc, j->prov->name, reason, j->attempts, j->arg);
	job_free(j);
}

/* Queue operations; the caller holds p->mu. */
static void
queue_ready(struct pusher *p, struct push_job *j)
{
	j->next = NULL;
	if (p->ready_tail != NULL)
		p->ready_tail->next = j;
	else
		p->ready = j;
	p->ready_tail = j;
	p->queued++;
}

static void
queue_later(struct pusher *p, struct push_job *j)
{
	struct push_job **pp = &p->later;

	while (*pp != NULL && (*pp)->not_before_ms <= j->not_before_ms)
		pp = &(*pp)->next;
	j->next = *pp;
	*pp = j;
	p->queued++;
}

/*
 * queue_take removes the next job to run: the head of ready, else a due
 * retry, else (when any is set) any job at all for shutdown. NULL when
 * nothing is due; *wait_ms then says how long until the first retry is.
 */
static struct push_job *
queue_take(struct pusher *p, int any, uint64_t *wait_ms)
{
	struct push_job *j = NULL;
	uint64_t now = now_mono_ms();

	*wait_ms = 0;
	if (p->ready != NULL) {
		j = p->ready;
		p->ready = j->next;
		if (p->ready == NULL)
			p->ready_tail = NULL;
	} else if (p->later != NULL &&
		   (any || p->later->not_before_ms <= now)) {
		j = p->later;
		p->later = j->next;
	} else if (p->later != NULL) {
		*wait_ms = p->later->not_before_ms - now;
	}
	if (j != NULL) {
		j->next = NULL;
		p->queued--;
	}
	return j;
}

/* cond_wait_ms waits on the pusher's condition for at most ms. */
static void
cond_wait_ms(struct pusher *p, uint64_t ms)
{
	struct timespec ts = mono_deadline_ms(ms);

	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* retry_delay_ms is backoff_ms doubled per earlier attempt, raised to the
 * service's Retry-After hint, and capped. */
static uint64_t
retry_delay_ms(const struct pusher *p, const struct push_job *j)
{
	uint64_t d = (uint64_t)p->cfg.backoff_ms;

	for (int i = 1; i < j->attempts && d < PUSH_BACKOFF_MAX; i++)
		d *= 2;
	if (j->last.retry_after_ms > 0 && (uint64_t)j->last.retry_after_ms > d)
		d = (uint64_t)j->last.retry_after_ms;
	return d > PUSH_BACKOFF_MAX ? PUSH_BACKOFF_MAX : d;
}

/*
 * attempt_once makes one delivery attempt of j with the given transfer
 * handles (NULL for local providers) and leaves the outcome in j->last.
 */
static void
attempt_once(struct pusher *p, struct push_job *j, void *service, void *device)
{
	struct push_call call = {
	    .cfg = &p->cfg,
	    .fcm = p->fcm,
	    .service = service,
	    .device = device,
	    .abort_at_ms = &p->abort_at_ms,
	    .target = j->target,
	    .msg = j->msg,
	    .body = j->body,
	    .body_len = j->body_len,
	};

	memset(&j->last, 0, sizeof(j->last));
	j->attempts++;
	j->prov->send(&call, &j->last);
}

/*
 * worker_handles makes the worker's two transfer handles on its first HTTP
 * send. libcurl is loaded then (core/curl_lib.c), not at start: a server
 * whose push mode never sends over HTTP does not map it at all.
 */
static enum sa_err
worker_handles(struct push_worker *w)
{
	if (w->service != NULL && w->device != NULL)
		return SA_OK;
	/* Loads libcurl, with its global initialisation, the first time. */
	if (!curl_lib_usable())
		return SA_ERR_UNAVAILABLE;
	if (w->service == NULL)
		w->service = curl_easy_init();
	if (w->device == NULL)
		w->device = curl_easy_init();
	return w->service != NULL && w->device != NULL ? SA_OK : SA_ERR_NOMEM;
}

/*
 * worker_attempt runs one attempt of j and decides what happens next: done
 * (callback), or back into the queue to wait for its retry.
 */
static void
worker_attempt(struct push_worker *w, struct push_job *j)
{
	struct pusher *p = w->p;
	char reason[PUSH_REASON_MAX + 48];
	enum sa_err rc;

	if (p->http && (rc = worker_handles(w)) != SA_OK) {
		job_finish(j, rc,
			   rc == SA_ERR_NOMEM
			       ? "cannot start an HTTP transfer: out of memory"
			       : "cannot start an HTTP transfer: libcurl could "
				 "not be loaded (see the server log)");
		return;
	}
	attempt_once(p, j, w->service, w->device);
	if (j->last.rc == SA_OK || !j->last.retry ||
	    j->attempts >= p->cfg.max_attempts) {
		job_finish(j, j->last.rc, j->last.reason);
		return;
	}
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		snprintf(reason, sizeof(reason),
			 "shutting down; last attempt: %s", j->last.reason);
		job_finish(j, SA_ERR_SHUTTING_DOWN, reason);
		return;
	}
	j->not_before_ms = now_mono_ms() + retry_delay_ms(p, j);
	queue_later(p, j);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	log_debug("push.retry", "%s attempt %d failed, will retry: %s",
		  j->prov->name, j->attempts, j->last.reason);
}

/*
 * retry_wanted asks the sender, before a retry (never before the first
 * attempt), whether the message is still needed: a login answered or
 * ended since must not show up on the phone again.
 */
static int
retry_wanted(const struct push_job *j)
{
	return j->attempts == 0 || j->wanted == NULL || j->wanted(j->arg);
}

/* job_drop finishes a job whose retry is no longer wanted. */
static void
job_drop(struct push_job *j)
{
	char reason[PUSH_REASON_MAX + 64];

	snprintf(reason, sizeof(reason),
		 "not retried, no longer needed; last attempt: %s",
		 j->last.reason);
	job_finish(j, SA_ERR_REPLAY, reason);
}

/*
 * worker_main takes jobs until the pusher stops; then it fails what is
 * still queued with SA_ERR_SHUTTING_DOWN, so callbacks keep running on
 * worker threads, and exits when the queue is empty.
 */
static void *
worker_main(void *arg)
{
	struct push_worker *w = arg;
	struct pusher *p = w->p;
	struct push_job *j;
	uint64_t wait_ms;

	thread_name("sa-push");
	pthread_mutex_lock(&p->mu);
	for (;;) {
		j = queue_take(p, p->stopping, &wait_ms);
		if (j == NULL) {
			if (p->stopping)
				break;
			if (wait_ms > 0)
				cond_wait_ms(p, wait_ms);
			else
				pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		int stopping = p->stopping;
		pthread_mutex_unlock(&p->mu);
		if (stopping)
			job_finish(j, SA_ERR_SHUTTING_DOWN,
				   j->attempts > 0
				       ? "shutting down before the retry"
				       : "shutting down before sending");
		else if (!retry_wanted(j))
			job_drop(j);
		else
			worker_attempt(w, j);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* config_defaults fills zero fields and checks ranges. */
static enum sa_err
config_defaults(struct push_config *c)
{
	if (c->timeout_ms == 0)
		c->timeout_ms = 5000;
	if (c->max_attempts == 0)
		c->max_attempts = 3;
	if (c->backoff_ms == 0)
		c->backoff_ms = 500;
	if (c->workers == 0)
		c->workers = 2;
	if (c->queue_max == 0)
		c->queue_max = 10000;
	if (c->timeout_ms < 0 || c->timeout_ms > PUSH_TIMEOUT_MAX ||
	    c->max_attempts < 0 || c->max_attempts > PUSH_ATTEMPTS_MAX ||
	    c->backoff_ms < 0 || c->backoff_ms > PUSH_BACKOFF_MAX ||
	    c->workers < 0 || c->workers > PUSH_WORKERS_MAX ||
	    c->queue_max > PUSH_QUEUE_MAX) {
		log_error("push.config", "push settings out of range "
					 "(timeout_ms, max_attempts, "
					 "backoff_ms, workers or queue_max)");
		return SA_ERR_CONFIG;
	}
	return SA_OK;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/*
 * push_open: see push.h. The providers are chosen here, once: mode "log"
 * and "none" replace both real providers; otherwise FCM needs its service
 * account and UnifiedPush needs nothing.
 */
enum sa_err
push_open(const struct push_config *cfg, struct pusher **out)
{
	struct pusher *p = NULL;
	const char *mode = cfg->mode;
	enum sa_err rc;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&p->mu, NULL);
	cond_init_mono(&p->cv);
	p->cfg = *cfg;
	if ((rc = config_defaults(&p->cfg)) != SA_OK)
		goto out;
	if (mode == NULL || mode[0] == '\0')
		mode = "auto";
	rc = SA_ERR_NOMEM;
	p->mode = strdup(mode);
	p->fcm_path = dup_or_null(cfg->fcm_service_account_path);
	p->fcm_token_url = dup_or_null(cfg->fcm_token_url);
	p->fcm_send_url = dup_or_null(cfg->fcm_send_url);
	if (p->mode == NULL)
		goto out;
	p->cfg.mode = p->mode;
	p->cfg.fcm_service_account_path = p->fcm_path;
	p->cfg.fcm_token_url = p->fcm_token_url;
	p->cfg.fcm_send_url = p->fcm_send_url;

	if (strcmp(mode, "log") == 0) {
		p->fcm_prov = p->up_prov = &push_log_provider;
		p->describe = "log";
	} else if (strcmp(mode, "none") == 0) {
		p->fcm_prov = p->up_prov = &push_none_provider;
		p->describe = "none";
	} else if (strcmp(mode, "auto") == 0) {
		p->http = 1;
		p->up_prov = &push_unifiedpush_provider;
		p->describe = "unifiedpush";
		if (p->fcm_path != NULL) {
			rc = push_fcm_open(
			    p->fcm_path, p->fcm_token_url, p->fcm_send_url,
			    p->cfg.allow_private_targets, &p->fcm);
			if (rc != SA_OK)
				goto out;
			p->fcm_prov = &push_fcm_provider;
			p->describe = "fcm+unifiedpush";
		}
	} else {
		log_error("push.config", "push mode must be auto, log or none");
		rc = SA_ERR_CONFIG;
		goto out;
	}

	rc = SA_ERR_NOMEM;
	p->workers = calloc((size_t)p->cfg.workers, sizeof(*p->workers));
	if (p->workers == NULL)
		goto out;
	for (int i = 0; i < p->cfg.workers; i++) {
		struct push_worker *w = &p->workers[i];
		w->p = p;
		p->nworkers++;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			rc = SA_ERR_INTERNAL;
			goto out;
		}
		w->started = 1;
	}
	log_info("push.open", "push mode %s, %d workers", p->describe,
		 p->nworkers);
	*out = p;
	p = NULL;
	rc = SA_OK;
out:
	push_close(p);
	return rc;
}

enum sa_err
push_send(struct pusher *p, const struct push_target *t, json_t *msg,
	  push_done_cb cb, void *arg)
{
	return push_send_while(p, t, msg, NULL, cb, arg);
}

/*
 * push_send_while: see push.h. The target and the message are checked here
 * so a caller learns at once about what can never be delivered.
 */
enum sa_err
push_send_while(struct pusher *p, const struct push_target *t, json_t *msg,
		push_wanted_cb wanted, push_done_cb cb, void *arg)
{
	struct push_job *j = NULL;
	const char *target;
	size_t max;
	enum sa_err rc = SA_ERR_BAD_REQUEST;

	if (!json_is_object(msg) || t == NULL ||
	    (t->fcm_token != NULL && t->endpoint != NULL))
		goto out;
	if (t->fcm_token == NULL && t->endpoint == NULL) {
		/* A device enrolled without a push target: modes log and
		 * none send nothing anywhere, so its logins still start;
		 * a real provider has nowhere to send. */
		if (p->fcm_prov == NULL || !p->fcm_prov->local) {
			rc = SA_ERR_PUSH;
			goto out;
		}
		target = "(no push target)";
	} else {
		target = t->fcm_token != NULL ? t->fcm_token : t->endpoint;
		max = t->fcm_token != NULL ? PUSH_FCM_TOKEN_MAX
					   : PUSH_ENDPOINT_MAX;
		if (target[0] == '\0' || strnlen(target, max + 1) > max)
			goto out;
		for (const char *c = target; *c; c++)
			if ((unsigned char)*c <= 0x20 ||
			    (unsigned char)*c >= 0x7f)
				goto out; /* tokens and URLs are printable */
	}
	rc = SA_ERR_NOMEM;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		goto out;
	j->prov = t->fcm_token != NULL || t->endpoint == NULL ? p->fcm_prov
							      : p->up_prov;
	if (j->prov == NULL) {
		rc = SA_ERR_PUSH;
		log_warn("push.send", "FCM is not configured");
		goto out;
	}
	j->target = strdup(target);
	j->body = json_out(msg, 0, &j->body_len);
	if (j->target == NULL || j->body == NULL)
		goto out;
	if (j->body_len > PUSH_MSG_MAX) {
		rc = SA_ERR_BAD_REQUEST;
		goto out;
	}
	j->msg = msg;
	msg = NULL;
	j->wanted = wanted;
	j->cb = cb;
	j->arg = arg;
	j->metrics = p->cfg.metrics;

	pthread_mutex_lock(&p->mu);
	if (p->stopping)
		rc = SA_ERR_SHUTTING_DOWN;
	else if (j->prov->local)
		rc = SA_OK; /* runs below, on this thread */
	else if (p->queued >= p->cfg.queue_max)
		rc = SA_ERR_UNAVAILABLE;
	else {
		queue_ready(p, j);
		j = NULL;
		pthread_cond_signal(&p->cv);
		rc = SA_OK;
	}
	pthread_mutex_unlock(&p->mu);
	if (rc == SA_ERR_UNAVAILABLE)
		log_warn("push.send", "push queue full (%zu messages)",
			 p->cfg.queue_max);
	if (rc == SA_OK && j != NULL) {
		/* A local provider: no I/O, never a retry (push.h). */
		attempt_once(p, j, NULL, NULL);
		job_finish(j, j->last.rc, j->last.reason);
		j = NULL;
	}
out:
	job_free(j);
	json_decref(msg);
	return rc;
}

/*
 * push_close: see push.h. Transfers in flight get until now + timeout_ms,
 * then their progress callback aborts them; queued jobs are failed by the
 * workers as they drain the queue.
 */
void
push_close(struct pusher *p)
{
	struct push_job *j;
	uint64_t wait_ms;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	atomic_store(&p->abort_at_ms,
		     now_mono_ms() + (uint64_t)p->cfg.timeout_ms);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nworkers; i++) {
		struct push_worker *w = &p->workers[i];
		if (w->started)
			pthread_join(w->thread, NULL);
		if (w->service != NULL)
			curl_easy_cleanup(w->service);
		if (w->device != NULL)
			curl_easy_cleanup(w->device);
	}
	/* Only when no worker ever started can jobs remain here. */
	while ((j = queue_take(p, 1, &wait_ms)) != NULL)
		job_finish(j, SA_ERR_SHUTTING_DOWN, "shutting down");
	free(p->workers);
	push_fcm_close(p->fcm);
	free(p->mode);
	free(p->fcm_path);
	free(p->fcm_token_url);
	free(p->fcm_send_url);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

const char *
push_mode(const struct pusher *p)
{
	return p->describe;
}
