/*
 * saml_sp.h - a SAML service provider's settings: the "saml" object of a
 * relying party in the registry (login/services.h keeps it opaque), its
 * schema and validation, and its import from the SP's metadata XML.
 *
 * docs/saml.md documents every member. The settings are parsed into a
 * struct saml_sp whenever a message names the SP, so a registry that
 * changes while the server runs is always read as it is now.
 */
#ifndef SEALAUTH_SAML_SP_H
#define SEALAUTH_SAML_SP_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/errors.h"
#include "trust/xmlenc.h"

struct services;
struct service;

#define SAML_URL_MAX 1024	 /* entity ids and endpoint URLs, bytes */
#define SAML_ACS_MAX 16		 /* assertion consumer services of one SP */
#define SAML_CERTS_MAX 4	 /* signing certificates (rotation) */
#define SAML_CERT_TEXT_MAX 16384 /* PEM or base64 text of one certificate */
#define SAML_ATTRS_MAX 32	 /* attribute mappings */
#define SAML_ATTR_NAME_MAX 256	 /* bytes of an attribute Name */

enum saml_binding {
	SAML_BINDING_REDIRECT = 1,
	SAML_BINDING_POST = 2,
};

enum saml_nameid {
	SAML_NAMEID_PERSISTENT = 1, /* pairwise, stable per SP */
	SAML_NAMEID_TRANSIENT = 2,  /* fresh for every assertion */
};

enum saml_sigalg {
	SAML_SIG_ECDSA_SHA256 = 1,
	SAML_SIG_RSA_SHA256 = 2,
};

enum saml_name_format {
	SAML_NF_URI = 1,
	SAML_NF_BASIC = 2,
	SAML_NF_UNSPECIFIED = 3,
};

struct saml_acs {
	char url[SAML_URL_MAX + 1];
	int index;
	int is_default;
};

/* The claim name under which an assertion carries the issuing authority
 * that vouched for the person (mappable like the identity claims). */
#define SAML_CLAIM_AUTHORITY "issuingAuthority"

struct saml_attr {
	char claim[32]; /* a claim name of SPEC §5 (claims.h) */
	char name[SAML_ATTR_NAME_MAX + 1];
	char friendly[65]; /* "" when none */
	enum saml_name_format format;
};

/*
 * One SP, parsed from its settings. The certificates and keys are owned by
 * the struct (saml_sp_free). service_id names the registry entry; scopes
 * are the service's allowed scopes (copied).
 */
struct saml_sp {
	char service_id[65];
	char service_name[129];
	char entity_id[SAML_URL_MAX + 1];
	size_t nacs;
	struct saml_acs acs[SAML_ACS_MAX];
	char slo_url[SAML_URL_MAX + 1]; /* "" when the SP has no SLO */
	char slo_response_url[SAML_URL_MAX + 1];
	enum saml_binding slo_binding;
	size_t ncerts;
	X509 *certs[SAML_CERTS_MAX];
	EVP_PKEY *keys[SAML_CERTS_MAX]; /* the certificates' public keys */
	X509 *enc_cert;			/* NULL when none */
	int encrypt;			/* EncryptedAssertion to enc_cert */
	enum xmlenc_cipher enc_cipher;
	int want_signed_requests;
	enum saml_sigalg sigalg;
	int sign_response;
	int sign_assertion;
	enum saml_nameid nameid;
	size_t nattrs;
	struct saml_attr attrs[SAML_ATTRS_MAX];
	size_t nscopes;
	char scopes[32][65];
};

/*
 * saml_sp_parse validates a service's "saml" object and fills a new SP
 * (caller frees with saml_sp_free). vflags are the schema flags (http://
 * loopback URLs are taken with SCHEMA_LOOPBACK_HTTP). On a bad setting it
 * returns SA_ERR_CONFIG with why naming the member ("saml.acs[1].url: ...").
 */
enum sa_err saml_sp_parse(const struct service *svc, unsigned int vflags,
			  struct saml_sp **out, char *why, size_t whylen);
void saml_sp_free(struct saml_sp *sp);

/*
 * saml_sp_checker is the registry's check of a record's "saml" object
 * (services_set_checker): every write of the admin API and the seeding
 * passes it. http:// loopback URLs are accepted (a development SP). An
 * entity id that another service (enabled or not) already has is
 * SA_ERR_CONFLICT: an SP is found by its entity id, so two records with one
 * would make which ACS receives an assertion a matter of order.
 */
