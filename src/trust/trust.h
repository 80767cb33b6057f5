/*
 * trust.h - the trust chain of seals (SPEC §4.2):
 *
 *   governance list -> scheme list -> TSL -> CA certificate -> signer
 *
 * trust_refresh fetches every list, verifies each against the key the level
 * above announced (the governance key is pinned in configuration), loads the
 * CA certificates, their CRLs and the VRLs, and swaps the result in as one
 * immutable, reference-counted snapshot. trust_verify_seal walks a seal
 * through that snapshot without fetching lists or parsing XML; only a
 * signer certificate not seen before is fetched, once, and then cached.
 * Every failure names the step that failed (struct trust_result).
 * docs/trust.md describes the profile: the XML we read at each level, the
 * UsageList, the VRL, the demo environment and the refresh rules.
 */
#ifndef SEALAUTH_TRUST_H
#define SEALAUTH_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/config.h"
#include "core/errors.h"
#include "seal/vds.h"

/* Our namespace for the values we add to TS 119 612 lists. */
#define TRUST_NS "urn:sealauth:trust#"
#define TRUST_TYPE_GOVERNANCE "urn:sealauth:tsltype:governance"
#define TRUST_TYPE_GOVERNANCE_DEMO "urn:sealauth:tsltype:governance:demo"
#define TRUST_TYPE_SCHEME "urn:sealauth:tsltype:scheme"
#define TRUST_TYPE_TSL "urn:sealauth:tsltype:tsl"
#define TRUST_SVC_CA "http://uri.etsi.org/TrstSvc/Svctype/CA/PKC"
#define TRUST_SVC_GRANTED                                                      \
	"http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
#define TRUST_LEVEL_HIGH "high"

/* Bounds of one trust set. */
#define TRUST_MAX_LISTS 256	   /* scheme lists + TSLs */
#define TRUST_MAX_CAS 1024	   /* CA services, all TSLs */
#define TRUST_MAX_SIGNERS 4096	   /* cached signer certificates */
#define TRUST_MAX_MISSES 4096	   /* remembered misses (LRU) */
#define TRUST_MAX_PREFIX 16	   /* an authority's token id prefix */
#define TRUST_MAX_CERT_BYTES 65536 /* a signer certificate file */
#define TRUST_MAX_URL 2048	   /* a list or certificate URL */
#define TRUST_MAX_MANIFESTS 64	   /* manifest ids per TSL */
#define TRUST_NEGATIVE_RETRY 60	   /* seconds before refetching a miss */
#define TRUST_CLOCK_SKEW 300	   /* seconds of clock skew tolerated */

struct trust;

/* The kinds of signed document in the chain, for their maximum ages. */
enum trust_doc_kind {
	TRUST_DOC_GOVERNANCE = 0,
	TRUST_DOC_SCHEME,
	TRUST_DOC_TSL,
	TRUST_DOC_VRL,
	TRUST_DOC_CRL,
	TRUST_DOC_KINDS
};

/*
 * The durable memory of sequence numbers (anti-rollback): raise stores
 * max(stored, seq) for the document named doc (at most TRUST_DOC_KEY_MAX
 * bytes, e.g. "vrl:DEMO:1f2e...") and reports the highest number ever
 * stored for it in *highest, atomically, shared by every instance that
 * shares the store. SA_OK or a store error (the refresh then fails).
 */
#define TRUST_DOC_KEY_MAX 96
typedef enum sa_err (*trust_seq_raise_fn)(void *arg, const char *doc,
					  uint64_t seq, uint64_t *highest);

/*
 * Where the chain starts and how it is fetched. Strings are borrowed for
 * the duration of trust_new (which copies them).
 */
