/*
 * trust_demo.c - build a complete demo trust environment (trust.h):
 * governance key -> scheme operator -> TSL operator -> CA -> signer, with
 * the CRL, the VRL, the manifest description and a sample seal, so that the
 * server runs and the tests pass without outside infrastructure.
 *
 * Layout of DIR (docs/trust.md):
 *   governance.pem             the certificate to pin
 *   trust.conf                 SEALAUTH_TRUST_GOVERNANCE_URL/_CERT lines
 *   private/NAME.key           P-256 keys, 0600, directory 0700
 *   certs/NAME.pem             the operators' certificates, for reference
 *   lists/governance.xml       published tree; locations inside the lists
 *   lists/scheme-DEMO.xml      are relative, so DIR may move
 *   lists/tsl-DEMO.xml
 *   lists/vrl-DEMO.xml
 *   lists/ca/DEMO.pem, DEMO.crl
 *   lists/ca/signers/DEMO0001.pem
 *   lists/manifests/0A0001.json
 *   samples/DEMO0001.b64       a seal signed by the demo signer
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "trust/trust.h"
#include "trust/tsl.h"
#include "trust/usagelist.h"
#include "core/util.h"
#include "seal/vds.h"
#include "trust/vrl.h"

#define DAY 86400

static const char manifest_json[] =
    "{\n"
    "  \"manifest\": \"0A0001\",\n"
    "  \"name\": \"sealauth identity seal\",\n"
    "  \"payload\": \"MessagePack map\",\n"
    "  \"fields\": [\n"
    "    {\"key\": \"gn\", \"claim\": \"givenName\", \"type\": \"string\", "
    "\"maxBytes\": 128, \"required\": true},\n"
    "    {\"key\": \"fn\", \"claim\": \"familyName\", \"type\": \"string\", "
    "\"maxBytes\": 128, \"required\": true},\n"
    "    {\"key\": \"dob\", \"claim\": \"dateOfBirth\", \"type\": "
    "\"date\", \"format\": \"YYYY-MM-DD\", \"required\": true},\n"
    "    {\"key\": \"nat\", \"claim\": \"nationality\", \"type\": "
    "\"string\", \"format\": \"3 uppercase letters\", \"required\": "
    "false},\n"
    "    {\"key\": \"doc\", \"claim\": \"documentNumber\", \"type\": "
    "\"string\", \"maxBytes\": 64, \"required\": false},\n"
    "    {\"key\": \"tid\", \"claim\": \"tokenId\", \"type\": \"string\", "
    "\"format\": \"printable ASCII\", \"maxBytes\": 64, \"required\": "
    "true},\n"
    "    {\"key\": \"exp\", \"claim\": \"expiry\", \"type\": \"date\", "
    "\"format\": \"YYYY-MM-DD\", \"required\": false},\n"
    "    {\"key\": \"photo\", \"claim\": \"photoBase64\", \"type\": "
    "\"bytes\", \"format\": \"WEBP\", \"required\": false},\n"
    "    {\"key\": \"face\", \"type\": \"bytes\", \"format\": \"face "
    "template\", \"required\": false}\n"
    "  ]\n"
    "}\n";

/* A key with its certificate. */
struct demo_party {
	EVP_PKEY *key;
	X509 *cert;
};

