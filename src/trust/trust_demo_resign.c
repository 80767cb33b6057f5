/*
 * trust_demo_resign.c - keep the demo environment's documents current:
 * re-sign one list, VRL or CRL with the next sequence number (the CLI and
 * the tests), revoke a seal on a VRL, renew every document before its
 * maximum age runs out (the refresher thread), and create the environment,
 * or freshen a kept one, at start.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/util.h"
#include "seal/vds.h"
#include "trust/trust.h"
#include "trust/trust_demo_int.h"
#include "trust/trust_int.h"
#include "trust/tsl.h"
#include "trust/vrl.h"

/*
 * demo_resign_list reads the TS 119 612 list at rel, lets edit change it, and
 * writes it back signed by p with the next sequence number, issued now.
 */
enum sa_err
demo_resign_list(const char *dir, const char *rel, const struct demo_party *p,
		 int64_t now, uint64_t *sequence,
		 enum sa_err (*edit)(struct tsl *l, void *arg),
		 void (*undo)(struct tsl *l, void *arg), void *arg)
{
	int edited = 0;
	unsigned char *xml = NULL;
	struct tsl *l = NULL;
	enum sa_err rc;

	if ((rc = demo_list_read(dir, rel, &xml, &l)) != SA_OK)
		goto out;
	l->sequence++;
	l->issued = now;
	if (l->next_update <= now)
		l->next_update = now + 365 * DAY;
	if (edit != NULL && (rc = edit(l, arg)) != SA_OK)
		goto out;
	edited = edit != NULL;
	if ((rc = demo_build_list(dir, rel, l, p)) != SA_OK)
		goto out;
	if (sequence != NULL)
		*sequence = l->sequence;
out:
	/* what edit lent the list is the caller's: give it back first */
	if (edited && undo != NULL)
		undo(l, arg);
	tsl_free(l);
	free(xml);
	return rc;
}

/* demo_resign_vrl re-signs the VRL of code (adding fp when not NULL). */
static enum sa_err
resign_vrl(const char *dir, const char *code, const unsigned char *fp,
	   int64_t now, uint64_t *sequence)
{
	struct demo_party op;
	char path[PATH_MAX], rel[64], why[200];
	unsigned char *xml = NULL;
	size_t len = 0;
	struct vrl *v = NULL;
	EVP_PKEY *pub;
	enum sa_err rc;

	if ((rc = demo_party_of(dir, code, "tsl", &op)) != SA_OK)
		return rc;
	pub = X509_get0_pubkey(op.cert);
	snprintf(rel, sizeof(rel), "lists/vrl-%s.xml", code);
	if ((rc = demo_path(path, dir, rel)) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &xml, &len)) != SA_OK ||
	    (rc = vrl_load(xml, len, &pub, 1, &v, why, sizeof(why))) != SA_OK)
		goto out;
	if (fp != NULL && (rc = vrl_add(v, fp)) != SA_OK)
		goto out;
	v->sequence++;
	v->issued = now;
	if (v->next_update <= now)
		v->next_update = now + 365 * DAY;
	if ((rc = demo_write_vrl(dir, code, v, &op)) != SA_OK)
		goto out;
	if (sequence != NULL)
		*sequence = v->sequence;
out:
	vrl_free(v);
	free(xml);
	demo_party_free(&op);
	return rc;
}

/*
 * resign_crl re-signs the CRL of code's CA with the next cRLNumber,
 * thisUpdate now, keeping its entries.
 */
static enum sa_err
resign_crl(const char *dir, const char *code, int64_t now, uint64_t *sequence)
{
	struct demo_party ca;
	char path[PATH_MAX], rel[64], ca_id[5];
	unsigned char *der = NULL, *out = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *lu = NULL, *nu = NULL;
	uint64_t n = 0;
	int outlen;
	enum sa_err rc;

	if ((rc = demo_party_of(dir, code, "ca", &ca)) != SA_OK)
		return rc;
	trust_demo_ca_id(code, ca_id);
	snprintf(rel, sizeof(rel), "lists/ca/%s.crl", ca_id);
	if ((rc = demo_path(path, dir, rel)) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &der, &len)) != SA_OK)
		goto out;
	rc = SA_ERR_INTERNAL;
	p = der;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL)
		goto out;
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	if (num != NULL && !ASN1_INTEGER_get_uint64(&n, num))
		n = 0;
	ASN1_INTEGER_free(num);
	num = ASN1_INTEGER_new();
	lu = ASN1_TIME_set(NULL, (time_t)(now - 60));
	nu = ASN1_TIME_set(NULL, (time_t)(now + 365 * DAY));
	if (num == NULL || lu == NULL || nu == NULL ||
	    !ASN1_INTEGER_set_uint64(num, n + 1) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0,
				   X509V3_ADD_REPLACE) ||
	    !X509_CRL_set1_lastUpdate(crl, lu) ||
	    !X509_CRL_set1_nextUpdate(crl, nu) ||
	    X509_CRL_sign(crl, ca.key, EVP_sha256()) <= 0 ||
	    (outlen = i2d_X509_CRL(crl, &out)) <= 0)
		goto out;
	if ((rc = demo_write_bytes(dir, rel, out, (size_t)outlen)) != SA_OK)
		goto out;
	if (sequence != NULL)
		*sequence = n + 1;
