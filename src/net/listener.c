/*
 * listener.c - the listening socket and its accept thread.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/listener.h"
#include "core/log.h"
#include "core/util.h"

#define ACCEPT_BACKOFF_MIN 10  /* ms */
#define ACCEPT_BACKOFF_MAX 500 /* ms */

struct listener {
	int fd;
	pthread_t thread;
	int started;
	int backlog;	/* for listen(2) in listener_start */
	int delay_acks; /* listener_delay_acks, applied after listen(2) */
	atomic_int closing;
	listener_cb cb;
	void *arg;
};

enum sa_err
listener_open(const struct sockaddr *addr, socklen_t len, int backlog,
	      struct listener **out, unsigned int *port)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int one = 1;
	enum sa_err rc = SA_ERR_IO;

	if (l == NULL)
		return SA_ERR_NOMEM;
	l->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto out;
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto out;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) !=
		0)
		goto out;
	if (bind(l->fd, addr, len) != 0)
		goto out;
	/* A connection is accepted once its first bytes are in (or after
	 * about a second of silence): an HTTP client speaks first, so the
	 * accept thread finds the request there (http.c, early_upgrade), and
	 * a socket that says nothing costs no worker meanwhile. */
	if (setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one,
		       sizeof(one)) != 0)
		goto out;
	l->backlog = backlog;
	if (getsockname(l->fd, (struct sockaddr *)&bound, &blen) != 0)
		goto out;
	*port = ntohs(bound.ss_family == AF_INET6
			  ? ((struct sockaddr_in6 *)&bound)->sin6_port
			  : ((struct sockaddr_in *)&bound)->sin_port);
	*out = l;
	l = NULL;
	rc = SA_OK;
out:
	if (l != NULL) {
		log_error("http.listen", "cannot listen: %s", strerror(errno));
		if (l->fd >= 0)
			close(l->fd);
		free(l);
	}
	return rc;
}

void
listener_delay_acks(struct listener *l)
{
	l->delay_acks = 1;
}

void
listener_quick_acks(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* pause_ms sleeps briefly after an error that a retry at once would only
 * repeat (no descriptors or memory left). */
static void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void *
accept_main(void *arg)
{
	struct listener *l = arg;
	uint64_t last_warn = 0;
	long backoff = 0; /* ms, doubled by each failure in a row */

	thread_name("sa-accept");
	while (!atomic_load(&l->closing)) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			backoff = 0;
			l->cb(fd, (struct sockaddr *)&ss, len, l->arg);
			continue;
		}
		switch (errno) {
		case EINTR:
		case EAGAIN:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Once a second at most, so a flood cannot fill the
			 * log. */
			if (now_mono_ms() - last_warn >= 1000) {
				last_warn = now_mono_ms();
				log_warn(
				    "http.accept",
				    "cannot accept: %s; backing off %ld ms",
				    strerror(errno),
				    backoff ? backoff : ACCEPT_BACKOFF_MIN);
			}
			/* Each retry at once would fail again: back off from
			 * 10 ms to half a second until an accept succeeds. */
			backoff =
			    backoff == 0 ? ACCEPT_BACKOFF_MIN : backoff * 2;
			if (backoff > ACCEPT_BACKOFF_MAX)
				backoff = ACCEPT_BACKOFF_MAX;
			pause_ms(backoff);
			continue;
		default:
			/* EINVAL after listener_close shut the socket down. */
			if (!atomic_load(&l->closing))
				log_error("http.accept", "accept failed: %s",
					  strerror(errno));
			return NULL;
		}
	}
	return NULL;
}

enum sa_err
listener_start(struct listener *l, listener_cb cb, void *arg)
{
	int zero = 0;

	l->cb = cb;
	l->arg = arg;
	/* Only now: until the server can answer, connections are refused
	 * rather than left waiting in the backlog. */
	if (listen(l->fd, l->backlog) != 0) {
		log_error("http.listen", "cannot listen: %s", strerror(errno));
		return SA_ERR_IO;
	}
	/* After listen(2), which resets the socket's acknowledgement state.
	 * Without it, connections acknowledge as usual: nothing else
	 * changes. */
	if (l->delay_acks && setsockopt(l->fd, IPPROTO_TCP, TCP_QUICKACK, &zero,
					sizeof(zero)) != 0)
		log_warn("http.listen", "cannot delay acknowledgements: %s",
			 strerror(errno));
	if (pthread_create(&l->thread, NULL, accept_main, l) != 0)
		return SA_ERR_INTERNAL;
	l->started = 1;
	return SA_OK;
}

void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	atomic_store(&l->closing, 1);
	/* Wakes the blocked accept4 with EINVAL; refuses what comes next. */
	shutdown(l->fd, SHUT_RDWR);
	if (l->started)
		pthread_join(l->thread, NULL);
	close(l->fd);
	free(l);
}
