/*
 * trust_demo.c - build a complete demo trust environment (trust.h):
 * governance key -> scheme operator -> TSL operator -> CA -> signers (our
 * profile, BioSeal, ICAO), with the CRL, the VRL, the manifest description
 * and a sample seal, so that the server runs and the tests pass without
 * outside infrastructure. docs/trust.md lists what DIR holds: keys in
 * private/ (0600, directory 0700), the pinned governance.pem, trust.conf,
 * and the published tree in lists/, whose locations are relative so DIR
 * may move.
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

#include "trust/certref.h"
#include "trust/trust.h"
#include "trust/trust_int.h"
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

/* A key with its certificate; an ICAO seal signer has a country. */
struct demo_party {
	EVP_PKEY *key;
	X509 *cert;
	const char *country; /* subject C; then the serial is low exactly */
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
 * signed by issuer (self-signed when issuer is NULL). low is the low 20
 * bits of the serial number; the rest is random. A party with a country
 * is an ICAO seal signer, named by C || CN and its whole serial number:
 * C=country is added and the serial is low.
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
	serial[7] = (unsigned char)((serial[7] & 0xf0) | ((low >> 16) & 0x0f));
	serial[8] = (unsigned char)(low >> 8);
	serial[9] = (unsigned char)low;
	bn = p->country != NULL ? BN_new()
				: BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_NAME_new();
	if (bn == NULL || name == NULL || !X509_set_version(x, 2) ||
	    (p->country != NULL &&
	     (!BN_set_word(bn, low) ||
	      !X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8,
					  (const unsigned char *)p->country, -1,
					  -1, 0))) ||
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

/* read_cert reads a certificate (PEM, or DER) from dir/rel. */
static X509 *
read_cert(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	unsigned char *data = NULL;
	size_t len = 0;
	X509 *x;

	if (path_join(path, dir, rel) != SA_OK ||
	    read_file(path, TRUST_MAX_CERT_BYTES, &data, &len) != SA_OK)
		return NULL;
	x = trust_der_or_pem(data, len, ASN1_ITEM_rptr(X509), PEM_STRING_X509);
	free(data);
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

/*
 * build_crl writes the CRL of CA ca_id (number crl_number, revoking
 * revoked's serial when given) to lists/ca/CAID.crl.
 */
static enum sa_err
build_crl(const char *dir, const char *ca_id, const struct demo_party *ca,
	  X509 *revoked, uint64_t crl_number, int64_t now, int64_t next)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *lu = ASN1_TIME_set(NULL, (time_t)(now - 60));
	ASN1_TIME *nu = ASN1_TIME_set(NULL, (time_t)next);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_REVOKED *r = NULL;
	unsigned char *der = NULL;
	char rel[64];
	int n;
	enum sa_err rc = SA_ERR_INTERNAL;

	if (crl == NULL || lu == NULL || nu == NULL || num == NULL ||
	    !ASN1_INTEGER_set_uint64(num, crl_number) ||
	    !X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, lu) ||
	    !X509_CRL_set1_nextUpdate(crl, nu) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
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
	snprintf(rel, sizeof(rel), "lists/ca/%s.crl", ca_id);
	rc = write_bytes(dir, rel, der, (size_t)n);
out:
	OPENSSL_free(der);
	X509_REVOKED_free(r);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(lu);
	ASN1_TIME_free(nu);
	X509_CRL_free(crl);
	return rc;
}

/* auth_rel writes the path of an authority's file: DEMO's keep the
 * top-level names of the first demo, every other one has its folder. */
static void
auth_rel(char *out, size_t n, const char *top, const char *code,
	 const char *name)
{
	if (strcmp(code, TRUST_DEMO_IAC) == 0)
		snprintf(out, n, "%s/%s", top, name);
	else
		snprintf(out, n, "%s/%s/%s", top, code, name);
}

/*
 * write_authority_lists writes the scheme list and the TSL of authority
 * code, whose CA ca_id's CRL and signers sit under lists/ca/.
 */
static enum sa_err
write_authority_lists(const char *dir, const char *code, const char *ca_id,
		      const char *manifests, const char *forms,
		      const char *icao_ids, int64_t now, int64_t next,
		      const struct demo_party *scheme,
		      const struct demo_party *tslop,
		      const struct demo_party *ca)
{
	struct tsl_cert ct = der_of(tslop->cert), cc = der_of(ca->cert);
	char scheme_op[96], tsl_op[96], ca_op[96], vrl_loc[64], crl_loc[64],
	    tsl_loc[64], rel[96];
	struct tsl_kv scheme_info[] = {
	    {NULL, "TSLType", TRUST_TYPE_TSL, 0},
	    {NULL, "SchemeTerritory", (char *)code, 0},
	    {NULL, "SchemeOperatorName/Name", tsl_op, 0},
	    {TRUST_NS, "ManifestIds", (char *)manifests, 0},
	    {TRUST_NS, "VrlLocation", vrl_loc, 0},
	};
	struct tsl_kv ca_ext[4] = {
	    {TRUST_NS, "CrlLocation", crl_loc, 0},
	    {TRUST_NS, "SignerCertBase", "ca/signers", 0},
	};
	size_t next_ext = 2;
	struct tsl_pointer ptr;
	struct tsl_tsp tsp = {ca_op, 0, 1};
	struct tsl_service svc;
	struct tsl in;
	enum sa_err rc = SA_ERR_NOMEM;

	if (ct.der == NULL || cc.der == NULL)
		goto out;
	snprintf(scheme_op, sizeof(scheme_op), "sealauth %s scheme operator",
		 code);
	snprintf(tsl_op, sizeof(tsl_op), "sealauth %s TSL operator", code);
	snprintf(ca_op, sizeof(ca_op), "sealauth %s CA operator", code);
	snprintf(vrl_loc, sizeof(vrl_loc), "vrl-%s.xml", code);
	snprintf(crl_loc, sizeof(crl_loc), "ca/%s.crl", ca_id);
	snprintf(tsl_loc, sizeof(tsl_loc), "tsl-%s.xml", code);
	memset(&in, 0, sizeof(in));
	in.version = 5;
	in.sequence = 1;
	in.issued = now;
	in.next_update = next;
	in.has_next_update = 1;
	memset(&ptr, 0, sizeof(ptr));
	ptr.location = tsl_loc;
	ptr.certs = &ct;
	ptr.ncerts = 1;
	ptr.info = scheme_info;
	ptr.ninfo = ARRAY_LEN(scheme_info);
	in.type = TRUST_TYPE_SCHEME;
	in.territory = (char *)code;
	in.operator_name = scheme_op;
	in.pointers = &ptr;
	in.npointers = 1;
	snprintf(rel, sizeof(rel), "lists/scheme-%s.xml", code);
	if ((rc = build_list(dir, rel, &in, scheme)) != SA_OK)
		goto out;

	memset(&svc, 0, sizeof(svc));
	svc.type = TRUST_SVC_CA;
	svc.name = (char *)ca_id;
	svc.status = TRUST_SVC_GRANTED;
	svc.status_start = now;
	svc.has_status_start = 1;
	svc.certs = &cc;
	svc.ncerts = 1;
	if (forms != NULL)
		ca_ext[next_ext++] =
		    (struct tsl_kv){TRUST_NS, "CertIdForms", (char *)forms, 0};
	if (icao_ids != NULL)
		ca_ext[next_ext++] = (struct tsl_kv){TRUST_NS, "IcaoSignerIds",
						     (char *)icao_ids, 0};
	svc.ext = ca_ext;
	svc.next = next_ext;
	in.type = TRUST_TYPE_TSL;
	in.operator_name = tsl_op;
	in.pointers = NULL;
	in.npointers = 0;
	in.tsps = &tsp;
	in.ntsps = 1;
	in.services = &svc;
	in.nservices = 1;
	snprintf(rel, sizeof(rel), "lists/tsl-%s.xml", code);
	rc = build_list(dir, rel, &in, tslop);
out:
	OPENSSL_free(ct.der);
	OPENSSL_free(cc.der);
	return rc;
}

/*
 * gov_pointer fills a governance pointer to the scheme list of code,
 * signed by scheme_der, declaring prefix (NULL: none). info has room for
 * four pairs.
 */
static void
gov_pointer(struct tsl_pointer *ptr, struct tsl_kv *info, char *loc,
	    size_t locn, char *opname, size_t opn, const char *code,
	    const char *prefix, struct tsl_cert *scheme_der)
{
	snprintf(loc, locn, "scheme-%s.xml", code);
	snprintf(opname, opn, "sealauth %s scheme operator", code);
	info[0] = (struct tsl_kv){NULL, "TSLType", TRUST_TYPE_SCHEME, 0};
	info[1] = (struct tsl_kv){NULL, "SchemeTerritory", (char *)code, 0};
	info[2] = (struct tsl_kv){NULL, "SchemeOperatorName/Name", opname, 0};
	info[3] = (struct tsl_kv){TRUST_NS, "TokenIdPrefix", (char *)prefix, 0};
	memset(ptr, 0, sizeof(*ptr));
	ptr->location = loc;
	ptr->certs = scheme_der;
	ptr->ncerts = 1;
	ptr->info = info;
	ptr->ninfo = prefix != NULL && prefix[0] != '\0' ? 4 : 3;
}

/* write_lists writes the governance list, scheme list and TSL of DEMO. */
static enum sa_err
write_lists(const char *dir, const struct trust_demo_opts *o, int64_t now,
	    int64_t next, const struct demo_party *gov,
	    const struct demo_party *scheme, const struct demo_party *tslop,
	    const struct demo_party *ca)
{
	struct tsl_cert cs = der_of(scheme->cert);
	struct tsl_kv info[4];
	char loc[64], opname[96];
	struct tsl_pointer ptr;
	struct tsl in;
	enum sa_err rc = SA_ERR_NOMEM;

	if (cs.der == NULL)
		goto out;
	memset(&in, 0, sizeof(in));
	in.version = 5;
	in.sequence = 1;
	in.issued = now;
	in.next_update = next;
	in.has_next_update = 1;
	gov_pointer(&ptr, info, loc, sizeof(loc), opname, sizeof(opname),
		    TRUST_DEMO_IAC, NULL, &cs);
	in.type = TRUST_TYPE_GOVERNANCE_DEMO;
	in.operator_name = "sealauth DEMO governance";
	in.pointers = &ptr;
	in.npointers = 1;
	if ((rc = build_list(dir, "lists/governance.xml", &in, gov)) != SA_OK)
		goto out;
	rc = write_authority_lists(
	    dir, TRUST_DEMO_IAC, TRUST_DEMO_CA_ID,
	    o->scheme_manifests != NULL ? o->scheme_manifests
					: VDS_PROFILE_MANIFEST
		" " VDS_BIOSEAL_MANIFEST " " TRUST_DEMO_ICAO_USAGE,
	    o->cert_id_forms != NULL ? o->cert_id_forms : "serial16 serial20",
	    TRUST_DEMO_ICAO_SIGNER, now, next, scheme, tslop, ca);
out:
	OPENSSL_free(cs.der);
	return rc;
}

/* write_vrl signs v for authority iac (v->authority is set to it) and
 * writes it to lists/vrl-IAC.xml. */
static enum sa_err
write_vrl(const char *dir, const char *iac, struct vrl *v,
	  const struct demo_party *op)
{
	unsigned char *xml = NULL;
	size_t len = 0;
	char rel[64];
	enum sa_err rc;

	snprintf(v->authority, sizeof(v->authority), "%s", iac);
	rc = vrl_build(v, op->key, op->cert, &xml, &len);
	snprintf(rel, sizeof(rel), "lists/vrl-%s.xml", iac);
	if (rc == SA_OK)
		rc = write_bytes(dir, rel, xml, len);
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

/*
 * icao_signer writes the demo's signer of ICAO seals, issued by ca: its
 * key and its certificate C=UT, CN=DM with serial 0xA1, which signer
 * identifier UTDM and certificate reference A1 name (ICAO 9303-13), and
 * whose UsageList allows the emergency travel document.
 */
static enum sa_err
icao_signer(const char *dir, const struct demo_party *ca, int64_t now)
{
	struct demo_party p;
	unsigned char usage[1][3];
	enum sa_err rc;

	if ((rc = new_party(&p)) != SA_OK)
		return rc;
	p.country = "UT";
	if ((rc = usagelist_parse_manifest(TRUST_DEMO_ICAO_USAGE, usage[0])) ==
		SA_OK &&
	    (rc = make_cert(&p, TRUST_DEMO_ICAO_SIGNER + 2, ca,
			    TRUST_DEMO_ICAO_SERIAL, now - DAY, now + 730 * DAY,
			    0, usage, 1)) == SA_OK &&
	    (rc = write_key(dir, "private/signer-icao.key", p.key)) == SA_OK)
		rc = write_cert(dir,
				"lists/ca/signers/" TRUST_DEMO_ICAO_SIGNER
				    TRUST_DEMO_ICAO_REF ".pem",
				p.cert);
	party_free(&p);
	return rc;
}

/* cn_named tells whether the DEMO CA's forms name a signer whose id the
 * serial form does not admit by its common name (the id itself). */
static int
cn_named(const struct trust_demo_opts *o, unsigned int serial)
{
	unsigned int f = certref_parse(
	    o->cert_id_forms != NULL ? o->cert_id_forms : "serial16 serial20");

	return (f & CERTREF_CN) && !(f & serial);
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
	struct demo_party gov, scheme, tslop, ca, signer, bsigner;
	unsigned char usage[1][3], busage[1][3];
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
	memset(&bsigner, 0, sizeof(bsigner));
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
	if (rc != SA_OK || (rc = usagelist_parse_manifest(VDS_BIOSEAL_MANIFEST,
							  busage[0])) != SA_OK)
		goto out;
	if ((rc = new_party(&bsigner)) != SA_OK ||
	    (rc = new_party(&gov)) != SA_OK ||
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
		 &signer,
		 cn_named(o, CERTREF_SERIAL16)
		     ? TRUST_DEMO_CERT_ID
		     : "sealauth DEMO seal signer " TRUST_DEMO_CERT_ID,
		 &ca, 0x0001,
		 o->signer_not_before != 0 ? o->signer_not_before : now - DAY,
		 o->signer_not_after != 0 ? o->signer_not_after
					  : now + 730 * DAY,
		 0, o->no_usage_list ? NULL : usage,
		 o->no_usage_list ? 0 : 1)) != SA_OK)
		goto out;
	/* The signer of BioSeal-layout seals: cert id B0001 is the low 20
	 * bits of its serial (reference form serial20). */
	if ((rc = make_cert(&bsigner,
			    cn_named(o, CERTREF_SERIAL20)
				? TRUST_DEMO_BIOSEAL_CERT_ID
				: "sealauth DEMO BioSeal "
				  "signer " TRUST_DEMO_BIOSEAL_CERT_ID,
			    &ca, 0xB0001, now - DAY, now + 730 * DAY, 0, busage,
			    1)) != SA_OK)
		goto out;

