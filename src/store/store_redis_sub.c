/*
 * store_redis_sub.c - the Redis store's subscriber: one hiredis asynchronous
 * connection on a libevent loop that carries SUBSCRIBE for every channel
 * given to estore_subscribe and hands each message to its callback.
 *
 * The loop is the server's WebSocket loop when one is attached
 * (estore_attach_loop), otherwise a private loop thread started on the
 * first subscription.
 * Everything that touches the async connection runs on the loop thread;
 * other threads only activate events. When the connection drops, it is
 * reopened with a backoff from RD_BACKOFF_MIN_MS doubling to
 * RD_BACKOFF_MAX_MS, and every channel is subscribed again. Redis pub/sub
 * keeps nothing for an absent subscriber: messages published during an
 * outage are lost. Callers that must not lose an outcome keep it in the
 * store as well (session_ws.c stores each final event with its session).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_redis_int.h"

static pthread_once_t rd_evthread_once = PTHREAD_ONCE_INIT;
static int rd_evthread_rc;

static void
rd_evthread_init(void)
{
	rd_evthread_rc = evthread_use_pthreads();
}

static void rd_listener_connect(struct rd_listener *l);

/* rd_listener_retry arms the reconnect timer and doubles the backoff. */
static void
rd_listener_retry(struct rd_listener *l)
{
	struct timeval tv = rd_tv(l->backoff_ms);

	if (l->stopping)
		return;
	evtimer_add(l->retry, &tv);
	l->backoff_ms *= 2;
	if (l->backoff_ms > RD_BACKOFF_MAX_MS)
		l->backoff_ms = RD_BACKOFF_MAX_MS;
}

/* rd_listener_down marks every subscription as not live and logs the
 * start of an outage once. Loop thread. */
static void
rd_listener_down(struct rd_listener *l, const char *reason)
{
	struct redis_store *es = l->es;

	pthread_mutex_lock(&es->sub_mu);
	for (size_t i = 0; i < es->nsubs; i++)
		es->subs[i].live = 0;
	es->sub_down = 1;
	pthread_cond_broadcast(&es->sub_cv);
	pthread_mutex_unlock(&es->sub_mu);
	l->connected = 0;
	l->nsent = 0;
	if (l->stopping)
		return;
	if (!l->outage) {
		l->outage = 1;
		l->down_since = now_mono_ms();
		log_warn(
		    "store.redis",
		    "the subscriber connection to Redis at %s is down (%s); "
		    "reconnecting; events published meanwhile are lost",
		    es->where, reason);
	} else {
		log_debug("store.redis",
			  "subscriber reconnect to %s failed: %s", es->where,
			  reason);
	}
}

/*
 * rd_on_message receives subscription confirmations and messages. A
 * confirmation marks the channel live; a message goes to every callback
 * registered for its channel, in registration order, with no lock held.
 * hiredis calls it with a NULL reply when the connection is freed.
 */
static void
rd_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rd_listener *l = privdata;
	struct redis_store *es = l->es;
	redisReply *r = reply, *kind, *ch;
	char name[RD_NAME_MAX];
	const char *channel;
	size_t nsubs;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;
	kind = r->element[0];
	ch = r->element[1];
	if (kind->type != REDIS_REPLY_STRING ||
	    ch->type != REDIS_REPLY_STRING || ch->len >= sizeof(name) ||
	    ch->len < es->t.prefix_len ||
	    memcmp(ch->str, es->t.prefix, es->t.prefix_len) != 0)
		return;
	memcpy(name, ch->str, ch->len);
	name[ch->len] = '\0';
	channel = name + es->t.prefix_len;
	if (strcmp(kind->str, "subscribe") == 0) {
		pthread_mutex_lock(&es->sub_mu);
		for (size_t i = 0; i < es->nsubs; i++)
			if (strcmp(es->subs[i].channel, channel) == 0)
				es->subs[i].live = 1;
		es->sub_down = 0;
		pthread_cond_broadcast(&es->sub_cv);
		pthread_mutex_unlock(&es->sub_mu);
		l->backoff_ms = RD_BACKOFF_MIN_MS;
		if (l->outage) {
			l->outage = 0;
			log_info("store.redis",
				 "the subscriber is back on Redis at %s after "
				 "%llu ms and has subscribed again",
				 es->where,
				 (unsigned long long)(now_mono_ms() -
						      l->down_since));
		}
		return;
	}
	if (strcmp(kind->str, "message") != 0 ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return;
	pthread_mutex_lock(&es->sub_mu);
	nsubs = es->nsubs;
	pthread_mutex_unlock(&es->sub_mu);
	for (size_t i = 0; i < nsubs; i++) {
		const struct rd_sub *s = &es->subs[i];

		if (strcmp(s->channel, channel) == 0)
			s->cb(s->channel, r->element[2]->str,
			      r->element[2]->len, s->arg);
	}
}

