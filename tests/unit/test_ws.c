/*
 * test_ws.c - the WebSocket layer, driven through socketpairs.
 *
 * Each connection is a socketpair: the server end goes to ws_adopt as if the
 * HTTP layer had just sent 101, the client end is driven here with a small
 * frame encoder (masked, as browsers send) and decoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "net/ws.h"

#define T_WAIT_MS 5000
/* The heap in use: mallinfo2 sees glibc's allocator; a sanitizer's own
 * allocator reports through its interface instead (declared here: GCC
 * ships no header for it). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZER_HEAP 1
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#define T_SANITIZER_HEAP 0
#endif

/* One test connection and what the callbacks saw of it. */
struct tconn {
	int cfd; /* client end, driven by the test */
	int sfd; /* server end, owned by ws until release */
	uint64_t id;
	int opens, texts, closes, releases;
	int released_after_close; /* release came after on_close */
	uint16_t code;
	int answered; /* as on_close reported it */
};

static pthread_mutex_t t_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t t_cv = PTHREAD_COND_INITIALIZER;
static int t_opens, t_releases; /* over all connections */

static void
t_on_open(struct ws_server *ws, uint64_t id, void *arg)
{
	struct tconn *tc = arg;

	pthread_mutex_lock(&t_mu);
	tc->opens++;
	t_opens++;
	pthread_cond_broadcast(&t_cv);
	pthread_mutex_unlock(&t_mu);
}

/* The echo endpoint sends every text message back. */
static void
t_on_text(struct ws_server *ws, uint64_t id, const char *msg, size_t n,
	  void *arg)
{
	struct tconn *tc = arg;

	pthread_mutex_lock(&t_mu);
	tc->texts++;
	pthread_mutex_unlock(&t_mu);
	ws_send_text(ws, id, msg, n);
}

static void
t_on_close(struct ws_server *ws, uint64_t id, uint16_t code, int answered,
	   void *arg)
{
	struct tconn *tc = arg;

	pthread_mutex_lock(&t_mu);
	tc->closes++;
	tc->code = code;
	tc->answered = answered;
	pthread_cond_broadcast(&t_cv);
	pthread_mutex_unlock(&t_mu);
}

/* The release callback stands in for the HTTP layer: it closes the fd. */
static void
t_release(void *handle)
{
	struct tconn *tc = handle;

	pthread_mutex_lock(&t_mu);
	tc->releases++;
	t_releases++;
	tc->released_after_close = tc->closes == 1;
	close(tc->sfd);
	tc->sfd = -1;
	pthread_cond_broadcast(&t_cv);
	pthread_mutex_unlock(&t_mu);
}

static const struct ws_handler t_echo = {t_on_open, t_on_text, t_on_close};

/* t_wait waits until *v >= want or T_WAIT_MS pass; returns *v. */
static int
t_wait(int *v, int want, int timeout_ms)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t_mu);
	while (*v < want &&
	       pthread_cond_timedwait(&t_cv, &t_mu, &ts) != ETIMEDOUT)
		;
	r = *v;
	pthread_mutex_unlock(&t_mu);
	return r;
}

static int
t_get(int *v)
{
	int r;

	pthread_mutex_lock(&t_mu);
	r = *v;
	pthread_mutex_unlock(&t_mu);
	return r;
}

static struct ws_server *
t_start(long idle, long max_message, long max_conns, size_t max_queued)
{
	struct ws_config cfg = {idle, max_message, max_conns, max_queued};
	struct ws_server *ws = NULL;

	assert_int_equal(ws_server_start(&cfg, &ws), SA_OK);
	assert_non_null(ws);
	return ws;
}

/*
 * t_fit gives how many of want socket pairs the descriptor limit (main
 * raises it to the hard limit) leaves room for: two descriptors each, and
 * 256 kept for the process. It says so when that is fewer.
 */
static size_t
t_fit(size_t want)
{
	struct rlimit rl;
	size_t n = want;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < (rlim_t)(2 * want + 256)) {
		n = rl.rlim_cur > 256 ? (size_t)(rl.rlim_cur - 256) / 2 : 0;
		print_message("descriptor limit %llu: %zu connections\n",
			      (unsigned long long)rl.rlim_cur, n);
	}
	return n;
}

static void
t_pair(struct tconn *tc)
{
	int sv[2];

	memset(tc, 0, sizeof(*tc));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	tc->cfd = sv[0];
	tc->sfd = sv[1];
}

/* t_open adopts a fresh socketpair and waits for on_open. */
static void
t_open(struct ws_server *ws, struct tconn *tc, const void *extra,
       size_t extra_len)
{
	t_pair(tc);
	assert_int_equal(ws_adopt(ws, tc->sfd, extra, extra_len, t_release, tc,
				  &t_echo, tc, &tc->id),
			 SA_OK);
	assert_int_equal(t_wait(&tc->opens, 1, T_WAIT_MS), 1);
}

/* t_frame encodes one client frame into out (n + 14 bytes suffice). */
static size_t
t_frame(unsigned char *out, int fin, int op, const void *p, size_t n,
	int masked)
{
	static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
	const unsigned char *s = p;
	size_t o = 0;

	out[o++] = (unsigned char)((fin ? 0x80 : 0) | (op & 0x0f));
	if (n < 126) {
		out[o++] = (unsigned char)((masked ? 0x80 : 0) | n);
	} else if (n < 65536) {
		out[o++] = (unsigned char)((masked ? 0x80 : 0) | 126);
		out[o++] = (unsigned char)(n >> 8);
		out[o++] = (unsigned char)n;
	} else {
		out[o++] = (unsigned char)((masked ? 0x80 : 0) | 127);
		for (int i = 7; i >= 0; i--)
			out[o++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	if (masked) {
		memcpy(out + o, key, 4);
		o += 4;
	}
	for (size_t i = 0; i < n; i++)
		out[o + i] = masked ? s[i] ^ key[i % 4] : s[i];
	return o + n;
}

static void
t_write(int fd, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n > 0) {
		ssize_t r = write(fd, s, n);
		assert_true(r > 0);
		s += r;
		n -= (size_t)r;
	}
}

static void
t_send(struct tconn *tc, int fin, int op, const void *p, size_t n)
{
	unsigned char *buf = malloc(n + 14);

	assert_non_null(buf);
	t_write(tc->cfd, buf, t_frame(buf, fin, op, p, n, 1));
	free(buf);
}

/*
 * t_send_close answers or starts a close handshake. The server may already
 * have let go of its end (after a protocol error it does not wait), so a
 * failed write is not an error here.
 */
static void
t_send_close(struct tconn *tc, uint16_t code)
{
	unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};
	unsigned char f[16];
	size_t n = t_frame(f, 1, 0x8, p, 2, 1);

	(void)!send(tc->cfd, f, n, MSG_NOSIGNAL);
}

