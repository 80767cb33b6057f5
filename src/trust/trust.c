/*
 * trust.c - walk the trust chain: load and verify the lists into a
 * snapshot, and check seals against it (trust.h, docs/trust.md).
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "trust/trust.h"
#include "trust/tsl.h"
#include "trust/usagelist.h"
#include "core/util.h"
#include "trust/vrl.h"

/* One TSL and what the scheme list scoped it to. */
struct trust_scope {
	char iac[17];
	unsigned char manifests[TRUST_MAX_MANIFESTS][3];
	size_t nmanifests;
	struct vrl *vrl;
};

/* One granted CA service. */
struct trust_ca {
	char ca_id[5];
	size_t scope; /* index into snap->scopes */
	X509 *cert;
	X509_CRL *crl;
	X509_STORE *store; /* the CA and its CRL, nothing else */
	char *signer_base;
};

/* A cached signer certificate, or a miss (cert NULL) to retry later. */
struct trust_signer {
	size_t ca;
	char cert_id[5];
	X509 *cert;
	int64_t fetched_at;
	/* The chain (signature, CRL, validity) checked out for any signing
	 * time in [ok_from, ok_to]: nothing else in it depends on the time. */
	int ok;
	int64_t ok_from, ok_to;
};

/*
 * A verified trust set. Immutable after loading except for the signer
 * cache, which has its own lock. refs is guarded by trust->lock.
 */
struct trust_snap {
	int refs;
	int demo;
	int64_t loaded_at;
	int64_t expires_at; /* earliest NextUpdate of every list and VRL */
	struct trust_scope *scopes;
	size_t nscopes;
	struct trust_ca *cas;
	size_t ncas;
	size_t nrevoked;
	json_t *lists;
	pthread_mutex_t signers_lock;
	struct trust_signer *signers;
	size_t nsigners;
	size_t fetch_max;
	long fetch_timeout_ms;
	int allow_http;
};

struct trust {
	char *gov_url;
	X509 *gov_cert;
	int64_t ttl;
	size_t max_list_bytes;
	long fetch_timeout_ms;
	int allow_http;

	pthread_mutex_t refresh_lock; /* one refresh at a time */
	pthread_mutex_t lock;	      /* everything below */
	struct trust_snap *snap;
	int64_t last_attempt;
	int64_t next_refresh;
	int last_failed;
	struct trust_result last_err;
	json_t *failed_lists;
	uint64_t generation; /* bumped each time a new snapshot is installed */
};

/* A refresh in progress. */
struct trust_load {
	struct trust *t;
	int64_t now;
	struct trust_snap *s;
	struct trust_result *res;
	size_t nlists;
};

static void set_result(struct trust_result *res, enum sa_err err,
		       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
	case SA_ERR_UNAVAILABLE:
	case SA_ERR_TIMEOUT:
	case SA_ERR_CONFIG:
		return "fetch";
	default:
		return "internal";
	}
}

static void
set_result(struct trust_result *res, enum sa_err err, const char *fmt, ...)
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
static int
id_ok(const char *s)
{
	if (s == NULL || strlen(s) != 4)
		return 0;
	for (int i = 0; i < 4; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

/* iac_ok tells whether s is 1 to 16 characters of [0-9A-Z]. */
static int
iac_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

static void
subject_of(X509 *x, char *out, size_t outsz)
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

static void
snap_free(struct trust_snap *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nscopes; i++)
		vrl_free(s->scopes[i].vrl);
	free(s->scopes);
	for (size_t i = 0; i < s->ncas; i++) {
		X509_free(s->cas[i].cert);
		X509_CRL_free(s->cas[i].crl);
		X509_STORE_free(s->cas[i].store);
		free(s->cas[i].signer_base);
	}
	free(s->cas);
	for (size_t i = 0; i < s->nsigners; i++)
		X509_free(s->signers[i].cert);
	free(s->signers);
	json_decref(s->lists);
	pthread_mutex_destroy(&s->signers_lock);
	free(s);
}

/* snap_get returns the current set with a reference, or NULL. */
static struct trust_snap *
snap_get(struct trust *t)
{
	struct trust_snap *s;

	pthread_mutex_lock(&t->lock);
	s = t->snap;
	if (s != NULL)
		s->refs++;
	pthread_mutex_unlock(&t->lock);
	return s;
}

/* snap_put drops a reference taken by snap_get (or the handle's own). */
static void
snap_put(struct trust *t, struct trust_snap *s)
{
	int last;

	if (s == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		snap_free(s);
}

/* certs_of parses the DER certificates of a pointer (caller frees). */
static enum sa_err
certs_of(const struct tsl_cert *c, size_t n, STACK_OF(X509) * *out)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (sk == NULL)
		return SA_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = c[i].der;
		X509 *x = d2i_X509(NULL, &p, (long)c[i].len);

		if (x == NULL || p != c[i].der + c[i].len) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return SA_ERR_TRUST_LIST;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return SA_ERR_NOMEM;
		}
	}
	*out = sk;
	return SA_OK;
}

/* list_record adds a loaded list to the report. */
static void
list_record(struct trust_load *ld, const char *kind, const char *url,
	    const char *iac, uint64_t seq, int64_t issued, int64_t next,
	    X509 *signer, const char *status)
{
	char is[21], nx[21], subj[256] = "";
	json_t *o;

	iso8601_utc(issued, is);
	iso8601_utc(next, nx);
	if (signer != NULL)
		subject_of(signer, subj, sizeof(subj));
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "kind", kind,
		      "url", url, "iac", iac != NULL ? iac : "", "sequence",
		      (json_int_t)seq, "issued", is, "next_update", nx,
		      "signer", subj, "status", status);
	if (o != NULL)
		json_array_append_new(ld->s->lists, o);
}

/* check_times refuses a list that is stale or from the future. */
static enum sa_err
check_times(struct trust_load *ld, const char *kind, const char *url,
	    int64_t issued, int64_t next)
{
	char nx[21];

	if (next <= ld->now) {
		iso8601_utc(next, nx);
		set_result(ld->res, SA_ERR_TRUST_EXPIRY,
			   "%s list %.120s: NextUpdate %s has passed", kind,
			   url, nx);
		return SA_ERR_TRUST_EXPIRY;
	}
	if (issued > ld->now + TRUST_CLOCK_SKEW) {
		set_result(ld->res, SA_ERR_TRUST_EXPIRY,
			   "%s list %.120s: issued in the future", kind, url);
		return SA_ERR_TRUST_EXPIRY;
	}
	if (next < ld->s->expires_at)
		ld->s->expires_at = next;
	return SA_OK;
}

