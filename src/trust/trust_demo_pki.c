/*
 * trust_demo_pki.c - what the demo environment is made of: its parties
 * (a key with its certificate), the files they and their documents are
 * written to and read from under DIR, and the signed documents themselves
 * (TS 119 612 lists, CRLs, VRLs), for trust_demo.c to build them and
 * trust_demo_resign.c to sign them again.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/util.h"
#include "trust/trust.h"
#include "trust/trust_demo_int.h"
#include "trust/trust_int.h"
#include "trust/tsl.h"
#include "trust/usagelist.h"
#include "trust/vrl.h"

void
demo_party_free(struct demo_party *p)
{
	EVP_PKEY_free(p->key);
	X509_free(p->cert);
	p->key = NULL;
	p->cert = NULL;
}

void
demo_authority_free(struct demo_authority *a)
{
	demo_party_free(&a->gov);
	demo_party_free(&a->scheme);
	demo_party_free(&a->tslop);
	demo_party_free(&a->ca);
	demo_party_free(&a->signer);
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
 * demo_make_cert issues a certificate for p->key named CN=cn, O=sealauth DEMO,
 * signed by issuer (self-signed when issuer is NULL). low is the low 20
 * bits of the serial number; the rest is random. A party with a country
 * is an ICAO seal signer, named by C || CN and its whole serial number:
 * C=country is added and the serial is low.
 */
enum sa_err
demo_make_cert(struct demo_party *p, const char *cn,
	       const struct demo_party *issuer, unsigned int low, int64_t nb,
	       int64_t na, int is_ca, const unsigned char (*usage)[3],
	       size_t nusage)
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

enum sa_err
demo_party_new(struct demo_party *p)
{
	memset(p, 0, sizeof(*p));
	p->key = EVP_EC_gen("P-256");
	return p->key != NULL ? SA_OK : SA_ERR_INTERNAL;
}

/* demo_path writes dir/rel into out (PATH_MAX). */
enum sa_err
demo_path(char *out, const char *dir, const char *rel)
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
	enum sa_err rc = demo_path(path, dir, rel);

	if (rc != SA_OK)
		return rc;
	if (n < 0 || data == NULL)
		return SA_ERR_INTERNAL;
	return write_file_atomic(path, data, (size_t)n, mode);
}

enum sa_err
demo_write_cert(const char *dir, const char *rel, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	enum sa_err rc = SA_ERR_NOMEM;

	if (b != NULL && PEM_write_bio_X509(b, x))
		rc = write_bio(dir, rel, b, 0644);
	BIO_free(b);
	return rc;
}

/* demo_write_key writes a private key as PKCS#8 PEM, mode 0600, and wipes the
 * memory copy. */
enum sa_err
demo_write_key(const char *dir, const char *rel, EVP_PKEY *k)
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

enum sa_err
demo_write_bytes(const char *dir, const char *rel, const void *data, size_t n)
{
	char path[PATH_MAX];
	enum sa_err rc = demo_path(path, dir, rel);

	return rc == SA_OK ? write_file_atomic(path, data, n, 0644) : rc;
}

/* demo_read_key reads a PEM private key from dir/rel; the file copy is wiped.
 */