/* t_read reads exactly n bytes within timeout_ms; returns 0 or -1. */
static int
t_read(int fd, void *p, size_t n, int timeout_ms)
{
	unsigned char *d = p;
	uint64_t end = now_mono_ms() + (uint64_t)timeout_ms;

	while (n > 0) {
		struct pollfd pfd = {fd, POLLIN, 0};
		uint64_t now = now_mono_ms();
		ssize_t r;

		if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
			return -1;
		r = read(fd, d, n);
		if (r <= 0)
			return -1;
		d += r;
		n -= (size_t)r;
	}
	return 0;
}

/* t_eof tells whether the server's side of the stream has ended: nothing
 * but the end is left to read within timeout_ms. */
static int
t_eof(int fd, int timeout_ms)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char c;

	return poll(&pfd, 1, timeout_ms) == 1 && read(fd, &c, 1) == 0;
}

/*
 * t_recv reads one server frame (which must be unmasked and final) into buf;
 * returns the opcode, or -1 on timeout or end of stream.
 */
static int
t_recv(struct tconn *tc, unsigned char *buf, size_t cap, size_t *len,
       int timeout_ms)
{
	unsigned char h[8];
	uint64_t n;
	int op;

	if (t_read(tc->cfd, h, 2, timeout_ms) != 0)
		return -1;
	assert_int_equal(h[1] & 0x80, 0); /* servers never mask */
	assert_int_equal(h[0] & 0x80, 0x80);
	op = h[0] & 0x0f; /* h is reused for a long length */
	n = h[1] & 0x7f;
	if (n == 126) {
		assert_int_equal(t_read(tc->cfd, h, 2, timeout_ms), 0);
		n = ((uint64_t)h[0] << 8) | h[1];
	} else if (n == 127) {
		assert_int_equal(t_read(tc->cfd, h, 8, timeout_ms), 0);
		n = 0;
		for (int i = 0; i < 8; i++)
			n = (n << 8) | h[i];
	}
	assert_true(n <= cap);
	if (n > 0)
		assert_int_equal(t_read(tc->cfd, buf, (size_t)n, timeout_ms),
				 0);
	*len = (size_t)n;
	return op;
}

static void
t_expect(struct tconn *tc, int op, const char *payload)
{
	unsigned char buf[1024];
	size_t len = 0;

	assert_int_equal(t_recv(tc, buf, sizeof(buf), &len, T_WAIT_MS), op);
	assert_int_equal(len, strlen(payload));
	assert_memory_equal(buf, payload, len);
}

/*
 * t_expect_close reads frames until a close frame and returns its code
 * (0 if it has none); fails the test on timeout. The reason is copied to
 * reason when given.
 */
static int
t_expect_close(struct tconn *tc, int timeout_ms, char *reason, size_t cap)
{
	unsigned char *buf = malloc(70000);
	size_t len = 0;
	int op, code;

	assert_non_null(buf);
	do {
		op = t_recv(tc, buf, 70000, &len, timeout_ms);
	} while (op >= 0 && op != 0x8);
	assert_int_equal(op, 0x8);
	code = len >= 2 ? (buf[0] << 8) | buf[1] : 0;
	if (reason != NULL) {
		size_t r = len >= 2 ? len - 2 : 0;
		assert_true(r < cap);
		memcpy(reason, buf + 2, r);
		reason[r] = '\0';
	}
	free(buf);
	return code;
}

/* t_finish closes the client end and waits for the server to let go. */
static void
t_finish(struct tconn *tc)
{
	close(tc->cfd);
	tc->cfd = -1;
	assert_int_equal(t_wait(&tc->releases, 1, T_WAIT_MS), 1);
}

static void
test_accept_key(void **state)
{
	char out[29];

	/* The example of RFC 6455, section 1.3. */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), SA_OK);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(ws_accept_key("", out), SA_ERR_BAD_REQUEST);
	assert_int_equal(ws_accept_key(NULL, out), SA_ERR_BAD_REQUEST);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", out),
			 SA_ERR_BAD_REQUEST);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==A", out),
			 SA_ERR_BAD_REQUEST);
	assert_int_equal(ws_accept_key("dGhl!HNhbXBsZSBub25jZQ==", out),
			 SA_ERR_BAD_REQUEST);
	/* 24 characters, but 17 bytes. */
	assert_int_equal(ws_accept_key("AAAAAAAAAAAAAAAAAAAAAAA=", out),
			 SA_ERR_BAD_REQUEST);
	/* 15 bytes. */
	assert_int_equal(ws_accept_key("AAAAAAAAAAAAAAAAAAAA", out),
			 SA_ERR_BAD_REQUEST);
}

static void
test_echo_and_peer_close(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;

	t_open(ws, &tc, NULL, 0);
	assert_int_equal(ws_count(ws), 1);
	t_send(&tc, 1, 0x1, "hello", 5);
	t_expect(&tc, 0x1, "hello");
	/* A message of 300 bytes needs the 16-bit length form both ways. */
	char big[301];
	memset(big, 'x', 300);
	big[300] = '\0';
	t_send(&tc, 1, 0x1, big, 300);
	t_expect(&tc, 0x1, big);

	t_send_close(&tc, 1000);
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, NULL, 0), 1000);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(t_get(&tc.closes), 1);
	assert_int_equal(tc.code, 1000);
	/* The peer closed first: ours only echoed it. */
	assert_int_equal(tc.answered, 0);
	assert_true(tc.released_after_close);
	assert_int_equal(ws_count(ws), 0);
	close(tc.cfd);
	ws_server_stop(ws);
	assert_int_equal(tc.closes, 1);
	assert_int_equal(tc.releases, 1);
}

/*
 * A connection quiet for a second loses its wslay context (the sweep runs
 * twice a second); everything still works afterwards: a message from the
 * server, one from the client, the close handshake, and a peer that just
 * goes away.
 */
