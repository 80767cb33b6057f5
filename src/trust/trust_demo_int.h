/*
 * trust_demo_int.h - what the parts of the demo environment share, private
 * to them: trust_demo.c builds it and adds authorities, trust_demo_issue.c
 * signs seals with its signers, trust_demo_resign.c re-signs and renews
 * its documents, and trust_demo_pki.c holds the keys, certificates, files
 * and signed lists all three are made of.
 */
#ifndef SEALAUTH_TRUST_DEMO_INT_H
#define SEALAUTH_TRUST_DEMO_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/errors.h"
#include "trust/tsl.h"
#include "trust/vrl.h"

#define DAY 86400

/* A key with its certificate; an ICAO seal signer has a country. */
struct demo_party {
	EVP_PKEY *key;
	X509 *cert;
	const char *country; /* subject C; then the serial is low exactly */
};

/*
 * The parties of one issuing authority (its scheme operator, TSL operator,
 * CA and seal signer) and the governance above every authority. Zero it
 * before use; demo_authority_free frees what it holds.
 */
struct demo_authority {
	struct demo_party gov, scheme, tslop, ca, signer;
};

/* ---- Parties (trust_demo_pki.c) ----------------------------------------- */

/* demo_party_new gives p a new P-256 key and no certificate. */
enum sa_err demo_party_new(struct demo_party *p);
void demo_party_free(struct demo_party *p);
void demo_authority_free(struct demo_authority *a);
/*
 * demo_make_cert issues p's certificate CN=cn, signed by issuer (NULL:
 * self-signed), valid from nb to na, with low as the low 20 bits of its
 * serial and, when nusage > 0, a UsageList.
 */
enum sa_err demo_make_cert(struct demo_party *p, const char *cn,
			   const struct demo_party *issuer, unsigned int low,
			   int64_t nb, int64_t na, int is_ca,
			   const unsigned char (*usage)[3], size_t nusage);
/* demo_party_read reads a key and a certificate under dir; demo_party_of
 * the party name (scheme, tsl, ca) of authority code. */
enum sa_err demo_party_read(const char *dir, const char *key_rel,
			    const char *cert_rel, struct demo_party *p);
enum sa_err demo_party_of(const char *dir, const char *code, const char *name,
			  struct demo_party *p);
/* demo_code_ok tells whether code can name a demo authority (an IAC). */
int demo_code_ok(const char *code);

/* ---- Files (trust_demo_pki.c) ------------------------------------------- */

/* demo_path writes dir/rel into out (PATH_MAX). */
enum sa_err demo_path(char *out, const char *dir, const char *rel);
/* demo_auth_rel writes the path of authority code's file name under top. */
void demo_auth_rel(char *out, size_t n, const char *top, const char *code,
		   const char *name);
enum sa_err demo_write_bytes(const char *dir, const char *rel, const void *data,
			     size_t n);
enum sa_err demo_write_cert(const char *dir, const char *rel, X509 *x);
/* demo_write_key writes a private key, mode 0600; demo_read_key reads one
 * (NULL on failure). Memory copies are wiped. */
enum sa_err demo_write_key(const char *dir, const char *rel, EVP_PKEY *k);
EVP_PKEY *demo_read_key(const char *dir, const char *rel);

/* ---- Signed documents (trust_demo_pki.c) -------------------------------- */

/* demo_der_of is x in DER (the caller OPENSSL_frees .der; NULL on
 * failure). */
struct tsl_cert demo_der_of(X509 *x);
/* demo_list_init starts a list of version 5, sequence 1, issued now and
 * next updated at next. */
void demo_list_init(struct tsl *in, int64_t now, int64_t next);
/* demo_list_read reads and parses the list at dir/rel into *out (tsl_free)
 * and the bytes it was parsed from into *xml (free). */
enum sa_err demo_list_read(const char *dir, const char *rel,
			   unsigned char **xml, struct tsl **out);
/* demo_build_list signs in with p and writes it to dir/rel. */
enum sa_err demo_build_list(const char *dir, const char *rel,
			    const struct tsl *in, const struct demo_party *p);
/* demo_build_crl writes the CRL of CA ca_id (lists/ca/CAID.crl). */
enum sa_err demo_build_crl(const char *dir, const char *ca_id,
			   const struct demo_party *ca, X509 *revoked,
			   uint64_t crl_number, int64_t now, int64_t next);
/* demo_write_vrl signs v for authority iac and writes lists/vrl-IAC.xml. */
enum sa_err demo_write_vrl(const char *dir, const char *iac, struct vrl *v,
			   const struct demo_party *op);
/* demo_write_authority_lists writes the scheme list and TSL of code. */
enum sa_err demo_write_authority_lists(const char *dir, const char *code,
				       const char *ca_id, const char *manifests,
				       const char *forms, const char *icao_ids,
				       int64_t now, int64_t next,
				       const struct demo_authority *a);
/* demo_gov_pointer fills a governance pointer to code's scheme list. */
void demo_gov_pointer(struct tsl_pointer *ptr, struct tsl_kv *info, char *loc,
		      size_t locn, char *opname, size_t opn, const char *code,
		      const char *prefix, struct tsl_cert *scheme_der);

/* ---- Re-signing (trust_demo_resign.c) ----------------------------------- */

/*
 * demo_resign_list re-signs the list at rel with p, the next sequence
 * number, issued now, after edit (may be NULL) changed it; undo gives back
 * what edit lent the list before it is freed.
 */
enum sa_err demo_resign_list(const char *dir, const char *rel,
			     const struct demo_party *p, int64_t now,
			     uint64_t *sequence,
			     enum sa_err (*edit)(struct tsl *l, void *arg),
			     void (*undo)(struct tsl *l, void *arg), void *arg);

#endif
