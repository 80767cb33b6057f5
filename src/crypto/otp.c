/*
 * otp.c - login codes and WebSocket tokens, HMAC-SHA256 over OpenSSL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/otp.h"
#include "crypto/thread_ctx.h"
#include "core/util.h"

/* hmac_parts computes HMAC-SHA256 over parts joined by single 0x00 bytes,
 * with the thread's prepared context for the key (thread_ctx.h). */
static enum sa_err
hmac_parts(const unsigned char *secret, size_t secret_len,
	   const char *const *parts, size_t nparts, unsigned char mac[32])
{
	EVP_MAC_CTX *ctx = thread_ctx_hmac_sha256(secret, secret_len);
	size_t maclen = 0;
	static const unsigned char zero = 0;

	if (ctx == NULL)
		return SA_ERR_INTERNAL;
	for (size_t i = 0; i < nparts; i++) {
		if (i > 0 && EVP_MAC_update(ctx, &zero, 1) != 1)
			goto fail;
		if (EVP_MAC_update(ctx, (const unsigned char *)parts[i],
				   strlen(parts[i])) != 1)
			goto fail;
	}
	if (EVP_MAC_final(ctx, mac, &maclen, 32) != 1 || maclen != 32)
		goto fail;
	return SA_OK;
fail:
	ERR_clear_error();
	return SA_ERR_INTERNAL;
}

enum sa_err
otp_derive(const unsigned char *secret, size_t secret_len,
	   const char *session_id, const char *token_id, int64_t issued_at,
	   char out[OTP_DIGITS + 1])
{
	unsigned char mac[32];
	char when[FMT_INT_MAX];
	const char *parts[4];
	uint32_t v;
	unsigned int off;
	enum sa_err rc;

	if (secret_len < OTP_SECRET_MIN || secret_len > OTP_SECRET_MAX)
		return SA_ERR_CONFIG;
	fmt_i64(when, issued_at);
	parts[0] = "sealauth-otp-v1";
	parts[1] = session_id;
	parts[2] = token_id;
	parts[3] = when;
	if ((rc = hmac_parts(secret, secret_len, parts, 4, mac)) != SA_OK)
		return rc;
	off = mac[31] & 0x0f;
	v = ((uint32_t)(mac[off] & 0x7f) << 24) |
	    ((uint32_t)mac[off + 1] << 16) | ((uint32_t)mac[off + 2] << 8) |
	    mac[off + 3];
	v %= 1000000u;
	for (int i = OTP_DIGITS - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
	out[OTP_DIGITS] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return SA_OK;
}

enum sa_err
otp_derive_key(const unsigned char *secret, size_t secret_len,
	       const char *purpose, unsigned char out[OTP_KEY_LEN])
{
	const char *parts[2] = {"sealauth-key-v1", purpose};

	if (secret_len < OTP_SECRET_MIN || secret_len > OTP_SECRET_MAX ||
	    purpose[0] == '\0')
		return SA_ERR_CONFIG;
	return hmac_parts(secret, secret_len, parts, 2, out);
}

enum sa_err
otp_code_mac(const unsigned char key[OTP_KEY_LEN], const char *session_id,
	     const char *otp, char out[65])
{
	const char *parts[3] = {"sealauth-code-v1", session_id, otp};
	unsigned char mac[32];
	static const char hexd[] = "0123456789abcdef";
	enum sa_err rc;

	if ((rc = hmac_parts(key, OTP_KEY_LEN, parts, 3, mac)) != SA_OK)
		return rc;
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hexd[mac[i] >> 4];
		out[2 * i + 1] = hexd[mac[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return SA_OK;
}

/* mac_b64url computes base64url(HMAC-SHA256(secret, parts)) into out. */
static enum sa_err
mac_b64url(const unsigned char *secret, size_t secret_len,
	   const char *const *parts, size_t nparts, char out[44])
{
	unsigned char mac[32];
	char *enc;
	enum sa_err rc;

	if (secret_len < OTP_SECRET_MIN || secret_len > OTP_SECRET_MAX)
		return SA_ERR_CONFIG;
	if ((rc = hmac_parts(secret, secret_len, parts, nparts, mac)) != SA_OK)
		return rc;
	enc = b64url_encode(mac, sizeof(mac));
	OPENSSL_cleanse(mac, sizeof(mac));
	if (enc == NULL)
		return SA_ERR_NOMEM;
	memcpy(out, enc, 44); /* 43 characters and the NUL */
	free(enc);
	return SA_OK;
}

enum sa_err
otp_ws_token(const unsigned char *secret, size_t secret_len,
	     const char *session_id, const char *random, char out[44])
{
	const char *parts[3] = {"sealauth-ws-v1", session_id, random};

	return mac_b64url(secret, secret_len, parts, 3, out);
}

enum sa_err
otp_device_mac(const unsigned char key[OTP_KEY_LEN], const char *token_id,
	       int64_t expiry, char out[44])
{
	char when[24];
	const char *parts[3] = {"sealauth-device-v1", token_id, when};

	snprintf(when, sizeof(when), "%lld", (long long)expiry);
	return mac_b64url(key, OTP_KEY_LEN, parts, 3, out);
}

enum sa_err
otp_pairwise_sub(const unsigned char *secret, size_t secret_len,
		 const char *sector, const char *authority,
		 const char *token_id, char out[44])
{
	const char *parts[4] = {"sealauth-sub-v1", sector, authority, token_id};

	if (sector[0] == '\0' || token_id[0] == '\0')
		return SA_ERR_INTERNAL;
	return mac_b64url(secret, secret_len, parts, 4, out);
}

int
otp_ws_token_check(const unsigned char *secret, size_t secret_len,
		   const char *session_id, const char *random,
		   const char *token)
{
	char want[44];

	if (token == NULL || strlen(token) != 43)
		return 0;
	if (otp_ws_token(secret, secret_len, session_id, random, want) != SA_OK)
		return 0;
	return ct_equal(want, token, 43);
}