out:
	OPENSSL_free(out);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(lu);
	ASN1_TIME_free(nu);
	X509_CRL_free(crl);
	free(der);
	demo_party_free(&ca);
	return rc;
}

enum sa_err
trust_demo_resign(const char *dir, const char *kind, const char *code,
		  int64_t now, uint64_t *sequence)
{
	struct demo_party p;
	char rel[64];
	enum sa_err rc;

	if (code == NULL)
		code = TRUST_DEMO_IAC;
	if (!demo_code_ok(code) || kind == NULL)
		return SA_ERR_VALIDATION;
	if (now == 0)
		now = now_unix();
	if (strcmp(kind, "vrl") == 0)
		return resign_vrl(dir, code, NULL, now, sequence);
	if (strcmp(kind, "crl") == 0)
		return resign_crl(dir, code, now, sequence);
	if (strcmp(kind, "governance") == 0)
		rc = demo_party_read(dir, "private/governance.key",
				     "governance.pem", &p);
	else if (strcmp(kind, "scheme") == 0 || strcmp(kind, "tsl") == 0)
		rc = demo_party_of(dir, code, kind, &p);
	else
		return SA_ERR_VALIDATION;
	if (rc != SA_OK)
		return rc;
	if (strcmp(kind, "governance") == 0)
		snprintf(rel, sizeof(rel), "lists/governance.xml");
	else
		snprintf(rel, sizeof(rel), "lists/%s-%s.xml", kind, code);
	rc = demo_resign_list(dir, rel, &p, now, sequence, NULL, NULL, NULL);
	demo_party_free(&p);
	return rc;
}

enum sa_err
trust_demo_revoke_as(const char *dir, const char *code, const struct vds *seal,
		     int64_t now, uint64_t *sequence)
{
	unsigned char fp[32];

	if (code == NULL)
		code = TRUST_DEMO_IAC;
	if (!demo_code_ok(code))
		return SA_ERR_VALIDATION;
	vds_fingerprint(seal, fp);
	return resign_vrl(dir, code, fp, now, sequence);
}

enum sa_err
trust_demo_revoke(const char *dir, const struct vds *seal, int64_t now,
		  uint64_t *sequence)
{
	return trust_demo_revoke_as(dir, NULL, seal, now, sequence);
}

/* stale tells whether dir/rel is missing, older than a day, or lacks
 * marker (NULL: any content will do). */
static int
stale(const char *dir, const char *rel, const char *marker, int64_t now)
{
	char path[PATH_MAX];
	unsigned char *b = NULL;
	size_t n = 0;
	struct stat st;
	int old;

	if (demo_path(path, dir, rel) != SA_OK || stat(path, &st) != 0)
		return 1;
	old = now - (int64_t)st.st_mtime > DAY;
	if (old || marker == NULL)
		return old;
	if (read_file(path, XMLDSIG_MAX_DOC, &b, &n) != SA_OK)
		return 1;
	old = memmem(b, n, marker, strlen(marker)) == NULL;
	free(b);
	return old;
}

/*
 * each_authority calls fn with the code of every demo authority that the
 * governance list of dir names, in the list's order, and stops at the
 * first failure, which it returns.
 */
static enum sa_err
each_authority(const char *dir, int64_t now,
	       enum sa_err (*fn)(const char *dir, const char *code, int64_t now,
				 void *arg),
	       void *arg)
{
	unsigned char *xml = NULL;
	struct tsl *gov = NULL;
	enum sa_err rc;

	if ((rc = demo_list_read(dir, "lists/governance.xml", &xml, &gov)) !=
	    SA_OK)
		goto out;
	for (size_t i = 0; i < gov->npointers; i++) {
		const char *code = gov->pointers[i].territory;

		if (demo_code_ok(code) &&
		    (rc = fn(dir, code, now, arg)) != SA_OK)
			goto out;
	}
out:
	tsl_free(gov);
	free(xml);
	return rc;
}