	if ((rc = write_key(abs, "private/governance.key", gov.key)) != SA_OK ||
	    (rc = write_key(abs, "private/scheme.key", scheme.key)) != SA_OK ||
	    (rc = write_key(abs, "private/tsl.key", tslop.key)) != SA_OK ||
	    (rc = write_key(abs, "private/ca.key", ca.key)) != SA_OK ||
	    (rc = write_key(abs, "private/signer.key", signer.key)) != SA_OK ||
	    (rc = write_key(abs, "private/signer-bioseal.key", bsigner.key)) !=
		SA_OK ||
	    (rc = icao_signer(abs, &ca, now)) != SA_OK)
		goto out;
	if ((rc = write_cert(abs, "governance.pem", gov.cert)) != SA_OK ||
	    (rc = write_cert(abs, "certs/scheme.pem", scheme.cert)) != SA_OK ||
	    (rc = write_cert(abs, "certs/tsl.pem", tslop.cert)) != SA_OK ||
	    (rc = write_cert(abs, "lists/ca/" TRUST_DEMO_CA_ID ".pem",
			     ca.cert)) != SA_OK ||
	    (rc = write_cert(
		 abs,
		 "lists/ca/signers/" TRUST_DEMO_CA_ID TRUST_DEMO_CERT_ID ".pem",
		 signer.cert)) != SA_OK ||
	    (rc = write_cert(
		 abs,
		 "lists/ca/signers/" TRUST_DEMO_CA_ID TRUST_DEMO_BIOSEAL_CERT_ID
		 ".pem",
		 bsigner.cert)) != SA_OK)
		goto out;
	if ((rc = build_crl(abs, TRUST_DEMO_CA_ID, &ca,
			    o->revoke_signer ? signer.cert : NULL, 1, now,
			    o->crl_next_update != 0 ? o->crl_next_update
						    : now + 365 * DAY)) !=
	    SA_OK)
		goto out;
	memset(&v, 0, sizeof(v));
	v.sequence = 1;
	v.issued = now;
	v.next_update = next;
	if ((rc = write_vrl(abs, TRUST_DEMO_IAC, &v, &tslop)) != SA_OK ||
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
	party_free(&bsigner);
	return rc;
}

void
trust_demo_ca_id(const char *code, char out[5])
{
	size_t n = code != NULL ? strlen(code) : 0;

	if (code == NULL || strcmp(code, TRUST_DEMO_IAC) == 0) {
		snprintf(out, 5, "%s", TRUST_DEMO_CA_ID);
		return;
	}
	for (size_t i = 0; i < 4; i++)
		out[i] = i < n ? code[i] : 'X';
	out[4] = '\0';
}

/* code_ok tells whether code can name a demo authority (an IAC). */
static int
code_ok(const char *code)
{
	size_t n = code != NULL ? strlen(code) : 0;

	return n > 0 && n <= 16 &&
	       strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

/* party_read reads an authority's key and certificate. */
static enum sa_err
party_read(const char *dir, const char *key_rel, const char *cert_rel,
	   struct demo_party *p)
{
	memset(p, 0, sizeof(*p));
	p->key = read_key(dir, key_rel);
	p->cert = read_cert(dir, cert_rel);
	if (p->key == NULL || p->cert == NULL) {
		party_free(p);
		return SA_ERR_CONFIG;
	}
	return SA_OK;
}

/* party_of reads the party name (scheme, tsl, ca) of authority code. */
static enum sa_err
party_of(const char *dir, const char *code, const char *name,
	 struct demo_party *p)
{
	char k[96], c[96], key_name[32], ca_id[5];

	snprintf(key_name, sizeof(key_name), "%s.key", name);
	auth_rel(k, sizeof(k), "private", code, key_name);
	if (strcmp(name, "ca") == 0) {
		trust_demo_ca_id(code, ca_id);
		snprintf(c, sizeof(c), "lists/ca/%s.pem", ca_id);
	} else {
		snprintf(key_name, sizeof(key_name), "%s.pem", name);
		auth_rel(c, sizeof(c), "certs", code, key_name);
	}
	return party_read(dir, k, c, p);
}

/*
 * resign_list reads the TS 119 612 list at rel, lets edit change it, and
 * writes it back signed by p with the next sequence number, issued now.
 */
static enum sa_err
resign_list(const char *dir, const char *rel, const struct demo_party *p,
	    int64_t now, uint64_t *sequence,
	    enum sa_err (*edit)(struct tsl *l, void *arg),
	    void (*undo)(struct tsl *l, void *arg), void *arg)
{
	int edited = 0;
	char path[PATH_MAX], why[200];
	unsigned char *xml = NULL;
	size_t len = 0;
	struct tsl *l = NULL;
	enum sa_err rc;

	if ((rc = path_join(path, dir, rel)) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &xml, &len)) != SA_OK ||
	    (rc = tsl_parse(xml, len, &l, why, sizeof(why))) != SA_OK)
		goto out;
	l->sequence++;
	l->issued = now;
	if (l->next_update <= now)
		l->next_update = now + 365 * DAY;
	if (edit != NULL && (rc = edit(l, arg)) != SA_OK)
		goto out;
	edited = edit != NULL;
	if ((rc = build_list(dir, rel, l, p)) != SA_OK)
		goto out;
	if (sequence != NULL)
		*sequence = l->sequence;
out:
	/* what edit lent the list is the caller's: give it back first */
	if (edited && undo != NULL)
		undo(l, arg);
	tsl_free(l);
	free(xml);
	return rc;
}