enum sa_err saml_sp_checker(const json_t *settings, const struct service *svc,
			    const struct services *current, char *why,
			    size_t whylen);

/*
 * saml_sp_find parses the SP whose entity id is entity_id (caller frees);
 * SA_ERR_SAML_UNKNOWN_SP when no service has it, SA_ERR_CONFIG when its
 * settings are broken.
 */
enum sa_err saml_sp_find(const struct services *svcs, const char *entity_id,
			 unsigned int vflags, struct saml_sp **out);

/*
 * saml_sp_acs resolves the ACS of an AuthnRequest: url (NULL when the
 * request gave none) must be registered exactly; else index (-1 when none)
 * must exist; else the default (or the only, or the first) ACS. NULL when
 * the request names one the SP did not register.
 */
const struct saml_acs *saml_sp_acs(const struct saml_sp *sp, const char *url,
				   int index);

/* saml_sp_attr_default returns the default attribute of a claim, or NULL. */
const struct saml_attr *saml_sp_attr_default(const char *claim);

/*
 * saml_sp_import reads an SP's metadata XML (an EntityDescriptor, or an
 * EntitiesDescriptor holding exactly one SP) and returns the settings object
 * it implies (caller decrefs): entity id, HTTP-POST ACS with their indexes
 * and default, the SLO endpoint (HTTP-POST preferred, then HTTP-Redirect),
 * signing and encryption certificates, wantSignedRequests from
 * AuthnRequestsSigned, signAssertion from WantAssertionsSigned, the first
 * persistent or transient NameID format, and the default attribute mapping.
 * The result passes saml_sp_parse. SA_ERR_SAML_REQUEST with why otherwise.
 */
enum sa_err saml_sp_import(const unsigned char *xml, size_t n, json_t **out,
			   char *why, size_t whylen);

/*
 * saml_sp_import_signed is saml_sp_import for metadata that must be signed
 * by signer (NULL: no check): the signature on the metadata's root, by
 * reference to its ID (or over the whole document when the root has no
 * ID), must verify with signer's key and no other; the settings are read
 * from that verified document. SA_ERR_SAML_SIGNATURE with why otherwise.
 * Either way the result has passed the registry's checks (saml_sp_parse).
 */
enum sa_err saml_sp_import_signed(const unsigned char *xml, size_t n,
				  X509 *signer, json_t **out, char *why,
				  size_t whylen);

/*
 * saml_sp_import_report is saml_sp_import_signed that also says what the
 * metadata held and the settings leave out: *warnings (new array of
 * sentences; NULL for no report) names each, with why: an ACS binding we
 * do not answer on, an md:EncryptionMethod algorithm we do not produce, an
 * encryption certificate left out because the SP accepts no encryption we
 * can send. *is_signed (may be NULL) tells whether the root carried a
 * ds:Signature (checked only when signer is given).
 *
 * Certificates: a KeyDescriptor without "use" holds a key for signing and
 * for encryption (SAML metadata 2.4.1.1). The encryption certificate is
 * the first use="encryption" one, else the first without "use" that can
 * receive an encrypted key. Its md:EncryptionMethod list, when it has one,
 * limits what we may send: encryptionAlgorithm becomes the strongest block
 * cipher we support that the SP lists.
 */
enum sa_err saml_sp_import_report(const unsigned char *xml, size_t n,
				  X509 *signer, json_t **out, json_t **warnings,
				  int *is_signed, char *why, size_t whylen);

/*
 * saml_sp_cert_info describes a certificate of the settings (PEM or base64
 * DER) for an admin to compare with what the SP's operator sees: {"sha256"
 * (colon-separated upper-case hex of the DER, as `openssl x509
 * -fingerprint -sha256` prints it), "subject", "notAfter" (unix seconds),
 * "key" ("RSA 2048", "EC P-256")} (new), or NULL when it does not parse.
 */
json_t *saml_sp_cert_info(const char *text);

/*
 * saml_cert_from_text reads one certificate given as a PEM block or as the
 * bare base64 of its DER (caller frees); NULL when it is neither.
 */
X509 *saml_cert_from_text(const char *text);

/* SAML_SHA256_TEXT is the length of such a fingerprint's text. */
#define SAML_SHA256_TEXT 95

#endif
