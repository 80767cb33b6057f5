/*
 * netaddr.c - addresses, CIDR lists and X-Forwarded-For.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/netaddr.h"

static void
fold_mapped(struct netaddr *a)
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0,	   0,
						 0, 0, 0, 0, 0xff, 0xff};

	if (a->family == AF_INET6 && memcmp(a->addr, prefix, 12) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
	}
}

enum sa_err
netaddr_parse(const char *text, struct netaddr *out)
{
	char tmp[NETADDR_TEXT_MAX];
	size_t n = strlen(text);
	struct netaddr a;

	memset(&a, 0, sizeof(a));
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		text++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(tmp))
		return SA_ERR_BAD_REQUEST;
	memcpy(tmp, text, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, a.addr) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, a.addr) == 1)
		a.family = AF_INET6;
	else
		return SA_ERR_BAD_REQUEST;
	fold_mapped(&a);
	*out = a;
	return SA_OK;
}

enum sa_err
netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	struct netaddr a;

	memset(&a, 0, sizeof(a));
	if (sa == NULL)
		return SA_ERR_BAD_REQUEST;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in =
		    (const struct sockaddr_in *)(const void *)sa;
		a.family = AF_INET;
		memcpy(a.addr, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)(const void *)sa;
		a.family = AF_INET6;
		memcpy(a.addr, &in6->sin6_addr, 16);
		fold_mapped(&a);
	} else {
		return SA_ERR_BAD_REQUEST;
	}
	*out = a;
	return SA_OK;
}

void
netaddr_format(const struct netaddr *a, char out[NETADDR_TEXT_MAX])
{
	if (inet_ntop(a->family, a->addr, out, NETADDR_TEXT_MAX) == NULL)
		snprintf(out, NETADDR_TEXT_MAX, "unknown");
}

static int
prefix_match(const struct netaddr *net, unsigned int prefix,
	     const struct netaddr *a)
{
	unsigned int bytes = prefix / 8, bits = prefix % 8;

	if (net->family != a->family)
		return 0;
	if (memcmp(net->addr, a->addr, bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - bits));
	return (net->addr[bytes] & mask) == (a->addr[bytes] & mask);
}

enum sa_err
cidr_list_parse(const char *text, struct cidr_list *out, size_t *bad)
{
	struct cidr_list l;
	const char *p = text;
	size_t idx = 0;

	memset(&l, 0, sizeof(l));
	while (*p != '\0') {
		char item[NETADDR_TEXT_MAX + 8];
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *slash, *s = item, *e;
		struct cidr c;
		unsigned int max;

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 && end == NULL)
			break;
		if (n == 0 || n >= sizeof(item) || l.n >= NETADDR_LIST_MAX)
			goto bad;
		memcpy(item, p, n);
		item[n] = '\0';
		slash = strchr(s, '/');
		if (slash != NULL)
			*slash = '\0';
		if (netaddr_parse(s, &c.net) != SA_OK)
			goto bad;
		max = c.net.family == AF_INET ? 32 : 128;
		c.prefix = max;
		if (slash != NULL) {
			long v = strtol(slash + 1, &e, 10);
			if (e == slash + 1 || *e != '\0' || v < 0 ||
			    v > (long)max)
				goto bad;
			c.prefix = (unsigned int)v;
		}
		l.items[l.n++] = c;
		idx++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	*out = l;
	return SA_OK;
bad:
	if (bad != NULL)
		*bad = idx;
	return SA_ERR_CONFIG;
}

int
cidr_list_contains(const struct cidr_list *l, const struct netaddr *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (prefix_match(&l->items[i].net, l->items[i].prefix, a))
			return 1;
	return 0;
}

void
netaddr_client(const struct netaddr *peer, const char *xff,
	       const struct cidr_list *trusted, struct netaddr *out)
{
	struct netaddr cur = *peer;
	size_t end;

	if (xff == NULL || trusted->n == 0 ||
	    !cidr_list_contains(trusted, peer)) {
		*out = *peer;
		return;
	}
	end = strnlen(xff, 4096);
	while (end > 0) {
		size_t start = end;
		char item[NETADDR_TEXT_MAX];
		struct netaddr a;

		while (start > 0 && xff[start - 1] != ',')
			start--;
		size_t s = start, e = end;
		while (s < e && (xff[s] == ' ' || xff[s] == '\t'))
			s++;
		while (e > s && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
			e--;
		if (e - s == 0 || e - s >= sizeof(item))
			break;
		memcpy(item, xff + s, e - s);
		item[e - s] = '\0';
		if (netaddr_parse(item, &a) != SA_OK)
			break;
		cur = a;
		if (!cidr_list_contains(trusted, &a))
			break;
		end = start > 0 ? start - 1 : 0;
	}
	*out = cur;
}

enum sa_err
netaddr_loopback_origins(const char *origin, char *out, size_t n)
{
	static const char *const hosts[] = {"127.0.0.1", "localhost", "[::1]"};
	const char *rest = NULL, *port;
	int w;

	if (strncmp(origin, "http://", 7) == 0) {
		for (size_t i = 0; i < 3 && rest == NULL; i++) {
			size_t hl = strlen(hosts[i]);

			if (strncmp(origin + 7, hosts[i], hl) == 0 &&
			    (origin[7 + hl] == ':' || origin[7 + hl] == '\0'))
				rest = origin + 7 + hl;
		}
	}
	if (rest == NULL) {
		w = snprintf(out, n, "%s", origin);
		return w >= 0 && (size_t)w < n ? SA_OK : SA_ERR_BAD_REQUEST;
	}
	port = rest; /* ":8080" or "" */
	w = snprintf(out, n, "http://%s%s,http://%s%s,http://%s%s", hosts[0],
		     port, hosts[1], port, hosts[2], port);
	return w >= 0 && (size_t)w < n ? SA_OK : SA_ERR_BAD_REQUEST;
}
