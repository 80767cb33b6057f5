/*
 * util.c - encodings, randomness, time and buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/util.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

enum sa_err
buf_append(struct buf *b, const void *p, size_t n)
{
	size_t need, cap;
	unsigned char *d;

	if (n > b->max || b->len > b->max - n)
		return SA_ERR_BODY_TOO_LARGE;
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		d = realloc(b->data, cap);
		if (d == NULL)
			return SA_ERR_NOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return SA_OK;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_free_secret(struct buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	buf_free(b);
}

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* b64_put writes the encoding of n bytes and a NUL into out, which has
 * room for 4 * ((n + 2) / 3) + 1 characters; returns the characters
 * written before the NUL. */
static size_t
b64_put(char *out, const unsigned char *in, size_t n, const char *alpha,
	int pad)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t rem = n - i;
		if (rem > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			v |= in[i + 2];
		out[j++] = alpha[(v >> 18) & 63];
		out[j++] = alpha[(v >> 12) & 63];
		if (rem > 1)
			out[j++] = alpha[(v >> 6) & 63];
		else if (pad)
			out[j++] = '=';
		if (rem > 2)
			out[j++] = alpha[v & 63];
		else if (pad)
			out[j++] = '=';
	}
	out[j] = '\0';
	return j;
}

static char *
b64_encode_with(const unsigned char *in, size_t n, const char *alpha, int pad)
{
	char *out;

	if (n > SIZE_MAX / 2)
		return NULL;
	if ((out = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		return NULL;
	b64_put(out, in, n, alpha, pad);
	return out;
}

char *
b64_encode(const unsigned char *in, size_t n)
{
	return b64_encode_with(in, n, b64_std, 1);
}

char *
b64url_encode(const unsigned char *in, size_t n)
{
	return b64_encode_with(in, n, b64_url, 0);
}

size_t
b64url_encode_to(char *out, size_t cap, const unsigned char *in, size_t n)
{
	if (n > SIZE_MAX / 8 || cap < B64URL_LEN(n) + 1)
		return 0;
	return b64_put(out, in, n, b64_url, 0);
}

char *
hex_encode(const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *out;

	if (n > SIZE_MAX / 2 - 1)
		return NULL;
	out = malloc(2 * n + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

int
b64_value(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (!url && c == '+')
		return 62;
	if (!url && c == '/')
		return 63;
	if (url && c == '-')
		return 62;
	if (url && c == '_')
		return 63;
	return -1;
}

/*
 * b64_take decodes the n characters at in (padding already taken off) into
 * o, which has room for n * 3 / 4 bytes, strictly: only alphabet
 * characters and no bits left over. *outlen is the bytes written.
 */
static enum sa_err
b64_take(const char *in, size_t n, int url, unsigned char *o, size_t *outlen)
{
	size_t j = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return SA_ERR_BAD_REQUEST;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)in[i], url);
		if (v < 0)
			return SA_ERR_BAD_REQUEST;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[j++] = (unsigned char)(acc >> bits);
		}
	}
	/* Leftover bits must be zero, so each input has one encoding. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return SA_ERR_BAD_REQUEST;
	*outlen = j;
	return SA_OK;
}

/*
 * b64_decode_with decodes base64 strictly: only alphabet characters, padding
 * only at the end (and only where the alphabet allows it), no bits left over.
 */
static enum sa_err
b64_decode_with(const char *in, size_t n, size_t maxin, int url,
		unsigned char **out, size_t *outlen)
{
	unsigned char *o = NULL;
	size_t pad = 0;
	enum sa_err rc;

	if (n > maxin)
		return SA_ERR_BODY_TOO_LARGE;
	while (!url && n > 0 && in[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
		return SA_ERR_BAD_REQUEST;
	o = malloc(n * 3 / 4 + 1);
	if (o == NULL)
		return SA_ERR_NOMEM;
	if ((rc = b64_take(in, n, url, o, outlen)) == SA_OK) {
		*out = o;
		o = NULL;
	}
	free(o);
	return rc;
}

enum sa_err
b64_decode(const char *in, size_t n, size_t maxin, unsigned char **out,
	   size_t *outlen)
{
	return b64_decode_with(in, n, maxin, 0, out, outlen);
}

enum sa_err
b64url_decode(const char *in, size_t n, size_t maxin, unsigned char **out,
	      size_t *outlen)
{
	return b64_decode_with(in, n, maxin, 1, out, outlen);
}

enum sa_err
b64url_decode_to(const char *in, size_t n, unsigned char *out, size_t cap,
		 size_t *outlen)
{
	if (n / 4 * 3 + (n % 4 > 1 ? n % 4 - 1 : 0) > cap)
		return SA_ERR_BODY_TOO_LARGE;
	return b64_take(in, n, 1, out, outlen);
}

int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
dec_value(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

enum sa_err
hex_decode(const char *in, size_t n, size_t maxin, unsigned char **out,
	   size_t *outlen)
{
	unsigned char *o;

	if (n > maxin)
		return SA_ERR_BODY_TOO_LARGE;
	if (n % 2 != 0)
		return SA_ERR_BAD_REQUEST;
	o = malloc(n / 2 + 1);
	if (o == NULL)
		return SA_ERR_NOMEM;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value(in[i]), lo = hex_value(in[i + 1]);
		if (hi < 0 || lo < 0) {
			free(o);
			return SA_ERR_BAD_REQUEST;
		}
		o[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*out = o;
	*outlen = n / 2;
	return SA_OK;
}

/*
 * Random bytes come from OpenSSL's DRBG, which reads getpid() on every call
 * to notice a fork: a system call per draw, three in a login. So short
 * draws are served from a pool of DRBG output filled RAND_POOL_BYTES at a
 * time. The pool has a page of its own, marked MADV_WIPEONFORK: a child
 * process finds it zeroed, with nothing left in it, and refills from its
 * own DRBG, so parent and child never hand out the same bytes (the case the
 * getpid check is there for). It is also kept out of core dumps, and every
 * byte handed out is wiped from it at once. Where the kernel cannot wipe on
 * fork, every draw goes to the DRBG as before.
 */
#define RAND_POOL_PAGE 4096
#define RAND_POOL_BYTES 2048 /* one refill: about 50 logins' worth */
#define RAND_POOL_DRAW 64    /* longer draws go to the DRBG directly */

struct rand_pool {
	size_t left; /* unused bytes, at the front of b; 0 after a fork */
	unsigned char b[RAND_POOL_BYTES];
};

static pthread_once_t rand_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t rand_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rand_pool *rand_pool;

_Static_assert(sizeof(struct rand_pool) <= RAND_POOL_PAGE,
	       "the random pool fits its page");

static void
rand_pool_init(void)
{
	void *p = mmap(NULL, RAND_POOL_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	if (madvise(p, RAND_POOL_PAGE, MADV_WIPEONFORK) != 0) {
		munmap(p, RAND_POOL_PAGE);
		return;
	}
	(void)madvise(p, RAND_POOL_PAGE, MADV_DONTDUMP);
	rand_pool = p;
}

static enum sa_err
rand_drbg(void *buf, size_t n)
{
	if (n > INT_MAX || RAND_bytes(buf, (int)n) != 1)
		return SA_ERR_INTERNAL;
	return SA_OK;
}

enum sa_err
rand_bytes(void *buf, size_t n)
{
	struct rand_pool *p;
	enum sa_err rc = SA_OK;

	pthread_once(&rand_once, rand_pool_init);
	p = rand_pool;
	if (p == NULL || n > RAND_POOL_DRAW)
		return rand_drbg(buf, n);
	pthread_mutex_lock(&rand_mu);
	if (p->left < n) {
		if ((rc = rand_drbg(p->b, sizeof(p->b))) != SA_OK) {
			OPENSSL_cleanse(p->b, sizeof(p->b));
			p->left = 0;
			goto out;
		}
		p->left = sizeof(p->b);
	}
	p->left -= n;
	memcpy(buf, p->b + p->left, n);
	OPENSSL_cleanse(p->b + p->left, n);
out:
	pthread_mutex_unlock(&rand_mu);
	return rc;
}

/* splitmix64: a fast generator with full 64-bit state mixing. */
static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
request_id(char out[17])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static _Thread_local uint64_t state;
	static _Thread_local int seeded;
	uint64_t a, b;

	if (!seeded) {
		if (rand_bytes(&state, sizeof(state)) != SA_OK)
			state = (uint64_t)now_mono_ms() ^
				(uint64_t)(uintptr_t)&state;
		seeded = 1;
	}
	a = splitmix64(&state);
	b = splitmix64(&state);
	for (int i = 0; i < 8; i++) {
		out[i] = b64[(a >> (6 * i)) & 63];
		out[8 + i] = b64[(b >> (6 * i)) & 63];
	}
	out[16] = '\0';
}

uint64_t
fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

int
ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int64_t
now_unix(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

uint64_t
now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
now_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND                                                              \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = SIP_ROTL(v1, 13);                                         \
		v1 ^= v0;                                                      \
		v0 = SIP_ROTL(v0, 32);                                         \
		v2 += v3;                                                      \
		v3 = SIP_ROTL(v3, 16);                                         \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = SIP_ROTL(v3, 21);                                         \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = SIP_ROTL(v1, 17);                                         \
		v1 ^= v2;                                                      \
		v2 = SIP_ROTL(v2, 32);                                         \
	} while (0)

uint64_t
siphash24(uint64_t k0, uint64_t k1, const void *in, size_t n)
{
	const unsigned char *p = in;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)n << 56, m;
	size_t i, tail = n & 7;

	for (i = 0; i + 8 <= n; i += 8) {
		m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | p[i + (size_t)j];
		v3 ^= m;
		SIP_ROUND;
		SIP_ROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < tail; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIP_ROUND;
	SIP_ROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIP_ROUND;
	SIP_ROUND;
	SIP_ROUND;
	SIP_ROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

void
thread_name(const char *name)
{
	char n[16];

	str_copy(n, sizeof(n), name);
	pthread_setname_np(pthread_self(), n);
}

struct timespec
mono_at_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000u),
			      (long)(us % 1000000u) * 1000L};

	return ts;
}

struct timespec
mono_deadline_ms(uint64_t ms)
{
	return mono_at_us(now_mono_us() + ms * 1000u);
}

void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era;
	unsigned int doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned int)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* put_digits writes v as n decimal digits at p. */
static void
put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * iso8601_utc computes the date with civil_from_days, without gmtime_r and
 * strftime: every login writes a time or two, and glibc takes its
 * time-zone lock for each gmtime_r even in UTC. Years outside 0000..9999
 * give an empty string.
 */
void
iso8601_utc(int64_t t, char out[21])
{
	int64_t day, secs, y;
	int m, d;

	out[0] = '\0';
	/* Beyond year 9999 either way: no arithmetic that could overflow. */
	if (t < -62167219200LL || t > 253402300799LL)
		return;
	/* Floor division, so instants before 1970 land on the right day. */
	day = t / 86400 - (t % 86400 < 0);
	secs = t - day * 86400;
	civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999)
		return;
	put_digits(out, (unsigned)y, 4);
	out[4] = '-';
	put_digits(out + 5, (unsigned)m, 2);
	out[7] = '-';
	put_digits(out + 8, (unsigned)d, 2);
	out[10] = 'T';
	put_digits(out + 11, (unsigned)(secs / 3600), 2);
	out[13] = ':';
	put_digits(out + 14, (unsigned)(secs / 60 % 60), 2);
	out[16] = ':';
	put_digits(out + 17, (unsigned)(secs % 60), 2);
	out[19] = 'Z';
	out[20] = '\0';
}

/*
 * SHA-256 goes through an implementation fetched once for the process and
 * one digest context per thread, for every layer (the signatures' digests
 * and the audit chain's too, through sha256_begin). EVP_Digest with
 * EVP_sha256() looks the algorithm up by name and allocates a context on
 * every call, which for the short inputs hashed here (a token, a PEM key)
 * costs several times the hashing. A pthread key frees a thread's context
 * when the thread ends.
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static pthread_key_t sha256_key;
static int sha256_key_ok;
static __thread EVP_MD_CTX *sha256_ctx;

static void
sha256_ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	sha256_key_ok = pthread_key_create(&sha256_key, sha256_ctx_free) == 0;
}

EVP_MD_CTX *
sha256_begin(void)
{
	EVP_MD_CTX *ctx = sha256_ctx;

	if (ctx == NULL) {
		/* The thread's first hash: make its context. */
		pthread_once(&sha256_once, sha256_fetch);
		if (sha256_md == NULL || !sha256_key_ok ||
		    (ctx = EVP_MD_CTX_new()) == NULL)
			return NULL;
		if (pthread_setspecific(sha256_key, ctx) != 0) {
			EVP_MD_CTX_free(ctx);
			return NULL;
		}
		sha256_ctx = ctx;
	}
	if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1) {
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

void
sha256(const void *in, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	EVP_MD_CTX *ctx = sha256_begin();

	if (ctx != NULL && EVP_DigestUpdate(ctx, in, n) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &len) == 1)
		return;
	/* The slow way, which allocates what it needs itself. */
	EVP_Digest(in, n, out, &len, EVP_sha256(), NULL);
}

