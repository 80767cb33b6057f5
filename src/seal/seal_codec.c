/*
 * seal_codec.c - detect and decode the text encodings of a seal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seal/seal_codec.h"
#include "core/util.h"

static const char b32_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char b45_alpha[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

const char *
seal_encoding_name(enum seal_encoding enc)
{
	switch (enc) {
	case SEAL_ENC_RAW:
		return "raw";
	case SEAL_ENC_HEX:
		return "hex";
	case SEAL_ENC_BASE32:
		return "base32";
	case SEAL_ENC_BASE45:
		return "base45";
	case SEAL_ENC_BASE64:
		return "base64";
	case SEAL_ENC_BASE64URL:
		return "base64url";
	}
	return "unknown";
}

int
seal_looks_like(const unsigned char *b, size_t n)
{
	if (n < 2)
		return 0;
	if (b[0] == 0xde)
		return b[1] == 0x02;
	if (b[0] == 0xdc)
		return b[1] <= 0x03;
	return 0;
}

int
seal_has_magic(const unsigned char *b, size_t n)
{
	return n >= 2 && (b[0] == 0xdc || b[0] == 0xde);
}

static int
b32_value(char c)
{
	const char *p = c != '\0' ? strchr(b32_alpha, c) : NULL;
	return p ? (int)(p - b32_alpha) : -1;
}

static int
b45_value(char c)
{
	const char *p = c != '\0' ? strchr(b45_alpha, c) : NULL;
	return p ? (int)(p - b45_alpha) : -1;
}

/*
 * b32_decode decodes RFC 4648 base32 strictly: uppercase alphabet, '='
 * padding only as a complete tail, no impossible lengths, zero spare bits.
 */
static enum sa_err
b32_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *o;
	size_t pad = 0, j = 0;
	uint64_t acc = 0;
	int bits = 0;

	while (n > 0 && in[n - 1] == '=') {
		n--;
		pad++;
	}
	/* Only 0, 2, 4, 5 or 7 characters may end the last group. */
	switch (n % 8) {
	case 1:
	case 3:
	case 6:
		return SA_ERR_SEAL_DECODE;
	}
	if (pad > 0 && (n + pad) % 8 != 0)
		return SA_ERR_SEAL_DECODE;
	o = malloc(n * 5 / 8 + 1);
	if (o == NULL)
		return SA_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		int v = b32_value(in[i]);
		if (v < 0)
			goto bad;
		acc = (acc << 5) | (uint64_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			o[j++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		goto bad;
	*out = o;
	*outlen = j;
	return SA_OK;
bad:
	free(o);
	return SA_ERR_SEAL_DECODE;
}

/*
 * b45_decode decodes RFC 9285 base45: groups of three characters give two
 * bytes (value at most 65535), a final pair gives one byte (at most 255).
 */
static enum sa_err
b45_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *o;
	size_t j = 0;

	if (n % 3 == 1)
		return SA_ERR_SEAL_DECODE;
	o = malloc(n / 3 * 2 + 2);
	if (o == NULL)
		return SA_ERR_NOMEM;
	for (size_t i = 0; i < n; i += 3) {
		int c0 = b45_value(in[i]), c1 = b45_value(in[i + 1]);
		uint32_t v;
		if (c0 < 0 || c1 < 0)
			goto bad;
		v = (uint32_t)c0 + 45u * (uint32_t)c1;
		if (i + 2 < n) {
			int c2 = b45_value(in[i + 2]);
			if (c2 < 0)
				goto bad;
			v += 2025u * (uint32_t)c2;
			if (v > 0xffff)
				goto bad;
			o[j++] = (unsigned char)(v >> 8);
			o[j++] = (unsigned char)(v & 0xff);
		} else {
			if (v > 0xff)
				goto bad;
			o[j++] = (unsigned char)v;
		}
	}
	*out = o;
	*outlen = j;
	return SA_OK;
bad:
	free(o);
	return SA_ERR_SEAL_DECODE;
}

/* b64any_decode accepts base64 or base64url with or without padding. */
static enum sa_err
b64any_decode(const char *in, size_t n, int url, unsigned char **out,
	      size_t *outlen)
{
	size_t pad = 0;

	if (!url)
		return b64_decode(in, n, SEAL_MAX_TEXT, out, outlen);
	while (n > 0 && in[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad > 0 && (n + pad) % 4 != 0)
		return SA_ERR_SEAL_DECODE;
	return b64url_decode(in, n, SEAL_MAX_TEXT, out, outlen);
}

static int
is_hex_text(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		      (c >= 'A' && c <= 'F')))
			return 0;
	}
	return n % 2 == 0;
}

