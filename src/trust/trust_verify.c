/*
 * trust_verify.c - check a seal against one snapshot: find its CA, fetch
 * and cache its signer certificate, verify the seal's signature, the path
 * to the CA with its CRL, the key usage, the UsageList and the VRL
 * (trust.h, docs/trust.md).
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
#include "trust/usagelist.h"
#include "trust/vrl.h"

/*
 * miss_find returns the remembered miss of (ca, name) that is still
 * younger than TRUST_NEGATIVE_RETRY, marking it used, or NULL. The caller
 * holds signers_lock.
 */
static struct trust_miss *
miss_find(struct trust_snap *s, size_t ca, const char *name, int64_t now)
{
	for (size_t i = 0; i < s->nmisses; i++) {
		struct trust_miss *m = &s->misses[i];

		if (m->ca == ca && strcmp(m->name, name) == 0) {
			if (now - m->at >= TRUST_NEGATIVE_RETRY)
				return NULL;
			m->used = ++s->tick;
			return m;
		}
	}
	return NULL;
}

/*
 * miss_remember records a miss, reusing the entry of the same id, else a
 * free slot, else the least recently used one: however many unknown ids
 * arrive, the latest misses are remembered and none fetches twice within
 * TRUST_NEGATIVE_RETRY. The caller holds signers_lock.
 */
static void
miss_remember(struct trust_snap *s, size_t ca, const char *name, int64_t now)
{
	struct trust_miss *m = NULL;

	if (s->misses == NULL &&
	    (s->misses = calloc(TRUST_MAX_MISSES, sizeof(*s->misses))) == NULL)
		return;
	for (size_t i = 0; i < s->nmisses && m == NULL; i++)
		if (s->misses[i].ca == ca &&
		    strcmp(s->misses[i].name, name) == 0)
			m = &s->misses[i];
	if (m == NULL && s->nmisses < TRUST_MAX_MISSES)
		m = &s->misses[s->nmisses++];
	if (m == NULL) {
		m = &s->misses[0];
		for (size_t i = 1; i < s->nmisses; i++)
			if (s->misses[i].used < m->used)
				m = &s->misses[i];
	}
	m->ca = ca;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->at = now;
	m->used = ++s->tick;
}

/* signer_find returns the cached signer (ca, name) or NULL; the caller
 * holds signers_lock. */
static struct trust_signer *
signer_find(struct trust_snap *s, size_t ca, const char *name)
{
	for (size_t i = 0; i < s->nsigners; i++)
		if (s->signers[i].ca == ca &&
		    strcmp(s->signers[i].name, name) == 0)
			return &s->signers[i];
	return NULL;
}

/*
 * signer_get returns the signer certificate (ca, name) with a new
 * reference, fetching it on a miss. NULL (and why filled, for the log: it
 * may name the URL) when it cannot be had; a miss is remembered for
 * TRUST_NEGATIVE_RETRY seconds in a bounded LRU.
 */
