/*
 * ecdsa.c - ECDSA P-256 with SHA-256 over OpenSSL 3 EVP.
 *
 * The DER codec is written out here rather than left to d2i_ECDSA_SIG so
 * that its strictness is visible and does not depend on the OpenSSL
 * version: every signature is reduced to raw r||s and re-encoded minimally
 * before it is verified.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/ecdsa.h"
#include "crypto/thread_ctx.h"
#include "core/util.h"

#define HALF 32

/*
 * der_put_int writes v (32 bytes, big-endian, not zero) as a minimal DER
 * INTEGER at o, which has room for 2 + 33 bytes, and returns its length.
 */
static size_t
der_put_int(unsigned char *o, const unsigned char v[HALF])
{
	size_t i = 0, len, pad;

	while (i < HALF - 1 && v[i] == 0)
		i++;
	len = HALF - i;
	/* A set top bit would make the integer negative: prefix a zero. */
	pad = (v[i] & 0x80) ? 1 : 0;
	o[0] = 0x02;
	o[1] = (unsigned char)(len + pad);
	if (pad)
		o[2] = 0x00;
	memcpy(o + 2 + pad, v + i, len);
	return 2 + pad + len;
}

/* der_int_len is the encoded length der_put_int will produce for v. */
static size_t
der_int_len(const unsigned char v[HALF])
{
	size_t i = 0;

	while (i < HALF - 1 && v[i] == 0)
		i++;
	return 2 + (HALF - i) + ((v[i] & 0x80) ? 1 : 0);
}

static int
is_zero(const unsigned char *v, size_t n)
{
	unsigned char acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= v[i];
	return acc == 0;
}

enum sa_err
ecdsa_sig_raw_to_der(const unsigned char raw[ECDSA_P256_RAW_LEN],
		     unsigned char *der, size_t cap, size_t *derlen)
{
	size_t rl, sl, total;

	if (is_zero(raw, HALF) || is_zero(raw + HALF, HALF))
		return SA_ERR_BAD_SIGNATURE;
	rl = der_int_len(raw);
	sl = der_int_len(raw + HALF);
	total = 2 + rl + sl; /* at most 72: the length byte stays short-form */
	if (total > cap)
		return SA_ERR_INTERNAL;
	der[0] = 0x30;
	der[1] = (unsigned char)(rl + sl);
	der_put_int(der + 2, raw);
	der_put_int(der + 2 + rl, raw + HALF);
	*derlen = total;
	return SA_OK;
}

/*
 * der_get_int reads one strict DER INTEGER from p (n bytes available) into
 * out as 32 bytes, left-padded. Returns the bytes consumed, 0 if refused.
 */
static size_t
der_get_int(const unsigned char *p, size_t n, unsigned char out[HALF])
{
	const unsigned char *v;
	size_t len;

	if (n < 3 || p[0] != 0x02)
		return 0;
	len = p[1];
	/* Long-form lengths are never minimal for integers this small. */
	if (len == 0 || len > HALF + 1 || len > n - 2)
		return 0;
	v = p + 2;
	if (v[0] & 0x80)
		return 0; /* negative */
	if (v[0] == 0x00) {
		/* A leading zero is allowed only to clear the sign bit. */
		if (len == 1 || (v[1] & 0x80) == 0)
			return 0;
		v++;
		len--;
	}
	if (len > HALF)
		return 0;
	memset(out, 0, HALF);
	memcpy(out + HALF - len, v, len);
	return 2 + (size_t)p[1];
}

