/*
 * test_listener.c - the accept thread hands over non-blocking sockets, and
 * a listener asked to delay acknowledgements passes that on to the
 * connections it accepts, until listener_quick_acks turns it back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/listener.h"

#define T_WAIT_MS 5000

static atomic_int t_fd = -1;

static void
t_accepted(int fd, const struct sockaddr *addr, socklen_t len, void *arg)
{
	(void)addr;
	(void)len;
	(void)arg;
	atomic_store(&t_fd, fd);
}

/* t_accept opens a listener on a loopback port, connects to it and sends a
 * byte (the listener accepts once the client has spoken), and returns the
 * socket the accept thread handed over; *client is the client's end. */
static int
t_accept(int delay, struct listener **l, int *client)
{
	struct sockaddr_in sin;
	unsigned int port = 0;
	int fd = -1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	atomic_store(&t_fd, -1);
	assert_int_equal(
	    listener_open((struct sockaddr *)&sin, sizeof(sin), 16, l, &port),
	    SA_OK);
	assert_true(port > 0);
	if (delay)
		listener_delay_acks(*l);
	assert_int_equal(listener_start(*l, t_accepted, NULL), SA_OK);
	sin.sin_port = htons((uint16_t)port);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&sin, sizeof(sin)),
			 0);
	assert_int_equal(send(*client, "G", 1, 0), 1);
	for (int i = 0; i < T_WAIT_MS && (fd = atomic_load(&t_fd)) < 0; i++) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_true(fd >= 0);
	return fd;
}

/* t_quickack reads TCP_QUICKACK: 0 while acknowledgements are delayed. */
static int
t_quickack(int fd)
{
	int v = -1;
	socklen_t n = sizeof(v);

	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &v, &n), 0);
	return v;
}

static void
test_default_quick_acks(void **state)
{
	struct listener *l = NULL;
	int client = -1, fd;
	char c = 0;

	(void)state;
	fd = t_accept(0, &l, &client);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(t_quickack(fd), 1);
	assert_int_equal(recv(fd, &c, 1, 0), 1);
	assert_int_equal(c, 'G');
	close(fd);
	close(client);
	listener_close(l);
}

static void
test_delayed_acks_then_quick(void **state)
{
	struct listener *l = NULL;
	int client = -1, fd;

	(void)state;
	fd = t_accept(1, &l, &client);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(t_quickack(fd), 0);
	listener_quick_acks(fd);
	assert_int_equal(t_quickack(fd), 1);
	close(fd);
	close(client);
	listener_close(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_quick_acks),
	    cmocka_unit_test(test_delayed_acks_then_quick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
