/*
 * c40.h - the C40 text encoding used by Visible Digital Seals.
 *
 * C40 packs three characters from a 40-value set into two bytes:
 * value 0 is padding, 3 is space (written '<' in an MRZ), 4..13 are the
 * digits and 14..39 the letters A-Z. A triple (c1, c2, c3) becomes the
 * big-endian 16-bit number 1600*c1 + 40*c2 + c3 + 1. A lone last
 * character is written as the pair 0xFE, ASCII + 1.
 */
#ifndef SEALAUTH_C40_H
#define SEALAUTH_C40_H

#include <stddef.h>

#include "core/errors.h"

/* The longest text either direction handles; seals are far smaller. */
#define C40_MAX_CHARS 12288

/* c40_encoded_len is the number of bytes c40_encode writes for n chars. */
size_t c40_encoded_len(size_t nchars);

/*
 * c40_encode writes the C40 form of n characters of text into out, which
 * holds outsz bytes, and sets *outlen. Accepted characters are space, '<'
 * (encoded as space), 0-9 and A-Z; anything else, including lowercase, is
 * refused with SA_ERR_BAD_REQUEST. Two characters left over are padded
 * with the value 0; one is written in the 0xFE form. SA_ERR_INTERNAL when
 * out is too small (c40_encoded_len tells the size).
 */
enum sa_err c40_encode(const char *text, size_t n, unsigned char *out,
		       size_t outsz, size_t *outlen);

/*
 * c40_decode decodes n bytes of C40 into out (outsz bytes, at least
 * 3 * n / 2 + 1) as a NUL-terminated string and sets *outlen to its length.
 * Space decodes as ' '. The input must have an even length; padding (0)
 * is only accepted at the end of the last pair, the 0xFE single-character
 * form only as the last pair, and the shift values 1 and 2 or a first
 * value above 39 are refused: SA_ERR_SEAL_DECODE. out is untouched on
 * failure.
 */
enum sa_err c40_decode(const unsigned char *in, size_t n, char *out,
		       size_t outsz, size_t *outlen);

#endif
