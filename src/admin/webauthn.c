/*
 * webauthn.c - the WebAuthn relying party: parsing and ceremonies.
 *
 * libfido2 1.12 checks signatures; the rest is ours. It has no
 * fido_cred_set_attobj, so the attestationObject is split here with libcbor
 * (fmt, authData, attStmt re-serialised); the COSE type given to libfido2
 * must be the key's own; with "none" attestation libfido2 verifies nothing,
 * so rpIdHash and the flags are checked here for every format; it never
 * looks at clientDataJSON or x5c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "admin/webauthn.h"
#include "core/util.h"

#define WHY(...)                                                               \
	do {                                                                   \
		if (why != NULL)                                               \
			snprintf(why, whylen, __VA_ARGS__);                    \
	} while (0)

/* ---- The relying party ------------------------------------------------- */

static int
loopback_host(const char *h)
{
	return strcmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0 ||
	       strcmp(h, "[::1]") == 0;
}

enum sa_err
webauthn_rp_init(struct webauthn_rp *rp, const char *public_url, char *why,
		 size_t whylen)
{
	const char *host, *end;
	size_t hlen, olen;
	int https;

	memset(rp, 0, sizeof(*rp));
	if (public_url == NULL || public_url[0] == '\0') {
		WHY("SEALAUTH_PUBLIC_URL is not set");
		return SA_ERR_ADMIN_UNAVAILABLE;
	}
	https = str_has_prefix(public_url, "https://");
	if (!https && !str_has_prefix(public_url, "http://")) {
		WHY("SEALAUTH_PUBLIC_URL must start with https://");
		return SA_ERR_ADMIN_UNAVAILABLE;
	}
	host = public_url + (https ? 8 : 7);
	olen = (size_t)(host - public_url) + strcspn(host, "/?#");
	end = host[0] == '[' ? strchr(host, ']') : NULL;
	hlen = end != NULL ? (size_t)(end - host) + 1 : strcspn(host, ":/?#");
	if (hlen == 0 || hlen > WEBAUTHN_RP_ID_MAX ||
	    olen > WEBAUTHN_ORIGIN_MAX || strchr(host, '@') != NULL) {
		WHY("SEALAUTH_PUBLIC_URL has no usable host");
		return SA_ERR_ADMIN_UNAVAILABLE;
	}
	memcpy(rp->rp_id, host, hlen);
	rp->rp_id[hlen] = '\0';
	for (char *c = rp->rp_id; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (!https && !loopback_host(rp->rp_id)) {
		WHY("SEALAUTH_PUBLIC_URL must be https:// (http:// only on "
		    "loopback)");
		return SA_ERR_ADMIN_UNAVAILABLE;
	}
	memcpy(rp->origin, public_url, olen);
	rp->origin[olen] = '\0';
	sha256(rp->rp_id, strlen(rp->rp_id), rp->rp_id_hash);
	return SA_OK;
}

/* ---- CBOR --------------------------------------------------------------- */

/* cbor_walk checks one item at *pos (see webauthn_cbor_check). */
static int
cbor_walk(const unsigned char *p, size_t n, size_t *pos, int depth)
{
	uint64_t val = 0;
	unsigned int major, ai;

	if (depth > WEBAUTHN_CBOR_DEPTH || *pos >= n)
		return -1;
	major = p[*pos] >> 5;
	ai = p[*pos] & 31;
	(*pos)++;
	if (ai < 24) {
		val = ai;
	} else if (ai <= 27) {
		size_t k = (size_t)1 << (ai - 24);
		if (n - *pos < k)
			return -1;
		for (size_t i = 0; i < k; i++)
			val = (val << 8) | p[(*pos)++];
	} else {
		return -1; /* reserved, or an indefinite length */
	}
	switch (major) {
	case 0:
	case 1:
		return 0;
	case 2:
	case 3:
		if (val > n - *pos)
			return -1;
		*pos += (size_t)val;
		return 0;
	case 4:
	case 5:
		/* Every item takes at least one byte: a count larger than
		 * what is left is a lie, refused before anything allocates. */
		if (val > (n - *pos) / (major == 5 ? 2 : 1))
			return -1;
		for (uint64_t i = 0; i < val * (major == 5 ? 2 : 1); i++)
			if (cbor_walk(p, n, pos, depth + 1) != 0)
				return -1;
		return 0;
	case 7:
		return 0; /* simple values and floats */
	default:
		return -1; /* tags */
	}
}

enum sa_err
webauthn_cbor_check(const unsigned char *p, size_t n, size_t *used)
{
	size_t pos = 0;

	if (p == NULL || cbor_walk(p, n, &pos, 0) != 0)
		return SA_ERR_WEBAUTHN;
	*used = pos;
	return SA_OK;
}

/* cbor_parse loads exactly n checked bytes as one item (caller decrefs). */
static cbor_item_t *
cbor_parse(const unsigned char *p, size_t n)
{
	struct cbor_load_result res;
	cbor_item_t *item;
	size_t used = 0;

	if (webauthn_cbor_check(p, n, &used) != SA_OK || used != n)
		return NULL;
	item = cbor_load(p, n, &res);
	if (item == NULL || res.error.code != CBOR_ERR_NONE || res.read != n) {
		if (item != NULL)
			cbor_decref(&item);
		return NULL;
	}
	return item;
}

/* cbor_int reads an unsigned or negative integer item. */
static int
cbor_int(const cbor_item_t *it, int64_t *out)
{
	uint64_t v;

	if (!cbor_isa_uint(it) && !cbor_isa_negint(it))
		return -1;
	v = cbor_get_int(it);
	if (v > INT64_MAX)
		return -1;
	*out = cbor_isa_uint(it) ? (int64_t)v : -1 - (int64_t)v;
	return 0;
}

/* cbor_text_is tells whether an item is the definite text string s. */
static int
cbor_text_is(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);

	return cbor_isa_string(it) && cbor_string_is_definite(it) &&
	       cbor_string_length(it) == n &&
	       memcmp(cbor_string_handle(it), s, n) == 0;
}