/*
 * fetch_doc fetches url into a new buffer; a failure is recorded in res
 * (oversize as a malformed list, the rest as the fetch step).
 */
static enum sa_err
fetch_doc(struct trust_load *ld, const char *kind, const char *url, size_t max,
	  unsigned char **out, size_t *outlen)
{
	char why[256] = "";
	enum sa_err rc;

	if (++ld->nlists > TRUST_MAX_LISTS * 3) {
		set_result(ld->res, SA_ERR_TRUST_LIST,
			   "more than %d documents in the chain",
			   TRUST_MAX_LISTS * 3);
		return SA_ERR_TRUST_LIST;
	}
	rc = trust_fetch(url, max, ld->t->fetch_timeout_ms, ld->t->allow_http,
			 out, outlen, why, sizeof(why));
	if (rc == SA_ERR_BODY_TOO_LARGE) {
		set_result(ld->res, SA_ERR_TRUST_LIST, "%s: %s", kind, why);
		return SA_ERR_TRUST_LIST;
	}
	if (rc != SA_OK)
		set_result(ld->res, rc, "%s: %s", kind, why);
	return rc;
}

/*
 * signature_failure classifies a list signature that did not verify: when
 * the signature's KeyInfo names a key none of the announced ones is, the
 * list comes from someone the level above does not know (governance);
 * otherwise the document was altered (list-signature). KeyInfo only names
 * the failure; it never decides that a list is good.
 */
static enum sa_err
signature_failure(struct trust_load *ld, const char *kind, const char *url,
		  enum sa_err rc, const struct xmldsig_result *xr,
		  STACK_OF(X509) * announced)
{
	if (rc == SA_ERR_TRUST_LIST_SIG && xr->signer != NULL) {
		EVP_PKEY *k = X509_get0_pubkey(xr->signer);
		int known = 0;

		for (int i = 0; k != NULL && i < sk_X509_num(announced); i++)
			if (EVP_PKEY_eq(k, X509_get0_pubkey(sk_X509_value(
					       announced, i))) == 1)
				known = 1;
		if (!known) {
			char subj[128];

			subject_of(xr->signer, subj, sizeof(subj));
			set_result(ld->res, SA_ERR_TRUST_GOVERNANCE,
				   "%s list %.100s is signed by \"%s\", a key "
				   "the %s does not announce",
				   kind, url, subj,
				   strcmp(kind, "governance") == 0
				       ? "pinned governance certificate"
				       : "level above");
			return SA_ERR_TRUST_GOVERNANCE;
		}
	}
	if (rc == SA_ERR_TRUST_LIST_SIG || rc == SA_ERR_TRUST_LIST)
		set_result(ld->res, rc, "%s list %.100s: %s", kind, url,
			   xr->reason);
	else
		set_result(ld->res, rc, "%s list %.100s: cannot verify", kind,
			   url);
	return rc;
}

/*
 * load_list fetches, parses and verifies one list of type type (or type2)
 * with the announced certificates, checks its territory and times and
 * records it. The caller frees *out.
 */
static enum sa_err
load_list(struct trust_load *ld, const char *kind, const char *url,
	  STACK_OF(X509) * announced, const char *type, const char *type2,
	  const char *iac, struct tsl **out)
{
	unsigned char *xml = NULL;
	size_t len = 0;
	struct tsl *l = NULL;
	struct xmldsig_result xr;
	EVP_PKEY *keys[TSL_MAX_CERTS];
	size_t nkeys = 0;
	char why[200] = "";
	enum sa_err rc;

	memset(&xr, 0, sizeof(xr));
	rc = fetch_doc(ld, kind, url, ld->t->max_list_bytes, &xml, &len);
	if (rc != SA_OK)
		goto out;
	rc = tsl_parse(xml, len, &l, why, sizeof(why));
	if (rc != SA_OK) {
		set_result(ld->res, rc, "%s list %.120s: %s", kind, url, why);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(announced) && nkeys < TSL_MAX_CERTS;
	     i++)
		keys[nkeys++] = X509_get0_pubkey(sk_X509_value(announced, i));
	rc = tsl_verify(l, keys, nkeys, &xr);
	if (rc != SA_OK) {
		rc = signature_failure(ld, kind, url, rc, &xr, announced);
		goto out;
	}
	/* the type is checked on the verified list: it is signed content */
	if (strcmp(l->type, type) != 0 &&
	    (type2 == NULL || strcmp(l->type, type2) != 0)) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		set_result(ld->res, rc, "%s list %.100s has TSLType %.80s",
			   kind, url, l->type);
		goto out;
	}
	if (iac != NULL &&
	    (l->territory == NULL || strcmp(l->territory, iac) != 0)) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		set_result(ld->res, rc,
			   "%s list %.100s: SchemeTerritory is not %s", kind,
			   url, iac);
		goto out;
	}
	if (!l->has_next_update) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc, "%s list %.120s has no NextUpdate",
			   kind, url);
		goto out;
	}
	rc = check_times(ld, kind, url, l->issued, l->next_update);
	if (rc != SA_OK)
		goto out;
	list_record(ld, kind, url, iac, l->sequence, l->issued, l->next_update,
		    xr.key_index >= 0 ? sk_X509_value(announced, xr.key_index)
				      : NULL,
		    "ok");
	*out = l;
	l = NULL;
out:
	xmldsig_result_clear(&xr);
	tsl_free(l);
	free(xml);
	return rc;
}

static const char *
our_value(const struct tsl_kv *kv, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (kv[i].ns != NULL && strcmp(kv[i].ns, TRUST_NS) == 0 &&
		    strcmp(kv[i].name, name) == 0)
			return kv[i].value;
	return NULL;
}

/* parse_manifests reads "0A0001 0A0002" into the scope. */
static int
parse_manifests(const char *s, struct trust_scope *sc)
{
	char tok[8];

	sc->nmanifests = 0;
	while (s != NULL && *s != '\0') {
		size_t n;

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			break;
		n = strcspn(s, " \t\r\n");
		if (n != 6 || sc->nmanifests >= TRUST_MAX_MANIFESTS)
			return -1;
		memcpy(tok, s, 6);
		tok[6] = '\0';
		if (usagelist_parse_manifest(
			tok, sc->manifests[sc->nmanifests]) != SA_OK)
			return -1;
		sc->nmanifests++;
		s += n;
	}
	return sc->nmanifests > 0 ? 0 : -1;
}

