/*
 * saml_sp.c - a SAML service provider's settings: schema, validation into
 * a struct saml_sp, lookup by entity id, and import from SP metadata.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/schema.h"
#include "core/util.h"
#include "login/services.h"
#include "saml/saml_int.h"
#include "trust/xmldsig.h"

/* ---- Schema ---------------------------------------------------------------
 */

static const struct schema_field acs_fields[] = {
    SCHEMA_STRING("url", SCHEMA_REQUIRED, 1, SAML_URL_MAX,
		  SCHEMA_FMT_HTTPS_URL),
    SCHEMA_INTEGER("index", SCHEMA_REQUIRED, 0, 65535),
    SCHEMA_BOOLEAN("default", SCHEMA_OPTIONAL),
    SCHEMA_ENUM("binding", SCHEMA_OPTIONAL, "HTTP-POST"),
    SCHEMA_END,
};
static const struct schema acs_schema = {acs_fields, NULL};
static const struct schema_field acs_item =
    SCHEMA_OBJECT(NULL, SCHEMA_REQUIRED, &acs_schema);

static const struct schema_field slo_fields[] = {
    SCHEMA_STRING("url", SCHEMA_REQUIRED, 1, SAML_URL_MAX,
		  SCHEMA_FMT_HTTPS_URL),
    SCHEMA_STRING("responseUrl", SCHEMA_OPTIONAL, 1, SAML_URL_MAX,
		  SCHEMA_FMT_HTTPS_URL),
    SCHEMA_ENUM("binding", SCHEMA_REQUIRED, "HTTP-Redirect", "HTTP-POST"),
    SCHEMA_END,
};
static const struct schema slo_schema = {slo_fields, NULL};

static const struct schema_field cert_item = SCHEMA_STRING(
    NULL, SCHEMA_REQUIRED, 64, SAML_CERT_TEXT_MAX, SCHEMA_FMT_NONE);

