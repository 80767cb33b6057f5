/*
 * trust_load.c - refresh: fetch every list of the chain, verify each
 * against the keys the level above announced, load the CAs, their CRLs and
 * the VRLs into a new snapshot, and swap it in (trust.h, docs/trust.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/util.h"
#include "trust/certref.h"
#include "trust/trust_int.h"
#include "trust/tsl.h"
#include "trust/usagelist.h"
#include "trust/vrl.h"

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
		trust_subject_of(signer, subj, sizeof(subj));
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "kind", kind,
		      "url", url, "iac", iac != NULL ? iac : "", "sequence",
		      (json_int_t)seq, "issued", is, "next_update", nx,
		      "signer", subj, "status", status);
	if (o != NULL)
		json_array_append_new(ld->s->lists, o);
}

/*
 * check_times refuses a document of kind k that is stale, from the future,
 * or older than the maximum age of its kind even inside its NextUpdate (a
 * frozen mirror serving an old list, still validly signed, must stop
 * counting at some point). The set expires at the earliest of every
 * document's NextUpdate and issue time plus maximum age.
 */
static enum sa_err
check_times(struct trust_load *ld, enum trust_doc_kind k, const char *kind,
	    const char *url, int64_t issued, int64_t next)
{
	int64_t max_age = ld->t->max_age[k], end = next;
	char nx[21];

	if (next <= ld->now) {
		iso8601_utc(next, nx);
		trust_set_result(ld->res, SA_ERR_TRUST_EXPIRY,
				 "%s list %.120s: NextUpdate %s has passed",
				 kind, url, nx);
		return SA_ERR_TRUST_EXPIRY;
	}
	if (issued > ld->now + TRUST_CLOCK_SKEW) {
		trust_set_result(ld->res, SA_ERR_TRUST_EXPIRY,
				 "%s list %.120s: issued in the future", kind,
				 url);
		return SA_ERR_TRUST_EXPIRY;
	}
	if (max_age > 0) {
		if (issued <= 0 || ld->now - issued > max_age) {
			iso8601_utc(issued, nx);
			trust_set_result(
			    ld->res, SA_ERR_TRUST_EXPIRY,
			    "%s list %.120s: issued %s, older than "
			    "the maximum age of %lld s",
			    kind, url, nx, (long long)max_age);
			return SA_ERR_TRUST_EXPIRY;
		}
		if (issued + max_age < end)
			end = issued + max_age;
	}
	if (end < ld->s->expires_at)
		ld->s->expires_at = end;
	return SA_OK;
}

/*
 * seq_note remembers a verified document's sequence number under a stable
 * key (kind, authority and, where an authority has several, a digest of
 * the URL the signed level above named) for check_sequences.
 */
static enum sa_err
seq_note(struct trust_load *ld, const char *kind, const char *iac,
	 const char *url, uint64_t seq)
{
	struct trust_seq *n;
	unsigned char d[32];
	char *hex = NULL;
	int w;

	if (ld->nseqs >= TRUST_MAX_LISTS * 4) {
		trust_set_result(ld->res, SA_ERR_TRUST_LIST,
				 "too many documents in the chain");
		return SA_ERR_TRUST_LIST;
	}
	n = realloc(ld->seqs, (ld->nseqs + 1) * sizeof(*n));
	if (n == NULL)
		goto nomem;
	ld->seqs = n;
	n = &ld->seqs[ld->nseqs];
	if (url != NULL) {
		sha256(url, strlen(url), d);
		if ((hex = hex_encode(d, 12)) == NULL)
			goto nomem;
	}
	w = snprintf(n->doc, sizeof(n->doc), "%s:%s%s%s", kind,
		     iac != NULL ? iac : "", hex != NULL ? ":" : "",
		     hex != NULL ? hex : "");
	free(hex);
	if (w < 0 || (size_t)w >= sizeof(n->doc)) {
		trust_set_result(ld->res, SA_ERR_TRUST_LIST,
				 "a document key is too long");
		return SA_ERR_TRUST_LIST;
	}
	n->seq = seq;
	ld->nseqs++;
	return SA_OK;
nomem:
	trust_set_result(ld->res, SA_ERR_NOMEM, "out of memory");
	return SA_ERR_NOMEM;
}