/* parse_crl reads a CRL in DER or PEM. */
static X509_CRL *
parse_crl(const unsigned char *b, size_t n)
{
	const unsigned char *p = b;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)n);
	BIO *bio;

	if (crl != NULL && p == b + n)
		return crl;
	X509_CRL_free(crl);
	bio = BIO_new_mem_buf(b, (int)n);
	if (bio == NULL)
		return NULL;
	crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return crl;
}

/* parse_cert reads one certificate in PEM or DER. */
static X509 *
parse_cert(const unsigned char *b, size_t n)
{
	const unsigned char *p = b;
	X509 *x = d2i_X509(NULL, &p, (long)n);
	BIO *bio;

	if (x != NULL && p == b + n)
		return x;
	X509_free(x);
	bio = BIO_new_mem_buf(b, (int)n);
	if (bio == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return x;
}

/*
 * load_ca loads one granted CA service of a verified TSL: its certificate,
 * its CRL (signed by it) and the base of its signer certificates.
 */
static enum sa_err
load_ca(struct trust_load *ld, const char *tsl_url, size_t scope,
	const struct tsl_service *svc)
{
	struct trust_snap *s = ld->s;
	struct trust_ca ca;
	const char *crl_loc, *base_loc;
	char *crl_url = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	const unsigned char *p;
	enum sa_err rc;

	memset(&ca, 0, sizeof(ca));
	if (!id_ok(svc->name)) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc,
			   "TSL %.120s: CA service name \"%.20s\" is not a "
			   "4-character CA id",
			   tsl_url, svc->name != NULL ? svc->name : "");
		goto out;
	}
	for (size_t i = 0; i < s->ncas; i++)
		if (strcmp(s->cas[i].ca_id, svc->name) == 0) {
			rc = SA_ERR_TRUST_GOVERNANCE;
			set_result(ld->res, rc,
				   "CA id %s is granted twice in the chain",
				   svc->name);
			goto out;
		}
	if (s->ncas >= TRUST_MAX_CAS) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc, "more than %d CAs", TRUST_MAX_CAS);
		goto out;
	}
	snprintf(ca.ca_id, sizeof(ca.ca_id), "%s", svc->name);
	ca.scope = scope;
	if (svc->ncerts != 1) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc,
			   "TSL %.120s: CA %s must carry exactly one "
			   "certificate",
			   tsl_url, ca.ca_id);
		goto out;
	}
	p = svc->certs[0].der;
	ca.cert = d2i_X509(NULL, &p, (long)svc->certs[0].len);
	if (ca.cert == NULL || p != svc->certs[0].der + svc->certs[0].len) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc,
			   "TSL %.120s: CA %s certificate does "
			   "not parse",
			   tsl_url, ca.ca_id);
		goto out;
	}
	/* basicConstraints cA=TRUE (X509_check_ca 1), not a v1 root guess */
	if (X509_check_ca(ca.cert) != 1) {
		rc = SA_ERR_TRUST_CHAIN;
		set_result(ld->res, rc,
			   "CA %s: its certificate is not a CA "
			   "(basicConstraints)",
			   ca.ca_id);
		goto out;
	}
	crl_loc = our_value(svc->ext, svc->next, "CrlLocation");
	base_loc = our_value(svc->ext, svc->next, "SignerCertBase");
	if (crl_loc == NULL || base_loc == NULL) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc,
			   "TSL %.120s: CA %s lacks CrlLocation or "
			   "SignerCertBase",
			   tsl_url, ca.ca_id);
		goto out;
	}
	if ((rc = trust_url_resolve(tsl_url, crl_loc, &crl_url)) != SA_OK ||
	    (rc = trust_url_resolve(tsl_url, base_loc, &ca.signer_base)) !=
		SA_OK) {
		set_result(ld->res, SA_ERR_TRUST_LIST,
			   "TSL %.120s: CA %s: bad CRL or signer location",
			   tsl_url, ca.ca_id);
		rc = SA_ERR_TRUST_LIST;
		goto out;
	}
	{
		/* "base/" and "base" both name a directory */
		size_t bl = strlen(ca.signer_base);

		if (bl > 0 && ca.signer_base[bl - 1] == '/')
			ca.signer_base[bl - 1] = '\0';
	}
	rc = fetch_doc(ld, "CRL", crl_url, ld->t->max_list_bytes, &der, &len);
	if (rc != SA_OK)
		goto out;
	ca.crl = parse_crl(der, len);
	if (ca.crl == NULL) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc, "CRL %.120s does not parse", crl_url);
		goto out;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(ca.crl),
			  X509_get_subject_name(ca.cert)) != 0 ||
	    X509_CRL_verify(ca.crl, X509_get0_pubkey(ca.cert)) != 1) {
		rc = SA_ERR_TRUST_LIST_SIG;
		set_result(ld->res, rc,
			   "CRL %.120s is not issued and signed by CA %s",
			   crl_url, ca.ca_id);
		goto out;
	}
	ca.store = X509_STORE_new();
	if (ca.store == NULL || !X509_STORE_add_cert(ca.store, ca.cert) ||
	    !X509_STORE_add_crl(ca.store, ca.crl)) {
		rc = SA_ERR_NOMEM;
		set_result(ld->res, rc, "out of memory");
		goto out;
	}
	{
		const ASN1_TIME *lu = X509_CRL_get0_lastUpdate(ca.crl);
		const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(ca.crl);
		struct tm tl, tn;
		int64_t tlast = 0, tnext = 0;

		if (lu != NULL && ASN1_TIME_to_tm(lu, &tl))
			tlast = (int64_t)timegm(&tl);
		if (nu != NULL && ASN1_TIME_to_tm(nu, &tn))
			tnext = (int64_t)timegm(&tn);
		list_record(ld, "crl", crl_url, s->scopes[scope].iac, 0, tlast,
			    tnext, ca.cert, "ok");
	}
	{
		struct trust_ca *n =
		    realloc(s->cas, (s->ncas + 1) * sizeof(*s->cas));

		if (n == NULL) {
			rc = SA_ERR_NOMEM;
			set_result(ld->res, rc, "out of memory");
			goto out;
		}
		s->cas = n;
		s->cas[s->ncas++] = ca;
		memset(&ca, 0, sizeof(ca));
	}
	rc = SA_OK;