struct trust_config {
	const char *governance_url;	  /* https:// or file:// */
	const char *governance_cert_path; /* pinned PEM certificate */
	int64_t ttl;			  /* seconds between refreshes */
	size_t max_list_bytes;		  /* cap on every fetched document */
	long fetch_timeout_ms;		  /* per fetch, https only */
	int allow_http_loopback;	  /* tests: http://127.0.0.1 allowed */
	/* Seconds after its issue time a document is refused even inside
	 * its NextUpdate, per kind (0: no limit beyond NextUpdate). */
	int64_t max_age[TRUST_DOC_KINDS];
	/* Durable sequence numbers (NULL: this handle's memory only). */
	trust_seq_raise_fn seq_raise;
	void *seq_arg;
	/* How documents are fetched (trust_fetcher_new); borrowed, it must
	 * outlive the handle. NULL: the system CAs, never cancelled. */
	struct trust_fetcher *fetcher;
};

/*
 * The outcome of trust_verify_seal. err is SA_OK or the failing step's
 * error; step is "decode", "signature", "chain", "expiry", "usage",
 * "revocation", "governance", "list", "list-signature", "rollback" or
 * "fetch" (empty on success); reason is a sentence for the log and the
 * audit row (it may name URLs and paths: clients get trust_step_message of
 * the step instead). On success the other fields describe the seal's
 * anchor; iac is the issuing authority that vouched for the token id.
 */
struct trust_result {
	enum sa_err err;
	char step[16];
	char reason[256];
	char signer_subject[256]; /* RFC 2253 subject of the signer */
	char ca_id[8];
	char cert_id[VDS_ID_MAX + 1]; /* ICAO: the certificate reference */
	char icao_signer[5];	      /* ICAO: the signer identifier, else "" */
	char iac[17];		      /* issuing authority code */
	char manifest[7];
	char trust_level[8]; /* "high" */
	int demo;	     /* the chain is the demo environment */
	int64_t signing_time;
};

/*
 * trust_config_from fills tc from the server configuration: the governance
 * URL and pinned certificate, or, when no URL is configured, the demo
 * environment in cfg->trust_dir (*demo set to 1). Strings written to tc
 * point into *storage, a new allocation the caller frees after the
 * trust_config is no longer used.
 */
enum sa_err trust_config_from(const struct config *cfg, struct trust_config *tc,
			      char **storage, int *demo);

/*
 * trust_new creates a trust handle with no lists loaded (status "failed"
 * until the first successful trust_refresh). The pinned governance
 * certificate is read now: SA_ERR_CONFIG if it cannot be. The caller frees
 * the handle with trust_close.
 */
enum sa_err trust_new(const struct trust_config *cfg, struct trust **out);

/*
 * trust_open is trust_new followed by a forced trust_refresh at the current
 * time; it fails (and returns no handle) when the chain does not load. res
 * (may be NULL) receives the failing step.
 */
enum sa_err trust_open(const struct trust_config *cfg, struct trust **out,
		       struct trust_result *res);

/*
 * trust_refresh fetches and verifies the whole chain when force is set or
 * the TTL since the last attempt has passed (otherwise it returns SA_OK at
 * once). On success the new set replaces the old one atomically; readers
 * holding the old one finish with it. On failure the last good set stays in
 * use until its lists' NextUpdate passes, the error is returned, recorded
 * for trust_status_json, and res (may be NULL) names the step; the caller
 * audits it. Concurrent refreshes are serialised.
 */
enum sa_err trust_refresh(struct trust *t, int64_t now, int force,
			  struct trust_result *res);

/*
 * trust_verify_seal checks a decoded seal against the loaded chain at time
 * now and fills res (always). Thread-safe; never parses XML. A signer
 * certificate not cached yet is fetched once. Returns res->err.
 */
enum sa_err trust_verify_seal(struct trust *t, const struct vds *seal,
			      int64_t now, struct trust_result *res);

/*
 * trust_verify_seal_bytes decodes n bytes of seal (not its text form) and
 * verifies it; a seal that does not decode fails the "decode" step.
 */
enum sa_err trust_verify_seal_bytes(struct trust *t, const unsigned char *seal,
				    size_t n, int64_t now,
				    struct trust_result *res);