/*
 * check_sequences refuses the whole refresh when any of its documents
 * carries a lower sequence number than one accepted before, by this handle
 * or (through the durable hook) by any instance sharing the store: a
 * validly signed but older list must never un-revoke a seal, a signer or a
 * withdrawn CA. Equal numbers are the same document fetched again. Numbers
 * of the accepted documents are raised as they are checked.
 */
static enum sa_err
check_sequences(struct trust_load *ld)
{
	struct trust *t = ld->t;

	for (size_t i = 0; i < ld->nseqs; i++) {
		const struct trust_seq *q = &ld->seqs[i];
		json_t *v;
		uint64_t highest = 0;
		enum sa_err rc;

		pthread_mutex_lock(&t->lock);
		v = json_object_get(t->seen, q->doc);
		if (v != NULL)
			highest = (uint64_t)json_integer_value(v);
		pthread_mutex_unlock(&t->lock);
		if (t->seq_raise != NULL && highest <= q->seq) {
			uint64_t h = 0;

			rc = t->seq_raise(t->seq_arg, q->doc, q->seq, &h);
			if (rc != SA_OK) {
				trust_set_result(ld->res, SA_ERR_UNAVAILABLE,
						 "cannot record the sequence "
						 "number of %s: %s",
						 q->doc, sa_err_str(rc));
				return SA_ERR_UNAVAILABLE;
			}
			if (h > highest)
				highest = h;
		}
		if (highest > q->seq) {
			trust_set_result(ld->res, SA_ERR_TRUST_ROLLBACK,
					 "%s has sequence number %llu, lower "
					 "than %llu accepted before",
					 q->doc, (unsigned long long)q->seq,
					 (unsigned long long)highest);
			return SA_ERR_TRUST_ROLLBACK;
		}
		pthread_mutex_lock(&t->lock);
		json_object_set_new(t->seen, q->doc,
				    json_integer((json_int_t)q->seq));
		pthread_mutex_unlock(&t->lock);
	}
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
		trust_set_result(ld->res, SA_ERR_TRUST_LIST,
				 "more than %d documents in the chain",
				 TRUST_MAX_LISTS * 3);
		return SA_ERR_TRUST_LIST;
	}
	rc = trust_fetch(ld->t->fetcher, url, max, ld->t->fetch_timeout_ms,
			 ld->t->allow_http ? TRUST_FETCH_HTTP_LOOPBACK : 0u,
			 out, outlen, why, sizeof(why));
	if (rc == SA_ERR_BODY_TOO_LARGE) {
		trust_set_result(ld->res, SA_ERR_TRUST_LIST, "%s: %s", kind,
				 why);
		return SA_ERR_TRUST_LIST;
	}
	if (rc != SA_OK)
		trust_set_result(ld->res, rc, "%s: %s", kind, why);
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

			trust_subject_of(xr->signer, subj, sizeof(subj));
			trust_set_result(
			    ld->res, SA_ERR_TRUST_GOVERNANCE,
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
		trust_set_result(ld->res, rc, "%s list %.100s: %s", kind, url,
				 xr->reason);
	else
		trust_set_result(ld->res, rc, "%s list %.100s: cannot verify",
				 kind, url);
	return rc;
}

/*
 * load_list fetches, parses and verifies one list of type type (or type2)
 * with the announced certificates, checks its territory and times and
 * records it. The caller frees *out.
 */