static void
party_free(struct demo_party *p)
{
	EVP_PKEY_free(p->key);
	X509_free(p->cert);
	p->key = NULL;
	p->cert = NULL;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (e == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/*
 * make_cert issues a certificate for p->key named CN=cn, O=sealauth DEMO,
 * signed by issuer (self-signed when issuer is NULL). low is the low 16
 * bits of the serial number; the rest is random.
 */
static enum sa_err
make_cert(struct demo_party *p, const char *cn, const struct demo_party *issuer,
	  unsigned int low, int64_t nb, int64_t na, int is_ca,
	  const unsigned char (*usage)[3], size_t nusage)
{
	X509 *x = X509_new();
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	unsigned char serial[10];
	X509 *iss_cert;
	EVP_PKEY *iss_key;
	enum sa_err rc = SA_ERR_INTERNAL;

	if (x == NULL || rand_bytes(serial, sizeof(serial)) != SA_OK)
		goto out;
	serial[0] = (serial[0] & 0x3f) | 0x10; /* positive, 10 bytes */
	serial[8] = (unsigned char)(low >> 8);
	serial[9] = (unsigned char)low;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_NAME_new();
	if (bn == NULL || name == NULL || !X509_set_version(x, 2) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					(const unsigned char *)"sealauth DEMO",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_pubkey(x, p->key) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) == NULL)
		goto out;
	iss_cert = issuer != NULL ? issuer->cert : x;
	iss_key = issuer != NULL ? issuer->key : p->key;
	if (!X509_set_issuer_name(x, X509_get_subject_name(iss_cert)))
		goto out;
	if (!add_ext(x, iss_cert, NID_basic_constraints,
		     is_ca ? "critical,CA:TRUE,pathlen:0"
			   : "critical,CA:FALSE") ||
	    !add_ext(x, iss_cert, NID_key_usage,
		     is_ca ? "critical,keyCertSign,cRLSign"
			   : "critical,digitalSignature") ||
	    !add_ext(x, iss_cert, NID_subject_key_identifier, "hash") ||
	    (issuer != NULL &&
	     !add_ext(x, iss_cert, NID_authority_key_identifier,
		      "keyid:always")))
		goto out;
	if (nusage > 0 &&
	    (rc = usagelist_add_to_cert(x, usage, nusage)) != SA_OK)
		goto out;
	rc = SA_ERR_INTERNAL;
	if (X509_sign(x, iss_key, EVP_sha256()) <= 0)
		goto out;
	p->cert = x;
	x = NULL;
	rc = SA_OK;
out:
	X509_NAME_free(name);
	BN_free(bn);
	X509_free(x);
	return rc;
}

static enum sa_err
new_party(struct demo_party *p)
{
	memset(p, 0, sizeof(*p));
	p->key = EVP_EC_gen("P-256");
	return p->key != NULL ? SA_OK : SA_ERR_INTERNAL;
}

/* path_join writes dir/rel into out (PATH_MAX). */
static enum sa_err
path_join(char *out, const char *dir, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, rel);

	return n > 0 && n < PATH_MAX ? SA_OK : SA_ERR_CONFIG;
}

static enum sa_err
write_bio(const char *dir, const char *rel, BIO *b, unsigned int mode)
{
	char path[PATH_MAX];
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	enum sa_err rc = path_join(path, dir, rel);

	if (rc != SA_OK)
		return rc;
	if (n < 0 || data == NULL)
		return SA_ERR_INTERNAL;
	return write_file_atomic(path, data, (size_t)n, mode);
}

static enum sa_err
write_cert(const char *dir, const char *rel, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	enum sa_err rc = SA_ERR_NOMEM;

	if (b != NULL && PEM_write_bio_X509(b, x))
		rc = write_bio(dir, rel, b, 0644);
	BIO_free(b);
	return rc;
}

/* write_key writes a private key as PKCS#8 PEM, mode 0600, and wipes the
 * memory copy. */