enum sa_err
ecdsa_sig_der_to_raw(const unsigned char *der, size_t n,
		     unsigned char raw[ECDSA_P256_RAW_LEN])
{
	unsigned char tmp[ECDSA_P256_RAW_LEN];
	size_t off, used;

	/* Smallest: 30 06 02 01 r 02 01 s; largest: two 33-byte integers. */
	if (der == NULL || n < 8 || n > ECDSA_P256_DER_MAX)
		return SA_ERR_BAD_SIGNATURE;
	if (der[0] != 0x30 || (der[1] & 0x80) || (size_t)der[1] != n - 2)
		return SA_ERR_BAD_SIGNATURE;
	off = 2;
	if ((used = der_get_int(der + off, n - off, tmp)) == 0)
		return SA_ERR_BAD_SIGNATURE;
	off += used;
	if ((used = der_get_int(der + off, n - off, tmp + HALF)) == 0)
		return SA_ERR_BAD_SIGNATURE;
	off += used;
	if (off != n)
		return SA_ERR_BAD_SIGNATURE; /* trailing bytes */
	memcpy(raw, tmp, sizeof(tmp));
	return SA_OK;
}

int
ecdsa_is_p256(const EVP_PKEY *key)
{
	char name[64];
	size_t len = 0;
	int explicit_params = 0;

	if (key == NULL || !EVP_PKEY_is_a(key, "EC"))
		return 0;
	if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1)
		return 0;
	if (strcmp(name, "prime256v1") != 0)
		return 0;
	/* A key that spelled out the curve parameters is refused even when
	 * they match P-256: named curves only, as RFC 5480 requires. */
	if (EVP_PKEY_get_int_param(
		key, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS,
		&explicit_params) == 1 &&
	    explicit_params != 0)
		return 0;
	return 1;
}

/*
 * ossl_settled returns rc, first emptying OpenSSL's error queue when rc is
 * a failure, so that a refused key or signature leaves nothing behind for
 * the thread's next OpenSSL call to trip on.
 */
static enum sa_err
ossl_settled(enum sa_err rc)
{
	if (rc != SA_OK)
		ERR_clear_error();
	return rc;
}

/* sha256_of hashes data (n bytes) into out with the thread's digest
 * context (sha256_begin); 1 on success. */
static int
sha256_of(const void *data, size_t n, unsigned char out[32])
{
	EVP_MD_CTX *md = sha256_begin();
	unsigned int len = 0;

	return md != NULL && EVP_DigestUpdate(md, data, n) == 1 &&
	       EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
}

enum sa_err
ecdsa_sign_sha256_raw(EVP_PKEY *key, const void *data, size_t n,
		      unsigned char out[ECDSA_P256_RAW_LEN])
{
	EVP_PKEY_CTX *ctx;
	unsigned char hash[32], der[ECDSA_P256_DER_MAX];
	size_t derlen = sizeof(der);
	enum sa_err rc = SA_ERR_INTERNAL;

	/* A key not P-256 gets no context; the check runs only when the
	 * thread's context is set up for another key. */
	if (!sha256_of(data, n, hash) ||
	    (ctx = thread_ctx_sign(key, ecdsa_is_p256)) == NULL)
		goto out;
	if (EVP_PKEY_sign(ctx, der, &derlen, hash, sizeof(hash)) != 1)
		goto out;
	rc = ecdsa_sig_der_to_raw(der, derlen, out);
	if (rc != SA_OK)
		rc = SA_ERR_INTERNAL;
out:
	return ossl_settled(rc);
}

/*
 * A key made by ecdsa_pubkey_from_point carries its point (65 bytes) as
 * extra data under point_idx, so that a signature check can put it into
 * the thread's own key (thread_ctx_verify_p256) without asking OpenSSL for
 * it, which costs more than the context it saves. A copy of such a key
 * (EVP_PKEY_dup) gets a copy of the point; freeing the key frees it.
 */
static pthread_once_t point_once = PTHREAD_ONCE_INIT;
static int point_idx = -1;

static int
point_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d,
	  int idx, long argl, void *argp)
{
	void *copy;

	(void)to;
	(void)from;
	(void)idx;
	(void)argl;
	(void)argp;
	/* *from_d is what the copy gets; on failure it carries no point. */
	if (*from_d == NULL)
		return 1;
	if ((copy = malloc(65)) != NULL)
		memcpy(copy, *from_d, 65);
	*from_d = copy;
	return 1;
}