static void
rd_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rd_listener *l = privdata;
	redisReply *r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		log_error("store.redis",
			  "Redis at %s refused the subscriber's "
			  "AUTH: %.200s",
			  l->es->where, r->str);
}

/* rd_listener_send subscribes the connection to the channels registered
 * since the last call, each distinct channel once. Loop thread. */
static void
rd_listener_send(struct rd_listener *l)
{
	struct redis_store *es = l->es;
	char name[RD_NAME_MAX];
	size_t n;

	if (l->ac == NULL)
		return;
	pthread_mutex_lock(&es->sub_mu);
	n = es->nsubs;
	pthread_mutex_unlock(&es->sub_mu);
	for (size_t i = l->nsent; i < n; i++) {
		const char *argv[2] = {"SUBSCRIBE", name};
		size_t len[2] = {9, rd_name(es, es->subs[i].channel, name)};
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(es->subs[j].channel, es->subs[i].channel) ==
			    0)
				break;
		if (j < i) {
			/* Already subscribed on this connection. */
			pthread_mutex_lock(&es->sub_mu);
			if (es->subs[j].live) {
				es->subs[i].live = 1;
				pthread_cond_broadcast(&es->sub_cv);
			}
			pthread_mutex_unlock(&es->sub_mu);
			continue;
		}
		redisAsyncCommandArgv(l->ac, rd_on_message, l, 2, argv, len);
	}
	l->nsent = n;
}

static void
rd_on_connect(const redisAsyncContext *ac, int status)
{
	struct rd_listener *l = ac->data;

	evtimer_del(l->timeout);
	if (status != REDIS_OK) {
		/* hiredis frees the context after this returns. */
		l->ac = NULL;
		rd_listener_down(l, ac->errstr);
		rd_listener_retry(l);
		return;
	}
	l->connected = 1;
	redisEnableKeepAlive(&l->ac->c);
}

static void
rd_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rd_listener *l = ac->data;

	/* hiredis frees the context after this returns. */
	l->ac = NULL;
	evtimer_del(l->timeout);
	rd_listener_down(l, status == REDIS_OK ? "closed" : ac->errstr);
	rd_listener_retry(l);
}

/*
 * rd_listener_connect opens the async connection and queues AUTH and
 * SUBSCRIBE for every channel; hiredis sends them once connected. hiredis
 * 0.14 has no connect timeout for async contexts, so a timer provides one.
 * A host name is resolved here, synchronously, on the loop thread: give
 * an address or a name the local resolver answers at once. Loop thread.
 */
static void
rd_listener_connect(struct rd_listener *l)
{
	struct redis_store *es = l->es;
	struct timeval tv = rd_tv(RD_SUB_CONNECT_MS);
	redisAsyncContext *ac;

	if (l->stopping || l->ac != NULL)
		return;
	ac = redisAsyncConnect(es->t.host, es->t.port);
	if (ac == NULL || ac->err) {
		rd_listener_down(l, ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		rd_listener_retry(l);
		return;
	}
	ac->data = l;
	if (redisLibeventAttach(ac, l->base) != REDIS_OK) {
		redisAsyncFree(ac);
		rd_listener_down(l, "cannot attach to the event loop");
		rd_listener_retry(l);
		return;
	}
	redisAsyncSetConnectCallback(ac, rd_on_connect);
	redisAsyncSetDisconnectCallback(ac, rd_on_disconnect);
	l->ac = ac;
	l->nsent = 0;
	evtimer_add(l->timeout, &tv);
	if (es->t.password_len > 0) {
		const char *argv[2] = {"AUTH", es->t.password};
		size_t len[2] = {4, es->t.password_len};
		redisAsyncCommandArgv(ac, rd_on_auth, l, 2, argv, len);
	}
	rd_listener_send(l);
}

static void
rd_note_loop_thread(struct rd_listener *l)
{
	pthread_mutex_lock(&l->es->sub_mu);
	l->loop_tid = pthread_self();
	l->have_tid = 1;
	pthread_mutex_unlock(&l->es->sub_mu);
}

/* rd_kick_cb runs on the loop thread when subscriptions were added. */
static void
rd_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rd_listener *l = arg;

	rd_note_loop_thread(l);
	if (l->stopping)
		return;
	if (l->ac == NULL) {
		if (!evtimer_pending(l->retry, NULL))
			rd_listener_connect(l);
		return;
	}
	rd_listener_send(l);
}