/* resign_vrl re-signs the VRL of code (adding fp when not NULL). */
static enum sa_err
resign_vrl(const char *dir, const char *code, const unsigned char *fp,
	   int64_t now, uint64_t *sequence)
{
	struct demo_party op;
	char path[PATH_MAX], rel[64], why[200];
	unsigned char *xml = NULL;
	size_t len = 0;
	struct vrl *v = NULL;
	EVP_PKEY *pub;
	enum sa_err rc;

	if ((rc = party_of(dir, code, "tsl", &op)) != SA_OK)
		return rc;
	pub = X509_get0_pubkey(op.cert);
	snprintf(rel, sizeof(rel), "lists/vrl-%s.xml", code);
	if ((rc = path_join(path, dir, rel)) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &xml, &len)) != SA_OK ||
	    (rc = vrl_load(xml, len, &pub, 1, &v, why, sizeof(why))) != SA_OK)
		goto out;
	if (fp != NULL && (rc = vrl_add(v, fp)) != SA_OK)
		goto out;
	v->sequence++;
	v->issued = now;
	if (v->next_update <= now)
		v->next_update = now + 365 * DAY;
	if ((rc = write_vrl(dir, code, v, &op)) != SA_OK)
		goto out;
	if (sequence != NULL)
		*sequence = v->sequence;
