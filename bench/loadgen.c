/*
 * loadgen.c - the load generator: whole X.1280 logins against a running
 * sealauth on loopback (SPEC §3), enrollments (SPEC §2), and idle
 * WebSockets.
 *
 * Every virtual user runs the complete login as a browser and a phone
 * would: POST /auth/initiate -> open the WebSocket -> otp_ready -> sign
 * "sealauth-verify-v1|..." with the enrolled device key -> POST
 * /auth/verify -> approved (with the JWT) on the WebSocket -> close 1000.
 * Each of --threads threads runs its own libevent loop over non-blocking
 * sockets with a small HTTP/1.1 keep-alive client and a minimal RFC 6455
 * client, so the generator costs little CPU next to the server it drives.
 *
 * Modes (one per run):
 *   login, closed loop   --concurrency C     C flows always in flight
 *   login, open loop     --rate R            R flow starts per second,
 *                                            Poisson (or --uniform) arrivals;
 *                                            late starts are counted and the
 *                                            whole-flow latency is measured
 *                                            from the scheduled start
 *   --enroll                                 POST /enroll closed loop with
 *                                            seals issued up front by the
 *                                            demo signer (--trust-dir)
 *   --idle-ws N                              initiate N sessions, open their
 *                                            WebSockets, hold them, and
 *                                            report the server's RSS growth
 *                                            per connection (--server-pid)
 *
 * Before the load it measures the crypto bound: how many (P-256 verify +
 * two P-256 signs), the cryptography of one login, a core of this machine
 * does per second, and prints flows/s as a fraction of bound x server cores.
 *
 * Results go to standard output and, with --json FILE, to a JSON file that
 * scripts/bench turns into the report. Every loop is bounded: the run by
 * --warmup + --duration, each flow by --timeout-ms, the drain after the run
 * by the flow timeout. Only loopback addresses are accepted as targets.
 *
 * Exit status: 0 when every flow that started completed, 1 when any flow
 * failed (the figures are still printed), 2 on bad usage or failed set-up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "crypto/ecdsa.h"
#include "core/errors.h"
#include "core/log.h"
#include "trust/trust.h"
#include "core/util.h"
#include "seal/vds.h"

#define LG_MAX_THREADS 16
#define LG_MAX_HEADER 16384	  /* bytes of response headers */
#define LG_MAX_BODY (1u << 20)	  /* bytes of one response body */
#define LG_REQ_MAX 4096		  /* a request sent in one piece */
#define LG_READ_CHUNK 4096	  /* bytes taken by one recv */
#define LG_MAX_FRAME 65536	  /* bytes of one WebSocket frame */
#define LG_MAX_SAMPLES (4u << 20) /* samples kept per step and thread */
#define LG_MAX_USERS 100000	  /* enrolled devices */
#define LG_MAX_ENROLL 200000	  /* seals issued for --enroll */
#define LG_MAX_IDLE 100000	  /* --idle-ws connections */
#define LG_SETUP_PARALLEL 32	  /* set-up requests in flight per thread */
#define LG_IDLE_CONNECTING 128	  /* handshakes in flight per thread */
#define LG_LATE_NS 1000000u	  /* a start later than 1 ms is late */
#define LG_ERROR_RETRY_MS 10	  /* closed loop pause after a failure */
#define LG_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum lg_mode { LG_MODE_LOGIN, LG_MODE_ENROLL, LG_MODE_IDLE };

enum lg_phase {
	LG_PH_SETUP,	  /* enroll the users' devices */
	LG_PH_MAIN,	  /* the measured login or enrollment load */
	LG_PH_IDLE_INIT,  /* initiate the sessions of the idle WebSockets */
	LG_PH_IDLE_OPEN,  /* open them and wait for otp_ready on each */
	LG_PH_IDLE_CLOSE, /* close them all with 1000 */
};

enum lg_step {
	LG_STEP_INITIATE,
	LG_STEP_WS_OTP,
	LG_STEP_VERIFY,
	LG_STEP_APPROVED,
	LG_STEP_FLOW,
	LG_STEP_ENROLL,
	LG_STEP_WS_OPEN,
	LG_STEPS
};

static const char *const lg_step_names[LG_STEPS] = {
    "initiate",		    /* request written -> 200 read */
    "ws_open_to_otp_ready", /* connect started -> otp_ready frame */
    "verify",		    /* request written -> 200 read */
    "verify_to_approved",   /* verify written -> approved frame */
    "flow",		    /* (scheduled) start -> close 1000 */
    "enroll",		    /* request written -> 200 read */
    "idle_ws_open",	    /* connect started -> otp_ready frame */
};

enum lg_errkind {
	LG_E_CONNECT,	   /* the TCP connection failed */
	LG_E_IO,	   /* the server closed a connection mid-request */
	LG_E_HTTP,	   /* a response we could not parse */
	LG_E_INITIATE,	   /* /auth/initiate answered other than 200 */
	LG_E_WS_HANDSHAKE, /* no 101 or a wrong Sec-WebSocket-Accept */
	LG_E_WS_PROTOCOL,  /* a frame we cannot accept */
	LG_E_WS_EVENT,	   /* rejected, expired or an unexpected event */
	LG_E_VERIFY,	   /* /auth/verify answered other than 200 */
	LG_E_WS_CLOSE,	   /* closed other than 1000 after approved */
	LG_E_ENROLL,	   /* /enroll answered other than 200 */
	LG_E_TIMEOUT,	   /* the flow did not finish within --timeout-ms */
	LG_E_LOCAL,	   /* our own failure (signing, memory) */
	LG_E_OVERLOAD,	   /* open loop: too many flows in flight, skipped */
	LG_E_COUNT
};

static const char *const lg_err_names[LG_E_COUNT] = {
    "connect",	    "io",
    "http_parse",   "initiate_status",
    "ws_handshake", "ws_protocol",
    "ws_event",	    "verify_status",
    "ws_close",	    "enroll_status",
    "timeout",	    "local",
    "overload",
};

/* An enrolled device: the token id and the phone's key. */
struct lg_user {
	char token_id[64];
	EVP_PKEY *key;
	int busy; /* a login of this user is in flight */
};

/* A growable array of latencies in nanoseconds, capped. */
struct lg_samples {
	uint64_t *v;
	size_t n, cap;
	uint64_t dropped;
};

enum lg_flow_kind {
	LG_F_LOGIN,
	LG_F_ENROLL,	/* the measured enrollment */
	LG_F_SETUP,	/* enroll one user's device */
	LG_F_IDLE_INIT, /* initiate one idle session */
	LG_F_IDLE_WS,	/* open and hold one WebSocket */
};

struct lg_worker;
struct lg_flow;

enum lg_ws_state { LG_WS_HANDSHAKE, LG_WS_OPEN, LG_WS_CLOSING };

/* One TCP connection: an HTTP keep-alive connection or a WebSocket. */
struct lg_conn {
	struct lg_worker *w;
	struct bufferevent *bev;     /* writes, and the input buffer */
	struct event *rd;	     /* reads (lg_recv_cb) */
	struct lg_flow *flow;	     /* owner while busy, NULL when idle */
	struct lg_conn *prev, *next; /* every connection of the worker */
	struct lg_conn *idle_next, *idle_prev; /* HTTP pool */
	int target; /* which server: 0 --port, 1 --port2 */
	int is_ws;
	int connected;
	int dead;
	int in_pool;
	unsigned requests; /* HTTP requests sent on this connection */
	uint64_t t_open;   /* when it was opened (lg_now) */
	int got_bytes;	   /* part of the current response arrived */
	/* HTTP response being read */
	int hdr_done;
	int status;
	size_t clen;
	int close_after;
	/* WebSocket */
	enum lg_ws_state ws_state;
	char ws_accept[32];
	struct lg_conn *reap_next;
	struct lg_idle *slot; /* a held idle WebSocket's slot */
};

/* A login's steps as its flow keeps them: initiate, ws_open_to_otp_ready,
 * verify, verify_to_approved. */
#define LG_TAIL_STEPS 4

/* A completed login in the window: its whole time and its steps (ns). */
struct lg_tail {
	uint64_t flow;
	uint64_t d[LG_TAIL_STEPS];
};

/* One login, enrollment or idle WebSocket in flight. */
struct lg_flow {
	struct lg_worker *w;
	enum lg_flow_kind kind;
	struct lg_user *user;
	struct lg_conn *http;
	struct lg_conn *ws;
	struct event *timer;
	size_t idx; /* seal (enroll) or idle slot */
	uint64_t t_sched, t_start, t_req, t_ws, t_verify;
	/* The four steps of a login in the window (ns), for the make-up of
	 * the slowest flows (lg_tail). */
	uint64_t d[LG_TAIL_STEPS];
	int got_verify, got_approved, got_close;
	int retried;
	/* Where the browser (initiate, WebSocket) and the phone (verify) go:
	 * with --port2 the phone lands on the other server every other
	 * login of each browser server. */
	int browser, phone, req_target;
	char session_id[80];
	char otp[8];
	char ws_token[80];
	char req_path[32];
	char *req_body;
};

/* An idle WebSocket's session, and its connection while held. */
struct lg_idle {
	char session_id[80];
	char ws_token[80];
	struct lg_conn *conn;
	int state; /* 0 none, 1 initiated, 2 held, 3 failed or lost,
		      4 closed by us */
};

struct lg_run;

/* One generator thread with its own event loop. */
struct lg_worker {
	struct lg_run *run;
	int idx;
	pthread_t tid;
	struct event_base *base;
	struct event *reap_ev;
	struct event *arrival_ev;
	struct event *stop_ev;
	struct event *drain_ev;
	struct lg_conn *conns;
	struct lg_conn *idle_head[2]; /* kept-alive HTTP, per target */
	struct lg_conn *reap;
	struct lg_user **users;
	size_t nusers, rr;
	size_t setup_next, setup_done;
	enum lg_phase phase;
	size_t inflight, target;
	int stopping;
	int in_refill;
	int retry_pending;
	uint64_t next_arrival;
	double rate;
	uint64_t rng;
	/* enrollment bodies issued up front */
	char **enroll_bodies;
	size_t n_enroll, next_enroll;
	int enroll_exhausted;
	/* idle WebSockets: slots idx, idx + T, ... of run->idle */
	size_t idle_next, idle_connecting, idle_settled, idle_open;
	size_t idle_total;
	/* figures */
	struct lg_samples s[LG_STEPS];
	struct lg_tail *tails;
	size_t ntails, captails;
	uint64_t started, completed, completed_window, late, max_late_ns;
	uint64_t logins_made, crossed; /* logins started; phone elsewhere */
	uint64_t errors[LG_E_COUNT];
	uint64_t setup_errors;
	char err_sample[LG_E_COUNT][200];
	int failed_setup;
};

struct lg_opts {
	char host[64];
	int port;
	int port2; /* a second server sharing the stores; 0 none */
	const char *trust_dir;
	const char *json_path;
	const char *prefix;
	enum lg_mode mode;
	int threads;
	int concurrency;
	double rate;
	int uniform;
	double duration;
	double warmup;
	int users;
	long timeout_ms;
	size_t max_inflight;
	size_t enroll_count;
	size_t idle_n;
	double hold;
	long server_pid;
	int server_cores;
	double bound_seconds;
};

struct lg_run {
	struct lg_opts o;
	struct sockaddr_in addr[2]; /* --port, --port2 */
	struct lg_user *users;
	size_t nusers;
	struct lg_idle *idle;
	pthread_barrier_t barrier;
	struct lg_worker w[LG_MAX_THREADS];
	uint64_t t0, t_warm, t_end;
	char pubkey_pem[512]; /* device key of --enroll */
};