static void
rd_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	rd_listener_connect(arg);
}

/* rd_timeout_cb gives up on a connect that did not complete in time. */
static void
rd_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rd_listener *l = arg;
	redisAsyncContext *ac = l->ac;

	if (ac == NULL || l->connected)
		return;
	l->ac = NULL;
	/* Not connected: hiredis calls no disconnect callback for it. */
	redisAsyncFree(ac);
	rd_listener_down(l, "connect timed out");
	rd_listener_retry(l);
}

/* rd_stop_cb closes the connection on the loop thread and says so. */
static void
rd_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rd_listener *l = arg;
	struct redis_store *es = l->es;
	redisAsyncContext *ac = l->ac;

	rd_note_loop_thread(l);
	l->stopping = 1;
	evtimer_del(l->retry);
	evtimer_del(l->timeout);
	if (ac != NULL) {
		l->ac = NULL;
		redisAsyncFree(ac);
	}
	if (l->private_loop)
		event_base_loopbreak(l->base);
	pthread_mutex_lock(&es->sub_mu);
	for (size_t i = 0; i < es->nsubs; i++)
		es->subs[i].live = 0;
	l->stopped = 1;
	pthread_cond_broadcast(&es->sub_cv);
	pthread_mutex_unlock(&es->sub_mu);
}