static void
point_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	   void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void
point_index(void)
{
	point_idx =
	    EVP_PKEY_get_ex_new_index(0, NULL, NULL, point_dup, point_free);
}

/* verify_ctx returns the thread's verifying context for key: the one of
 * its own key with key's point put in when key carries it, or one made
 * for key. */
static EVP_PKEY_CTX *
verify_ctx(EVP_PKEY *key)
{
	const unsigned char *pt;
	EVP_PKEY_CTX *ctx;

	pthread_once(&point_once, point_index);
	if (point_idx >= 0 &&
	    (pt = EVP_PKEY_get_ex_data(key, point_idx)) != NULL &&
	    ecdsa_point_swap_ok() &&
	    (ctx = thread_ctx_verify_p256(key, pt)) != NULL)
		return ctx;
	return thread_ctx_verify(key, ecdsa_is_p256);
}

/* check_raw checks a raw r||s signature over data with ctx (NULL: it
 * fails); 1 if it verifies. */
static int
check_raw(EVP_PKEY_CTX *ctx, const void *data, size_t n,
	  const unsigned char raw[ECDSA_P256_RAW_LEN])
{
	unsigned char hash[32], der[ECDSA_P256_DER_MAX];
	size_t derlen;
	int ok = 0;

	if (ctx != NULL &&
	    ecdsa_sig_raw_to_der(raw, der, sizeof(der), &derlen) == SA_OK &&
	    sha256_of(data, n, hash) &&
	    EVP_PKEY_verify(ctx, der, derlen, hash, sizeof(hash)) == 1)
		ok = 1;
	ERR_clear_error();
	return ok;
}

/* verify_raw checks a raw r||s signature; 1 if it verifies. */
static int
verify_raw(EVP_PKEY *key, const void *data, size_t n,
	   const unsigned char raw[ECDSA_P256_RAW_LEN])
{
	return check_raw(verify_ctx(key), data, n, raw);
}

static pthread_once_t swap_once = PTHREAD_ONCE_INIT;
static int swap_ok;

/* import_point makes the public half of key the way a device key is made
 * (ecdsa_pubkey_from_point), its point written to pt; NULL on failure. */
static EVP_PKEY *
import_point(EVP_PKEY *key, unsigned char pt[65])
{
	EVP_PKEY *pub = NULL;

	pt[0] = 0x04;
	if (ecdsa_pubkey_xy(key, pt + 1, pt + 33) != SA_OK ||
	    ecdsa_pubkey_from_point(pt, &pub) != SA_OK)
		return NULL;
	return pub;
}

/* swap_check runs ecdsa_point_swap_ok's check, on the calling thread's
 * own context. */
static void
swap_check(void)
{
	static const char msg[] = "sealauth: does the point move?";
	const size_t n = sizeof(msg) - 1;
	EVP_PKEY *a = NULL, *b = NULL, *ka = NULL, *kb = NULL;
	unsigned char pa[65], pb[65], sa[ECDSA_P256_RAW_LEN],
	    sb[ECDSA_P256_RAW_LEN];

	if (ecdsa_generate_p256(&a) != SA_OK ||
	    ecdsa_generate_p256(&b) != SA_OK ||
	    ecdsa_sign_sha256_raw(a, msg, n, sa) != SA_OK ||
	    ecdsa_sign_sha256_raw(b, msg, n, sb) != SA_OK ||
	    (ka = import_point(a, pa)) == NULL ||
	    (kb = import_point(b, pb)) == NULL)
		goto out;
	swap_ok = check_raw(thread_ctx_verify_p256(ka, pa), msg, n, sa) &&
		  !check_raw(thread_ctx_verify_p256(ka, pa), msg, n, sb) &&
		  !check_raw(thread_ctx_verify_p256(kb, pb), msg, n, sa) &&
		  check_raw(thread_ctx_verify_p256(kb, pb), msg, n, sb) &&
		  !check_raw(thread_ctx_verify_p256(ka, pa), msg, n, sb) &&
		  check_raw(thread_ctx_verify_p256(ka, pa), msg, n, sa);
out:
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
}

