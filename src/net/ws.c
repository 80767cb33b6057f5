/*
 * ws.c - WebSocket connections on one libevent loop thread.
 *
 * Threads. Everything about a connection (its wslay context, its event, the
 * list the idle sweep walks) belongs to the loop thread. Other threads reach
 * the loop through a command queue guarded by ws->lock and a user event that
 * wakes the loop. The same lock guards the id map, so ws_send_text and
 * ws_close answer SA_ERR_NOT_FOUND exactly when the id is not live at the
 * moment of the call; a command for a connection that ends before the loop
 * gets to it is dropped, as if the peer had gone a moment earlier.
 *
 * Memory. A connection is one struct ws_conn, one struct event and a wslay
 * context (wslay keeps its own 4 KiB input buffer, which is where the socket
 * is read into, and a 4 KiB output buffer). Nothing else is allocated per
 * connection while it is idle.
 *
 * Ending. A connection ends once: its close handshake completed, the peer
 * went away or broke the protocol, or the grace period after a close frame
 * ran out. Ending stops watching the fd, calls on_close with the close code,
 * then release(handle); ws.c never closes the fd.
 *
 * Close codes chosen here: 1003 for binary messages (we only speak text),
 * 1008 when a peer reads so slowly that its send queue exceeds
 * max_queued_bytes, 1001 for a peer that stayed silent through a ping and
 * another idle period (it is most likely gone; a slow but live browser
 * treats 1001 as a reason to reconnect) and at shutdown, 1011 when memory
 * runs out. wslay itself answers 1002 (protocol error, including unmasked
 * client frames), 1007 (invalid UTF-8) and 1009 (message too big).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "core/util.h"
#include "net/ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CLOSE_GRACE_MS 2000 /* wait this long for the peer's close */
#define WS_STOP_GRACE_MS 1000  /* at shutdown, wait this long for all */
#define WS_SWEEP_MS 500	       /* idle sweep period */
#define WS_REST_MS 1000	       /* quiet time before conn_rest */
#define WS_REST_CROWD 1024     /* open sockets above which rest is at once */
#define WS_READ_BUDGET 65536   /* bytes read per wakeup, for fairness */
/* Reading pauses while this much waits to be sent (conn_rx_paused). */
#define WS_RX_PAUSE_QUEUED 65536
#define WS_DEFAULT_QUEUE (1024 * 1024)
#define WS_MAX_EXTRA (1024 * 1024) /* bytes the HTTP layer may hand over */
#define WS_MAX_REASON 123	   /* a close frame's payload is at most 125 */
#define WS_MAP_MIN 64

enum ws_flag {
	WS_F_EOF = 1 << 0,     /* the peer closed its end */
	WS_F_IOERR = 1 << 1,   /* a socket error or wslay failure */
	WS_F_PINGED = 1 << 2,  /* an idle ping is outstanding */
	WS_F_CLOSING = 1 << 3, /* a close is under way; deadline_ms set */
	WS_F_SHUT = 1 << 4,    /* our side is shut for writing (conn_update) */
	WS_F_GATHER = 1 << 5,  /* conn_send_cb gathers into tx_buf */
	WS_F_LATE = 1 << 6,    /* waiting for the peer's close without wslay */
};

struct ws_conn {
	struct ws_server *ws;
	uint64_t id;
	wslay_event_context_ptr ctx;
	struct event *ev;
	const struct ws_handler *h;
	void *arg;
	void (*release)(void *handle);
	void *handle;
	unsigned char *extra; /* bytes read past the handshake, served first */
	size_t extra_len, extra_off;
	uint64_t last_rx_ms;  /* monotonic time of the last byte received */
	uint64_t last_io_ms;  /* monotonic time of the last conn_io */
	uint64_t deadline_ms; /* end by then once WS_F_CLOSING */
	size_t pending;	      /* bytes of queued send commands; ws->lock */
	size_t rx_budget;
	struct ws_conn *prev, *next; /* all started connections; loop thread */
	struct ws_conn *hnext;	     /* id map chain; ws->lock */
	int fd;
	short events;	  /* what ev currently waits for */
	uint16_t code;	  /* close code we initiated, or 0 */
	uint8_t flags;	  /* enum ws_flag; loop thread */
	uint8_t heard;	  /* the peer has sent at least one byte */
	uint8_t overflow; /* send commands over the bound; ws->lock */
	uint8_t answered; /* the peer echoed our close code (ws_handler) */
	/* The frame scan (frame_scan): where the bytes read stand. */
	uint8_t fr_hdr[14]; /* the frame header read so far */
	uint8_t fr_hlen;
	uint8_t too_big;   /* a header declared more than max_message */
	uint8_t fr_op;	   /* the current frame's opcode */
	uint8_t fr_key[4]; /* its masking key (zeros when unmasked) */
	uint8_t fr_got;	   /* close_scan: status code bytes read */
	uint16_t fr_code;  /* close_scan: the status code so far */
	uint64_t fr_left;  /* payload bytes left of the current frame */
	uint64_t fr_msg;   /* payload declared by the current message */
	/* A frame header held back to go out with its payload (conn_send_cb).
	 */
	uint8_t tx_hdr[14];
	uint8_t tx_hlen;
	/* Bytes still to be written before anything else, and in the same
	 * write as the next frame (conn_send_cb): the handshake answer of a
	 * socket adopted with one (ws_adopt_answer), or a message and the
	 * close behind it that wslay counts as sent, gathered into one write
	 * (conn_send_close) that the socket did not take whole. */
	unsigned char *tx_buf;
	size_t tx_len, tx_off, tx_cap;
};

enum ws_cmd_type {
	WS_CMD_ADOPT,
	WS_CMD_SEND,
	WS_CMD_CLOSE,
	WS_CMD_STOP,
	WS_CMD_FLUSH, /* write what on_open left, once its commands ran */
};

struct ws_cmd {
	struct ws_cmd *next;
	enum ws_cmd_type type;
	uint64_t id;
	struct ws_conn *conn; /* WS_CMD_ADOPT */
	uint16_t code;	      /* WS_CMD_CLOSE */
	size_t len;
	unsigned char data[]; /* the text, or the close reason */
};

struct ws_server {
	struct ws_config cfg;
	struct event_base *base;
	struct event *wake;  /* activated by other threads to run commands */
	struct event *sweep; /* periodic idle and deadline check */
	int halted;	     /* ws_server_halt ran; the caller's thread only */
	struct event *stop_timer;
	pthread_t thread;
	int thread_started;

	pthread_mutex_t lock; /* guards everything down to "loop thread" */
	struct ws_conn **map; /* id -> connection, chained */
	size_t map_size;      /* a power of two */
	size_t map_count;
	struct ws_cmd *cmd_head, *cmd_tail;
	uint64_t next_id;
	int stopping; /* no more adopts */
	struct ws_cmd
	    *stop_cmd; /* allocated up front so stopping cannot fail */

	atomic_size_t count;

	/* loop thread */
	struct ws_conn *conns;
	int draining;
};

static pthread_once_t ws_evthread_once = PTHREAD_ONCE_INIT;
static int ws_evthread_rc;

static void conn_io(struct ws_conn *c, short what);
static void conn_event_cb(evutil_socket_t fd, short what, void *arg);

static void
ws_evthread_init(void)
{
	ws_evthread_rc = evthread_use_pthreads();
}

/* close_code_sendable tells whether an application may send this code. */
static int
close_code_sendable(uint16_t code)
{
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

static size_t
map_slot(const struct ws_server *ws, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32) &
	       (ws->map_size - 1);
}