static void
test_idle_rest_and_wake(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc, quiet;

	t_open(ws, &tc, NULL, 0);
	t_open(ws, &quiet, NULL, 0);
	usleep(1700 * 1000);
	assert_int_equal(ws_send_text(ws, tc.id, "late", 4), SA_OK);
	t_expect(&tc, 0x1, "late");
	t_send(&tc, 1, 0x1, "hello", 5);
	t_expect(&tc, 0x1, "hello");
	assert_int_equal(ws_close(ws, tc.id, 1000, "done"), SA_OK);
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, NULL, 0), 1000);
	t_send_close(&tc, 1000);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, 1000);
	close(tc.cfd);
	/* The resting one's peer leaves without a close frame. */
	close(quiet.cfd);
	assert_int_equal(t_wait(&quiet.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(quiet.code, 1006);
	ws_server_stop(ws);
}

/*
 * ws_send_close: the message, then the close with its code and reason, in
 * that order; a close after a message queued ahead still comes last; a
 * message refused still lets the close go; and the close's checks hold.
 */
static void
test_send_close(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc, ahead, bad;
	unsigned char buf[256];
	char reason[64];
	size_t len = 0;

	(void)state;
	t_open(ws, &tc, NULL, 0);
	assert_int_equal(ws_send_close(ws, tc.id, "final", 5, 1000, "done"),
			 SA_OK);
	t_expect(&tc, 0x1, "final");
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, reason, sizeof(reason)),
			 1000);
	assert_string_equal(reason, "done");
	/* Nothing follows the close: the server's side is shut at once, and
	 * the peer's close is still read. */
	assert_true(t_eof(tc.cfd, T_WAIT_MS));
	assert_int_equal(t_get(&tc.releases), 0);
	t_send_close(&tc, 1000);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, 1000);
	close(tc.cfd);

	t_open(ws, &ahead, NULL, 0);
	assert_int_equal(ws_send_text(ws, ahead.id, "first", 5), SA_OK);
	assert_int_equal(ws_send_close(ws, ahead.id, "second", 6, 4000, "bye"),
			 SA_OK);
	t_expect(&ahead, 0x1, "first");
	t_expect(&ahead, 0x1, "second");
	assert_int_equal(t_recv(&ahead, buf, sizeof(buf), &len, T_WAIT_MS),
			 0x8);
	assert_int_equal(len, 5);
	assert_int_equal((buf[0] << 8) | buf[1], 4000);
	assert_memory_equal(buf + 2, "bye", 3);
	t_finish(&ahead);

	t_open(ws, &bad, NULL, 0);
	assert_int_equal(ws_send_close(ws, bad.id, "\xff", 1, 1000, "done"),
			 SA_ERR_BAD_REQUEST);
	/* Nothing but the close arrives. */
	assert_int_equal(t_recv(&bad, buf, sizeof(buf), &len, T_WAIT_MS), 0x8);
	assert_int_equal((buf[0] << 8) | buf[1], 1000);
	assert_int_equal(ws_send_close(ws, bad.id, "x", 1, 1005, NULL),
			 SA_ERR_BAD_REQUEST);
	assert_int_equal(ws_send_close(ws, 12345, "x", 1, 1000, NULL),
			 SA_ERR_NOT_FOUND);
	t_finish(&bad);
	ws_server_stop(ws);
}

/*
 * A final message the socket does not take whole (a small send buffer, a
 * peer that does not read yet): the rest waits for the socket and goes out
 * before the close frame, and the connection does not end before it is out,
 * even when the peer's close frame arrives first.
 */
static void
test_send_close_partial(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	const size_t n = 200000;
	char *msg = malloc(n);
	unsigned char *buf = malloc(n);
	int small = 4096, queued = 0;
	char reason[64];
	struct tconn tc;
	size_t len = 0;

	(void)state;
	assert_non_null(msg);
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		msg[i] = (char)('a' + i % 26);
	t_open(ws, &tc, NULL, 0);
	assert_int_equal(
	    setsockopt(tc.sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
	    0);
	assert_int_equal(ws_send_close(ws, tc.id, msg, n, 1000, "done"), SA_OK);
	usleep(200 * 1000);
	/* Only part went out: the rest is held by the server. */
	assert_int_equal(ioctl(tc.cfd, FIONREAD, &queued), 0);
	assert_true(queued > 0);
	assert_true((size_t)queued < n);
	/* The peer's close, before it reads: the server must not end yet. */
	t_send_close(&tc, 1000);
	usleep(200 * 1000);
	assert_int_equal(t_get(&tc.releases), 0);
	assert_int_equal(t_recv(&tc, buf, n, &len, T_WAIT_MS), 0x1);
	assert_int_equal(len, n);
	assert_memory_equal(buf, msg, n);
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, reason, sizeof(reason)),
			 1000);
	assert_string_equal(reason, "done");
	/* The end of the stream only after all of it. */
	assert_true(t_eof(tc.cfd, T_WAIT_MS));
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, 1000);
	close(tc.cfd);
	free(msg);
	free(buf);
	ws_server_stop(ws);
}

/* The greeting endpoint sends a message from on_open, as the session
 * route sends a login's code; the refusing one closes from on_open. */
static void
t_greet_open(struct ws_server *ws, uint64_t id, void *arg)
{
	t_on_open(ws, id, arg);
	ws_send_text(ws, id, "hello", 5);
}

static void
t_refuse_open(struct ws_server *ws, uint64_t id, void *arg)
{
	t_on_open(ws, id, arg);
	ws_close(ws, id, 4001, "bad token");
}

static const struct ws_handler t_greet = {t_greet_open, t_on_text, t_on_close};
static const struct ws_handler t_refuse = {t_refuse_open, t_on_text,
					   t_on_close};

#define T_ANSWER                                                               \
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"           \
	"Connection: Upgrade\r\n\r\n"

/* t_open_answer adopts a fresh socketpair whose handshake answer the
 * server is still to write, and waits for on_open. */
static void
t_open_answer(struct ws_server *ws, struct tconn *tc, const char *answer,
	      size_t n, const struct ws_handler *h)
{
	t_pair(tc);
	assert_int_equal(ws_adopt_answer(ws, tc->sfd, answer, n, t_release, tc,
					 h, tc, &tc->id),
			 SA_OK);
	assert_int_equal(t_wait(&tc->opens, 1, T_WAIT_MS), 1);
}