static void *
rd_loop(void *arg)
{
	struct rd_listener *l = arg;

	thread_name("sa-redis-sub");
	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void
rd_listener_free(struct rd_listener *l)
{
	if (l->kick != NULL)
		event_free(l->kick);
	if (l->stop_ev != NULL)
		event_free(l->stop_ev);
	if (l->retry != NULL)
		event_free(l->retry);
	if (l->timeout != NULL)
		event_free(l->timeout);
	if (l->private_loop && l->base != NULL)
		event_base_free(l->base);
	free(l);
}

/*
 * rd_listener_start creates the subscriber on base, or on a private loop
 * thread when base is NULL, and asks it to connect. The caller holds
 * life_mu; es->listener is set on success.
 */
static enum sa_err
rd_listener_start(struct redis_store *es, struct event_base *base)
{
	struct rd_listener *l;

	pthread_once(&rd_evthread_once, rd_evthread_init);
	if (rd_evthread_rc != 0)
		return SA_ERR_INTERNAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return SA_ERR_NOMEM;
	l->es = es;
	l->backoff_ms = RD_BACKOFF_MIN_MS;
	if (base == NULL) {
		l->private_loop = 1;
		base = event_base_new();
	}
	l->base = base;
	if (base == NULL ||
	    (l->kick = event_new(base, -1, 0, rd_kick_cb, l)) == NULL ||
	    (l->stop_ev = event_new(base, -1, 0, rd_stop_cb, l)) == NULL ||
	    (l->retry = evtimer_new(base, rd_retry_cb, l)) == NULL ||
	    (l->timeout = evtimer_new(base, rd_timeout_cb, l)) == NULL)
		goto fail;
	if (l->private_loop) {
		if (pthread_create(&l->thread, NULL, rd_loop, l) != 0)
			goto fail;
		l->thread_started = 1;
	}
	pthread_mutex_lock(&es->sub_mu);
	es->sub_down = 0;
	pthread_mutex_unlock(&es->sub_mu);
	es->listener = l;
	event_active(l->kick, EV_READ, 0);
	return SA_OK;
fail:
	rd_listener_free(l);
	return SA_ERR_INTERNAL;
}

/*
 * rd_listener_stop closes the subscriber connection on its loop thread and
 * waits: for a private loop until its thread has ended, for an attached one
 * up to RD_LOOP_WAIT_MS. If an attached loop does not run the stop in time
 * (it was stopped first, against the contract), the listener is left alone
 * rather than freed under a loop that may still use it. The caller holds
 * life_mu.
 */
void
rd_listener_stop(struct redis_store *es)
{
	struct rd_listener *l = es->listener;
	struct timespec until = mono_deadline_ms(RD_LOOP_WAIT_MS);
	int on_loop, stopped;

	if (l == NULL)
		return;
	es->listener = NULL;
	pthread_mutex_lock(&es->sub_mu);
	on_loop = l->have_tid && pthread_equal(l->loop_tid, pthread_self());
	pthread_mutex_unlock(&es->sub_mu);
	if (on_loop)
		rd_stop_cb(-1, 0, l);
	else
		event_active(l->stop_ev, EV_READ, 0);
	if (l->private_loop && on_loop) {
		/* Called from a subscriber callback: the loop cannot be freed
		 * under itself. It ends after this callback; it is left. */
		pthread_detach(l->thread);
		log_error("store.redis",
			  "the store was closed from a subscriber "
			  "callback; its loop is left behind");
		return;
	}
	if (l->private_loop) {
		if (l->thread_started)
			pthread_join(l->thread, NULL);
		rd_listener_free(l);
		return;
	}
	pthread_mutex_lock(&es->sub_mu);
	while (!l->stopped && pthread_cond_timedwait(&es->sub_cv, &es->sub_mu,
						     &until) != ETIMEDOUT)
		;
	stopped = l->stopped;
	pthread_mutex_unlock(&es->sub_mu);
	if (!stopped) {
		log_error("store.redis",
			  "the event loop did not close the Redis "
			  "subscriber; leaving it");
		return;
	}
	rd_listener_free(l);
}

/*
 * rd_subscribe registers cb for channel for the life of the store, starts
 * the subscriber if this is the first subscription, and waits up to
 * RD_SUBSCRIBE_WAIT_MS for Redis to confirm it, so a message published
 * right after it returns is received. When Redis is down it returns SA_OK
 * at once: the channel is subscribed when the connection comes back.
 */
enum sa_err
rd_subscribe(struct estore *store, const char *channel, estore_msg_cb cb,
	     void *arg)
{
	struct redis_store *es = rd_of(store);
	char name[RD_NAME_MAX];
	struct timespec until = mono_deadline_ms(RD_SUBSCRIBE_WAIT_MS);
	struct rd_sub *s;
	struct rd_listener *l;
	enum sa_err rc = SA_OK;
	char *copy;
	int on_loop;

	if (rd_name(es, channel, name) == 0 || cb == NULL)
		return SA_ERR_VALIDATION;
	if ((copy = strdup(channel)) == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_lock(&es->life_mu);
	pthread_mutex_lock(&es->sub_mu);
	if (es->nsubs >= RD_SUBS_MAX) {
		pthread_mutex_unlock(&es->sub_mu);
		pthread_mutex_unlock(&es->life_mu);
		free(copy);
		return SA_ERR_UNAVAILABLE;
	}
	s = &es->subs[es->nsubs];
	s->channel = copy;
	s->cb = cb;
	s->arg = arg;
	s->live = 0;
	es->nsubs++;
	pthread_mutex_unlock(&es->sub_mu);
	if (es->listener == NULL && !es->detached)
		rc = rd_listener_start(es, es->attached);
	else if (es->listener != NULL)
		event_active(es->listener->kick, EV_READ, 0);
	l = es->listener;
	pthread_mutex_unlock(&es->life_mu);
	if (rc != SA_OK || l == NULL)
		return rc;

	pthread_mutex_lock(&es->sub_mu);
	on_loop = l->have_tid && pthread_equal(l->loop_tid, pthread_self());
	while (!on_loop && !s->live && !es->sub_down &&
	       pthread_cond_timedwait(&es->sub_cv, &es->sub_mu, &until) !=
		   ETIMEDOUT)
		;
	pthread_mutex_unlock(&es->sub_mu);
	return SA_OK;
}

/* rd_attach_loop moves the subscriber onto base (see store.h). */
enum sa_err
rd_attach_loop(struct estore *store, struct event_base *base)
{
	struct redis_store *es = rd_of(store);
	enum sa_err rc = SA_OK;
	size_t nsubs;

	if (base == NULL)
		return SA_ERR_VALIDATION;
	pthread_mutex_lock(&es->life_mu);
	if (es->listener == NULL || es->listener->base != base) {
		rd_listener_stop(es);
		es->attached = base;
		es->detached = 0;
		pthread_mutex_lock(&es->sub_mu);
		nsubs = es->nsubs;
		pthread_mutex_unlock(&es->sub_mu);
		if (nsubs > 0)
			rc = rd_listener_start(es, base);
	}
	pthread_mutex_unlock(&es->life_mu);
	return rc;
}

void
rd_detach_loop(struct estore *store)
{
	struct redis_store *es = rd_of(store);
	pthread_mutex_lock(&es->life_mu);
	if (es->attached != NULL) {
		rd_listener_stop(es);
		es->attached = NULL;
		es->detached = 1;
	}
	pthread_mutex_unlock(&es->life_mu);
}