/*
 * trust_status_json describes the trust state for /health as a new JSON
 * object (caller decrefs): status ("fresh", "stale" after a failed refresh
 * while the last good set is still valid, "failed" with no usable set),
 * demo, loaded_at, expires_at, next_refresh, last_error (step and reason)
 * and counts of lists, CAs, cached signers and revoked seals. NULL on no
 * memory.
 */
json_t *trust_status_json(struct trust *t, int64_t now);

/*
 * trust_lists_json returns the lists of the current set as a new JSON array
 * (url, kind, sequence, issued, next_update, signer, iac), or of the last
 * failed attempt as far as it got when no set is loaded. NULL on no memory.
 */
json_t *trust_lists_json(struct trust *t);

/*
 * trust_revoked_seals copies the fingerprints on every VRL of the current
 * set into a new array (*fps, caller frees; n entries) and reports the set's
 * generation, which changes whenever a refresh installs new lists, so the
 * caller can revoke existing enrollments once per new set.
 */
enum sa_err trust_revoked_seals(struct trust *t, uint64_t *generation,
				unsigned char (**fps)[32], size_t *n);

/* trust_generation is the current set's generation, without copying. */
uint64_t trust_generation(struct trust *t);

/* trust_close releases the handle; no call may be running on it. */
void trust_close(struct trust *t);

/* trust_result_json describes a result as a new JSON object. */
json_t *trust_result_json(const struct trust_result *res);

/*
 * trust_step_message is the generic sentence a client is told for a failed
 * step (never a URL, a path or a list's name): the detail stays in the log.
 */
const char *trust_step_message(const char *step);

/*
 * trust_authority_prefix copies into out the token id prefix that the
 * governance list declares for authority iac ("" when it declares none);
 * SA_ERR_NOT_FOUND when no set is loaded or iac is not in it.
 */
enum sa_err trust_authority_prefix(struct trust *t, const char *iac,
				   char out[TRUST_MAX_PREFIX + 1]);

/*
 * Fetching (trust_fetch.c). trust_url_check accepts https:// URLs, file://
 * URLs with an absolute path, and (allow_http_loopback only) http:// URLs
 * whose host is 127.0.0.1, [::1] or localhost: SA_OK or SA_ERR_CONFIG.
 * trust_url_resolve resolves a list's location against the URL of the list
 * that named it: an absolute URL is kept, a relative path (no "..", no
 * leading '/') replaces the last segment of base; the result is new
 * (caller frees). trust_fetch reads the document at url, at most max bytes
 * (more is SA_ERR_BODY_TOO_LARGE, checked while reading), with timeout_ms
 * for https, into a new buffer (caller frees). flags: TRUST_FETCH_HTTP_LOOPBACK
 * takes loopback http:// URLs (trust_url_check's allow_http_loopback);
 * TRUST_FETCH_PUBLIC_ONLY, for URLs a third party chose, connects only to
 * public unicast addresses (core/ipaddr.h; loopback too with the other
 * flag), judged after name resolution, and never through a proxy. Other
 * failures: SA_ERR_UNAVAILABLE, SA_ERR_TIMEOUT, SA_ERR_CONFIG (URL refused),
 * SA_ERR_FORBIDDEN (address refused); why gets a reason.
 */
#define TRUST_FETCH_HTTP_LOOPBACK 0x1u
#define TRUST_FETCH_PUBLIC_ONLY 0x2u
enum sa_err trust_url_check(const char *url, int allow_http_loopback);
enum sa_err trust_url_resolve(const char *base, const char *ref, char **out);
/*
 * A fetcher holds what every fetch of a process shares: the PEM bundle of
 * the CAs trusted for https:// list URLs (ca_file; "" or NULL: the system
 * store; SA_ERR_CONFIG when it is TRUST_MAX_CA_FILE bytes or longer) and
 * whether fetching is cancelled. The server makes one at start and frees it
 * after the trust handles that use it; trust_fetcher_free ignores NULL.
 * trust_fetcher_cancel ends f's running fetches and refuses later ones with
 * SA_ERR_SHUTTING_DOWN (at shutdown, so no one waits for a slow server).
 * trust_fetch with f NULL uses the system store and is never cancelled.
 */
