#ifndef SEALAUTH_IPADDR_H
#define SEALAUTH_IPADDR_H

#include <sys/socket.h>

/*
 * ipaddr_refused tells why the server may not connect, on a third party's
 * say, to an address: "loopback", "private", "link-local", "multicast",
 * "unspecified", "shared address space (CGNAT)", "reserved", or NULL when it
 * is a public unicast address. IPv4-mapped, NAT64 and 6to4 IPv6 addresses
 * are judged by the IPv4 address they carry, as the packets end up there.
 * Anything but AF_INET and AF_INET6 is "reserved".
 */
const char *ipaddr_refused(const struct sockaddr *sa, socklen_t len);

/* ipaddr_is_loopback tells whether an address is 127/8 or ::1. */
int ipaddr_is_loopback(const struct sockaddr *sa, socklen_t len);

#endif