static enum sa_err
write_key(const char *dir, const char *rel, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_secmem());
	enum sa_err rc = SA_ERR_NOMEM;

	if (b == NULL)
		b = BIO_new(BIO_s_mem());
	if (b != NULL &&
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		rc = write_bio(dir, rel, b, 0600);
	if (b != NULL) {
		char *data = NULL;
		long n = BIO_get_mem_data(b, &data);

		if (n > 0 && data != NULL)
			OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(b);
	return rc;
}

static enum sa_err
write_bytes(const char *dir, const char *rel, const void *data, size_t n)
{
	char path[PATH_MAX];
	enum sa_err rc = path_join(path, dir, rel);

	return rc == SA_OK ? write_file_atomic(path, data, n, 0644) : rc;
}

/* read_key reads a PEM private key from dir/rel; the file copy is wiped. */
static EVP_PKEY *
read_key(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	unsigned char *pem = NULL;
	size_t len = 0;
	BIO *b;
	EVP_PKEY *k = NULL;

	if (path_join(path, dir, rel) != SA_OK ||
	    read_file(path, 65536, &pem, &len) != SA_OK)
		return NULL;
	b = BIO_new_mem_buf(pem, (int)len);
	if (b != NULL)
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return k;
}

static X509 *
read_cert(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	unsigned char *pem = NULL;
	size_t len = 0;
	BIO *b;
	X509 *x = NULL;

	if (path_join(path, dir, rel) != SA_OK ||
	    read_file(path, TRUST_MAX_CERT_BYTES, &pem, &len) != SA_OK)
		return NULL;
	b = BIO_new_mem_buf(pem, (int)len);
	if (b != NULL)
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	free(pem);
	return x;
}

static struct tsl_cert
der_of(X509 *x)
{
	struct tsl_cert c = {NULL, 0};
	int n = i2d_X509(x, &c.der);

	c.len = n > 0 ? (size_t)n : 0;
	return c;
}

/* build_list signs in with p and writes it to dir/rel. */
static enum sa_err
build_list(const char *dir, const char *rel, const struct tsl *in,
	   const struct demo_party *p)
{
	unsigned char *xml = NULL;
	size_t len = 0;
	enum sa_err rc = tsl_build(in, p->key, p->cert, &xml, &len);

	if (rc == SA_OK)
		rc = write_bytes(dir, rel, xml, len);
	free(xml);
	return rc;
}

static enum sa_err
build_crl(const char *dir, const struct demo_party *ca, X509 *revoked,
	  int64_t now, int64_t next)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *lu = ASN1_TIME_set(NULL, (time_t)(now - 60));
	ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)next);
	X509_REVOKED *r = NULL;
	unsigned char *der = NULL;
	int n;
	enum sa_err rc = SA_ERR_INTERNAL;

	if (crl == NULL || lu == NULL || nu == NULL ||
	    !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, lu) ||
	    !X509_CRL_set1_nextUpdate(crl, nu))
		goto out;
	if (revoked != NULL) {
		r = X509_REVOKED_new();
		if (r == NULL ||
		    !X509_REVOKED_set_serialNumber(
			r, (ASN1_INTEGER *)X509_get0_serialNumber(revoked)) ||
		    !X509_REVOKED_set_revocationDate(r, lu) ||
		    !X509_CRL_add0_revoked(crl, r))
			goto out;
		r = NULL;
	}
	if (!X509_CRL_sort(crl) ||
	    X509_CRL_sign(crl, ca->key, EVP_sha256()) <= 0)
		goto out;
	n = i2d_X509_CRL(crl, &der);
	if (n <= 0)
		goto out;
	rc = write_bytes(dir, "lists/ca/" TRUST_DEMO_CA_ID ".crl", der,
			 (size_t)n);
out:
	OPENSSL_free(der);
	X509_REVOKED_free(r);
	ASN1_TIME_free(lu);
	ASN1_TIME_free(nu);
	X509_CRL_free(crl);
	return rc;
}

/* write_lists writes the governance list, scheme list and TSL. */
static enum sa_err
write_lists(const char *dir, const struct trust_demo_opts *o, int64_t now,
	    int64_t next, const struct demo_party *gov,
	    const struct demo_party *scheme, const struct demo_party *tslop,
	    const struct demo_party *ca)
{
	struct tsl_cert cs = der_of(scheme->cert), ct = der_of(tslop->cert),
			cc = der_of(ca->cert);
	struct tsl_kv gov_info[] = {
	    {NULL, "TSLType", TRUST_TYPE_SCHEME, 0},
	    {NULL, "SchemeTerritory", TRUST_DEMO_IAC, 0},
	    {NULL, "SchemeOperatorName/Name", "sealauth DEMO scheme operator",
	     0},
	};
	struct tsl_kv scheme_info[] = {
	    {NULL, "TSLType", TRUST_TYPE_TSL, 0},
	    {NULL, "SchemeTerritory", TRUST_DEMO_IAC, 0},
	    {NULL, "SchemeOperatorName/Name", "sealauth DEMO TSL operator", 0},
	    {TRUST_NS, "ManifestIds",
	     (char *)(o->scheme_manifests != NULL ? o->scheme_manifests
						  : VDS_PROFILE_MANIFEST),
	     0},
	    {TRUST_NS, "VrlLocation", "vrl-" TRUST_DEMO_IAC ".xml", 0},
	};
	struct tsl_kv ca_ext[] = {
	    {TRUST_NS, "CrlLocation", "ca/" TRUST_DEMO_CA_ID ".crl", 0},
	    {TRUST_NS, "SignerCertBase", "ca/signers", 0},
	};
	struct tsl_pointer ptr;
	struct tsl_tsp tsp = {"sealauth DEMO CA operator", 0, 1};
	struct tsl_service svc;
	struct tsl in;
	enum sa_err rc = SA_ERR_NOMEM;

	if (cs.der == NULL || ct.der == NULL || cc.der == NULL)
		goto out;
	memset(&in, 0, sizeof(in));
	in.version = 5;
	in.sequence = 1;
	in.issued = now;
	in.next_update = next;
	in.has_next_update = 1;

	memset(&ptr, 0, sizeof(ptr));
	ptr.location = "scheme-" TRUST_DEMO_IAC ".xml";
	ptr.certs = &cs;
	ptr.ncerts = 1;
	ptr.info = gov_info;
	ptr.ninfo = ARRAY_LEN(gov_info);
	in.type = TRUST_TYPE_GOVERNANCE_DEMO;
	in.operator_name = "sealauth DEMO governance";
	in.pointers = &ptr;
	in.npointers = 1;
	if ((rc = build_list(dir, "lists/governance.xml", &in, gov)) != SA_OK)
		goto out;

	ptr.location = "tsl-" TRUST_DEMO_IAC ".xml";
	ptr.certs = &ct;
	ptr.info = scheme_info;
	ptr.ninfo = ARRAY_LEN(scheme_info);
	in.type = TRUST_TYPE_SCHEME;
	in.territory = TRUST_DEMO_IAC;
	in.operator_name = "sealauth DEMO scheme operator";
	if ((rc = build_list(dir, "lists/scheme-" TRUST_DEMO_IAC ".xml", &in,
			     scheme)) != SA_OK)
		goto out;

	memset(&svc, 0, sizeof(svc));
	svc.type = TRUST_SVC_CA;
	svc.name = TRUST_DEMO_CA_ID;
	svc.status = TRUST_SVC_GRANTED;
	svc.status_start = now;
	svc.has_status_start = 1;
	svc.certs = &cc;
	svc.ncerts = 1;
	svc.ext = ca_ext;
	svc.next = ARRAY_LEN(ca_ext);
	in.type = TRUST_TYPE_TSL;
	in.operator_name = "sealauth DEMO TSL operator";
	in.pointers = NULL;
	in.npointers = 0;
	in.tsps = &tsp;
	in.ntsps = 1;
	in.services = &svc;
	in.nservices = 1;
	rc = build_list(dir, "lists/tsl-" TRUST_DEMO_IAC ".xml", &in, tslop);
out:
	OPENSSL_free(cs.der);
	OPENSSL_free(ct.der);
	OPENSSL_free(cc.der);
	return rc;
}