static uint64_t
lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
lg_rand(struct lg_worker *w)
{
	/* xorshift64*: arrival times and mask keys, not secrets */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ull;
}

/*
 * lg_room returns the array v (n elements of size bytes used, *cap
 * allocated) with room for one more, doubled up to LG_MAX_SAMPLES when
 * full; NULL when it cannot grow (v is then as it was).
 */
static void *
lg_room(void *v, size_t n, size_t *cap, size_t size)
{
	size_t nc;

	if (n < *cap)
		return v;
	nc = *cap ? *cap * 2 : 4096;
	if (nc > LG_MAX_SAMPLES || (v = realloc(v, nc * size)) == NULL)
		return NULL;
	*cap = nc;
	return v;
}

static void
lg_sample(struct lg_worker *w, enum lg_step step, uint64_t ns)
{
	struct lg_samples *s = &w->s[step];
	uint64_t *v = lg_room(s->v, s->n, &s->cap, sizeof(*v));

	if (v == NULL) {
		s->dropped++;
		return;
	}
	s->v = v;
	s->v[s->n++] = ns;
}

/* A flow is measured when it was (scheduled to be) started in the window. */
static int
lg_in_window(const struct lg_flow *f)
{
	const struct lg_run *r = f->w->run;

	return f->w->phase == LG_PH_MAIN && f->t_sched >= r->t_warm &&
	       f->t_sched < r->t_end;
}

/* ---- Connections ------------------------------------------------------ */

static void lg_reap_cb(evutil_socket_t fd, short what, void *arg);
static void lg_read_cb(struct bufferevent *bev, void *arg);
static void lg_event_cb(struct bufferevent *bev, short what, void *arg);
static void lg_flow_fail(struct lg_flow *f, enum lg_errkind kind,
			 const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lg_pool_remove(struct lg_conn *c)
{
	struct lg_worker *w = c->w;

	if (!c->in_pool)
		return;
	if (c->idle_prev != NULL)
		c->idle_prev->idle_next = c->idle_next;
	else
		w->idle_head[c->target] = c->idle_next;
	if (c->idle_next != NULL)
		c->idle_next->idle_prev = c->idle_prev;
	c->idle_next = c->idle_prev = NULL;
	c->in_pool = 0;
}

/*
 * lg_conn_kill retires a connection: it stops reading, leaves the pool
 * and its flow, and is freed from the reaper event, so a callback further
 * up the stack never touches freed memory (it checks c->dead instead).
 */
static void
lg_conn_kill(struct lg_conn *c)
{
	struct lg_worker *w = c->w;

	if (c->dead)
		return;
	c->dead = 1;
	lg_pool_remove(c);
	if (c->slot != NULL) {
		if (c->slot->state == 2)
			c->slot->state = 3;
		c->slot->conn = NULL;
		c->slot = NULL;
	}
	if (c->flow != NULL) {
		if (c->flow->http == c)
			c->flow->http = NULL;
		if (c->flow->ws == c)
			c->flow->ws = NULL;
		c->flow = NULL;
	}
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (c->rd != NULL)
		event_del(c->rd);
	c->reap_next = w->reap;
	w->reap = c;
	event_active(w->reap_ev, EV_TIMEOUT, 0);
}

static void
lg_conn_free(struct lg_conn *c)
{
	struct lg_worker *w = c->w;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->rd != NULL)
		event_free(c->rd);
	bufferevent_free(c->bev);
	free(c);
}

static void
lg_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_worker *w = arg;
	struct lg_conn *c;

	while ((c = w->reap) != NULL) {
		w->reap = c->reap_next;
		lg_conn_free(c);
	}
}

static void lg_read_cb(struct bufferevent *bev, void *arg);
static void lg_event_cb(struct bufferevent *bev, short what, void *arg);

/*
 * lg_recv_cb reads what arrived into the connection's input buffer with
 * one recv and hands it on as the bufferevent's read callback would; an
 * end or an error goes to its event callback. The bufferevent would ask
 * the socket how much there is (an ioctl) before every read.
 */
static void
lg_recv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	ssize_t k;

	(void)what;
	if (c->dead || evbuffer_reserve_space(in, LG_READ_CHUNK, &v, 1) < 1)
		return;
	k = recv(fd, v.iov_base, v.iov_len, 0);
	if (k > 0) {
		v.iov_len = (size_t)k;
		evbuffer_commit_space(in, &v, 1);
		lg_read_cb(c->bev, c);
		return;
	}
	evbuffer_commit_space(in, NULL, 0);
	if (k == 0)
		lg_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		lg_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
}

/* lg_conn_new starts a connection to the server; NULL on failure. */
static struct lg_conn *
lg_conn_new(struct lg_worker *w, int is_ws, int target)
{
	struct lg_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (c == NULL)
		return NULL;
	c->w = w;
	c->is_ws = is_ws;
	c->target = target;
	c->t_open = lg_now();
	c->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c);
		return NULL;
	}
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	bufferevent_setcb(c->bev, lg_read_cb, NULL, lg_event_cb, c);
	if (bufferevent_socket_connect(
		c->bev, (const struct sockaddr *)&w->run->addr[target],
		sizeof(w->run->addr[target])) != 0) {
		lg_conn_kill(c);
		return NULL;
	}
	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one,
		   sizeof(one));
	c->rd = event_new(w->base, bufferevent_getfd(c->bev),
			  EV_READ | EV_PERSIST, lg_recv_cb, c);
	if (c->rd == NULL || event_add(c->rd, NULL) != 0) {
		lg_conn_kill(c);
		return NULL;
	}
	bufferevent_enable(c->bev, EV_WRITE);
	return c;
}

/*
 * lg_send sends n bytes on c. A connected socket with nothing queued is
 * written at once: the generator shares the machine with the server, and
 * going through the bufferevent costs an epoll_ctl to watch for writing,
 * a wake-up and another epoll_ctl to stop, for every request. What the
 * socket does not take (or anything before the connection is up) is queued
 * for the bufferevent, which also reports the errors. 0 or -1.
 */
static int
lg_send(struct lg_conn *c, const void *data, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	ssize_t k = 0;

	if (c->connected && evbuffer_get_length(out) == 0) {
		k = send(bufferevent_getfd(c->bev), data, n,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0)
			k = 0;
		if ((size_t)k == n)
			return 0;
	}
	return evbuffer_add(out, (const char *)data + k, n - (size_t)k);
}

/* lg_target_port is the port of server target (0 or 1). */
static int
lg_target_port(const struct lg_run *r, int target)
{
	return target ? r->o.port2 : r->o.port;
}

/*
 * lg_http_send writes an HTTP/1.1 POST on a pooled keep-alive connection
 * (or a new one) to the flow's req_target server; body is borrowed.
 * Returns 0 or -1.
 */
static int
lg_http_send(struct lg_flow *f, const char *path, const char *body)
{
	struct lg_worker *w = f->w;
	int t = f->req_target;
	struct lg_conn *c = w->idle_head[t];
	size_t n = strlen(body);
	char req[LG_REQ_MAX];
	int hn;

	if (c != NULL)
		lg_pool_remove(c);
	else if ((c = lg_conn_new(w, 0, t)) == NULL)
		return -1;
	c->flow = f;
	c->hdr_done = 0;
	c->status = 0;
	c->clen = 0;
	c->close_after = 0;
	c->got_bytes = 0;
	c->requests++;
	f->http = c;
	if (path != f->req_path)
		snprintf(f->req_path, sizeof(f->req_path), "%s", path);
	f->t_req = lg_now();
	/* One send of header and body. */
	hn = snprintf(req, sizeof(req),
		      "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
		      "User-Agent: sealauth-loadgen\r\n"
		      "Content-Type: application/json\r\n"
		      "Content-Length: %zu\r\n\r\n",
		      path, w->run->o.host, lg_target_port(w->run, t), n);
	if (hn < 0 || (size_t)hn >= sizeof(req))
		return -1;
	if ((size_t)hn + n > sizeof(req)) /* a seal to enroll, say */
		return lg_send(c, req, (size_t)hn) != 0 ? -1
							: lg_send(c, body, n);
	memcpy(req + hn, body, n);
	return lg_send(c, req, (size_t)hn + n);
}

/* The flow callbacks, below. */
static void lg_on_http(struct lg_flow *f, int status, const char *body,
		       size_t n);
static void lg_on_ws_text(struct lg_flow *f, const char *text, size_t n);
static void lg_on_ws_close(struct lg_flow *f, int code);
static void lg_on_ws_open(struct lg_flow *f);

/*
 * lg_http_read parses as much of one response as has arrived. A complete
 * response detaches the connection from its flow (back to the pool, or
 * killed when the server said Connection: close) before the flow sees it.
 */
static void
lg_http_read(struct lg_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct lg_flow *f = c->flow;
	char hdr[LG_MAX_HEADER + 1], *body, *p, *line;
	struct evbuffer_ptr pos;
	size_t hlen;
	int status;

	if (evbuffer_get_length(in) > 0)
		c->got_bytes = 1;
	if (f == NULL) {
		/* nothing was asked: an idle connection the server talks on */
		lg_conn_kill(c);
		return;
	}
	if (!c->hdr_done) {
		pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (pos.pos < 0) {
			if (evbuffer_get_length(in) > LG_MAX_HEADER)
				lg_flow_fail(f, LG_E_HTTP,
					     "%s: headers too long",
					     f->req_path);
			return;
		}
		hlen = (size_t)pos.pos + 4;
		if (hlen > LG_MAX_HEADER) {
			lg_flow_fail(f, LG_E_HTTP, "%s: headers too long",
				     f->req_path);
			return;
		}
		evbuffer_remove(in, hdr, hlen);
		hdr[hlen] = '\0';
		if (sscanf(hdr, "HTTP/1.%*d %d", &c->status) != 1) {
			lg_flow_fail(f, LG_E_HTTP, "%s: bad status line",
				     f->req_path);
			return;
		}
		c->clen = (size_t)-1;
		for (line = strstr(hdr, "\r\n"); line != NULL;
		     line = strstr(line, "\r\n")) {
			line += 2;
			if (strncasecmp(line, "Content-Length:", 15) == 0)
				c->clen = strtoul(line + 15, NULL, 10);
			else if (strncasecmp(line, "Connection:", 11) == 0 &&
				 (p = strstr(line, "\r\n")) != NULL &&
				 memmem(line, (size_t)(p - line), "close", 5))
				c->close_after = 1;
		}
		if (c->clen == (size_t)-1 || c->clen > LG_MAX_BODY) {
			lg_flow_fail(f, LG_E_HTTP,
				     "%s: no usable Content-Length",
				     f->req_path);
			return;
		}
		c->hdr_done = 1;
	}
	if (evbuffer_get_length(in) < c->clen)
		return;
	if ((body = malloc(c->clen + 1)) == NULL) {
		lg_flow_fail(f, LG_E_LOCAL, "out of memory");
		return;
	}
	evbuffer_remove(in, body, c->clen);
	body[c->clen] = '\0';
	status = c->status;
	f->http = NULL;
	c->flow = NULL;
	if (c->close_after || evbuffer_get_length(in) > 0) {
		lg_conn_kill(c);
	} else {
		struct lg_conn **head = &c->w->idle_head[c->target];

		c->idle_next = *head;
		c->idle_prev = NULL;
		if (*head != NULL)
			(*head)->idle_prev = c;
		*head = c;
		c->in_pool = 1;
	}
	lg_on_http(f, status, body, strlen(body));
	free(body);
}