enum sa_err
read_file(const char *path, size_t max, unsigned char **out, size_t *outlen)
{
	struct buf b;
	unsigned char chunk[8192];
	enum sa_err rc = SA_ERR_IO;
	struct stat st;
	int fd;

	buf_init(&b, max);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return SA_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		if ((rc = buf_append(&b, chunk, (size_t)r)) != SA_OK)
			goto out;
		rc = SA_ERR_IO;
	}
	if (b.data == NULL && (rc = buf_append(&b, "", 0)) != SA_OK)
		goto out;
	*out = b.data;
	*outlen = b.len;
	b.data = NULL;
	rc = SA_OK;
out:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	buf_free_secret(&b);
	close(fd);
	return rc;
}

enum sa_err
write_file_atomic(const char *path, const void *data, size_t n,
		  unsigned int mode)
{
	char tmp[PATH_MAX];
	const unsigned char *p = data;
	enum sa_err rc = SA_ERR_IO;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return SA_ERR_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return SA_ERR_IO;
	if (fchmod(fd, mode) != 0)
		goto out;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		p += w;
		n -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	rc = SA_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != SA_OK)
		unlink(tmp);
	return rc;
}

enum sa_err
mkdir_p(const char *path, unsigned int mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return SA_ERR_IO;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return SA_ERR_IO;
		tmp[i] = c;
	}
	return SA_OK;
}

