/*
 * ipaddr.c - the address rules for connections the server makes on someone
 * else's say: a device's push endpoint, an SP's metadata URL. An address is
 * refused when it is not a public unicast address, so such a URL cannot
 * reach the server's own host or internal networks (SSRF).
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/ipaddr.h"
#include "core/util.h"

/*
 * v4_refused classifies an IPv4 address given in host byte order.
 * Besides the ranges the design names, the IETF protocol block and the
 * benchmarking and documentation ranges are refused: nothing legitimate
 * lives there.
 */
static const char *
v4_refused(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
		const char *why;
	} v4[] = {
	    {0x00000000, 0xff000000, "unspecified"}, /* 0/8 */
	    {0x0a000000, 0xff000000, "private"},     /* 10/8 */
	    {0x64400000, 0xffc00000, "shared address space (CGNAT)"},
	    {0x7f000000, 0xff000000, "loopback"},   /* 127/8 */
	    {0xa9fe0000, 0xffff0000, "link-local"}, /* 169.254/16 */
	    {0xac100000, 0xfff00000, "private"},    /* 172.16/12 */
	    {0xc0000000, 0xffffff00, "reserved"},   /* 192.0.0/24 */
	    {0xc0000200, 0xffffff00, "reserved"},   /* 192.0.2/24 */
	    {0xc0a80000, 0xffff0000, "private"},    /* 192.168/16 */
	    {0xc6120000, 0xfffe0000, "reserved"},   /* 198.18/15 */
	    {0xc6336400, 0xffffff00, "reserved"},   /* 198.51.100/24 */
	    {0xcb007100, 0xffffff00, "reserved"},   /* 203.0.113/24 */
	    {0xe0000000, 0xf0000000, "multicast"},  /* 224/4 */
	    {0xf0000000, 0xf0000000, "reserved"},   /* 240/4, broadcast */
	};

	for (size_t i = 0; i < ARRAY_LEN(v4); i++)
		if ((a & v4[i].mask) == v4[i].net)
			return v4[i].why;
	return NULL;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * v6_refused classifies an IPv6 address. Forms that embed an IPv4
 * address (mapped, compatible, NAT64, 6to4) are judged by that address, as
 * the packets end up there.
 */
static const char *
v6_refused(const unsigned char *b)
{
	static const unsigned char zero[16];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};

	if (memcmp(b, zero, 16) == 0)
		return "unspecified";
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return "loopback";
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
		return v4_refused(be32(b + 12));
	if (memcmp(b, zero, 12) == 0) /* IPv4-compatible, deprecated */
		return "reserved";
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
		return v4_refused(be32(b + 2));
	if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 */
		return "private";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 */
		return "link-local";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10, site-local */
		return "private";
	if (b[0] == 0xff)
		return "multicast";
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return "reserved"; /* 2001:db8::/32, documentation */
	return NULL;
}

const char *
ipaddr_refused(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)sa;
		return v4_refused(ntohl(s4->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		return v6_refused(s6->sin6_addr.s6_addr);
	}
	return "reserved"; /* not an internet address at all */
}

int
ipaddr_is_loopback(const struct sockaddr *sa, socklen_t len)
{
	const char *why = ipaddr_refused(sa, len);

	return why != NULL && strcmp(why, "loopback") == 0;
}