/* lg_ws_send_control sends a masked control frame (close, pong). */
static void
lg_ws_send_control(struct lg_conn *c, int opcode, const unsigned char *p,
		   size_t n)
{
	unsigned char frame[2 + 4 + 125];
	uint64_t r = lg_rand(c->w);
	size_t i;

	if (n > 125)
		n = 125;
	frame[0] = (unsigned char)(0x80 | opcode);
	frame[1] = (unsigned char)(0x80 | n);
	memcpy(frame + 2, &r, 4);
	for (i = 0; i < n; i++)
		frame[6 + i] = p[i] ^ frame[2 + (i & 3)];
	lg_send(c, frame, 6 + n);
}

/*
 * lg_ws_read checks the handshake answer, then takes whole frames one at a
 * time: text frames go to the flow, pings are answered, a close is
 * answered with the same code. It stops as soon as the connection died in
 * a callback.
 */
static void
lg_ws_read(struct lg_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	unsigned char h[14], *payload;
	char hdr[LG_MAX_HEADER + 1];
	struct evbuffer_ptr pos;
	size_t avail, hl, len, hlen;
	int opcode, code;

	if (c->ws_state == LG_WS_HANDSHAKE) {
		pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (pos.pos < 0) {
			if (evbuffer_get_length(in) > LG_MAX_HEADER &&
			    c->flow != NULL)
				lg_flow_fail(c->flow, LG_E_WS_HANDSHAKE,
					     "handshake answer too long");
			return;
		}
		hlen = (size_t)pos.pos + 4;
		if (hlen > LG_MAX_HEADER) {
			if (c->flow != NULL)
				lg_flow_fail(c->flow, LG_E_WS_HANDSHAKE,
					     "handshake answer too long");
			return;
		}
		evbuffer_remove(in, hdr, hlen);
		hdr[hlen] = '\0';
		if (strncmp(hdr, "HTTP/1.1 101", 12) != 0 ||
		    strcasestr(hdr, c->ws_accept) == NULL) {
			char *eol = strstr(hdr, "\r\n");

			if (eol != NULL)
				*eol = '\0';
			if (c->flow != NULL)
				lg_flow_fail(c->flow, LG_E_WS_HANDSHAKE,
					     "handshake refused: %.80s", hdr);
			return;
		}
		c->ws_state = LG_WS_OPEN;
		if (c->flow != NULL)
			lg_on_ws_open(c->flow);
		if (c->dead)
			return;
	}
	for (;;) {
		avail = evbuffer_get_length(in);
		if (avail < 2)
			return;
		evbuffer_copyout(in, h, avail < sizeof(h) ? avail : sizeof(h));
		opcode = h[0] & 0x0f;
		len = h[1] & 0x7f;
		hl = 2;
		if (h[1] & 0x80 || !(h[0] & 0x80)) {
			if (c->flow != NULL)
				lg_flow_fail(c->flow, LG_E_WS_PROTOCOL,
					     "masked or fragmented frame");
			else
				lg_conn_kill(c);
			return;
		}
		if (len == 126) {
			if (avail < 4)
				return;
			len = ((size_t)h[2] << 8) | h[3];
			hl = 4;
		} else if (len == 127) {
			if (c->flow != NULL)
				lg_flow_fail(c->flow, LG_E_WS_PROTOCOL,
					     "frame too long");
			else
				lg_conn_kill(c);
			return;
		}
		if (len > LG_MAX_FRAME) {
			if (c->flow != NULL)
				lg_flow_fail(c->flow, LG_E_WS_PROTOCOL,
					     "frame too long");
			else
				lg_conn_kill(c);
			return;
		}
		if (avail < hl + len)
			return;
		if ((payload = malloc(len + 1)) == NULL) {
			lg_conn_kill(c);
			return;
		}
		evbuffer_drain(in, hl);
		evbuffer_remove(in, payload, len);
		payload[len] = '\0';
		if (opcode == 0x1) {
			if (c->flow != NULL)
				lg_on_ws_text(c->flow, (const char *)payload,
					      len);
		} else if (opcode == 0x8) {
			code = len >= 2 ? (payload[0] << 8) | payload[1] : 1005;
			if (c->ws_state != LG_WS_CLOSING)
				lg_ws_send_control(c, 0x8, payload,
						   len >= 2 ? 2 : 0);
			c->ws_state = LG_WS_CLOSING;
			if (c->flow != NULL)
				lg_on_ws_close(c->flow, code);
		} else if (opcode == 0x9) {
			lg_ws_send_control(c, 0xA, payload, len);
		}
		free(payload);
		if (c->dead)
			return;
	}
}

static void
lg_read_cb(struct bufferevent *bev, void *arg)
{
	struct lg_conn *c = arg;

	if (c->dead)
		return;
	if (c->is_ws)
		lg_ws_read(c);
	else
		lg_http_read(c);
}

static void
lg_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lg_conn *c = arg;
	struct lg_flow *f = c->flow;

	if (c->dead)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		c->connected = 1;
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (f == NULL) {
		/* an idle pooled connection, or a WebSocket closing */
		lg_conn_kill(c);
		return;
	}
	if (!c->connected) {
		lg_flow_fail(
		    f, LG_E_CONNECT, "connect: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (!c->is_ws && c->requests > 1 && !c->got_bytes && !f->retried) {
		/* the server timed out a kept-alive connection as we reused
		 * it: send the request again once on a fresh connection */
		lg_conn_kill(c);
		f->retried = 1;
		if (lg_http_send(f, f->req_path, f->req_body) != 0)
			lg_flow_fail(f, LG_E_CONNECT, "cannot reconnect");
		return;
	}
	/* How it happened: which request of the connection, whether any of
	 * the answer had come, the connection's age, a retry before. */
	lg_flow_fail(f, c->is_ws ? LG_E_WS_CLOSE : LG_E_IO,
		     "%s closed by the server mid-%s (request %u on it, %s, "
		     "opened %.1f ms before%s)",
		     c->is_ws ? "WebSocket" : "connection",
		     c->is_ws ? "flow" : f->req_path, c->requests,
		     c->got_bytes ? "part of the answer read" : "no answer yet",
		     (double)(lg_now() - c->t_open) / 1e6,
		     f->retried ? ", after a retry" : "");
}

/* lg_ws_open starts the flow's WebSocket to /ws/session/{id}. */
static int
lg_ws_open(struct lg_flow *f, const char *session_id, const char *token)
{
	struct lg_worker *w = f->w;
	unsigned char key[16], sha[SHA_DIGEST_LENGTH];
	char *key_b64 = NULL, *acc = NULL, cat[64];
	struct lg_conn *c;
	uint64_t r1 = lg_rand(w), r2 = lg_rand(w);
	int rc = -1;

	memcpy(key, &r1, 8);
	memcpy(key + 8, &r2, 8);
	if ((key_b64 = b64_encode(key, sizeof(key))) == NULL)
		goto out;
	snprintf(cat, sizeof(cat), "%s%s", key_b64, LG_WS_GUID);
	SHA1((const unsigned char *)cat, strlen(cat), sha);
	if ((acc = b64_encode(sha, sizeof(sha))) == NULL)
		goto out;
	f->t_ws = lg_now();
	if ((c = lg_conn_new(w, 1, f->browser)) == NULL)
		goto out;
	c->flow = f;
	f->ws = c;
	snprintf(c->ws_accept, sizeof(c->ws_accept), "%s", acc);
	if (evbuffer_add_printf(bufferevent_get_output(c->bev),
				"GET /ws/session/%s?token=%s HTTP/1.1\r\n"
				"Host: %s:%d\r\nUpgrade: websocket\r\n"
				"Connection: Upgrade\r\n"
				"Sec-WebSocket-Key: %s\r\n"
				"Sec-WebSocket-Version: 13\r\n"
				"Origin: http://%s:%d\r\n\r\n",
				session_id, token, w->run->o.host,
				lg_target_port(w->run, f->browser), key_b64,
				w->run->o.host, w->run->o.port) < 0)
		goto out;
	rc = 0;
out:
	free(key_b64);
	free(acc);
	return rc;
}

/* ---- Flows ------------------------------------------------------------ */

static void lg_refill(struct lg_worker *w);
static void lg_flow_timeout_cb(evutil_socket_t fd, short what, void *arg);

static struct lg_flow *
lg_flow_new(struct lg_worker *w, enum lg_flow_kind kind, uint64_t t_sched)
{
	struct lg_flow *f = calloc(1, sizeof(*f));
	struct timeval tv;

	if (f == NULL)
		return NULL;
	f->w = w;
	f->kind = kind;
	f->t_start = lg_now();
	f->t_sched = t_sched ? t_sched : f->t_start;
	f->timer = evtimer_new(w->base, lg_flow_timeout_cb, f);
	if (f->timer == NULL) {
		free(f);
		return NULL;
	}
	tv.tv_sec = w->run->o.timeout_ms / 1000;
	tv.tv_usec = (w->run->o.timeout_ms % 1000) * 1000;
	evtimer_add(f->timer, &tv);
	w->inflight++;
	w->started++;
	return f;
}

/*
 * lg_flow_end frees a finished or failed flow. Its HTTP connection, if it
 * still holds one mid-request, is killed; its WebSocket is kept only when
 * it is closing cleanly (then it is freed at EOF). The worker refills.
 */
static void
lg_flow_end(struct lg_flow *f)
{
	struct lg_worker *w = f->w;

	if (f->http != NULL)
		lg_conn_kill(f->http);
	if (f->ws != NULL) {
		if (f->ws->ws_state == LG_WS_CLOSING && !f->ws->dead)
			f->ws->flow = NULL;
		else
			lg_conn_kill(f->ws);
		f->ws = NULL;
	}
	if (f->user != NULL)
		f->user->busy = 0;
	event_free(f->timer);
	free(f->req_body);
	free(f);
	w->inflight--;
	lg_refill(w);
}

static void
lg_flow_fail(struct lg_flow *f, enum lg_errkind kind, const char *fmt, ...)
{
	struct lg_worker *w = f->w;
	va_list ap;

	if (w->phase == LG_PH_SETUP || w->phase == LG_PH_IDLE_INIT)
		w->setup_errors++;
	w->errors[kind]++;
	va_start(ap, fmt);
	vsnprintf(w->err_sample[kind], sizeof(w->err_sample[kind]), fmt, ap);
	va_end(ap);
	if (f->kind == LG_F_IDLE_WS) {
		struct lg_idle *s = &w->run->idle[f->idx];

		s->state = 3;
		s->conn = NULL;
		if (w->idle_connecting > 0)
			w->idle_connecting--;
		w->idle_settled++;
	}
	lg_flow_end(f);
}

static void
lg_flow_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_flow *f = arg;

	lg_flow_fail(f, LG_E_TIMEOUT, "no end within %ld ms (%s%s%s)",
		     f->w->run->o.timeout_ms, f->got_verify ? "verified " : "",
		     f->got_approved ? "approved " : "",
		     f->ws != NULL ? "ws" : "");
}

/* lg_tail_add keeps a completed login's time and steps. */
static void
lg_tail_add(struct lg_worker *w, const struct lg_flow *f, uint64_t flow)
{
	struct lg_tail *v =
	    lg_room(w->tails, w->ntails, &w->captails, sizeof(*v));

	if (v == NULL)
		return;
	w->tails = v;
	w->tails[w->ntails].flow = flow;
	memcpy(w->tails[w->ntails].d, f->d, sizeof(f->d));
	w->ntails++;
}

