/*
 * util.h - small helpers shared by every module: encodings, randomness,
 * time, constant-time comparison and a bounded growable buffer.
 */
#ifndef SEALAUTH_UTIL_H
#define SEALAUTH_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/types.h>

#include "core/errors.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A growable byte buffer with a hard maximum (after curl's dynbuf). The data
 * is always NUL-terminated for convenience; len does not count the NUL.
 */
struct buf {
	unsigned char *data;
	size_t len;
	size_t cap;
	size_t max; /* appends past this fail with SA_ERR_BODY_TOO_LARGE */
};

/* buf_init prepares an empty buffer that may hold at most max bytes. */
void buf_init(struct buf *b, size_t max);
/* buf_append copies n bytes to the end of the buffer. */
enum sa_err buf_append(struct buf *b, const void *p, size_t n);
/* buf_free releases the memory; the buffer may be reused after buf_init. */
void buf_free(struct buf *b);
/* buf_free_secret wipes the contents, then frees. */
void buf_free_secret(struct buf *b);

/*
 * Encoders write a NUL-terminated string into a newly allocated buffer that
 * the caller frees; they return NULL only when out of memory.
 */
char *b64_encode(const unsigned char *in, size_t n);
char *b64url_encode(const unsigned char *in, size_t n); /* no padding */
char *hex_encode(const unsigned char *in, size_t n);	/* lowercase */
/* B64URL_LEN is the length of the base64url (no padding) of n bytes. */
#define B64URL_LEN(n) ((4 * (n) + 2) / 3)
/* b64url_encode_to writes the base64url of n bytes (no padding) and a NUL
 * into out (cap bytes); returns the characters before the NUL, 0 when cap
 * is short of B64URL_LEN(n) + 1. */
size_t b64url_encode_to(char *out, size_t cap, const unsigned char *in,
			size_t n);

/*
 * Decoders allocate *out (caller frees) and set *outlen on success. Input is
 * bounded by maxin characters; whitespace is refused.
 * b64_decode accepts the standard alphabet with or without padding;
 * b64url_decode the URL-safe one without padding.
 */
enum sa_err b64_decode(const char *in, size_t n, size_t maxin,
		       unsigned char **out, size_t *outlen);
enum sa_err b64url_decode(const char *in, size_t n, size_t maxin,
			  unsigned char **out, size_t *outlen);
enum sa_err hex_decode(const char *in, size_t n, size_t maxin,
		       unsigned char **out, size_t *outlen);
/* b64url_decode_to decodes like b64url_decode into out (cap bytes):
 * SA_ERR_BODY_TOO_LARGE when the bytes would not fit. */
enum sa_err b64url_decode_to(const char *in, size_t n, unsigned char *out,
			     size_t cap, size_t *outlen);
/* b64_value is the value of one base64 character (url: the URL-safe
 * alphabet), hex_value of one hex digit (either case), -1 when it is none. */
int b64_value(unsigned char c, int url);
int hex_value(char c);
/* dec_value is the value of n decimal digits the caller has checked. */
int dec_value(const char *s, size_t n);

/* rand_bytes fills buf with cryptographically secure random bytes. */
enum sa_err rand_bytes(void *buf, size_t n);

/*
 * request_id writes a fresh 16-character base64url identifier for log
 * correlation: unpredictable to clients but not a secret, so it comes from a
 * per-thread generator seeded once from rand_bytes rather than from the
 * DRBG (which costs a system call per draw).
 */
void request_id(char out[17]);

/*
 * fnv1a hashes a string with 64-bit FNV-1a: fast, not keyed, so only for
 * tables where a crafted collision costs a slower lookup, not more memory.
 */
uint64_t fnv1a(const char *s);

/* ct_equal compares two byte strings in time that depends only on n. */
int ct_equal(const void *a, const void *b, size_t n);

/* now_unix is the wall clock in seconds; now_mono_ms and now_mono_us a
 * monotonic clock. */
int64_t now_unix(void);
uint64_t now_mono_ms(void);
uint64_t now_mono_us(void);

/*
 * Timed waits on the monotonic clock, so a change of the wall clock cannot
 * stretch or cut them: cond_init_mono makes a condition variable that
 * measures its timeouts on it; mono_at_us turns a monotonic time in
 * microseconds into the deadline pthread_cond_timedwait takes, and
 * mono_deadline_ms gives the deadline ms from now.
 */
void cond_init_mono(pthread_cond_t *cv);
struct timespec mono_at_us(uint64_t us);
struct timespec mono_deadline_ms(uint64_t ms);

