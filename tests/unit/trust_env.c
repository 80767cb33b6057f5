/*
 * Demo trust environments for the trust unit tests: a temporary root per
 * test group, environments built in it, seals issued by their signers and
 * assertions on where a verification or a refresh stops.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/util.h"
#include "trust/trust.h"
#include "trust/trust_int.h"
#include "seal/vds.h"
#include "trust_env.h"

char tenv_root[64];
static int dir_seq;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
tenv_setup(void **state)
{
	(void)state;
	snprintf(tenv_root, sizeof(tenv_root), "/tmp/test_trust.XXXXXX");
	return mkdtemp(tenv_root) != NULL ? 0 : -1;
}

int
tenv_teardown(void **state)
{
	(void)state;
	return nftw(tenv_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* env builds a demo environment with opts (now = T0 unless set). */
char *
tenv_env(struct trust_demo_opts *o)
{
	struct trust_demo_opts def;
	char *dir = NULL;

	if (o == NULL) {
		memset(&def, 0, sizeof(def));
		o = &def;
	}
	if (o->now == 0)
		o->now = T0;
	assert_true(asprintf(&dir, "%s/env%d", tenv_root, dir_seq++) > 0);
	assert_int_equal(trust_demo_build(dir, o), SA_OK);
	return dir;
}

void
tenv_path_of(char *out, size_t n, const char *dir, const char *rel)
{
	assert_true((size_t)snprintf(out, n, "%s/%s", dir, rel) < n);
}

/* open_at creates a handle on dir (pin: a PEM path, NULL for the
 * environment's own) and refreshes it at now. */
enum sa_err
tenv_open_at(const char *dir, const char *pin, size_t max, int64_t ttl,
	     int64_t now, struct trust **t, struct trust_result *res)
{
	struct trust_config tc;
	char url[512], cert[512];

	snprintf(url, sizeof(url), "file://%s/lists/governance.xml", dir);
	tenv_path_of(cert, sizeof(cert), dir, "governance.pem");
	memset(&tc, 0, sizeof(tc));
	tc.governance_url = url;
	tc.governance_cert_path = pin != NULL ? pin : cert;
	tc.ttl = ttl;
	tc.max_list_bytes = max;
	assert_int_equal(trust_new(&tc, t), SA_OK);
	return trust_refresh(*t, now, 1, res);
}

void
tenv_claims(struct vds_claims *c, const char *tid)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->given_name, "ANNA");
	strcpy(c->family_name, "MEIER");
	strcpy(c->birth_date, "1990-01-02");
	strcpy(c->nationality, "DEU");
	strcpy(c->document, "X1234567");
	strcpy(c->token_id, tid);
}

/* issue_as signs a seal with the signer of authority code (NULL: DEMO)
 * of dir at time st. */
struct vds *
tenv_issue_as(const char *dir, const char *code, int64_t st, const char *tid)
{
	struct vds_claims c;
	unsigned char *b = NULL;
	size_t n = 0;
	struct vds *v = NULL;

	tenv_claims(&c, tid);
	assert_int_equal(trust_demo_issue_as(dir, code, &c, st, &b, &n), SA_OK);
	assert_int_equal(vds_decode(b, n, &v, NULL, 0), SA_OK);
	free(b);
	return v;
}

/* issue signs a seal with the demo signer of dir at time st. */
struct vds *
tenv_issue(const char *dir, int64_t st, const char *tid)
{
	return tenv_issue_as(dir, NULL, st, tid);
}

EVP_PKEY *
tenv_signer_key(const char *dir)
{
	char p[512];
	FILE *f;
	EVP_PKEY *k;

	tenv_path_of(p, sizeof(p), dir, "private/signer.key");
	f = fopen(p, "r");
	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

/* seal_with signs a seal with any key and header ids. */
struct vds *
tenv_seal_with(EVP_PKEY *k, const char *ca, const char *cert,
	       const char *manifest, int64_t st)
{
	struct vds_claims c;
	unsigned char *b = NULL;
	size_t n = 0;
	struct vds *v = NULL;

	tenv_claims(&c, "TID-OTHER");
	assert_int_equal(
	    vds_encode_iso(ca, cert, manifest, (uint32_t)st, &c, k, &b, &n),
	    SA_OK);
	assert_int_equal(vds_decode(b, n, &v, NULL, 0), SA_OK);
	free(b);
	return v;
}

/* expect_step verifies seal at now and asserts the error and step. */
void
tenv_expect_step(struct trust *t, const struct vds *seal, int64_t now,
		 enum sa_err err, const char *step)
{
	struct trust_result res;
	enum sa_err rc = trust_verify_seal(t, seal, now, &res);

	if (rc != err || strcmp(res.step, step) != 0)
		fail_msg("want %s/%s, got %s/%s: %s", sa_err_code(err), step,
			 sa_err_code(rc), res.step, res.reason);
	assert_int_equal(res.err, err);
	assert_true(res.reason[0] != '\0');
}

/* load_fails opens dir at now and asserts the refresh step. */
void
tenv_load_fails(const char *dir, const char *pin, size_t max, int64_t now,
		enum sa_err err, const char *step)
{
	struct trust *t = NULL;
	struct trust_result res;
	enum sa_err rc = tenv_open_at(dir, pin, max, 3600, now, &t, &res);

	if (rc != err || strcmp(res.step, step) != 0)
		fail_msg("want %s/%s, got %s/%s: %s", sa_err_code(err), step,
			 sa_err_code(rc), res.step, res.reason);
	/* nothing loaded: every seal is refused */
	{
		struct vds *v = tenv_issue(dir, now, "TID-X");

		tenv_expect_step(t, v, now, SA_ERR_TRUST_GOVERNANCE,
				 "governance");
		vds_free(v);
	}
	trust_close(t);
}

/* tamper replaces the first occurrence of from (same length) in a file. */
void
tenv_tamper(const char *dir, const char *rel, const char *from, const char *to)
{
	char p[512];
	unsigned char *b = NULL;
	size_t n = 0;
	char *hit;

	assert_int_equal(strlen(from), strlen(to));
	tenv_path_of(p, sizeof(p), dir, rel);
	assert_int_equal(read_file(p, 1 << 22, &b, &n), SA_OK);
	hit = strstr((char *)b, from);
	assert_non_null(hit);
	memcpy(hit, to, strlen(to));
	assert_int_equal(write_file_atomic(p, b, n, 0644), SA_OK);
	free(b);
}

void
tenv_copy_file(const char *dir, const char *from, const char *to)
{
	char a[512], b[512];
	unsigned char *d = NULL;
	size_t n = 0;

	tenv_path_of(a, sizeof(a), dir, from);
	tenv_path_of(b, sizeof(b), dir, to);
	assert_int_equal(read_file(a, 1 << 22, &d, &n), SA_OK);
	assert_int_equal(write_file_atomic(b, d, n, 0644), SA_OK);
	free(d);
}
