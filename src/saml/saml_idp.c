/*
 * saml_idp.c - the IdP's identity: entity id, signing credentials (ECDSA
 * from a dedicated key or the token key ring, RSA for SPs that need it),
 * their self-signed certificates, and the metadata that publishes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "app/app.h"
#include "core/log.h"
#include "core/util.h"
#include "crypto/keys.h"
#include "saml/saml_int.h"
#include "trust/xmldsig.h"

#define CERT_PEM_MAX 65536
#define CERT_DAYS 3650 /* SPs pin the certificate, not its dates */

/*
 * self_signed makes a certificate for key naming cn, valid CERT_DAYS from
 * now, signed by key itself (SHA-256). Caller frees.
 */
static X509 *
self_signed(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (x == NULL || rand_bytes(serial, sizeof(serial)) != SA_OK)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_get_subject_name(x);
	if (bn == NULL || X509_set_version(x, 2) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 86400) ==
		NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1,
				       0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	ok = 1;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* read_certs reads every CERTIFICATE block of a PEM file (at most max). */
static enum sa_err
read_certs(const char *path, X509 **out, size_t max, size_t *n)
{
	unsigned char *text = NULL;
	size_t len = 0;
	BIO *b;
	enum sa_err rc;

	*n = 0;
	if ((rc = read_file(path, CERT_PEM_MAX, &text, &len)) != SA_OK)
		return rc;
	b = BIO_new_mem_buf(text, (int)len);
	while (b != NULL && *n < max) {
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

		if (x == NULL)
			break;
		out[(*n)++] = x;
	}
	BIO_free(b);
	free(text);
	return *n > 0 ? SA_OK : SA_ERR_CONFIG;
}

/*
 * publish_cert writes x to path unless a file is already there: written to
 * a temporary file, then linked into place, which fails when another
 * instance sharing DATA_DIR won the race (their certificate is then read
 * back, so every instance publishes the same one).
 */
static enum sa_err
publish_cert(const char *path, X509 *x)
{
	char tmp[4300];
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long n;
	enum sa_err rc;

	if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
		BIO_free(b);
		return SA_ERR_NOMEM;
	}
	n = BIO_get_mem_data(b, &pem);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	rc = write_file_atomic(tmp, pem, (size_t)n, 0644);
	BIO_free(b);
	if (rc != SA_OK)
		return rc;
	if (link(tmp, path) != 0 && errno != EEXIST)
		rc = SA_ERR_IO;
	unlink(tmp);
	return rc;
}

/*
 * cert_for loads DIR/name, or makes a self-signed certificate for key and
 * publishes it there first. The certificate must carry key's public key.
 */
static enum sa_err
cert_for(struct saml_idp *idp, const char *name, EVP_PKEY *key, X509 **out)
{
	char path[4200], cn[200];
	X509 *x = NULL;
	size_t n = 0;
	enum sa_err rc;

	snprintf(path, sizeof(path), "%s/%s", idp->cert_dir, name);
	if (access(path, F_OK) != 0) {
		/* A CN holds at most 64 characters. */
		snprintf(cn, sizeof(cn), "sealauth SAML %.40s", name);
		x = self_signed(key, cn);
		if (x == NULL)
			return SA_ERR_INTERNAL;
		rc = publish_cert(path, x);
		if (rc != SA_OK) {
			/* Once started, the sandbox may forbid writing: a key
			 * rotated in at run time keeps its certificate in
			 * memory (another instance makes its own until the
			 * next start writes one for all). */
			log_warn("saml.keys",
				 "cannot write %s; its certificate is kept "
				 "in memory",
				 path);
			*out = x;
			return SA_OK;
		}
		X509_free(x);
		x = NULL;
	}
	if ((rc = read_certs(path, &x, 1, &n)) != SA_OK)
		return rc;
	if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1) {
		X509_free(x);
		return SA_ERR_CONFIG;
	}
	*out = x;
	return SA_OK;
}