static enum sa_err
write_vrl(const char *dir, const struct vrl *v, const struct demo_party *op)
{
	unsigned char *xml = NULL;
	size_t len = 0;
	enum sa_err rc = vrl_build(v, op->key, op->cert, &xml, &len);

	if (rc == SA_OK)
		rc = write_bytes(dir, "lists/vrl-" TRUST_DEMO_IAC ".xml", xml,
				 len);
	free(xml);
	return rc;
}

static enum sa_err
write_conf(const char *dir)
{
	char *text = NULL;
	int n = asprintf(&text,
			 "# The demo trust environment (sealauth trust demo).\n"
			 "# Use it with SEALAUTH_CONFIG=%s/trust.conf or copy "
			 "the lines.\n"
			 "SEALAUTH_TRUST_GOVERNANCE_URL = "
			 "file://%s/lists/governance.xml\n"
			 "SEALAUTH_TRUST_GOVERNANCE_CERT = %s/governance.pem\n",
			 dir, dir, dir);
	enum sa_err rc;

	if (n < 0)
		return SA_ERR_NOMEM;
	rc = write_bytes(dir, "trust.conf", text, (size_t)n);
	free(text);
	return rc;
}

static enum sa_err
make_dirs(const char *dir)
{
	static const char *const subs[] = {
	    "lists/ca/signers", "lists/manifests", "certs", "samples"};
	char path[PATH_MAX];
	enum sa_err rc;

	if ((rc = mkdir_p(dir, 0700)) != SA_OK)
		return rc;
	if ((rc = path_join(path, dir, "private")) != SA_OK ||
	    (rc = mkdir_p(path, 0700)) != SA_OK)
		return rc;
	/* an existing private/ made by someone else must not stay open */
	if (chmod(path, 0700) != 0)
		return SA_ERR_IO;
	for (size_t i = 0; i < ARRAY_LEN(subs); i++)
		if ((rc = path_join(path, dir, subs[i])) != SA_OK ||
		    (rc = mkdir_p(path, 0755)) != SA_OK)
			return rc;
	return SA_OK;
}

/* sample_claims fills the claims of the sample seal. */
static void
sample_claims(struct vds_claims *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->given_name, "ERIKA");
	strcpy(c->family_name, "MUSTERMANN");
	strcpy(c->birth_date, "1964-08-12");
	strcpy(c->nationality, "DEU");
	strcpy(c->document, "T22000129");
	strcpy(c->token_id, "DEMO-SAMPLE-0001");
	strcpy(c->expiry, "2031-12-31");
}

