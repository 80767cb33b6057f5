/*
 * seal_codec.h - the text forms a seal arrives in (hex, base32, base45,
 * base64, base64url, or raw bytes) and how we tell them apart.
 *
 * Detection is deterministic: the candidates are tried in the fixed order
 * of enum seal_encoding and the first whose characters all belong to its
 * alphabet, that decodes strictly, and whose bytes start like a seal we
 * read (0xDE 0x02, or 0xDC 0x00 to 0xDC 0x03) wins. When none does, the
 * first that decodes to a seal's magic byte (0xDC or 0xDE) wins, so that
 * the parser refuses it with the real reason. docs/seals.md explains why
 * the order cannot mistake one seal encoding for another in practice.
 */
#ifndef SEALAUTH_SEAL_CODEC_H
#define SEALAUTH_SEAL_CODEC_H

#include <stddef.h>

#include "core/errors.h"

#define SEAL_MAX_BYTES 8192 /* a decoded seal is at most this long */
#define SEAL_MAX_TEXT 16384 /* longer input is refused before decoding */

/* The order of the values is the detection order. */
enum seal_encoding {
	SEAL_ENC_RAW = 0,	/* the bytes themselves (a file) */
	SEAL_ENC_HEX = 1,	/* [0-9a-fA-F], even length */
	SEAL_ENC_BASE32 = 2,	/* RFC 4648 §6, uppercase, '=' optional */
	SEAL_ENC_BASE45 = 3,	/* RFC 9285 */
	SEAL_ENC_BASE64 = 4,	/* RFC 4648 §4, '=' optional */
	SEAL_ENC_BASE64URL = 5, /* RFC 4648 §5, '=' optional */
};

/* seal_encoding_name returns "raw", "hex", "base32", ... */
const char *seal_encoding_name(enum seal_encoding enc);

/*
 * seal_looks_like tells whether n bytes start like a seal of a version we
 * read (magic and version byte).
 */
int seal_looks_like(const unsigned char *b, size_t n);

/* seal_has_magic tells whether n >= 2 bytes start with 0xDC or 0xDE. */
int seal_has_magic(const unsigned char *b, size_t n);

/*
 * seal_codec_decode detects the encoding of n bytes of text and decodes it
 * into a new buffer (*out, caller frees) of *outlen bytes; *which says the
 * encoding found (which may be NULL). CR, LF and TAB around the text are
 * ignored (never spaces: space is a base45 digit). Input that starts with
 * a magic byte is taken as raw bytes. Input over SEAL_MAX_TEXT or a result
 * over SEAL_MAX_BYTES: SA_ERR_BODY_TOO_LARGE. No candidate decoding to a
 * seal's magic byte: SA_ERR_SEAL_DECODE. Out-parameters are set only on
 * success.
 */
enum sa_err seal_codec_decode(const char *text, size_t n, unsigned char **out,
			      size_t *outlen, enum seal_encoding *which);

/*
 * seal_codec_encode writes n bytes in the given text encoding as a new
 * NUL-terminated string (*out, caller frees). Padding is written for
 * base32 and base64, not for base64url. SA_ERR_BAD_REQUEST for
 * SEAL_ENC_RAW or n over SEAL_MAX_BYTES.
 */
enum sa_err seal_codec_encode(const unsigned char *in, size_t n,
			      enum seal_encoding enc, char **out);

#endif