/* ring_refresh makes sure every published ring key has its certificate. */
static enum sa_err
ring_refresh(struct saml_idp *idp, int64_t now)
{
	json_t *list = keys_list_json(idp->ring, now), *k;
	size_t i;
	enum sa_err rc = SA_OK;

	if (list == NULL)
		return SA_ERR_NOMEM;
	json_array_foreach(list, i, k)
	{
		const char *kid = json_string_value(json_object_get(k, "kid"));
		json_t *un = json_object_get(k, "unpublish_at");
		EVP_PKEY *key = NULL;
		char name[JWK_KID_LEN + 8];
		int have = 0;

		if (kid == NULL ||
		    (json_is_integer(un) && json_integer_value(un) <= now))
			continue;
		for (size_t j = 0; j < idp->nring; j++)
			if (strcmp(idp->ring_creds[j].kid, kid) == 0)
				have = 1;
		if (have || idp->nring >= SAML_RING_CERTS_MAX)
			continue;
		if (keys_find(idp->ring, kid, now, &key) != SA_OK)
			continue;
		snprintf(name, sizeof(name), "%s.crt", kid);
		rc =
		    cert_for(idp, name, key, &idp->ring_creds[idp->nring].cert);
		if (rc != SA_OK) {
			EVP_PKEY_free(key);
			break;
		}
		snprintf(idp->ring_creds[idp->nring].kid, JWK_KID_LEN, "%s",
			 kid);
		idp->ring_creds[idp->nring].key = key;
		idp->nring++;
	}
	json_decref(list);
	return rc;
}

enum sa_err
saml_idp_signer(struct saml_idp *idp, enum saml_sigalg alg, int64_t now,
		EVP_PKEY **key, X509 **cert)
{
	char kid[JWK_KID_LEN];
	EVP_PKEY *k = NULL;
	enum sa_err rc;

	if (alg == SAML_SIG_RSA_SHA256 || idp->ec.key != NULL) {
		const struct saml_cred *c =
		    alg == SAML_SIG_RSA_SHA256 ? &idp->rsa : &idp->ec;

		if (EVP_PKEY_up_ref(c->key) != 1 || X509_up_ref(c->cert) != 1)
			return SA_ERR_INTERNAL;
		*key = c->key;
		*cert = c->cert;
		return SA_OK;
	}
	if ((rc = keys_signing_key(idp->ring, now, &k, kid)) != SA_OK)
		return rc;
	pthread_mutex_lock(&idp->mu);
	rc = ring_refresh(idp, now);
	for (size_t i = 0; rc == SA_OK && i < idp->nring; i++)
		if (strcmp(idp->ring_creds[i].kid, kid) == 0) {
			X509_up_ref(idp->ring_creds[i].cert);
			*cert = idp->ring_creds[i].cert;
			*key = k;
			k = NULL;
			pthread_mutex_unlock(&idp->mu);
			return SA_OK;
		}
	pthread_mutex_unlock(&idp->mu);
	EVP_PKEY_free(k);
	return rc != SA_OK ? rc : SA_ERR_UNAVAILABLE;
}

enum sa_err
saml_idp_certs(struct saml_idp *idp, int64_t now, X509 **out, size_t max,
	       size_t *n)
{
	enum sa_err rc = SA_OK;

	*n = 0;
	if (idp->ec.key != NULL) {
		if (*n < max && X509_up_ref(idp->ec.cert) == 1)
			out[(*n)++] = idp->ec.cert;
		for (size_t i = 0; i < idp->nextra && *n < max; i++)
			if (X509_up_ref(idp->extra[i]) == 1)
				out[(*n)++] = idp->extra[i];
	} else {
		json_t *list;
		size_t i;
		json_t *k;

		pthread_mutex_lock(&idp->mu);
		rc = ring_refresh(idp, now);
		list = keys_list_json(idp->ring, now);
		/* Only keys the ring still publishes (next, active, live). */
		json_array_foreach(list, i, k)
		{
			const char *kid =
			    json_string_value(json_object_get(k, "kid"));
			json_t *un = json_object_get(k, "unpublish_at");

			if (kid == NULL || (json_is_integer(un) &&
					    json_integer_value(un) <= now))
				continue;
			for (size_t j = 0; j < idp->nring && *n < max; j++)
				if (strcmp(idp->ring_creds[j].kid, kid) == 0 &&
				    X509_up_ref(idp->ring_creds[j].cert) == 1)
					out[(*n)++] = idp->ring_creds[j].cert;
		}
		json_decref(list);
		pthread_mutex_unlock(&idp->mu);
	}
	if (*n < max && X509_up_ref(idp->rsa.cert) == 1)
		out[(*n)++] = idp->rsa.cert;
	return rc;
}

