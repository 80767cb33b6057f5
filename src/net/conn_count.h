/*
 * conn_count.h - open connections, in all and per client address, for the
 * connection limits: SEALAUTH_CONNECTION_LIMIT and
 * SEALAUTH_PER_IP_CONNECTION_LIMIT.
 *
 * libmicrohttpd counts only the connections it holds, and a WebSocket
 * leaves it right after the upgrade (http.c, upgrade_cb). So the server
 * counts itself: a connection is counted when MHD starts it and refused
 * when its address or the whole server is at the limit; the count is given
 * back when the HTTP connection ends or, once it became a WebSocket, when
 * the WebSocket ends. A browser's waiting socket thus counts against its
 * address and the limit as before.
 *
 * Addresses are keyed as netaddr_from_sockaddr gives them (an IPv4-mapped
 * IPv6 address folded to IPv4) in a hash table keyed with random bytes at
 * creation, so a client choosing its source addresses cannot pile them into
 * one chain. An address leaves the table when its last connection ends.
 * Thread-safe.
 */
#ifndef SEALAUTH_CONN_COUNT_H
#define SEALAUTH_CONN_COUNT_H

#include <stddef.h>

#include "core/errors.h"
#include "net/netaddr.h"

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

/*
 * conn_count_take counts one more connection from a (NULL: a peer with no
 * IP address, counted in the total only). SA_ERR_UNAVAILABLE when the server
 * has total_max open (*per_addr then 0) or a has per_addr_max (*per_addr 1);
 * SA_ERR_NOMEM when a new address cannot be recorded. Nothing is counted
 * unless it returns SA_OK.
 */
enum sa_err conn_count_take(struct conn_count *cc, const struct netaddr *a,
			    int *per_addr);

/* conn_count_give gives back what one conn_count_take of a counted. */
void conn_count_give(struct conn_count *cc, const struct netaddr *a);

/* conn_count_open is how many connections are counted now, in all or
 * (a not NULL) from one address. */
size_t conn_count_open(struct conn_count *cc, const struct netaddr *a);

#endif