static const struct schema_field attr_fields[] = {
    SCHEMA_STRING("claim", SCHEMA_REQUIRED, 1, 31, SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("name", SCHEMA_REQUIRED, 1, SAML_ATTR_NAME_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_ENUM("nameFormat", SCHEMA_OPTIONAL, "uri", "basic", "unspecified"),
    SCHEMA_STRING("friendlyName", SCHEMA_OPTIONAL, 1, 64, SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
static const struct schema attr_schema = {attr_fields, NULL};
static const struct schema_field attr_item =
    SCHEMA_OBJECT(NULL, SCHEMA_REQUIRED, &attr_schema);

/* Where imported settings came from (saml_sp_import.c, the admin API):
 * kept with the settings so an admin can later tell a verified import from
 * an unverified one. Nothing reads it to decide anything. */
static const struct schema_field provenance_fields[] = {
    SCHEMA_STRING("source", SCHEMA_REQUIRED, 1, SAML_URL_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_ENUM("signature", SCHEMA_REQUIRED, "verified", "unverified"),
    SCHEMA_STRING("signerSha256", SCHEMA_OPTIONAL, 95, 95,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_STRING("sha256", SCHEMA_OPTIONAL, 64, 64, SCHEMA_FMT_PRINTABLE),
    SCHEMA_INTEGER("importedAt", SCHEMA_OPTIONAL, 0, INT64_MAX),
    SCHEMA_END,
};
static const struct schema provenance_schema = {provenance_fields, NULL};

static const struct schema_field sp_fields[] = {
    SCHEMA_STRING("entityId", SCHEMA_REQUIRED, 1, SAML_URL_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_ARRAY("acs", SCHEMA_REQUIRED, 1, SAML_ACS_MAX, &acs_item),
    SCHEMA_OBJECT("slo", SCHEMA_OPTIONAL, &slo_schema),
    SCHEMA_ARRAY("signingCertificates", SCHEMA_OPTIONAL | SCHEMA_UNIQUE, 0,
		 SAML_CERTS_MAX, &cert_item),
    SCHEMA_STRING("encryptionCertificate", SCHEMA_OPTIONAL, 64,
		  SAML_CERT_TEXT_MAX, SCHEMA_FMT_NONE),
    SCHEMA_BOOLEAN("encryptAssertions", SCHEMA_OPTIONAL),
    SCHEMA_ENUM("encryptionAlgorithm", SCHEMA_OPTIONAL, "aes256-gcm",
		"aes128-gcm", "aes256-cbc", "aes128-cbc"),
    SCHEMA_BOOLEAN("wantSignedRequests", SCHEMA_OPTIONAL),
    SCHEMA_ENUM("signatureAlgorithm", SCHEMA_OPTIONAL, "ecdsa-sha256",
		"rsa-sha256"),
    SCHEMA_BOOLEAN("signResponse", SCHEMA_OPTIONAL),
    SCHEMA_BOOLEAN("signAssertion", SCHEMA_OPTIONAL),
    SCHEMA_ENUM("nameIdFormat", SCHEMA_OPTIONAL, "persistent", "transient"),
    SCHEMA_ARRAY("attributes", SCHEMA_OPTIONAL, 0, SAML_ATTRS_MAX, &attr_item),
    SCHEMA_OBJECT("metadata", SCHEMA_OPTIONAL, &provenance_schema),
    SCHEMA_END,
};
static const struct schema sp_schema = {sp_fields, NULL};

/*
 * The default mapping: the standard OIDs where one exists (X.520, RFC
 * 3739's personal data attributes), our own URNs for the rest. An SP that
 * gives "attributes" gets exactly those instead.
 */
const struct saml_attr saml_default_attrs[] = {
    {"givenName", "urn:oid:2.5.4.42", "givenName", SAML_NF_URI},
    {"familyName", "urn:oid:2.5.4.4", "sn", SAML_NF_URI},
    {"dateOfBirth", "urn:oid:1.3.6.1.5.5.7.9.1", "dateOfBirth", SAML_NF_URI},
    {"nationality", "urn:oid:1.3.6.1.5.5.7.9.4", "countryOfCitizenship",
     SAML_NF_URI},
    {"nameInitial", "urn:oid:2.5.4.43", "initials", SAML_NF_URI},
    {"documentNumber", "urn:sealauth:claim:documentNumber", "documentNumber",
     SAML_NF_URI},
    {"trustLevel", "urn:sealauth:claim:trustLevel", "trustLevel", SAML_NF_URI},
    {"photoBase64", "urn:sealauth:claim:photo", "photo", SAML_NF_URI},
    {"ageOver18", "urn:sealauth:claim:ageOver18", "ageOver18", SAML_NF_URI},
    {"ageOver21", "urn:sealauth:claim:ageOver21", "ageOver21", SAML_NF_URI},
    {"ageOver25", "urn:sealauth:claim:ageOver25", "ageOver25", SAML_NF_URI},
    {"ageRange", "urn:sealauth:claim:ageRange", "ageRange", SAML_NF_URI},
    {"isEuCitizen", "urn:sealauth:claim:isEuCitizen", "isEuCitizen",
     SAML_NF_URI},
    /* Not a claim of the person: who vouched for the others (api_saml.c
     * adds it with any granted scope). */
    {SAML_CLAIM_AUTHORITY, "urn:sealauth:claim:issuingAuthority",
     "issuingAuthority", SAML_NF_URI},
};

const size_t saml_default_nattrs = ARRAY_LEN(saml_default_attrs);

const struct saml_attr *
saml_sp_attr_default(const char *claim)
{
	for (size_t i = 0; i < ARRAY_LEN(saml_default_attrs); i++)
		if (strcmp(saml_default_attrs[i].claim, claim) == 0)
			return &saml_default_attrs[i];
	return NULL;
}

/* ---- Certificates --------------------------------------------------------
 */

/*
 * saml_cert_from_text reads one certificate given as a PEM block or as the
 * bare base64 of its DER (as metadata carries it). NULL when it is neither.
 */
X509 *
saml_cert_from_text(const char *text)
{
	X509 *x = NULL;

	if (strstr(text, "-----BEGIN CERTIFICATE-----") != NULL) {
		BIO *b = BIO_new_mem_buf(text, -1);

		if (b != NULL)
			x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	} else {
		unsigned char *der = NULL;
		const unsigned char *p;
		size_t len = 0;

		if (xmldsig_b64_decode(text, SAML_CERT_TEXT_MAX, &der, &len) ==
		    SA_OK) {
			p = der;
			x = d2i_X509(NULL, &p, (long)len);
			if (x != NULL && p != der + len) {
				X509_free(x);
				x = NULL;
			}
		}
		free(der);
	}
	return x;
}

/* key_ok tells whether a certificate's key is one we verify with: P-256,
 * P-384 or P-521 ECDSA, or RSA of at least 2048 bits. */
static int
key_ok(EVP_PKEY *k)
{
	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_RSA:
		return EVP_PKEY_get_bits(k) >= 2048;
	case EVP_PKEY_EC:
		return EVP_PKEY_get_bits(k) >= 256;
	default:
		return 0;
	}
}

/* ---- Parsing --------------------------------------------------------------
 */

void
saml_sp_free(struct saml_sp *sp)
{
	if (sp == NULL)
		return;
	for (size_t i = 0; i < sp->ncerts; i++) {
		X509_free(sp->certs[i]);
		EVP_PKEY_free(sp->keys[i]);
	}
	X509_free(sp->enc_cert);
	free(sp);
}

/* bool_of reads an optional boolean member, dflt when absent. */
static int
bool_of(const json_t *o, const char *name, int dflt)
{
	const json_t *v = json_object_get(o, name);

	return v != NULL ? json_is_true(v) : dflt;
}

/* str_of reads a member that passed the schema as a string, or "". */
static const char *
str_of(const json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL ? s : "";
}

/* claim_known tells whether a claim name is one a login can grant. */
static int
claim_known(const char *claim)
{
	return saml_sp_attr_default(claim) != NULL;
}

/* fill_acs copies and checks the ACS list (indexes unique, one default). */
static enum sa_err
fill_acs(struct saml_sp *sp, const json_t *list, char *why, size_t whylen)
{
	size_t i;
	const json_t *a;
	int ndefault = 0;

	json_array_foreach(list, i, a)
	{
		struct saml_acs *acs = &sp->acs[sp->nacs];

		snprintf(acs->url, sizeof(acs->url), "%s", str_of(a, "url"));
		acs->index =
		    (int)json_integer_value(json_object_get(a, "index"));
		acs->is_default = bool_of(a, "default", 0);
		ndefault += acs->is_default;
		for (size_t j = 0; j < sp->nacs; j++)
			if (sp->acs[j].index == acs->index) {
				why_set(why, whylen,
					"acs[%zu].index: %d is used "
					"twice",
					i, acs->index);
				return SA_ERR_CONFIG;
			}
		sp->nacs++;
	}
	if (ndefault > 1) {
		why_set(why, whylen, "acs: more than one default");
		return SA_ERR_CONFIG;
	}
	return SA_OK;
}

/* fill_attrs copies the attribute mapping, or the default one. */
static enum sa_err
fill_attrs(struct saml_sp *sp, const json_t *list, char *why, size_t whylen)
{
	size_t i;
	const json_t *a;

	if (list == NULL) {
		for (i = 0; i < ARRAY_LEN(saml_default_attrs); i++)
			sp->attrs[sp->nattrs++] = saml_default_attrs[i];
		return SA_OK;
	}
	json_array_foreach(list, i, a)
	{
		struct saml_attr *at = &sp->attrs[sp->nattrs];
		const char *nf = str_of(a, "nameFormat");

		if (!claim_known(str_of(a, "claim"))) {
			why_set(why, whylen,
				"attributes[%zu].claim: \"%.40s\" is "
				"not a claim",
				i, str_of(a, "claim"));
			return SA_ERR_CONFIG;
		}
		snprintf(at->claim, sizeof(at->claim), "%s",
			 str_of(a, "claim"));
		snprintf(at->name, sizeof(at->name), "%s", str_of(a, "name"));
		snprintf(at->friendly, sizeof(at->friendly), "%s",
			 str_of(a, "friendlyName"));
		at->format = strcmp(nf, "basic") == 0 ? SAML_NF_BASIC
			     : strcmp(nf, "unspecified") == 0
				 ? SAML_NF_UNSPECIFIED
				 : SAML_NF_URI;
		/* A URI name must look like one: the SP matches it exactly. */
		if (at->format == SAML_NF_URI &&
		    strchr(at->name, ':') == NULL) {
			why_set(why, whylen,
				"attributes[%zu].name: a uri name needs "
				"a scheme (urn:oid:...)",
				i);
			return SA_ERR_CONFIG;
		}
		for (size_t j = 0; j < sp->nattrs; j++)
			if (strcmp(sp->attrs[j].name, at->name) == 0) {
				why_set(why, whylen,
					"attributes[%zu].name: \"%.80s\" "
					"is mapped twice",
					i, at->name);
				return SA_ERR_CONFIG;
			}
		sp->nattrs++;
	}
	return SA_OK;
}

/* fill_certs reads the signing and encryption certificates. */
static enum sa_err
fill_certs(struct saml_sp *sp, const json_t *o, char *why, size_t whylen)
{
	const json_t *list = json_object_get(o, "signingCertificates"), *c;
	const char *enc =
	    json_string_value(json_object_get(o, "encryptionCertificate"));
	size_t i;

	json_array_foreach(list, i, c)
	{
		X509 *x = saml_cert_from_text(json_string_value(c));
		EVP_PKEY *k = x != NULL ? X509_get_pubkey(x) : NULL;

		if (x == NULL || k == NULL || !key_ok(k)) {
			why_set(why, whylen, "signingCertificates[%zu]: %s", i,
				x == NULL ? "not a PEM or base64 DER "
					    "certificate"
					  : "key is not P-256+ ECDSA or "
					    "RSA >= 2048");
			X509_free(x);
			EVP_PKEY_free(k);
			return SA_ERR_CONFIG;
		}
		sp->certs[sp->ncerts] = x;
		sp->keys[sp->ncerts] = k;
		sp->ncerts++;
	}
	if (enc != NULL) {
		sp->enc_cert = saml_cert_from_text(enc);
		if (sp->enc_cert == NULL) {
			why_set(why, whylen,
				"encryptionCertificate: not a PEM or "
				"base64 DER certificate");
			return SA_ERR_CONFIG;
		}
	}
	return SA_OK;
}

/* fill_encryption reads encryptAssertions and encryptionAlgorithm: an SP
 * that wants encrypted assertions must give a certificate that can
 * receive them. */
static enum sa_err
fill_encryption(struct saml_sp *sp, const json_t *o, char *why, size_t whylen)
{
	const char *alg = str_of(o, "encryptionAlgorithm");
	const char *problem;

	sp->encrypt = bool_of(o, "encryptAssertions", 0);
	sp->enc_cipher = strcmp(alg, "aes128-gcm") == 0	  ? XMLENC_AES128_GCM
			 : strcmp(alg, "aes256-cbc") == 0 ? XMLENC_AES256_CBC
			 : strcmp(alg, "aes128-cbc") == 0 ? XMLENC_AES128_CBC
							  : XMLENC_AES256_GCM;
	if (!sp->encrypt)
		return SA_OK;
	if (sp->enc_cert == NULL) {
		why_set(why, whylen,
			"encryptionCertificate: encryptAssertions needs the "
			"SP's encryption certificate");
		return SA_ERR_CONFIG;
	}
	/* Refused here rather than at the first login: an EC-only SP would
	 * otherwise be registered and then fail every sign-in. */
	if ((problem = xmlenc_cert_problem(sp->enc_cert)) != NULL) {
		why_set(why, whylen, "encryptionCertificate: %s", problem);
		return SA_ERR_CONFIG;
	}
	return SA_OK;
}

enum sa_err
saml_sp_parse(const struct service *svc, unsigned int vflags,
	      struct saml_sp **out, char *why, size_t whylen)
{
	const json_t *o = svc->saml, *slo;
	struct schema_error serr;
	struct saml_sp *sp = NULL;
	const char *v;
	enum sa_err rc;

	if (o == NULL) {
		why_set(why, whylen, "service \"%s\" has no SAML settings",
			svc->id);
		return SA_ERR_SAML_UNKNOWN_SP;
	}
	memset(&serr, 0, sizeof(serr));
	rc = schema_validate(&sp_schema, o, vflags, &serr);
	if (rc != SA_OK) {
		why_set(why, whylen, "%s: %s", serr.field, serr.message);
		return rc == SA_ERR_NOMEM ? rc : SA_ERR_CONFIG;
	}
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return SA_ERR_NOMEM;
	snprintf(sp->service_id, sizeof(sp->service_id), "%s", svc->id);
	snprintf(sp->service_name, sizeof(sp->service_name), "%s", svc->name);
	snprintf(sp->entity_id, sizeof(sp->entity_id), "%s",
		 str_of(o, "entityId"));
	for (size_t i = 0; i < svc->nscopes && i < ARRAY_LEN(sp->scopes); i++)
		snprintf(sp->scopes[sp->nscopes++], sizeof(sp->scopes[0]), "%s",
			 svc->scopes[i]);
	if ((rc = fill_acs(sp, json_object_get(o, "acs"), why, whylen)) !=
		SA_OK ||
	    (rc = fill_attrs(sp, json_object_get(o, "attributes"), why,
			     whylen)) != SA_OK ||
	    (rc = fill_certs(sp, o, why, whylen)) != SA_OK)
		goto out;
	slo = json_object_get(o, "slo");
	if (slo != NULL) {
		snprintf(sp->slo_url, sizeof(sp->slo_url), "%s",
			 str_of(slo, "url"));
		snprintf(sp->slo_response_url, sizeof(sp->slo_response_url),
			 "%s",
			 json_object_get(slo, "responseUrl") != NULL
			     ? str_of(slo, "responseUrl")
			     : sp->slo_url);
		sp->slo_binding =
		    strcmp(str_of(slo, "binding"), "HTTP-POST") == 0
			? SAML_BINDING_POST
			: SAML_BINDING_REDIRECT;
	}
	sp->want_signed_requests = bool_of(o, "wantSignedRequests", 0);
	v = str_of(o, "signatureAlgorithm");
	sp->sigalg = strcmp(v, "rsa-sha256") == 0 ? SAML_SIG_RSA_SHA256
						  : SAML_SIG_ECDSA_SHA256;
	sp->sign_response = bool_of(o, "signResponse", 0);
	sp->sign_assertion = bool_of(o, "signAssertion", 1);
	v = str_of(o, "nameIdFormat");
	sp->nameid = strcmp(v, "transient") == 0 ? SAML_NAMEID_TRANSIENT
						 : SAML_NAMEID_PERSISTENT;
	rc = SA_ERR_CONFIG;
	if (!sp->sign_response && !sp->sign_assertion) {
		why_set(why, whylen,
			"signAssertion: the assertion or the response "
			"must be signed");
		goto out;
	}
	if (sp->want_signed_requests && sp->ncerts == 0) {
		why_set(why, whylen,
			"signingCertificates: wantSignedRequests needs "
			"the SP's certificate");
		goto out;
	}
	/* Logout messages must be signed: an unsigned one would let any page
	 * log the user out of every SP (a logout CSRF). */
	if (sp->slo_url[0] != '\0' && sp->ncerts == 0) {
		why_set(why, whylen,
			"signingCertificates: single logout needs the "
			"SP's certificate");
		goto out;
	}
	if ((rc = fill_encryption(sp, o, why, whylen)) != SA_OK)
		goto out;
	*out = sp;
	sp = NULL;
	rc = SA_OK;
out:
	saml_sp_free(sp);
	return rc;
}

/*
 * entity_owner returns the first service in svcs (enabled ones only when
 * enabled_only) whose "saml" object names entity_id and whose id is not
 * except (NULL: any), or NULL.
 */
static const struct service *
entity_owner(const struct services *svcs, const char *entity_id,
	     const char *except, int enabled_only)
{
	size_t n = svcs != NULL ? services_count(svcs) : 0;

	for (size_t i = 0; i < n; i++) {
		const struct service *svc = services_at(svcs, i);
		const char *eid;

		if (svc->saml == NULL || (enabled_only && !svc->enabled) ||
		    (except != NULL && strcmp(svc->id, except) == 0))
			continue;
		eid = json_string_value(json_object_get(svc->saml, "entityId"));
		if (eid != NULL && strcmp(eid, entity_id) == 0)
			return svc;
	}
	return NULL;
}

enum sa_err
saml_sp_checker(const json_t *settings, const struct service *svc,
		const struct services *current, char *why, size_t whylen)
{
	struct service copy = *svc;
	struct saml_sp *sp = NULL;
	const struct service *other;
	enum sa_err rc;

	copy.saml = (json_t *)settings;
	rc = saml_sp_parse(&copy, SCHEMA_LOOPBACK_HTTP, &sp, why, whylen);
	if (rc != SA_OK) {
		rc = rc == SA_ERR_NOMEM ? rc : SA_ERR_VALIDATION;
		goto out;
	}
	other = entity_owner(current, sp->entity_id, svc->id, 0);
	if (other != NULL) {
		snprintf(why, whylen,
			 "entityId: \"%.200s\" is already the entity id of "
			 "service \"%s\"",
			 sp->entity_id, other->id);
		rc = SA_ERR_CONFLICT;
	}
out:
	saml_sp_free(sp);
	return rc;
}

enum sa_err
saml_sp_find(const struct services *svcs, const char *entity_id,
	     unsigned int vflags, struct saml_sp **out)
{
	const struct service *svc = entity_owner(svcs, entity_id, NULL, 1);

	/* Two enabled records with one entity id can only come from writes
	 * that raced past the registry's check on two servers: which of them
	 * is meant is unknowable, so neither signs anybody in. */
	if (svc == NULL || entity_owner(svcs, entity_id, svc->id, 1) != NULL)
		return SA_ERR_SAML_UNKNOWN_SP;
	return saml_sp_parse(svc, vflags, out, NULL, 0);
}

const struct saml_acs *
saml_sp_acs(const struct saml_sp *sp, const char *url, int index)
{
	if (url != NULL) {
		/* Exact match only: no prefix or normalised comparison. */
		for (size_t i = 0; i < sp->nacs; i++)
			if (strcmp(sp->acs[i].url, url) == 0)
				return &sp->acs[i];
		return NULL;
	}
	if (index >= 0) {
		for (size_t i = 0; i < sp->nacs; i++)
			if (sp->acs[i].index == index)
				return &sp->acs[i];
		return NULL;
	}
	for (size_t i = 0; i < sp->nacs; i++)
		if (sp->acs[i].is_default)
			return &sp->acs[i];
	/* No default: the lowest index, as SAML metadata §2.2.3 implies. */
	{
		const struct saml_acs *best = &sp->acs[0];

		for (size_t i = 1; i < sp->nacs; i++)
			if (sp->acs[i].index < best->index)
				best = &sp->acs[i];
		return best;
	}
}