/* try_decode decodes text as one candidate encoding. */
static enum sa_err
try_decode(enum seal_encoding enc, const char *s, size_t n, unsigned char **out,
	   size_t *outlen)
{
	switch (enc) {
	case SEAL_ENC_HEX:
		if (!is_hex_text(s, n))
			return SA_ERR_SEAL_DECODE;
		return hex_decode(s, n, SEAL_MAX_TEXT, out, outlen);
	case SEAL_ENC_BASE32:
		return b32_decode(s, n, out, outlen);
	case SEAL_ENC_BASE45:
		return b45_decode(s, n, out, outlen);
	case SEAL_ENC_BASE64:
		return b64any_decode(s, n, 0, out, outlen);
	case SEAL_ENC_BASE64URL:
		return b64any_decode(s, n, 1, out, outlen);
	case SEAL_ENC_RAW:
		break;
	}
	return SA_ERR_SEAL_DECODE;
}

enum sa_err
seal_codec_decode(const char *text, size_t n, unsigned char **out,
		  size_t *outlen, enum seal_encoding *which)
{
	static const enum seal_encoding order[] = {
	    SEAL_ENC_HEX, SEAL_ENC_BASE32, SEAL_ENC_BASE45, SEAL_ENC_BASE64,
	    SEAL_ENC_BASE64URL};
	const unsigned char *u = (const unsigned char *)text;
	unsigned char *d = NULL;
	size_t dlen = 0;

	if (n > SEAL_MAX_TEXT)
		return SA_ERR_BODY_TOO_LARGE;
	/* Raw bytes start with a byte no text encoding produces. */
	if (seal_has_magic(u, n)) {
		if (n > SEAL_MAX_BYTES)
			return SA_ERR_BODY_TOO_LARGE;
		d = malloc(n);
		if (d == NULL)
			return SA_ERR_NOMEM;
		memcpy(d, text, n);
		*out = d;
		*outlen = n;
		if (which != NULL)
			*which = SEAL_ENC_RAW;
		return SA_OK;
	}
	while (n > 0 &&
	       (text[0] == '\n' || text[0] == '\r' || text[0] == '\t')) {
		text++;
		n--;
	}
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
			 text[n - 1] == '\t'))
		n--;
	if (n == 0)
		return SA_ERR_SEAL_DECODE;
	/* Pass 0 wants a seal of a version we read; pass 1 settles for the
	 * magic byte, so that the parser can name what is wrong with the
	 * header (an unsupported version, say) instead of the encoding. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ARRAY_LEN(order); i++) {
			enum sa_err rc =
			    try_decode(order[i], text, n, &d, &dlen);
			if (rc == SA_ERR_NOMEM)
				return rc;
			if (rc != SA_OK)
				continue;
			if (pass == 0 ? seal_looks_like(d, dlen)
				      : seal_has_magic(d, dlen)) {
				if (dlen > SEAL_MAX_BYTES) {
					free(d);
					return SA_ERR_BODY_TOO_LARGE;
				}
				*out = d;
				*outlen = dlen;
				if (which != NULL)
					*which = order[i];
				return SA_OK;
			}
			free(d);
			d = NULL;
		}
	}
	return SA_ERR_SEAL_DECODE;
}

static char *
b32_encode(const unsigned char *in, size_t n)
{
	size_t len = (n + 4) / 5 * 8, j = 0;
	char *o = malloc(len + 1);
	uint64_t acc = 0;
	int bits = 0;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			o[j++] = b32_alpha[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		o[j++] = b32_alpha[(acc << (5 - bits)) & 31];
	while (j < len)
		o[j++] = '=';
	o[j] = '\0';
	return o;
}

static char *
b45_encode(const unsigned char *in, size_t n)
{
	char *o = malloc(n / 2 * 3 + 3);
	size_t j = 0, i;

	if (o == NULL)
		return NULL;
	for (i = 0; i + 2 <= n; i += 2) {
		unsigned int v = (unsigned int)in[i] << 8 | in[i + 1];
		o[j++] = b45_alpha[v % 45];
		o[j++] = b45_alpha[(v / 45) % 45];
		o[j++] = b45_alpha[v / 2025];
	}
	if (i < n) {
		o[j++] = b45_alpha[in[i] % 45];
		o[j++] = b45_alpha[in[i] / 45];
	}
	o[j] = '\0';
	return o;
}

enum sa_err
seal_codec_encode(const unsigned char *in, size_t n, enum seal_encoding enc,
		  char **out)
{
	char *s = NULL;

	if (n > SEAL_MAX_BYTES)
		return SA_ERR_BAD_REQUEST;
	switch (enc) {
	case SEAL_ENC_HEX:
		s = hex_encode(in, n);
		break;
	case SEAL_ENC_BASE32:
		s = b32_encode(in, n);
		break;
	case SEAL_ENC_BASE45:
		s = b45_encode(in, n);
		break;
	case SEAL_ENC_BASE64:
		s = b64_encode(in, n);
		break;
	case SEAL_ENC_BASE64URL:
		s = b64url_encode(in, n);
		break;
	case SEAL_ENC_RAW:
		return SA_ERR_BAD_REQUEST;
	}
	if (s == NULL)
		return SA_ERR_NOMEM;
	*out = s;
	return SA_OK;
}