size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int
utf8_valid(const void *s, size_t n, unsigned int flags)
{
	const unsigned char *p = s;
	uint32_t cp;

	while (n > 0) {
		/* Blocks of ASCII that the flags allow, eight bytes a step. */
		while (n >= 8) {
			uint64_t w = swar_load(p);
			if ((w & SWAR_HIGH) != 0 ||
			    ((flags & UTF8_NO_C0) && (swar_has_below(w, 0x20) ||
						      swar_has_byte(w, 0x7f))))
				break;
			p += 8;
			n -= 8;
		}
		if (n == 0)
			break;
		size_t k = utf8_next(p, n, &cp);
		if (k == 0)
			return 0;
		if ((flags & UTF8_NO_C0) && (cp < 0x20 || cp == 0x7f))
			return 0;
		if ((flags & UTF8_NO_C1) && cp >= 0x80 && cp < 0xa0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

void
why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

size_t
str_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src), k;

	if (n == 0)
		return len;
	k = len < n ? len : n - 1;
	memcpy(dst, src, k);
	dst[k] = '\0';
	return len;
}

/* put_decimal writes v's decimal digits and a NUL at out; returns how many
 * digits (at most 20). */
static size_t
put_decimal(char *out, uint64_t v)
{
	char t[20];
	size_t n = 0, i;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = t[n - 1 - i];
	out[n] = '\0';
	return n;
}

size_t
fmt_u64(char out[FMT_INT_MAX], uint64_t v)
{
	return put_decimal(out, v);
}

size_t
fmt_i64(char out[FMT_INT_MAX], int64_t v)
{
	if (v >= 0)
		return put_decimal(out, (uint64_t)v);
	out[0] = '-';
	/* The magnitude, INT64_MIN's included, as an unsigned value. */
	return 1 + put_decimal(out + 1, (uint64_t)0 - (uint64_t)v);
}

int
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int64_t
iso8601_parse(const char *s)
{
	struct tm tm;
	const char *rest;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL || (*rest != 'Z' && *rest != '.'))
		return -1;
	return (int64_t)timegm(&tm);
}