/* t_expect_bytes reads exactly n bytes and compares them with want. */
static void
t_expect_bytes(struct tconn *tc, const char *want, size_t n)
{
	char *buf = malloc(n);

	assert_non_null(buf);
	assert_int_equal(t_read(tc->cfd, buf, n, T_WAIT_MS), 0);
	assert_memory_equal(buf, want, n);
	free(buf);
}

static void
test_answer_with_first_frame(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;

	(void)state;
	t_open_answer(ws, &tc, T_ANSWER, strlen(T_ANSWER), &t_greet);
	/* The answer first, whole, then the frame on_open queued. */
	t_expect_bytes(&tc, T_ANSWER, strlen(T_ANSWER));
	t_expect(&tc, 0x1, "hello");
	t_send(&tc, 1, 0x1, "ping?", 5);
	t_expect(&tc, 0x1, "ping?");
	t_finish(&tc);
	ws_server_stop(ws);
}

static void
test_answer_alone(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;
	int queued = -1;

	(void)state;
	/* on_open queues nothing: the answer still goes out, alone. */
	t_open_answer(ws, &tc, T_ANSWER, strlen(T_ANSWER), &t_echo);
	t_expect_bytes(&tc, T_ANSWER, strlen(T_ANSWER));
	usleep(100 * 1000);
	assert_int_equal(ioctl(tc.cfd, FIONREAD, &queued), 0);
	assert_int_equal(queued, 0);
	t_send(&tc, 1, 0x1, "echo", 4);
	t_expect(&tc, 0x1, "echo");
	t_finish(&tc);
	ws_server_stop(ws);
}

static void
test_answer_then_close(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	char reason[64];
	struct tconn tc;

	(void)state;
	t_open_answer(ws, &tc, T_ANSWER, strlen(T_ANSWER), &t_refuse);
	t_expect_bytes(&tc, T_ANSWER, strlen(T_ANSWER));
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, reason, sizeof(reason)),
			 4001);
	assert_string_equal(reason, "bad token");
	t_send_close(&tc, 4001);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, 4001);
	close(tc.cfd);
	ws_server_stop(ws);
}

static void
test_answer_partial(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	const size_t n = 200000;
	char *answer = malloc(n);
	int small = 4096, queued = 0;
	struct tconn tc;

	(void)state;
	assert_non_null(answer);
	for (size_t i = 0; i < n; i++)
		answer[i] = (char)('a' + i % 26);
	/* A socket that takes only part of the answer: the rest, and the
	 * frame behind it, wait until it can take more. */
	t_pair(&tc);
	assert_int_equal(
	    setsockopt(tc.sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
	    0);
	assert_int_equal(ws_adopt_answer(ws, tc.sfd, answer, n, t_release, &tc,
					 &t_greet, &tc, &tc.id),
			 SA_OK);
	assert_int_equal(t_wait(&tc.opens, 1, T_WAIT_MS), 1);
	usleep(200 * 1000);
	assert_int_equal(ioctl(tc.cfd, FIONREAD, &queued), 0);
	assert_true(queued > 0);
	assert_true((size_t)queued < n);
	t_expect_bytes(&tc, answer, n);
	t_expect(&tc, 0x1, "hello");
	t_finish(&tc);
	free(answer);
	ws_server_stop(ws);
}

static void
test_extra_in(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	unsigned char a[64], b[64], extra[128];
	size_t na = t_frame(a, 1, 0x1, "first", 5, 1);
	size_t nb = t_frame(b, 1, 0x1, "second", 6, 1);
	struct tconn tc;

	/* The HTTP layer read one frame and half of the next. */
	memcpy(extra, a, na);
	memcpy(extra + na, b, nb / 2);
	t_open(ws, &tc, extra, na + nb / 2);
	t_expect(&tc, 0x1, "first");
	t_write(tc.cfd, b + nb / 2, nb - nb / 2);
	t_expect(&tc, 0x1, "second");
	t_finish(&tc);
	assert_int_equal(tc.code, 1006);
	ws_server_stop(ws);
}

static void
test_fragmented_with_ping(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;

	t_open(ws, &tc, NULL, 0);
	t_send(&tc, 0, 0x1, "Hel", 3);
	t_send(&tc, 1, 0x9, "p", 1); /* control frames may interleave */
	t_send(&tc, 0, 0x0, "lo w", 4);
	/* "ö" split across two fragments is still valid UTF-8. */
	t_send(&tc, 0, 0x0, "\xc3", 1);
	t_send(&tc, 1, 0x0, "\xb6rld", 4);
	t_expect(&tc, 0xa, "p");
	t_expect(&tc, 0x1, "Hello w\xc3\xb6rld");
	assert_int_equal(t_get(&tc.texts), 1);
	t_finish(&tc);
	ws_server_stop(ws);
}

static void
test_ping_pong(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;

	t_open(ws, &tc, NULL, 0);
	t_send(&tc, 1, 0x9, "abc", 3);
	t_expect(&tc, 0xa, "abc");
	assert_int_equal(t_get(&tc.texts), 0);
	t_finish(&tc);
	ws_server_stop(ws);
}

/*
 * t_protocol_close_as sends raw bytes and expects a close frame with
 * wire_code (0: none) and on_close with code.
 */
static void
t_protocol_close_as(long max_message, const void *frame, size_t n,
		    int wire_code, int code)
{
	struct ws_server *ws = t_start(60, max_message, 10, 0);
	struct tconn tc;

	t_open(ws, &tc, NULL, 0);
	t_write(tc.cfd, frame, n);
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, NULL, 0), wire_code);
	t_send_close(&tc, (uint16_t)code);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, code);
	assert_int_equal(tc.closes, 1);
	assert_int_equal(tc.texts, 0);
	assert_int_equal(ws_count(ws), 0);
	close(tc.cfd);
	ws_server_stop(ws);
}

static void
t_protocol_close(long max_message, const void *frame, size_t n, int code)
{
	t_protocol_close_as(max_message, frame, n, code, code);
}

static void
test_oversize(void **state)
{
	unsigned char f[64];
	char msg[17];

	memset(msg, 'a', sizeof(msg));
	t_protocol_close(16, f, t_frame(f, 1, 0x1, msg, 17, 1), 1009);
}

