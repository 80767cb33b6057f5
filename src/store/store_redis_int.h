/*
 * store_redis_int.h - what the Redis store's command side (store_redis.c)
 * and its subscriber (store_redis_sub.c) share; private to src/store.
 */
#ifndef SEALAUTH_STORE_REDIS_INT_H
#define SEALAUTH_STORE_REDIS_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "store/store_int.h"

#define RD_DEFAULT_PORT 6379
#define RD_HOST_MAX 255
#define RD_PASSWORD_MAX 512
#define RD_PREFIX_MAX 64
#define RD_DB_MAX 65535
#define RD_POOL_MAX 8
#define RD_CONNECT_MS 1000
#define RD_COMMAND_MS 2000
#define RD_POOL_WAIT_MS 2000
#define RD_HOLDOFF_MS 200
#define RD_BACKOFF_MIN_MS 100
#define RD_BACKOFF_MAX_MS 5000
#define RD_SUB_CONNECT_MS 2000
#define RD_SUBSCRIBE_WAIT_MS 2000
#define RD_LOOP_WAIT_MS 5000
#define RD_SUBS_MAX 1024
#define RD_TTL_MAX ((uint64_t)1 << 46) /* ms, about 2000 years */
#define RD_ARGS_MAX 8
#define RD_NAME_MAX (RD_PREFIX_MAX + ESTORE_KEY_MAX + 1)
#define RD_SCAN_ROUNDS 100000

struct rd_target {
	char host[RD_HOST_MAX + 1];
	int port;
	int db;
	char password[RD_PASSWORD_MAX + 1];
	size_t password_len;
	char prefix[RD_PREFIX_MAX + 1];
	size_t prefix_len;
};

struct rd_sub {
	char *channel; /* without the prefix */
	estore_msg_cb cb;
	void *arg;
	int live; /* SUBSCRIBE confirmed on the current connection */
};

/*
 * The subscriber connection and its loop. Fields under "loop thread" are
 * only touched by the thread running base; the others are set before the
 * loop sees the listener or guarded by the store's sub_mu.
 */
struct rd_listener {
	struct redis_store *es;
	struct event_base *base;
	int private_loop;
	pthread_t thread;
	int thread_started;
	struct event *kick;    /* new subscriptions to send */
	struct event *stop_ev; /* close the connection */
	struct event *retry;   /* reconnect after the backoff */
	struct event *timeout; /* a connect that takes too long */
	/* loop thread */
	redisAsyncContext *ac;
	int connected;
	int stopping;
	size_t nsent; /* subs[0, nsent) were sent on this connection */
	uint64_t backoff_ms;
	int outage;
	uint64_t down_since;
	/* sub_mu */
	pthread_t loop_tid;
	int have_tid;
	int stopped;
};

struct redis_store {
	struct estore base; /* first: the interface */
	struct rd_target t;
	char script_sha[41];	      /* rd_incr_script's SHA-1 */
	char del_if_sha[41];	      /* rd_del_if_script's */
	char where[RD_HOST_MAX + 16]; /* host:port for messages */

	/* The command pool. */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	redisContext *idle[RD_POOL_MAX];
	size_t nidle, nlive;
	uint64_t holdoff_until;
	int down; /* logged as unreachable, not yet as back */

	/* Subscriptions: only ever appended, so the loop thread may read
	 * entries [0, nsubs) after dropping sub_mu; live flags need it. */
	pthread_mutex_t sub_mu;
	pthread_cond_t sub_cv;
	struct rd_sub subs[RD_SUBS_MAX];
	size_t nsubs;
	int sub_down; /* the subscriber is between connections */

	/* life_mu orders start, stop, attach and detach of the listener. */
	pthread_mutex_t life_mu;
	struct rd_listener *listener;
	struct event_base *attached; /* the loop to use, or NULL: private */
	int detached;		     /* no listener until attached again */
};

/* rd_of finds the backend's state from the interface it embeds first. */
static inline struct redis_store *
rd_of(struct estore *store)
{
	return (struct redis_store *)store;
}

/* rd_tv turns milliseconds into a struct timeval. */
static inline struct timeval
rd_tv(uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
			     (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

/* rd_name writes prefix and key into buf (RD_NAME_MAX bytes); 0: a bad key.
 */
size_t rd_name(const struct redis_store *es, const char *key, char *buf);

/* The subscriber (store_redis_sub.c): the estore operations of the same
 * names, and rd_listener_stop, which closes the subscriber connection and
 * waits for its loop to let go; called with life_mu held. */
enum sa_err rd_subscribe(struct estore *store, const char *channel,
			 estore_msg_cb cb, void *arg);
enum sa_err rd_attach_loop(struct estore *store, struct event_base *base);
void rd_detach_loop(struct estore *store);
void rd_listener_stop(struct redis_store *es);

#endif
