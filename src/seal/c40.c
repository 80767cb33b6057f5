/*
 * c40.c - C40 encoding and decoding (see c40.h).
 */
#include <string.h>

#include "seal/c40.h"

/* c40_value maps a character to its C40 value, or -1. */
static int
c40_value(char c)
{
	if (c == ' ' || c == '<')
		return 3;
	if (c >= '0' && c <= '9')
		return c - '0' + 4;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 14;
	return -1;
}

/* c40_char maps a C40 value 3..39 to its character. */
static char
c40_char(unsigned int v)
{
	if (v == 3)
		return ' ';
	if (v <= 13)
		return (char)('0' + (v - 4));
	return (char)('A' + (v - 14));
}

size_t
c40_encoded_len(size_t nchars)
{
	return (nchars + 2) / 3 * 2;
}

enum sa_err
c40_encode(const char *text, size_t n, unsigned char *out, size_t outsz,
	   size_t *outlen)
{
	size_t i, j = 0;

	if (n > C40_MAX_CHARS)
		return SA_ERR_BAD_REQUEST;
	for (i = 0; i < n; i++)
		if (c40_value(text[i]) < 0)
			return SA_ERR_BAD_REQUEST;
	if (outsz < c40_encoded_len(n))
		return SA_ERR_INTERNAL;
	for (i = 0; i + 3 <= n; i += 3) {
		unsigned int v = 1600u * (unsigned int)c40_value(text[i]) +
				 40u * (unsigned int)c40_value(text[i + 1]) +
				 (unsigned int)c40_value(text[i + 2]) + 1u;
		out[j++] = (unsigned char)(v >> 8);
		out[j++] = (unsigned char)(v & 0xff);
	}
	if (n - i == 2) {
		unsigned int v = 1600u * (unsigned int)c40_value(text[i]) +
				 40u * (unsigned int)c40_value(text[i + 1]) +
				 1u;
		out[j++] = (unsigned char)(v >> 8);
		out[j++] = (unsigned char)(v & 0xff);
	} else if (n - i == 1) {
		/* '<' stands for space in C40, so the single form writes a
		 * space too: the decoder maps both back to ' '. */
		char c = text[i] == '<' ? ' ' : text[i];
		out[j++] = 0xfe;
		out[j++] = (unsigned char)(c + 1);
	}
	*outlen = j;
	return SA_OK;
}

enum sa_err
c40_decode(const unsigned char *in, size_t n, char *out, size_t outsz,
	   size_t *outlen)
{
	size_t i, j = 0;
	char tmp[C40_MAX_CHARS + 1];

	if (n % 2 != 0 || n / 2 * 3 > C40_MAX_CHARS)
		return SA_ERR_SEAL_DECODE;
	for (i = 0; i < n; i += 2) {
		int last = i + 2 == n;
		unsigned int v, c[3];

		if (in[i] == 0xfe) {
			/* ASCII + 1 of one character, allowed only last. */
			char ch = (char)(in[i + 1] - 1);
			if (!last || in[i + 1] == 0 || ch == '<' ||
			    c40_value(ch) < 0)
				return SA_ERR_SEAL_DECODE;
			tmp[j++] = ch;
			continue;
		}
		v = ((unsigned int)in[i] << 8 | in[i + 1]);
		if (v == 0)
			return SA_ERR_SEAL_DECODE;
		v -= 1;
		c[0] = v / 1600;
		c[1] = (v / 40) % 40;
		c[2] = v % 40;
		if (c[0] > 39 || c[0] == 0)
			return SA_ERR_SEAL_DECODE;
		for (int k = 0; k < 3; k++) {
			if (c[k] == 0) {
				/* Padding only closes the last pair. */
				if (!last || (k == 1 && c[2] != 0))
					return SA_ERR_SEAL_DECODE;
				break;
			}
			if (c[k] < 3)
				return SA_ERR_SEAL_DECODE; /* shift values */
			tmp[j++] = c40_char(c[k]);
		}
	}
	if (j + 1 > outsz)
		return SA_ERR_SEAL_DECODE;
	memcpy(out, tmp, j);
	out[j] = '\0';
	*outlen = j;
	return SA_OK;
}