static enum sa_err
load_list(struct trust_load *ld, enum trust_doc_kind k, const char *kind,
	  const char *url, STACK_OF(X509) * announced, const char *type,
	  const char *type2, const char *iac, struct tsl **out)
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
		trust_set_result(ld->res, rc, "%s list %.120s: %s", kind, url,
				 why);
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
		trust_set_result(ld->res, rc,
				 "%s list %.100s has TSLType %.80s", kind, url,
				 l->type);
		goto out;
	}
	if (iac != NULL &&
	    (l->territory == NULL || strcmp(l->territory, iac) != 0)) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		trust_set_result(ld->res, rc,
				 "%s list %.100s: SchemeTerritory is not %s",
				 kind, url, iac);
		goto out;
	}
	if (!l->has_next_update) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc,
				 "%s list %.120s has no NextUpdate", kind, url);
		goto out;
	}
	rc = check_times(ld, k, kind, url, l->issued, l->next_update);
	if (rc != SA_OK)
		goto out;
	/* one governance list, one scheme list per authority, TSLs by URL */
	rc = seq_note(ld,
		      k == TRUST_DOC_GOVERNANCE ? "governance"
		      : k == TRUST_DOC_SCHEME	? "scheme"
						: "tsl",
		      iac, k == TRUST_DOC_TSL ? url : NULL, l->sequence);
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

/*
 * crl_check reads the CRL's number and times: a CRL without a cRLNumber
 * cannot be ordered and is refused; its thisUpdate is held to the maximum
 * age of a CRL and its number to the highest seen for that CA. Its
 * nextUpdate is checked when a seal is verified, so an overdue CRL refuses
 * that CA's seals without failing the whole set.
 */
static enum sa_err
crl_check(struct trust_load *ld, const struct trust_ca *ca, const char *url,
	  const char *iac)
{
	ASN1_INTEGER *num =
	    X509_CRL_get_ext_d2i(ca->crl, NID_crl_number, NULL, NULL);
	BIGNUM *bn = num != NULL ? ASN1_INTEGER_to_BN(num, NULL) : NULL;
	int64_t tlast = trust_asn1_unix(X509_CRL_get0_lastUpdate(ca->crl));
	int64_t tnext = trust_asn1_unix(X509_CRL_get0_nextUpdate(ca->crl));
	int64_t max_age = ld->t->max_age[TRUST_DOC_CRL];
	uint64_t seq = 0;
	char key[16];
	enum sa_err rc;

	if (bn == NULL || BN_is_negative(bn) || BN_num_bytes(bn) > 8) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc,
				 "CRL %.120s of CA %s has no usable cRLNumber",
				 url, ca->ca_id);
		goto out;
	}
	{
		unsigned char b[8] = {0};
		int n = BN_num_bytes(bn);

		BN_bn2bin(bn, b + (8 - n));
		for (int i = 0; i < 8; i++)
			seq = (seq << 8) | b[i];
	}
	if (tlast == 0 || tlast > ld->now + TRUST_CLOCK_SKEW ||
	    (max_age > 0 && ld->now - tlast > max_age)) {
		rc = SA_ERR_TRUST_EXPIRY;
		trust_set_result(ld->res, rc,
				 "CRL %.120s of CA %s: thisUpdate is in the "
				 "future or older than the maximum age of "
				 "%lld s",
				 url, ca->ca_id, (long long)max_age);
		goto out;
	}
	if (max_age > 0 && tlast + max_age < ld->s->expires_at)
		ld->s->expires_at = tlast + max_age;
	snprintf(key, sizeof(key), "%s", ca->ca_id);
	if ((rc = seq_note(ld, "crl", key, NULL, seq)) != SA_OK)
		goto out;
	list_record(ld, "crl", url, iac, seq, tlast, tnext, ca->cert, "ok");
out:
	BN_free(bn);
	ASN1_INTEGER_free(num);
	return rc;
}

