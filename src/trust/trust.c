/*
 * trust.c - the trust handle: its configuration, creation and release, and
 * how a result names its step (trust.h, docs/trust.md). Loading lives in
 * trust_load.c, seal verification in trust_verify.c, snapshots in
 * trust_snap.c.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "core/util.h"
#include "trust/trust_int.h"
#include "trust/xmldsig.h"

/* step_of names the step an error code stands for. */
static const char *
step_of(enum sa_err err)
{
	switch (err) {
	case SA_OK:
		return "";
	case SA_ERR_SEAL_DECODE:
	case SA_ERR_BODY_TOO_LARGE:
		return "decode";
	case SA_ERR_SEAL_SIGNATURE:
		return "signature";
	case SA_ERR_TRUST_CHAIN:
		return "chain";
	case SA_ERR_TRUST_EXPIRY:
		return "expiry";
	case SA_ERR_TRUST_USAGE:
		return "usage";
	case SA_ERR_TRUST_REVOKED:
		return "revocation";
	case SA_ERR_TRUST_GOVERNANCE:
		return "governance";
	case SA_ERR_TRUST_LIST:
		return "list";
	case SA_ERR_TRUST_LIST_SIG:
		return "list-signature";
	case SA_ERR_TRUST_ROLLBACK:
		return "rollback";
	case SA_ERR_UNAVAILABLE:
	case SA_ERR_TIMEOUT:
	case SA_ERR_CONFIG:
		return "fetch";
	default:
		return "internal";
	}
}

void
trust_set_result(struct trust_result *res, enum sa_err err, const char *fmt,
		 ...)
{
	va_list ap;

	if (res == NULL)
		return;
	res->err = err;
	snprintf(res->step, sizeof(res->step), "%s", step_of(err));
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

/* id_ok tells whether s is exactly 4 characters of [0-9A-Z]. */
int
trust_id_ok(const char *s)
{
	if (s == NULL || strlen(s) != 4)
		return 0;
	for (int i = 0; i < 4; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

/* trust_subject_of writes the RFC 2253 subject of x (see trust_int.h). */
void
trust_subject_of(X509 *x, char *out, size_t outsz)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
			       XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n > 0 && p != NULL)
			snprintf(out, outsz, "%.*s", (int)n, p);
	}
	BIO_free(b);
}

int64_t
trust_asn1_unix(const ASN1_TIME *a)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

void *
trust_der_or_pem(const unsigned char *b, size_t n, const ASN1_ITEM *it,
		 const char *pem_name)
{
	const unsigned char *p = b;
	ASN1_VALUE *v = ASN1_item_d2i(NULL, &p, (long)n, it);
	unsigned char *der = NULL;
	long len = 0;
	BIO *bio;

	if (v != NULL && p == b + n)
		return v;
	ASN1_item_free(v, it);
	v = NULL;
	if ((bio = BIO_new_mem_buf(b, (int)n)) == NULL)
		return NULL;
	/* What PEM_read_bio_X509 and its kin do: the block's bytes, then DER.
	 */
	if (PEM_bytes_read_bio(&der, &len, NULL, pem_name, bio, NULL, NULL) ==
	    1) {
		p = der;
		v = ASN1_item_d2i(NULL, &p, len, it);
		OPENSSL_free(der);
	}
	BIO_free(bio);
	return v;
}

enum sa_err
trust_new(const struct trust_config *cfg, struct trust **out)
{
	struct trust *t = NULL;
	unsigned char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	enum sa_err rc = SA_ERR_CONFIG;

	if (cfg == NULL || cfg->governance_url == NULL ||
	    cfg->governance_cert_path == NULL ||
	    trust_url_check(cfg->governance_url, cfg->allow_http_loopback) !=
		SA_OK)
		return SA_ERR_CONFIG;
	if ((rc = xmldsig_global_init()) != SA_OK)
		return rc;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->refresh_lock, NULL);
	t->ttl = cfg->ttl > 0 ? cfg->ttl : 3600;
	t->max_list_bytes =
	    cfg->max_list_bytes > 0 ? cfg->max_list_bytes : XMLDSIG_MAX_DOC;
	if (t->max_list_bytes > XMLDSIG_MAX_DOC)
		t->max_list_bytes = XMLDSIG_MAX_DOC;
	t->fetch_timeout_ms =
	    cfg->fetch_timeout_ms > 0 ? cfg->fetch_timeout_ms : 10000;
	t->allow_http = cfg->allow_http_loopback;
	t->fetcher = cfg->fetcher;
	for (int k = 0; k < TRUST_DOC_KINDS; k++)
		t->max_age[k] = cfg->max_age[k] > 0 ? cfg->max_age[k] : 0;
	t->seq_raise = cfg->seq_raise;
	t->seq_arg = cfg->seq_arg;
	t->gov_url = strdup(cfg->governance_url);
	t->seen = json_object();
	if (t->gov_url == NULL || t->seen == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	rc = SA_ERR_CONFIG;
	if (read_file(cfg->governance_cert_path, TRUST_MAX_CERT_BYTES, &pem,
		      &len) != SA_OK)
		goto out;
	bio = BIO_new_mem_buf(pem, (int)len);
	t->gov_cert =
	    bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (t->gov_cert == NULL || X509_get0_pubkey(t->gov_cert) == NULL)
		goto out;
	*out = t;
	t = NULL;
	rc = SA_OK;
out:
	BIO_free(bio);
	free(pem);
	trust_close(t);
	return rc;
}