/* rsa_generate makes a 2048-bit RSA key and writes it to path (0600). */
static enum sa_err
rsa_generate(const char *path, FILE *err)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long n;
	enum sa_err rc = SA_ERR_NOMEM;

	if (k != NULL && b != NULL &&
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1) {
		n = BIO_get_mem_data(b, &pem);
		rc = write_file_atomic(path, pem, (size_t)n, 0600);
		OPENSSL_cleanse(pem, (size_t)n);
		if (rc != SA_OK)
			keys_say(err, "cannot write %s", path);
	}
	BIO_free(b);
	EVP_PKEY_free(k);
	return rc;
}

/* load_rsa sets up the RSA credential: configured, or in DATA_DIR/saml. */
static enum sa_err
load_rsa(struct saml_idp *idp, const struct config *cfg, FILE *err)
{
	char path[4200];
	size_t n = 0;
	enum sa_err rc;

	if (cfg->saml_rsa_key_path[0] != '\0') {
		if ((rc = keys_load_private_file(cfg->saml_rsa_key_path, 1, err,
						 &idp->rsa.key)) != SA_OK)
			return rc;
		if (cfg->saml_rsa_cert_path[0] == '\0' ||
		    read_certs(cfg->saml_rsa_cert_path, &idp->rsa.cert, 1,
			       &n) != SA_OK ||
		    EVP_PKEY_eq(X509_get0_pubkey(idp->rsa.cert),
				idp->rsa.key) != 1) {
			keys_say(err,
				 "SEALAUTH_SAML_RSA_CERT_PATH must hold the "
				 "certificate of SEALAUTH_SAML_RSA_KEY_PATH");
			return SA_ERR_CONFIG;
		}
		return SA_OK;
	}
	snprintf(path, sizeof(path), "%s/rsa.pem", idp->cert_dir);
	if (access(path, F_OK) != 0 && (rc = rsa_generate(path, err)) != SA_OK)
		return rc;
	if ((rc = keys_load_private_file(path, 1, err, &idp->rsa.key)) != SA_OK)
		return rc;
	if (EVP_PKEY_base_id(idp->rsa.key) != EVP_PKEY_RSA) {
		keys_say(err, "%s is not an RSA key", path);
		return SA_ERR_CONFIG;
	}
	snprintf(idp->rsa.kid, sizeof(idp->rsa.kid), "rsa");
	if ((rc = cert_for(idp, "rsa.crt", idp->rsa.key, &idp->rsa.cert)) !=
	    SA_OK)
		keys_say(err, "cannot set up %s/rsa.crt", idp->cert_dir);
	return rc;
}

/* load_ec sets up a dedicated ECDSA key and its certificate(s). */
static enum sa_err
load_ec(struct saml_idp *idp, const struct config *cfg, FILE *err)
{
	X509 *certs[5];
	size_t n = 0;
	enum sa_err rc;

	if ((rc = keys_load_private_file(cfg->saml_key_path, 0, err,
					 &idp->ec.key)) != SA_OK)
		return rc;
	if (cfg->saml_cert_path[0] == '\0' ||
	    read_certs(cfg->saml_cert_path, certs, ARRAY_LEN(certs), &n) !=
		SA_OK) {
		keys_say(err,
			 "SEALAUTH_SAML_CERT_PATH must name the certificate "
			 "of SEALAUTH_SAML_KEY_PATH");
		return SA_ERR_CONFIG;
	}
	/* The first block that carries the key signs; others are published
	 * alongside (the next or previous key of a rotation). */
	for (size_t i = 0; i < n; i++) {
		if (idp->ec.cert == NULL &&
		    EVP_PKEY_eq(X509_get0_pubkey(certs[i]), idp->ec.key) == 1)
			idp->ec.cert = certs[i];
		else
			idp->extra[idp->nextra++] = certs[i];
	}
	if (idp->ec.cert == NULL) {
		keys_say(
		    err,
		    "no certificate in SEALAUTH_SAML_CERT_PATH carries the "
		    "key of SEALAUTH_SAML_KEY_PATH");
		return SA_ERR_CONFIG;
	}
	snprintf(idp->ec.kid, sizeof(idp->ec.kid), "saml");
	return SA_OK;
}

