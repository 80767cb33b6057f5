/*
 * vrl.h - the seal revocation list (VRL): a signed list of revoked seals.
 *
 * A VRL is published beside each TSL and signed by that TSL's operator with
 * an enveloped XML-DSig signature (the same profile as the trust lists,
 * xmldsig.h). Each entry is the fingerprint of a revoked seal: SHA-256 of
 * its signed bytes (vds_fingerprint), as 64 lowercase hex digits.
 *
 *   <SealRevocationList xmlns="urn:sealauth:vrl:1">
 *     <IssuingAuthority>DEMO</IssuingAuthority>  (the IAC it belongs to)
 *     <SequenceNumber>3</SequenceNumber>
 *     <IssueTime>2025-01-01T00:00:00Z</IssueTime>
 *     <NextUpdate>2025-01-02T00:00:00Z</NextUpdate>
 *     <Revoked>9f86d0...</Revoked>            (zero or more)
 *     <ds:Signature>...</ds:Signature>
 *   </SealRevocationList>
 *
 * docs/trust.md describes the format and its rules.
 */
#ifndef SEALAUTH_VRL_H
#define SEALAUTH_VRL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/errors.h"

#define VRL_NS "urn:sealauth:vrl:1"
#define VRL_MAX_ENTRIES 65536

/*
 * A VRL. fps holds n fingerprints sorted ascending without duplicates (the
 * parser sorts; vrl_build sorts its own copy).
 */
struct vrl {
	char authority[17]; /* IssuingAuthority, "" when the list has none */
	uint64_t sequence;
	int64_t issued;
	int64_t next_update;
	unsigned char (*fps)[32];
	size_t n;
};

/*
 * vrl_load parses n bytes of an untrusted VRL and verifies its signature
 * against the npinned public keys (caller keeps them), then sets *out to a
 * new struct vrl (caller frees with vrl_free). Structure is checked first:
 * a document outside the format is SA_ERR_TRUST_LIST; a signature no pinned
 * key verifies (or none) is SA_ERR_TRUST_LIST_SIG. Duplicate entries are
 * refused as malformed. why (whylen bytes) gets a reason on failure.
 */
enum sa_err vrl_load(const unsigned char *xml, size_t n,
		     EVP_PKEY *const *pinned, size_t npinned, struct vrl **out,
		     char *why, size_t whylen);

/* vrl_contains tells whether the fingerprint is on the list (O(log n)). */
int vrl_contains(const struct vrl *v, const unsigned char fp[32]);

/*
 * vrl_add adds one fingerprint to v, keeping the order; adding one already
 * there is a no-op. SA_ERR_VALIDATION past VRL_MAX_ENTRIES.
 */
enum sa_err vrl_add(struct vrl *v, const unsigned char fp[32]);

/*
 * vrl_build writes v as a VRL document signed with key (cert, may be NULL,
 * goes into KeyInfo for information) into a new buffer (*out, caller frees)
 * of *outlen bytes.
 */
enum sa_err vrl_build(const struct vrl *v, EVP_PKEY *key, X509 *cert,
		      unsigned char **out, size_t *outlen);

/* vrl_free releases a VRL (NULL is fine). */
void vrl_free(struct vrl *v);

#endif