enum sa_err
trust_open(const struct trust_config *cfg, struct trust **out,
	   struct trust_result *res)
{
	struct trust *t = NULL;
	enum sa_err rc = trust_new(cfg, &t);

	if (rc != SA_OK) {
		trust_set_result(res, rc,
				 "cannot read the pinned governance "
				 "certificate or the URL is not allowed");
		return rc;
	}
	rc = trust_refresh(t, now_unix(), 1, res);
	if (rc != SA_OK) {
		trust_close(t);
		return rc;
	}
	*out = t;
	return SA_OK;
}

/* The sentence a client gets per step; the detail goes to the log only. */
static const struct {
	const char *step;
	const char *message;
} step_messages[] = {
    {"decode", "the seal does not decode"},
    {"signature", "the seal's signature does not verify"},
    {"chain", "the seal's signer is not anchored in the trust chain"},
    {"expiry", "the seal or a document of its chain is not valid now"},
    {"usage", "the seal's signer may not issue this kind of seal"},
    {"revocation", "the seal or its signer is revoked"},
    {"governance", "the seal's issuing authority is not trusted for it"},
    {"list", "the trust lists are unusable"},
    {"list-signature", "the trust lists are unusable"},
    {"rollback", "the trust lists are unusable"},
    {"fetch", "a document of the seal's chain is not available"},
};

const char *
trust_step_message(const char *step)
{
	for (size_t i = 0; step != NULL && i < ARRAY_LEN(step_messages); i++)
		if (strcmp(step_messages[i].step, step) == 0)
			return step_messages[i].message;
	return "the seal could not be verified";
}

json_t *
trust_result_json(const struct trust_result *res)
{
	char st[21];
	json_t *o;

	if (res->err != SA_OK)
		return json_pack("{s:b, s:s, s:s, s:s}", "valid", 0, "step",
				 res->step, "error", sa_err_code(res->err),
				 "reason", res->reason);
	iso8601_utc(res->signing_time, st);
	o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "valid",
		      1, "signer", res->signer_subject, "caId", res->ca_id,
		      "certId", res->cert_id, "iac", res->iac, "manifest",
		      res->manifest, "trustLevel", res->trust_level, "demo",
		      res->demo, "signingTime", st);
	/* An ICAO seal names its signer by identifier and reference. */
	if (o != NULL && res->icao_signer[0] != '\0' &&
	    json_object_set_new(o, "icaoSigner",
				json_string(res->icao_signer)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

void
trust_close(struct trust *t)
{
	if (t == NULL)
		return;
	if (t->snap != NULL && --t->snap->refs == 0)
		trust_snap_free(t->snap);
	json_decref(t->failed_lists);
	json_decref(t->seen);
	X509_free(t->gov_cert);
	free(t->gov_url);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->refresh_lock);
	free(t);
}

enum sa_err
trust_config_from(const struct config *cfg, struct trust_config *tc,
		  char **storage, int *demo)
{
	char *buf = NULL, *dir = NULL;
	int n;

	memset(tc, 0, sizeof(*tc));
	tc->ttl = cfg->trust_ttl;
	tc->max_list_bytes = (size_t)cfg->trust_max_list_bytes;
	tc->fetch_timeout_ms = cfg->trust_fetch_timeout_ms;
	for (int k = 0; k < TRUST_DOC_KINDS; k++)
		tc->max_age[k] = cfg->trust_max_age[k];
	if (cfg->trust_governance_url != NULL &&
	    cfg->trust_governance_url[0] != '\0') {
		if (cfg->trust_governance_cert == NULL ||
		    cfg->trust_governance_cert[0] == '\0')
			return SA_ERR_CONFIG;
		n = asprintf(&buf, "%s%c%s", cfg->trust_governance_url, '\0',
			     cfg->trust_governance_cert);
		if (n < 0)
			return SA_ERR_NOMEM;
		tc->governance_url = buf;
		tc->governance_cert_path = buf + strlen(buf) + 1;
		*storage = buf;
		*demo = 0;
		return SA_OK;
	}
	if (cfg->trust_dir == NULL || cfg->trust_dir[0] == '\0')
		return SA_ERR_CONFIG;
	if (cfg->trust_dir[0] != '/') {
		/* file:// URLs need an absolute path */
		char cwd[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return SA_ERR_IO;
		if (asprintf(&dir, "%s/%s", cwd, cfg->trust_dir) < 0)
			return SA_ERR_NOMEM;
	} else if ((dir = strdup(cfg->trust_dir)) == NULL) {
		return SA_ERR_NOMEM;
	}
	n = asprintf(&buf, "file://%s/lists/governance.xml%c%s/governance.pem",
		     dir, '\0', dir);
	free(dir);
	if (n < 0)
		return SA_ERR_NOMEM;
	tc->governance_url = buf;
	tc->governance_cert_path = buf + strlen(buf) + 1;
	*storage = buf;
	*demo = 1;
	return SA_OK;
}