#define TRUST_MAX_CA_FILE 4096
struct trust_fetcher;
enum sa_err trust_fetcher_new(const char *ca_file, struct trust_fetcher **out);
void trust_fetcher_free(struct trust_fetcher *f);
void trust_fetcher_cancel(struct trust_fetcher *f);

enum sa_err trust_fetch(struct trust_fetcher *f, const char *url, size_t max,
			long timeout_ms, unsigned flags, unsigned char **out,
			size_t *outlen, char *why, size_t whylen);

/*
 * The demo environment (trust_demo*.c). trust_demo_build writes a complete
 * environment into dir (created 0700): keys in dir/private (0600), the
 * pinned governance certificate dir/governance.pem, the published tree in
 * dir/lists (governance, scheme, TSL, VRL, CA certificate, CRL, signer
 * certificates), the manifest description, a sample seal and
 * dir/trust.conf. opts (may be NULL) bends it for negative tests; times of 0
 * take the defaults relative to opts->now (0: the current time).
 */
struct trust_demo_opts {
	int64_t now;
	int64_t list_next_update;   /* default now + 365 days */
	int64_t ca_not_before;	    /* default now - 1 day */
	int64_t ca_not_after;	    /* default now + 10 years */
	int64_t signer_not_before;  /* default now - 1 day */
	int64_t signer_not_after;   /* default now + 2 years */
	int64_t crl_next_update;    /* default now + 365 days */
	int revoke_signer;	    /* put the signer on the CRL */
	int no_usage_list;	    /* signer without UsageList */
	const char *usage_manifest; /* UsageList entry, default "0A0001" */
	const char *
	    scheme_manifests; /* scheme scope, default "0A0001 0B0001 DC5E03" */
	/* The DEMO CA's CertIdForms, default "serial16 serial20"; a signer
	 * whose id no declared serial form admits gets it as its CN. */
	const char *cert_id_forms;
};

#define TRUST_DEMO_CA_ID "DEMO"
#define TRUST_DEMO_CERT_ID "0001"
#define TRUST_DEMO_BIOSEAL_CERT_ID "B0001" /* reference form serial20 */
#define TRUST_DEMO_IAC "DEMO"
/* The demo's ICAO seal signer: signer identifier (C=UT, CN=DM) and
 * certificate reference (its serial number in hex), and the usage id of
 * the document type it signs (DC + emergency travel document 5E 03). */
#define TRUST_DEMO_ICAO_SIGNER "UTDM"
#define TRUST_DEMO_ICAO_REF "A1"
#define TRUST_DEMO_ICAO_SERIAL 0xA1
#define TRUST_DEMO_ICAO_USAGE "DC5E03"

enum sa_err trust_demo_build(const char *dir,
			     const struct trust_demo_opts *opts);

/*
 * trust_demo_renew re-signs, with the next sequence number and issued now,
 * every document of the demo environment in dir written more than half its
 * maximum age ago (max_age as SEALAUTH_TRUST_MAX_AGE_*: governance, scheme,
 * TSL, VRL, CRL; 0 is no maximum), and at least once a day, so a demo
 * server that runs for months never serves lists that aged out; *renewed
 * (may be NULL) is how many it re-signed. For the demo only: real lists
 * are their issuers' business.
 */
enum sa_err trust_demo_renew(const char *dir, int64_t now,
			     const long max_age[5], int *renewed);

/*
 * trust_demo_ensure creates the demo environment in dir unless one is
 * there already (dir/lists/governance.xml and dir/governance.pem exist);
 * *created (may be NULL) says whether it did. `sealauth serve` calls it on
 * the embedded default when no governance URL is configured.
 */