int
ecdsa_point_swap_ok(void)
{
	pthread_once(&swap_once, swap_check);
	return swap_ok;
}

enum sa_err
ecdsa_verify_sha256(EVP_PKEY *key, const void *data, size_t n,
		    const unsigned char *sig, size_t siglen)
{
	unsigned char raw[ECDSA_P256_RAW_LEN];

	/* verify_raw refuses a key that is not P-256 (thread_ctx_verify). */
	if (key == NULL || sig == NULL)
		return SA_ERR_BAD_SIGNATURE;
	if (siglen == ECDSA_P256_RAW_LEN) {
		if (verify_raw(key, data, n, sig))
			return SA_OK;
		/* A 64-byte DER signature exists (r and s of 29 bytes each);
		 * try it as DER too rather than refuse a valid one. */
		if (ecdsa_sig_der_to_raw(sig, siglen, raw) == SA_OK &&
		    verify_raw(key, data, n, raw))
			return SA_OK;
		return SA_ERR_BAD_SIGNATURE;
	}
	if (ecdsa_sig_der_to_raw(sig, siglen, raw) != SA_OK)
		return SA_ERR_BAD_SIGNATURE;
	return verify_raw(key, data, n, raw) ? SA_OK : SA_ERR_BAD_SIGNATURE;
}

enum sa_err
ecdsa_verify_sha256_raw(EVP_PKEY *key, const void *data, size_t n,
			const unsigned char sig[ECDSA_P256_RAW_LEN])
{
	if (key == NULL || sig == NULL)
		return SA_ERR_BAD_SIGNATURE;
	return verify_raw(key, data, n, sig) ? SA_OK : SA_ERR_BAD_SIGNATURE;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * pem_check_shape accepts text that, after leading whitespace, starts with
 * one of the given BEGIN lines and holds no NUL byte.
 */
static int
pem_check_shape(const char *pem, size_t n, const char *const *begins)
{
	size_t i = 0;

	if (pem == NULL || n == 0 || n > ECDSA_PEM_MAX ||
	    memchr(pem, '\0', n) != NULL)
		return 0;
	while (i < n && is_space(pem[i]))
		i++;
	for (; *begins != NULL; begins++) {
		size_t bl = strlen(*begins);
		if (n - i >= bl && memcmp(pem + i, *begins, bl) == 0)
			return 1;
	}
	return 0;
}

/* bio_rest_is_space tells whether only whitespace is left unread in bio. */
static int
bio_rest_is_space(BIO *bio)
{
	char *rest = NULL;
	long left = BIO_get_mem_data(bio, &rest);

	for (long i = 0; i < left; i++)
		if (!is_space(rest[i]))
			return 0;
	return 1;
}

/*
 * The DER SPKI of every uncompressed P-256 key starts with these 26 bytes
 * (SEQUENCE, AlgorithmIdentifier id-ecPublicKey / prime256v1, BIT STRING of
 * 66 bytes, no unused bits); the 65-byte point follows.
 */
static const unsigned char spki_p256_prefix[26] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

/*
 * P-256's generator, uncompressed: the point of the template key that every
 * fast import starts from.
 */
static const unsigned char p256_generator[65] = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc,
    0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d,
    0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
    0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
    0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};

/* fromdata_p256 builds a public P-256 key from the curve's name and the
 * uncompressed point pt (65 bytes); NULL if OpenSSL refuses it. */
static EVP_PKEY *
fromdata_p256(const unsigned char pt[65])
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      (void *)pt, 65);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static pthread_once_t template_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *template_key; /* NULL: fromdata_p256 for every import */

