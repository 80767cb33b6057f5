/*
 * listener.h - the listening socket and its accept thread.
 *
 * With a thread pool, MHD puts the listening socket into every worker's
 * epoll set, so each new connection wakes every worker and all but one of
 * them find nothing to accept (measured: four failed accept4 calls and as
 * many needless wake-ups per login with 8 workers). Instead one thread
 * blocks in accept4, where the kernel wakes exactly one waiter, and hands
 * each connection to a worker with MHD_add_connection.
 */
#ifndef SEALAUTH_LISTENER_H
#define SEALAUTH_LISTENER_H

#include <sys/socket.h>

#include "core/errors.h"

struct listener;

/* Called on the accept thread with a new non-blocking socket, which the
 * callee owns from then on (it closes it on failure). */
typedef void (*listener_cb)(int fd, const struct sockaddr *addr, socklen_t len,
			    void *arg);

/*
 * listener_open binds addr (SO_REUSEADDR, never SO_REUSEPORT, so a second
 * server cannot share the port; IPv6 sockets are IPv6 only); listening
 * starts with listener_start, so a process can bind a low port as root
 * early and refuse connections until it serves. *port is the bound port.
 * SA_ERR_IO when the address cannot be bound.
 */
enum sa_err listener_open(const struct sockaddr *addr, socklen_t len,
			  int backlog, struct listener **out,
			  unsigned int *port);

/*
 * listener_delay_acks makes the connections accepted once listener_start
 * listens start with
 * delayed acknowledgements (TCP_QUICKACK off, which Linux passes on from
 * the listening socket to the connections it accepts). A new connection
 * otherwise acknowledges its first request in a segment of its own,
 * although the answer that follows would carry the acknowledgement; with
 * the answer written at once (an upgraded WebSocket's 101) that segment is
 * saved. A connection whose answer may wait, or whose client may hold its
 * request's body back for the acknowledgement (Nagle's algorithm), gets
 * quick acknowledgements back with listener_quick_acks.
 */
void listener_delay_acks(struct listener *l);

/* listener_quick_acks turns quick acknowledgements back on for one
 * accepted socket, acknowledging at once what has arrived. */
void listener_quick_acks(int fd);

/* listener_start listens and starts the accept thread. */
enum sa_err listener_start(struct listener *l, listener_cb cb, void *arg);

/* listener_close stops accepting (new connections are refused from then
 * on), joins the accept thread and frees l. NULL is ignored. */
void listener_close(struct listener *l);

#endif