/*
 * icao_signers_read reads a CA's IcaoSignerIds (space-separated signer
 * identifiers of ICAO seals: two letters of a country and two of
 * [0-9A-Z]) into ca. An identifier names one signer across the chain: one
 * that another CA declared fails the refresh at the governance step, a
 * malformed list at the list step.
 */
static enum sa_err
icao_signers_read(struct trust_load *ld, const char *tsl_url,
		  struct trust_ca *ca, const char *ids)
{
	struct trust_snap *s = ld->s;

	while (ids != NULL && *ids != '\0') {
		size_t n = strcspn(ids, " ");
		char id[5];

		if (n == 0) {
			ids++;
			continue;
		}
		memcpy(id, ids, n < 4 ? n : 4);
		id[n < 4 ? n : 4] = '\0';
		if (n != 4 || !trust_id_ok(id) || id[0] < 'A' || id[1] < 'A' ||
		    ca->nicao_signers >= TRUST_MAX_ICAO_SIGNERS) {
			trust_set_result(
			    ld->res, SA_ERR_TRUST_LIST,
			    "TSL %.120s: CA %s: IcaoSignerIds must be at most "
			    "%d signer identifiers of two letters and two of "
			    "[0-9A-Z]",
			    tsl_url, ca->ca_id, TRUST_MAX_ICAO_SIGNERS);
			return SA_ERR_TRUST_LIST;
		}
		for (size_t i = 0; i <= s->ncas; i++) {
			const struct trust_ca *o =
			    i < s->ncas ? &s->cas[i] : ca;

			for (size_t k = 0; k < o->nicao_signers; k++)
				if (strcmp(o->icao_signers[k], id) == 0) {
					trust_set_result(
					    ld->res, SA_ERR_TRUST_GOVERNANCE,
					    "ICAO signer %s is declared twice "
					    "in the chain (CA %s and CA %s)",
					    id, o->ca_id, ca->ca_id);
					return SA_ERR_TRUST_GOVERNANCE;
				}
		}
		memcpy(ca->icao_signers[ca->nicao_signers++], id, 5);
		ids += n;
	}
	return SA_OK;
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
	const char *crl_loc, *base_loc, *forms;
	char *crl_url = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	const unsigned char *p;
	enum sa_err rc;