/* map_find returns the live connection with this id or NULL; ws->lock. */
static struct ws_conn *
map_find(struct ws_server *ws, uint64_t id)
{
	struct ws_conn *c;

	for (c = ws->map[map_slot(ws, id)]; c != NULL; c = c->hnext)
		if (c->id == id)
			return c;
	return NULL;
}

/*
 * map_insert adds a connection; ws->lock. It grows the table when it gets
 * crowded; if that allocation fails the chains just get longer.
 */
static void
map_insert(struct ws_server *ws, struct ws_conn *c)
{
	size_t slot;

	if (ws->map_count >= ws->map_size) {
		size_t nsize = ws->map_size * 2, osize = ws->map_size;
		struct ws_conn **nmap = calloc(nsize, sizeof(*nmap));
		struct ws_conn **omap = ws->map;

		if (nmap != NULL) {
			ws->map = nmap;
			ws->map_size = nsize;
			for (size_t i = 0; i < osize; i++) {
				struct ws_conn *e = omap[i], *next;
				for (; e != NULL; e = next) {
					next = e->hnext;
					slot = map_slot(ws, e->id);
					e->hnext = ws->map[slot];
					ws->map[slot] = e;
				}
			}
			free(omap);
		}
	}
	slot = map_slot(ws, c->id);
	c->hnext = ws->map[slot];
	ws->map[slot] = c;
	ws->map_count++;
}

/* map_remove takes a connection out of the map; ws->lock. */
static void
map_remove(struct ws_server *ws, struct ws_conn *c)
{
	struct ws_conn **pp;

	for (pp = &ws->map[map_slot(ws, c->id)]; *pp != NULL;
	     pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			ws->map_count--;
			return;
		}
	}
}

/*
 * cmd_new makes a command of type for connection id carrying the n bytes
 * at data (code for a close), with room for at least WS_MAX_REASON bytes so
 * that any command can turn into a close. NULL when out of memory.
 */
static struct ws_cmd *
cmd_new(enum ws_cmd_type type, uint64_t id, uint16_t code, const void *data,
	size_t n)
{
	struct ws_cmd *cmd =
	    malloc(sizeof(*cmd) + (n > WS_MAX_REASON ? n : WS_MAX_REASON));

	if (cmd == NULL)
		return NULL;
	*cmd = (struct ws_cmd){.type = type, .id = id, .code = code, .len = n};
	if (n > 0)
		memcpy(cmd->data, data, n);
	return cmd;
}

/*
 * cmd_push appends a command; ws->lock. It returns 1 when the queue was
 * empty, in which case the caller wakes the loop after unlocking
 * (unlock_wake).
 */
static int
cmd_push(struct ws_server *ws, struct ws_cmd *cmd)
{
	int was_empty = ws->cmd_head == NULL;

	cmd->next = NULL;
	if (ws->cmd_tail != NULL)
		ws->cmd_tail->next = cmd;
	else
		ws->cmd_head = cmd;
	ws->cmd_tail = cmd;
	return was_empty;
}

static void
ws_wake(struct ws_server *ws)
{
	event_active(ws->wake, EV_READ, 0);
}

/*
 * unlock_wake releases ws->lock and then, when cmd_push said the queue was
 * empty, wakes the loop: outside the lock, so the loop never waits on us.
 */
static void
unlock_wake(struct ws_server *ws, int wake)
{
	pthread_mutex_unlock(&ws->lock);
	if (wake)
		ws_wake(ws);
}

/*
 * frame_header takes the next byte of a frame header into fr_hdr and
 * returns 1 once the header is whole: then fr_left is the frame's payload
 * length, fr_op its opcode and fr_key its masking key, and fr_hdr is empty
 * again.
 */
static int
frame_header(struct ws_conn *c, uint8_t b)
{
	size_t need;
	uint64_t len;

	c->fr_hdr[c->fr_hlen++] = b;
	if (c->fr_hlen < 2)
		return 0;
	len = c->fr_hdr[1] & 0x7f;
	need = 2 +
	       (len == 126   ? 2
		: len == 127 ? 8
			     : 0) +
	       ((c->fr_hdr[1] & 0x80) ? 4 : 0);
	if (c->fr_hlen < need)
		return 0;
	if (len == 126) {
		len = (uint64_t)c->fr_hdr[2] << 8 | c->fr_hdr[3];
	} else if (len == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | c->fr_hdr[i];
	}
	if (c->fr_hdr[1] & 0x80)
		memcpy(c->fr_key, c->fr_hdr + need - 4, 4);
	else
		memset(c->fr_key, 0, 4);
	c->fr_op = c->fr_hdr[0] & 0x0f;
	c->fr_left = len;
	c->fr_hlen = 0;
	return 1;
}

/* frame_skip passes over what is left of the current frame's payload in
 * the *n bytes at *p, moving both on. */
static void
frame_skip(struct ws_conn *c, const uint8_t **p, size_t *n)
{
	size_t k = *n < c->fr_left ? *n : (size_t)c->fr_left;

	c->fr_left -= k;
	*p += k;
	*n -= k;
}

/*
 * frame_scan follows the frame headers in the bytes handed to wslay, which
 * checks a message's length only once payload arrives: a header declaring
 * more than max_message for a message (fragments add up) sets too_big at
 * once, and conn_io closes with 1009 without waiting for the payload.
 * Control frames are bounded by wslay (125 bytes).
 */
static void
frame_scan(struct ws_conn *c, const uint8_t *p, size_t n)
{
	while (n > 0 && !c->too_big) {
		if (c->fr_left > 0) {
			frame_skip(c, &p, &n);
			continue;
		}
		n--;
		if (!frame_header(c, *p++) || c->fr_op > WSLAY_BINARY_FRAME)
			continue;
		if (c->fr_op != WSLAY_CONTINUATION_FRAME)
			c->fr_msg = 0;
		c->fr_msg += c->fr_left;
		if (c->fr_left > (uint64_t)c->ws->cfg.max_message ||
		    c->fr_msg > (uint64_t)c->ws->cfg.max_message)
			c->too_big = 1;
	}
}

/*
 * close_scan looks for the peer's close frame in bytes read once the
 * connection waits without wslay (WS_F_LATE, conn_late), dropping every
 * other frame. It returns 1 once the close frame's status code is read, or
 * at once for a close frame without one, and sets answered when the code
 * is ours.
 */
static int
close_scan(struct ws_conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (c->fr_left > 0 && c->fr_op == WSLAY_CONNECTION_CLOSE) {
			/* The payload's first two bytes, unmasked. */
			c->fr_code = (uint16_t)(c->fr_code << 8 |
						(*p++ ^ c->fr_key[c->fr_got]));
			c->fr_left--;
			n--;
			if (++c->fr_got < 2)
				continue;
			if (c->fr_code == c->code)
				c->answered = 1;
			return 1;
		}
		if (c->fr_left > 0) {
			frame_skip(c, &p, &n);
			continue;
		}
		n--;
		if (!frame_header(c, *p++))
			continue;
		c->fr_got = 0;
		c->fr_code = 0;
		if (c->fr_op == WSLAY_CONNECTION_CLOSE && c->fr_left < 2)
			return 1;
	}
	return 0;
}