enum sa_err
saml_idp_open(struct app *app, FILE *err, struct saml_idp **out)
{
	const struct config *cfg = &app->cfg;
	struct saml_idp *idp = calloc(1, sizeof(*idp));
	size_t n;
	enum sa_err rc = SA_ERR_CONFIG;

	if (idp == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&idp->mu, NULL);
	idp->app = app;
	idp->assertion_ttl = cfg->saml_assertion_ttl;
	idp->request_max_age = cfg->saml_request_max_age;
	idp->slo_timeout = cfg->saml_slo_timeout;
	snprintf(idp->base_url, sizeof(idp->base_url), "%s", cfg->public_url);
	n = strlen(idp->base_url);
	while (n > 0 && idp->base_url[n - 1] == '/')
		idp->base_url[--n] = '\0';
	if (cfg->saml_entity_id[0] != '\0')
		snprintf(idp->entity_id, sizeof(idp->entity_id), "%s",
			 cfg->saml_entity_id);
	else if ((size_t)snprintf(idp->entity_id, sizeof(idp->entity_id),
				  "%s/saml/metadata",
				  idp->base_url) >= sizeof(idp->entity_id)) {
		/* A cut entity id would name another IdP: refuse. */
		keys_say(err, "SEALAUTH_PUBLIC_URL is too long for a SAML "
			      "entity id; set SEALAUTH_SAML_ENTITY_ID");
		rc = SA_ERR_CONFIG;
		goto out;
	}
	snprintf(idp->cert_dir, sizeof(idp->cert_dir), "%s/saml",
		 cfg->data_dir);
	if ((rc = mkdir_p(idp->cert_dir, 0700)) != SA_OK) {
		keys_say(err, "cannot create %s", idp->cert_dir);
		goto out;
	}
	if (cfg->saml_key_path[0] != '\0') {
		if ((rc = load_ec(idp, cfg, err)) != SA_OK)
			goto out;
	} else {
		idp->ring = app->keys;
		pthread_mutex_lock(&idp->mu);
		rc = ring_refresh(idp, now_unix());
		pthread_mutex_unlock(&idp->mu);
		if (rc != SA_OK) {
			keys_say(err,
				 "cannot set up the SAML certificates in %s",
				 idp->cert_dir);
			goto out;
		}
	}
	if ((rc = load_rsa(idp, cfg, err)) != SA_OK)
		goto out;
	*out = idp;
	idp = NULL;
out:
	saml_idp_close(idp);
	return rc;
}

void
saml_idp_close(struct saml_idp *idp)
{
	if (idp == NULL)
		return;
	for (size_t i = 0; i < idp->nring; i++) {
		EVP_PKEY_free(idp->ring_creds[i].key);
		X509_free(idp->ring_creds[i].cert);
	}
	EVP_PKEY_free(idp->ec.key);
	X509_free(idp->ec.cert);
	for (size_t i = 0; i < idp->nextra; i++)
		X509_free(idp->extra[i]);
	EVP_PKEY_free(idp->rsa.key);
	X509_free(idp->rsa.cert);
	pthread_mutex_destroy(&idp->mu);
	free(idp);
}

/* ---- Metadata ------------------------------------------------------------ */

/* add_key_descriptor adds a signing KeyDescriptor carrying cert. */
static int
add_key_descriptor(xmlNodePtr idpd, xmlNsPtr md, xmlNsPtr ds, X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	char *b64;
	xmlNodePtr kd, ki, xd;

	if (len <= 0)
		return -1;
	b64 = b64_encode(der, (size_t)len);
	OPENSSL_free(der);
	if (b64 == NULL)
		return -1;
	kd = xmlNewChild(idpd, md, (const xmlChar *)"KeyDescriptor", NULL);
	xmlNewProp(kd, (const xmlChar *)"use", (const xmlChar *)"signing");
	ki = xmlNewChild(kd, ds, (const xmlChar *)"KeyInfo", NULL);
	xd = xmlNewChild(ki, ds, (const xmlChar *)"X509Data", NULL);
	xmlNewTextChild(xd, ds, (const xmlChar *)"X509Certificate",
			(const xmlChar *)b64);
	free(b64);
	return 0;
}

