/*
 * webauthn.h - the WebAuthn relying party of the administration: checks of
 * clientDataJSON, authenticator data and attestation objects, and the
 * registration and authentication ceremonies on libfido2 and libcbor.
 *
 * Every byte from the browser is bounded and parsed here before a library
 * sees it: CBOR is walked by cbor_check (lengths, nesting, no indefinite
 * items) before libcbor allocates anything. Credentials are ES256 (P-256)
 * or EdDSA (Ed25519); attestation "none" or "packed" self attestation (an
 * attestation certificate chain is refused: we keep no vendor roots).
 * User presence and user verification are both required.
 */
#ifndef SEALAUTH_WEBAUTHN_H
#define SEALAUTH_WEBAUTHN_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

#define WEBAUTHN_RP_ID_MAX 253
#define WEBAUTHN_ORIGIN_MAX 512
#define WEBAUTHN_CRED_ID_MAX 1023
#define WEBAUTHN_PUBKEY_MAX 64 /* P-256 x||y, or an Ed25519 key (32) */
#define WEBAUTHN_CLIENTDATA_MAX 4096
#define WEBAUTHN_ATTOBJ_MAX 16384
#define WEBAUTHN_AUTHDATA_MAX 8192
#define WEBAUTHN_SIG_MAX 256
#define WEBAUTHN_CHALLENGE_LEN 32 /* random bytes; 43 in base64url */
#define WEBAUTHN_CBOR_DEPTH 8

/* COSE algorithm identifiers. */
#define WEBAUTHN_ES256 (-7)
#define WEBAUTHN_EDDSA (-8)

/* Authenticator data flags. */
#define WEBAUTHN_UP 0x01
#define WEBAUTHN_UV 0x04
#define WEBAUTHN_AT 0x40
#define WEBAUTHN_ED 0x80

/* The relying party: its id (the public URL's host) and its one origin. */
struct webauthn_rp {
	char rp_id[WEBAUTHN_RP_ID_MAX + 1];
	char origin[WEBAUTHN_ORIGIN_MAX + 1];
	unsigned char rp_id_hash[32];
};

/*
 * webauthn_rp_init derives the RP id and origin from a public URL
 * (scheme://host[:port][/path]); the scheme must be https, or http on a
 * loopback host. On failure why says what is wrong with the URL.
 */
enum sa_err webauthn_rp_init(struct webauthn_rp *rp, const char *public_url,
			     char *why, size_t whylen);

/* Parsed authenticator data; the credential part only when AT is set. */
struct webauthn_authdata {
	unsigned char rp_id_hash[32];
	uint8_t flags;
	uint32_t sign_count;
	int has_cred;
	unsigned char aaguid[16];
	unsigned char cred_id[WEBAUTHN_CRED_ID_MAX];
	size_t cred_id_len;
	int alg; /* WEBAUTHN_ES256 or WEBAUTHN_EDDSA */
	unsigned char pubkey[WEBAUTHN_PUBKEY_MAX];
	size_t pubkey_len;
};

/*
 * webauthn_parse_authdata parses n bytes of authenticator data: the fixed
 * 37 bytes, the attested credential (its COSE key must be an ES256 or
 * EdDSA key in the canonical members) when AT is set, the extensions map
 * when ED is set, and nothing after. Refusals are SA_ERR_WEBAUTHN with why.
 */
enum sa_err webauthn_parse_authdata(const unsigned char *p, size_t n,
				    struct webauthn_authdata *out, char *why,
				    size_t whylen);

/*
 * cbor_check walks one CBOR data item at p (n bytes available) without
 * allocating: definite lengths only, each within the bytes that remain,
 * nesting at most WEBAUTHN_CBOR_DEPTH, no tags. *used receives the item's
 * length. SA_ERR_WEBAUTHN for anything else.
 */
enum sa_err webauthn_cbor_check(const unsigned char *p, size_t n, size_t *used);

/* A parsed attestation object; authdata points into the input. */
struct webauthn_attobj {
	char fmt[16];
	const unsigned char *authdata;
	size_t authdata_len;
	unsigned char *attstmt; /* attStmt re-serialised (malloc'd) */
	size_t attstmt_len;
	int stmt_alg;	  /* "alg" of a packed statement */
	int stmt_entries; /* members of attStmt */
	int has_x5c;
	const unsigned char *sig; /* into attstmt */
	size_t sig_len;
};

/* webauthn_parse_attobj splits an attestationObject (fmt, authData,
 * attStmt); free with webauthn_attobj_free. */
enum sa_err webauthn_parse_attobj(const unsigned char *p, size_t n,
				  struct webauthn_attobj *out, char *why,
				  size_t whylen);
void webauthn_attobj_free(struct webauthn_attobj *a);

/*
 * webauthn_check_clientdata checks clientDataJSON: type ("webauthn.create"
 * or "webauthn.get"), challenge (exactly the base64url text issued),
 * origin (the RP's), crossOrigin absent or false.
 */
enum sa_err webauthn_check_clientdata(const struct webauthn_rp *rp,
				      const char *type, const char *challenge,
				      const unsigned char *cdj, size_t n,
				      char *why, size_t whylen);

/* A credential as the RP keeps it. */
struct webauthn_credential {
	unsigned char id[WEBAUTHN_CRED_ID_MAX];
	size_t id_len;
	int alg;
	unsigned char pubkey[WEBAUTHN_PUBKEY_MAX];
	size_t pubkey_len;
	uint32_t sign_count;
	unsigned char aaguid[16];
	char fmt[16];
};

/*
 * webauthn_register verifies a registration response (clientDataJSON and
 * attestationObject, decoded) against the challenge issued for it and
 * fills *out with the new credential.
 */
enum sa_err webauthn_register(const struct webauthn_rp *rp,
			      const char *challenge, const unsigned char *cdj,
			      size_t cdj_len, const unsigned char *attobj,
			      size_t attobj_len,
			      struct webauthn_credential *out, char *why,
			      size_t whylen);

/*
 * webauthn_assert verifies an authentication response with a stored
 * credential: clientDataJSON, rpIdHash, UP and UV, and the signature over
 * authData || SHA-256(clientDataJSON). *count receives the authenticator's
 * signature counter; the caller compares it with the stored one
 * (webauthn_counter_ok) and stores it.
 */
enum sa_err webauthn_assert(const struct webauthn_rp *rp, const char *challenge,
			    const unsigned char *cdj, size_t cdj_len,
			    const unsigned char *authdata, size_t authdata_len,
			    const unsigned char *sig, size_t sig_len,
			    const struct webauthn_credential *cred,
			    uint32_t *count, char *why, size_t whylen);

/*
 * webauthn_counter_ok tells whether a counter may follow the stored one: it
 * must grow, unless the authenticator keeps no counter (both zero). A
 * counter that does not grow marks a cloned authenticator.
 */
int webauthn_counter_ok(uint32_t stored, uint32_t seen);

#endif
