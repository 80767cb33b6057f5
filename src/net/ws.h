/*
 * ws.h - WebSocket connections (RFC 6455) on the server's own event loop.
 *
 * The HTTP layer (http.c) checks the opening handshake and answers 101
 * through libmicrohttpd's upgrade; it then hands the raw socket to ws_adopt.
 * From there on the connection lives on one libevent loop thread owned by
 * struct ws_server: frames are parsed and built by wslay, pings keep idle
 * connections honest, and any thread may send to or close a connection by
 * its 64-bit id. The same loop also carries timers and the Redis store's
 * subscriber connection (estore_attach_loop), via ws_event_base.
 */
#ifndef SEALAUTH_WS_H
#define SEALAUTH_WS_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

struct event_base;
struct ws_server;

struct ws_config {
	long idle_timeout_s;	 /* silence before a ping; twice this: close */
	long max_message;	 /* largest client message in bytes */
	long max_connections;	 /* ws_adopt refuses beyond this */
	size_t max_queued_bytes; /* per-connection send queue bound; 0: 1 MiB */
};

/*
 * Callbacks of one kind of WebSocket endpoint. They run on the loop thread
 * and must not block. "arg" is the per-connection pointer given to ws_adopt;
 * on_close is called exactly once per adopted connection (also when it is
 * closed by the server or at shutdown) and is where arg is freed. Its
 * "answered" is 1 when the peer answered a close frame of ours with the
 * same code after ours had gone out: the peer then had everything sent
 * before it (TCP keeps the order), so a handler may forget what it sent. It
 * is 0 for every other ending (the peer closed first, went away, never
 * answered, or the server shut down).
 */
struct ws_handler {
	void (*on_open)(struct ws_server *ws, uint64_t id, void *arg);
	void (*on_text)(struct ws_server *ws, uint64_t id, const char *msg,
			size_t n, void *arg);
	void (*on_close)(struct ws_server *ws, uint64_t id, uint16_t code,
			 int answered, void *arg);
};

/* ws_server_start starts the loop thread. */
enum sa_err ws_server_start(const struct ws_config *cfg,
			    struct ws_server **out);

/*
 * ws_server_halt closes every connection with 1001 (going away), runs their
 * on_close callbacks and stops the loop thread. The server stays allocated:
 * other threads may still call ws_send_text or ws_close, which then find no
 * connection (SA_ERR_NOT_FOUND).
 */
void ws_server_halt(struct ws_server *ws);

/* ws_server_stop halts the server if that has not happened yet and frees
 * it; no other thread may use it any more. */
void ws_server_stop(struct ws_server *ws);

/*
 * ws_adopt takes over a connected socket after the 101 response. extra_in
 * holds bytes the HTTP layer read past the handshake (they are the first
 * bytes of the frame stream and are copied). release(handle) is called once,
 * on the loop thread, when the connection ends, so the HTTP layer can free
 * its upgrade state (it closes fd; ws never closes fd itself). On success
 * *id is the connection's id and on_open will run on the loop thread. On
 * failure (limit reached, out of memory) nothing was taken over: the caller
 * still owns the socket and handle. The socket may be blocking or not:
 * every read and write asks not to wait.
 */
enum sa_err ws_adopt(struct ws_server *ws, int fd, const char *extra_in,
		     size_t extra_len, void (*release)(void *handle),
		     void *handle, const struct ws_handler *h, void *arg,
		     uint64_t *id);

/*
 * ws_adopt_answer is ws_adopt for a socket whose handshake was read but not
 * yet answered: answer (the 101 response, copied) is written by the loop
 * ahead of, and in the same system call as, the first frame that on_open
 * queues, or alone once on_open's commands ran if it queued none. On
 * failure nothing of answer was written, so the caller may still refuse.
 */
enum sa_err ws_adopt_answer(struct ws_server *ws, int fd, const char *answer,
			    size_t answer_len, void (*release)(void *handle),
			    void *handle, const struct ws_handler *h, void *arg,
			    uint64_t *id);

/* ws_send_text queues a text message to a connection; any thread. Returns
 * SA_ERR_NOT_FOUND if the id is gone. */
enum sa_err ws_send_text(struct ws_server *ws, uint64_t id, const char *msg,
			 size_t n);

/* ws_close sends a close frame with code and reason, then ends the
 * connection after the peer answers or a short grace period; any thread. */
enum sa_err ws_close(struct ws_server *ws, uint64_t id, uint16_t code,
		     const char *reason);

/*
 * ws_send_close queues a text message and, right behind it, a close with
 * code and reason (a final event and its 1000 "done"); any thread. The
 * loop writes the two frames as one TCP segment when nothing else is
 * queued for the connection. Checks and errors as ws_send_text and
 * ws_close; a message refused (too long, not UTF-8, no memory) is not
 * sent, but the close still is.
 */
enum sa_err ws_send_close(struct ws_server *ws, uint64_t id, const char *msg,
			  size_t n, uint16_t code, const char *reason);

/* ws_count is the number of live connections. */
size_t ws_count(struct ws_server *ws);

/* ws_event_base is the loop's event base, for timers and other sockets that
 * belong on the same thread. Use event_base_once / event_active from other
 * threads only as libevent's thread support allows (it is enabled). */
struct event_base *ws_event_base(struct ws_server *ws);

/*
 * ws_accept_key computes Sec-WebSocket-Accept for a client key: base64 of
 * SHA-1(key ‖ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"). Returns
 * SA_ERR_BAD_REQUEST unless key is base64 of exactly 16 bytes.
 */
enum sa_err ws_accept_key(const char *key, char out[29]);

#endif
