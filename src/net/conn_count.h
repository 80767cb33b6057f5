/*
 * conn_count.h - open connections, in all and per client address, for the
 * connection limits: SEALAUTH_CONNECTION_LIMIT and
 * SEALAUTH_PER_IP_CONNECTION_LIMIT.
 *
 * libmicrohttpd counts only the connections it holds, and a WebSocket
 * leaves it right after the upgrade (http.c, upgrade_cb). So the server
 * counts itself: the accept thread takes a count before it hands a
 * connection over and refuses it when its address or the whole server is
 * at the limit; the count is given back when the HTTP connection ends or,
 * once it became a WebSocket, when the WebSocket ends. A browser's waiting
 * socket thus counts against its address and the limit as before.
 *
 * Addresses are kept as 16 bytes (an IPv4 address in its IPv4-mapped IPv6
 * form) in a hash table keyed with random bytes at creation, so a client
 * choosing its source addresses cannot pile them into one chain. An address
 * leaves the table when its last connection ends. Thread-safe.
 */
#ifndef SEALAUTH_CONN_COUNT_H
#define SEALAUTH_CONN_COUNT_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/errors.h"

/* A client address as the table keys it. */
struct conn_addr {
	unsigned char b[16];
};

struct conn_count;

/* conn_count_new: total_max connections in all; per_addr_max from one
 * address (0: no cap per address, and no table). */
enum sa_err conn_count_new(size_t total_max, size_t per_addr_max,
			   struct conn_count **out);
/* conn_count_hold takes a reference for whoever gives back counts later
 * (a WebSocket that may end after the HTTP server stopped); the counts are
 * freed by the last conn_count_free, one per conn_count_new and per hold. */
struct conn_count *conn_count_hold(struct conn_count *cc);
void conn_count_free(struct conn_count *cc);

/* conn_addr_of turns a socket address into its key; 0 when it is neither
 * IPv4 nor IPv6 (such a peer is counted in the total only). */
int conn_addr_of(const struct sockaddr *sa, socklen_t len,
		 struct conn_addr *out);

/*
 * conn_count_take counts one more connection from a (NULL: an address of
 * no family the table knows). SA_ERR_UNAVAILABLE when the server has
 * total_max open (*per_addr then 0) or a has per_addr_max (*per_addr 1);
 * SA_ERR_NOMEM when a new address cannot be recorded. Nothing is counted
 * unless it returns SA_OK.
 */
enum sa_err conn_count_take(struct conn_count *cc, const struct conn_addr *a,
			    int *per_addr);

/* conn_count_give gives back what one conn_count_take of a counted. */
void conn_count_give(struct conn_count *cc, const struct conn_addr *a);

/* conn_count_open is how many connections are counted now, in all or
 * (a not NULL) from one address. */
size_t conn_count_open(struct conn_count *cc, const struct conn_addr *a);

#endif
