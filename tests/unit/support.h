/*
 * support.h - small helpers shared by the unit tests.
 */
#ifndef SEALAUTH_TEST_SUPPORT_H
#define SEALAUTH_TEST_SUPPORT_H

#include <stdint.h>

/* sleep_ms sleeps ms milliseconds, resuming after signals. */
void sleep_ms(unsigned ms);

/* rm_tree removes dir and everything below it, following no links; an
 * entry that cannot be removed is named on stderr. 0, or -1 when the walk
 * itself failed. */
int rm_tree(const char *dir);

/*
 * free_port answers a loopback TCP port nothing listens on and not
 * answered before in this process, or -1. With
 * TEST_PORTS="lo-hi" in the environment (ctest gives the tests that start
 * servers ranges of their own, below the kernel's ephemeral ports) it is
 * drawn from that range, so a suite running beside this one cannot choose
 * it too; without it the kernel picks.
 */
int free_port(void);

/* test_rng steps the xorshift64* generator whose state the caller keeps
 * (seeded with anything but 0, so that a failure can be replayed) and
 * returns its next value. */
uint64_t test_rng(uint64_t *state);

struct x509_st;
struct evp_pkey_st;

/*
 * self_signed_cert makes a self-signed certificate (CN=sp, valid for a day)
 * for key, signed with SHA-256; the caller frees it with X509_free.
 */
struct x509_st *self_signed_cert(struct evp_pkey_st *key);

/* self_signed_cert_b64 is such a certificate's DER in base64, as SAML
 * metadata carries it (caller frees), or NULL. */
char *self_signed_cert_b64(struct evp_pkey_st *key);

#endif