static X509 *
signer_get(struct trust_snap *s, size_t ca, const char *name, int64_t now,
	   char *why, size_t whylen)
{
	struct trust_ca *c = &s->cas[ca];
	struct trust_signer *e;
	X509 *x = NULL;
	char *url = NULL;
	unsigned char *b = NULL;
	size_t len = 0;
	char fwhy[200] = "";

	pthread_mutex_lock(&s->signers_lock);
	e = signer_find(s, ca, name);
	if (e != NULL) {
		x = e->cert;
		X509_up_ref(x);
	} else if (miss_find(s, ca, name, now) != NULL) {
		snprintf(why, whylen,
			 "signer certificate %s of CA %s is not available "
			 "(a recent fetch failed)",
			 name, c->ca_id);
		pthread_mutex_unlock(&s->signers_lock);
		return NULL;
	}
	pthread_mutex_unlock(&s->signers_lock);
	if (x != NULL)
		return x;

	/* fetch without the lock held: other seals keep verifying */
	if (asprintf(&url, "%s/%s.pem", c->signer_base, name) < 0) {
		url = NULL;
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (trust_fetch(s->fetcher, url, s->fetch_max, s->fetch_timeout_ms,
			s->allow_http ? TRUST_FETCH_HTTP_LOOPBACK : 0u, &b,
			&len, fwhy, sizeof(fwhy)) == SA_OK)
		x = trust_der_or_pem(b, len, ASN1_ITEM_rptr(X509),
				     PEM_STRING_X509);
	if (x == NULL)
		snprintf(why, whylen,
			 "signer certificate %s not found or unreadable "
			 "(%.150s)",
			 name, fwhy[0] ? fwhy : url);
	free(b);
	free(url);

	pthread_mutex_lock(&s->signers_lock);
	if (x == NULL) {
		miss_remember(s, ca, name, now);
	} else if ((e = signer_find(s, ca, name)) != NULL) {
		/* another thread cached it first: use that one */
		X509_free(x);
		x = e->cert;
		X509_up_ref(x);
	} else if (s->nsigners < TRUST_MAX_SIGNERS) {
		struct trust_signer *n =
		    realloc(s->signers, (s->nsigners + 1) * sizeof(*n));

		if (n != NULL) {
			s->signers = n;
			e = &s->signers[s->nsigners++];
			memset(e, 0, sizeof(*e));
			e->ca = ca;
			snprintf(e->name, sizeof(e->name), "%s", name);
			e->cert = x;
			X509_up_ref(x);
			e->fetched_at = now;
		}
	}
	pthread_mutex_unlock(&s->signers_lock);
	return x;
}

/*
 * token_id_check holds a seal's token id to the prefixes the governance
 * list declares: an authority that declares one issues only ids carrying
 * it, and no other authority may issue an id that carries it (so one
 * authority can never speak for another's people).
 */
static enum sa_err
token_id_check(struct trust_snap *s, const struct vds *seal, const char *iac,
	       struct trust_result *res)
{
	const struct vds_claims *vc = vds_claims(seal);
	const char *tid = vc != NULL ? vc->token_id : "";

	for (size_t i = 0; i < s->nauthorities; i++) {
		const struct trust_authority *a = &s->authorities[i];
		int mine = strcmp(a->iac, iac) == 0;

		if (a->prefix[0] == '\0')
			continue;
		if (mine && !str_has_prefix(tid, a->prefix)) {
			trust_set_result(res, SA_ERR_TRUST_GOVERNANCE,
					 "authority %s issues token ids "
					 "beginning with \"%s\" only",
					 iac, a->prefix);
			return SA_ERR_TRUST_GOVERNANCE;
		}
		if (!mine && str_has_prefix(tid, a->prefix)) {
			trust_set_result(res, SA_ERR_TRUST_GOVERNANCE,
					 "token id prefix \"%s\" belongs to "
					 "authority %s, not to %s",
					 a->prefix, a->iac, iac);
			return SA_ERR_TRUST_GOVERNANCE;
		}
	}
	return SA_OK;
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

/*
 * chain_cached tells whether this snapshot already verified the signer's
 * chain for a signing time window holding st. X509_verify_cert (with the
 * CRL) costs more than the seal's own signature; within one snapshot its
 * outcome depends on the signing time only through the validity windows
 * of the signer and the CA, which the cached window is.
 */
static int
chain_cached(struct trust_snap *s, size_t ca, const char *name, X509 *cert,
	     int64_t st)
{
	int hit = 0;

	pthread_mutex_lock(&s->signers_lock);
	for (size_t i = 0; i < s->nsigners; i++) {
		struct trust_signer *e = &s->signers[i];
		if (e->ca == ca && e->cert == cert &&
		    strcmp(e->name, name) == 0) {
			hit = e->ok && st >= e->ok_from && st <= e->ok_to;
			break;
		}
	}
	pthread_mutex_unlock(&s->signers_lock);
	return hit;
}

/* chain_remember records a successful chain check's validity window. */
static void
chain_remember(struct trust_snap *s, size_t ca, const char *name, X509 *cert,
	       X509 *ca_cert)
{
	int64_t from = trust_asn1_unix(X509_get0_notBefore(cert));
	int64_t to = trust_asn1_unix(X509_get0_notAfter(cert));
	int64_t cfrom = trust_asn1_unix(X509_get0_notBefore(ca_cert));
	int64_t cto = trust_asn1_unix(X509_get0_notAfter(ca_cert));

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
		    strcmp(e->name, name) == 0) {
			e->ok = 1;
			e->ok_from = from;
			e->ok_to = to;
			break;
		}
	}
	pthread_mutex_unlock(&s->signers_lock);
}