out:
	vrl_free(v);
	free(xml);
	party_free(&op);
	return rc;
}

/*
 * resign_crl re-signs the CRL of code's CA with the next cRLNumber,
 * thisUpdate now, keeping its entries.
 */
static enum sa_err
resign_crl(const char *dir, const char *code, int64_t now, uint64_t *sequence)
{
	struct demo_party ca;
	char path[PATH_MAX], rel[64], ca_id[5];
	unsigned char *der = NULL, *out = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_CRL *crl = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *lu = NULL, *nu = NULL;
	uint64_t n = 0;
	int outlen;
	enum sa_err rc;

	if ((rc = party_of(dir, code, "ca", &ca)) != SA_OK)
		return rc;
	trust_demo_ca_id(code, ca_id);
	snprintf(rel, sizeof(rel), "lists/ca/%s.crl", ca_id);
	if ((rc = path_join(path, dir, rel)) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &der, &len)) != SA_OK)
		goto out;
	rc = SA_ERR_INTERNAL;
	p = der;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL)
		goto out;
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	if (num != NULL && !ASN1_INTEGER_get_uint64(&n, num))
		n = 0;
	ASN1_INTEGER_free(num);
	num = ASN1_INTEGER_new();
	lu = ASN1_TIME_set(NULL, (time_t)(now - 60));
	nu = ASN1_TIME_set(NULL, (time_t)(now + 365 * DAY));
	if (num == NULL || lu == NULL || nu == NULL ||
	    !ASN1_INTEGER_set_uint64(num, n + 1) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0,
				   X509V3_ADD_REPLACE) ||
	    !X509_CRL_set1_lastUpdate(crl, lu) ||
	    !X509_CRL_set1_nextUpdate(crl, nu) ||
	    X509_CRL_sign(crl, ca.key, EVP_sha256()) <= 0 ||
	    (outlen = i2d_X509_CRL(crl, &out)) <= 0)
		goto out;
	if ((rc = write_bytes(dir, rel, out, (size_t)outlen)) != SA_OK)
		goto out;
	if (sequence != NULL)
		*sequence = n + 1;