EVP_PKEY *
demo_read_key(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	unsigned char *pem = NULL;
	size_t len = 0;
	BIO *b;
	EVP_PKEY *k = NULL;

	if (demo_path(path, dir, rel) != SA_OK ||
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

	if (demo_path(path, dir, rel) != SA_OK ||
	    read_file(path, TRUST_MAX_CERT_BYTES, &data, &len) != SA_OK)
		return NULL;
	x = trust_der_or_pem(data, len, ASN1_ITEM_rptr(X509), PEM_STRING_X509);
	free(data);
	return x;
}

/* demo_party_read reads an authority's key and certificate. */
enum sa_err
demo_party_read(const char *dir, const char *key_rel, const char *cert_rel,
		struct demo_party *p)
{
	memset(p, 0, sizeof(*p));
	p->key = demo_read_key(dir, key_rel);
	p->cert = read_cert(dir, cert_rel);
	if (p->key == NULL || p->cert == NULL) {
		demo_party_free(p);
		return SA_ERR_CONFIG;
	}
	return SA_OK;
}

/* demo_party_of reads the party name (scheme, tsl, ca) of authority code. */
enum sa_err
demo_party_of(const char *dir, const char *code, const char *name,
	      struct demo_party *p)
{
	char k[96], c[96], key_name[32], ca_id[5];

	snprintf(key_name, sizeof(key_name), "%s.key", name);
	demo_auth_rel(k, sizeof(k), "private", code, key_name);
	if (strcmp(name, "ca") == 0) {
		trust_demo_ca_id(code, ca_id);
		snprintf(c, sizeof(c), "lists/ca/%s.pem", ca_id);
	} else {
		snprintf(key_name, sizeof(key_name), "%s.pem", name);
		demo_auth_rel(c, sizeof(c), "certs", code, key_name);
	}
	return demo_party_read(dir, k, c, p);
}

struct tsl_cert
demo_der_of(X509 *x)
{
	struct tsl_cert c = {NULL, 0};
	int n = i2d_X509(x, &c.der);

	c.len = n > 0 ? (size_t)n : 0;
	return c;
}

void
demo_list_init(struct tsl *in, int64_t now, int64_t next)
{
	memset(in, 0, sizeof(*in));
	in->version = 5;
	in->sequence = 1;
	in->issued = now;
	in->next_update = next;
	in->has_next_update = 1;
}

enum sa_err
demo_list_read(const char *dir, const char *rel, unsigned char **xml,
	       struct tsl **out)
{
	char path[PATH_MAX], why[200];
	size_t len = 0;
	enum sa_err rc;

	*xml = NULL;
	if ((rc = demo_path(path, dir, rel)) != SA_OK ||
	    (rc = read_file(path, XMLDSIG_MAX_DOC, xml, &len)) != SA_OK)
		return rc;
	return tsl_parse(*xml, len, out, why, sizeof(why));
}

/* demo_build_list signs in with p and writes it to dir/rel. */
enum sa_err
demo_build_list(const char *dir, const char *rel, const struct tsl *in,
		const struct demo_party *p)
{
	unsigned char *xml = NULL;
	size_t len = 0;
	enum sa_err rc = tsl_build(in, p->key, p->cert, &xml, &len);

	if (rc == SA_OK)
		rc = demo_write_bytes(dir, rel, xml, len);
	free(xml);
	return rc;
}

/*
 * demo_build_crl writes the CRL of CA ca_id (number crl_number, revoking
 * revoked's serial when given) to lists/ca/CAID.crl.
 */
enum sa_err
demo_build_crl(const char *dir, const char *ca_id, const struct demo_party *ca,
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
	rc = demo_write_bytes(dir, rel, der, (size_t)n);
out:
	OPENSSL_free(der);
	X509_REVOKED_free(r);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(lu);
	ASN1_TIME_free(nu);
	X509_CRL_free(crl);
	return rc;
}

/* demo_write_vrl signs v for authority iac (v->authority is set to it) and
 * writes it to lists/vrl-IAC.xml. */
enum sa_err
demo_write_vrl(const char *dir, const char *iac, struct vrl *v,
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
		rc = demo_write_bytes(dir, rel, xml, len);
	free(xml);
	return rc;
}

/* demo_auth_rel writes the path of an authority's file: DEMO's keep the
 * top-level names of the first demo, every other one has its folder. */
void
demo_auth_rel(char *out, size_t n, const char *top, const char *code,
	      const char *name)
{
	if (strcmp(code, TRUST_DEMO_IAC) == 0)
		snprintf(out, n, "%s/%s", top, name);
	else
		snprintf(out, n, "%s/%s/%s", top, code, name);
}

/*
 * demo_write_authority_lists writes the scheme list and the TSL of authority
 * code, whose CA ca_id's CRL and signers sit under lists/ca/.
 */
enum sa_err
demo_write_authority_lists(const char *dir, const char *code, const char *ca_id,
			   const char *manifests, const char *forms,
			   const char *icao_ids, int64_t now, int64_t next,
			   const struct demo_authority *a)
{
	struct tsl_cert ct = demo_der_of(a->tslop.cert),
			cc = demo_der_of(a->ca.cert);
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
	demo_list_init(&in, now, next);
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
	if ((rc = demo_build_list(dir, rel, &in, &a->scheme)) != SA_OK)
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
	rc = demo_build_list(dir, rel, &in, &a->tslop);
out:
	OPENSSL_free(ct.der);
	OPENSSL_free(cc.der);
	return rc;
}

/*
 * demo_gov_pointer fills a governance pointer to the scheme list of code,
 * signed by scheme_der, declaring prefix (NULL: none). info has room for
 * four pairs.
 */
void
demo_gov_pointer(struct tsl_pointer *ptr, struct tsl_kv *info, char *loc,
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

/* demo_code_ok tells whether code can name a demo authority (an IAC). */
int
demo_code_ok(const char *code)
{
	size_t n = code != NULL ? strlen(code) : 0;

	return n > 0 && n <= 16 &&
	       strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}