out:
	X509_free(ca.cert);
	X509_CRL_free(ca.crl);
	X509_STORE_free(ca.store);
	free(ca.signer_base);
	free(crl_url);
	free(der);
	return rc;
}

/*
 * load_tsl follows one TSL pointer of a verified scheme list: the TSL, its
 * VRL, and its CA services.
 */
static enum sa_err
load_tsl(struct trust_load *ld, const char *scheme_url, const char *iac,
	 const struct tsl_pointer *ptr)
{
	struct trust_snap *s = ld->s;
	STACK_OF(X509) *certs = NULL;
	struct tsl *l = NULL;
	char *url = NULL, *vrl_url = NULL;
	const char *vrl_loc, *manifests;
	unsigned char *xml = NULL;
	size_t len = 0, scope;
	struct trust_scope sc;
	char why[256] = "";
	EVP_PKEY *keys[TSL_MAX_CERTS];
	size_t nkeys = 0;
	enum sa_err rc;

	memset(&sc, 0, sizeof(sc));
	if (ptr->tsl_type == NULL ||
	    strcmp(ptr->tsl_type, TRUST_TYPE_TSL) != 0 ||
	    ptr->territory == NULL || strcmp(ptr->territory, iac) != 0 ||
	    ptr->ncerts == 0) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		set_result(ld->res, rc,
			   "scheme list %.100s: a pointer is not a TSL of %s "
			   "with its signer certificate",
			   scheme_url, iac);
		goto out;
	}
	snprintf(sc.iac, sizeof(sc.iac), "%s", iac);
	manifests = our_value(ptr->info, ptr->ninfo, "ManifestIds");
	vrl_loc = our_value(ptr->info, ptr->ninfo, "VrlLocation");
	if (manifests == NULL || parse_manifests(manifests, &sc) != 0 ||
	    vrl_loc == NULL) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		set_result(ld->res, rc,
			   "scheme list %.100s: a TSL pointer lacks valid "
			   "ManifestIds or VrlLocation",
			   scheme_url);
		goto out;
	}
	if ((rc = certs_of(ptr->certs, ptr->ncerts, &certs)) != SA_OK ||
	    (rc = trust_url_resolve(scheme_url, ptr->location, &url)) !=
		SA_OK) {
		set_result(ld->res, SA_ERR_TRUST_LIST,
			   "scheme list %.100s: a TSL pointer has a bad "
			   "certificate or location",
			   scheme_url);
		rc = SA_ERR_TRUST_LIST;
		goto out;
	}
	rc = load_list(ld, "TSL", url, certs, TRUST_TYPE_TSL, NULL, iac, &l);
	if (rc != SA_OK)
		goto out;
	if (trust_url_resolve(url, vrl_loc, &vrl_url) != SA_OK) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc, "bad VrlLocation for TSL %.120s", url);
		goto out;
	}
	rc = fetch_doc(ld, "VRL", vrl_url, ld->t->max_list_bytes, &xml, &len);
	if (rc != SA_OK)
		goto out;
	for (int i = 0; i < sk_X509_num(certs) && nkeys < TSL_MAX_CERTS; i++)
		keys[nkeys++] = X509_get0_pubkey(sk_X509_value(certs, i));
	rc = vrl_load(xml, len, keys, nkeys, &sc.vrl, why, sizeof(why));
	if (rc != SA_OK) {
		set_result(ld->res, rc, "VRL %.120s: %s", vrl_url, why);
		goto out;
	}
	rc = check_times(ld, "VRL", vrl_url, sc.vrl->issued,
			 sc.vrl->next_update);
	if (rc != SA_OK)
		goto out;
	list_record(ld, "vrl", vrl_url, iac, sc.vrl->sequence, sc.vrl->issued,
		    sc.vrl->next_update, sk_X509_value(certs, 0), "ok");
	{
		struct trust_scope *n =
		    realloc(s->scopes, (s->nscopes + 1) * sizeof(*s->scopes));

		if (n == NULL) {
			rc = SA_ERR_NOMEM;
			set_result(ld->res, rc, "out of memory");
			goto out;
		}
		s->scopes = n;
		scope = s->nscopes;
		s->scopes[s->nscopes++] = sc;
		s->nrevoked += sc.vrl->n;
		sc.vrl = NULL;
	}
	for (size_t i = 0; i < l->nservices; i++) {
		const struct tsl_service *svc = &l->services[i];

		/* only granted CA/PKC services anchor signers */
		if (svc->type == NULL || svc->status == NULL ||
		    strcmp(svc->type, TRUST_SVC_CA) != 0 ||
		    strcmp(svc->status, TRUST_SVC_GRANTED) != 0)
			continue;
		rc = load_ca(ld, url, scope, svc);
		if (rc != SA_OK)
			goto out;
	}
	rc = SA_OK;
out:
	vrl_free(sc.vrl);
	sk_X509_pop_free(certs, X509_free);
	tsl_free(l);
	free(url);
	free(vrl_url);
	free(xml);
	return rc;
}

/* load_scheme follows one pointer of the verified governance list. */
static enum sa_err
load_scheme(struct trust_load *ld, const char *gov_url,
	    const struct tsl_pointer *ptr, char (*seen)[17], size_t nseen)
{
	STACK_OF(X509) *certs = NULL;
	struct tsl *l = NULL;
	char *url = NULL;
	const char *iac = ptr->territory;
	enum sa_err rc;

	if (ptr->tsl_type == NULL ||
	    strcmp(ptr->tsl_type, TRUST_TYPE_SCHEME) != 0 || !iac_ok(iac) ||
	    ptr->ncerts == 0) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		set_result(ld->res, rc,
			   "governance list: a pointer is not a scheme list "
			   "with an issuing authority code and its signer");
		goto out;
	}
	for (size_t i = 0; i < nseen; i++)
		if (strcmp(seen[i], iac) == 0) {
			rc = SA_ERR_TRUST_GOVERNANCE;
			set_result(ld->res, rc,
				   "governance list names IAC %s twice", iac);
			goto out;
		}
	if ((rc = certs_of(ptr->certs, ptr->ncerts, &certs)) != SA_OK ||
	    (rc = trust_url_resolve(gov_url, ptr->location, &url)) != SA_OK) {
		rc = SA_ERR_TRUST_LIST;
		set_result(ld->res, rc,
			   "governance list: the pointer for %s has a bad "
			   "certificate or location",
			   iac);
		goto out;
	}
	rc = load_list(ld, "scheme", url, certs, TRUST_TYPE_SCHEME, NULL, iac,
		       &l);
	if (rc != SA_OK)
		goto out;
	for (size_t i = 0; i < l->npointers; i++)
		if ((rc = load_tsl(ld, url, iac, &l->pointers[i])) != SA_OK)
			goto out;