out:
	OPENSSL_free(out);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(lu);
	ASN1_TIME_free(nu);
	X509_CRL_free(crl);
	free(der);
	party_free(&ca);
	return rc;
}

enum sa_err
trust_demo_resign(const char *dir, const char *kind, const char *code,
		  int64_t now, uint64_t *sequence)
{
	struct demo_party p;
	char rel[64];
	enum sa_err rc;

	if (code == NULL)
		code = TRUST_DEMO_IAC;
	if (!code_ok(code) || kind == NULL)
		return SA_ERR_VALIDATION;
	if (now == 0)
		now = now_unix();
	if (strcmp(kind, "vrl") == 0)
		return resign_vrl(dir, code, NULL, now, sequence);
	if (strcmp(kind, "crl") == 0)
		return resign_crl(dir, code, now, sequence);
	if (strcmp(kind, "governance") == 0)
		rc = party_read(dir, "private/governance.key", "governance.pem",
				&p);
	else if (strcmp(kind, "scheme") == 0 || strcmp(kind, "tsl") == 0)
		rc = party_of(dir, code, kind, &p);
	else
		return SA_ERR_VALIDATION;
	if (rc != SA_OK)
		return rc;
	if (strcmp(kind, "governance") == 0)
		snprintf(rel, sizeof(rel), "lists/governance.xml");
	else
		snprintf(rel, sizeof(rel), "lists/%s-%s.xml", kind, code);
	rc = resign_list(dir, rel, &p, now, sequence, NULL, NULL, NULL);
	party_free(&p);
	return rc;
}

/* What add_pointer appends to the governance list. */
struct gov_add {
	struct tsl_pointer ptr;
	struct tsl_kv info[4];
	char loc[64], opname[96];
	struct tsl_cert scheme_der;
	struct tsl_pointer *parsed; /* the list's own array while lent */
};

static enum sa_err
add_pointer(struct tsl *l, void *arg)
{
	struct gov_add *g = arg;
	struct tsl_pointer *n;

	for (size_t i = 0; i < l->npointers; i++)
		if (l->pointers[i].territory != NULL &&
		    strcmp(l->pointers[i].territory, g->ptr.info[1].value) == 0)
			return SA_ERR_CONFLICT;
	n = calloc(l->npointers + 1, sizeof(*n));
	if (n == NULL)
		return SA_ERR_NOMEM;
	if (l->npointers > 0)
		memcpy(n, l->pointers, l->npointers * sizeof(*n));
	n[l->npointers] = g->ptr;
	g->parsed = l->pointers;
	l->pointers = n;
	l->npointers++;
	return SA_OK;
}