/*
 * cose_key reads a credential public key: ES256 {1:2, 3:-7, -1:1, -2:x32,
 * -3:y32} or EdDSA {1:1, 3:-8, -1:6, -2:x32}, no other members, none twice.
 */
static enum sa_err
cose_key(const cbor_item_t *map, struct webauthn_authdata *out, char *why,
	 size_t whylen)
{
	struct cbor_pair *pairs;
	int64_t kty = 0, alg = 0, crv = 0;
	const cbor_item_t *x = NULL, *y = NULL;
	unsigned int seen = 0;

	if (!cbor_isa_map(map) || !cbor_map_is_definite(map)) {
		WHY("authData: the credential public key is not a COSE map");
		return SA_ERR_WEBAUTHN;
	}
	pairs = cbor_map_handle(map);
	for (size_t i = 0; i < cbor_map_size(map); i++) {
		int64_t k, v = 0;
		unsigned int bit;
		if (cbor_int(pairs[i].key, &k) != 0 || k < -3 || k > 3 ||
		    k == 0 || k == 2) {
			WHY("authData: unexpected COSE key member");
			return SA_ERR_WEBAUTHN;
		}
		bit = 1u << (unsigned int)(k + 3);
		if (seen & bit) {
			WHY("authData: a COSE key member appears twice");
			return SA_ERR_WEBAUTHN;
		}
		seen |= bit;
		if (k == -2)
			x = pairs[i].value;
		else if (k == -3)
			y = pairs[i].value;
		else if (cbor_int(pairs[i].value, &v) != 0) {
			WHY("authData: a COSE key member is not an integer");
			return SA_ERR_WEBAUTHN;
		}
		if (k == 1)
			kty = v;
		else if (k == 3)
			alg = v;
		else if (k == -1)
			crv = v;
	}
	if (x == NULL || !cbor_isa_bytestring(x) ||
	    !cbor_bytestring_is_definite(x) ||
	    cbor_bytestring_length(x) != 32) {
		WHY("authData: the COSE key lacks a 32-byte x");
		return SA_ERR_WEBAUTHN;
	}
	if (kty == 2 && alg == WEBAUTHN_ES256 && crv == 1 && y != NULL &&
	    cbor_isa_bytestring(y) && cbor_bytestring_is_definite(y) &&
	    cbor_bytestring_length(y) == 32) {
		out->alg = WEBAUTHN_ES256;
		memcpy(out->pubkey, cbor_bytestring_handle(x), 32);
		memcpy(out->pubkey + 32, cbor_bytestring_handle(y), 32);
		out->pubkey_len = 64;
		return SA_OK;
	}
	if (kty == 1 && alg == WEBAUTHN_EDDSA && crv == 6 && y == NULL) {
		out->alg = WEBAUTHN_EDDSA;
		memcpy(out->pubkey, cbor_bytestring_handle(x), 32);
		out->pubkey_len = 32;
		return SA_OK;
	}
	WHY("authData: the credential key is neither ES256 (P-256) nor EdDSA "
	    "(Ed25519)");
	return SA_ERR_WEBAUTHN;
}