/* add_endpoint adds an SSO or SLO endpoint element. */
static void
add_endpoint(xmlNodePtr idpd, xmlNsPtr md, const char *elem,
	     const char *binding, const char *url)
{
	xmlNodePtr e = xmlNewChild(idpd, md, (const xmlChar *)elem, NULL);

	xmlNewProp(e, (const xmlChar *)"Binding", (const xmlChar *)binding);
	xmlNewProp(e, (const xmlChar *)"Location", (const xmlChar *)url);
}

enum sa_err
saml_metadata_build(struct saml_idp *idp, int sign, int64_t now, char **out,
		    size_t *outlen)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr ed, idpd;
	xmlNsPtr md, ds;
	X509 *certs[SAML_RING_CERTS_MAX + 8];
	char id[SAML_ID_LEN + 1], url[SAML_URL_MAX + 64], until[32];
	size_t n = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum sa_err rc = SA_ERR_NOMEM;

	if (doc == NULL)
		return SA_ERR_NOMEM;
	if ((rc = saml_new_id(id)) != SA_OK)
		goto out;
	rc = SA_ERR_NOMEM;
	ed = xmlNewNode(NULL, (const xmlChar *)"EntityDescriptor");
	md = xmlNewNs(ed, (const xmlChar *)SAML_NS_METADATA,
		      (const xmlChar *)"md");
	ds = xmlNewNs(ed, (const xmlChar *)SAML_NS_DSIG, (const xmlChar *)"ds");
	xmlSetNs(ed, md);
	xmlDocSetRootElement(doc, ed);
	xmlNewProp(ed, (const xmlChar *)"ID", (const xmlChar *)id);
	xmlNewProp(ed, (const xmlChar *)"entityID",
		   (const xmlChar *)idp->entity_id);
	/* SPs refetch within a day; rotation publishes ahead of that. */
	saml_time_format(now + 7 * 86400, until);
	xmlNewProp(ed, (const xmlChar *)"validUntil", (const xmlChar *)until);
	xmlNewProp(ed, (const xmlChar *)"cacheDuration",
		   (const xmlChar *)"PT1H");
	idpd = xmlNewChild(ed, md, (const xmlChar *)"IDPSSODescriptor", NULL);
	xmlNewProp(idpd, (const xmlChar *)"protocolSupportEnumeration",
		   (const xmlChar *)SAML_NS_PROTOCOL);
	xmlNewProp(idpd, (const xmlChar *)"WantAuthnRequestsSigned",
		   (const xmlChar *)"false");
	if ((rc = saml_idp_certs(idp, now, certs, ARRAY_LEN(certs), &n)) !=
	    SA_OK)
		goto out;
	rc = SA_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (add_key_descriptor(idpd, md, ds, certs[i]) != 0)
			goto out;
	snprintf(url, sizeof(url), "%s/saml/slo", idp->base_url);
	add_endpoint(idpd, md, "SingleLogoutService", SAML_BINDING_URI_REDIRECT,
		     url);
	add_endpoint(idpd, md, "SingleLogoutService", SAML_BINDING_URI_POST,
		     url);
	xmlNewTextChild(idpd, md, (const xmlChar *)"NameIDFormat",
			(const xmlChar *)SAML_NAMEID_URI_PERSISTENT);
	xmlNewTextChild(idpd, md, (const xmlChar *)"NameIDFormat",
			(const xmlChar *)SAML_NAMEID_URI_TRANSIENT);
	snprintf(url, sizeof(url), "%s/saml/sso", idp->base_url);
	add_endpoint(idpd, md, "SingleSignOnService", SAML_BINDING_URI_REDIRECT,
		     url);
	add_endpoint(idpd, md, "SingleSignOnService", SAML_BINDING_URI_POST,
		     url);
	if (sign) {
		if ((rc = saml_idp_signer(idp, SAML_SIG_ECDSA_SHA256, now, &key,
					  &cert)) != SA_OK ||
		    (rc = xmldsig_sign_element(doc, ed, "ID", NULL, key,
					       cert)) != SA_OK)
			goto out;
	}
	rc = saml_doc_dump(doc, out, outlen);
out:
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	EVP_PKEY_free(key);
	X509_free(cert);
	xmlFreeDoc(doc);
	return rc;
}