/* drop_pointer undoes add_pointer before the parsed list is freed. */
static void
drop_pointer(struct tsl *l, void *arg)
{
	struct gov_add *g = arg;

	free(l->pointers);
	l->pointers = g->parsed;
	l->npointers--;
}

enum sa_err
trust_demo_add_authority(const char *dir, const char *code, const char *prefix,
			 int64_t now)
{
	struct demo_party gov, scheme, tslop, ca, signer;
	struct gov_add g;
	unsigned char usage[1][3];
	char abs[PATH_MAX], path[PATH_MAX], rel[96], ca_id[5], cn[96];
	struct vrl v;
	struct stat st;
	enum sa_err rc;

	memset(&gov, 0, sizeof(gov));
	memset(&scheme, 0, sizeof(scheme));
	memset(&tslop, 0, sizeof(tslop));
	memset(&ca, 0, sizeof(ca));
	memset(&signer, 0, sizeof(signer));
	memset(&g, 0, sizeof(g));
	if (!code_ok(code) || strcmp(code, TRUST_DEMO_IAC) == 0 ||
	    (prefix != NULL &&
	     (prefix[0] == '\0' || strlen(prefix) > TRUST_MAX_PREFIX)))
		return SA_ERR_VALIDATION;
	if (now == 0)
		now = now_unix();
	if (realpath(dir, abs) == NULL)
		return SA_ERR_CONFIG;
	trust_demo_ca_id(code, ca_id);
	snprintf(rel, sizeof(rel), "lists/scheme-%s.xml", code);
	if (path_join(path, abs, rel) != SA_OK || stat(path, &st) == 0)
		return SA_ERR_CONFLICT;
	snprintf(rel, sizeof(rel), "lists/ca/%s.pem", ca_id);
	if (path_join(path, abs, rel) != SA_OK || stat(path, &st) == 0)
		return SA_ERR_CONFLICT;
	if ((rc = party_read(abs, "private/governance.key", "governance.pem",
			     &gov)) != SA_OK)
		goto out;
	snprintf(rel, sizeof(rel), "private/%s", code);
	if ((rc = path_join(path, abs, rel)) != SA_OK ||
	    (rc = mkdir_p(path, 0700)) != SA_OK)
		goto out;
	snprintf(rel, sizeof(rel), "certs/%s", code);
	if ((rc = path_join(path, abs, rel)) != SA_OK ||
	    (rc = mkdir_p(path, 0755)) != SA_OK)
		goto out;
	if ((rc = usagelist_parse_manifest(VDS_PROFILE_MANIFEST, usage[0])) !=
		SA_OK ||
	    (rc = new_party(&scheme)) != SA_OK ||
	    (rc = new_party(&tslop)) != SA_OK ||
	    (rc = new_party(&ca)) != SA_OK ||
	    (rc = new_party(&signer)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s scheme operator", code);
	if ((rc = make_cert(&scheme, cn, NULL, 1, now - DAY, now + 3650 * DAY,
			    0, NULL, 0)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s TSL operator", code);
	if ((rc = make_cert(&tslop, cn, NULL, 1, now - DAY, now + 3650 * DAY, 0,
			    NULL, 0)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s CA %s", code, ca_id);
	if ((rc = make_cert(&ca, cn, NULL, 1, now - DAY, now + 3650 * DAY, 1,
			    NULL, 0)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s seal signer 0001", code);
	if ((rc = make_cert(&signer, cn, &ca, 0x0001, now - DAY,
			    now + 730 * DAY, 0, usage, 1)) != SA_OK)
		goto out;
	{
		static const char *const names[] = {"scheme", "tsl", "ca",
						    "signer"};
		const struct demo_party *ps[] = {&scheme, &tslop, &ca, &signer};

		for (size_t i = 0; i < ARRAY_LEN(names); i++) {
			char file[32];

			snprintf(file, sizeof(file), "%s.key", names[i]);
			auth_rel(rel, sizeof(rel), "private", code, file);
			if ((rc = write_key(abs, rel, ps[i]->key)) != SA_OK)
				goto out;
			if (i < 2) {
				snprintf(file, sizeof(file), "%s.pem",
					 names[i]);
				auth_rel(rel, sizeof(rel), "certs", code, file);
				if ((rc = write_cert(abs, rel, ps[i]->cert)) !=
				    SA_OK)
					goto out;
			}
		}
	}
	snprintf(rel, sizeof(rel), "lists/ca/%s.pem", ca_id);
	if ((rc = write_cert(abs, rel, ca.cert)) != SA_OK)
		goto out;
	snprintf(rel, sizeof(rel), "lists/ca/signers/%s0001.pem", ca_id);
	if ((rc = write_cert(abs, rel, signer.cert)) != SA_OK)
		goto out;
	if ((rc = build_crl(abs, ca_id, &ca, NULL, 1, now, now + 365 * DAY)) !=
	    SA_OK)
		goto out;
	memset(&v, 0, sizeof(v));
	v.sequence = 1;
	v.issued = now;
	v.next_update = now + 365 * DAY;
	if ((rc = write_vrl(abs, code, &v, &tslop)) != SA_OK ||
	    (rc = write_authority_lists(abs, code, ca_id, VDS_PROFILE_MANIFEST,
					NULL, NULL, now, now + 365 * DAY,
					&scheme, &tslop, &ca)) != SA_OK)
		goto out;
	/* Last: the governance list names the authority once all is there. */
	g.scheme_der = der_of(scheme.cert);
	if (g.scheme_der.der == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	gov_pointer(&g.ptr, g.info, g.loc, sizeof(g.loc), g.opname,
		    sizeof(g.opname), code, prefix, &g.scheme_der);
	g.ptr.info = g.info;
	rc = resign_list(abs, "lists/governance.xml", &gov, now, NULL,
			 add_pointer, drop_pointer, &g);
out:
	OPENSSL_free(g.scheme_der.der);
	party_free(&gov);
	party_free(&scheme);
	party_free(&tslop);
	party_free(&ca);
	party_free(&signer);
	return rc;
}

enum sa_err
trust_demo_issue_as(const char *dir, const char *code,
		    const struct vds_claims *claims, int64_t signing_time,
		    unsigned char **out, size_t *outlen)
{
	char rel[96], ca_id[5];
	EVP_PKEY *k;
	enum sa_err rc;

	if (code == NULL)
		code = TRUST_DEMO_IAC;
	if (!code_ok(code))
		return SA_ERR_VALIDATION;
	auth_rel(rel, sizeof(rel), "private", code, "signer.key");
	if ((k = read_key(dir, rel)) == NULL)
		return SA_ERR_CONFIG;
	if (signing_time < 0 || signing_time > UINT32_MAX) {
		EVP_PKEY_free(k);
		return SA_ERR_VALIDATION;
	}
	trust_demo_ca_id(code, ca_id);
	rc = vds_encode_iso(ca_id, TRUST_DEMO_CERT_ID, VDS_PROFILE_MANIFEST,
			    (uint32_t)signing_time, claims, k, out, outlen);
	EVP_PKEY_free(k);
	return rc;
}

enum sa_err
trust_demo_issue_bioseal(const char *dir, const struct vds_claims *claims,
			 int64_t signing_time, unsigned char **out,
			 size_t *outlen)
{
	EVP_PKEY *k;
	enum sa_err rc;

	if (signing_time < 0 || signing_time > UINT32_MAX)
		return SA_ERR_VALIDATION;
	if ((k = read_key(dir, "private/signer-bioseal.key")) == NULL)
		return SA_ERR_CONFIG;
	rc = vds_encode_bioseal(TRUST_DEMO_CA_ID, TRUST_DEMO_BIOSEAL_CERT_ID,
				VDS_BIOSEAL_MANIFEST, (uint32_t)signing_time,
				claims, k, out, outlen);
	EVP_PKEY_free(k);
	return rc;
}

enum sa_err
trust_demo_issue_icao(const char *dir, const struct vds_claims *claims,
		      int64_t signing_time, unsigned char **out, size_t *outlen)
{
	char mrz[VDS_MRZ_TD2_LEN + 1], day[21];
	/* An emergency travel document (5E 03) of Utopia: its MRZ as tag 2. */
	struct vds_icao_spec p = {.country = "UTO",
				  .signer = TRUST_DEMO_ICAO_SIGNER,
				  .cert_ref = TRUST_DEMO_ICAO_REF,
				  .issue_date = day,
				  .sig_date = day,
				  .feature_ref = 0x5e,
				  .type_category = 0x03,
				  .mrz_tag = 2,
				  .mrz = mrz};
	EVP_PKEY *k;
	enum sa_err rc;

	if (signing_time < 0 || claims == NULL || claims->token_id[0] != '\0')
		return SA_ERR_VALIDATION;
	/* Issued and signed today: the header has no time of day. */
	iso8601_utc(signing_time, day);
	day[10] = '\0';
	if ((rc = vds_mrz_td2("I", "UTO", claims, mrz)) != SA_OK)
		return rc;
	if ((k = read_key(dir, "private/signer-icao.key")) == NULL)
		return SA_ERR_CONFIG;
	rc = vds_encode_icao(&p, k, out, outlen);
	EVP_PKEY_free(k);
	OPENSSL_cleanse(mrz, sizeof(mrz));
	return rc;
}

enum sa_err
trust_demo_issue(const char *dir, const struct vds_claims *claims,
		 int64_t signing_time, unsigned char **out, size_t *outlen)
{
	return trust_demo_issue_as(dir, NULL, claims, signing_time, out,
				   outlen);
}

enum sa_err
trust_demo_revoke_as(const char *dir, const char *code, const struct vds *seal,
		     int64_t now, uint64_t *sequence)
{
	unsigned char fp[32];

	if (code == NULL)
		code = TRUST_DEMO_IAC;
	if (!code_ok(code))
		return SA_ERR_VALIDATION;
	vds_fingerprint(seal, fp);
	return resign_vrl(dir, code, fp, now, sequence);
}

enum sa_err
trust_demo_revoke(const char *dir, const struct vds *seal, int64_t now,
		  uint64_t *sequence)
{
	return trust_demo_revoke_as(dir, NULL, seal, now, sequence);
}

/* stale tells whether dir/rel is missing, older than a day, or lacks
 * marker (NULL: any content will do). */
static int
stale(const char *dir, const char *rel, const char *marker, int64_t now)
{
	char path[PATH_MAX];
	unsigned char *b = NULL;
	size_t n = 0;
	struct stat st;
	int old;

	if (path_join(path, dir, rel) != SA_OK || stat(path, &st) != 0)
		return 1;
	old = now - (int64_t)st.st_mtime > DAY;
	if (old || marker == NULL)
		return old;
	if (read_file(path, XMLDSIG_MAX_DOC, &b, &n) != SA_OK)
		return 1;
	old = memmem(b, n, marker, strlen(marker)) == NULL;
	free(b);
	return old;
}

/*
 * demo_freshen re-signs the VRL and the CRL of every demo authority that
 * are older than a day (or predate the IssuingAuthority element and the
 * cRLNumber), so a demo environment kept across restarts stays inside the
 * maximum ages of those documents. Real environments are their issuers'
 * business, never ours.
 */
static enum sa_err
demo_freshen(const char *dir, int64_t now)
{
	char path[PATH_MAX], why[200], rel[64], ca_id[5];
	unsigned char *xml = NULL;
	size_t len = 0;
	struct tsl *gov = NULL;
	enum sa_err rc;

	if ((rc = path_join(path, dir, "lists/governance.xml")) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &xml, &len)) != SA_OK ||
	    (rc = tsl_parse(xml, len, &gov, why, sizeof(why))) != SA_OK)
		goto out;
	for (size_t i = 0; i < gov->npointers; i++) {
		const char *code = gov->pointers[i].territory;

		if (!code_ok(code))
			continue;
		snprintf(rel, sizeof(rel), "lists/vrl-%s.xml", code);
		if (stale(dir, rel, "IssuingAuthority", now) &&
		    (rc = resign_vrl(dir, code, NULL, now, NULL)) != SA_OK)
			goto out;
		trust_demo_ca_id(code, ca_id);
		snprintf(rel, sizeof(rel), "lists/ca/%s.crl", ca_id);
		/* a CRL from before cRLNumbers was written in one go: age */
		if (stale(dir, rel, NULL, now) &&
		    (rc = resign_crl(dir, code, now, NULL)) != SA_OK)
			goto out;
	}
out:
	tsl_free(gov);
	free(xml);
	return rc;
}

/* older_than tells whether dir/rel is missing or was written more than
 * limit seconds before now. */
static int
older_than(const char *dir, const char *rel, int64_t now, int64_t limit)
{
	char path[PATH_MAX];
	struct stat st;

	if (path_join(path, dir, rel) != SA_OK || stat(path, &st) != 0)
		return 1;
	return now - (int64_t)st.st_mtime >= limit;
}

/* renew_after is when a document of maximum age max_age is re-signed: at
 * half its age, at most a day, at least a second (0: no maximum age). */
static int64_t
renew_after(long max_age)
{
	int64_t half = max_age > 0 ? max_age / 2 : DAY;

	return half < 1 ? 1 : half > DAY ? DAY : half;
}

enum sa_err
trust_demo_renew(const char *dir, int64_t now, const long max_age[5],
		 int *renewed)
{
	char path[PATH_MAX], why[200], rel[64], ca_id[5];
	unsigned char *xml = NULL;
	size_t len = 0;
	struct tsl *gov = NULL;
	int n = 0;
	enum sa_err rc;

	if ((rc = path_join(path, dir, "lists/governance.xml")) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, &xml, &len)) != SA_OK ||
	    (rc = tsl_parse(xml, len, &gov, why, sizeof(why))) != SA_OK)
		goto out;
	for (size_t i = 0; i < gov->npointers; i++) {
		const char *code = gov->pointers[i].territory;
		static const char *const kinds[] = {"scheme", "tsl"};

		if (!code_ok(code))
			continue;
		for (size_t k = 0; k < 2; k++) {
			snprintf(rel, sizeof(rel), "lists/%s-%s.xml", kinds[k],
				 code);
			if (older_than(dir, rel, now,
				       renew_after(max_age[1 + k]))) {
				if ((rc = trust_demo_resign(dir, kinds[k], code,
							    now, NULL)) !=
				    SA_OK)
					goto out;
				n++;
			}
		}
		snprintf(rel, sizeof(rel), "lists/vrl-%s.xml", code);
		if (older_than(dir, rel, now, renew_after(max_age[3]))) {
			if ((rc = resign_vrl(dir, code, NULL, now, NULL)) !=
			    SA_OK)
				goto out;
			n++;
		}
		trust_demo_ca_id(code, ca_id);
		snprintf(rel, sizeof(rel), "lists/ca/%s.crl", ca_id);
		if (older_than(dir, rel, now, renew_after(max_age[4]))) {
			if ((rc = resign_crl(dir, code, now, NULL)) != SA_OK)
				goto out;
			n++;
		}
	}
	if (older_than(dir, "lists/governance.xml", now,
		       renew_after(max_age[0]))) {
		if ((rc = trust_demo_resign(dir, "governance", NULL, now,
					    NULL)) != SA_OK)
			goto out;
		n++;
	}
	if (renewed != NULL)
		*renewed = n;
out:
	tsl_free(gov);
	free(xml);
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
		return demo_freshen(dir, now_unix());
	}
	rc = trust_demo_build(dir, NULL);
	if (rc == SA_OK && created != NULL)
		*created = 1;
	return rc;
}