/* freshen_one is demo_freshen for the authority code. */
static enum sa_err
freshen_one(const char *dir, const char *code, int64_t now, void *arg)
{
	char rel[64], ca_id[5];
	enum sa_err rc;

	(void)arg;
	snprintf(rel, sizeof(rel), "lists/vrl-%s.xml", code);
	if (stale(dir, rel, "IssuingAuthority", now) &&
	    (rc = resign_vrl(dir, code, NULL, now, NULL)) != SA_OK)
		return rc;
	trust_demo_ca_id(code, ca_id);
	snprintf(rel, sizeof(rel), "lists/ca/%s.crl", ca_id);
	/* a CRL from before cRLNumbers was written in one go: age */
	if (stale(dir, rel, NULL, now) &&
	    (rc = resign_crl(dir, code, now, NULL)) != SA_OK)
		return rc;
	return SA_OK;
}

/*
 * demo_freshen re-signs the VRL and the CRL of every demo authority that
 * are older than a day (or predate the IssuingAuthority element and the
 * cRLNumber), so a demo environment kept across restarts stays inside the
 * maximum ages of those documents. Real environments are their issuers'
 * business, never ours.
 */
static enum sa_err
demo_freshen(const char *dir, int64_t now)
{
	return each_authority(dir, now, freshen_one, NULL);
}

/* older_than tells whether dir/rel is missing or was written more than
 * limit seconds before now. */
static int
older_than(const char *dir, const char *rel, int64_t now, int64_t limit)
{
	char path[PATH_MAX];
	struct stat st;

	if (demo_path(path, dir, rel) != SA_OK || stat(path, &st) != 0)
		return 1;
	return now - (int64_t)st.st_mtime >= limit;
}

/* renew_after is when a document of maximum age max_age is re-signed: at
 * half its age, at most a day, at least a second (0: no maximum age). */
static int64_t
renew_after(long max_age)
{
	int64_t half = max_age > 0 ? max_age / 2 : DAY;

	return half < 1 ? 1 : half > DAY ? DAY : half;
}

/* What trust_demo_renew hands renew_one: the maximum ages, and the count. */
struct renewal {
	const long *max_age;
	int n;
};

/* renew_one is trust_demo_renew for the lists of the authority code. */
static enum sa_err
renew_one(const char *dir, const char *code, int64_t now, void *arg)
{
	static const char *const kinds[] = {"scheme", "tsl"};
	struct renewal *r = arg;
	char rel[64], ca_id[5];
	enum sa_err rc;

	for (size_t k = 0; k < 2; k++) {
		snprintf(rel, sizeof(rel), "lists/%s-%s.xml", kinds[k], code);
		if (older_than(dir, rel, now, renew_after(r->max_age[1 + k]))) {
			if ((rc = trust_demo_resign(dir, kinds[k], code, now,
						    NULL)) != SA_OK)
				return rc;
			r->n++;
		}
	}
	snprintf(rel, sizeof(rel), "lists/vrl-%s.xml", code);
	if (older_than(dir, rel, now, renew_after(r->max_age[3]))) {
		if ((rc = resign_vrl(dir, code, NULL, now, NULL)) != SA_OK)
			return rc;
		r->n++;
	}
	trust_demo_ca_id(code, ca_id);
	snprintf(rel, sizeof(rel), "lists/ca/%s.crl", ca_id);
	if (older_than(dir, rel, now, renew_after(r->max_age[4]))) {
		if ((rc = resign_crl(dir, code, now, NULL)) != SA_OK)
			return rc;
		r->n++;
	}
	return SA_OK;
}

enum sa_err
trust_demo_renew(const char *dir, int64_t now, const long max_age[5],
		 int *renewed)
{
	struct renewal r = {max_age, 0};
	enum sa_err rc;

	if ((rc = each_authority(dir, now, renew_one, &r)) != SA_OK)
		return rc;
	if (older_than(dir, "lists/governance.xml", now,
		       renew_after(max_age[0]))) {
		if ((rc = trust_demo_resign(dir, "governance", NULL, now,
					    NULL)) != SA_OK)
			return rc;
		r.n++;
	}
	if (renewed != NULL)
		*renewed = r.n;
	return SA_OK;
}

enum sa_err
trust_demo_ensure(const char *dir, int *created)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct stat st;
	enum sa_err rc;

	if (demo_path(a, dir, "lists/governance.xml") != SA_OK ||
	    demo_path(b, dir, "governance.pem") != SA_OK)
		return SA_ERR_CONFIG;
	if (stat(a, &st) == 0 && stat(b, &st) == 0) {
		if (created != NULL)
			*created = 0;
		return demo_freshen(dir, now_unix());
	}
	rc = trust_demo_build(dir, NULL);
	if (rc == SA_OK && created != NULL)
		*created = 1;
	return rc;
}
