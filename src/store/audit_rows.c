/*
 * audit_rows.c - what the audit log and the durable backends share about
 * audit rows: the chain hash, which the backends compute as they append and
 * the audit log checks when it verifies, and the paged walk the backends
 * use for dstore_audit_iter. Both sit here, below the audit log, so neither
 * side includes the other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_int.h"

/* audit_hash_u64 feeds v to md as 8 bytes big-endian. */
static void
audit_hash_u64(EVP_MD_CTX *md, uint64_t v, int *ok)
{
	unsigned char b[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
	*ok &= EVP_DigestUpdate(md, b, sizeof(b));
}

/* audit_hash_str feeds s to md as a 4-byte big-endian length and its
 * bytes. */
static void
audit_hash_str(EVP_MD_CTX *md, const char *s, int *ok)
{
	size_t n = s ? strlen(s) : 0;
	unsigned char b[4];

	if (n > UINT32_MAX) {
		*ok = 0;
		return;
	}
	b[0] = (unsigned char)(n >> 24);
	b[1] = (unsigned char)(n >> 16);
	b[2] = (unsigned char)(n >> 8);
	b[3] = (unsigned char)n;
	*ok &= EVP_DigestUpdate(md, b, sizeof(b));
	if (n > 0)
		*ok &= EVP_DigestUpdate(md, s, n);
}

void
audit_rows_chain(const struct audit_row *rows, struct audit_row *chained,
		 size_t n, int64_t seq, const unsigned char prev[32])
{
	const unsigned char *p = prev;

	for (size_t i = 0; i < n; i++) {
		chained[i] = rows[i];
		chained[i].seq = ++seq;
		memcpy(chained[i].prev_hash, p, 32);
		audit_row_hash(&chained[i], p, chained[i].hash);
		p = chained[i].hash;
	}
}

/*
 * audit_row_hash computes the chain hash of a row as documented in
 * store/store.h. NULL strings hash as empty ones. If the digest cannot be
 * computed at all (out of memory inside OpenSSL) the process aborts: a
 * wrong hash would silently break the chain and there is no correct value
 * to return instead.
 */
void
audit_row_hash(const struct audit_row *row, const unsigned char prev_hash[32],
	       unsigned char out[32])
{
	/* The thread's prepared SHA-256 context: the writer hashes every
	 * row it commits. */
	EVP_MD_CTX *md = sha256_begin();
	unsigned int len = 0;
	int ok = md != NULL;

	if (ok)
		ok = EVP_DigestUpdate(md, prev_hash, 32);
	if (ok) {
		audit_hash_u64(md, (uint64_t)row->seq, &ok);
		audit_hash_u64(md, (uint64_t)row->ts_ms, &ok);
		audit_hash_str(md, row->event, &ok);
		audit_hash_str(md, row->ip, &ok);
		audit_hash_str(md, row->ua, &ok);
		audit_hash_str(md, row->subject, &ok);
		audit_hash_str(md, row->detail, &ok);
	}
	if (ok)
		ok = EVP_DigestFinal_ex(md, out, &len) && len == 32;
	if (!ok) {
		log_error("audit.hash", "cannot compute SHA-256");
		abort();
	}
}

/* audit_page_clear frees the strings of a page's rows and empties it. */
void
audit_page_clear(struct audit_page *pg)
{
	for (size_t i = 0; i < pg->n; i++) {
		free((char *)pg->rows[i].event);
		free((char *)pg->rows[i].ip);
		free((char *)pg->rows[i].ua);
		free((char *)pg->rows[i].subject);
		free((char *)pg->rows[i].detail);
	}
	pg->n = 0;
}

/*
 * audit_walk reads pages with read_page from from_seq on and hands each row
 * to cb, at most limit rows (limit <= 0: all), until cb returns non-zero.
 */
enum sa_err
audit_walk(struct dstore *ds, int64_t from_seq, int64_t limit, audit_row_cb cb,
	   void *arg, audit_page_reader read_page)
{
	struct audit_page *pg;
	enum sa_err rc = SA_OK;
	int64_t left = limit > 0 ? limit : INT64_MAX;
	int stop = 0;

	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		return SA_ERR_NOMEM;
	while (left > 0 && !stop) {
		size_t want =
		    left < AUDIT_PAGE_ROWS ? (size_t)left : AUDIT_PAGE_ROWS;
		enum sa_err read_rc = read_page(ds, from_seq, want, pg);
		size_t got = pg->n;

		/* Hand over the good rows before a bad one, so a verifier
		 * learns how far the chain was readable. */
		for (size_t i = 0; i < pg->n && !stop; i++) {
			stop = cb(&pg->rows[i], arg) != 0;
			left--;
		}
		if (got > 0)
			from_seq = pg->rows[got - 1].seq + 1;
		audit_page_clear(pg);
		if (read_rc != SA_OK) {
			rc = stop ? SA_OK : read_rc;
			break;
		}
		if (got < want)
			break;
	}
	free(pg);
	return rc;
}