/*
 * conn_rx_paused says that reading waits until the peer has taken what is
 * queued for it. Every ping read queues a pong: a peer that sends pings and
 * never reads would otherwise make the queue, and the server's memory, grow
 * with every byte it sends. Our own messages are bounded apart
 * (max_queued_bytes); reading resumes once the queue is below the mark.
 */
static int
conn_rx_paused(const struct ws_conn *c)
{
	return c->ctx != NULL &&
	       wslay_event_get_queued_msg_length(c->ctx) > WS_RX_PAUSE_QUEUED;
}

/*
 * The wslay receive callback serves the bytes handed over by the HTTP layer
 * first, then reads the socket. It stops after WS_READ_BUDGET bytes per
 * wakeup so that one busy peer cannot starve the others (the level-triggered
 * event brings us back). End of stream and errors are reported to wslay as
 * a callback failure and remembered in the flags.
 */
static ssize_t
conn_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
	     void *user_data)
{
	struct ws_conn *c = user_data;
	ssize_t r;

	if (c->extra != NULL) {
		size_t n = c->extra_len - c->extra_off;
		if (n > len)
			n = len;
		memcpy(buf, c->extra + c->extra_off, n);
		frame_scan(c, buf, n);
		c->extra_off += n;
		c->heard = 1;
		if (c->extra_off == c->extra_len) {
			free(c->extra);
			c->extra = NULL;
		}
		c->last_rx_ms = now_mono_ms();
		c->flags &= ~WS_F_PINGED;
		wslay_event_set_error(ctx, 0);
		return (ssize_t)n;
	}
	if (c->rx_budget == 0 || c->too_big || conn_rx_paused(c)) {
		/* too_big: nothing more is read; the close goes out. */
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (len > c->rx_budget)
		len = c->rx_budget;
	do {
		r = recv(c->fd, buf, len, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r > 0) {
		frame_scan(c, buf, (size_t)r);
		c->heard = 1;
		c->rx_budget -= (size_t)r;
		c->last_rx_ms = now_mono_ms();
		c->flags &= ~WS_F_PINGED;
		wslay_event_set_error(ctx, 0);
		return r;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	c->flags |= r == 0 ? WS_F_EOF : WS_F_IOERR;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* conn_gather appends n bytes to tx_buf (WS_F_GATHER); -1 when out of
 * memory. */
static int
conn_gather(struct ws_conn *c, const uint8_t *data, size_t n)
{
	if (n > c->tx_cap - c->tx_len) {
		size_t cap = c->tx_len + n;
		unsigned char *p = realloc(c->tx_buf, cap);

		if (p == NULL)
			return -1;
		c->tx_buf = p;
		c->tx_cap = cap;
	}
	memcpy(c->tx_buf + c->tx_len, data, n);
	c->tx_len += n;
	return 0;
}

/* tx_taken counts k more bytes of tx_buf as written and frees it once all
 * of it is. */
static void
tx_taken(struct ws_conn *c, size_t k)
{
	c->tx_off += k;
	if (c->tx_off < c->tx_len)
		return;
	free(c->tx_buf);
	c->tx_buf = NULL;
	c->tx_len = c->tx_off = c->tx_cap = 0;
}

/*
 * conn_flush writes what is left of tx_buf and frees it once all is out;
 * a socket that takes only part keeps the rest for its next write. When
 * tx_buf ends with our close frame (conn_send_close), nothing follows it:
 * our side is shut once it is out, and the write is corked (MSG_MORE) so
 * that the end of the stream leaves in the same segment as the frames. The
 * peer's close frame is still read; the socket closes after it.
 */
static void
conn_flush(struct ws_conn *c)
{
	int last = c->ctx != NULL && !(c->flags & WS_F_SHUT) &&
		   wslay_event_get_close_sent(c->ctx);
	ssize_t r;

	do {
		r = send(c->fd, c->tx_buf + c->tx_off, c->tx_len - c->tx_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT | (last ? MSG_MORE : 0));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			c->flags |= WS_F_IOERR;
		return;
	}
	tx_taken(c, (size_t)r);
	if (last && c->tx_buf == NULL) {
		shutdown(c->fd, SHUT_WR);
		c->flags |= WS_F_SHUT;
	}
}

/*
 * conn_send_cb writes what wslay hands over. wslay hands a frame's header
 * and its payload over in two calls, the header flagged WSLAY_MSG_MORE; the
 * header is kept back and written with the payload in one sendmsg, so each
 * frame costs one system call. What tx_buf still holds goes first in the
 * same sendmsg (an adopted socket's handshake answer and its first frame
 * thus leave together). Until all of tx_buf and the header are out, the
 * payload counts as unsent: wslay offers it again when the socket is
 * writable. While WS_F_GATHER is set everything is gathered into tx_buf
 * instead and counts as sent (conn_send_close writes it).
 */
static ssize_t
conn_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
	     int flags, void *user_data)
{
	struct ws_conn *c = user_data;
	struct iovec iov[3];
	struct msghdr mh;
	size_t held = c->tx_hlen, ahead = 0, k;
	int n = 0, wait = 0;
	ssize_t r;

	if (c->flags & WS_F_GATHER) {
		if (conn_gather(c, data, len) != 0) {
			c->flags |= WS_F_IOERR;
			wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
			return -1;
		}
		wslay_event_set_error(ctx, 0);
		return (ssize_t)len;
	}
	if ((flags & WSLAY_MSG_MORE) && len <= sizeof(c->tx_hdr) - held) {
		memcpy(c->tx_hdr + held, data, len);
		c->tx_hlen = (uint8_t)(held + len);
		wslay_event_set_error(ctx, 0);
		return (ssize_t)len;
	}
	memset(&mh, 0, sizeof(mh));
	if (c->tx_buf != NULL) {
		ahead = c->tx_len - c->tx_off;
		iov[n].iov_base = c->tx_buf + c->tx_off;
		iov[n++].iov_len = ahead;
	}
	if (held > 0) {
		iov[n].iov_base = c->tx_hdr;
		iov[n++].iov_len = held;
	}
	iov[n].iov_base = (void *)data;
	iov[n++].iov_len = len;
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)n;
	do {
		r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r >= 0 && ahead > 0) {
		k = (size_t)r < ahead ? (size_t)r : ahead;
		tx_taken(c, k);
		r -= (ssize_t)k;
	}
	if (r >= 0 && c->tx_buf != NULL) {
		/* Not even tx_buf went out whole: the frame waits. */
		r = 0;
		wait = 1;
	} else if (r >= 0 && (size_t)r < held) {
		/* Part of the held header went out: keep the rest. */
		memmove(c->tx_hdr, c->tx_hdr + r, held - (size_t)r);
		c->tx_hlen = (uint8_t)(held - (size_t)r);
		r = 0;
	} else if (r >= 0) {
		c->tx_hlen = 0;
		r -= (ssize_t)held;
	}
	if (!wait && (r > 0 || (r == 0 && len == 0))) {
		wslay_event_set_error(ctx, 0);
		return r;
	}
	if (r >= 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	} else {
		c->flags |= WS_F_IOERR;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	}
	return -1;
}

static const struct wslay_event_callbacks conn_wslay_cbs;

/*
 * conn_ctx returns the connection's wslay context, making it on first use
 * and again after the connection rested (conn_rest); NULL when out of
 * memory. Loop thread only.
 */
static wslay_event_context_ptr
conn_ctx(struct ws_conn *c)
{
	if (c->ctx == NULL) {
		if (wslay_event_context_server_init(&c->ctx, &conn_wslay_cbs,
						    c) != 0) {
			c->ctx = NULL;
			return NULL;
		}
		wslay_event_config_set_max_recv_msg_length(
		    c->ctx, (uint64_t)c->ws->cfg.max_message);
	}
	return c->ctx;
}

/*
 * conn_rest frees the wslay context of a connection that is only waiting:
 * wslay's buffers are most of an idle socket's memory. Safe only while the
 * context holds no state: nothing queued to send, no close under way, and
 * nothing ever received (so no partial frame is buffered); a browser
 * waiting for its login sends nothing until the end.
 */
static void
conn_rest(struct ws_conn *c)
{
	if (c->ctx == NULL || c->heard || c->extra != NULL || c->code != 0 ||
	    c->tx_buf != NULL || (c->flags & WS_F_CLOSING) ||
	    wslay_event_want_write(c->ctx) ||
	    wslay_event_get_close_sent(c->ctx) ||
	    wslay_event_get_close_received(c->ctx) ||
	    !wslay_event_get_read_enabled(c->ctx))
		return;
	wslay_event_context_free(c->ctx);
	c->ctx = NULL;
}

/*
 * conn_late lets go of the wslay context of a connection whose close frame
 * is out with nothing else to send: all that is left is the peer's answering
 * close, which close_scan finds without wslay. A login's socket waits so
 * from its last event until the browser's close arrives; under load many
 * sockets wait at once, and wslay's buffers (8.5 KiB) are most of what each
 * would hold.
 */
static void
conn_late(struct ws_conn *c)
{
	wslay_event_context_free(c->ctx);
	c->ctx = NULL;
	c->flags |= WS_F_LATE;
}

/*
 * conn_close_frame queues a close frame with our code unless a close is
 * already under way; the connection then waits for the peer's answer.
 */
static void
conn_close_frame(struct ws_conn *c, uint16_t code, const char *reason,
		 size_t reason_len)
{
	if (c->code != 0 || conn_ctx(c) == NULL ||
	    wslay_event_get_close_sent(c->ctx))
		return;
	if (wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason,
				    reason_len) == 0)
		c->code = code;
}

/*
 * The wslay message callback passes complete text messages to the handler.
 * Binary messages end the connection with 1003. Once a close is under way
 * further messages are dropped.
 */
static void
conn_msg_cb(wslay_event_context_ptr ctx,
	    const struct wslay_event_on_msg_recv_arg *m, void *user_data)
{
	struct ws_conn *c = user_data;

	/* wslay reports the peer's close frame here after marking it
	 * received. It answers ours when ours had gone out first and it
	 * carries our code (a close the peer sent on its own crossing ours
	 * would have to pick the same code by chance). */
	if (m->opcode == WSLAY_CONNECTION_CLOSE) {
		if (c->code != 0 && m->status_code == c->code &&
		    wslay_event_get_close_sent(ctx))
			c->answered = 1;
		return;
	}
	if (c->code != 0 || wslay_event_get_close_received(ctx))
		return;
	if (m->opcode == WSLAY_BINARY_FRAME) {
		conn_close_frame(c, WSLAY_CODE_UNSUPPORTED_DATA, "text only",
				 9);
		return;
	}
	if (m->opcode != WSLAY_TEXT_FRAME)
		return;
	/* wslay checks UTF-8 too; this guards the handler if it ever stops. */
	if (!utf8_valid(m->msg, m->msg_length, 0)) {
		conn_close_frame(c, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA, NULL,
				 0);
		return;
	}
	if (c->h->on_text != NULL)
		c->h->on_text(c->ws, c->id, (const char *)m->msg, m->msg_length,
			      c->arg);
}

static const struct wslay_event_callbacks conn_wslay_cbs = {
    .recv_callback = conn_recv_cb,
    .send_callback = conn_send_cb,
    .on_msg_recv_callback = conn_msg_cb,
};

/*
 * conn_end_code is the code on_close reports: the one we sent first, else
 * the one the close handshake settled on (wslay echoes the peer's), else
 * 1006 for a connection that ended without a close frame going out.
 */
static uint16_t
conn_end_code(const struct ws_conn *c)
{
	if (c->code != 0)
		return c->code;
	if (c->ctx == NULL)
		return 1006; /* idle: no close frame either way */
	if (wslay_event_get_close_sent(c->ctx))
		return wslay_event_get_status_code_sent(c->ctx);
	if (wslay_event_get_close_received(c->ctx))
		return wslay_event_get_status_code_received(c->ctx);
	return WSLAY_CODE_ABNORMAL_CLOSURE;
}

/*
 * conn_free releases what ws_adopt allocated; it does not touch the fd, the
 * handle or the handler's arg.
 */
static void
conn_free(struct ws_conn *c)
{
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->ctx != NULL)
		wslay_event_context_free(c->ctx);
	free(c->extra);
	free(c->tx_buf);
	free(c);
}