/*
 * make_template builds, once for the process, the public key of P-256's
 * generator. Building the group from the curve's name is most of the cost
 * of EVP_PKEY_fromdata (26 µs a call, where a copy of this key with its
 * point replaced takes 5). The template is only ever read (EVP_PKEY_dup
 * copies it), so threads share it without a lock.
 */
static void
make_template(void)
{
	template_key = fromdata_p256(p256_generator);
	ERR_clear_error();
}

/*
 * The key is a copy of the template with its point replaced. OpenSSL
 * decodes the point as it sets it and refuses one that is off the curve or
 * has a coordinate not below the field prime; the 0x04 prefix and the
 * 65-byte length rule out the point at infinity and compressed points,
 * which OpenSSL would take here.
 */
enum sa_err
ecdsa_pubkey_from_point(const unsigned char pt[65], EVP_PKEY **out)
{
	EVP_PKEY *key;
	unsigned char *copy;

	*out = NULL;
	if (pt[0] != 0x04)
		return SA_ERR_VALIDATION;
	pthread_once(&template_once, make_template);
	if (template_key == NULL)
		key = fromdata_p256(pt);
	else if ((key = EVP_PKEY_dup(template_key)) != NULL &&
		 EVP_PKEY_set1_encoded_public_key(key, pt, 65) != 1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	if (key == NULL)
		return ossl_settled(SA_ERR_VALIDATION);
	/* The point rides along for verify_ctx; without it (no memory) the
	 * key still works, with a context of its own. */
	pthread_once(&point_once, point_index);
	if (point_idx >= 0 && (copy = malloc(65)) != NULL) {
		memcpy(copy, pt, 65);
		if (EVP_PKEY_set_ex_data(key, point_idx, copy) != 1) {
			free(copy);
			ERR_clear_error();
		}
	}
	*out = key;
	return SA_OK;
}

/*
 * pubkey_fast imports an uncompressed P-256 SPKI PEM without OpenSSL's
 * decoder (about 350 µs a call in OpenSSL 3.0). It returns SA_ERR_NOT_FOUND
 * for anything it does not handle, so the caller falls back to the full
 * path. The import decodes the point, which refuses a point off the curve;
 * P-256 has cofactor 1, so a point on the curve other than infinity is a
 * valid public key and the costly order check of EVP_PKEY_public_check adds
 * nothing.
 */
static enum sa_err
pubkey_fast(const char *pem, size_t n, EVP_PKEY **out)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----";
	static const char end[] = "-----END PUBLIC KEY-----";
	char body[160];
	unsigned char *der = NULL;
	size_t dlen = 0, k = 0;
	const char *p = pem, *e = pem + n, *b;
	enum sa_err rc = SA_ERR_NOT_FOUND;

	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if ((size_t)(e - p) < sizeof(begin) - 1 ||
	    memcmp(p, begin, sizeof(begin) - 1) != 0)
		return SA_ERR_NOT_FOUND;
	p += sizeof(begin) - 1;
	b = p;
	/* Collect the base64 body up to the END line, skipping line breaks. */
	while (p < e && *p != '-') {
		if (*p != '\r' && *p != '\n') {
			if (k >= sizeof(body))
				return SA_ERR_NOT_FOUND;
			body[k++] = *p;
		}
		p++;
	}
	(void)b;
	if ((size_t)(e - p) < sizeof(end) - 1 ||
	    memcmp(p, end, sizeof(end) - 1) != 0)
		return SA_ERR_NOT_FOUND;
	for (p += sizeof(end) - 1; p < e; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return SA_ERR_NOT_FOUND;
	if (b64_decode(body, k, sizeof(body), &der, &dlen) != SA_OK)
		return SA_ERR_NOT_FOUND;
	if (dlen != 91 || memcmp(der, spki_p256_prefix, 26) != 0 ||
	    der[26] != 0x04)
		goto out;
	rc = ecdsa_pubkey_from_point(der + 26, out);
out:
	free(der);
	return ossl_settled(rc);
}

/* no_password makes PEM reading fail on encrypted keys instead of asking. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * pem_read_p256 reads one PEM key of n bytes: a public key, or with
 * private set a private key (never asking for a password). Trailing bytes
 * and other curves are refused, and OpenSSL checks the key: the point is
 * on the curve, and a private scalar is in range and matches its point.
 */
static enum sa_err
pem_read_p256(const char *pem, size_t n, int private, EVP_PKEY **out)
{
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	enum sa_err rc = SA_ERR_VALIDATION;

	if ((bio = BIO_new_mem_buf(pem, (int)n)) == NULL)
		return SA_ERR_NOMEM;
	key = private ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL)
		      : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (key == NULL)
		goto out;
	if (!bio_rest_is_space(bio) || !ecdsa_is_p256(key))
		goto out;
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((private ? EVP_PKEY_check(pctx) : EVP_PKEY_public_check(pctx)) != 1)
		goto out;
	*out = key;
	key = NULL;
	rc = SA_OK;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return ossl_settled(rc);
}