enum sa_err
webauthn_parse_authdata(const unsigned char *p, size_t n,
			struct webauthn_authdata *out, char *why, size_t whylen)
{
	struct webauthn_authdata a;
	cbor_item_t *key = NULL;
	size_t pos = 37, used = 0;
	enum sa_err rc = SA_ERR_WEBAUTHN;

	memset(&a, 0, sizeof(a));
	if (p == NULL || n < 37 || n > WEBAUTHN_AUTHDATA_MAX) {
		WHY("authData: must be 37 to %d bytes", WEBAUTHN_AUTHDATA_MAX);
		return SA_ERR_WEBAUTHN;
	}
	memcpy(a.rp_id_hash, p, 32);
	a.flags = p[32];
	a.sign_count = (uint32_t)p[33] << 24 | (uint32_t)p[34] << 16 |
		       (uint32_t)p[35] << 8 | p[36];
	if (a.flags & WEBAUTHN_AT) {
		if (n - pos < 18) {
			WHY("authData: the attested credential is cut short");
			goto out;
		}
		memcpy(a.aaguid, p + pos, 16);
		a.cred_id_len = (size_t)p[pos + 16] << 8 | p[pos + 17];
		pos += 18;
		if (a.cred_id_len == 0 ||
		    a.cred_id_len > WEBAUTHN_CRED_ID_MAX ||
		    a.cred_id_len > n - pos) {
			WHY("authData: bad credential id length");
			goto out;
		}
		memcpy(a.cred_id, p + pos, a.cred_id_len);
		pos += a.cred_id_len;
		if (webauthn_cbor_check(p + pos, n - pos, &used) != SA_OK ||
		    (key = cbor_parse(p + pos, used)) == NULL) {
			WHY("authData: the credential public key is not CBOR");
			goto out;
		}
		if ((rc = cose_key(key, &a, why, whylen)) != SA_OK)
			goto out;
		rc = SA_ERR_WEBAUTHN;
		pos += used;
		a.has_cred = 1;
	}
	if (a.flags & WEBAUTHN_ED) {
		if (webauthn_cbor_check(p + pos, n - pos, &used) != SA_OK ||
		    (p[pos] >> 5) != 5) {
			WHY("authData: the extensions are not a CBOR map");
			goto out;
		}
		pos += used;
	}
	if (pos != n) {
		WHY("authData: %zu bytes after its end", n - pos);
		goto out;
	}
	*out = a;
	rc = SA_OK;
out:
	if (key != NULL)
		cbor_decref(&key);
	return rc;
}

