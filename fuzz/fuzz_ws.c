/*
 * fuzz_ws.c - client bytes into a WebSocket connection, through the real
 * loop thread.
 *
 * Input layout: the first byte says how many of the following bytes arrive
 * as extra_in (the bytes the HTTP layer read past the handshake); the rest
 * is written to the client end of a socketpair, which is then shut for
 * writing so every connection must end. The endpoint echoes text messages,
 * so the send path runs too. The same bytes, as a string, also go through
 * ws_accept_key.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/ws.h"

#define FZ_MAX_INPUT 65536 /* stays well inside a socketpair's buffers */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ws_server *fz_ws;
static pthread_mutex_t fz_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fz_cv = PTHREAD_COND_INITIALIZER;
static int fz_released;

static void
fz_on_text(struct ws_server *ws, uint64_t id, const char *msg, size_t n,
	   void *arg)
{
	ws_send_text(ws, id, msg, n);
}

static void
fz_release(void *handle)
{
	pthread_mutex_lock(&fz_mu);
	fz_released = 1;
	pthread_cond_signal(&fz_cv);
	pthread_mutex_unlock(&fz_mu);
}

static const struct ws_handler fz_handler = {NULL, fz_on_text, NULL};

static void
fz_accept_key(const uint8_t *data, size_t size)
{
	char out[29], *key = malloc(size + 1);

	if (key == NULL)
		return;
	memcpy(key, data, size);
	key[size] = '\0';
	ws_accept_key(key, out);
	free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_config cfg = {60, 4096, 16, 65536};
	size_t extra_len, off = 0;
	uint64_t id;
	int sv[2];

	if (size == 0 || size > FZ_MAX_INPUT)
		return 0;
	fz_accept_key(data, size);
	if (fz_ws == NULL && ws_server_start(&cfg, &fz_ws) != SA_OK)
		abort();
	extra_len = data[0];
	data++, size--;
	if (extra_len > size)
		extra_len = size;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	fz_released = 0;
	if (ws_adopt(fz_ws, sv[1], (const char *)data, extra_len, fz_release,
		     NULL, &fz_handler, NULL, &id) != SA_OK)
		abort();
	while (off < size - extra_len) {
		ssize_t r = send(sv[0], data + extra_len + off,
				 size - extra_len - off, MSG_NOSIGNAL);
		if (r <= 0)
			break; /* the server let go early */
		off += (size_t)r;
	}
	shutdown(sv[0], SHUT_WR);
	pthread_mutex_lock(&fz_mu);
	while (!fz_released)
		pthread_cond_wait(&fz_cv, &fz_mu);
	pthread_mutex_unlock(&fz_mu);
	if (ws_count(fz_ws) != 0)
		abort();
	close(sv[0]);
	close(sv[1]);
	return 0;
}