out:
	sk_X509_pop_free(certs, X509_free);
	tsl_free(l);
	free(url);
	return rc;
}

/* load_all builds a complete snapshot into ld->s. */
static enum sa_err
load_all(struct trust_load *ld)
{
	struct trust *t = ld->t;
	STACK_OF(X509) *pinned = sk_X509_new_null();
	struct tsl *gov = NULL;
	char(*seen)[17] = NULL;
	enum sa_err rc;

	if (pinned == NULL || !sk_X509_push(pinned, t->gov_cert)) {
		rc = SA_ERR_NOMEM;
		set_result(ld->res, rc, "out of memory");
		goto out;
	}
	rc = load_list(ld, "governance", t->gov_url, pinned,
		       TRUST_TYPE_GOVERNANCE, TRUST_TYPE_GOVERNANCE_DEMO, NULL,
		       &gov);
	if (rc != SA_OK)
		goto out;
	ld->s->demo = strcmp(gov->type, TRUST_TYPE_GOVERNANCE_DEMO) == 0;
	if (gov->npointers == 0) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		set_result(ld->res, rc, "the governance list names no scheme");
		goto out;
	}
	seen = calloc(gov->npointers, sizeof(*seen));
	if (seen == NULL) {
		rc = SA_ERR_NOMEM;
		set_result(ld->res, rc, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < gov->npointers; i++) {
		rc = load_scheme(ld, t->gov_url, &gov->pointers[i], seen, i);
		if (rc != SA_OK)
			goto out;
		snprintf(seen[i], sizeof(seen[i]), "%s",
			 gov->pointers[i].territory);
	}
	rc = SA_OK;
out:
	free(seen);
	tsl_free(gov);
	/* the pinned certificate belongs to t */
	sk_X509_free(pinned);
	return rc;
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
	t->gov_url = strdup(cfg->governance_url);
	if (t->gov_url == NULL) {
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
trust_refresh(struct trust *t, int64_t now, int force, struct trust_result *res)
{
	struct trust_result local;
	struct trust_load ld;
	struct trust_snap *s = NULL, *old = NULL;
	enum sa_err rc;

	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&t->refresh_lock);
	pthread_mutex_lock(&t->lock);
	if (!force && t->last_attempt != 0 && now < t->next_refresh) {
		pthread_mutex_unlock(&t->lock);
		pthread_mutex_unlock(&t->refresh_lock);
		return SA_OK;
	}
	pthread_mutex_unlock(&t->lock);

	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->lists = json_array()) == NULL) {
		free(s);
		s = NULL;
		rc = SA_ERR_NOMEM;
		set_result(res, rc, "out of memory");
		goto done;
	}
	pthread_mutex_init(&s->signers_lock, NULL);
	s->refs = 1;
	s->loaded_at = now;
	s->expires_at = INT64_MAX;
	s->fetch_max = TRUST_MAX_CERT_BYTES;
	s->fetch_timeout_ms = t->fetch_timeout_ms;
	s->allow_http = t->allow_http;
	memset(&ld, 0, sizeof(ld));
	ld.t = t;
	ld.now = now;
	ld.s = s;
	ld.res = res;
	rc = load_all(&ld);
done:
	pthread_mutex_lock(&t->lock);
	t->last_attempt = now;
	if (rc == SA_OK) {
		old = t->snap;
		t->snap = s;
		t->generation++;
		t->last_failed = 0;
		memset(&t->last_err, 0, sizeof(t->last_err));
		t->next_refresh = now + t->ttl;
		if (s->expires_at < t->next_refresh)
			t->next_refresh = s->expires_at;
		json_decref(t->failed_lists);
		t->failed_lists = NULL;
		s = NULL;
	} else {
		t->last_failed = 1;
		t->last_err = *res;
		/* retry a failed refresh sooner than a good one */
		t->next_refresh = now + (t->ttl < 60 ? t->ttl : 60);
		json_decref(t->failed_lists);
		t->failed_lists = s != NULL ? json_incref(s->lists) : NULL;
	}
	pthread_mutex_unlock(&t->lock);
	if (s != NULL)
		snap_free(s);
	snap_put(t, old);
	pthread_mutex_unlock(&t->refresh_lock);
	return rc;
}

enum sa_err
trust_open(const struct trust_config *cfg, struct trust **out,
	   struct trust_result *res)
{
	struct trust *t = NULL;
	enum sa_err rc = trust_new(cfg, &t);