enum sa_err
ecdsa_pubkey_from_pem(const char *pem, size_t n, EVP_PKEY **out)
{
	static const char *const begins[] = {"-----BEGIN PUBLIC KEY-----",
					     NULL};
	enum sa_err rc;

	if (!pem_check_shape(pem, n, begins))
		return SA_ERR_VALIDATION;
	/* The common case, uncompressed P-256, without the slow decoder. */
	if ((rc = pubkey_fast(pem, n, out)) != SA_ERR_NOT_FOUND)
		return rc;
	return pem_read_p256(pem, n, 0, out);
}

enum sa_err
ecdsa_privkey_from_pem(const char *pem, size_t n, EVP_PKEY **out)
{
	static const char *const begins[] = {"-----BEGIN PRIVATE KEY-----",
					     "-----BEGIN EC PRIVATE KEY-----",
					     NULL};

	if (!pem_check_shape(pem, n, begins))
		return SA_ERR_VALIDATION;
	return pem_read_p256(pem, n, 1, out);
}

enum sa_err
ecdsa_privkey_to_pem(EVP_PKEY *key, char **out, size_t *outlen)
{
	BIO *bio = NULL;
	char *data = NULL, *copy = NULL;
	long len;
	enum sa_err rc = SA_ERR_INTERNAL;

	if (!ecdsa_is_p256(key))
		return SA_ERR_INTERNAL;
	/* A secure-memory BIO is wiped when freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		return SA_ERR_NOMEM;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || len > ECDSA_PEM_MAX)
		goto out;
	if ((copy = malloc((size_t)len + 1)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, data, (size_t)len);
	copy[len] = '\0';
	*out = copy;
	*outlen = (size_t)len;
	rc = SA_OK;
out:
	BIO_free(bio);
	return ossl_settled(rc);
}

enum sa_err
ecdsa_generate_p256(EVP_PKEY **out)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (key == NULL) {
		ERR_clear_error();
		return SA_ERR_INTERNAL;
	}
	*out = key;
	return SA_OK;
}

enum sa_err
ecdsa_pubkey_xy(const EVP_PKEY *key, unsigned char x[32], unsigned char y[32])
{
	BIGNUM *bx = NULL, *by = NULL;
	unsigned char tx[32], ty[32];
	enum sa_err rc = SA_ERR_INTERNAL;

	if (!ecdsa_is_p256(key))
		return SA_ERR_INTERNAL;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1)
		goto out;
	if (BN_bn2binpad(bx, tx, sizeof(tx)) != 32 ||
	    BN_bn2binpad(by, ty, sizeof(ty)) != 32)
		goto out;
	memcpy(x, tx, 32);
	memcpy(y, ty, 32);
	rc = SA_OK;
out:
	BN_free(bx);
	BN_free(by);
	return ossl_settled(rc);
}