/*
 * conn_end ends a started connection on the loop thread: it leaves the id
 * map and the list, stops watching the fd, then calls on_close once and
 * release once, in that order, and frees the connection.
 */
static void
conn_end(struct ws_conn *c)
{
	struct ws_server *ws = c->ws;
	uint16_t code = conn_end_code(c);

	pthread_mutex_lock(&ws->lock);
	map_remove(ws, c);
	pthread_mutex_unlock(&ws->lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ws->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_del(c->ev);
	atomic_fetch_sub(&ws->count, 1);
	if (c->h->on_close != NULL)
		c->h->on_close(ws, c->id, code, c->answered, c->arg);
	c->release(c->handle);
	conn_free(c);
	if (ws->draining && ws->conns == NULL)
		event_base_loopbreak(ws->base);
}

/*
 * conn_update decides, after any I/O, whether the connection is over and
 * otherwise what to wait for. It returns 1 when the connection was ended
 * (and freed).
 */
static int
conn_update(struct ws_conn *c)
{
	wslay_event_context_ptr ctx = c->ctx;
	int rd, wr;
	short want;

	if (c->flags & (WS_F_EOF | WS_F_IOERR)) {
		conn_end(c);
		return 1;
	}
	if (ctx == NULL) {
		/* Idle (conn_rest) or waiting for the peer's close
		 * (conn_late): reading, with nothing to write. */
		rd = 1;
		wr = 0;
	} else {
		/* After a message too big the rest is read and dropped
		 * (conn_drain), whether or not wslay still reads. */
		rd = wslay_event_get_read_enabled(ctx) || c->too_big;
		wr = wslay_event_want_write(ctx) || c->tx_buf != NULL;
		/* Not before the gathered bytes are out: wslay counts them as
		 * sent already. */
		if ((c->tx_buf == NULL && wslay_event_get_close_sent(ctx) &&
		     (wslay_event_get_close_received(ctx) || !rd)) ||
		    (!rd && !wr)) {
			conn_end(c);
			return 1;
		}
		if (!(c->flags & WS_F_CLOSING) &&
		    (c->code != 0 || !rd || wslay_event_get_close_sent(ctx))) {
			c->flags |= WS_F_CLOSING;
			c->deadline_ms = now_mono_ms() + WS_CLOSE_GRACE_MS;
		}
		/*
		 * After a message too big no close frame of the peer can be
		 * read (it would follow the frame's rest, which is dropped):
		 * once our close frame is out, our side is shut, so the peer
		 * sees the end at once and closes too; its end of the stream
		 * ends the connection (conn_drain), else the deadline does.
		 */
		if (c->too_big && !wr && wslay_event_get_close_sent(ctx) &&
		    !(c->flags & WS_F_SHUT)) {
			shutdown(c->fd, SHUT_WR);
			c->flags |= WS_F_SHUT;
		}
		/* Our close is out and nothing is left to send: wait for the
		 * peer's without wslay, from a frame boundary of what was
		 * read (frame_scan saw every byte of it). */
		if (!wr && c->code != 0 && !c->too_big && c->extra == NULL &&
		    c->tx_hlen == 0 && c->fr_hlen == 0 && c->fr_left == 0 &&
		    wslay_event_get_close_sent(ctx)) {
			conn_late(c);
		}
		/* With many sockets open, memory counts more than the CPU
		 * to rebuild a context: rest as soon as nothing is under way.
		 */
		if (atomic_load(&c->ws->count) > WS_REST_CROWD)
			conn_rest(c);
	}
	/* A paused read waits for the socket to take what is queued (a
	 * dropped rest is read regardless: it queues nothing). */
	if (rd && !c->too_big && conn_rx_paused(c))
		rd = 0;
	want = (short)((rd ? EV_READ : 0) | (wr ? EV_WRITE : 0));
	if (want != c->events) {
		event_del(c->ev);
		event_assign(c->ev, c->ws->base, c->fd, want | EV_PERSIST,
			     conn_event_cb, c);
		if (event_add(c->ev, NULL) != 0) {
			c->flags |= WS_F_IOERR;
			conn_end(c);
			return 1;
		}
		c->events = want;
	}
	return 0;
}

static void
conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_io(arg, what);
}