/* siphash24 is SipHash-2-4 of n bytes under the key (k0, k1): a hash of
 * client-chosen input (addresses, token ids) that a client cannot steer
 * into one bucket without the key. */
uint64_t siphash24(uint64_t k0, uint64_t k1, const void *in, size_t n);

/* thread_name names the calling thread (at most 15 characters shown) so
 * that top -H, ps -L and perf tell the server's threads apart. */
void thread_name(const char *name);

/* civil_from_days turns days since 1970-01-01 into a proleptic Gregorian
 * date (H. Hinnant's algorithm; exact for every day count of an int64_t
 * second count). */
void civil_from_days(int64_t z, int64_t *y, int *m, int *d);
/* iso8601_utc writes "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with NUL). */
void iso8601_utc(int64_t t, char out[21]);
/* iso8601_parse reads "YYYY-MM-DDTHH:MM:SS[.fff]Z" as UTC; -1 when s is
 * NULL or not one. */
int64_t iso8601_parse(const char *s);

/* sha256 writes the 32-byte digest of n bytes. */
void sha256(const void *in, size_t n, unsigned char out[32]);
/* sha256_begin returns the calling thread's digest context, initialised
 * for SHA-256 and ready for EVP_DigestUpdate (NULL: OpenSSL failed). It is
 * the one sha256 uses: borrowed until the thread's next call to either,
 * never freed by the caller. */
EVP_MD_CTX *sha256_begin(void);

/*
 * read_file reads a whole regular file of at most max bytes into a new
 * NUL-terminated buffer (caller frees). write_file_atomic writes data to a
 * temporary file beside path with the given mode, fsyncs it and renames it
 * over path.
 */
enum sa_err read_file(const char *path, size_t max, unsigned char **out,
		      size_t *outlen);
enum sa_err write_file_atomic(const char *path, const void *data, size_t n,
			      unsigned int mode);

/* mkdir_p creates a directory and its parents with the given mode. */
enum sa_err mkdir_p(const char *path, unsigned int mode);

/*
 * utf8_next decodes the character at s (n bytes available) into *cp and
 * returns its length, or 0 if the bytes are not well-formed UTF-8 (an
 * overlong form, a surrogate, a value past U+10FFFF, a truncated sequence).
 */
size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/*
 * Tests on eight bytes at once, read as one word (memcpy, any alignment):
 * the text scanners below take a block of plain ASCII in one step and fall
 * back to one character at a time only where a test says so. Each answer
 * is exact: no byte matches, or some byte does.
 */
#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGH 0x8080808080808080ULL

/* swar_load reads eight bytes at p. */
static inline uint64_t
swar_load(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* swar_has_byte: whether some byte of w is b. */
static inline int
swar_has_byte(uint64_t w, unsigned char b)
{
	uint64_t t = w ^ (SWAR_ONES * b);

	return ((t - SWAR_ONES) & ~t & SWAR_HIGH) != 0;
}

/* swar_has_below: whether some byte of w is below b (b at most 0x80);
 * meant for words none of whose bytes has its high bit set. */
static inline int
swar_has_below(uint64_t w, unsigned char b)
{
	return ((w - SWAR_ONES * b) & ~w & SWAR_HIGH) != 0;
}

/* uri_unreserved tells whether c is in RFC 3986's unreserved set: ASCII
 * letters, digits and "-._~", the characters a URI never escapes. */
static inline int
uri_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

#define UTF8_NO_C0 0x1 /* also refuse U+0000..U+001F and U+007F */
#define UTF8_NO_C1 0x2 /* also refuse U+0080..U+009F */

/* utf8_valid tells whether n bytes are well-formed UTF-8 under flags. */
int utf8_valid(const void *s, size_t n, unsigned int flags);

/* why_set formats a reason into why (whylen bytes); nothing if why is NULL. */
void why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* str_has_prefix tells whether s starts with prefix. */
int str_has_prefix(const char *s, const char *prefix);

/*
 * str_copy copies src into dst (n bytes, n > 0), cut short to fit and
 * always terminated, as snprintf(dst, n, "%s", src) does, without the
 * format machinery. Returns strlen(src): the copy was cut when that is n or
 * more.
 */
size_t str_copy(char *dst, size_t n, const char *src);

/* fmt_u64 and fmt_i64 write v in decimal with a terminating NUL (at most 21
 * bytes: a sign and 19 or 20 digits) and return the number of characters,
 * as snprintf with "%llu" or "%lld" would. */
#define FMT_INT_MAX 21
size_t fmt_u64(char out[FMT_INT_MAX], uint64_t v);
size_t fmt_i64(char out[FMT_INT_MAX], int64_t v);

#endif
