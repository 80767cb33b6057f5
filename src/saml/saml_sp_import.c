/*
 * saml_sp_import.c - an SP's settings from its SAML metadata: entity id,
 * endpoints, certificates and the encryption it accepts, checked like any
 * other settings, with the signature on the metadata verified when the
 * admin names its signer. What the metadata says and the settings leave
 * out is reported, never dropped silently.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/schema.h"
#include "core/util.h"
#include "login/services.h"
#include "saml/saml_int.h"
#include "trust/xmldsig.h"
#include "trust/xmlenc.h"

#define XMLENC10 "http://www.w3.org/2001/04/xmlenc#"
#define XMLENC11 "http://www.w3.org/2009/xmlenc11#"

enum enc_kind {
	ENC_CIPHER = 1,	   /* encrypts the assertion */
	ENC_TRANSPORT = 2, /* carries the content key to the SP */
	ENC_AGREEMENT = 3, /* derives the content key with the SP */
};

/*
 * The algorithms an md:EncryptionMethod may name. The supported ones come
 * first, in our order of preference: the first of them that the SP lists
 * is what we send. The others are named so a warning can say what they
 * are; an algorithm not in the table is reported as unknown.
 */
static const struct enc_alg {
	const char *uri;
	const char *name; /* encryptionAlgorithm, or NULL */
	enum enc_kind kind;
	int supported;
} enc_algs[] = {
    {XMLENC11 "aes256-gcm", "aes256-gcm", ENC_CIPHER, 1},
    {XMLENC11 "aes128-gcm", "aes128-gcm", ENC_CIPHER, 1},
    {XMLENC10 "aes256-cbc", "aes256-cbc", ENC_CIPHER, 1},
    {XMLENC10 "aes128-cbc", "aes128-cbc", ENC_CIPHER, 1},
    /* The only key transport xmlenc.c writes. */
    {XMLENC10 "rsa-oaep-mgf1p", NULL, ENC_TRANSPORT, 1},
    {XMLENC11 "aes192-gcm", NULL, ENC_CIPHER, 0},
    {XMLENC10 "aes192-cbc", NULL, ENC_CIPHER, 0},
    {XMLENC10 "tripledes-cbc", NULL, ENC_CIPHER, 0},
    {XMLENC11 "rsa-oaep", NULL, ENC_TRANSPORT, 0},
    {XMLENC10 "rsa-1_5", NULL, ENC_TRANSPORT, 0},
    {XMLENC10 "kw-aes128", NULL, ENC_TRANSPORT, 0},
    {XMLENC10 "kw-aes256", NULL, ENC_TRANSPORT, 0},
    {XMLENC10 "dh", NULL, ENC_AGREEMENT, 0},
    {XMLENC11 "ECDH-ES", NULL, ENC_AGREEMENT, 0},
};

/* What an import collects while it walks the SP's descriptor. */
struct import {
	json_t *sp;	   /* the settings being built */
	json_t *warnings;  /* sentences: what is left out and why */
	xmlNodePtr enc_kd; /* the KeyDescriptor that encrypts to the SP */
	int enc_explicit;  /* enc_kd has use="encryption" */
	char *why;
	size_t whylen;
};