/*
 * icao_locate finds the CA that declares the ICAO seal's signer
 * identifier (IcaoSignerIds) and writes the usage id the signer must be
 * allowed: "DC" and the seal's document reference ("DC5E03"); NULL when no
 * CA declares it.
 */
static struct trust_ca *
icao_locate(struct trust_snap *s, const struct vds *seal, size_t *ci,
	    char usage[7])
{
	const char *signer = vds_ca_id(seal);

	snprintf(usage, 7, "DC%02X%02X", vds_icao_feature_ref(seal) & 0xff,
		 vds_icao_type_category(seal) & 0xff);
	for (size_t i = 0; i < s->ncas; i++)
		for (size_t k = 0; k < s->cas[i].nicao_signers; k++)
			if (strcmp(s->cas[i].icao_signers[k], signer) == 0) {
				*ci = i;
				return &s->cas[i];
			}
	return NULL;
}

/*
 * name_signer writes the name of the certificate the seal names (its file
 * and cache key): the CA id and cert id of an ISO seal, in a reference
 * form of its CA (*form gets it), or the signer identifier and reference
 * of an ICAO seal, which must be the hexadecimal serial number (or
 * TR-03171's SHA-1) a certificate can carry. Nothing is fetched for an id
 * no certificate of the CA can have.
 */
static enum sa_err
name_signer(const struct trust_ca *ca, const struct vds *seal,
	    unsigned int *form, char *name, size_t namesz,
	    struct trust_result *res)
{
	const char *id = vds_ca_id(seal), *ref = vds_cert_id(seal);
	char forms[40];

	snprintf(name, namesz, "%s%s", id, ref);
	if (vds_format(seal) == VDS_FORMAT_ICAO) {
		*form = 0;
		if (ref[0] != '\0' &&
		    strspn(ref, "0123456789ABCDEF") == strlen(ref))
			return SA_OK;
		trust_set_result(res, SA_ERR_TRUST_CHAIN,
				 "certificate reference %.48s of ICAO signer "
				 "%s is not a hexadecimal serial number, so "
				 "no certificate can carry it",
				 ref, id);
		return SA_ERR_TRUST_CHAIN;
	}
	*form = certref_form_of(ca->certref, ref);
	if (*form != 0)
		return SA_OK;
	certref_describe(ca->certref, forms, sizeof(forms));
	trust_set_result(res, SA_ERR_TRUST_CHAIN,
			 "cert id %.20s is in none of the reference forms of "
			 "CA %s (%s), so no certificate of it can carry the id",
			 ref, id, forms);
	return SA_ERR_TRUST_CHAIN;
}

/* names_signer tells whether the fetched certificate x is the one the
 * seal names, and why not in res. */
static int
names_signer(unsigned int form, const struct vds *seal, X509 *x,
	     const char *name, struct trust_result *res)
{
	const char *ref = vds_cert_id(seal);

	if (form == 0 ? vds_icao_cert_matches(seal, x)
		      : certref_matches(form, x, ref))
		return 1;
	trust_set_result(
	    res, SA_ERR_TRUST_CHAIN,
	    "certificate %s is not the one %s %s names (%s)", name,
	    form == 0 ? "ICAO signer and reference" : "cert id",
	    form == 0 ? name : ref,
	    form == 0 ? "its subject C and CN, or its serial number, differ"
	    : form == CERTREF_CN ? "its subject common name differs"
				 : "the low digits of its serial number "
				   "differ");
	return 0;
}