enum sa_err
trust_demo_build(const char *dir, const struct trust_demo_opts *opts)
{
	struct trust_demo_opts def;
	const struct trust_demo_opts *o = opts != NULL ? opts : &def;
	struct demo_party gov, scheme, tslop, ca, signer;
	unsigned char usage[1][3];
	struct vrl v;
	struct vds_claims claims;
	unsigned char *seal = NULL;
	char *b64 = NULL, abs[PATH_MAX];
	size_t seal_len = 0;
	int64_t now, next;
	enum sa_err rc;

	memset(&def, 0, sizeof(def));
	memset(&gov, 0, sizeof(gov));
	memset(&scheme, 0, sizeof(scheme));
	memset(&tslop, 0, sizeof(tslop));
	memset(&ca, 0, sizeof(ca));
	memset(&signer, 0, sizeof(signer));
	now = o->now != 0 ? o->now : now_unix();
	next = o->list_next_update != 0 ? o->list_next_update : now + 365 * DAY;

	if ((rc = make_dirs(dir)) != SA_OK)
		goto out;
	if (realpath(dir, abs) == NULL) {
		rc = SA_ERR_IO;
		goto out;
	}
	rc = usagelist_parse_manifest(o->usage_manifest != NULL
					  ? o->usage_manifest
					  : VDS_PROFILE_MANIFEST,
				      usage[0]);
	if (rc != SA_OK)
		goto out;
	if ((rc = new_party(&gov)) != SA_OK ||
	    (rc = new_party(&scheme)) != SA_OK ||
	    (rc = new_party(&tslop)) != SA_OK ||
	    (rc = new_party(&ca)) != SA_OK ||
	    (rc = new_party(&signer)) != SA_OK)
		goto out;
	if ((rc = make_cert(&gov, "sealauth DEMO governance", NULL, 1,
			    now - DAY, now + 3650 * DAY, 0, NULL, 0)) !=
		SA_OK ||
	    (rc = make_cert(&scheme, "sealauth DEMO scheme operator", NULL, 1,
			    now - DAY, now + 3650 * DAY, 0, NULL, 0)) !=
		SA_OK ||
	    (rc = make_cert(&tslop, "sealauth DEMO TSL operator", NULL, 1,
			    now - DAY, now + 3650 * DAY, 0, NULL, 0)) !=
		SA_OK ||
	    (rc = make_cert(
		 &ca, "sealauth DEMO CA " TRUST_DEMO_CA_ID, NULL, 1,
		 o->ca_not_before != 0 ? o->ca_not_before : now - DAY,
		 o->ca_not_after != 0 ? o->ca_not_after : now + 3650 * DAY, 1,
		 NULL, 0)) != SA_OK ||
	    (rc = make_cert(
		 &signer, "sealauth DEMO seal signer 0001", &ca, 0x0001,
		 o->signer_not_before != 0 ? o->signer_not_before : now - DAY,
		 o->signer_not_after != 0 ? o->signer_not_after
					  : now + 730 * DAY,
		 0, o->no_usage_list ? NULL : usage,
		 o->no_usage_list ? 0 : 1)) != SA_OK)
		goto out;

	if ((rc = write_key(abs, "private/governance.key", gov.key)) != SA_OK ||
	    (rc = write_key(abs, "private/scheme.key", scheme.key)) != SA_OK ||
	    (rc = write_key(abs, "private/tsl.key", tslop.key)) != SA_OK ||
	    (rc = write_key(abs, "private/ca.key", ca.key)) != SA_OK ||
	    (rc = write_key(abs, "private/signer.key", signer.key)) != SA_OK)
		goto out;
	if ((rc = write_cert(abs, "governance.pem", gov.cert)) != SA_OK ||
	    (rc = write_cert(abs, "certs/scheme.pem", scheme.cert)) != SA_OK ||
	    (rc = write_cert(abs, "certs/tsl.pem", tslop.cert)) != SA_OK ||
	    (rc = write_cert(abs, "lists/ca/" TRUST_DEMO_CA_ID ".pem",
			     ca.cert)) != SA_OK ||
	    (rc = write_cert(
		 abs,
		 "lists/ca/signers/" TRUST_DEMO_CA_ID TRUST_DEMO_CERT_ID ".pem",
		 signer.cert)) != SA_OK)
		goto out;
	if ((rc =
		 build_crl(abs, &ca, o->revoke_signer ? signer.cert : NULL, now,
			   o->crl_next_update != 0 ? o->crl_next_update
						   : now + 365 * DAY)) != SA_OK)
		goto out;
	memset(&v, 0, sizeof(v));
	v.sequence = 1;
	v.issued = now;
	v.next_update = next;
	if ((rc = write_vrl(abs, &v, &tslop)) != SA_OK ||
	    (rc = write_lists(abs, o, now, next, &gov, &scheme, &tslop, &ca)) !=
		SA_OK)
		goto out;
	if ((rc = write_bytes(abs, "lists/manifests/0A0001.json", manifest_json,
			      sizeof(manifest_json) - 1)) != SA_OK ||
	    (rc = write_conf(abs)) != SA_OK)
		goto out;
	sample_claims(&claims);
	rc = vds_encode_iso(TRUST_DEMO_CA_ID, TRUST_DEMO_CERT_ID,
			    VDS_PROFILE_MANIFEST, (uint32_t)now, &claims,
			    signer.key, &seal, &seal_len);
	if (rc != SA_OK)
		goto out;
	b64 = b64_encode(seal, seal_len);
	if (b64 == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	rc = write_bytes(abs,
			 "samples/" TRUST_DEMO_CA_ID TRUST_DEMO_CERT_ID ".b64",
			 b64, strlen(b64));
out:
	free(b64);
	free(seal);
	party_free(&gov);
	party_free(&scheme);
	party_free(&tslop);
	party_free(&ca);
	party_free(&signer);
	return rc;
}

enum sa_err
trust_demo_ensure(const char *dir, int *created)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct stat st;
	enum sa_err rc;

	if (path_join(a, dir, "lists/governance.xml") != SA_OK ||
	    path_join(b, dir, "governance.pem") != SA_OK)
		return SA_ERR_CONFIG;
	if (stat(a, &st) == 0 && stat(b, &st) == 0) {
		if (created != NULL)
			*created = 0;
		return SA_OK;
	}
	rc = trust_demo_build(dir, NULL);
	if (rc == SA_OK && created != NULL)
		*created = 1;
	return rc;
}

