/*
 * trust_env.h - demo trust environments shared by the trust unit tests
 * (test_trust.c, test_trust_seal.c). Every environment lives under
 * tenv_root, made by tenv_setup and removed by tenv_teardown.
 */
#ifndef SEALAUTH_TEST_TRUST_ENV_H
#define SEALAUTH_TEST_TRUST_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "core/errors.h"
#include "seal/vds.h"
#include "trust/trust.h"
#include "trust/trust_int.h"

#define T0 1800000000LL /* the injected "now" of every environment */
#define DAY 86400LL
#define YEAR (365 * DAY)

extern char tenv_root[64];

int tenv_setup(void **state);
int tenv_teardown(void **state);
/* tenv_env builds a demo environment with o (NULL: defaults; now = T0 unless
 * set) and returns its directory, which the caller frees. */
char *tenv_env(struct trust_demo_opts *o);
void tenv_path_of(char *out, size_t n, const char *dir, const char *rel);
enum sa_err tenv_open_at(const char *dir, const char *pin, size_t max,
			 int64_t ttl, int64_t now, struct trust **t,
			 struct trust_result *res);
void tenv_claims(struct vds_claims *c, const char *tid);
struct vds *tenv_issue_as(const char *dir, const char *code, int64_t st,
			  const char *tid);
struct vds *tenv_issue(const char *dir, int64_t st, const char *tid);
EVP_PKEY *tenv_signer_key(const char *dir);
struct vds *tenv_seal_with(EVP_PKEY *k, const char *ca, const char *cert,
			   const char *manifest, int64_t st);
void tenv_expect_step(struct trust *t, const struct vds *seal, int64_t now,
		      enum sa_err err, const char *step);
void tenv_load_fails(const char *dir, const char *pin, size_t max, int64_t now,
		     enum sa_err err, const char *step);
void tenv_tamper(const char *dir, const char *rel, const char *from,
		 const char *to);
void tenv_copy_file(const char *dir, const char *from, const char *to);

#endif