static void
test_oversize_fragmented(void **state)
{
	unsigned char f[64];
	size_t n = t_frame(f, 0, 0x1, "0123456789", 10, 1);

	/* Each fragment fits, the message does not. */
	n += t_frame(f + n, 1, 0x0, "0123456789", 10, 1);
	t_protocol_close(16, f, n, 1009);
}

/* t_cpu_ms is the CPU time this process has used, all threads. */
static uint64_t
t_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * After a header that declares a message too big, the rest of what the
 * peer sends is read and dropped: the loop does not spin on a socket left
 * readable (it did, at full CPU, until the close deadline), the server's
 * side is shut once its close frame is out, and the peer's end of the
 * stream ends the connection without waiting for the deadline.
 */
static void
test_oversize_rest_is_drained(void **state)
{
	struct ws_server *ws = t_start(60, 16, 10, 0);
	unsigned char hdr[14] = {0x81, 0xff}, rest[8192], c;
	struct tconn tc;
	uint64_t cpu0, t0;

	/* A masked text frame declaring 1 GiB, and part of its payload. */
	hdr[2] = 0;
	hdr[3] = 0;
	hdr[4] = 0;
	hdr[5] = 0;
	hdr[6] = 0x40;
	memset(hdr + 7, 0, 3);
	memset(hdr + 10, 0x5a, 4);
	memset(rest, 'x', sizeof(rest));
	t_open(ws, &tc, NULL, 0);
	t_write(tc.cfd, hdr, sizeof(hdr));
	t_write(tc.cfd, rest, sizeof(rest));
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, NULL, 0), 1009);
	/* The server's side is shut after its close frame. */
	assert_int_equal(t_read(tc.cfd, &c, 1, T_WAIT_MS), -1);
	/* More of the payload, left to sit: the loop must not spin on it. */
	t_write(tc.cfd, rest, sizeof(rest));
	cpu0 = t_cpu_ms();
	usleep(500 * 1000);
	assert_true(t_cpu_ms() - cpu0 < 150);
	assert_int_equal(t_get(&tc.releases), 0); /* within the deadline */
	/* The peer's end of the stream ends it well before the deadline. */
	t0 = now_mono_ms();
	shutdown(tc.cfd, SHUT_WR);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_true(now_mono_ms() - t0 < 1000);
	assert_int_equal(tc.code, 1009);
	assert_int_equal(ws_count(ws), 0);
	close(tc.cfd);
	ws_server_stop(ws);
}

static void
test_binary_refused(void **state)
{
	unsigned char f[64];

	t_protocol_close(1024, f, t_frame(f, 1, 0x2, "\x01\x02", 2, 1), 1003);
}

static void
test_invalid_utf8(void **state)
{
	unsigned char f[64];

	t_protocol_close(1024, f, t_frame(f, 1, 0x1, "ok\xc3\x28", 4, 1), 1007);
}

static void
test_unmasked_frame(void **state)
{
	unsigned char f[64];

	t_protocol_close(1024, f, t_frame(f, 1, 0x1, "hello", 5, 0), 1002);
}

static void
test_protocol_errors(void **state)
{
	unsigned char f[256], big[126];
	size_t n;

	/* A continuation with no message to continue. */
	t_protocol_close(1024, f, t_frame(f, 1, 0x0, "abc", 3, 1), 1002);
	/* A reserved opcode. */
	t_protocol_close(1024, f, t_frame(f, 1, 0x3, "abc", 3, 1), 1002);
	/* A reserved bit. */
	n = t_frame(f, 1, 0x1, "abc", 3, 1);
	f[0] |= 0x40;
	t_protocol_close(1024, f, n, 1002);
	/* A new message while one is still unfinished. */
	n = t_frame(f, 0, 0x1, "abc", 3, 1);
	n += t_frame(f + n, 1, 0x1, "def", 3, 1);
	t_protocol_close(1024, f, n, 1002);
	/*
	 * Errors found by wslay's frame layer get a close frame without a
	 * status code (wslay's choice); on_close still reports 1002. A
	 * fragmented control frame:
	 */
	t_protocol_close_as(1024, f, t_frame(f, 0, 0x9, "p", 1, 1), 0, 1002);
	/* A control frame over 125 bytes. */
	memset(big, 'p', sizeof(big));
	t_protocol_close_as(1024, f, t_frame(f, 1, 0x9, big, 126, 1), 0, 1002);
	/* A 16-bit length that would have fit in 7 bits. */
	n = t_frame(f, 1, 0x1, "abc", 3, 1);
	memmove(f + 4, f + 2, n - 2);
	f[1] = 0x80 | 126;
	f[2] = 0;
	f[3] = 3;
	t_protocol_close_as(1024, f, n + 2, 0, 1002);
}

struct t_job {
	struct ws_server *ws;
	uint64_t id;
	enum sa_err rc;
};

static void *
t_send_thread(void *p)
{
	struct t_job *j = p;

	j->rc = ws_send_text(j->ws, j->id, "from another thread", 19);
	return NULL;
}

static void *
t_close_thread(void *p)
{
	struct t_job *j = p;

	j->rc = ws_close(j->ws, j->id, 4000, "bye");
	return NULL;
}

static void
test_send_from_thread(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;
	struct t_job j;
	pthread_t th;

	t_open(ws, &tc, NULL, 0);
	j.ws = ws;
	j.id = tc.id;
	assert_int_equal(pthread_create(&th, NULL, t_send_thread, &j), 0);
	pthread_join(th, NULL);
	assert_int_equal(j.rc, SA_OK);
	t_expect(&tc, 0x1, "from another thread");
	t_finish(&tc);
	ws_server_stop(ws);
}

static void
test_close_from_thread(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	char reason[64];
	struct tconn tc;
	struct t_job j;
	pthread_t th;

	t_open(ws, &tc, NULL, 0);
	j.ws = ws;
	j.id = tc.id;
	assert_int_equal(pthread_create(&th, NULL, t_close_thread, &j), 0);
	pthread_join(th, NULL);
	assert_int_equal(j.rc, SA_OK);
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, reason, sizeof(reason)),
			 4000);
	assert_string_equal(reason, "bye");
	/* The server waits for our answer (up to 2 s) before ending. */
	assert_int_equal(t_get(&tc.closes), 0);
	t_send_close(&tc, 4000);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	usleep(100 * 1000);
	assert_int_equal(t_get(&tc.closes), 1);
	assert_int_equal(t_get(&tc.releases), 1);
	assert_true(tc.released_after_close);
	assert_int_equal(tc.code, 4000);
	/* Our close went out first and came back with its code. */
	assert_int_equal(tc.answered, 1);
	assert_int_equal(ws_close(ws, tc.id, 1000, NULL), SA_ERR_NOT_FOUND);
	close(tc.cfd);
	ws_server_stop(ws);
	assert_int_equal(tc.closes, 1);
	assert_int_equal(tc.releases, 1);
}