enum sa_err
trust_demo_issue(const char *dir, const struct vds_claims *claims,
		 int64_t signing_time, unsigned char **out, size_t *outlen)
{
	EVP_PKEY *k = read_key(dir, "private/signer.key");
	enum sa_err rc;

	if (k == NULL)
		return SA_ERR_CONFIG;
	if (signing_time < 0 || signing_time > UINT32_MAX) {
		EVP_PKEY_free(k);
		return SA_ERR_VALIDATION;
	}
	rc = vds_encode_iso(TRUST_DEMO_CA_ID, TRUST_DEMO_CERT_ID,
			    VDS_PROFILE_MANIFEST, (uint32_t)signing_time,
			    claims, k, out, outlen);
	EVP_PKEY_free(k);
	return rc;
}

enum sa_err
trust_demo_revoke(const char *dir, const struct vds *seal, int64_t now,
		  uint64_t *sequence)
{
	struct demo_party op;
	char path[PATH_MAX];
	unsigned char *xml = NULL, fp[32];
	size_t len = 0;
	struct vrl *v = NULL;
	EVP_PKEY *pub;
	char why[200];
	enum sa_err rc = SA_ERR_CONFIG;

	memset(&op, 0, sizeof(op));
	op.key = read_key(dir, "private/tsl.key");
	op.cert = read_cert(dir, "certs/tsl.pem");
	if (op.key == NULL || op.cert == NULL)
		goto out;
	pub = X509_get0_pubkey(op.cert);
	if ((rc = path_join(path, dir, "lists/vrl-" TRUST_DEMO_IAC ".xml")) !=
		SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &xml, &len)) != SA_OK ||
	    (rc = vrl_load(xml, len, &pub, 1, &v, why, sizeof(why))) != SA_OK)
		goto out;
	vds_fingerprint(seal, fp);
	if ((rc = vrl_add(v, fp)) != SA_OK)
		goto out;
	v->sequence++;
	v->issued = now;
	if (v->next_update <= now)
		v->next_update = now + 365 * DAY;
	if ((rc = write_vrl(dir, v, &op)) != SA_OK)
		goto out;
	if (sequence != NULL)
		*sequence = v->sequence;
out:
	vrl_free(v);
	free(xml);
	party_free(&op);
	return rc;
}