void
webauthn_attobj_free(struct webauthn_attobj *a)
{
	if (a == NULL)
		return;
	free((void *)a->authdata);
	free(a->attstmt);
	free((void *)a->sig);
	memset(a, 0, sizeof(*a));
}

/* attstmt_read notes what a statement holds: alg, sig, x5c. */
static enum sa_err
attstmt_read(const cbor_item_t *st, struct webauthn_attobj *a, char *why,
	     size_t whylen)
{
	struct cbor_pair *pairs = cbor_map_handle(st);

	a->stmt_entries = (int)cbor_map_size(st);
	for (size_t i = 0; i < cbor_map_size(st); i++) {
		const cbor_item_t *v = pairs[i].value;
		int64_t alg;
		if (cbor_text_is(pairs[i].key, "alg") &&
		    cbor_int(v, &alg) == 0 && alg >= -1000 && alg <= 1000) {
			a->stmt_alg = (int)alg;
		} else if (cbor_text_is(pairs[i].key, "sig") &&
			   cbor_isa_bytestring(v) &&
			   cbor_bytestring_is_definite(v) &&
			   cbor_bytestring_length(v) > 0 &&
			   cbor_bytestring_length(v) <= WEBAUTHN_SIG_MAX &&
			   a->sig == NULL) {
			a->sig_len = cbor_bytestring_length(v);
			if ((a->sig = malloc(a->sig_len)) == NULL)
				return SA_ERR_NOMEM;
			memcpy((void *)a->sig, cbor_bytestring_handle(v),
			       a->sig_len);
		} else if (cbor_text_is(pairs[i].key, "x5c")) {
			a->has_x5c = 1;
		} else {
			WHY("attStmt: unexpected member");
			return SA_ERR_WEBAUTHN;
		}
	}
	return SA_OK;
}

enum sa_err
webauthn_parse_attobj(const unsigned char *p, size_t n,
		      struct webauthn_attobj *out, char *why, size_t whylen)
{
	struct webauthn_attobj a;
	cbor_item_t *root = NULL;
	const cbor_item_t *fmt = NULL, *stmt = NULL, *ad = NULL;
	struct cbor_pair *pairs;
	enum sa_err rc = SA_ERR_WEBAUTHN;

