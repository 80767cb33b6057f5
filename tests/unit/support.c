/*
 * support.c - small helpers shared by the unit tests (support.h).
 */
#include <ftw.h>
#include <stdio.h>
#include <time.h>

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