/*
 * conn_drain reads and drops what the peer sends after a message too big
 * (too_big): the rest of that frame cannot go to wslay, and bytes left
 * unread would keep the socket readable and wake the loop at once, again
 * and again, until the close deadline. A connection waiting without wslay
 * (WS_F_LATE) reads the same way, looking for the peer's close frame
 * (close_scan). Reading stops at the read budget, at EAGAIN, or at the end
 * of the stream, an error or the peer's close, which end the connection.
 */
static void
conn_drain(struct ws_conn *c)
{
	unsigned char buf[4096];
	size_t left = WS_READ_BUDGET;
	ssize_t r;

	while (left > 0) {
		r = recv(c->fd, buf, left < sizeof(buf) ? left : sizeof(buf),
			 MSG_DONTWAIT);
		if (r > 0) {
			left -= (size_t)r;
			c->last_rx_ms = now_mono_ms();
			/* The close handshake is over: the socket is done. */
			if ((c->flags & WS_F_LATE) &&
			    close_scan(c, buf, (size_t)r)) {
				c->flags |= WS_F_EOF;
				return;
			}
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		c->flags |= r == 0 ? WS_F_EOF : WS_F_IOERR;
		return;
	}
}

/*
 * conn_io reads (when what has EV_READ) and writes what wslay has queued,
 * then lets conn_update settle the connection's state. The connection may
 * be freed on return.
 */
static void
conn_io(struct ws_conn *c, short what)
{
	wslay_event_context_ptr ctx;

	if (c->flags & WS_F_LATE) {
		/* Nothing is sent any more: read until the peer's close. */
		if (what & EV_READ)
			conn_drain(c);
		conn_update(c);
		return;
	}
	if ((ctx = conn_ctx(c)) == NULL) {
		c->flags |= WS_F_IOERR; /* out of memory */
		conn_update(c);
		return;
	}
	c->rx_budget = WS_READ_BUDGET;
	c->last_io_ms = now_mono_ms();
	if ((what & EV_READ) && c->too_big) {
		conn_drain(c);
	} else if ((what & EV_READ) && wslay_event_want_read(ctx)) {
		int r = wslay_event_recv(ctx);

		if (r == 0 || (c->flags & (WS_F_EOF | WS_F_IOERR))) {
			/* fine, or the socket is done: conn_update ends it */
		} else if (r == WSLAY_ERR_CALLBACK_FAILURE) {
			/*
			 * wslay's frame layer refused a header (a fragmented
			 * or oversized control frame, a non-minimal length).
			 * wslay stopped reading and queued a close frame
			 * without status code; it goes out below and on_close
			 * reports 1002.
			 */
			if (c->code == 0)
				c->code = WSLAY_CODE_PROTOCOL_ERROR;
		} else {
			/* Out of memory; wslay stopped reading. */
			conn_close_frame(c, WSLAY_CODE_INTERNAL_SERVER_ERROR,
					 NULL, 0);
		}
		if (c->too_big)
			conn_close_frame(c, WSLAY_CODE_MESSAGE_TOO_BIG,
					 "message too big", 15);
	}
	/* A frame to send takes what tx_buf holds along (conn_send_cb). */
	if (!(c->flags & (WS_F_EOF | WS_F_IOERR)) &&
	    wslay_event_want_write(ctx)) {
		if (wslay_event_send(ctx) != 0)
			c->flags |= WS_F_IOERR;
	}
	if (!(c->flags & (WS_F_EOF | WS_F_IOERR)) && c->tx_buf != NULL)
		conn_flush(c);
	conn_update(c);
}

/*
 * conn_close queues our close frame and pushes it out. The connection may
 * be freed on return.
 */
static void
conn_close(struct ws_conn *c, uint16_t code, const char *reason,
	   size_t reason_len)
{
	conn_close_frame(c, code, reason, reason_len);
	conn_io(c, EV_WRITE);
}

/*
 * conn_first_io is a started connection's first conn_io. The handed-over
 * bytes will not make the socket readable, so they are read at once;
 * without any, the poll reports what arrives, so no read is tried yet.
 */
static void
conn_first_io(struct ws_conn *c)
{
	conn_io(c, c->extra != NULL ? EV_READ : 0);
}

/*
 * conn_start runs an adopted connection's first steps on the loop thread,
 * given its adopt command. A connection whose handshake answer is still to
 * be written (ws_adopt_answer) does not write it here: the command goes back
 * on the queue as WS_CMD_FLUSH, behind whatever on_open queued, so the answer
 * leaves with on_open's first frame, or alone when there is none. Returns 1
 * when it kept the command.
 */
static int
conn_start(struct ws_server *ws, struct ws_cmd *cmd)
{
	struct ws_conn *c = cmd->conn;
	int wake;

	c->next = ws->conns;
	c->prev = NULL;
	if (ws->conns != NULL)
		ws->conns->prev = c;
	ws->conns = c;
	c->events = EV_READ;
	if (event_add(c->ev, NULL) != 0) {
		c->events = 0;
		c->code = WSLAY_CODE_INTERNAL_SERVER_ERROR;
	}
	if (c->h->on_open != NULL)
		c->h->on_open(ws, c->id, c->arg);
	if (c->events == 0) {
		c->flags |= WS_F_IOERR;
		conn_end(c);
		return 0;
	}
	if (c->tx_buf != NULL) {
		cmd->type = WS_CMD_FLUSH;
		cmd->conn = NULL;
		pthread_mutex_lock(&ws->lock);
		wake = cmd_push(ws, cmd);
		unlock_wake(ws, wake);
		return 1;
	}
	conn_first_io(c);
	return 0;
}

/* conn_send queues a text message from a send command. */
static void
conn_send(struct ws_conn *c, const unsigned char *msg, size_t n)
{
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, msg, n};
	size_t queued;

	if (c->code != 0 || conn_ctx(c) == NULL ||
	    !wslay_event_get_write_enabled(c->ctx))
		return;
	queued = wslay_event_get_queued_msg_length(c->ctx);
	if (queued > c->ws->cfg.max_queued_bytes - n) {
		/* A peer that does not read must not make us buffer forever. */
		conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "too slow", 8);
		return;
	}
	switch (wslay_event_queue_msg(c->ctx, &m)) {
	case 0:
	case WSLAY_ERR_NO_MORE_MSG:
		break;
	default:
		conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, NULL, 0);
		return;
	}
	conn_io(c, EV_WRITE);
}