/* lg_flow_done records a completed flow. */
static void
lg_flow_done(struct lg_flow *f)
{
	struct lg_worker *w = f->w;
	uint64_t now = lg_now();

	if (w->phase == LG_PH_MAIN)
		w->completed++;
	if (lg_in_window(f) && f->kind == LG_F_LOGIN) {
		lg_sample(w, LG_STEP_FLOW, now - f->t_sched);
		lg_tail_add(w, f, now - f->t_sched);
	}
	if (w->phase == LG_PH_MAIN && now >= w->run->t_warm &&
	    now < w->run->t_end)
		w->completed_window++;
	lg_flow_end(f);
}

static void
lg_set_body(struct lg_flow *f, char *body)
{
	free(f->req_body);
	f->req_body = body;
}

/* lg_send_verify signs the approval as the phone and posts it. */
static void
lg_send_verify(struct lg_flow *f)
{
	unsigned char sig[ECDSA_P256_RAW_LEN];
	char msg[256], *b64 = NULL, *body = NULL;
	long long ts = (long long)now_unix();

	snprintf(msg, sizeof(msg),
		 "sealauth-verify-v1|%s|%s|%lld|approve|identity:name",
		 f->session_id, f->otp, ts);
	if (ecdsa_sign_sha256_raw(f->user->key, msg, strlen(msg), sig) !=
		SA_OK ||
	    (b64 = b64_encode(sig, sizeof(sig))) == NULL ||
	    asprintf(&body,
		     "{\"sessionId\":\"%s\",\"tokenId\":\"%s\",\"otp\":\"%s\","
		     "\"timestamp\":%lld,\"decision\":\"approve\","
		     "\"grantedScopes\":[\"identity:name\"],"
		     "\"signature\":\"%s\"}",
		     f->session_id, f->user->token_id, f->otp, ts, b64) < 0) {
		free(b64);
		lg_flow_fail(f, LG_E_LOCAL, "cannot sign the approval");
		return;
	}
	free(b64);
	lg_set_body(f, body);
	f->t_verify = lg_now();
	f->req_target = f->phone;
	if (lg_http_send(f, "/auth/verify", body) != 0)
		lg_flow_fail(f, LG_E_CONNECT, "cannot send /auth/verify");
}

static void
lg_check_login_done(struct lg_flow *f)
{
	if (f->got_verify && f->got_approved && f->got_close)
		lg_flow_done(f);
}

/* lg_copy_str copies a JSON string member into out; 0 or -1. */
static int
lg_copy_str(json_t *o, const char *key, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL || strlen(s) >= cap)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static void
lg_on_http(struct lg_flow *f, int status, const char *body, size_t n)
{
	struct lg_worker *w = f->w;
	uint64_t now = lg_now();
	json_t *o = NULL;

	switch (f->kind) {
	case LG_F_LOGIN:
	case LG_F_IDLE_INIT:
		if (!f->t_ws && strcmp(f->req_path, "/auth/initiate") == 0) {
			if (status != 200) {
				lg_flow_fail(f, LG_E_INITIATE,
					     "initiate %d: %.120s", status,
					     body);
				return;
			}
			o = json_loadb(body, n, 0, NULL);
			if (o == NULL ||
			    lg_copy_str(o, "sessionId", f->session_id,
					sizeof(f->session_id)) != 0 ||
			    lg_copy_str(o, "autoPassword", f->otp,
					sizeof(f->otp)) != 0 ||
			    lg_copy_str(o, "wsToken", f->ws_token,
					sizeof(f->ws_token)) != 0) {
				json_decref(o);
				lg_flow_fail(f, LG_E_HTTP,
					     "initiate: unexpected body %.120s",
					     body);
				return;
			}
			json_decref(o);
			if (lg_in_window(f)) {
				f->d[0] = now - f->t_req;
				lg_sample(w, LG_STEP_INITIATE, f->d[0]);
			}
			if (f->kind == LG_F_IDLE_INIT) {
				struct lg_idle *s = &w->run->idle[f->idx];

				memcpy(s->session_id, f->session_id,
				       sizeof(s->session_id));
				memcpy(s->ws_token, f->ws_token,
				       sizeof(s->ws_token));
				s->state = 1;
				lg_flow_end(f);
				return;
			}
			if (lg_ws_open(f, f->session_id, f->ws_token) != 0)
				lg_flow_fail(f, LG_E_CONNECT,
					     "cannot open the WebSocket");
			return;
		}
		/* /auth/verify */
		if (status != 200) {
			lg_flow_fail(f, LG_E_VERIFY, "verify %d: %.120s",
				     status, body);
			return;
		}
		if (strstr(body, "\"jwt\"") == NULL) {
			lg_flow_fail(f, LG_E_HTTP, "verify: no jwt in %.120s",
				     body);
			return;
		}
		if (lg_in_window(f)) {
			f->d[2] = now - f->t_req;
			lg_sample(w, LG_STEP_VERIFY, f->d[2]);
		}
		f->got_verify = 1;
		lg_check_login_done(f);
		return;
	case LG_F_ENROLL:
	case LG_F_SETUP:
		if (status != 200 ||
		    strstr(body, "\"enrolled\":true") == NULL) {
			lg_flow_fail(f, LG_E_ENROLL, "enroll %d: %.120s",
				     status, body);
			return;
		}
		if (f->kind == LG_F_ENROLL && lg_in_window(f))
			lg_sample(w, LG_STEP_ENROLL, now - f->t_req);
		if (f->kind == LG_F_SETUP)
			w->setup_done++;
		lg_flow_done(f);
		return;
	case LG_F_IDLE_WS:
		lg_flow_fail(f, LG_E_HTTP, "unexpected HTTP answer");
		return;
	}
}

static void
lg_on_ws_open(struct lg_flow *f)
{
	/* nothing to do: the server sends otp_ready on its own */
	(void)f;
}

static void
lg_on_ws_text(struct lg_flow *f, const char *text, size_t n)
{
	struct lg_worker *w = f->w;
	uint64_t now = lg_now();
	json_t *o = json_loadb(text, n, 0, NULL);
	const char *type = json_string_value(json_object_get(o, "type"));
	const char *s;

	if (type == NULL) {
		json_decref(o);
		lg_flow_fail(f, LG_E_WS_PROTOCOL, "unparsable event %.100s",
			     text);
		return;
	}
	if (strcmp(type, "otp_ready") == 0 && f->kind == LG_F_IDLE_WS) {
		struct lg_idle *slot = &w->run->idle[f->idx];

		json_decref(o);
		lg_sample(w, LG_STEP_WS_OPEN, now - f->t_ws);
		slot->state = 2;
		slot->conn = f->ws;
		f->ws->slot = slot;
		/* the connection outlives the flow while it is held */
		f->ws->flow = NULL;
		f->ws = NULL;
		w->idle_connecting--;
		w->idle_settled++;
		w->idle_open++;
		lg_flow_end(f);
		return;
	}
	if (strcmp(type, "otp_ready") == 0 && f->kind == LG_F_LOGIN &&
	    !f->t_verify) {
		s = json_string_value(json_object_get(o, "autoPassword"));
		if (s == NULL || strcmp(s, f->otp) != 0) {
			json_decref(o);
			lg_flow_fail(f, LG_E_WS_EVENT,
				     "otp_ready with another code");
			return;
		}
		json_decref(o);
		if (lg_in_window(f)) {
			f->d[1] = now - f->t_ws;
			lg_sample(w, LG_STEP_WS_OTP, f->d[1]);
		}
		lg_send_verify(f);
		return;
	}
	if (strcmp(type, "approved") == 0 && f->kind == LG_F_LOGIN &&
	    f->t_verify) {
		s = json_string_value(json_object_get(o, "jwt"));
		if (s == NULL || s[0] == '\0') {
			json_decref(o);
			lg_flow_fail(f, LG_E_WS_EVENT, "approved without jwt");
			return;
		}
		json_decref(o);
		if (lg_in_window(f)) {
			f->d[3] = now - f->t_verify;
			lg_sample(w, LG_STEP_APPROVED, f->d[3]);
		}
		f->got_approved = 1;
		lg_check_login_done(f);
		return;
	}
	lg_flow_fail(f, LG_E_WS_EVENT, "unexpected event %.100s", text);
	json_decref(o);
}

static void
lg_on_ws_close(struct lg_flow *f, int code)
{
	if (f->kind != LG_F_LOGIN || !f->got_approved || code != 1000) {
		lg_flow_fail(f, LG_E_WS_CLOSE, "WebSocket closed with %d%s",
			     code, f->got_approved ? "" : " before approved");
		return;
	}
	f->got_close = 1;
	/* the server closes the socket next, maybe before the verify answer
	 * arrives: the connection is done with this flow */
	if (f->ws != NULL) {
		f->ws->flow = NULL;
		f->ws = NULL;
	}
	lg_check_login_done(f);
}

/* lg_pick_user takes the next user of the worker not in a login. */
static struct lg_user *
lg_pick_user(struct lg_worker *w)
{
	size_t i, k;

	for (i = 0; i < w->nusers; i++) {
		k = (w->rr + i) % w->nusers;
		if (!w->users[k]->busy) {
			w->rr = k + 1;
			return w->users[k];
		}
	}
	/* more logins in flight than users: share */
	return w->users[w->rr++ % w->nusers];
}

/* lg_start_login starts one login; 0, or -1 when it could not start. */
static int
lg_start_login(struct lg_worker *w, uint64_t t_sched)
{
	struct lg_flow *f = lg_flow_new(w, LG_F_LOGIN, t_sched);
	char *body = NULL;

	if (f == NULL)
		return -1;
	f->user = lg_pick_user(w);
	f->user->busy = 1;
	if (w->run->o.port2) {
		/* Browser on A, B, A, B ...; phone on A, A, B, B ...: half
		 * the logins cross servers, each pairing equally often. */
		f->browser = (int)(w->logins_made & 1);
		f->phone = (int)((w->logins_made >> 1) & 1);
		w->crossed += f->browser != f->phone;
	}
	w->logins_made++;
	f->req_target = f->browser;
	if (asprintf(&body,
		     "{\"tokenId\":\"%s\",\"serviceId\":\"demo\","
		     "\"scopes\":[\"identity:name\"]}",
		     f->user->token_id) < 0) {
		lg_flow_fail(f, LG_E_LOCAL, "out of memory");
		return 0;
	}
	lg_set_body(f, body);
	if (lg_http_send(f, "/auth/initiate", body) != 0)
		lg_flow_fail(f, LG_E_CONNECT, "cannot send /auth/initiate");
	return 0;
}

/*
 * lg_enroll_body builds the /enroll body of a seal for a device key. The
 * FCM token is a placeholder: the server refuses to start a login for a
 * device without a push target even in push mode none, and in that mode
 * it sends nothing.
 */
static char *
lg_enroll_body(const unsigned char *seal, size_t n, const char *pem,
	       const char *device)
{
	char *b64 = b64_encode(seal, n), *body = NULL, *pem_json = NULL;
	json_t *s = json_string(pem);

	if (b64 == NULL || s == NULL ||
	    (pem_json = json_dumps(s, JSON_ENCODE_ANY)) == NULL ||
	    asprintf(&body,
		     "{\"vdsData\":\"%s\",\"publicKeyPem\":%s,"
		     "\"deviceId\":\"%s\",\"fcmToken\":\"bench-%s\"}",
		     b64, pem_json, device, device) < 0)
		body = NULL;
	free(b64);
	free(pem_json);
	json_decref(s);
	return body;
}

/* lg_start_post starts a flow that is one POST of body (taken). */
static int
lg_start_post(struct lg_worker *w, enum lg_flow_kind kind, const char *path,
	      char *body, size_t idx)
{
	struct lg_flow *f = lg_flow_new(w, kind, 0);

	if (f == NULL) {
		free(body);
		return -1;
	}
	f->idx = idx;
	lg_set_body(f, body);
	if (lg_http_send(f, path, body) != 0)
		lg_flow_fail(f, LG_E_CONNECT, "cannot send %s", path);
	return 0;
}