	if (rc != SA_OK) {
		set_result(res, rc,
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

/* serial_matches tells whether the low 2 bytes of the serial, as 4
 * uppercase hex digits, are the cert id. */
static int
serial_matches(X509 *x, const char *cert_id)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	BIGNUM *bn = serial != NULL ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	unsigned char low[2] = {0, 0};
	char hex[5];
	int ok = 0;

	if (bn != NULL && !BN_is_negative(bn)) {
		int n = BN_num_bytes(bn);
		unsigned char *all = n > 0 ? malloc((size_t)n) : NULL;

		if (n > 0 && all != NULL && BN_bn2bin(bn, all) == n) {
			low[1] = all[n - 1];
			if (n > 1)
				low[0] = all[n - 2];
		}
		free(all);
		snprintf(hex, sizeof(hex), "%02X%02X", low[0], low[1]);
		ok = strcmp(hex, cert_id) == 0;
	}
	BN_free(bn);
	return ok;
}

/*
 * signer_get returns the signer certificate (ca, cert_id) with a new
 * reference, fetching it on a miss. NULL (and why filled) when it cannot
 * be had; a miss is remembered for TRUST_NEGATIVE_RETRY seconds.
 */
static X509 *
signer_get(struct trust_snap *s, size_t ca, const char *cert_id, int64_t now,
	   char *why, size_t whylen)
{
	struct trust_ca *c = &s->cas[ca];
	struct trust_signer *e = NULL;
	X509 *x = NULL;
	char *url = NULL;
	unsigned char *b = NULL;
	size_t len = 0;
	char fwhy[200] = "";

	pthread_mutex_lock(&s->signers_lock);
	for (size_t i = 0; i < s->nsigners; i++)
		if (s->signers[i].ca == ca &&
		    strcmp(s->signers[i].cert_id, cert_id) == 0) {
			e = &s->signers[i];
			break;
		}
	if (e != NULL && e->cert != NULL) {
		x = e->cert;
		X509_up_ref(x);
	} else if (e != NULL && now - e->fetched_at < TRUST_NEGATIVE_RETRY) {
		snprintf(why, whylen,
			 "signer certificate %s%s of CA %s is not available",
			 c->ca_id, cert_id, c->ca_id);
		pthread_mutex_unlock(&s->signers_lock);
		return NULL;
	}
	pthread_mutex_unlock(&s->signers_lock);
	if (x != NULL)
		return x;

	/* fetch without the lock held: other seals keep verifying */
	if (asprintf(&url, "%s/%s%s.pem", c->signer_base, c->ca_id, cert_id) <
	    0) {
		url = NULL;
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (trust_fetch(url, s->fetch_max, s->fetch_timeout_ms, s->allow_http,
			&b, &len, fwhy, sizeof(fwhy)) == SA_OK)
		x = parse_cert(b, len);
	if (x == NULL)
		snprintf(why, whylen,
			 "signer certificate %s%s not found or unreadable "
			 "(%.150s)",
			 c->ca_id, cert_id, fwhy[0] ? fwhy : url);
	free(b);
	free(url);

	pthread_mutex_lock(&s->signers_lock);
	e = NULL;
	for (size_t i = 0; i < s->nsigners; i++)
		if (s->signers[i].ca == ca &&
		    strcmp(s->signers[i].cert_id, cert_id) == 0) {
			e = &s->signers[i];
			break;
		}
	if (e == NULL && s->nsigners < TRUST_MAX_SIGNERS) {
		struct trust_signer *n =
		    realloc(s->signers, (s->nsigners + 1) * sizeof(*n));

		if (n != NULL) {
			s->signers = n;
			e = &s->signers[s->nsigners++];
			memset(e, 0, sizeof(*e));
			e->ca = ca;
			snprintf(e->cert_id, sizeof(e->cert_id), "%s", cert_id);
		}
	}
	if (e != NULL) {
		if (e->cert == NULL && x != NULL) {
			e->cert = x;
			X509_up_ref(x);
		} else if (e->cert != NULL && x != NULL) {
			/* another thread cached it first: use that one */
			X509_free(x);
			x = e->cert;
			X509_up_ref(x);
		}
		e->fetched_at = now;
	}
	pthread_mutex_unlock(&s->signers_lock);
	return x;
}

/*
 * crl_time_cb accepts a CRL outside its validity at the seal's signing
 * time: the CRL that counts is the current one, and its freshness is
 * checked against now before path validation.
 */
static int
crl_time_cb(int ok, X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);

	if (!ok && (e == X509_V_ERR_CRL_NOT_YET_VALID ||
		    e == X509_V_ERR_CRL_HAS_EXPIRED))
		return 1;
	return ok;
}

static int
asn1_before(const ASN1_TIME *a, int64_t t)
{
	time_t tt = (time_t)t;

	return a != NULL && X509_cmp_time(a, &tt) < 0;
}

/* asn1_unix converts an ASN1_TIME to Unix seconds; 0 on failure. */
static int64_t
asn1_unix(const ASN1_TIME *a)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/*
 * chain_cached tells whether this snapshot already verified the signer's
 * chain for a signing time window holding st. X509_verify_cert (with the
 * CRL) costs more than the seal's own signature; within one snapshot its
 * outcome depends on the signing time only through the validity windows
 * of the signer and the CA, which the cached window is.
 */
static int
chain_cached(struct trust_snap *s, size_t ca, const char *cert_id, X509 *cert,
	     int64_t st)
{
	int hit = 0;

	pthread_mutex_lock(&s->signers_lock);
	for (size_t i = 0; i < s->nsigners; i++) {
		struct trust_signer *e = &s->signers[i];
		if (e->ca == ca && e->cert == cert &&
		    strcmp(e->cert_id, cert_id) == 0) {
			hit = e->ok && st >= e->ok_from && st <= e->ok_to;
			break;
		}
	}
	pthread_mutex_unlock(&s->signers_lock);
	return hit;
}

/* chain_remember records a successful chain check's validity window. */
static void
chain_remember(struct trust_snap *s, size_t ca, const char *cert_id, X509 *cert,
	       X509 *ca_cert)
{
	int64_t from = asn1_unix(X509_get0_notBefore(cert));
	int64_t to = asn1_unix(X509_get0_notAfter(cert));
	int64_t cfrom = asn1_unix(X509_get0_notBefore(ca_cert));
	int64_t cto = asn1_unix(X509_get0_notAfter(ca_cert));

	if (from == 0 || to == 0 || cfrom == 0 || cto == 0)
		return;
	if (cfrom > from)
		from = cfrom;
	if (cto < to)
		to = cto;
	pthread_mutex_lock(&s->signers_lock);
	for (size_t i = 0; i < s->nsigners; i++) {
		struct trust_signer *e = &s->signers[i];
		if (e->ca == ca && e->cert == cert &&
		    strcmp(e->cert_id, cert_id) == 0) {
			e->ok = 1;
			e->ok_from = from;
			e->ok_to = to;
			break;
		}
	}
	pthread_mutex_unlock(&s->signers_lock);
}

/* verify_in verifies a decoded seal against one snapshot. */
static enum sa_err
verify_in(struct trust_snap *s, const struct vds *seal, int64_t now,
	  struct trust_result *res)
{
	const char *ca_id = vds_ca_id(seal), *cert_id = vds_cert_id(seal);
	const char *manifest = vds_manifest_id(seal);
	int64_t st = vds_signing_time(seal);
	struct trust_ca *ca = NULL;
	struct trust_scope *sc;
	X509 *signer = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_PKEY *pub;
	unsigned char want[3], fp[32];
	char why[256] = "", ts[21];
	size_t ci = 0;
	int found = 0;
	enum sa_err rc;

	if (now >= s->expires_at) {
		iso8601_utc(s->expires_at, ts);
		rc = SA_ERR_TRUST_EXPIRY;
		set_result(res, rc, "the trust lists expired at %s", ts);
		goto out;
	}
	if (vds_format(seal) != VDS_FORMAT_ISO22376 || manifest == NULL) {
		rc = SA_ERR_TRUST_CHAIN;
		set_result(res, rc,
			   "only ISO 22376 seals are anchored in the "
			   "trust chain");
		goto out;
	}
	if (!id_ok(ca_id) || !id_ok(cert_id)) {
		rc = SA_ERR_TRUST_CHAIN;
		set_result(res, rc,
			   "CA id or cert id is not 4 characters of "
			   "[0-9A-Z]");
		goto out;
	}
	for (size_t i = 0; i < s->ncas; i++)
		if (strcmp(s->cas[i].ca_id, ca_id) == 0) {
			ca = &s->cas[i];
			ci = i;
			break;
		}
	if (ca == NULL) {
		rc = SA_ERR_TRUST_CHAIN;
		set_result(res, rc, "CA %s is not granted in any TSL", ca_id);
		goto out;
	}
	sc = &s->scopes[ca->scope];
	if (usagelist_parse_manifest(manifest, want) != SA_OK) {
		rc = SA_ERR_TRUST_USAGE;
		set_result(res, rc, "manifest id %s is not 6 hex digits",
			   manifest);
		goto out;
	}
	for (size_t i = 0; i < sc->nmanifests; i++)
		if (memcmp(sc->manifests[i], want, 3) == 0)
			found = 1;
	if (!found) {
		rc = SA_ERR_TRUST_USAGE;
		set_result(res, rc,
			   "the TSL of CA %s (IAC %s) may not serve manifest "
			   "%s",
			   ca_id, sc->iac, manifest);
		goto out;
	}
	signer = signer_get(s, ci, cert_id, now, why, sizeof(why));
	if (signer == NULL) {
		rc = SA_ERR_TRUST_CHAIN;
		set_result(res, rc, "%s", why);
		goto out;
	}
	if (!serial_matches(signer, cert_id)) {
		rc = SA_ERR_TRUST_CHAIN;
		set_result(res, rc,
			   "certificate %s%s has a serial number whose low "
			   "bytes are not %s",
			   ca_id, cert_id, cert_id);
		goto out;
	}
	pub = X509_get0_pubkey(signer);
	if (pub == NULL || vds_verify_signature(seal, pub) != SA_OK) {
		rc = SA_ERR_SEAL_SIGNATURE;
		set_result(res, rc,
			   "the seal signature does not verify with the key "
			   "of certificate %s%s",
			   ca_id, cert_id);
		goto out;
	}
	if (st > now + TRUST_CLOCK_SKEW) {
		rc = SA_ERR_TRUST_EXPIRY;
		set_result(res, rc, "the seal is signed in the future");
		goto out;
	}
	/* the CA must be trusted now, whenever the seal was signed */
	if (asn1_before(X509_get0_notAfter(ca->cert), now) ||
	    !asn1_before(X509_get0_notBefore(ca->cert), now + 1)) {
		rc = SA_ERR_TRUST_EXPIRY;
		set_result(res, rc, "CA %s certificate is not valid now",
			   ca_id);
		goto out;
	}
	/* the CRL must be current now: an expired CRL proves nothing */
	if (X509_CRL_get0_nextUpdate(ca->crl) == NULL ||
	    asn1_before(X509_CRL_get0_nextUpdate(ca->crl), now + 1)) {
		rc = SA_ERR_TRUST_EXPIRY;
		set_result(res, rc,
			   "the CRL of CA %s has passed its nextUpdate", ca_id);
		goto out;
	}
	if (chain_cached(s, ci, cert_id, signer, st))
		goto chain_ok;
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, ca->store, signer, NULL)) {
		rc = SA_ERR_NOMEM;
		set_result(res, rc, "out of memory");
		goto out;
	}
	/* the signer must have been valid when it signed */
	X509_STORE_CTX_set_time(ctx, 0, (time_t)st);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK |
					  X509_V_FLAG_PARTIAL_CHAIN);
	X509_STORE_CTX_set_verify_cb(ctx, crl_time_cb);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		if (e == X509_V_ERR_CERT_HAS_EXPIRED ||
		    e == X509_V_ERR_CERT_NOT_YET_VALID) {
			rc = SA_ERR_TRUST_EXPIRY;
			set_result(res, rc,
				   "certificate %s%s was not valid when the "
				   "seal was signed (%s)",
				   ca_id, cert_id,
				   X509_verify_cert_error_string(e));
		} else if (e == X509_V_ERR_CERT_REVOKED) {
			rc = SA_ERR_TRUST_REVOKED;
			set_result(res, rc,
				   "certificate %s%s is revoked by the CRL of "
				   "CA %s",
				   ca_id, cert_id, ca_id);
		} else {
			rc = SA_ERR_TRUST_CHAIN;
			set_result(res, rc,
				   "certificate %s%s does not chain to CA %s: "
				   "%s",
				   ca_id, cert_id, ca_id,
				   X509_verify_cert_error_string(e));
		}
		goto out;
	}
	chain_remember(s, ci, cert_id, signer, ca->cert);