/*
 * conn_can_send_close tells whether a message and the close behind it can
 * go out together (conn_send_close): the connection is open for writing
 * and nothing is queued ahead, so the message is written at once.
 */
static int
conn_can_send_close(struct ws_conn *c)
{
	wslay_event_context_ptr ctx;

	if (c->code != 0 || (c->flags & (WS_F_EOF | WS_F_IOERR)) ||
	    c->tx_buf != NULL || (ctx = conn_ctx(c)) == NULL)
		return 0;
	return wslay_event_get_write_enabled(ctx) &&
	       !wslay_event_get_close_sent(ctx) && !wslay_event_want_write(ctx);
}

/*
 * conn_send_close writes a text message and then a close frame with one
 * system call, so a login's approved event and its close cost one send and
 * reach the peer in one segment. wslay would send a queued close before a
 * queued message, so the message is framed first and the close after it,
 * both gathered into tx_buf (WS_F_GATHER), which conn_io then writes. The
 * connection may be freed on return.
 */
static void
conn_send_close(struct ws_conn *c, const unsigned char *msg, size_t n,
		uint16_t code, const unsigned char *reason, size_t rlen)
{
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, msg, n};
	wslay_event_context_ptr ctx = c->ctx;

	/* Room for both frames: headers of at most 10 and 4 bytes. */
	c->tx_cap = n + rlen + 16;
	if ((c->tx_buf = malloc(c->tx_cap)) == NULL)
		c->tx_cap = 0;
	c->flags |= WS_F_GATHER;
	if (wslay_event_queue_msg(ctx, &m) == 0 && wslay_event_send(ctx) != 0)
		c->flags |= WS_F_IOERR;
	conn_close_frame(c, code, (const char *)reason, rlen);
	if (!(c->flags & WS_F_IOERR) && wslay_event_want_write(ctx) &&
	    wslay_event_send(ctx) != 0)
		c->flags |= WS_F_IOERR;
	c->flags &= (uint8_t)~WS_F_GATHER;
	if (c->tx_len == 0)
		tx_taken(c, 0); /* nothing was gathered */
	conn_io(c, EV_WRITE);
}

/*
 * ws_drain starts the shutdown on the loop thread: every connection gets a
 * 1001 close frame; the loop ends when all have answered or the stop timer
 * fires.
 */
static void
ws_drain(struct ws_server *ws)
{
	struct ws_conn *c, *next;
	struct timeval tv = {WS_STOP_GRACE_MS / 1000,
			     (WS_STOP_GRACE_MS % 1000) * 1000};

	ws->draining = 1;
	for (c = ws->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c, WSLAY_CODE_GOING_AWAY, "server stopping", 15);
	}
	if (ws->conns == NULL)
		event_base_loopbreak(ws->base);
	else
		evtimer_add(ws->stop_timer, &tv);
}

static void
ws_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_server *ws = arg;

	while (ws->conns != NULL) {
		if (ws->conns->code == 0)
			ws->conns->code = WSLAY_CODE_GOING_AWAY;
		conn_end(ws->conns);
	}
	event_base_loopbreak(ws->base);
}

/* conn_of finds a live connection by id (NULL once it ended); loop thread. */
static struct ws_conn *
conn_of(struct ws_server *ws, uint64_t id)
{
	struct ws_conn *c;

	pthread_mutex_lock(&ws->lock);
	c = map_find(ws, id);
	pthread_mutex_unlock(&ws->lock);
	return c;
}

/* ws_wake_cb runs the commands queued by other threads, in order. */
static void
ws_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_server *ws = arg;
	struct ws_cmd *cmd, *next;
	struct ws_conn *c;

	pthread_mutex_lock(&ws->lock);
	cmd = ws->cmd_head;
	ws->cmd_head = ws->cmd_tail = NULL;
	pthread_mutex_unlock(&ws->lock);

	for (; cmd != NULL; cmd = next) {
		next = cmd->next;
		switch (cmd->type) {
		case WS_CMD_ADOPT:
			if (conn_start(ws, cmd))
				cmd = NULL; /* queued again as WS_CMD_FLUSH */
			break;
		case WS_CMD_FLUSH:
			if ((c = conn_of(ws, cmd->id)) != NULL)
				conn_first_io(c);
			break;
		case WS_CMD_SEND:
			pthread_mutex_lock(&ws->lock);
			c = map_find(ws, cmd->id);
			if (c != NULL)
				c->pending -= cmd->len;
			pthread_mutex_unlock(&ws->lock);
			if (c == NULL)
				break;
			/* A close pushed with it (ws_send_close) goes out in
			 * the same segment when it can. */
			if (next != NULL && next->type == WS_CMD_CLOSE &&
			    next->id == cmd->id && conn_can_send_close(c)) {
				conn_send_close(c, cmd->data, cmd->len,
						next->code, next->data,
						next->len);
				free(cmd);
				cmd = next;
				next = cmd->next;
				break;
			}
			conn_send(c, cmd->data, cmd->len);
			break;
		case WS_CMD_CLOSE:
			if ((c = conn_of(ws, cmd->id)) != NULL)
				conn_close(c, cmd->code,
					   (const char *)cmd->data, cmd->len);
			break;
		case WS_CMD_STOP:
			ws_drain(ws);
			break;
		}
		free(cmd);
	}
}

/*
 * ws_sweep_cb walks all connections: closing ones past their deadline end;
 * a peer silent for idle_timeout_s gets a ping, and after another
 * idle_timeout_s of silence a 1001 close.
 */
static void
ws_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ws_server *ws = arg;
	struct ws_conn *c, *next;
	uint64_t now = now_mono_ms();
	uint64_t idle_ms = (uint64_t)ws->cfg.idle_timeout_s * 1000;

	for (c = ws->conns; c != NULL; c = next) {
		next = c->next;
		if (c->flags & WS_F_CLOSING) {
			if (now >= c->deadline_ms)
				conn_end(c);
			continue;
		}
		/* Quiet for a while: let go of the wslay context. Not at
		 * once, so a busy connection does not make it twice. */
		if (now - c->last_io_ms >= WS_REST_MS)
			conn_rest(c);
		if (c->last_rx_ms >= now)
			continue;
		if (now - c->last_rx_ms >= 2 * idle_ms) {
			conn_close(c, WSLAY_CODE_GOING_AWAY, "idle", 4);
		} else if (now - c->last_rx_ms >= idle_ms &&
			   !(c->flags & WS_F_PINGED)) {
			struct wslay_event_msg m = {WSLAY_PING, NULL, 0};
			c->flags |= WS_F_PINGED;
			if (conn_ctx(c) != NULL &&
			    wslay_event_queue_msg(c->ctx, &m) == 0)
				conn_io(c, EV_WRITE);
		}
	}
}