/* lg_start_idle_ws opens the WebSocket of idle slot idx. */
static int
lg_start_idle_ws(struct lg_worker *w, size_t idx)
{
	struct lg_flow *f = lg_flow_new(w, LG_F_IDLE_WS, 0);
	struct lg_idle *s = &w->run->idle[idx];

	if (f == NULL)
		return -1;
	f->idx = idx;
	w->idle_connecting++;
	if (lg_ws_open(f, s->session_id, s->ws_token) != 0)
		lg_flow_fail(f, LG_E_CONNECT, "cannot open the WebSocket");
	return 0;
}

/*
 * lg_start_next starts one unit of the phase's closed-loop work: 1 when it
 * started one, 0 when there is none left (or no room).
 */
static int
lg_start_next(struct lg_worker *w)
{
	struct lg_run *r = w->run;
	size_t T = (size_t)r->o.threads, k;
	char *body;

	switch (w->phase) {
	case LG_PH_SETUP:
		while (w->setup_next < w->nusers) {
			struct lg_user *u = w->users[w->setup_next++];
			unsigned char *seal = NULL;
			size_t seal_len = 0;
			struct vds_claims vc;
			char pem[512], dev[80];
			BIO *bio = BIO_new(BIO_s_mem());
			long pn = 0;
			char *pp;

			memset(&vc, 0, sizeof(vc));
			snprintf(vc.given_name, sizeof(vc.given_name), "ERIKA");
			snprintf(vc.family_name, sizeof(vc.family_name),
				 "MUSTERMANN");
			snprintf(vc.birth_date, sizeof(vc.birth_date),
				 "1990-04-01");
			snprintf(vc.nationality, sizeof(vc.nationality), "DEU");
			snprintf(vc.document, sizeof(vc.document), "C01X00T47");
			snprintf(vc.token_id, sizeof(vc.token_id), "%s",
				 u->token_id);
			snprintf(vc.expiry, sizeof(vc.expiry), "2035-01-01");
			if (bio == NULL ||
			    PEM_write_bio_PUBKEY(bio, u->key) != 1 ||
			    (pn = BIO_get_mem_data(bio, &pp)) <= 0 ||
			    (size_t)pn >= sizeof(pem) ||
			    trust_demo_issue(r->o.trust_dir, &vc,
					     now_unix() - 60, &seal,
					     &seal_len) != SA_OK) {
				BIO_free(bio);
				free(seal);
				w->failed_setup = 1;
				return 0;
			}
			memcpy(pem, pp, (size_t)pn);
			pem[pn] = '\0';
			BIO_free(bio);
			snprintf(dev, sizeof(dev), "dev-%s", u->token_id);
			body = lg_enroll_body(seal, seal_len, pem, dev);
			free(seal);
			if (body == NULL) {
				w->failed_setup = 1;
				return 0;
			}
			return lg_start_post(w, LG_F_SETUP, "/enroll", body,
					     0) == 0;
		}
		return 0;
	case LG_PH_MAIN:
		if (w->stopping)
			return 0;
		if (r->o.mode == LG_MODE_LOGIN)
			return lg_start_login(w, 0) == 0;
		if (w->next_enroll >= w->n_enroll) {
			w->enroll_exhausted = 1;
			return 0;
		}
		body = w->enroll_bodies[w->next_enroll];
		w->enroll_bodies[w->next_enroll] = NULL;
		k = w->next_enroll++;
		return lg_start_post(w, LG_F_ENROLL, "/enroll", body, k) == 0;
	case LG_PH_IDLE_INIT:
		k = (size_t)w->idx + w->idle_next * T;
		if (k >= r->o.idle_n)
			return 0;
		w->idle_next++;
		if (asprintf(&body,
			     "{\"tokenId\":\"%s\",\"serviceId\":\"demo\","
			     "\"scopes\":[\"identity:name\"]}",
			     r->users[k % r->nusers].token_id) < 0)
			return 0;
		return lg_start_post(w, LG_F_IDLE_INIT, "/auth/initiate", body,
				     k) == 0;
	case LG_PH_IDLE_OPEN:
		for (;;) {
			k = (size_t)w->idx + w->idle_next * T;
			if (k >= r->o.idle_n ||
			    w->idle_connecting >= LG_IDLE_CONNECTING)
				return 0;
			w->idle_next++;
			if (r->idle[k].state == 1)
				return lg_start_idle_ws(w, k) == 0;
			w->idle_settled++; /* its initiate failed */
		}
	case LG_PH_IDLE_CLOSE:
		return 0;
	}
	return 0;
}

static void
lg_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_worker *w = arg;

	w->retry_pending = 0;
	lg_refill(w);
}

/*
 * lg_refill keeps the closed loop full and ends the phase's loop when the
 * work is done (or the run is stopping and nothing is in flight).
 */
static void
lg_refill(struct lg_worker *w)
{
	struct lg_run *r = w->run;
	int open_loop = w->phase == LG_PH_MAIN && r->o.mode == LG_MODE_LOGIN &&
			r->o.rate > 0;

	size_t budget;

	/* a flow that fails as it starts ends inside lg_start_next and calls
	 * back here: the outer call does the work */
	if (w->in_refill)
		return;
	if (!open_loop && !w->stopping) {
		w->in_refill = 1;
		/* at most target starts per call, so starts that fail at once
		 * cannot spin: the rest waits for the retry timer */
		budget = w->target;
		while (w->inflight < w->target && budget-- > 0 &&
		       lg_start_next(w))
			;
		w->in_refill = 0;
		if (w->phase == LG_PH_IDLE_OPEN &&
		    w->idle_settled >= w->idle_total) {
			event_base_loopbreak(w->base);
			return;
		}
		if (w->inflight < w->target && w->phase == LG_PH_MAIN &&
		    !w->enroll_exhausted && !w->retry_pending) {
			struct timeval tv = {0, LG_ERROR_RETRY_MS * 1000};

			w->retry_pending = 1;
			event_base_once(w->base, -1, EV_TIMEOUT, lg_retry_cb, w,
					&tv);
		}
	}
	if (w->inflight == 0 && w->phase != LG_PH_IDLE_OPEN &&
	    (w->stopping || (!open_loop && w->phase != LG_PH_MAIN) ||
	     w->enroll_exhausted || w->failed_setup))
		event_base_loopbreak(w->base);
}

/* ---- The phases of a worker ----------------------------------------- */

static void
lg_arrival_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_worker *w = arg;
	struct lg_run *r = w->run;
	uint64_t now = lg_now(), gap, late;
	struct timeval tv;
	double u;
	int burst = 0;

	while (w->next_arrival <= now && !w->stopping && burst < 10000) {
		if (w->next_arrival >= r->t_end)
			break;
		late = now - w->next_arrival;
		if (late > LG_LATE_NS && w->next_arrival >= r->t_warm)
			w->late++;
		if (late > w->max_late_ns && w->next_arrival >= r->t_warm)
			w->max_late_ns = late;
		if (w->inflight >= r->o.max_inflight) {
			w->errors[LG_E_OVERLOAD]++;
			snprintf(w->err_sample[LG_E_OVERLOAD],
				 sizeof(w->err_sample[0]),
				 "%zu flows in flight: arrival skipped",
				 w->inflight);
		} else if (lg_start_login(w, w->next_arrival) != 0) {
			w->errors[LG_E_LOCAL]++;
		}
		if (r->o.uniform) {
			gap = (uint64_t)(1e9 / w->rate);
		} else {
			u = ((double)(lg_rand(w) >> 11) + 1.0) /
			    9007199254740993.0;
			gap = (uint64_t)(-log(u) / w->rate * 1e9);
		}
		w->next_arrival += gap ? gap : 1;
		burst++;
	}
	if (w->stopping || w->next_arrival >= r->t_end)
		return;
	now = lg_now();
	gap = w->next_arrival > now ? w->next_arrival - now : 0;
	tv.tv_sec = (time_t)(gap / 1000000000u);
	tv.tv_usec = (suseconds_t)((gap % 1000000000u) / 1000u);
	evtimer_add(w->arrival_ev, &tv);
}

static void
lg_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_worker *w = arg;

	/* flows still in flight time out on their own before this fires */
	event_base_loopbreak(w->base);
}

static void
lg_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_worker *w = arg;
	struct timeval tv;

	w->stopping = 1;
	tv.tv_sec = w->run->o.timeout_ms / 1000 + 2;
	tv.tv_usec = 0;
	evtimer_add(w->drain_ev, &tv);
	if (w->inflight == 0)
		event_base_loopbreak(w->base);
}

static void
lg_run_main(struct lg_worker *w)
{
	struct lg_run *r = w->run;
	uint64_t now = lg_now();
	struct timeval tv;
	uint64_t left = r->t_end > now ? r->t_end - now : 0;

	w->stopping = 0;
	tv.tv_sec = (time_t)(left / 1000000000u);
	tv.tv_usec = (suseconds_t)((left % 1000000000u) / 1000u);
	evtimer_add(w->stop_ev, &tv);
	if (r->o.mode == LG_MODE_LOGIN && r->o.rate > 0) {
		w->rate = r->o.rate / r->o.threads;
		/* stagger the threads' first arrivals across one gap */
		w->next_arrival = r->t0 + (uint64_t)(1e9 / w->rate) *
					      (uint64_t)w->idx /
					      (uint64_t)r->o.threads;
		lg_arrival_cb(-1, 0, w);
	} else {
		w->target = (size_t)r->o.concurrency / (size_t)r->o.threads +
			    ((size_t)w->idx <
			     (size_t)r->o.concurrency % (size_t)r->o.threads);
		lg_refill(w);
	}
	event_base_dispatch(w->base);
	evtimer_del(w->stop_ev);
	evtimer_del(w->drain_ev);
	evtimer_del(w->arrival_ev);
}

/* lg_run_closed runs a set-up phase as a closed loop until it is done,
 * bounded by limit_s seconds. */
static void
lg_run_closed(struct lg_worker *w, size_t target, double limit_s)
{
	struct timeval tv;

	w->stopping = 0;
	w->target = target;
	tv.tv_sec = (time_t)limit_s;
	tv.tv_usec = 0;
	evtimer_add(w->drain_ev, &tv);
	lg_refill(w);
	if (w->inflight > 0 ||
	    (w->phase == LG_PH_IDLE_OPEN && w->idle_settled < w->idle_total))
		event_base_dispatch(w->base);
	evtimer_del(w->drain_ev);
}

/* lg_idle_close sends close 1000 on every held WebSocket and waits for
 * the server to close them, at most limit_s seconds. */
static void
lg_idle_close(struct lg_worker *w, double limit_s)
{
	struct lg_run *r = w->run;
	static const unsigned char code[2] = {0x03, 0xe8};
	struct timeval tv;
	size_t k;

	for (k = (size_t)w->idx; k < r->o.idle_n; k += (size_t)r->o.threads) {
		struct lg_conn *c = r->idle[k].conn;

		if (r->idle[k].state != 2 || c == NULL || c->dead)
			continue;
		lg_ws_send_control(c, 0x8, code, 2);
		c->ws_state = LG_WS_CLOSING;
		r->idle[k].state = 4;
		r->idle[k].conn = NULL;
	}
	tv.tv_sec = (time_t)limit_s;
	tv.tv_usec = 0;
	evtimer_add(w->drain_ev, &tv);
	/* the loop ends when every connection is gone or at the limit */
	while (w->conns != NULL) {
		struct lg_conn *c;
		int ws_left = 0;

		for (c = w->conns; c != NULL; c = c->next)
			if (c->is_ws && !c->dead)
				ws_left = 1;
		if (!ws_left)
			break;
		if (event_base_loop(w->base, EVLOOP_ONCE) != 0 ||
		    event_base_got_break(w->base))
			break;
	}
	evtimer_del(w->drain_ev);
}

