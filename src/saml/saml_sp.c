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
#include "saml/saml_sp.h"
#include "saml/saml_xml.h"
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
    SCHEMA_END,
};
static const struct schema sp_schema = {sp_fields, NULL};

/*
 * The default mapping: the standard OIDs where one exists (X.520, RFC
 * 3739's personal data attributes), our own URNs for the rest. An SP that
 * gives "attributes" gets exactly those instead.
 */
static const struct saml_attr default_attrs[] = {
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

const struct saml_attr *
saml_sp_attr_default(const char *claim)
{
	for (size_t i = 0; i < ARRAY_LEN(default_attrs); i++)
		if (strcmp(default_attrs[i].claim, claim) == 0)
			return &default_attrs[i];
	return NULL;
}

/* ---- Certificates --------------------------------------------------------
 */

/*
 * cert_from_text reads one certificate given as a PEM block or as the bare
 * base64 of its DER (as metadata carries it). NULL when it is neither.
 */
static X509 *
cert_from_text(const char *text)
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
		for (i = 0; i < ARRAY_LEN(default_attrs); i++)
			sp->attrs[sp->nattrs++] = default_attrs[i];
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
		X509 *x = cert_from_text(json_string_value(c));
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
		sp->enc_cert = cert_from_text(enc);
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

enum sa_err
saml_sp_checker(const json_t *settings, const struct service *svc, char *why,
		size_t whylen)
{
	struct service copy = *svc;
	struct saml_sp *sp = NULL;
	enum sa_err rc;

	copy.saml = (json_t *)settings;
	rc = saml_sp_parse(&copy, SCHEMA_LOOPBACK_HTTP, &sp, why, whylen);
	saml_sp_free(sp);
	return rc == SA_OK || rc == SA_ERR_NOMEM ? rc : SA_ERR_VALIDATION;
}

enum sa_err
saml_sp_find(const struct services *svcs, const char *entity_id,
	     unsigned int vflags, struct saml_sp **out)
{
	size_t n = services_count(svcs);

	for (size_t i = 0; i < n; i++) {
		const struct service *svc = services_at(svcs, i);
		const char *eid;

		/* A disabled service signs nobody in. */
		if (svc->saml == NULL || !svc->enabled)
			continue;
		eid = json_string_value(json_object_get(svc->saml, "entityId"));
		if (eid != NULL && strcmp(eid, entity_id) == 0)
			return saml_sp_parse(svc, vflags, out, NULL, 0);
	}
	return SA_ERR_SAML_UNKNOWN_SP;
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

/* ---- Import from metadata -------------------------------------------------
 */

/* binding_short maps a binding URI to the name the settings use. */
static const char *
binding_short(const char *uri)
{
	if (strcmp(uri, SAML_BINDING_URI_POST) == 0)
		return "HTTP-POST";
	if (strcmp(uri, SAML_BINDING_URI_REDIRECT) == 0)
		return "HTTP-Redirect";
	return NULL;
}

/* key_certs adds the certificates of one KeyDescriptor to the settings. */
static enum sa_err
key_certs(xmlNodePtr kd, json_t *sp)
{
	char use[32];
	xmlNodePtr ki = saml_child(kd, SAML_NS_METADATA, "KeyInfo");

	if (ki == NULL)
		ki = saml_child(kd, SAML_NS_DSIG, "KeyInfo");
	saml_attr(kd, "use", use, sizeof(use));
	for (xmlNodePtr xd = saml_first_elem(ki); xd != NULL;
	     xd = saml_next_elem(xd)) {
		if (!saml_is(xd, SAML_NS_DSIG, "X509Data"))
			continue;
		for (xmlNodePtr c = saml_first_elem(xd); c != NULL;
		     c = saml_next_elem(c)) {
			xmlChar *txt;
			X509 *x;
			json_t *list;
			char *clean;
			size_t j = 0;

			if (!saml_is(c, SAML_NS_DSIG, "X509Certificate"))
				continue;
			txt = xmlNodeGetContent(c);
			if (txt == NULL)
				return SA_ERR_NOMEM;
			clean = strdup((const char *)txt);
			xmlFree(txt);
			if (clean == NULL)
				return SA_ERR_NOMEM;
			for (size_t i = 0; clean[i] != '\0'; i++)
				if (clean[i] != ' ' && clean[i] != '\n' &&
				    clean[i] != '\r' && clean[i] != '\t')
					clean[j++] = clean[i];
			clean[j] = '\0';
			x = cert_from_text(clean);
			if (x == NULL || j > SAML_CERT_TEXT_MAX) {
				X509_free(x);
				free(clean);
				return SA_ERR_SAML_REQUEST;
			}
			X509_free(x);
			if (strcmp(use, "encryption") != 0) {
				list =
				    json_object_get(sp, "signingCertificates");
				if (json_array_size(list) < SAML_CERTS_MAX)
					json_array_append_new(
					    list, json_string(clean));
			}
			if (strcmp(use, "encryption") == 0 &&
			    json_object_get(sp, "encryptionCertificate") ==
				NULL)
				json_object_set_new(sp, "encryptionCertificate",
						    json_string(clean));
			free(clean);
		}
	}
	return SA_OK;
}

/* find_sp_entity returns the one EntityDescriptor with an SPSSODescriptor. */
static xmlNodePtr
find_sp_entity(xmlNodePtr root, char *why, size_t whylen)
{
	xmlNodePtr found = NULL;
	size_t n = 0;

	if (saml_is(root, SAML_NS_METADATA, "EntityDescriptor"))
		return saml_child(root, SAML_NS_METADATA, "SPSSODescriptor")
			   ? root
			   : NULL;
	if (!saml_is(root, SAML_NS_METADATA, "EntitiesDescriptor")) {
		why_set(why, whylen,
			"the root is not md:EntityDescriptor or "
			"md:EntitiesDescriptor");
		return NULL;
	}
	for (xmlNodePtr e = saml_first_elem(root); e != NULL;
	     e = saml_next_elem(e))
		if (saml_is(e, SAML_NS_METADATA, "EntityDescriptor") &&
		    saml_child(e, SAML_NS_METADATA, "SPSSODescriptor")) {
			found = e;
			n++;
		}
	if (n != 1) {
		why_set(why, whylen,
			"the metadata describes %zu service providers; "
			"import one at a time",
			n);
		return NULL;
	}
	return found;
}

/*
 * verify_metadata checks the signature on the root of metadata doc with
 * signer's key only: by reference to the root's ID when it has one, else
 * over the whole document (URI="").
 */
static enum sa_err
verify_metadata(xmlDocPtr doc, X509 *signer, char *why, size_t whylen)
{
	EVP_PKEY *k = X509_get0_pubkey(signer);
	struct xmldsig_result res;
	char id[SAML_ID_MAX + 1];
	enum sa_err rc;

	if (k == NULL) {
		why_set(why, whylen,
			"the metadata signing certificate has "
			"no usable key");
		return SA_ERR_SAML_SIGNATURE;
	}
	if (saml_attr(xmlDocGetRootElement(doc), "ID", id, sizeof(id)) == 1)
		rc = xmldsig_verify_element(doc, "ID", &k, 1, &res);
	else
		rc = xmldsig_verify(doc, &k, 1, &res);
	if (rc != SA_OK) {
		why_set(why, whylen,
			"the metadata signature does not verify with the "
			"given certificate: %s",
			res.status == XMLDSIG_NO_SIGNATURE ? "it is not signed"
							   : res.reason);
		rc = rc == SA_ERR_NOMEM ? rc : SA_ERR_SAML_SIGNATURE;
	}
	xmldsig_result_clear(&res);
	return rc;
}

/* check_imported runs the registry's checks on imported settings. */
static enum sa_err
check_imported(json_t *settings, char *why, size_t whylen)
{
	struct service svc;
	struct saml_sp *sp = NULL;
	char inner[300] = "";
	enum sa_err rc;

	memset(&svc, 0, sizeof(svc));
	snprintf(svc.id, sizeof(svc.id), "imported");
	svc.saml = settings;
	rc = saml_sp_parse(&svc, SCHEMA_LOOPBACK_HTTP, &sp, inner,
			   sizeof(inner));
	saml_sp_free(sp);
	if (rc != SA_OK && rc != SA_ERR_NOMEM) {
		why_set(why, whylen,
			"the metadata gives settings we refuse: %s", inner);
		rc = SA_ERR_SAML_REQUEST;
	}
	return rc;
}

enum sa_err
saml_sp_import(const unsigned char *xml, size_t n, json_t **out, char *why,
	       size_t whylen)
{
	return saml_sp_import_signed(xml, n, NULL, out, why, whylen);
}

enum sa_err
saml_sp_import_signed(const unsigned char *xml, size_t n, X509 *signer,
		      json_t **out, char *why, size_t whylen)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr ent, spd;
	json_t *sp = NULL, *acs, *attrs;
	char buf[SAML_URL_MAX + 1], binding[128], idx[16], dflt[8];
	enum sa_err rc;
	int have_post = 0;

	rc = saml_xml_parse(xml, n, &doc, why, whylen);
	if (rc != SA_OK)
		return rc;
	/* What is read below is the document whose root verified. */
	if (signer != NULL &&
	    (rc = verify_metadata(doc, signer, why, whylen)) != SA_OK)
		goto out;
	rc = SA_ERR_SAML_REQUEST;
	ent = find_sp_entity(xmlDocGetRootElement(doc), why, whylen);
	if (ent == NULL) {
		if (why != NULL && why[0] == '\0')
			why_set(why, whylen,
				"the entity has no md:SPSSODescriptor");
		goto out;
	}
	spd = saml_child(ent, SAML_NS_METADATA, "SPSSODescriptor");
	if (saml_attr(ent, "entityID", buf, sizeof(buf)) != 1 ||
	    buf[0] == '\0') {
		why_set(why, whylen, "the entity has no entityID");
		goto out;
	}
	sp = json_pack("{s:s, s:[], s:[]}", "entityId", buf, "acs",
		       "signingCertificates");
	if (sp == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	acs = json_object_get(sp, "acs");
	for (xmlNodePtr c = saml_first_elem(spd); c != NULL;
	     c = saml_next_elem(c)) {
		const char *b;

		saml_attr(c, "Binding", binding, sizeof(binding));
		b = binding_short(binding);
		if (saml_is(c, SAML_NS_METADATA, "AssertionConsumerService")) {
			json_t *a;

			/* We answer by HTTP-POST only; other bindings are
			 * left out rather than guessed. */
			if (b == NULL || strcmp(b, "HTTP-POST") != 0 ||
			    json_array_size(acs) >= SAML_ACS_MAX)
				continue;
			if (saml_attr(c, "Location", buf, sizeof(buf)) != 1 ||
			    saml_attr(c, "index", idx, sizeof(idx)) != 1) {
				why_set(why, whylen,
					"an AssertionConsumerService lacks "
					"Location or index");
				goto out;
			}
			a = json_pack("{s:s, s:I}", "url", buf, "index",
				      (json_int_t)strtol(idx, NULL, 10));
			if (saml_attr(c, "isDefault", dflt, sizeof(dflt)) ==
				1 &&
			    (strcmp(dflt, "true") == 0 ||
			     strcmp(dflt, "1") == 0))
				json_object_set_new(a, "default", json_true());
			json_array_append_new(acs, a);
		} else if (saml_is(c, SAML_NS_METADATA,
				   "SingleLogoutService") &&
			   b != NULL && !have_post) {
			json_t *slo;

			if (saml_attr(c, "Location", buf, sizeof(buf)) != 1)
				continue;
			slo = json_pack("{s:s, s:s}", "url", buf, "binding", b);
			if (saml_attr(c, "ResponseLocation", buf,
				      sizeof(buf)) == 1)
				json_object_set_new(slo, "responseUrl",
						    json_string(buf));
			json_object_set_new(sp, "slo", slo);
			/* XML signatures are what every SP verifies, ECDSA
			 * included: prefer HTTP-POST. */
			have_post = strcmp(b, "HTTP-POST") == 0;
		} else if (saml_is(c, SAML_NS_METADATA, "KeyDescriptor")) {
			if ((rc = key_certs(c, sp)) != SA_OK) {
				why_set(why, whylen,
					"a KeyDescriptor holds a certificate "
					"that does not parse");
				goto out;
			}
			rc = SA_ERR_SAML_REQUEST;
		} else if (saml_is(c, SAML_NS_METADATA, "NameIDFormat") &&
			   json_object_get(sp, "nameIdFormat") == NULL) {
			saml_text(c, buf, sizeof(buf));
			if (strcmp(buf, SAML_NAMEID_URI_PERSISTENT) == 0)
				json_object_set_new(sp, "nameIdFormat",
						    json_string("persistent"));
			else if (strcmp(buf, SAML_NAMEID_URI_TRANSIENT) == 0)
				json_object_set_new(sp, "nameIdFormat",
						    json_string("transient"));
		}
	}
	if (json_array_size(acs) == 0) {
		why_set(why, whylen,
			"the SP has no HTTP-POST AssertionConsumerService");
		goto out;
	}
	if (saml_attr(spd, "AuthnRequestsSigned", buf, sizeof(buf)) == 1)
		json_object_set_new(sp, "wantSignedRequests",
				    json_boolean(strcmp(buf, "true") == 0 ||
						 strcmp(buf, "1") == 0));
	if (saml_attr(spd, "WantAssertionsSigned", buf, sizeof(buf)) == 1 &&
	    (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0))
		json_object_set_new(sp, "signAssertion", json_true());
	if (json_array_size(json_object_get(sp, "signingCertificates")) == 0)
		json_object_del(sp, "signingCertificates");
	attrs = json_array();
	for (size_t i = 0; attrs != NULL && i < ARRAY_LEN(default_attrs); i++) {
		const struct saml_attr *d = &default_attrs[i];

		json_array_append_new(
		    attrs, json_pack("{s:s, s:s, s:s, s:s}", "claim", d->claim,
				     "name", d->name, "nameFormat", "uri",
				     "friendlyName", d->friendly));
	}
	json_object_set_new(sp, "attributes", attrs);
	if ((rc = check_imported(sp, why, whylen)) != SA_OK)
		goto out;
	*out = sp;
	sp = NULL;
out:
	json_decref(sp);
	xmlFreeDoc(doc);
	return rc;
}