static void *
ws_loop(void *arg)
{
	struct ws_server *ws = arg;

	thread_name("sa-websocket");
	event_base_loop(ws->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* ws_free releases a server whose loop thread is not running. */
static void
ws_free(struct ws_server *ws)
{
	struct ws_cmd *cmd, *next;

	for (cmd = ws->cmd_head; cmd != NULL; cmd = next) {
		next = cmd->next;
		if (cmd->type == WS_CMD_ADOPT)
			conn_free(cmd->conn);
		free(cmd);
	}
	free(ws->stop_cmd);
	if (ws->wake != NULL)
		event_free(ws->wake);
	if (ws->sweep != NULL)
		event_free(ws->sweep);
	if (ws->stop_timer != NULL)
		event_free(ws->stop_timer);
	if (ws->base != NULL)
		event_base_free(ws->base);
	pthread_mutex_destroy(&ws->lock);
	free(ws->map);
	free(ws);
}

enum sa_err
ws_server_start(const struct ws_config *cfg, struct ws_server **out)
{
	struct ws_server *ws = NULL;
	struct timeval tv = {WS_SWEEP_MS / 1000, (WS_SWEEP_MS % 1000) * 1000};
	enum sa_err rc = SA_ERR_INTERNAL;

	if (cfg == NULL || cfg->idle_timeout_s < 1 ||
	    cfg->idle_timeout_s > 86400 || cfg->max_message < 1 ||
	    cfg->max_message > INT32_MAX || cfg->max_connections < 1)
		return SA_ERR_CONFIG;
	pthread_once(&ws_evthread_once, ws_evthread_init);
	if (ws_evthread_rc != 0)
		return SA_ERR_INTERNAL;
	ws = calloc(1, sizeof(*ws));
	if (ws == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&ws->lock, NULL);
	ws->cfg = *cfg;
	if (ws->cfg.max_queued_bytes == 0)
		ws->cfg.max_queued_bytes = WS_DEFAULT_QUEUE;
	atomic_init(&ws->count, 0);
	ws->map_size = WS_MAP_MIN;
	ws->map = calloc(ws->map_size, sizeof(*ws->map));
	ws->stop_cmd = calloc(1, sizeof(*ws->stop_cmd));
	if (ws->map == NULL || ws->stop_cmd == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	ws->base = event_base_new();
	if (ws->base == NULL)
		goto out;
	ws->wake = event_new(ws->base, -1, 0, ws_wake_cb, ws);
	ws->sweep = event_new(ws->base, -1, EV_PERSIST, ws_sweep_cb, ws);
	ws->stop_timer = evtimer_new(ws->base, ws_stop_timer_cb, ws);
	if (ws->wake == NULL || ws->sweep == NULL || ws->stop_timer == NULL ||
	    event_add(ws->sweep, &tv) != 0)
		goto out;
	if (pthread_create(&ws->thread, NULL, ws_loop, ws) != 0)
		goto out;
	ws->thread_started = 1;
	*out = ws;
	ws = NULL;
	rc = SA_OK;
out:
	if (ws != NULL)
		ws_free(ws);
	return rc;
}

void
ws_server_halt(struct ws_server *ws)
{
	int wake;

	if (ws == NULL || ws->halted)
		return;
	ws->halted = 1;
	pthread_mutex_lock(&ws->lock);
	ws->stopping = 1;
	ws->stop_cmd->type = WS_CMD_STOP;
	wake = cmd_push(ws, ws->stop_cmd);
	ws->stop_cmd = NULL; /* the loop thread frees it */
	unlock_wake(ws, wake);
	pthread_join(ws->thread, NULL);
}

void
ws_server_stop(struct ws_server *ws)
{
	if (ws == NULL)
		return;
	ws_server_halt(ws);
	ws_free(ws);
}

/* adopt is ws_adopt and ws_adopt_answer: a socket comes with the bytes
 * read past its handshake or with the answer still to write, not both. */
static enum sa_err
adopt(struct ws_server *ws, int fd, const char *extra_in, size_t extra_len,
      const char *answer, size_t answer_len, void (*release)(void *handle),
      void *handle, const struct ws_handler *h, void *arg, uint64_t *id)
{
	struct ws_conn *c = NULL;
	struct ws_cmd *cmd = NULL;
	enum sa_err rc = SA_ERR_NOMEM;
	uint64_t nid;
	int reserved = 0, wake;

	if (ws == NULL || fd < 0 || release == NULL || h == NULL ||
	    id == NULL || (extra_in == NULL && extra_len > 0) ||
	    (answer == NULL && answer_len > 0))
		return SA_ERR_INTERNAL;
	if (extra_len > WS_MAX_EXTRA || answer_len > WS_MAX_EXTRA)
		return SA_ERR_BODY_TOO_LARGE;
	if (atomic_fetch_add(&ws->count, 1) >=
	    (size_t)ws->cfg.max_connections) {
		atomic_fetch_sub(&ws->count, 1);
		return SA_ERR_UNAVAILABLE;
	}
	reserved = 1;
	c = calloc(1, sizeof(*c));
	cmd = calloc(1, sizeof(*cmd));
	if (c == NULL || cmd == NULL)
		goto out;
	c->ws = ws;
	c->fd = fd;
	c->h = h;
	c->arg = arg;
	c->release = release;
	c->handle = handle;
	c->last_rx_ms = now_mono_ms();
	if (extra_len > 0) {
		c->extra = malloc(extra_len);
		if (c->extra == NULL)
			goto out;
		memcpy(c->extra, extra_in, extra_len);
		c->extra_len = extra_len;
	}
	if (answer_len > 0) {
		if ((c->tx_buf = malloc(answer_len)) == NULL)
			goto out;
		memcpy(c->tx_buf, answer, answer_len);
		c->tx_len = c->tx_cap = answer_len;
	}
	/* The wslay context (two buffers of 4 KiB) is made by the loop thread
	 * when the connection first needs it (conn_ctx), so the thread that
	 * frees it made it: freed across threads, such blocks went back to the
	 * accepting thread's malloc arena and left it fragmented. */
	/* Every read and write passes MSG_DONTWAIT: the socket's own mode
	 * does not matter, and it is not looked at. */
	c->ev = event_new(ws->base, fd, EV_READ | EV_PERSIST, conn_event_cb, c);
	if (c->ev == NULL)
		goto out;
	cmd->type = WS_CMD_ADOPT;
	cmd->conn = c;

	pthread_mutex_lock(&ws->lock);
	if (ws->stopping) {
		pthread_mutex_unlock(&ws->lock);
		rc = SA_ERR_SHUTTING_DOWN;
		goto out;
	}
	c->id = ++ws->next_id;
	cmd->id = c->id;
	nid = c->id; /* once queued, c and cmd belong to the loop thread */
	map_insert(ws, c);
	wake = cmd_push(ws, cmd);
	unlock_wake(ws, wake);
	*id = nid;
	c = NULL;
	cmd = NULL;
	rc = SA_OK;
out:
	if (c != NULL)
		conn_free(c);
	free(cmd);
	if (rc != SA_OK && reserved)
		atomic_fetch_sub(&ws->count, 1);
	return rc;
}

enum sa_err
ws_adopt(struct ws_server *ws, int fd, const char *extra_in, size_t extra_len,
	 void (*release)(void *handle), void *handle,
	 const struct ws_handler *h, void *arg, uint64_t *id)
{
	return adopt(ws, fd, extra_in, extra_len, NULL, 0, release, handle, h,
		     arg, id);
}

enum sa_err
ws_adopt_answer(struct ws_server *ws, int fd, const char *answer,
		size_t answer_len, void (*release)(void *handle), void *handle,
		const struct ws_handler *h, void *arg, uint64_t *id)
{
	return adopt(ws, fd, NULL, 0, answer, answer_len, release, handle, h,
		     arg, id);
}

/*
 * push_live queues cmd when connection id is live, else frees it and
 * returns SA_ERR_NOT_FOUND.
 */
static enum sa_err
push_live(struct ws_server *ws, uint64_t id, struct ws_cmd *cmd)
{
	enum sa_err rc = SA_OK;
	int wake = 0;

	pthread_mutex_lock(&ws->lock);
	if (map_find(ws, id) == NULL) {
		rc = SA_ERR_NOT_FOUND;
	} else {
		wake = cmd_push(ws, cmd);
		cmd = NULL;
	}
	unlock_wake(ws, wake);
	free(cmd);
	return rc;
}

/*
 * send_text queues a send command and, when then is not NULL, the command
 * behind it in the same hold of the lock (ws_send_close). A message
 * refused before it is queued (too long, not UTF-8, no memory) does not
 * keep then from being queued alone.
 */
static enum sa_err
send_text(struct ws_server *ws, uint64_t id, const char *msg, size_t n,
	  struct ws_cmd *then)
{
	struct ws_cmd *cmd = NULL;
	struct ws_conn *c;
	enum sa_err rc = SA_OK;
	int wake = 0;

	if (ws == NULL || (msg == NULL && n > 0))
		rc = SA_ERR_INTERNAL;
	else if (n > ws->cfg.max_queued_bytes)
		rc = SA_ERR_BODY_TOO_LARGE;
	else if (!utf8_valid(msg, n, 0))
		rc = SA_ERR_BAD_REQUEST;
	/* Room for a close reason too, should this turn into one. */
	else if ((cmd = cmd_new(WS_CMD_SEND, id, 0, msg, n)) == NULL)
		rc = SA_ERR_NOMEM;
	if (rc != SA_OK) {
		if (ws != NULL && then != NULL)
			(void)push_live(ws, id, then);
		else
			free(then);
		return rc;
	}

	pthread_mutex_lock(&ws->lock);
	c = map_find(ws, id);
	if (c == NULL) {
		rc = SA_ERR_NOT_FOUND;
	} else if (c->overflow) {
		rc = SA_ERR_UNAVAILABLE;
	} else if (c->pending > ws->cfg.max_queued_bytes - n) {
		c->overflow = 1;
		cmd->type = WS_CMD_CLOSE;
		cmd->code = WSLAY_CODE_POLICY_VIOLATION;
		cmd->len = 8;
		memcpy(cmd->data, "too slow", 8);
		wake = cmd_push(ws, cmd);
		cmd = NULL;
		rc = SA_ERR_UNAVAILABLE;
	} else {
		c->pending += n;
		wake = cmd_push(ws, cmd);
		cmd = NULL;
		if (then != NULL) {
			cmd_push(ws, then);
			then = NULL;
		}
	}
	unlock_wake(ws, wake);
	free(cmd);
	free(then);
	return rc;
}

/*
 * ws_send_text copies the message into a command. Beyond the header's
 * contract: SA_ERR_BAD_REQUEST for a message that is not UTF-8 (the browser
 * would fail the connection), SA_ERR_BODY_TOO_LARGE for one larger than the
 * whole send queue, and SA_ERR_UNAVAILABLE when the connection's queued
 * commands already hold max_queued_bytes: the message is dropped and the
 * connection closed with 1008. SA_OK means the connection was live; as with
 * any socket, delivery is not guaranteed.
 */
enum sa_err
ws_send_text(struct ws_server *ws, uint64_t id, const char *msg, size_t n)
{
	return send_text(ws, id, msg, n, NULL);
}

/*
 * close_cmd makes the command of a close: code must be one an application
 * may send (1000-1003, 1007-1011, 3000-4999) and the reason valid UTF-8,
 * else SA_ERR_BAD_REQUEST; a reason longer than 123 bytes is cut at a
 * character boundary.
 */
static enum sa_err
close_cmd(struct ws_server *ws, uint64_t id, uint16_t code, const char *reason,
	  struct ws_cmd **out)
{
	size_t len = 0;

	if (ws == NULL)
		return SA_ERR_INTERNAL;
	if (!close_code_sendable(code))
		return SA_ERR_BAD_REQUEST;
	if (reason != NULL) {
		len = strnlen(reason, WS_MAX_REASON + 1);
		if (len > WS_MAX_REASON) {
			len = WS_MAX_REASON;
			while (len > 0 &&
			       ((unsigned char)reason[len] & 0xc0) == 0x80)
				len--;
		}
		if (!utf8_valid(reason, len, 0))
			return SA_ERR_BAD_REQUEST;
	}
	*out = cmd_new(WS_CMD_CLOSE, id, code, reason, len);
	return *out != NULL ? SA_OK : SA_ERR_NOMEM;
}

/*
 * ws_close queues a close command. Beyond the header's contract: the code
 * and reason as close_cmd checks them. A second close of the same
 * connection keeps the first code.
 */
enum sa_err
ws_close(struct ws_server *ws, uint64_t id, uint16_t code, const char *reason)
{
	struct ws_cmd *cmd = NULL;
	enum sa_err rc;

	if ((rc = close_cmd(ws, id, code, reason, &cmd)) != SA_OK)
		return rc;
	return push_live(ws, id, cmd);
}

enum sa_err
ws_send_close(struct ws_server *ws, uint64_t id, const char *msg, size_t n,
	      uint16_t code, const char *reason)
{
	struct ws_cmd *then = NULL;
	enum sa_err rc;

	if ((rc = close_cmd(ws, id, code, reason, &then)) != SA_OK)
		return rc;
	return send_text(ws, id, msg, n, then);
}

size_t
ws_count(struct ws_server *ws)
{
	return ws != NULL ? atomic_load(&ws->count) : 0;
}

struct event_base *
ws_event_base(struct ws_server *ws)
{
	return ws->base;
}

/* SHA-1, fetched once for the process: EVP_sha1() in EVP_Digest looks it
 * up by name on every call, which cost more than the hash of a handshake's
 * 60 bytes. A fetched EVP_MD is shared safely between threads. */
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha1_md;

static void
sha1_fetch(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

enum sa_err
ws_accept_key(const char *key, char out[29])
{
	unsigned char *raw = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t rawlen = 0, keylen;
	char buf[24 + sizeof(WS_GUID)], *enc = NULL;
	enum sa_err rc = SA_ERR_BAD_REQUEST;

	if (key == NULL)
		return SA_ERR_BAD_REQUEST;
	/* 16 bytes are exactly 24 base64 characters with "==" padding. */
	keylen = strnlen(key, 25);
	if (keylen != 24 || key[22] != '=' || key[23] != '=')
		goto out;
	if (b64_decode(key, keylen, 24, &raw, &rawlen) != SA_OK || rawlen != 16)
		goto out;
	memcpy(buf, key, 24);
	memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
	rc = SA_ERR_INTERNAL;
	pthread_once(&sha1_once, sha1_fetch);
	if (sha1_md == NULL ||
	    EVP_Digest(buf, 24 + sizeof(WS_GUID) - 1, md, &mdlen, sha1_md,
		       NULL) != 1 ||
	    mdlen != 20)
		goto out;
	enc = b64_encode(md, mdlen);
	if (enc == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (strlen(enc) != 28)
		goto out;
	memcpy(out, enc, 29);
	rc = SA_OK;
out:
	free(raw);
	free(enc);
	return rc;
}