chain_ok:
	if (!(X509_get_extension_flags(signer) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(signer) & KU_DIGITAL_SIGNATURE)) {
		rc = SA_ERR_TRUST_USAGE;
		set_result(res, rc,
			   "certificate %s%s lacks key usage digitalSignature",
			   ca_id, cert_id);
		goto out;
	}
	rc = usagelist_cert_allows(signer, manifest);
	if (rc != SA_OK) {
		set_result(res, SA_ERR_TRUST_USAGE,
			   rc == SA_ERR_NOT_FOUND
			       ? "certificate %s%s has no UsageList"
			       : "the UsageList of certificate %s%s does not "
				 "authorise the manifest",
			   ca_id, cert_id);
		rc = SA_ERR_TRUST_USAGE;
		goto out;
	}
	vds_fingerprint(seal, fp);
	if (vrl_contains(sc->vrl, fp)) {
		rc = SA_ERR_TRUST_REVOKED;
		set_result(res, rc, "the seal is on the VRL of IAC %s",
			   sc->iac);
		goto out;
	}
	subject_of(signer, res->signer_subject, sizeof(res->signer_subject));
	snprintf(res->ca_id, sizeof(res->ca_id), "%s", ca_id);
	snprintf(res->cert_id, sizeof(res->cert_id), "%s", cert_id);
	snprintf(res->iac, sizeof(res->iac), "%s", sc->iac);
	snprintf(res->manifest, sizeof(res->manifest), "%s", manifest);
	snprintf(res->trust_level, sizeof(res->trust_level), "%s",
		 TRUST_LEVEL_HIGH);
	res->demo = s->demo;
	res->signing_time = st;
	rc = SA_OK;
	set_result(res, rc, "ok");