/* A close answered with another code is not an answer to ours. */
static void
test_close_answered_otherwise(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;

	t_open(ws, &tc, NULL, 0);
	assert_int_equal(ws_close(ws, tc.id, 1000, NULL), SA_OK);
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, NULL, 0), 1000);
	t_send_close(&tc, 1001);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, 1000);
	assert_int_equal(tc.answered, 0);
	close(tc.cfd);
	ws_server_stop(ws);
}

static void
test_close_without_reply(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;
	uint64_t t0;

	t_open(ws, &tc, NULL, 0);
	t0 = now_mono_ms();
	assert_int_equal(ws_close(ws, tc.id, 1000, NULL), SA_OK);
	assert_int_equal(t_expect_close(&tc, T_WAIT_MS, NULL, 0), 1000);
	/* No answer: the grace period of 2 s ends it. */
	assert_int_equal(t_wait(&tc.releases, 1, 4000), 1);
	assert_true(now_mono_ms() - t0 >= 1900);
	assert_int_equal(tc.code, 1000);
	assert_int_equal(tc.answered, 0);
	close(tc.cfd);
	ws_server_stop(ws);
}

static void
test_idle_ping_then_close(void **state)
{
	struct ws_server *ws = t_start(1, 1024, 10, 0);
	unsigned char buf[16];
	size_t len;
	struct tconn tc;
	uint64_t t0;

	t0 = now_mono_ms(); /* before adopting: idle time counts from there */
	t_open(ws, &tc, NULL, 0);
	assert_int_equal(t_recv(&tc, buf, sizeof(buf), &len, 3000), 0x9);
	assert_int_equal(len, 0);
	assert_true(now_mono_ms() - t0 >= 1000);
	/* Stay silent: a second idle period brings the close. */
	assert_int_equal(t_expect_close(&tc, 3000, NULL, 0), 1001);
	assert_true(now_mono_ms() - t0 >= 2000);
	t_send_close(&tc, 1001);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, 1001);
	close(tc.cfd);
	ws_server_stop(ws);
}

static void
test_idle_pong_keeps_alive(void **state)
{
	struct ws_server *ws = t_start(1, 1024, 10, 0);
	unsigned char buf[16];
	size_t len;
	struct tconn tc;
	uint64_t t0;
	int pings = 0;

	t_open(ws, &tc, NULL, 0);
	t0 = now_mono_ms();
	while (now_mono_ms() - t0 < 3500) {
		int op = t_recv(&tc, buf, sizeof(buf), &len, 200);
		if (op == 0x9) {
			pings++;
			t_send(&tc, 1, 0xa, buf, len);
		} else {
			assert_int_equal(op, -1); /* nothing but pings */
		}
	}
	assert_true(pings >= 1);
	assert_int_equal(t_get(&tc.closes), 0);
	assert_int_equal(ws_count(ws), 1);
	t_finish(&tc);
	ws_server_stop(ws);
}

static void
test_max_connections(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 2, 0);
	struct tconn a, b, c;
	uint64_t id = 0;

	t_open(ws, &a, NULL, 0);
	t_open(ws, &b, NULL, 0);
	t_pair(&c);
	assert_int_equal(
	    ws_adopt(ws, c.sfd, NULL, 0, t_release, &c, &t_echo, &c, &id),
	    SA_ERR_UNAVAILABLE);
	assert_int_equal(ws_count(ws), 2);
	/* Refused means untouched: the caller still owns the socket. */
	assert_int_equal(fcntl(c.sfd, F_GETFL) & O_NONBLOCK, 0);
	t_finish(&a);
	assert_int_equal(ws_count(ws), 1);
	assert_int_equal(
	    ws_adopt(ws, c.sfd, NULL, 0, t_release, &c, &t_echo, &c, &c.id),
	    SA_OK);
	assert_int_equal(t_wait(&c.opens, 1, T_WAIT_MS), 1);
	t_send(&c, 1, 0x1, "third", 5);
	t_expect(&c, 0x1, "third");
	t_finish(&b);
	t_finish(&c);
	assert_int_equal(ws_count(ws), 0);
	ws_server_stop(ws);
}

static void
test_stop_closes_all(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc[3];

	for (int i = 0; i < 3; i++)
		t_open(ws, &tc[i], NULL, 0);
	/* Nobody answers the close: the stop waits out its grace period. */
	ws_server_stop(ws);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tc[i].closes, 1);
		assert_int_equal(tc[i].releases, 1);
		assert_int_equal(tc[i].code, 1001);
		assert_true(tc[i].released_after_close);
		assert_int_equal(t_expect_close(&tc[i], T_WAIT_MS, NULL, 0),
				 1001);
		close(tc[i].cfd);
	}
}

static void
test_unknown_id(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	struct tconn tc;

	assert_int_equal(ws_send_text(ws, 12345, "x", 1), SA_ERR_NOT_FOUND);
	assert_int_equal(ws_close(ws, 12345, 1000, NULL), SA_ERR_NOT_FOUND);
	t_open(ws, &tc, NULL, 0);
	assert_int_equal(ws_send_text(ws, tc.id, "\xc3\x28", 2),
			 SA_ERR_BAD_REQUEST);
	assert_int_equal(ws_close(ws, tc.id, 1005, NULL), SA_ERR_BAD_REQUEST);
	assert_int_equal(ws_close(ws, tc.id, 1006, NULL), SA_ERR_BAD_REQUEST);
	t_finish(&tc);
	/* Ids are not reused: the ended one stays unknown. */
	assert_int_equal(ws_send_text(ws, tc.id, "x", 1), SA_ERR_NOT_FOUND);
	ws_server_stop(ws);
}