	memset(&a, 0, sizeof(a));
	if (n > WEBAUTHN_ATTOBJ_MAX || (root = cbor_parse(p, n)) == NULL ||
	    !cbor_isa_map(root) || cbor_map_size(root) != 3) {
		WHY("attestationObject: not a CBOR map of fmt, attStmt and "
		    "authData");
		goto out;
	}
	pairs = cbor_map_handle(root);
	for (size_t i = 0; i < 3; i++) {
		if (cbor_text_is(pairs[i].key, "fmt") && fmt == NULL)
			fmt = pairs[i].value;
		else if (cbor_text_is(pairs[i].key, "attStmt") && stmt == NULL)
			stmt = pairs[i].value;
		else if (cbor_text_is(pairs[i].key, "authData") && ad == NULL)
			ad = pairs[i].value;
	}
	if (fmt == NULL || stmt == NULL || ad == NULL ||
	    !cbor_isa_string(fmt) || !cbor_string_is_definite(fmt) ||
	    cbor_string_length(fmt) == 0 ||
	    cbor_string_length(fmt) >= sizeof(a.fmt) || !cbor_isa_map(stmt) ||
	    !cbor_isa_bytestring(ad) || !cbor_bytestring_is_definite(ad)) {
		WHY("attestationObject: fmt, attStmt or authData is missing "
		    "or of the wrong type");
		goto out;
	}
	memcpy(a.fmt, cbor_string_handle(fmt), cbor_string_length(fmt));
	a.authdata_len = cbor_bytestring_length(ad);
	if ((a.authdata = malloc(a.authdata_len ? a.authdata_len : 1)) ==
	    NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	memcpy((void *)a.authdata, cbor_bytestring_handle(ad), a.authdata_len);
	if ((rc = attstmt_read(stmt, &a, why, whylen)) != SA_OK)
		goto out;
	a.attstmt_len = cbor_serialize_alloc(stmt, &a.attstmt, &(size_t){0});
	if (a.attstmt_len == 0) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	*out = a;
	memset(&a, 0, sizeof(a));
	rc = SA_OK;
out:
	webauthn_attobj_free(&a);
	if (root != NULL)
		cbor_decref(&root);
	return rc;
}

/* ---- clientDataJSON ------------------------------------------------------ */

enum sa_err
webauthn_check_clientdata(const struct webauthn_rp *rp, const char *type,
			  const char *challenge, const unsigned char *cdj,
			  size_t n, char *why, size_t whylen)
{
	json_t *o = NULL, *co;
	const char *t, *c, *origin;
	enum sa_err rc = SA_ERR_WEBAUTHN;

	if (cdj == NULL || n == 0 || n > WEBAUTHN_CLIENTDATA_MAX ||
	    (o = json_loadb((const char *)cdj, n, JSON_REJECT_DUPLICATES,
			    NULL)) == NULL ||
	    !json_is_object(o)) {
		WHY("clientDataJSON: not a JSON object of at most %d bytes",
		    WEBAUTHN_CLIENTDATA_MAX);
		goto out;
	}
	t = json_string_value(json_object_get(o, "type"));
	c = json_string_value(json_object_get(o, "challenge"));
	origin = json_string_value(json_object_get(o, "origin"));
	co = json_object_get(o, "crossOrigin");
	if (t == NULL || strcmp(t, type) != 0) {
		WHY("clientDataJSON: type is not %s", type);
		goto out;
	}
	if (c == NULL || strlen(c) != strlen(challenge) ||
	    CRYPTO_memcmp(c, challenge, strlen(challenge)) != 0) {
		WHY("clientDataJSON: the challenge is not the one issued");
		goto out;
	}
	if (origin == NULL || strcmp(origin, rp->origin) != 0) {
		WHY("clientDataJSON: origin is not %s", rp->origin);
		goto out;
	}
	if (co != NULL && !json_is_false(co)) {
		WHY("clientDataJSON: crossOrigin must be false");
		goto out;
	}
	rc = SA_OK;
out:
	json_decref(o);
	return rc;
}

/* check_flags checks the RP id hash and the UP and UV flags. */
static enum sa_err
check_flags(const struct webauthn_rp *rp, const struct webauthn_authdata *a,
	    char *why, size_t whylen)
{
	if (CRYPTO_memcmp(a->rp_id_hash, rp->rp_id_hash, 32) != 0) {
		WHY("authData: rpIdHash is not the hash of %s", rp->rp_id);
		return SA_ERR_WEBAUTHN;
	}
	if (!(a->flags & WEBAUTHN_UP)) {
		WHY("authData: user presence (UP) is not set");
		return SA_ERR_WEBAUTHN;
	}
	if (!(a->flags & WEBAUTHN_UV)) {
		WHY("authData: user verification (UV) is not set");
		return SA_ERR_WEBAUTHN;
	}
	return SA_OK;
}

/* fido_type maps our algorithm to libfido2's COSE type. */
static int
fido_type(int alg)
{
	return alg == WEBAUTHN_EDDSA ? COSE_EDDSA : COSE_ES256;
}

/* verify_self checks a packed self-attestation with libfido2. */
static enum sa_err
verify_self(const struct webauthn_rp *rp, const struct webauthn_attobj *att,
	    const struct webauthn_authdata *ad, const unsigned char hash[32],
	    char *why, size_t whylen)
{
	fido_cred_t *cred = fido_cred_new();
	enum sa_err rc = SA_ERR_WEBAUTHN;
	int r;

	if (cred == NULL)
		return SA_ERR_NOMEM;
	/* The type first: libfido2 refuses authData whose key differs. */
	if ((r = fido_cred_set_type(cred, fido_type(ad->alg))) != FIDO_OK ||
	    (r = fido_cred_set_authdata_raw(cred, att->authdata,
					    att->authdata_len)) != FIDO_OK ||
	    (r = fido_cred_set_clientdata_hash(cred, hash, 32)) != FIDO_OK ||
	    (r = fido_cred_set_rp(cred, rp->rp_id, NULL)) != FIDO_OK ||
	    (r = fido_cred_set_fmt(cred, "packed")) != FIDO_OK ||
	    (r = fido_cred_set_sig(cred, att->sig, att->sig_len)) != FIDO_OK ||
	    (r = fido_cred_set_uv(cred, FIDO_OPT_TRUE)) != FIDO_OK) {
		WHY("attStmt: libfido2 refused the statement: %s",
		    fido_strerr(r));
		goto out;
	}
	if ((r = fido_cred_verify_self(cred)) != FIDO_OK) {
		WHY("attStmt: the self-attestation signature is invalid");
		goto out;
	}
	rc = SA_OK;
out:
	fido_cred_free(&cred);
	return rc;
}

enum sa_err
webauthn_register(const struct webauthn_rp *rp, const char *challenge,
		  const unsigned char *cdj, size_t cdj_len,
		  const unsigned char *attobj, size_t attobj_len,
		  struct webauthn_credential *out, char *why, size_t whylen)
{
	struct webauthn_attobj att;
	struct webauthn_authdata ad;
	unsigned char hash[32];
	enum sa_err rc;