out:
	X509_STORE_CTX_free(ctx);
	X509_free(signer);
	return rc;
}

enum sa_err
trust_verify_seal(struct trust *t, const struct vds *seal, int64_t now,
		  struct trust_result *res)
{
	struct trust_snap *s;
	enum sa_err rc;

	memset(res, 0, sizeof(*res));
	if (seal == NULL) {
		set_result(res, SA_ERR_SEAL_DECODE, "no seal");
		return res->err;
	}
	s = t != NULL ? snap_get(t) : NULL;
	if (s == NULL) {
		set_result(res, SA_ERR_TRUST_GOVERNANCE,
			   "no trust lists are loaded");
		return res->err;
	}
	rc = verify_in(s, seal, now, res);
	snap_put(t, s);
	return rc;
}

enum sa_err
trust_verify_seal_bytes(struct trust *t, const unsigned char *seal, size_t n,
			int64_t now, struct trust_result *res)
{
	struct vds *v = NULL;
	char why[VDS_WHY_MAX] = "";
	enum sa_err rc;

	memset(res, 0, sizeof(*res));
	rc = vds_decode(seal, n, &v, why, sizeof(why));
	if (rc != SA_OK) {
		set_result(res, SA_ERR_SEAL_DECODE, "%s",
			   why[0] ? why : sa_err_str(rc));
		return SA_ERR_SEAL_DECODE;
	}
	rc = trust_verify_seal(t, v, now, res);
	vds_free(v);
	return rc;
}

json_t *
trust_result_json(const struct trust_result *res)
{
	char st[21];

	if (res->err != SA_OK)
		return json_pack("{s:b, s:s, s:s, s:s}", "valid", 0, "step",
				 res->step, "error", sa_err_code(res->err),
				 "reason", res->reason);
	iso8601_utc(res->signing_time, st);
	return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}",
			 "valid", 1, "signer", res->signer_subject, "caId",
			 res->ca_id, "certId", res->cert_id, "iac", res->iac,
			 "manifest", res->manifest, "trustLevel",
			 res->trust_level, "demo", res->demo, "signingTime",
			 st);
}

static json_t *
time_or_null(int64_t t)
{
	char b[21];

	if (t == 0 || t == INT64_MAX)
		return json_null();
	iso8601_utc(t, b);
	return json_string(b);
}

json_t *
trust_status_json(struct trust *t, int64_t now)
{
	json_t *o = NULL;
	const char *status;
	size_t signers = 0;
	struct trust_snap *s;

	pthread_mutex_lock(&t->lock);
	s = t->snap;
	if (s == NULL || now >= s->expires_at)
		status = "failed";
	else if (t->last_failed)
		status = "stale";
	else
		status = "fresh";
	if (s != NULL) {
		pthread_mutex_lock(&s->signers_lock);
		for (size_t i = 0; i < s->nsigners; i++)
			if (s->signers[i].cert != NULL)
				signers++;
		pthread_mutex_unlock(&s->signers_lock);
	}
	o = json_pack("{s:s, s:b, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I}}",
		      "status", status, "demo", s != NULL && s->demo,
		      "loadedAt", time_or_null(s != NULL ? s->loaded_at : 0),
		      "expiresAt", time_or_null(s != NULL ? s->expires_at : 0),
		      "nextRefresh", time_or_null(t->next_refresh), "lastError",
		      t->last_failed ? json_pack("{s:s, s:s, s:s}", "step",
						 t->last_err.step, "error",
						 sa_err_code(t->last_err.err),
						 "reason", t->last_err.reason)
				     : json_null(),
		      "counts", "lists",
		      (json_int_t)(s != NULL ? json_array_size(s->lists) : 0),
		      "cas", (json_int_t)(s != NULL ? s->ncas : 0), "signers",
		      (json_int_t)signers, "revokedSeals",
		      (json_int_t)(s != NULL ? s->nrevoked : 0));
	pthread_mutex_unlock(&t->lock);
	return o;
}

uint64_t
trust_generation(struct trust *t)
{
	uint64_t g;

	pthread_mutex_lock(&t->lock);
	g = t->generation;
	pthread_mutex_unlock(&t->lock);
	return g;
}

enum sa_err
trust_revoked_seals(struct trust *t, uint64_t *generation,
		    unsigned char (**fps)[32], size_t *n)
{
	struct trust_snap *s;
	unsigned char(*out)[32] = NULL;
	size_t total = 0, k = 0;
	enum sa_err rc = SA_OK;

	pthread_mutex_lock(&t->lock);
	s = t->snap;
	if (s != NULL) {
		total = s->nrevoked;
		if (total > 0 && (out = calloc(total, sizeof(*out))) == NULL)
			rc = SA_ERR_NOMEM;
		for (size_t i = 0; rc == SA_OK && i < s->nscopes; i++) {
			const struct vrl *v = s->scopes[i].vrl;
			for (size_t j = 0; v != NULL && j < v->n && k < total;
			     j++)
				memcpy(out[k++], v->fps[j], 32);
		}
	}
	if (rc == SA_OK) {
		*generation = t->generation;
		*fps = out;
		*n = k;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

json_t *
trust_lists_json(struct trust *t)
{
	json_t *a;

	pthread_mutex_lock(&t->lock);
	if (t->snap != NULL)
		a = json_deep_copy(t->snap->lists);
	else if (t->failed_lists != NULL)
		a = json_deep_copy(t->failed_lists);
	else
		a = json_array();
	pthread_mutex_unlock(&t->lock);
	return a;
}

void
trust_close(struct trust *t)
{
	if (t == NULL)
		return;
	if (t->snap != NULL && --t->snap->refs == 0)
		snap_free(t->snap);
	json_decref(t->failed_lists);
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