static void
test_slow_reader(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 10, 8192);
	char msg[1000];
	struct tconn tc;
	int sndbuf = 4096, refused = 0, code;

	memset(msg, 'm', sizeof(msg));
	t_pair(&tc);
	assert_int_equal(
	    setsockopt(tc.sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)),
	    0);
	assert_int_equal(
	    ws_adopt(ws, tc.sfd, NULL, 0, t_release, &tc, &t_echo, &tc, &tc.id),
	    SA_OK);
	assert_int_equal(t_wait(&tc.opens, 1, T_WAIT_MS), 1);
	assert_int_equal(ws_send_text(ws, tc.id, msg, 8193),
			 SA_ERR_BODY_TOO_LARGE);
	/* The client does not read; 400 kB is far past socket buffer and bound.
	 */
	for (int i = 0; i < 400; i++) {
		enum sa_err rc = ws_send_text(ws, tc.id, msg, sizeof(msg));
		if (rc != SA_OK) {
			assert_true(rc == SA_ERR_UNAVAILABLE ||
				    rc == SA_ERR_NOT_FOUND);
			refused++;
		}
		usleep(200);
	}
	code = t_expect_close(&tc, T_WAIT_MS, NULL, 0);
	assert_int_equal(code, 1008);
	t_send_close(&tc, 1008);
	assert_int_equal(t_wait(&tc.releases, 1, T_WAIT_MS), 1);
	assert_int_equal(tc.code, 1008);
	close(tc.cfd);
	ws_server_stop(ws);
	(void)refused;
}

