/*
 * support.c - small helpers shared by the unit tests (support.h).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/util.h"

#include "support.h"

void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static int
rm_tree_entry(const char *path, const struct stat *st, int flag,
	      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "could not remove %s\n", path);
	return 0;
}

int
rm_tree(const char *dir)
{
	return nftw(dir, rm_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

X509 *
self_signed_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();

	if (x == NULL)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
				   MBSTRING_UTF8, (const unsigned char *)"sp",
				   -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

char *
self_signed_cert_b64(EVP_PKEY *key)
{
	X509 *x = self_signed_cert(key);
	unsigned char *der = NULL;
	int n = x != NULL ? i2d_X509(x, &der) : -1;
	char *b64 = n > 0 ? b64_encode(der, (size_t)n) : NULL;

	OPENSSL_free(der);
	X509_free(x);
	return b64;
}

/* bind_port binds a socket to 127.0.0.1:port for a moment; it answers the
 * port bound (the kernel's choice for 0), or -1 when it is taken. */
static int
bind_port(int port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), got = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		got = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return got;
}

int
free_port(void)
{
	/* Ports handed out already: a caller may take several before it
	 * binds any, as the browser tests' harness also guards against. */
	static int given[64];
	static size_t ngiven;
	static unsigned int seed;
	const char *r = getenv("TEST_PORTS");
	int lo = 0, hi = 0, ranged, port;

	ranged = r != NULL && sscanf(r, "%d-%d", &lo, &hi) == 2 && lo >= 1024 &&
		 hi <= 65535 && hi >= lo;
	if (seed == 0)
		seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	for (int i = 0; i < 200; i++) {
		int want = ranged ? lo + (int)(rand_r(&seed) %
					       (unsigned int)(hi - lo + 1))
				  : 0;
		size_t k = 0;
		if ((port = bind_port(want)) < 0)
			continue;
		while (k < ngiven && given[k] != port)
			k++;
		if (k < ngiven)
			continue;
		if (ngiven < sizeof(given) / sizeof(given[0]))
			given[ngiven++] = port;
		return port;
	}
	return -1;
}

uint64_t
test_rng(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545F4914F6CDD1DULL;
}