/* verify_in verifies a decoded seal against one snapshot. */
static enum sa_err
verify_in(struct trust_snap *s, const struct vds *seal, int64_t now,
	  struct trust_result *res)
{
	const char *ca_id = vds_ca_id(seal);
	int icao = vds_format(seal) == VDS_FORMAT_ICAO;
	int64_t st = vds_signing_time(seal);
	struct trust_ca *ca = NULL;
	struct trust_scope *sc;
	X509 *signer = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_PKEY *pub;
	unsigned char want[3], fp[32];
	char why[256] = "", ts[21], manifest[7] = "";
	char name[TRUST_SIGNER_NAME_MAX + 1];
	size_t ci = 0;
	int found = 0;
	unsigned int form = 0;
	enum sa_err rc;

	if (now >= s->expires_at) {
		iso8601_utc(s->expires_at, ts);
		rc = SA_ERR_TRUST_EXPIRY;
		trust_set_result(res, rc, "the trust lists expired at %s", ts);
		goto out;
	}
	if (icao) {
		ca = icao_locate(s, seal, &ci, manifest);
		if (ca == NULL) {
			rc = SA_ERR_TRUST_CHAIN;
			trust_set_result(res, rc,
					 "ICAO signer %s is declared by no "
					 "CA of any TSL",
					 ca_id);
			goto out;
		}
	} else {
		if (vds_manifest_id(seal) == NULL || !trust_id_ok(ca_id)) {
			rc = SA_ERR_TRUST_CHAIN;
			trust_set_result(res, rc,
					 "CA id is not 4 characters of "
					 "[0-9A-Z]");
			goto out;
		}
		snprintf(manifest, sizeof(manifest), "%s",
			 vds_manifest_id(seal));
		for (size_t i = 0; i < s->ncas; i++)
			if (strcmp(s->cas[i].ca_id, ca_id) == 0) {
				ca = &s->cas[i];
				ci = i;
				break;
			}
		if (ca == NULL) {
			rc = SA_ERR_TRUST_CHAIN;
			trust_set_result(
			    res, rc, "CA %s is not granted in any TSL", ca_id);
			goto out;
		}
	}
	sc = &s->scopes[ca->scope];
	if (usagelist_parse_manifest(manifest, want) != SA_OK) {
		rc = SA_ERR_TRUST_USAGE;
		trust_set_result(res, rc, "manifest id %s is not 6 hex digits",
				 manifest);
		goto out;
	}
	for (size_t i = 0; i < sc->nmanifests; i++)
		if (memcmp(sc->manifests[i], want, 3) == 0)
			found = 1;
	if (!found) {
		rc = SA_ERR_TRUST_USAGE;
		trust_set_result(
		    res, rc,
		    "the TSL of CA %s (IAC %s) may not serve manifest "
		    "%s",
		    ca->ca_id, sc->iac, manifest);
		goto out;
	}
	/* Nothing is fetched for a name no signer of this CA can have, or
	 * for a seal that is refused whatever its signature. */
	if ((rc = name_signer(ca, seal, &form, name, sizeof(name), res)) !=
	    SA_OK)
		goto out;
	if (st > now + TRUST_CLOCK_SKEW) {
		rc = SA_ERR_TRUST_EXPIRY;
		trust_set_result(res, rc, "the seal is signed in the future");
		goto out;
	}
	signer = signer_get(s, ci, name, now, why, sizeof(why));
	if (signer == NULL) {
		rc = SA_ERR_TRUST_CHAIN;
		trust_set_result(res, rc, "%s", why);
		goto out;
	}
	if (!names_signer(form, seal, signer, name, res)) {
		rc = SA_ERR_TRUST_CHAIN;
		goto out;
	}
	pub = X509_get0_pubkey(signer);
	if (pub == NULL || vds_verify_signature(seal, pub) != SA_OK) {
		rc = SA_ERR_SEAL_SIGNATURE;
		trust_set_result(
		    res, rc,
		    "the seal signature does not verify with the key "
		    "of certificate %s",
		    name);
		goto out;
	}
	/* the CA must be trusted now, whenever the seal was signed */
	if (asn1_before(X509_get0_notAfter(ca->cert), now) ||
	    !asn1_before(X509_get0_notBefore(ca->cert), now + 1)) {
		rc = SA_ERR_TRUST_EXPIRY;
		trust_set_result(res, rc, "CA %s certificate is not valid now",
				 ca->ca_id);
		goto out;
	}
	/* the CRL must be current now: an expired CRL proves nothing */
	if (X509_CRL_get0_nextUpdate(ca->crl) == NULL ||
	    asn1_before(X509_CRL_get0_nextUpdate(ca->crl), now + 1)) {
		rc = SA_ERR_TRUST_EXPIRY;
		trust_set_result(res, rc,
				 "the CRL of CA %s has passed its nextUpdate",
				 ca->ca_id);
		goto out;
	}
	if (chain_cached(s, ci, name, signer, st))
		goto chain_ok;
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || !X509_STORE_CTX_init(ctx, ca->store, signer, NULL)) {
		rc = SA_ERR_NOMEM;
		trust_set_result(res, rc, "out of memory");
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
			trust_set_result(
			    res, rc,
			    "certificate %s was not valid when the "
			    "seal was signed (%s)",
			    name, X509_verify_cert_error_string(e));
		} else if (e == X509_V_ERR_CERT_REVOKED) {
			rc = SA_ERR_TRUST_REVOKED;
			trust_set_result(res, rc,
					 "certificate %s is revoked by the CRL "
					 "of CA %s",
					 name, ca->ca_id);
		} else {
			rc = SA_ERR_TRUST_CHAIN;
			trust_set_result(res, rc,
					 "certificate %s does not chain to CA "
					 "%s: %s",
					 name, ca->ca_id,
					 X509_verify_cert_error_string(e));
		}
		goto out;
	}
	chain_remember(s, ci, name, signer, ca->cert);