static size_t
t_heap(void)
{
#if T_SANITIZER_HEAP
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

static long
t_rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * t_flood writes ping frames (frame holds n bytes of them) without reading
 * until the socket takes no more for 200 ms or limit bytes went out;
 * returns the bytes written.
 */
static size_t
t_flood(int fd, const unsigned char *frame, size_t n, size_t limit)
{
	size_t sent = 0;

	while (sent < limit) {
		struct pollfd pfd = {fd, POLLOUT, 0};
		ssize_t r;

		if (poll(&pfd, 1, 200) <= 0)
			break;
		r = send(fd, frame, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		assert_true(r > 0);
		sent += (size_t)r;
	}
	return sent;
}

/*
 * A peer that sends pings and never reads gets no more read than the pongs
 * queued for it allow: reading pauses, its writes stall, and the server's
 * memory stays put (it grew with every ping: 200 MB of pings took over
 * 300 MB). Once the peer reads, the pongs flow and reading resumes.
 */
static void
test_ping_flood_pauses_reading(void **state)
{
	enum { PINGS = 512, LIMIT = 64 << 20 };
	struct ws_server *ws = t_start(60, 1024, 10, 0);
	unsigned char payload[125], *frame, buf[4096];
	size_t one, sent, got = 0;
	struct tconn tc;
	size_t heap0 = 0;

	memset(payload, 'p', sizeof(payload));
	frame = malloc(PINGS * (sizeof(payload) + 14));
	assert_non_null(frame);
	one = t_frame(frame, 1, 0x9, payload, sizeof(payload), 1);
	for (int i = 1; i < PINGS; i++)
		memcpy(frame + (size_t)i * one, frame, one);
	t_open(ws, &tc, NULL, 0);
	heap0 = t_heap();
	sent = t_flood(tc.cfd, frame, (size_t)PINGS * one, LIMIT);
	/* Socket buffers on both sides and the paused queue, no more. */
	assert_true(sent < 16u << 20);
	assert_true(t_heap() < heap0 + (4u << 20));
	assert_int_equal(ws_count(ws), 1);
	/* Reading what is queued lets the server read pings again. */
	for (int i = 0; i < 2000 && got < sent / 2; i++) {
		struct pollfd pfd = {tc.cfd, POLLIN, 0};
		ssize_t r;

		if (poll(&pfd, 1, T_WAIT_MS) <= 0)
			break;
		r = recv(tc.cfd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
	}
	assert_true(got >= sent / 2);
	free(frame);
	t_finish(&tc);
	ws_server_stop(ws);
}

/*
 * test_thousand_connections: a thousand sockets at once, each end in this
 * process, so two descriptors apiece. Under a descriptor limit too low for
 * that (main raises the soft limit to the hard one) it runs as many as the
 * limit allows, and no fewer than 200.
 */
static void
test_thousand_connections(void **state)
{
	int N = (int)t_fit(1000);
	struct ws_server *ws;
	struct tconn *tc;
	int opens0 = t_get(&t_opens), rel0 = t_get(&t_releases);

	(void)state;
	assert_true(N >= 200);
	ws = t_start(60, 1024, N, 0);
	tc = calloc((size_t)N, sizeof(*tc));
	assert_non_null(tc);
	for (int i = 0; i < N; i++) {
		t_pair(&tc[i]);
		assert_int_equal(ws_adopt(ws, tc[i].sfd, NULL, 0, t_release,
					  &tc[i], &t_echo, &tc[i], &tc[i].id),
				 SA_OK);
	}
	assert_int_equal(t_wait(&t_opens, opens0 + N, T_WAIT_MS), opens0 + N);
	assert_int_equal(ws_count(ws), N);
	/* Half leave by closing the socket, half by the close handshake. */
	for (int i = 0; i < N; i++) {
		if (i % 2)
			t_send_close(&tc[i], 1000);
		else
			close(tc[i].cfd);
	}
	assert_int_equal(t_wait(&t_releases, rel0 + N, 10000), rel0 + N);
	assert_int_equal(ws_count(ws), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(tc[i].closes, 1);
		assert_int_equal(tc[i].code, i % 2 ? 1000 : 1006);
		if (i % 2)
			close(tc[i].cfd);
	}
	ws_server_stop(ws);
	free(tc);
}

/*
 * Memory of idle connections, from the allocator's view (t_heap): this
 * is what ws.c, wslay and libevent hold per connection, without the
 * kernel's socket buffers.
 */
static void
test_memory_idle(void **state)
{
	struct ws_server *ws;
	struct tconn *tc;
	size_t before, after, n;
	long rss_before, rss_after;
	int opens0, rel0;

	/* As many connections as the descriptor limit allows, up to 10,000.
	 * The figure is per connection, so a few hundred measure it too;
	 * never skipped. */
	n = t_fit(10000);
	assert_true(n >= 100);
	ws = t_start(3600, 4096, (long)n, 0);
	tc = calloc(n, sizeof(*tc));
	assert_non_null(tc);
	for (size_t i = 0; i < n; i++)
		t_pair(&tc[i]);
	opens0 = t_get(&t_opens);
	rel0 = t_get(&t_releases);
	before = t_heap();
	rss_before = t_rss_kb();
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ws_adopt(ws, tc[i].sfd, NULL, 0, t_release,
					  &tc[i], &t_echo, &tc[i], &tc[i].id),
				 SA_OK);
	assert_int_equal(t_wait(&t_opens, opens0 + (int)n, 20000),
			 opens0 + (int)n);
	after = t_heap();
	rss_after = t_rss_kb();
	print_message("memory: %zu idle connections: %zu bytes of heap each "
		      "(t_heap), RSS grew %ld kB (%ld bytes each)\n",
		      n, (after - before) / n, rss_after - rss_before,
		      (rss_after - rss_before) * 1024 / (long)n);
	assert_true(after > before);
	assert_true((after - before) / n <= 16384);
	assert_int_equal(ws_count(ws), n);
	for (size_t i = 0; i < n; i++)
		close(tc[i].cfd);
	assert_int_equal(t_wait(&t_releases, rel0 + (int)n, 20000),
			 rel0 + (int)n);
	ws_server_stop(ws);
	free(tc);
}

#define T_LATE 60

/*
 * Once a final message and the close behind it are out, a connection waits
 * for the peer's close without wslay's context, so it holds little memory.
 * It still tells an answer with our code from anything else, and ends at
 * once however the close comes: split over writes, behind other frames,
 * with another code, without one, or as the end of the stream.
 */
static void
test_late_close(void **state)
{
	struct ws_server *ws = t_start(60, 1024, 2 * T_LATE, 0);
	struct tconn *tc = calloc(T_LATE, sizeof(*tc));
	unsigned char f[64], code[2] = {4000 >> 8, 4000 & 0xff};
	size_t before, after = 0, n;
	char reason[16];
	int rel0;

	(void)state;
	assert_non_null(tc);
	for (int i = 0; i < T_LATE; i++)
		t_open(ws, &tc[i], NULL, 0);
	before = t_heap();
	for (int i = 0; i < T_LATE; i++)
		assert_int_equal(
		    ws_send_close(ws, tc[i].id, "final", 5, 4000, "done"),
		    SA_OK);
	for (int i = 0; i < T_LATE; i++) {
		t_expect(&tc[i], 0x1, "final");
		assert_int_equal(
		    t_expect_close(&tc[i], T_WAIT_MS, reason, sizeof(reason)),
		    4000);
		assert_true(t_eof(tc[i].cfd, T_WAIT_MS));
	}
	/* The loop lets go of each context just after the close is out. */
	for (int k = 0; k < 200; k++) {
		after = t_heap();
		if (after + T_LATE * 8192 <= before)
			break;
		usleep(10 * 1000);
	}
	print_message("late close: %ld bytes of heap freed per connection\n",
		      ((long)before - (long)after) / T_LATE);
	assert_true(after + T_LATE * 8192 <= before);
	assert_int_equal(ws_count(ws), T_LATE);
	rel0 = t_get(&t_releases);
	for (int i = 0; i < T_LATE; i++) {
		switch (i % 6) {
		case 0: /* the answer */
			t_send_close(&tc[i], 4000);
			break;
		case 1: /* the answer in three writes */
			n = t_frame(f, 1, 0x8, code, 2, 1);
			t_write(tc[i].cfd, f, 1);
			usleep(2000);
			t_write(tc[i].cfd, f + 1, 6);
			usleep(2000);
			t_write(tc[i].cfd, f + 6 + 1, n - 7);
			break;
		case 2: /* a ping and a message first, dropped */
			n = t_frame(f, 1, 0x9, "p", 1, 1);
			n += t_frame(f + n, 1, 0x1, "late", 4, 1);
			n += t_frame(f + n, 1, 0x8, code, 2, 1);
			t_write(tc[i].cfd, f, n);
			break;
		case 3: /* another code */
			t_send_close(&tc[i], 1001);
			break;
		case 4: /* no code at all */
			n = t_frame(f, 1, 0x8, NULL, 0, 1);
			t_write(tc[i].cfd, f, n);
			break;
		default: /* only the end of the stream */
			shutdown(tc[i].cfd, SHUT_WR);
			break;
		}
	}
	/* All end well before the 2 s the loop would wait for an answer. */
	assert_int_equal(t_wait(&t_releases, rel0 + T_LATE, 1500),
			 rel0 + T_LATE);
	for (int i = 0; i < T_LATE; i++) {
		assert_int_equal(tc[i].code, 4000);
		assert_int_equal(tc[i].answered, i % 6 <= 2);
		close(tc[i].cfd);
	}
	assert_int_equal(ws_count(ws), 0);
	ws_server_stop(ws);
	free(tc);
}

static void
t_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept_key),
	    cmocka_unit_test(test_late_close),
	    cmocka_unit_test(test_echo_and_peer_close),
	    cmocka_unit_test(test_idle_rest_and_wake),
	    cmocka_unit_test(test_send_close),
	    cmocka_unit_test(test_send_close_partial),
	    cmocka_unit_test(test_answer_with_first_frame),
	    cmocka_unit_test(test_answer_alone),
	    cmocka_unit_test(test_answer_then_close),
	    cmocka_unit_test(test_answer_partial),
	    cmocka_unit_test(test_extra_in),
	    cmocka_unit_test(test_fragmented_with_ping),
	    cmocka_unit_test(test_ping_pong),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_oversize_fragmented),
	    cmocka_unit_test(test_oversize_rest_is_drained),
	    cmocka_unit_test(test_binary_refused),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_unmasked_frame),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_send_from_thread),
	    cmocka_unit_test(test_close_from_thread),
	    cmocka_unit_test(test_close_answered_otherwise),
	    cmocka_unit_test(test_close_without_reply),
	    cmocka_unit_test(test_idle_ping_then_close),
	    cmocka_unit_test(test_idle_pong_keeps_alive),
	    cmocka_unit_test(test_max_connections),
	    cmocka_unit_test(test_stop_closes_all),
	    cmocka_unit_test(test_unknown_id),
	    cmocka_unit_test(test_slow_reader),
	    cmocka_unit_test(test_ping_flood_pauses_reading),
	    cmocka_unit_test(test_thousand_connections),
	    cmocka_unit_test(test_memory_idle),
	};

	signal(SIGPIPE, SIG_IGN);
	t_raise_nofile();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