static void *
lg_worker_main(void *arg)
{
	struct lg_worker *w = arg;
	struct lg_run *r = w->run;
	size_t setup_target = LG_SETUP_PARALLEL;

	/* set-up: enroll this thread's users */
	w->phase = LG_PH_SETUP;
	if (r->o.mode != LG_MODE_ENROLL)
		lg_run_closed(w, setup_target, 120);
	pthread_barrier_wait(&r->barrier); /* set-up done */
	pthread_barrier_wait(&r->barrier); /* main thread decided */
	if (r->o.mode == LG_MODE_IDLE) {
		w->phase = LG_PH_IDLE_INIT;
		w->idle_next = 0;
		lg_run_closed(w, (size_t)r->o.concurrency, 100);
		pthread_barrier_wait(&r->barrier); /* sessions initiated */
		pthread_barrier_wait(&r->barrier); /* RSS before read */
		w->phase = LG_PH_IDLE_OPEN;
		w->idle_next = 0;
		w->idle_total =
		    (r->o.idle_n + (size_t)r->o.threads - 1 - (size_t)w->idx) /
		    (size_t)r->o.threads;
		lg_run_closed(w, LG_IDLE_CONNECTING, 100);
		pthread_barrier_wait(&r->barrier); /* all open */
		pthread_barrier_wait(&r->barrier); /* held; RSS after read */
		w->phase = LG_PH_IDLE_CLOSE;
		lg_idle_close(w, 15);
		pthread_barrier_wait(&r->barrier);
		return NULL;
	}
	w->phase = LG_PH_MAIN;
	lg_run_main(w);
	pthread_barrier_wait(&r->barrier); /* main phase done */
	return NULL;
}

/* ---- Set-up, the crypto bound, and the report ----------------------- */

/*
 * lg_crypto_bound measures (P-256 verify + two P-256 signs) per second on
 * one core for about seconds, with the project's own ECDSA helpers (the
 * calls the server and the phone make), and returns the rate (0 on
 * failure).
 */
static double
lg_crypto_bound(double seconds)
{
	EVP_PKEY *k = NULL;
	unsigned char sig[ECDSA_P256_RAW_LEN], sig2[ECDSA_P256_RAW_LEN];
	const char *msg = "sealauth-verify-v1|sess_AbCdEfGhIjKlMnOpQrStUv|"
			  "123456|1800000000|approve|identity:name";
	uint64_t t0, t1, n = 0, budget = (uint64_t)(seconds * 1e9);
	double rate = 0;

	if (ecdsa_generate_p256(&k) != SA_OK ||
	    ecdsa_sign_sha256_raw(k, msg, strlen(msg), sig) != SA_OK)
		goto out;
	t0 = lg_now();
	do {
		if (ecdsa_verify_sha256(k, msg, strlen(msg), sig,
					sizeof(sig)) != SA_OK ||
		    ecdsa_sign_sha256_raw(k, msg, strlen(msg), sig2) != SA_OK ||
		    ecdsa_sign_sha256_raw(k, msg, strlen(msg), sig2) != SA_OK)
			goto out;
		n++;
		t1 = lg_now();
	} while (t1 - t0 < budget);
	rate = (double)n / ((double)(t1 - t0) / 1e9);
out:
	EVP_PKEY_free(k);
	return rate;
}

static long
lg_rss_kb(long pid)
{
	char path[64], line[256];
	FILE *fp;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(fp);
	return kb;
}

static int
lg_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* lg_step_json merges a step's samples of every worker, sorts them and
 * returns {count, p50, p95, p99, max, mean} in milliseconds (NULL: none). */
static json_t *
lg_step_json(struct lg_run *r, enum lg_step step)
{
	size_t total = 0, i, k = 0;
	uint64_t *all, sum = 0;
	json_t *o;
	int t;

	for (t = 0; t < r->o.threads; t++)
		total += r->w[t].s[step].n;
	if (total == 0 || (all = malloc(total * sizeof(*all))) == NULL)
		return NULL;
	for (t = 0; t < r->o.threads; t++)
		for (i = 0; i < r->w[t].s[step].n; i++) {
			all[k++] = r->w[t].s[step].v[i];
			sum += r->w[t].s[step].v[i];
		}
	qsort(all, total, sizeof(*all), lg_cmp_u64);
#define LG_PCT(p) ((double)all[(size_t)((double)(total - 1) * (p))] / 1e6)
	o = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "count",
		      (json_int_t)total, "p50", LG_PCT(0.50), "p95",
		      LG_PCT(0.95), "p99", LG_PCT(0.99), "max",
		      (double)all[total - 1] / 1e6, "mean",
		      (double)sum / (double)total / 1e6);
#undef LG_PCT
	free(all);
	return o;
}

static int
lg_cmp_tail(const void *a, const void *b)
{
	const struct lg_tail *x = a, *y = b;

	return x->flow < y->flow ? -1 : x->flow > y->flow;
}

/* lg_tail_means gives the mean flow and steps of the n logins at t, and
 * what the flow spent outside the steps: flow - initiate - otp_ready -
 * the later of verify and approved (the generator's turns between them,
 * the phone's signing and the close handshake), in milliseconds. */
static json_t *
lg_tail_means(const struct lg_tail *t, size_t n)
{
	double sum[LG_TAIL_STEPS + 2] = {0};

	for (size_t i = 0; i < n; i++) {
		uint64_t last = t[i].d[2] > t[i].d[3] ? t[i].d[2] : t[i].d[3];
		uint64_t in = t[i].d[0] + t[i].d[1] + last;

		sum[0] += (double)t[i].flow;
		for (int k = 0; k < LG_TAIL_STEPS; k++)
			sum[k + 1] += (double)t[i].d[k];
		sum[LG_TAIL_STEPS + 1] +=
		    t[i].flow > in ? (double)(t[i].flow - in) : 0;
	}
	for (int k = 0; k < LG_TAIL_STEPS + 2; k++)
		sum[k] = n ? sum[k] / (double)n / 1e6 : 0;
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "count",
			 (json_int_t)n, "flowMs", sum[0], "initiateMs", sum[1],
			 "otpReadyMs", sum[2], "verifyMs", sum[3], "approvedMs",
			 sum[4], "betweenMs", sum[5]);
}

/*
 * lg_tail_json says what the slowest 1% of logins (those at or past the
 * flow's 99th percentile) spent their time on, beside the same means over
 * every login: {"slowest": {...}, "all": {...}} (NULL: none).
 */
static json_t *
lg_tail_json(struct lg_run *r)
{
	size_t total = 0, k = 0, from;
	struct lg_tail *all;
	json_t *o;
	int t;

	for (t = 0; t < r->o.threads; t++)
		total += r->w[t].ntails;
	if (total == 0 || (all = malloc(total * sizeof(*all))) == NULL)
		return NULL;
	for (t = 0; t < r->o.threads; t++) {
		memcpy(all + k, r->w[t].tails, r->w[t].ntails * sizeof(*all));
		k += r->w[t].ntails;
	}
	qsort(all, total, sizeof(*all), lg_cmp_tail);
	/* The same index lg_step_json takes for p99. */
	from = (size_t)((double)(total - 1) * 0.99);
	o = json_pack("{s:o, s:o}", "slowest",
		      lg_tail_means(all + from, total - from), "all",
		      lg_tail_means(all, total));
	free(all);
	return o;
}

/* lg_report prints the figures and builds the JSON result (caller
 * decrefs). */
static json_t *
lg_report(struct lg_run *r, double bound, json_t *extra)
{
	json_t *res = json_object(), *steps = json_object(),
	       *errs = json_object(), *samples = json_object(), *st;
	uint64_t completed = 0, window_done = 0, late = 0, max_late = 0;
	uint64_t logins = 0, crossed = 0;
	uint64_t errors = 0, setup_errors = 0, started = 0;
	double window = r->o.duration, fps;
	int t, e, s;
	const char *mode = r->o.mode == LG_MODE_ENROLL ? "enroll"
			   : r->o.mode == LG_MODE_IDLE ? "idle-ws"
			   : r->o.rate > 0	       ? "login-open"
						       : "login-closed";

	for (t = 0; t < r->o.threads; t++) {
		struct lg_worker *w = &r->w[t];

		completed += w->completed;
		window_done += w->completed_window;
		late += w->late;
		started += w->started;
		logins += w->logins_made;
		crossed += w->crossed;
		setup_errors += w->setup_errors;
		if (w->max_late_ns > max_late)
			max_late = w->max_late_ns;
		for (e = 0; e < LG_E_COUNT; e++)
			errors += w->errors[e];
	}
	for (e = 0; e < LG_E_COUNT; e++) {
		uint64_t n = 0;
		const char *sample = NULL;

		for (t = 0; t < r->o.threads; t++) {
			n += r->w[t].errors[e];
			if (r->w[t].errors[e] > 0)
				sample = r->w[t].err_sample[e];
		}
		if (n > 0) {
			json_object_set_new(errs, lg_err_names[e],
					    json_integer((json_int_t)n));
			json_object_set_new(samples, lg_err_names[e],
					    json_string(sample));
		}
	}
	fps = (double)window_done / window;
	printf("mode %s: %d thread(s), ", mode, r->o.threads);
	if (r->o.mode == LG_MODE_LOGIN && r->o.rate > 0)
		printf("open loop at %.0f/s (%s arrivals)", r->o.rate,
		       r->o.uniform ? "uniform" : "Poisson");
	else if (r->o.mode != LG_MODE_IDLE)
		printf("closed loop at concurrency %d", r->o.concurrency);
	else
		printf("%zu idle WebSockets", r->o.idle_n);
	if (r->o.mode != LG_MODE_IDLE)
		printf(", warm-up %.1f s, measured %.1f s", r->o.warmup,
		       r->o.duration);
	printf("\n");
	if (r->o.mode != LG_MODE_IDLE) {
		printf("  completed %s/s: %.1f  (%llu in the window, %llu in "
		       "all)\n",
		       r->o.mode == LG_MODE_ENROLL ? "enrollments" : "flows",
		       fps, (unsigned long long)window_done,
		       (unsigned long long)completed);
	}
	if (bound > 0) {
		printf("  crypto bound: %.0f (verify + 2 signs)/s per core; "
		       "x %d server cores = %.0f/s; flows/s are %.1f%% of it\n",
		       bound, r->o.server_cores, bound * r->o.server_cores,
		       100.0 * fps / (bound * r->o.server_cores));
	}
	if (r->o.mode == LG_MODE_LOGIN && r->o.rate > 0)
		printf("  late starts (> 1 ms): %llu, latest %.2f ms\n",
		       (unsigned long long)late, (double)max_late / 1e6);
	printf("  errors: %llu", (unsigned long long)errors);
	for (e = 0; e < LG_E_COUNT; e++) {
		uint64_t n = 0;
		const char *sample = "";

		for (t = 0; t < r->o.threads; t++) {
			n += r->w[t].errors[e];
			if (r->w[t].errors[e] > 0)
				sample = r->w[t].err_sample[e];
		}
		if (n > 0)
			printf("\n    %-16s %llu  e.g. %s", lg_err_names[e],
			       (unsigned long long)n, sample);
	}
	printf("\n  %-22s %8s %9s %9s %9s %9s (ms)\n", "step", "count", "p50",
	       "p95", "p99", "max");
	for (s = 0; s < LG_STEPS; s++) {
		if ((st = lg_step_json(r, (enum lg_step)s)) == NULL)
			continue;
		printf(
		    "  %-22s %8lld %9.3f %9.3f %9.3f %9.3f\n", lg_step_names[s],
		    (long long)json_integer_value(json_object_get(st, "count")),
		    json_real_value(json_object_get(st, "p50")),
		    json_real_value(json_object_get(st, "p95")),
		    json_real_value(json_object_get(st, "p99")),
		    json_real_value(json_object_get(st, "max")));
		json_object_set_new(steps, lg_step_names[s], st);
	}
	json_object_set_new(res, "mode", json_string(mode));
	json_object_set_new(res, "threads", json_integer(r->o.threads));
	json_object_set_new(res, "concurrency", json_integer(r->o.concurrency));
	json_object_set_new(res, "rate", json_real(r->o.rate));
	json_object_set_new(res, "arrivals",
			    json_string(r->o.uniform ? "uniform" : "poisson"));
	json_object_set_new(res, "warmupSeconds", json_real(r->o.warmup));
	json_object_set_new(res, "durationSeconds", json_real(r->o.duration));
	json_object_set_new(res, "users", json_integer((json_int_t)r->nusers));
	json_object_set_new(res, "started", json_integer((json_int_t)started));
	json_object_set_new(res, "completed",
			    json_integer((json_int_t)completed));
	json_object_set_new(res, "servers", json_integer(r->o.port2 ? 2 : 1));
	if (r->o.port2)
		/* logins whose phone answered on the other server */
		json_object_set_new(
		    res, "crossedFraction",
		    json_real(logins ? (double)crossed / (double)logins : 0));
	json_object_set_new(res, "completedInWindow",
			    json_integer((json_int_t)window_done));
	json_object_set_new(res, "perSecond", json_real(fps));
	json_object_set_new(res, "lateStarts", json_integer((json_int_t)late));
	json_object_set_new(res, "maxLateMs",
			    json_real((double)max_late / 1e6));
	json_object_set_new(res, "errors", json_integer((json_int_t)errors));
	json_object_set_new(res, "setupErrors",
			    json_integer((json_int_t)setup_errors));
	json_object_set_new(res, "errorsByKind", errs);
	json_object_set_new(res, "errorSamples", samples);
	json_object_set_new(res, "steps", steps);
	if ((st = lg_tail_json(r)) != NULL) {
		const json_t *sl = json_object_get(st, "slowest");

		printf(
		    "  slowest 1%% of logins (%lld): %.3f ms = initiate "
		    "%.3f + otp_ready %.3f + the later of verify %.3f and "
		    "approved %.3f + between the steps %.3f\n",
		    (long long)json_integer_value(json_object_get(sl, "count")),
		    json_real_value(json_object_get(sl, "flowMs")),
		    json_real_value(json_object_get(sl, "initiateMs")),
		    json_real_value(json_object_get(sl, "otpReadyMs")),
		    json_real_value(json_object_get(sl, "verifyMs")),
		    json_real_value(json_object_get(sl, "approvedMs")),
		    json_real_value(json_object_get(sl, "betweenMs")));
		json_object_set_new(res, "tail", st);
	}
	json_object_set_new(res, "cryptoBoundPerCore", json_real(bound));
	json_object_set_new(res, "serverCores",
			    json_integer(r->o.server_cores));
	json_object_set_new(
	    res, "fractionOfBound",
	    json_real(bound > 0 ? fps / (bound * r->o.server_cores) : 0));
	if (extra != NULL)
		json_object_update(res, extra);
	return res;
}

