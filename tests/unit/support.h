/*
 * support.h - small helpers shared by the unit tests.
 */
#ifndef SEALAUTH_TEST_SUPPORT_H
#define SEALAUTH_TEST_SUPPORT_H

/* sleep_ms sleeps ms milliseconds, resuming after signals. */
void sleep_ms(unsigned ms);

struct x509_st;
struct evp_pkey_st;

/*
 * self_signed_cert makes a self-signed certificate (CN=sp, valid for a day)
 * for key, signed with SHA-256; the caller frees it with X509_free.
 */
struct x509_st *self_signed_cert(struct evp_pkey_st *key);

#endif
