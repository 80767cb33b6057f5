/*
 * netaddr.h - IP addresses, CIDR lists and the client address of a request.
 */
#ifndef SEALAUTH_NETADDR_H
#define SEALAUTH_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/errors.h"

#define NETADDR_TEXT_MAX 64 /* INET6_ADDRSTRLEN with room */
#define NETADDR_LIST_MAX 64 /* entries in a configured list */

struct netaddr {
	int family; /* AF_INET or AF_INET6; IPv4-mapped IPv6 is folded to v4 */
	unsigned char addr[16];
};

struct cidr {
	struct netaddr net;
	unsigned int prefix;
};

struct cidr_list {
	size_t n;
	struct cidr items[NETADDR_LIST_MAX];
};

/* netaddr_parse reads a textual IPv4 or IPv6 address (brackets allowed). */
enum sa_err netaddr_parse(const char *text, struct netaddr *out);

/* netaddr_from_sockaddr converts a socket address. */
enum sa_err netaddr_from_sockaddr(const struct sockaddr *sa,
				  struct netaddr *out);

/* netaddr_format writes the canonical text form. */
void netaddr_format(const struct netaddr *a, char out[NETADDR_TEXT_MAX]);

/*
 * cidr_list_parse reads "10.0.0.0/8, 127.0.0.1, ::1" (a bare address is a
 * host route). An empty string gives an empty list. On error, *bad names the
 * offending entry's position (0-based).
 */
enum sa_err cidr_list_parse(const char *text, struct cidr_list *out,
			    size_t *bad);

/* cidr_list_contains tells whether an address falls inside any entry. */
int cidr_list_contains(const struct cidr_list *l, const struct netaddr *a);

/*
 * netaddr_client picks the client address of a request. The peer is the
 * socket address. When the peer is a trusted proxy and X-Forwarded-For is
 * present, the list is walked from the right, skipping trusted proxies, and
 * the first untrusted address is the client; an unparsable entry stops the
 * walk at the last trusted hop (never trust what a client wrote on the left).
 */
void netaddr_client(const struct netaddr *peer, const char *xff,
		    const struct cidr_list *trusted, struct netaddr *out);

/*
 * netaddr_loopback_origins writes into out the browser origins that name
 * one loopback server: for "http://127.0.0.1:8080", "http://localhost:8080"
 * or "http://[::1]:8080" it writes all three, comma-separated, so a person
 * who types either name reaches a working page. Any other origin is copied
 * unchanged. Returns SA_ERR_BAD_REQUEST when out is too small.
 */
enum sa_err netaddr_loopback_origins(const char *origin, char *out, size_t n);

#endif
