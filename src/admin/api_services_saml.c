/*
 * api_services_saml.c - the start of an SP metadata import
 * (POST /v1/admin/services/saml-metadata/start): the metadata, pasted or
 * fetched from the https:// URL the admin gives, is read by the SAML
 * layer's importer (the signature checked against the signer certificate
 * the admin gives, if any), turned into the record it will create or
 * update, checked like any other record, and shown to the admin before the
 * step-up that confirms exactly that record. api_services.c pins it and
 * writes it at the finish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"
#include "login/services.h"
#include "saml/saml_sp.h"
#include "saml/saml_xml.h"
#include "trust/trust.h"

#define REFUSED "admin.service_change_refused"
#define FETCH_TIMEOUT_MS 10000 /* a metadata URL that is slower fails */

static const struct schema_field scope_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 64, SCHEMA_FMT_SCOPE);

static const struct schema_field import_fields[] = {
    SCHEMA_STRING("serviceId", SCHEMA_OPTIONAL, 1, SERVICE_ID_MAX,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("name", SCHEMA_OPTIONAL, 1, SERVICE_NAME_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_ARRAY("scopes", SCHEMA_OPTIONAL | SCHEMA_UNIQUE, 1,
		 SERVICE_SCOPES_MAX, &scope_item),
    SCHEMA_STRING("metadataXml", SCHEMA_OPTIONAL, 1, SAML_MSG_MAX,
		  SCHEMA_FMT_NONE),
    SCHEMA_STRING("metadataUrl", SCHEMA_OPTIONAL, 1, SAML_URL_MAX,
		  SCHEMA_FMT_HTTPS_URL),
    SCHEMA_STRING("signerCertificate", SCHEMA_OPTIONAL, 64, SAML_CERT_TEXT_MAX,
		  SCHEMA_FMT_NONE),
    SCHEMA_END,
};
static const struct schema_rule import_rules[] = {
    SCHEMA_EXACTLY_ONE_OF("metadataXml", "metadataUrl"),
    SCHEMA_RULES_END,
};
const struct schema admin_saml_import_schema = {import_fields, import_rules};

/*
 * The members of a service's SAML settings that the metadata decides; the
 * others (attribute mapping, signature algorithm, what is signed, whether
 * to encrypt) are the admin's and an update keeps them.
 */
static const char *const from_metadata[] = {
    "entityId", "acs", "slo", "signingCertificates", "encryptionCertificate",
    "metadata", NULL,
};

const char *
admin_saml_entity_owner(const struct services *snap, const char *eid)
{
	for (size_t i = 0; i < services_count(snap); i++) {
		const struct service *svc = services_at(snap, i);
		const char *have =
		    json_string_value(json_object_get(svc->saml, "entityId"));

		if (have != NULL && strcmp(have, eid) == 0)
			return svc->id;
	}
	return NULL;
}

/* The metadata as read, and what the import made of it. */
struct metadata {
	unsigned char *xml; /* owned */
	size_t n;
	const char *source; /* "pasted" or the URL (borrowed from the body) */
	X509 *signer;	    /* NULL: the admin gave none */
	json_t *settings;   /* the importer's "saml" object */
	json_t *warnings;
	int is_signed;
	char sha256[65];
	char signer_sha256[SAML_SHA256_TEXT + 1];
};

static void
metadata_clear(struct metadata *m)
{
	free(m->xml);
	X509_free(m->signer);
	json_decref(m->settings);
	json_decref(m->warnings);
}

/*
 * fetch reads the metadata at url: https:// only (http:// on loopback
 * only where the server takes loopback URLs, a development setting), no
 * redirects, at most SAML_MSG_MAX bytes and FETCH_TIMEOUT_MS.
 */
static enum sa_err
fetch(struct http_request *req, struct http_response *res, struct admin *adm,
      const struct admin_caller *who, const char *url, struct metadata *m)
{
	int loopback = (adm->app->schema_flags & SCHEMA_LOOPBACK_HTTP) != 0;
	char why[512] = "";
	enum sa_err rc;

	/* The schema took the URL; file:// and the rest never get here, but
	 * the fetcher reads files, so say it again next to the call. */
	if (!str_has_prefix(url, "https://") &&
	    !(loopback && str_has_prefix(url, "http://")))
		return http_res_error(res, SA_ERR_VALIDATION, "metadataUrl",
				      "must be an https:// URL");
	rc = trust_fetch(adm->app->fetcher, url, SAML_MSG_MAX, FETCH_TIMEOUT_MS,
			 TRUST_FETCH_PUBLIC_ONLY |
			     (loopback ? TRUST_FETCH_HTTP_LOOPBACK : 0u),
			 &m->xml, &m->n, why, sizeof(why));
	if (rc == SA_OK)
		return SA_OK;
	if (rc == SA_ERR_CONFIG)
		return http_res_error(res, SA_ERR_VALIDATION, "metadataUrl",
				      "must be an https:// URL");
	admin_audit(req, who, REFUSED,
		    json_pack("{s:s, s:s, s:s}", "error",
			      sa_err_code(SA_ERR_SAML_METADATA_FETCH), "url",
			      url, "reason", why));
	return http_res_error(res, SA_ERR_SAML_METADATA_FETCH, "metadataUrl",
			      "%s", why);
}

/* read_signer parses the admin's signer certificate. */
static enum sa_err
read_signer(struct http_response *res, const char *text, struct metadata *m)
{
	json_t *info;

	if (text == NULL)
		return SA_OK;
	m->signer = saml_cert_from_text(text);
	info = m->signer != NULL ? saml_sp_cert_info(text) : NULL;
	if (info == NULL)
		return http_res_error(res, SA_ERR_VALIDATION,
				      "signerCertificate",
				      "not a PEM or base64 DER certificate");
	snprintf(m->signer_sha256, sizeof(m->signer_sha256), "%s",
		 json_string_value(json_object_get(info, "sha256")));
	json_decref(info);
	return SA_OK;
}

/* import runs the SAML importer; a refusal names the field the metadata
 * came from, and a signature that does not verify is audited. */
static enum sa_err
import(struct http_request *req, struct http_response *res,
       const struct admin_caller *who, const char *field, struct metadata *m)
{
	unsigned char md[32];
	char why[512] = "", *hex;
	enum sa_err rc;

	rc = saml_sp_import_report(m->xml, m->n, m->signer, &m->settings,
				   &m->warnings, &m->is_signed, why,
				   sizeof(why));
	if (rc == SA_ERR_SAML_SIGNATURE) {
		admin_audit(
		    req, who, REFUSED,
		    json_pack("{s:s, s:s, s:s, s:s}", "error",
			      sa_err_code(SA_ERR_SAML_METADATA_SIGNATURE),
			      "source", m->source, "signerSha256",
			      m->signer_sha256, "reason", why));
		return http_res_error(res, SA_ERR_SAML_METADATA_SIGNATURE,
				      "signerCertificate", "%s", why);
	}
	if (rc == SA_ERR_SAML_REQUEST)
		return http_res_error(res, SA_ERR_SAML_METADATA, field, "%s",
				      why);
	if (rc != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	if (EVP_Digest(m->xml, m->n, md, NULL, EVP_sha256(), NULL) != 1 ||
	    (hex = hex_encode(md, sizeof(md))) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	snprintf(m->sha256, sizeof(m->sha256), "%s", hex);
	free(hex);
	return SA_OK;
}

/*
 * merged is the SAML settings an import stores (new): the imported ones,
 * over what the admin set on the service before (old, may be NULL) for
 * everything the metadata does not decide.
 */
static json_t *
merged(const json_t *old, const json_t *imported)
{
	json_t *m = old != NULL ? json_deep_copy(old) : json_object(), *v;
	const char *key;

	if (m == NULL)
		return NULL;
	for (size_t i = 0; from_metadata[i] != NULL; i++)
		json_object_del(m, from_metadata[i]);
	json_object_foreach((json_t *)imported, key, v)
	{
		/* The import writes the default mapping; an admin's own
		 * mapping stays. */
		if (strcmp(key, "attributes") == 0 &&
		    json_object_get(m, "attributes") != NULL)
			continue;
		json_object_set(m, key, v);
	}
	return m;
}

/*
 * target decides which record the import writes: the one given, else the
 * one that has the entity id already. Another record with the entity id is
 * a clash: refused, naming it. *id points into the body or the snapshot
 * copy in idbuf.
 */
static enum sa_err
target(struct http_response *res, struct admin *adm, const json_t *body,
       const char *eid, char idbuf[SERVICE_ID_MAX + 1], const char **id)
{
	const char *given =
	    json_string_value(json_object_get(body, "serviceId"));
	struct services *snap = services_get(adm->app->services);
	const char *owner = admin_saml_entity_owner(snap, eid);
	enum sa_err rc = SA_OK;

	if (owner != NULL && given != NULL && strcmp(owner, given) != 0)
		rc = http_res_error(res, SA_ERR_CONFLICT, "entityId",
				    "service \"%s\" already has the entity id "
				    "%.200s: import into that service, or "
				    "remove its SAML settings first",
				    owner, eid);
	else if (given == NULL && owner == NULL)
		rc = http_res_error(res, SA_ERR_VALIDATION, "serviceId",
				    "no service has the entity id %.200s: give "
				    "the id of the service to create",
				    eid);
	else
		snprintf(idbuf, SERVICE_ID_MAX + 1, "%s",
			 given != NULL ? given : owner);
	services_put(snap);
	*id = idbuf;
	return rc;
}

/* record builds the service record the import stores (new). */
static json_t *
record(struct http_response *res, const json_t *body, const char *id,
       const json_t *cur, const json_t *saml, enum sa_err *rc)
{
	const json_t *name = json_object_get(body, "name");
	const json_t *scopes = json_object_get(body, "scopes");
	json_t *doc;

	if (cur == NULL && scopes == NULL) {
		*rc = http_res_error(res, SA_ERR_VALIDATION, "scopes",
				     "a new service needs the scopes it may "
				     "ask for");
		return NULL;
	}
	doc = cur != NULL
		  ? json_deep_copy(cur)
		  : json_pack("{s:s, s:s}", "serviceId", id, "name", id);
	if (doc == NULL ||
	    (name != NULL && json_object_set(doc, "name", (json_t *)name)) ||
	    (scopes != NULL &&
	     json_object_set(doc, "scopes", (json_t *)scopes)) ||
	    json_object_set(doc, "saml", (json_t *)saml) != 0) {
		json_decref(doc);
		*rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		return NULL;
	}
	return doc;
}

/* certs_info lists the certificate descriptions of the settings. */
static json_t *
certs_info(const json_t *saml)
{
	const json_t *list = json_object_get(saml, "signingCertificates"), *c;
	json_t *out = json_array();
	size_t i;

	json_array_foreach(list, i, c)
	    json_array_append_new(out, saml_sp_cert_info(json_string_value(c)));
	return out;
}

/* preview is what the admin reads before confirming (new). */
static json_t *
preview(const char *id, const json_t *doc, const json_t *cur,
	const struct metadata *m)
{
	const json_t *saml = json_object_get(doc, "saml");
	const json_t *enc = json_object_get(saml, "encryptionCertificate");
	json_t *sig;

	sig = json_pack("{s:s, s:b}", "status",
			m->signer != NULL ? "verified" : "unverified", "signed",
			m->is_signed);
	if (sig != NULL && m->signer != NULL)
		json_object_set_new(sig, "signerSha256",
				    json_string(m->signer_sha256));
	return json_pack(
	    "{s:s, s:s, s:O, s:O, s:O?, s:o, s:o?, s:{s:b, s:b, s:b, s:b, "
	    "s:s, s:s, s:s}, s:o, s:s, s:O, s:O, s:O?}",
	    "op", cur != NULL ? "update" : "create", "serviceId", id,
	    "entityId", json_object_get(saml, "entityId"), "acs",
	    json_object_get(saml, "acs"), "slo", json_object_get(saml, "slo"),
	    "signingCertificates", certs_info(saml), "encryptionCertificate",
	    enc != NULL ? saml_sp_cert_info(json_string_value(enc)) : NULL,
	    "requirements", "wantSignedRequests",
	    json_is_true(json_object_get(saml, "wantSignedRequests")),
	    "signAssertion",
	    !json_is_false(json_object_get(saml, "signAssertion")),
	    "signResponse", json_is_true(json_object_get(saml, "signResponse")),
	    "encryptAssertions",
	    json_is_true(json_object_get(saml, "encryptAssertions")),
	    "encryptionAlgorithm",
	    json_string_value(json_object_get(saml, "encryptionAlgorithm"))
		?: "aes256-gcm",
	    "signatureAlgorithm",
	    json_string_value(json_object_get(saml, "signatureAlgorithm"))
		?: "ecdsa-sha256",
	    "nameIdFormat",
	    json_string_value(json_object_get(saml, "nameIdFormat"))
		?: "persistent",
	    "metadataSignature", sig, "source", m->source, "warnings",
	    m->warnings, "record", doc, "before", cur);
}

enum sa_err
admin_services_saml_prepare(struct http_request *req, struct http_response *res,
			    struct admin *adm, const struct admin_caller *who,
			    json_t **change, json_t **show)
{
	const json_t *body = http_req_json(req);
	const char *url =
	    json_string_value(json_object_get(body, "metadataUrl"));
	const char *pasted =
	    json_string_value(json_object_get(body, "metadataXml"));
	const char *field = url != NULL ? "metadataUrl" : "metadataXml";
	const char *id, *eid;
	char idbuf[SERVICE_ID_MAX + 1] = "";
	struct metadata m;
	json_t *cur = NULL, *saml = NULL, *doc = NULL;
	enum sa_err rc;

	memset(&m, 0, sizeof(m));
	m.source = url != NULL ? url : "pasted";
	if ((rc = read_signer(
		 res,
		 json_string_value(json_object_get(body, "signerCertificate")),
		 &m)) != SA_OK)
		goto out;
	if (url != NULL)
		rc = fetch(req, res, adm, who, url, &m);
	else if ((m.xml = (unsigned char *)strdup(pasted)) == NULL)
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	else
		m.n = strlen(pasted);
	if (rc != SA_OK || (rc = import(req, res, who, field, &m)) != SA_OK)
		goto out;
	eid = json_string_value(json_object_get(m.settings, "entityId"));
	if ((rc = target(res, adm, body, eid, idbuf, &id)) != SA_OK)
		goto out;
	cur = admin_service_doc(adm->app->services, id);
	/* Where the settings came from stays with them. */
	json_object_set_new(
	    m.settings, "metadata",
	    json_pack("{s:s, s:s, s:s, s:I}", "source", m.source, "signature",
		      m.signer != NULL ? "verified" : "unverified", "sha256",
		      m.sha256, "importedAt", (json_int_t)now_unix()));
	if (m.signer != NULL)
		json_object_set_new(json_object_get(m.settings, "metadata"),
				    "signerSha256",
				    json_string(m.signer_sha256));
	saml = merged(json_object_get(cur, "saml"), m.settings);
	if (saml == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	if ((doc = record(res, body, id, cur, saml, &rc)) == NULL ||
	    (rc = admin_service_check(res, adm, doc)) != SA_OK)
		goto out;
	*show = preview(id, doc, cur, &m);
	*change = json_pack(
	    "{s:s, s:s, s:O, s:O?, s:{s:s, s:s, s:s, s:s, s:s?, s:b}}",
	    "serviceId", id, "entityId", eid, "doc", doc, "before",
	    cur != NULL ? cur : json_null(), "audit", "entityId", eid, "source",
	    m.source, "metadataSha256", m.sha256, "metadataSignature",
	    m.signer != NULL ? "verified" : "unverified", "signerSha256",
	    m.signer != NULL ? m.signer_sha256 : NULL, "created", cur == NULL);
	if (*change == NULL || *show == NULL) {
		json_decref(*change);
		json_decref(*show);
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	}
out:
	metadata_clear(&m);
	json_decref(cur);
	json_decref(saml);
	json_decref(doc);
	return rc;
}