chain_ok:
	if (!(X509_get_extension_flags(signer) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(signer) & KU_DIGITAL_SIGNATURE)) {
		rc = SA_ERR_TRUST_USAGE;
		trust_set_result(res, rc,
				 "certificate %s lacks key usage "
				 "digitalSignature",
				 name);
		goto out;
	}
	rc = usagelist_cert_allows(signer, manifest);
	if (rc != SA_OK) {
		trust_set_result(
		    res, SA_ERR_TRUST_USAGE,
		    rc == SA_ERR_NOT_FOUND
			? "certificate %s has no UsageList"
			: "the UsageList of certificate %s does not "
			  "authorise the manifest",
		    name);
		rc = SA_ERR_TRUST_USAGE;
		goto out;
	}
	vds_fingerprint(seal, fp);
	if (vrl_contains(sc->vrl, fp)) {
		rc = SA_ERR_TRUST_REVOKED;
		trust_set_result(res, rc, "the seal is on the VRL of IAC %s",
				 sc->iac);
		goto out;
	}
	if ((rc = token_id_check(s, seal, sc->iac, res)) != SA_OK)
		goto out;
	trust_subject_of(signer, res->signer_subject,
			 sizeof(res->signer_subject));
	snprintf(res->ca_id, sizeof(res->ca_id), "%s", ca->ca_id);
	snprintf(res->cert_id, sizeof(res->cert_id), "%s", vds_cert_id(seal));
	snprintf(res->icao_signer, sizeof(res->icao_signer), "%s",
		 icao ? ca_id : "");
	snprintf(res->iac, sizeof(res->iac), "%s", sc->iac);
	snprintf(res->manifest, sizeof(res->manifest), "%s", manifest);
	snprintf(res->trust_level, sizeof(res->trust_level), "%s",
		 TRUST_LEVEL_HIGH);
	res->demo = s->demo;
	res->signing_time = st;
	rc = SA_OK;
	trust_set_result(res, rc, "ok");
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
		trust_set_result(res, SA_ERR_SEAL_DECODE, "no seal");
		return res->err;
	}
	s = t != NULL ? trust_snap_get(t) : NULL;
	if (s == NULL) {
		trust_set_result(res, SA_ERR_TRUST_GOVERNANCE,
				 "no trust lists are loaded");
		return res->err;
	}
	rc = verify_in(s, seal, now, res);
	trust_snap_put(t, s);
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
		trust_set_result(res, SA_ERR_SEAL_DECODE, "%s",
				 why[0] ? why : sa_err_str(rc));
		return SA_ERR_SEAL_DECODE;
	}
	rc = trust_verify_seal(t, v, now, res);
	vds_free(v);
	return rc;
}