	memset(&ca, 0, sizeof(ca));
	if (!trust_id_ok(svc->name)) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(
		    ld->res, rc,
		    "TSL %.120s: CA service name \"%.20s\" is not a "
		    "4-character CA id",
		    tsl_url, svc->name != NULL ? svc->name : "");
		goto out;
	}
	for (size_t i = 0; i < s->ncas; i++)
		if (strcmp(s->cas[i].ca_id, svc->name) == 0) {
			rc = SA_ERR_TRUST_GOVERNANCE;
			trust_set_result(
			    ld->res, rc,
			    "CA id %s is granted twice in the chain",
			    svc->name);
			goto out;
		}
	if (s->ncas >= TRUST_MAX_CAS) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc, "more than %d CAs",
				 TRUST_MAX_CAS);
		goto out;
	}
	snprintf(ca.ca_id, sizeof(ca.ca_id), "%s", svc->name);
	ca.scope = scope;
	if (svc->ncerts != 1) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc,
				 "TSL %.120s: CA %s must carry exactly one "
				 "certificate",
				 tsl_url, ca.ca_id);
		goto out;
	}
	p = svc->certs[0].der;
	ca.cert = d2i_X509(NULL, &p, (long)svc->certs[0].len);
	if (ca.cert == NULL || p != svc->certs[0].der + svc->certs[0].len) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc,
				 "TSL %.120s: CA %s certificate does "
				 "not parse",
				 tsl_url, ca.ca_id);
		goto out;
	}
	/* basicConstraints cA=TRUE (X509_check_ca 1), not a v1 root guess */
	if (X509_check_ca(ca.cert) != 1) {
		rc = SA_ERR_TRUST_CHAIN;
		trust_set_result(ld->res, rc,
				 "CA %s: its certificate is not a CA "
				 "(basicConstraints)",
				 ca.ca_id);
		goto out;
	}
	crl_loc = our_value(svc->ext, svc->next, "CrlLocation");
	base_loc = our_value(svc->ext, svc->next, "SignerCertBase");
	forms = our_value(svc->ext, svc->next, "CertIdForms");
	ca.certref = forms != NULL ? certref_parse(forms) : CERTREF_DEFAULT;
	if (ca.certref == 0) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc,
				 "TSL %.120s: CA %s: CertIdForms \"%.40s\" is "
				 "not a list of serial16, serial20 and cn",
				 tsl_url, ca.ca_id, forms);
		goto out;
	}
	if ((rc = icao_signers_read(
		 ld, tsl_url, &ca,
		 our_value(svc->ext, svc->next, "IcaoSignerIds"))) != SA_OK)
		goto out;
	if (crl_loc == NULL || base_loc == NULL) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc,
				 "TSL %.120s: CA %s lacks CrlLocation or "
				 "SignerCertBase",
				 tsl_url, ca.ca_id);
		goto out;
	}
	if ((rc = trust_url_resolve(tsl_url, crl_loc, &crl_url)) != SA_OK ||
	    (rc = trust_url_resolve(tsl_url, base_loc, &ca.signer_base)) !=
		SA_OK) {
		trust_set_result(
		    ld->res, SA_ERR_TRUST_LIST,
		    "TSL %.120s: CA %s: bad CRL or signer location", tsl_url,
		    ca.ca_id);
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
	ca.crl = trust_der_or_pem(der, len, ASN1_ITEM_rptr(X509_CRL),
				  PEM_STRING_X509_CRL);
	if (ca.crl == NULL) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc, "CRL %.120s does not parse",
				 crl_url);
		goto out;
	}
	if (X509_NAME_cmp(X509_CRL_get_issuer(ca.crl),
			  X509_get_subject_name(ca.cert)) != 0 ||
	    X509_CRL_verify(ca.crl, X509_get0_pubkey(ca.cert)) != 1) {
		rc = SA_ERR_TRUST_LIST_SIG;
		trust_set_result(ld->res, rc,
				 "CRL %.120s is not issued and signed by CA %s",
				 crl_url, ca.ca_id);
		goto out;
	}
	ca.store = X509_STORE_new();
	if (ca.store == NULL || !X509_STORE_add_cert(ca.store, ca.cert) ||
	    !X509_STORE_add_crl(ca.store, ca.crl)) {
		rc = SA_ERR_NOMEM;
		trust_set_result(ld->res, rc, "out of memory");
		goto out;
	}
	if ((rc = crl_check(ld, &ca, crl_url, s->scopes[scope].iac)) != SA_OK)
		goto out;
	{
		struct trust_ca *n =
		    realloc(s->cas, (s->ncas + 1) * sizeof(*s->cas));

		if (n == NULL) {
			rc = SA_ERR_NOMEM;
			trust_set_result(ld->res, rc, "out of memory");
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
		trust_set_result(
		    ld->res, rc,
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
		trust_set_result(
		    ld->res, rc,
		    "scheme list %.100s: a TSL pointer lacks valid "
		    "ManifestIds or VrlLocation",
		    scheme_url);
		goto out;
	}
	if ((rc = certs_of(ptr->certs, ptr->ncerts, &certs)) != SA_OK ||
	    (rc = trust_url_resolve(scheme_url, ptr->location, &url)) !=
		SA_OK) {
		trust_set_result(ld->res, SA_ERR_TRUST_LIST,
				 "scheme list %.100s: a TSL pointer has a bad "
				 "certificate or location",
				 scheme_url);
		rc = SA_ERR_TRUST_LIST;
		goto out;
	}
	rc = load_list(ld, TRUST_DOC_TSL, "TSL", url, certs, TRUST_TYPE_TSL,
		       NULL, iac, &l);
	if (rc != SA_OK)
		goto out;
	if (trust_url_resolve(url, vrl_loc, &vrl_url) != SA_OK) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(ld->res, rc, "bad VrlLocation for TSL %.120s",
				 url);
		goto out;
	}
	rc = fetch_doc(ld, "VRL", vrl_url, ld->t->max_list_bytes, &xml, &len);
	if (rc != SA_OK)
		goto out;
	for (int i = 0; i < sk_X509_num(certs) && nkeys < TSL_MAX_CERTS; i++)
		keys[nkeys++] = X509_get0_pubkey(sk_X509_value(certs, i));
	rc = vrl_load(xml, len, keys, nkeys, &sc.vrl, why, sizeof(why));
	if (rc != SA_OK) {
		trust_set_result(ld->res, rc, "VRL %.120s: %s", vrl_url, why);
		goto out;
	}
	/* The TSL operator's key may sign several authorities' VRLs: the
	 * list must say whose it is, or another authority's could stand in. */
	if (strcmp(sc.vrl->authority, iac) != 0) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		trust_set_result(
		    ld->res, rc,
		    "VRL %.120s names IssuingAuthority \"%s\", not "
		    "%s",
		    vrl_url, sc.vrl->authority, iac);
		goto out;
	}
	rc = check_times(ld, TRUST_DOC_VRL, "VRL", vrl_url, sc.vrl->issued,
			 sc.vrl->next_update);
	if (rc != SA_OK)
		goto out;
	rc = seq_note(ld, "vrl", iac, vrl_url, sc.vrl->sequence);
	if (rc != SA_OK)
		goto out;
	list_record(ld, "vrl", vrl_url, iac, sc.vrl->sequence, sc.vrl->issued,
		    sc.vrl->next_update, sk_X509_value(certs, 0), "ok");
	{
		struct trust_scope *n =
		    realloc(s->scopes, (s->nscopes + 1) * sizeof(*s->scopes));

		if (n == NULL) {
			rc = SA_ERR_NOMEM;
			trust_set_result(ld->res, rc, "out of memory");
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

/*
 * add_authority records an issuing authority of the governance list with
 * the token id prefix it declares (TokenIdPrefix in our namespace, signed
 * by the governance key): a seal whose token id carries a declared prefix
 * must come from the authority that declared it. Two prefixes where one
 * begins the other would make that ambiguous and are refused.
 */
static enum sa_err
add_authority(struct trust_load *ld, const struct tsl_pointer *ptr)
{
	struct trust_snap *s = ld->s;
	const char *p = our_value(ptr->info, ptr->ninfo, "TokenIdPrefix");
	struct trust_authority *n;
	size_t len = p != NULL ? strlen(p) : 0;

	for (size_t i = 0; i < len; i++)
		if (p[i] <= ' ' || p[i] > '~')
			len = TRUST_MAX_PREFIX + 1;
	if (p != NULL && (len == 0 || len > TRUST_MAX_PREFIX)) {
		trust_set_result(ld->res, SA_ERR_TRUST_GOVERNANCE,
				 "governance list: the TokenIdPrefix of %s is "
				 "not 1 to %d printable characters",
				 ptr->territory, TRUST_MAX_PREFIX);
		return SA_ERR_TRUST_GOVERNANCE;
	}
	for (size_t i = 0; p != NULL && i < s->nauthorities; i++) {
		const char *q = s->authorities[i].prefix;

		if (q[0] != '\0' &&
		    (str_has_prefix(p, q) || str_has_prefix(q, p))) {
			trust_set_result(ld->res, SA_ERR_TRUST_GOVERNANCE,
					 "governance list: token id prefixes "
					 "of %s and %s overlap",
					 s->authorities[i].iac, ptr->territory);
			return SA_ERR_TRUST_GOVERNANCE;
		}
	}
	n = realloc(s->authorities, (s->nauthorities + 1) * sizeof(*n));
	if (n == NULL) {
		trust_set_result(ld->res, SA_ERR_NOMEM, "out of memory");
		return SA_ERR_NOMEM;
	}
	s->authorities = n;
	n = &s->authorities[s->nauthorities++];
	memset(n, 0, sizeof(*n));
	snprintf(n->iac, sizeof(n->iac), "%s", ptr->territory);
	if (p != NULL)
		memcpy(n->prefix, p, len + 1);
	return SA_OK;
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
		trust_set_result(
		    ld->res, rc,
		    "governance list: a pointer is not a scheme list "
		    "with an issuing authority code and its signer");
		goto out;
	}
	for (size_t i = 0; i < nseen; i++)
		if (strcmp(seen[i], iac) == 0) {
			rc = SA_ERR_TRUST_GOVERNANCE;
			trust_set_result(ld->res, rc,
					 "governance list names IAC %s twice",
					 iac);
			goto out;
		}
	if ((rc = certs_of(ptr->certs, ptr->ncerts, &certs)) != SA_OK ||
	    (rc = trust_url_resolve(gov_url, ptr->location, &url)) != SA_OK) {
		rc = SA_ERR_TRUST_LIST;
		trust_set_result(
		    ld->res, rc,
		    "governance list: the pointer for %s has a bad "
		    "certificate or location",
		    iac);
		goto out;
	}
	if ((rc = add_authority(ld, ptr)) != SA_OK)
		goto out;
	rc = load_list(ld, TRUST_DOC_SCHEME, "scheme", url, certs,
		       TRUST_TYPE_SCHEME, NULL, iac, &l);
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
		trust_set_result(ld->res, rc, "out of memory");
		goto out;
	}
	rc = load_list(ld, TRUST_DOC_GOVERNANCE, "governance", t->gov_url,
		       pinned, TRUST_TYPE_GOVERNANCE,
		       TRUST_TYPE_GOVERNANCE_DEMO, NULL, &gov);
	if (rc != SA_OK)
		goto out;
	ld->s->demo = strcmp(gov->type, TRUST_TYPE_GOVERNANCE_DEMO) == 0;
	if (gov->npointers == 0) {
		rc = SA_ERR_TRUST_GOVERNANCE;
		trust_set_result(ld->res, rc,
				 "the governance list names no scheme");
		goto out;
	}
	seen = calloc(gov->npointers, sizeof(*seen));
	if (seen == NULL) {
		rc = SA_ERR_NOMEM;
		trust_set_result(ld->res, rc, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < gov->npointers; i++) {
		rc = load_scheme(ld, t->gov_url, &gov->pointers[i], seen, i);
		if (rc != SA_OK)
			goto out;
		snprintf(seen[i], sizeof(seen[i]), "%s",
			 gov->pointers[i].territory);
	}
	/* Last, once every signature held: an older list is refused whole. */
	rc = check_sequences(ld);
out:
	free(seen);
	tsl_free(gov);
	/* the pinned certificate belongs to t */
	sk_X509_free(pinned);
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
		trust_set_result(res, rc, "out of memory");
		goto done;
	}
	pthread_mutex_init(&s->signers_lock, NULL);
	s->refs = 1;
	s->loaded_at = now;
	s->expires_at = INT64_MAX;
	s->fetch_max = TRUST_MAX_CERT_BYTES;
	s->fetcher = t->fetcher;
	s->fetch_timeout_ms = t->fetch_timeout_ms;
	s->allow_http = t->allow_http;
	memset(&ld, 0, sizeof(ld));
	ld.t = t;
	ld.now = now;
	ld.s = s;
	ld.res = res;
	rc = load_all(&ld);
	free(ld.seqs);
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
		trust_snap_free(s);
	trust_snap_put(t, old);
	pthread_mutex_unlock(&t->refresh_lock);
	return rc;
}
