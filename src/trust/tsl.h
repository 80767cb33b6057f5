/*
 * tsl.h - ETSI TS 119 612 trust lists: parse, verify, build.
 *
 * One parser serves the three kinds of list in our trust chain: the
 * governance list and scheme lists (lists of lists: their content is in
 * PointersToOtherTSL) and TSLs (their content is in TrustServiceProviders).
 * Parsing extracts the fields the trust chain needs into the structs below;
 * it decides nothing about trust. tsl_verify checks the list signature
 * against pinned keys (xmldsig.h). docs/trust-lists.md lists every field and
 * decision.
 */
#ifndef SEALAUTH_TSL_H
#define SEALAUTH_TSL_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/errors.h"
#include "trust/xmldsig.h"

#define TSL_NS "http://uri.etsi.org/02231/v2#"

/* Bounds: a list beyond any of them is refused as malformed. */
#define TSL_MAX_POINTERS 256   /* OtherTSLPointer elements */
#define TSL_MAX_TSPS 1024      /* TrustServiceProvider elements */
#define TSL_MAX_SERVICES 8192  /* TSPService elements, whole list */
#define TSL_MAX_CERTS 64       /* X509Certificate per pointer or service */
#define TSL_MAX_KV 512	       /* (name, value) pairs per pointer or service */
#define TSL_MAX_HISTORY 1024   /* ServiceHistoryInstance per service */
#define TSL_MAX_TEXT 16384     /* bytes of one text value */
#define TSL_MAX_CERT_B64 65536 /* base64 characters of one certificate */
#define TSL_MAX_DEPTH 8	       /* nesting below OtherInformation/Extension */

/* A certificate as DER bytes (not parsed here). */
struct tsl_cert {
	unsigned char *der;
	size_t len;
};

/*
 * A generic (name, value) pair from AdditionalInformation/OtherInformation
 * or ServiceInformationExtensions/Extension. name is the path of local
 * names from the element under OtherInformation (or Extension) down to the
 * text leaf, joined by '/', e.g. "SchemeOperatorName/Name"; ns is the
 * namespace URI of that first element (NULL if none). critical is the
 * Extension's Critical attribute (always 0 for OtherInformation).
 */
struct tsl_kv {
	char *ns;
	char *name;
	char *value;
	int critical;
};

/* One OtherTSLPointer of a list of lists. */
struct tsl_pointer {
	char *location;		/* TSLLocation */
	struct tsl_cert *certs; /* ServiceDigitalIdentities X509Certificate */
	size_t ncerts;
	struct tsl_kv *info; /* every OtherInformation leaf, in order */
	size_t ninfo;
	/* Filled by tsl_parse from info (first occurrence); NULL if absent.
	 * tsl_build ignores them and writes info only. */
	const char *tsl_type;
	const char *territory;
	const char *mime_type;
};

/* One TrustServiceProvider; its services are a run of tsl->services. */
struct tsl_tsp {
	char *name; /* TSPInformation/TSPName, first Name */
	size_t first_service;
	size_t nservices;
};

/*
 * One TSPService: its current ServiceInformation. Fields missing from the
 * list are NULL (or has_status_start 0): the parser keeps such services and
 * a consumer skips what lacks the fields it needs. History instances are
 * counted, not kept.
 */
struct tsl_service {
	size_t tsp;	      /* index into tsl->tsps */
	char *type;	      /* ServiceTypeIdentifier */
	char *name;	      /* ServiceName, first Name */
	char *status;	      /* ServiceStatus */
	int64_t status_start; /* StatusStartingTime, unix seconds */
	int has_status_start;
	struct tsl_cert *certs; /* ServiceDigitalIdentity X509Certificate */
	size_t ncerts;
	struct tsl_kv *ext; /* ServiceInformationExtensions leaves */
	size_t next;
	size_t nhistory;       /* ServiceHistoryInstance elements */
	size_t nhistory_certs; /* X509Certificate in their identities */
};

/*
 * A parsed list. doc is the parsed document, kept for tsl_verify (NULL in a
 * struct filled by hand for tsl_build). Strings are NUL-terminated UTF-8,
 * trimmed of surrounding whitespace.
 */
struct tsl {
	xmlDocPtr doc;
	unsigned int version; /* TSLVersionIdentifier */
	uint64_t sequence;    /* TSLSequenceNumber */
	char *type;	      /* TSLType */
	char *territory;      /* SchemeTerritory, NULL if absent */
	char *operator_name;  /* SchemeOperatorName, first Name; may be NULL */
	int64_t issued;	      /* ListIssueDateTime, unix seconds */
	int64_t next_update;  /* NextUpdate/dateTime, unix seconds */
	int has_next_update;  /* 0 for a closed list (no NextUpdate date) */
	struct tsl_pointer *pointers;
	size_t npointers;
	struct tsl_tsp *tsps;
	size_t ntsps;
	struct tsl_service *services;
	size_t nservices;
};

/*
 * tsl_parse parses n bytes of an untrusted TS 119 612 list (at most
 * XMLDSIG_MAX_DOC; see xmldsig_parse for the parser's safety rules) into a
 * new struct tsl (caller frees with tsl_free). The root must be
 * TrustServiceStatusList with SchemeInformation holding TSLVersionIdentifier,
 * TSLSequenceNumber, TSLType and ListIssueDateTime; single-valued elements
 * must not repeat; every bound above holds. Parsing does not verify the
 * signature. On failure it returns SA_ERR_TRUST_LIST (or SA_ERR_NOMEM) with
 * a reason in why.
 */
enum sa_err tsl_parse(const unsigned char *xml, size_t n, struct tsl **out,
		      char *why, size_t whylen);

/* tsl_free releases a list from tsl_parse (or a hand-built one). */
void tsl_free(struct tsl *t);

/*
 * tsl_verify checks the list's enveloped signature against the pinned keys
 * with xmldsig_verify (same result and return conventions). A list without
 * its document (built by hand) is refused with SA_ERR_INTERNAL.
 */
enum sa_err tsl_verify(struct tsl *t, EVP_PKEY *const *pinned, size_t npinned,
		       struct xmldsig_result *res);

/*
 * tsl_build writes the list described by in (doc ignored) as a TS 119 612
 * document, signs it with key (certificate cert in KeyInfo, may be NULL)
 * through xmldsig_sign, and returns the serialised UTF-8 bytes in *out
 * (caller frees with free). Pointer info and service extensions are written
 * one element per (name, value) pair, nested along the name's '/' path, in
 * namespace ns (the TSL namespace when NULL); each Extension holds one pair.
 * The output is what tsl_parse reads back, field for field.
 */
enum sa_err tsl_build(const struct tsl *in, EVP_PKEY *key, X509 *cert,
		      unsigned char **out, size_t *outlen);

/*
 * tsl_parse_time parses an xsd:dateTime with a "Z" or +hh:mm/-hh:mm zone
 * (fractional seconds ignored) into unix seconds. A time without a zone is
 * refused: a list's times are instants.
 */
enum sa_err tsl_parse_time(const char *s, int64_t *out);

#endif