	memset(&att, 0, sizeof(att));
	if ((rc = webauthn_check_clientdata(rp, "webauthn.create", challenge,
					    cdj, cdj_len, why, whylen)) !=
	    SA_OK)
		return rc;
	if ((rc = webauthn_parse_attobj(attobj, attobj_len, &att, why,
					whylen)) != SA_OK)
		goto out;
	if ((rc = webauthn_parse_authdata(att.authdata, att.authdata_len, &ad,
					  why, whylen)) != SA_OK ||
	    (rc = check_flags(rp, &ad, why, whylen)) != SA_OK)
		goto out;
	rc = SA_ERR_WEBAUTHN;
	if (!ad.has_cred) {
		WHY("authData: no attested credential (AT is not set)");
		goto out;
	}
	sha256(cdj, cdj_len, hash);
	if (strcmp(att.fmt, "none") == 0) {
		if (att.stmt_entries != 0) {
			WHY("attStmt: must be empty for \"none\"");
			goto out;
		}
	} else if (strcmp(att.fmt, "packed") == 0) {
		if (att.has_x5c) {
			WHY("attStmt: attestation certificates are not "
			    "accepted; use \"none\" or self attestation");
			goto out;
		}
		if (att.sig == NULL || att.stmt_alg != ad.alg) {
			WHY("attStmt: alg must be the credential's and sig "
			    "present");
			goto out;
		}
		if ((rc = verify_self(rp, &att, &ad, hash, why, whylen)) !=
		    SA_OK)
			goto out;
	} else {
		WHY("attestationObject: format \"%s\" is not accepted",
		    att.fmt);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->id, ad.cred_id, ad.cred_id_len);
	out->id_len = ad.cred_id_len;
	out->alg = ad.alg;
	memcpy(out->pubkey, ad.pubkey, ad.pubkey_len);
	out->pubkey_len = ad.pubkey_len;
	out->sign_count = ad.sign_count;
	memcpy(out->aaguid, ad.aaguid, 16);
	snprintf(out->fmt, sizeof(out->fmt), "%s", att.fmt);
	rc = SA_OK;
out:
	webauthn_attobj_free(&att);
	return rc;
}

/* assert_verify checks the signature with libfido2. */
static enum sa_err
assert_verify(const struct webauthn_rp *rp, const unsigned char hash[32],
	      const unsigned char *authdata, size_t authdata_len,
	      const unsigned char *sig, size_t sig_len,
	      const struct webauthn_credential *cred, char *why, size_t whylen)
{
	fido_assert_t *a = fido_assert_new();
	es256_pk_t *es = NULL;
	eddsa_pk_t *ed = NULL;
	const void *pk;
	enum sa_err rc = SA_ERR_WEBAUTHN;
	int r;

	if (a == NULL)
		return SA_ERR_NOMEM;
	if (cred->alg == WEBAUTHN_EDDSA) {
		if ((ed = eddsa_pk_new()) == NULL ||
		    eddsa_pk_from_ptr(ed, cred->pubkey, cred->pubkey_len) !=
			FIDO_OK) {
			WHY("the stored EdDSA key is unusable");
			goto out;
		}
		pk = ed;
	} else {
		if ((es = es256_pk_new()) == NULL ||
		    es256_pk_from_ptr(es, cred->pubkey, cred->pubkey_len) !=
			FIDO_OK) {
			WHY("the stored ES256 key is unusable");
			goto out;
		}
		pk = es;
	}
	if ((r = fido_assert_set_count(a, 1)) != FIDO_OK ||
	    (r = fido_assert_set_rp(a, rp->rp_id)) != FIDO_OK ||
	    (r = fido_assert_set_clientdata_hash(a, hash, 32)) != FIDO_OK ||
	    (r = fido_assert_set_authdata_raw(a, 0, authdata, authdata_len)) !=
		FIDO_OK ||
	    (r = fido_assert_set_sig(a, 0, sig, sig_len)) != FIDO_OK ||
	    (r = fido_assert_set_up(a, FIDO_OPT_TRUE)) != FIDO_OK ||
	    (r = fido_assert_set_uv(a, FIDO_OPT_TRUE)) != FIDO_OK) {
		WHY("the assertion is malformed: %s", fido_strerr(r));
		goto out;
	}
	if (fido_assert_verify(a, 0, fido_type(cred->alg), pk) != FIDO_OK) {
		WHY("the assertion signature is invalid");
		goto out;
	}
	rc = SA_OK;
out:
	es256_pk_free(&es);
	eddsa_pk_free(&ed);
	fido_assert_free(&a);
	return rc;
}

enum sa_err
webauthn_assert(const struct webauthn_rp *rp, const char *challenge,
		const unsigned char *cdj, size_t cdj_len,
		const unsigned char *authdata, size_t authdata_len,
		const unsigned char *sig, size_t sig_len,
		const struct webauthn_credential *cred, uint32_t *count,
		char *why, size_t whylen)
{
	struct webauthn_authdata ad;
	unsigned char hash[32];
	enum sa_err rc;

	if ((rc = webauthn_check_clientdata(rp, "webauthn.get", challenge, cdj,
					    cdj_len, why, whylen)) != SA_OK)
		return rc;
	if ((rc = webauthn_parse_authdata(authdata, authdata_len, &ad, why,
					  whylen)) != SA_OK ||
	    (rc = check_flags(rp, &ad, why, whylen)) != SA_OK)
		return rc;
	if (ad.has_cred) {
		WHY("authData: an assertion carries no attested credential");
		return SA_ERR_WEBAUTHN;
	}
	if (sig == NULL || sig_len == 0 || sig_len > WEBAUTHN_SIG_MAX) {
		WHY("signature: must be 1 to %d bytes", WEBAUTHN_SIG_MAX);
		return SA_ERR_WEBAUTHN;
	}
	sha256(cdj, cdj_len, hash);
	if ((rc = assert_verify(rp, hash, authdata, authdata_len, sig, sig_len,
				cred, why, whylen)) != SA_OK)
		return rc;
	*count = ad.sign_count;
	return SA_OK;
}

int
webauthn_counter_ok(uint32_t stored, uint32_t seen)
{
	if (stored == 0 && seen == 0)
		return 1;
	return seen > stored;
}