enum sa_err trust_demo_ensure(const char *dir, int *created);

/*
 * trust_demo_issue signs a seal of our profile with the demo signer of dir
 * at signing_time; the seal bytes go to a new buffer (caller frees).
 */
enum sa_err trust_demo_issue(const char *dir, const struct vds_claims *claims,
			     int64_t signing_time, unsigned char **out,
			     size_t *outlen);

/*
 * trust_demo_issue_icao signs an ICAO Doc 9303-13 seal of an emergency
 * travel document of Utopia ("UTO", 5E 03) with the demo ICAO signer of
 * dir (UTDM, reference A1), issued and signed on the day of signing_time:
 * its MRZ (TD2) carries the names, document number, nationality, birth and
 * expiry dates of claims (expiry required). claims->token_id must be empty:
 * the decoder derives it ("UTO-" and the document number). SA_ERR_CONFIG
 * when dir has no ICAO signer, SA_ERR_VALIDATION when a value does not fit
 * an MRZ.
 */
enum sa_err trust_demo_issue_icao(const char *dir,
				  const struct vds_claims *claims,
				  int64_t signing_time, unsigned char **out,
				  size_t *outlen);

/*
 * trust_demo_issue_bioseal signs a seal in the BioSeal layout (9-character
 * ids DEMO + B0001, our local identity manifest 0B0001, claims as a
 * sequence) with the demo BioSeal signer of dir. claims->token_id must be
 * empty: the decoder derives it ("DEMO-" and the document number).
 * SA_ERR_CONFIG when dir has no BioSeal signer.
 */
enum sa_err trust_demo_issue_bioseal(const char *dir,
				     const struct vds_claims *claims,
				     int64_t signing_time, unsigned char **out,
				     size_t *outlen);

/*
 * The demo federation. trust_demo_add_authority adds issuing authority
 * code (1 to 16 of [0-9A-Z], not DEMO) to the demo environment in dir: its
 * scheme operator, TSL operator, CA (id trust_demo_ca_id) and signer, its
 * scheme list, TSL, CRL and VRL, and a pointer in the governance list,
 * which is re-signed with the next sequence number; prefix (may be NULL)
 * is the token id prefix the governance list declares for it. Keys go to
 * dir/private/CODE/. SA_ERR_CONFLICT if the authority or its CA id exists.
 * trust_demo_issue_as and trust_demo_revoke_as are trust_demo_issue and
 * trust_demo_revoke for authority code (NULL: DEMO).
 */
void trust_demo_ca_id(const char *code, char out[5]);
enum sa_err trust_demo_add_authority(const char *dir, const char *code,
				     const char *prefix, int64_t now);
enum sa_err trust_demo_issue_as(const char *dir, const char *code,
				const struct vds_claims *claims,
				int64_t signing_time, unsigned char **out,
				size_t *outlen);
enum sa_err trust_demo_revoke_as(const char *dir, const char *code,
				 const struct vds *seal, int64_t now,
				 uint64_t *sequence);

/*
 * trust_demo_resign re-signs one document of the demo environment with the
 * next sequence number (CRL: cRLNumber), issued at now (0: the current
 * time): kind is "governance", "scheme", "tsl", "vrl" or "crl"; code names
 * the authority (NULL: DEMO). *sequence (may be NULL) gets the new number.
 */
enum sa_err trust_demo_resign(const char *dir, const char *kind,
			      const char *code, int64_t now,
			      uint64_t *sequence);

/*
 * trust_demo_revoke adds the seal's fingerprint to the demo VRL of dir and
 * re-signs it with the TSL operator key (sequence + 1, issued now).
 * *sequence (may be NULL) gets the new sequence number.
 */
enum sa_err trust_demo_revoke(const char *dir, const struct vds *seal,
			      int64_t now, uint64_t *sequence);

#endif