static void
lg_usage(void)
{
	fprintf(
	    stderr,
	    "usage: bench_loadgen --port P --trust-dir DIR [options]\n"
	    "  --host 127.0.0.1      loopback address of the server\n"
	    "  --port2 P             a second server on the same stores: "
	    "browsers\n"
	    "                        alternate between the two, and half "
	    "the phones\n"
	    "                        answer on the other one\n"
	    "  --concurrency C       closed loop: C flows in flight (default "
	    "32)\n"
	    "  --rate R              open loop: R flow starts per second\n"
	    "  --uniform             open loop: uniform, not Poisson, "
	    "arrivals\n"
	    "  --duration S          measured seconds (default 10)\n"
	    "  --warmup S            seconds before measuring (default 2)\n"
	    "  --threads T           event loops (default 1)\n"
	    "  --users U             devices enrolled for logins (default: "
	    "max(C, 64))\n"
	    "  --enroll              measure POST /enroll instead\n"
	    "  --enroll-count N      seals issued up front for --enroll "
	    "(default: 10,000 per second of run)\n"
	    "  --idle-ws N           hold N idle WebSockets; needs "
	    "--server-pid\n"
	    "  --hold S              seconds to hold them (default 5)\n"
	    "  --server-pid PID      the server, for its RSS\n"
	    "  --server-cores N      cores the server may use (default: all)\n"
	    "  --bound-seconds S     time spent on the crypto bound (default "
	    "1; "
	    "0 skips)\n"
	    "  --timeout-ms MS       one flow's limit (default 10000)\n"
	    "  --max-inflight N      open loop: skip arrivals beyond N "
	    "(default 10000)\n"
	    "  --prefix P            token id prefix (default BENCH<pid>)\n"
	    "  --json FILE           write the figures as JSON\n");
}

static int
lg_parse(int argc, char **argv, struct lg_opts *o)
{
	struct in_addr a4;
	long n;
	int i;

	memset(o, 0, sizeof(*o));
	snprintf(o->host, sizeof(o->host), "127.0.0.1");
	o->threads = 1;
	o->concurrency = 32;
	o->duration = 10;
	o->warmup = 2;
	o->timeout_ms = 10000;
	o->max_inflight = 10000;
	o->hold = 5;
	o->bound_seconds = 1;
	o->server_cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	for (i = 1; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

#define LG_ARG(name) (strcmp(k, name) == 0 && v != NULL && ++i)
		if (LG_ARG("--host"))
			snprintf(o->host, sizeof(o->host), "%s", v);
		else if (LG_ARG("--port"))
			o->port = atoi(v);
		else if (LG_ARG("--port2"))
			o->port2 = atoi(v);
		else if (LG_ARG("--trust-dir"))
			o->trust_dir = v;
		else if (LG_ARG("--concurrency"))
			o->concurrency = atoi(v);
		else if (LG_ARG("--rate"))
			o->rate = atof(v);
		else if (strcmp(k, "--uniform") == 0)
			o->uniform = 1;
		else if (LG_ARG("--duration"))
			o->duration = atof(v);
		else if (LG_ARG("--warmup"))
			o->warmup = atof(v);
		else if (LG_ARG("--threads"))
			o->threads = atoi(v);
		else if (LG_ARG("--users"))
			o->users = atoi(v);
		else if (strcmp(k, "--enroll") == 0)
			o->mode = LG_MODE_ENROLL;
		else if (LG_ARG("--enroll-count"))
			o->enroll_count = (size_t)atol(v);
		else if (LG_ARG("--idle-ws")) {
			o->mode = LG_MODE_IDLE;
			o->idle_n = (size_t)atol(v);
		} else if (LG_ARG("--hold"))
			o->hold = atof(v);
		else if (LG_ARG("--server-pid"))
			o->server_pid = atol(v);
		else if (LG_ARG("--server-cores"))
			o->server_cores = atoi(v);
		else if (LG_ARG("--bound-seconds"))
			o->bound_seconds = atof(v);
		else if (LG_ARG("--timeout-ms"))
			o->timeout_ms = atol(v);
		else if (LG_ARG("--max-inflight"))
			o->max_inflight = (size_t)atol(v);
		else if (LG_ARG("--prefix"))
			o->prefix = v;
		else if (LG_ARG("--json"))
			o->json_path = v;
		else {
			lg_usage();
			return -1;
		}
#undef LG_ARG
	}
	/* loopback only: this tool never sends load anywhere else */
	if (inet_pton(AF_INET, o->host, &a4) != 1 ||
	    (ntohl(a4.s_addr) >> 24) != 127) {
		fprintf(stderr,
			"loadgen: --host must be a 127.0.0.0/8 address\n");
		return -1;
	}
	n = o->users ? o->users : (o->concurrency > 64 ? o->concurrency : 64);
	if (o->mode == LG_MODE_IDLE && o->users == 0)
		n = 64;
	o->users = (int)n;
	if (o->port <= 0 || o->port > 65535 || o->port2 < 0 ||
	    o->port2 > 65535 || o->trust_dir == NULL || o->threads < 1 ||
	    o->threads > LG_MAX_THREADS || o->concurrency < 1 ||
	    o->concurrency > 100000 || o->rate < 0 || o->rate > 1e6 ||
	    o->duration <= 0 || o->duration > 3600 || o->warmup < 0 ||
	    o->warmup > 600 || o->users < 1 || o->users > LG_MAX_USERS ||
	    o->timeout_ms < 100 || o->timeout_ms > 120000 ||
	    o->max_inflight < 1 || o->idle_n > LG_MAX_IDLE || o->hold < 0 ||
	    o->hold > 600 || o->server_cores < 1 || o->bound_seconds < 0 ||
	    o->bound_seconds > 60 || o->enroll_count > LG_MAX_ENROLL ||
	    (o->mode == LG_MODE_IDLE &&
	     (o->idle_n < 1 || o->server_pid <= 0))) {
		lg_usage();
		return -1;
	}
	if (o->mode == LG_MODE_ENROLL && o->enroll_count == 0) {
		double want = 10000.0 * (o->duration + o->warmup);

		o->enroll_count =
		    want > LG_MAX_ENROLL ? LG_MAX_ENROLL : (size_t)want;
	}
	return 0;
}

/* lg_raise_nofile lifts the soft descriptor limit to the hard one. */
static void
lg_raise_nofile(size_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need)
		fprintf(stderr,
			"loadgen: warning: %llu descriptors allowed, %zu "
			"wanted\n",
			(unsigned long long)rl.rlim_cur, need);
}

/*
 * lg_issue_enroll_seals issues the seals of --enroll up front, spread over
 * the workers, with one shared device key. Returns 0 or -1.
 */
