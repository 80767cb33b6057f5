/*
 * trust_int.h - what the files of the trust chain share and nobody else
 * sees: the handle, the immutable snapshots it swaps in, and the helpers
 * that name a refusal's step. trust.c owns the handle, trust_load.c builds
 * snapshots, trust_verify.c checks seals against one, trust_snap.c hands
 * them out and describes them.
 */
#ifndef SEALAUTH_TRUST_INT_H
#define SEALAUTH_TRUST_INT_H

#include <pthread.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "trust/trust.h"

/*
 * The longest name of a signer certificate: the CA id and a cert id of any
 * reference form (certref.h), or an ICAO signer identifier and its
 * certificate reference. The name is also the file the certificate is
 * published as ({base}/{name}.pem).
 */
#define TRUST_SIGNER_NAME_MAX (4 + VDS_ID_MAX)
/* How many ICAO signer identifiers one CA may declare. */
#define TRUST_MAX_ICAO_SIGNERS 16

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
	unsigned int certref; /* CERTREF_* forms its seals may use */
	/* The ICAO signer identifiers ("UTDM") whose signers it issues. */
	char icao_signers[TRUST_MAX_ICAO_SIGNERS][5];
	size_t nicao_signers;
};

/* An issuing authority the governance list names. */
struct trust_authority {
	char iac[17];
	char prefix[TRUST_MAX_PREFIX + 1]; /* "" when it declares none */
};

/*
 * A signer certificate id that could not be had, remembered for
 * TRUST_NEGATIVE_RETRY seconds; the least recently used goes first when
 * TRUST_MAX_MISSES are remembered, so misses never stop being remembered.
 */
struct trust_miss {
	size_t ca;
	char name[TRUST_SIGNER_NAME_MAX + 1];
	int64_t at;
	uint64_t used; /* snap->tick when last looked up */
};

/* A cached signer certificate. */
struct trust_signer {
	size_t ca;
	char name[TRUST_SIGNER_NAME_MAX + 1];
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
	struct trust_authority *authorities;
	size_t nauthorities;
	size_t nrevoked;
	json_t *lists;
	pthread_mutex_t signers_lock;
	struct trust_signer *signers;
	size_t nsigners;
	struct trust_miss *misses; /* TRUST_MAX_MISSES slots */
	size_t nmisses;
	uint64_t tick;
	struct trust_fetcher *fetcher; /* the handle's, borrowed */
	size_t fetch_max;
	long fetch_timeout_ms;
	int allow_http;
};

struct trust {
	char *gov_url;
	X509 *gov_cert;
	int64_t ttl;
	size_t max_list_bytes;
	struct trust_fetcher *fetcher; /* borrowed (trust_config) */
	long fetch_timeout_ms;
	int allow_http;
	int64_t max_age[TRUST_DOC_KINDS];
	trust_seq_raise_fn seq_raise;
	void *seq_arg;

	pthread_mutex_t refresh_lock; /* one refresh at a time */
	pthread_mutex_t lock;	      /* everything below */
	struct trust_snap *snap;
	int64_t last_attempt;
	int64_t next_refresh;
	int last_failed;
	struct trust_result last_err;
	json_t *failed_lists;
	uint64_t generation; /* bumped each time a new snapshot is installed */
	json_t *seen; /* doc key -> highest sequence this handle accepted */
};

/* The sequence number of one document of a refresh, checked at its end. */
struct trust_seq {
	char doc[TRUST_DOC_KEY_MAX + 1];
	uint64_t seq;
};

/* A refresh in progress. */
struct trust_load {
	struct trust *t;
	int64_t now;
	struct trust_snap *s;
	struct trust_result *res;
	size_t nlists;
	struct trust_seq *seqs;
	size_t nseqs;
};

/*
 * trust_set_result fills res (may be NULL) with err, the step it stands
 * for and a reason formatted like printf.
 */
void trust_set_result(struct trust_result *res, enum sa_err err,
		      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* trust_id_ok tells whether s is exactly 4 characters of [0-9A-Z]. */
int trust_id_ok(const char *s);

/* trust_subject_of writes the RFC 2253 subject of x into out ("" on error). */
void trust_subject_of(X509 *x, char *out, size_t outsz);

/* trust_asn1_unix converts an ASN1_TIME to Unix seconds; 0 when it is absent
 * or bad. */
int64_t trust_asn1_unix(const ASN1_TIME *a);

/*
 * trust_der_or_pem reads one object of type it (ASN1_ITEM_rptr(X509),
 * ASN1_ITEM_rptr(X509_CRL)) from the n bytes at b: DER that fills them
 * exactly, else the first PEM block labelled pem_name (PEM_STRING_X509,
 * PEM_STRING_X509_CRL). NULL when it is neither; the caller frees the
 * object with the type's own free.
 */
void *trust_der_or_pem(const unsigned char *b, size_t n, const ASN1_ITEM *it,
		       const char *pem_name);

/*
 * trust_snap_get returns the current set with a new reference, or NULL;
 * trust_snap_put drops a reference (the last one frees the set);
 * trust_snap_free frees a set no one references.
 */
struct trust_snap *trust_snap_get(struct trust *t);
void trust_snap_put(struct trust *t, struct trust_snap *s);
void trust_snap_free(struct trust_snap *s);

#endif