/* warn adds a sentence to the import's report. */
static void warn(struct import *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warn(struct import *im, const char *fmt, ...)
{
	char text[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_array_append_new(im->warnings, json_string(text));
}

/* is_true reads an xs:boolean attribute value. */
static int
is_true(const char *v)
{
	return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

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

/* ---- Certificates ------------------------------------------------------- */

/*
 * kd_certs appends to list the base64 DER of every ds:X509Certificate of
 * a KeyDescriptor, whitespace removed. SA_ERR_SAML_REQUEST when one does
 * not parse as a certificate.
 */
static enum sa_err
kd_certs(xmlNodePtr kd, json_t *list)
{
	xmlNodePtr ki = saml_child(kd, SAML_NS_DSIG, "KeyInfo");

	/* Some generators put KeyInfo in the metadata namespace. */
	if (ki == NULL)
		ki = saml_child(kd, SAML_NS_METADATA, "KeyInfo");

	for (xmlNodePtr xd = saml_first_elem(ki); xd != NULL;
	     xd = saml_next_elem(xd)) {
		if (!saml_is(xd, SAML_NS_DSIG, "X509Data"))
			continue;
		for (xmlNodePtr c = saml_first_elem(xd); c != NULL;
		     c = saml_next_elem(c)) {
			xmlChar *txt;
			char *clean;
			size_t j = 0;
			X509 *x;

			if (!saml_is(c, SAML_NS_DSIG, "X509Certificate"))
				continue;
			if ((txt = xmlNodeGetContent(c)) == NULL)
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
			x = j <= SAML_CERT_TEXT_MAX ? saml_cert_from_text(clean)
						    : NULL;
			if (x == NULL) {
				free(clean);
				return SA_ERR_SAML_REQUEST;
			}
			X509_free(x);
			json_array_append_new(list, json_string(clean));
			free(clean);
		}
	}
	return SA_OK;
}

/* can_receive tells whether a base64 DER certificate can receive an
 * encrypted key from us. */
static int
can_receive(const char *text)
{
	X509 *x = saml_cert_from_text(text);
	int ok = x != NULL && xmlenc_cert_problem(x) == NULL;

	X509_free(x);
	return ok;
}

/*
 * key_descriptor reads one KeyDescriptor: its certificates sign (use
 * "signing" or none) and it may be the one we encrypt to (use
 * "encryption", or none when the key can receive).
 */
static enum sa_err
key_descriptor(struct import *im, xmlNodePtr kd, size_t nth)
{
	json_t *certs = json_array(), *sign;
	char use[32] = "";
	enum sa_err rc;
	size_t i;
	json_t *c;

	if (certs == NULL)
		return SA_ERR_NOMEM;
	if (saml_attr(kd, "use", use, sizeof(use)) == -1 ||
	    (use[0] != '\0' && strcmp(use, "signing") != 0 &&
	     strcmp(use, "encryption") != 0)) {
		why_set(im->why, im->whylen,
			"KeyDescriptor[%zu]: use must be \"signing\", "
			"\"encryption\" or absent",
			nth);
		rc = SA_ERR_SAML_REQUEST;
		goto out;
	}
	if ((rc = kd_certs(kd, certs)) != SA_OK) {
		if (rc == SA_ERR_SAML_REQUEST)
			why_set(im->why, im->whylen,
				"KeyDescriptor[%zu]: a ds:X509Certificate "
				"does not parse",
				nth);
		goto out;
	}
	sign = json_object_get(im->sp, "signingCertificates");
	if (strcmp(use, "encryption") != 0)
		json_array_foreach(certs, i, c)
		{
			if (json_array_size(sign) >= SAML_CERTS_MAX) {
				warn(im,
				     "KeyDescriptor[%zu]: more than %d signing "
				     "certificates; the rest are left out",
				     nth, SAML_CERTS_MAX);
				break;
			}
			json_array_append(sign, c);
		}
	/* An explicit encryption key wins over one that is for both. */
	if (json_array_size(certs) > 0 &&
	    ((strcmp(use, "encryption") == 0 && !im->enc_explicit) ||
	     (use[0] == '\0' && im->enc_kd == NULL &&
	      can_receive(json_string_value(json_array_get(certs, 0)))))) {
		im->enc_kd = kd;
		im->enc_explicit = use[0] != '\0';
		json_object_set(im->sp, "encryptionCertificate",
				json_array_get(certs, 0));
	}
out:
	json_decref(certs);
	return rc;
}

/* alg_find returns the table entry of an algorithm URI, or NULL. */
static const struct enc_alg *
alg_find(const char *uri)
{
	for (size_t i = 0; i < ARRAY_LEN(enc_algs); i++)
		if (strcmp(enc_algs[i].uri, uri) == 0)
			return &enc_algs[i];
	return NULL;
}

/*
 * encryption_methods maps the md:EncryptionMethod list of the key we
 * encrypt to. No list: anything goes (our default). A list: we send the
 * best supported cipher on it; when it names ciphers or key transports
 * but none of ours, nothing we send could be decrypted, so the encryption
 * certificate is left out (encryptAssertions then cannot be turned on)
 * and the report says why.
 */
static enum sa_err
encryption_methods(struct import *im)
{
	const struct enc_alg *best = NULL, *a;
	char uri[256];
	int listed[4] = {0}, ours[4] = {0};
	size_t n = 0;

	if (im->enc_kd == NULL)
		return SA_OK;
	for (xmlNodePtr m = saml_first_elem(im->enc_kd); m != NULL;
	     m = saml_next_elem(m)) {
		if (!saml_is(m, SAML_NS_METADATA, "EncryptionMethod"))
			continue;
		n++;
		if (saml_attr(m, "Algorithm", uri, sizeof(uri)) != 1 ||
		    uri[0] == '\0') {
			why_set(im->why, im->whylen,
				"EncryptionMethod[%zu]: Algorithm is missing "
				"or longer than %zu bytes",
				n - 1, sizeof(uri) - 1);
			return SA_ERR_SAML_REQUEST;
		}
		if ((a = alg_find(uri)) == NULL) {
			warn(im,
			     "EncryptionMethod %.200s: an algorithm we do not "
			     "know; ignored",
			     uri);
			continue;
		}
		listed[a->kind]++;
		if (!a->supported) {
			warn(im,
			     "EncryptionMethod %.200s: not supported; "
			     "ignored",
			     uri);
			continue;
		}
		ours[a->kind]++;
		if (a->name != NULL && (best == NULL || a < best))
			best = a;
	}
	if ((listed[ENC_CIPHER] > 0 && ours[ENC_CIPHER] == 0) ||
	    (listed[ENC_TRANSPORT] + listed[ENC_AGREEMENT] > 0 &&
	     ours[ENC_TRANSPORT] == 0)) {
		warn(im, "encryptionCertificate: left out: the SP's "
			 "EncryptionMethod list names none of the algorithms "
			 "we encrypt with (AES-GCM or AES-CBC, key transport "
			 "RSA-OAEP MGF1P), so assertions to it cannot be "
			 "encrypted");
		json_object_del(im->sp, "encryptionCertificate");
		return SA_OK;
	}
	if (best != NULL)
		json_object_set_new(im->sp, "encryptionAlgorithm",
				    json_string(best->name));
	return SA_OK;
}

/* ---- The document ------------------------------------------------------- */

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

/* acs_entry reads one AssertionConsumerService into the settings; those
 * of a binding we do not answer on are reported and left out. */
static enum sa_err
acs_entry(struct import *im, xmlNodePtr c, const char *binding)
{
	char url[SAML_URL_MAX + 1], idx[16], dflt[8];
	json_t *acs = json_object_get(im->sp, "acs"), *a;
	const char *b = binding_short(binding);
	char *end;
	long index;

	/* We answer by HTTP-POST only; other bindings are left out rather
	 * than guessed. */
	if (b == NULL || strcmp(b, "HTTP-POST") != 0) {
		warn(im,
		     "AssertionConsumerService with binding %.200s: left out; "
		     "we answer by HTTP-POST only",
		     binding[0] ? binding : "(none)");
		return SA_OK;
	}
	if (json_array_size(acs) >= SAML_ACS_MAX) {
		warn(im,
		     "AssertionConsumerService: more than %d; the rest "
		     "are left out",
		     SAML_ACS_MAX);
		return SA_OK;
	}
	if (saml_attr(c, "Location", url, sizeof(url)) != 1 ||
	    saml_attr(c, "index", idx, sizeof(idx)) != 1) {
		why_set(im->why, im->whylen,
			"AssertionConsumerService: Location or index is "
			"missing or too long");
		return SA_ERR_SAML_REQUEST;
	}
	index = strtol(idx, &end, 10);
	if (idx[0] == '\0' || *end != '\0' || index < 0 || index > 65535) {
		why_set(im->why, im->whylen,
			"AssertionConsumerService %.200s: index \"%s\" is not "
			"a number from 0 to 65535",
			url, idx);
		return SA_ERR_SAML_REQUEST;
	}
	a = json_pack("{s:s, s:I}", "url", url, "index", (json_int_t)index);
	if (a == NULL)
		return SA_ERR_NOMEM;
	if (saml_attr(c, "isDefault", dflt, sizeof(dflt)) == 1 && is_true(dflt))
		json_object_set_new(a, "default", json_true());
	json_array_append_new(acs, a);
	return SA_OK;
}

/* slo_entry takes a SingleLogoutService: HTTP-POST preferred, since XML
 * signatures are what every SP verifies, ECDSA included. */
static void
slo_entry(struct import *im, xmlNodePtr c, const char *binding)
{
	char url[SAML_URL_MAX + 1];
	const char *b = binding_short(binding);
	const json_t *have = json_object_get(im->sp, "slo");
	json_t *slo;

	if (b == NULL || saml_attr(c, "Location", url, sizeof(url)) != 1)
		return;
	if (have != NULL &&
	    strcmp(json_string_value(json_object_get(have, "binding")),
		   "HTTP-POST") == 0)
		return;
	slo = json_pack("{s:s, s:s}", "url", url, "binding", b);
	if (slo != NULL &&
	    saml_attr(c, "ResponseLocation", url, sizeof(url)) == 1)
		json_object_set_new(slo, "responseUrl", json_string(url));
	json_object_set_new(im->sp, "slo", slo);
}

/* descriptor walks the SPSSODescriptor's children. */
static enum sa_err
descriptor(struct import *im, xmlNodePtr spd)
{
	char binding[256], buf[SAML_URL_MAX + 1];
	size_t nkd = 0;
	enum sa_err rc = SA_OK;

	for (xmlNodePtr c = saml_first_elem(spd); c != NULL && rc == SA_OK;
	     c = saml_next_elem(c)) {
		if (saml_attr(c, "Binding", binding, sizeof(binding)) != 1)
			binding[0] = '\0';
		if (saml_is(c, SAML_NS_METADATA, "AssertionConsumerService"))
			rc = acs_entry(im, c, binding);
		else if (saml_is(c, SAML_NS_METADATA, "SingleLogoutService"))
			slo_entry(im, c, binding);
		else if (saml_is(c, SAML_NS_METADATA, "KeyDescriptor"))
			rc = key_descriptor(im, c, nkd++);
		else if (saml_is(c, SAML_NS_METADATA, "NameIDFormat") &&
			 json_object_get(im->sp, "nameIdFormat") == NULL) {
			saml_text(c, buf, sizeof(buf));
			if (strcmp(buf, SAML_NAMEID_URI_PERSISTENT) == 0)
				json_object_set_new(im->sp, "nameIdFormat",
						    json_string("persistent"));
			else if (strcmp(buf, SAML_NAMEID_URI_TRANSIENT) == 0)
				json_object_set_new(im->sp, "nameIdFormat",
						    json_string("transient"));
		}
	}
	return rc;
}

/* default_mapping is the attribute mapping an import writes. */
static json_t *
default_mapping(void)
{
	json_t *attrs = json_array();

	for (size_t i = 0; attrs != NULL && i < saml_default_nattrs; i++) {
		const struct saml_attr *d = &saml_default_attrs[i];

		json_array_append_new(
		    attrs, json_pack("{s:s, s:s, s:s, s:s}", "claim", d->claim,
				     "name", d->name, "nameFormat", "uri",
				     "friendlyName", d->friendly));
	}
	return attrs;
}

enum sa_err
saml_sp_import(const unsigned char *xml, size_t n, json_t **out, char *why,
	       size_t whylen)
{
	return saml_sp_import_report(xml, n, NULL, out, NULL, NULL, why,
				     whylen);
}

enum sa_err
saml_sp_import_signed(const unsigned char *xml, size_t n, X509 *signer,
		      json_t **out, char *why, size_t whylen)
{
	return saml_sp_import_report(xml, n, signer, out, NULL, NULL, why,
				     whylen);
}

enum sa_err
saml_sp_import_report(const unsigned char *xml, size_t n, X509 *signer,
		      json_t **out, json_t **warnings, int *is_signed,
		      char *why, size_t whylen)
{
	struct import im = {.why = why, .whylen = whylen};
	xmlDocPtr doc = NULL;
	xmlNodePtr ent, spd;
	char buf[SAML_URL_MAX + 1];
	enum sa_err rc;

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
	im.sp = json_pack("{s:s, s:[], s:[]}", "entityId", buf, "acs",
			  "signingCertificates");
	im.warnings = json_array();
	if (im.sp == NULL || im.warnings == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = descriptor(&im, spd)) != SA_OK ||
	    (rc = encryption_methods(&im)) != SA_OK)
		goto out;
	rc = SA_ERR_SAML_REQUEST;
	if (json_array_size(json_object_get(im.sp, "acs")) == 0) {
		why_set(why, whylen,
			"the SP has no HTTP-POST AssertionConsumerService");
		goto out;
	}
	if (saml_attr(spd, "AuthnRequestsSigned", buf, sizeof(buf)) == 1)
		json_object_set_new(im.sp, "wantSignedRequests",
				    json_boolean(is_true(buf)));
	if (saml_attr(spd, "WantAssertionsSigned", buf, sizeof(buf)) == 1 &&
	    is_true(buf))
		json_object_set_new(im.sp, "signAssertion", json_true());
	if (json_array_size(json_object_get(im.sp, "signingCertificates")) == 0)
		json_object_del(im.sp, "signingCertificates");
	json_object_set_new(im.sp, "attributes", default_mapping());
	if ((rc = check_imported(im.sp, why, whylen)) != SA_OK)
		goto out;
	if (is_signed != NULL)
		*is_signed = saml_child(xmlDocGetRootElement(doc), SAML_NS_DSIG,
					"Signature") != NULL;
	if (warnings != NULL)
		*warnings = json_incref(im.warnings);
	*out = im.sp;
	im.sp = NULL;
out:
	json_decref(im.sp);
	json_decref(im.warnings);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- Certificates for people -------------------------------------------- */

/* key_text names a key's type and size ("RSA 2048", "EC P-256"). */
static void
key_text(EVP_PKEY *k, char *out, size_t outlen)
{
	char curve[64] = "";
	size_t len = 0;

	if (EVP_PKEY_base_id(k) == EVP_PKEY_RSA)
		snprintf(out, outlen, "RSA %d", EVP_PKEY_get_bits(k));
	else if (EVP_PKEY_base_id(k) == EVP_PKEY_EC &&
		 EVP_PKEY_get_utf8_string_param(k, "group", curve,
						sizeof(curve), &len) == 1)
		snprintf(out, outlen, "EC %s",
			 strcmp(curve, "prime256v1") == 0  ? "P-256"
			 : strcmp(curve, "secp384r1") == 0 ? "P-384"
			 : strcmp(curve, "secp521r1") == 0 ? "P-521"
							   : curve);
	else
		snprintf(out, outlen, "%s %d", OBJ_nid2sn(EVP_PKEY_base_id(k)),
			 EVP_PKEY_get_bits(k));
}

json_t *
saml_sp_cert_info(const char *text)
{
	X509 *x = text != NULL ? saml_cert_from_text(text) : NULL;
	unsigned char md[32];
	unsigned int mdlen = 0;
	char fp[SAML_SHA256_TEXT + 1], subject[512] = "", key[80] = "?";
	EVP_PKEY *k;
	BIO *b = NULL;
	struct tm tm;
	json_t *info = NULL;
	int n;

	if (x == NULL || X509_digest(x, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen != sizeof(md))
		goto out;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(fp + 3 * i, sizeof(fp) - 3 * i,
			 i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	n = BIO_read(b, subject, (int)sizeof(subject) - 1);
	subject[n > 0 ? n : 0] = '\0';
	if ((k = X509_get0_pubkey(x)) != NULL)
		key_text(k, key, sizeof(key));
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		goto out;
	info =
	    json_pack("{s:s, s:s, s:I, s:s}", "sha256", fp, "subject", subject,
		      "notAfter", (json_int_t)timegm(&tm), "key", key);
out:
	BIO_free(b);
	X509_free(x);
	return info;
}