static int
lg_issue_enroll_seals(struct lg_run *r, const char *prefix)
{
	EVP_PKEY *k = NULL, *signer = NULL;
	BIO *bio = NULL;
	unsigned char *kpem = NULL;
	size_t kpem_len = 0;
	char *pp, tid[64], dev[80], kpath[1100];
	long pn;
	size_t i, per;
	struct vds_claims vc;
	int rc = -1, t;

	if (ecdsa_generate_p256(&k) != SA_OK ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PUBKEY(bio, k) != 1 ||
	    (pn = BIO_get_mem_data(bio, &pp)) <= 0 ||
	    (size_t)pn >= sizeof(r->pubkey_pem))
		goto out;
	memcpy(r->pubkey_pem, pp, (size_t)pn);
	r->pubkey_pem[pn] = '\0';
	/* what trust_demo_issue does, with the signer key read once */
	snprintf(kpath, sizeof(kpath), "%.1000s/private/signer.key",
		 r->o.trust_dir);
	if (read_file(kpath, ECDSA_PEM_MAX, &kpem, &kpem_len) != SA_OK ||
	    ecdsa_privkey_from_pem((const char *)kpem, kpem_len, &signer) !=
		SA_OK)
		goto out;
	per = (r->o.enroll_count + (size_t)r->o.threads - 1) /
	      (size_t)r->o.threads;
	memset(&vc, 0, sizeof(vc));
	snprintf(vc.given_name, sizeof(vc.given_name), "ERIKA");
	snprintf(vc.family_name, sizeof(vc.family_name), "MUSTERMANN");
	snprintf(vc.birth_date, sizeof(vc.birth_date), "1990-04-01");
	snprintf(vc.nationality, sizeof(vc.nationality), "DEU");
	snprintf(vc.document, sizeof(vc.document), "C01X00T47");
	snprintf(vc.expiry, sizeof(vc.expiry), "2035-01-01");
	for (t = 0; t < r->o.threads; t++) {
		struct lg_worker *w = &r->w[t];

		if ((w->enroll_bodies = calloc(per, sizeof(char *))) == NULL)
			goto out;
		for (i = 0; i < per; i++) {
			unsigned char *seal = NULL;
			size_t n = 0;

			snprintf(tid, sizeof(tid), "%s-E%d-%zu", prefix, t, i);
			snprintf(vc.token_id, sizeof(vc.token_id), "%s", tid);
			snprintf(dev, sizeof(dev), "dev-%s", tid);
			if (vds_encode_iso(TRUST_DEMO_CA_ID, TRUST_DEMO_CERT_ID,
					   VDS_PROFILE_MANIFEST,
					   (uint32_t)(now_unix() - 60), &vc,
					   signer, &seal, &n) != SA_OK)
				goto out;
			w->enroll_bodies[i] =
			    lg_enroll_body(seal, n, r->pubkey_pem, dev);
			free(seal);
			if (w->enroll_bodies[i] == NULL)
				goto out;
			w->n_enroll++;
		}
	}
	rc = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(k);
	EVP_PKEY_free(signer);
	if (kpem != NULL) {
		OPENSSL_cleanse(kpem, kpem_len);
		free(kpem);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static struct lg_run run;
	struct lg_run *r = &run;
	struct event_config *ecfg = NULL;
	char prefix[24];
	json_t *extra = json_object(), *res = NULL;
	double bound = 0;
	uint64_t setup_errors = 0, errors = 0, t_setup;
	long rss_before = -1, rss_after = -1;
	size_t i, held = 0, idle_failed = 0;
	int t, e, rc = 2, started = 0;

	log_set_level(SA_LOG_WARN);
	signal(SIGPIPE, SIG_IGN);
	if (lg_parse(argc, argv, &r->o) != 0)
		return 2;
	snprintf(prefix, sizeof(prefix), "%s",
		 r->o.prefix ? r->o.prefix : "BENCH");
	if (r->o.prefix == NULL)
		snprintf(prefix, sizeof(prefix), "BENCH%ld", (long)getpid());
	lg_raise_nofile(r->o.idle_n + (size_t)r->o.concurrency * 2 + 256);
	memset(&r->addr, 0, sizeof(r->addr));
	for (int k = 0; k < 2; k++) {
		r->addr[k].sin_family = AF_INET;
		r->addr[k].sin_port =
		    htons((uint16_t)(k ? r->o.port2 : r->o.port));
		inet_pton(AF_INET, r->o.host, &r->addr[k].sin_addr);
	}

	if (r->o.bound_seconds > 0 && r->o.mode == LG_MODE_LOGIN) {
		bound = lg_crypto_bound(r->o.bound_seconds);
		if (bound <= 0) {
			fprintf(stderr, "loadgen: the crypto bound failed\n");
			goto out;
		}
	}

	/* users: their device keys; enrolled by the workers in set-up */
	r->nusers = (size_t)r->o.users;
	if ((r->users = calloc(r->nusers, sizeof(*r->users))) == NULL)
		goto out;
	for (i = 0; i < r->nusers; i++) {
		snprintf(r->users[i].token_id, sizeof(r->users[i].token_id),
			 "%s-U%zu", prefix, i);
		if (ecdsa_generate_p256(&r->users[i].key) != SA_OK)
			goto out;
	}
	if (r->o.mode == LG_MODE_IDLE &&
	    (r->idle = calloc(r->o.idle_n, sizeof(*r->idle))) == NULL)
		goto out;
	if (r->o.mode == LG_MODE_ENROLL) {
		t_setup = lg_now();
		if (lg_issue_enroll_seals(r, prefix) != 0) {
			fprintf(stderr, "loadgen: cannot issue seals from %s\n",
				r->o.trust_dir);
			goto out;
		}
		printf("issued %zu seals in %.2f s\n", r->o.enroll_count,
		       (double)(lg_now() - t_setup) / 1e9);
	}
	if ((ecfg = event_config_new()) == NULL)
		goto out;
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	if (pthread_barrier_init(&r->barrier, NULL,
				 (unsigned)r->o.threads + 1) != 0)
		goto out;
	for (t = 0; t < r->o.threads; t++) {
		struct lg_worker *w = &r->w[t];
		size_t nu = 0;

		w->run = r;
		w->idx = t;
		if (rand_bytes(&w->rng, sizeof(w->rng)) != SA_OK)
			goto out;
		w->rng |= 1;
		if ((w->base = event_base_new_with_config(ecfg)) == NULL ||
		    (w->reap_ev = event_new(w->base, -1, 0, lg_reap_cb, w)) ==
			NULL ||
		    (w->arrival_ev = evtimer_new(w->base, lg_arrival_cb, w)) ==
			NULL ||
		    (w->stop_ev = evtimer_new(w->base, lg_stop_cb, w)) ==
			NULL ||
		    (w->drain_ev = evtimer_new(w->base, lg_drain_cb, w)) ==
			NULL)
			goto out;
		for (i = (size_t)t; i < r->nusers; i += (size_t)r->o.threads)
			nu++;
		if (nu == 0) {
			fprintf(stderr, "loadgen: fewer users than threads\n");
			goto out;
		}
		if ((w->users = calloc(nu, sizeof(*w->users))) == NULL)
			goto out;
		for (i = (size_t)t; i < r->nusers; i += (size_t)r->o.threads)
			w->users[w->nusers++] = &r->users[i];
	}
	t_setup = lg_now();
	for (t = 0; t < r->o.threads; t++) {
		if (pthread_create(&r->w[t].tid, NULL, lg_worker_main,
				   &r->w[t]) != 0) {
			/* the barrier cannot complete without every thread */
			fprintf(stderr, "loadgen: cannot start threads\n");
			exit(2);
		}
		started++;
	}
	pthread_barrier_wait(&r->barrier); /* set-up done */
	for (t = 0; t < r->o.threads; t++) {
		setup_errors += r->w[t].setup_errors;
		if (r->w[t].failed_setup)
			setup_errors++;
	}
	if (r->o.mode != LG_MODE_ENROLL)
		printf("enrolled %zu devices in %.2f s%s\n", r->nusers,
		       (double)(lg_now() - t_setup) / 1e9,
		       setup_errors ? " (with errors)" : "");
	r->t0 = lg_now();
	r->t_warm = r->t0 + (uint64_t)(r->o.warmup * 1e9);
	r->t_end = r->t_warm + (uint64_t)(r->o.duration * 1e9);
	if (setup_errors) {
		/* measure nothing: the workers see a finished window */
		r->t_end = r->t_warm = r->t0;
	}
	pthread_barrier_wait(&r->barrier); /* go */
	if (r->o.mode == LG_MODE_IDLE) {
		pthread_barrier_wait(&r->barrier); /* sessions initiated */
		for (t = 0; t < r->o.threads; t++)
			setup_errors += r->w[t].setup_errors;
		sleep(1);
		rss_before = lg_rss_kb(r->o.server_pid);
		pthread_barrier_wait(&r->barrier); /* open them */
		pthread_barrier_wait(&r->barrier); /* all open */
		sleep(2);
		rss_after = lg_rss_kb(r->o.server_pid);
		for (i = 0; i < r->o.idle_n; i++) {
			if (r->idle[i].state == 2)
				held++;
			else
				idle_failed++;
		}
		printf("idle WebSockets: %zu held, %zu failed; server RSS %ld "
		       "KiB -> %ld KiB = %.0f bytes per connection\n",
		       held, idle_failed, rss_before, rss_after,
		       held ? (double)(rss_after - rss_before) * 1024.0 /
				  (double)held
			    : 0.0);
		json_object_set_new(extra, "idleHeld",
				    json_integer((json_int_t)held));
		json_object_set_new(extra, "idleFailed",
				    json_integer((json_int_t)idle_failed));
		json_object_set_new(extra, "rssBeforeKiB",
				    json_integer(rss_before));
		json_object_set_new(extra, "rssAfterKiB",
				    json_integer(rss_after));
		json_object_set_new(
		    extra, "bytesPerConnection",
		    json_real(held ? (double)(rss_after - rss_before) * 1024.0 /
					 (double)held
				   : 0.0));
		/* hold them, bounded, then close them all */
		usleep((useconds_t)(r->o.hold * 1e6));
		{
			long rss_held = lg_rss_kb(r->o.server_pid);

			json_object_set_new(extra, "rssHeldKiB",
					    json_integer(rss_held));
			json_object_set_new(extra, "holdSeconds",
					    json_real(r->o.hold));
		}
		pthread_barrier_wait(&r->barrier); /* close */
		pthread_barrier_wait(&r->barrier); /* closed */
	} else {
		pthread_barrier_wait(&r->barrier); /* main phase done */
	}
	for (t = 0; t < started; t++)
		pthread_join(r->w[t].tid, NULL);
	started = 0;
	json_object_set_new(extra, "setupSeconds",
			    json_real((double)(r->t0 - t_setup) / 1e9));
	json_object_set_new(extra, "enrollSealsExhausted",
			    json_boolean(r->w[0].enroll_exhausted));
	res = lg_report(r, bound, extra);
	if (r->o.json_path != NULL &&
	    json_dump_file(res, r->o.json_path, JSON_INDENT(2)) != 0) {
		fprintf(stderr, "loadgen: cannot write %s\n", r->o.json_path);
		goto out;
	}
	for (t = 0; t < r->o.threads; t++)
		for (e = 0; e < LG_E_COUNT; e++)
			errors += r->w[t].errors[e];
	if (r->w[0].enroll_exhausted && r->o.mode == LG_MODE_ENROLL)
		printf("  note: the %zu seals ran out before the end\n",
		       r->o.enroll_count);
	rc = (errors > 0 || setup_errors > 0 ||
	      (r->o.mode == LG_MODE_IDLE ? held == 0
					 : json_integer_value(json_object_get(
					       res, "completedInWindow")) == 0))
		 ? 1
		 : 0;
out:
	for (t = 0; t < started; t++)
		pthread_join(r->w[t].tid, NULL);
	for (t = 0; t < LG_MAX_THREADS; t++) {
		struct lg_worker *w = &r->w[t];
		int s;

		if (w->base != NULL) {
			while (w->conns != NULL)
				lg_conn_free(w->conns);
			if (w->reap_ev)
				event_free(w->reap_ev);
			if (w->arrival_ev)
				event_free(w->arrival_ev);
			if (w->stop_ev)
				event_free(w->stop_ev);
			if (w->drain_ev)
				event_free(w->drain_ev);
			event_base_free(w->base);
		}
		for (s = 0; s < LG_STEPS; s++)
			free(w->s[s].v);
		free(w->tails);
		for (i = 0; i < w->n_enroll; i++)
			free(w->enroll_bodies[i]);
		free(w->enroll_bodies);
		free(w->users);
	}
	if (r->users != NULL)
		for (i = 0; i < r->nusers; i++)
			EVP_PKEY_free(r->users[i].key);
	free(r->users);
	free(r->idle);
	if (ecfg != NULL)
		event_config_free(ecfg);
	json_decref(extra);
	json_decref(res);
	return rc;
}
