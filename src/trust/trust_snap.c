/*
 * trust_snap.c - the reference-counted snapshots: readers take one without
 * locking against a refresh, and the handle describes the current one for
 * /health and the CLI (trust.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "trust/trust_int.h"
#include "trust/vrl.h"

/* trust_snap_free frees a set no one references any more. */
void
trust_snap_free(struct trust_snap *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nscopes; i++)
		vrl_free(s->scopes[i].vrl);
	free(s->scopes);
	for (size_t i = 0; i < s->ncas; i++) {
		X509_free(s->cas[i].cert);
		X509_CRL_free(s->cas[i].crl);
		X509_STORE_free(s->cas[i].store);
		free(s->cas[i].signer_base);
	}
	free(s->cas);
	for (size_t i = 0; i < s->nsigners; i++)
		X509_free(s->signers[i].cert);
	free(s->signers);
	free(s->misses);
	free(s->authorities);
	json_decref(s->lists);
	pthread_mutex_destroy(&s->signers_lock);
	free(s);
}

/* snap_get returns the current set with a reference, or NULL. */
struct trust_snap *
trust_snap_get(struct trust *t)
{
	struct trust_snap *s;

	pthread_mutex_lock(&t->lock);
	s = t->snap;
	if (s != NULL)
		s->refs++;
	pthread_mutex_unlock(&t->lock);
	return s;
}

/* snap_put drops a reference taken by snap_get (or the handle's own). */
void
trust_snap_put(struct trust *t, struct trust_snap *s)
{
	int last;

	if (s == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		trust_snap_free(s);
}

static json_t *
time_or_null(int64_t t)
{
	char b[21];

	if (t == 0 || t == INT64_MAX)
		return json_null();
	iso8601_utc(t, b);
	return json_string(b);
}

json_t *
trust_status_json(struct trust *t, int64_t now)
{
	json_t *o = NULL;
	const char *status;
	size_t signers = 0;
	struct trust_snap *s;

	pthread_mutex_lock(&t->lock);
	s = t->snap;
	if (s == NULL || now >= s->expires_at)
		status = "failed";
	else if (t->last_failed)
		status = "stale";
	else
		status = "fresh";
	if (s != NULL) {
		pthread_mutex_lock(&s->signers_lock);
		for (size_t i = 0; i < s->nsigners; i++)
			if (s->signers[i].cert != NULL)
				signers++;
		pthread_mutex_unlock(&s->signers_lock);
	}
	o = json_pack("{s:s, s:b, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I}}",
		      "status", status, "demo", s != NULL && s->demo,
		      "loadedAt", time_or_null(s != NULL ? s->loaded_at : 0),
		      "expiresAt", time_or_null(s != NULL ? s->expires_at : 0),
		      "nextRefresh", time_or_null(t->next_refresh), "lastError",
		      t->last_failed ? json_pack("{s:s, s:s, s:s}", "step",
						 t->last_err.step, "error",
						 sa_err_code(t->last_err.err),
						 "reason", t->last_err.reason)
				     : json_null(),
		      "counts", "lists",
		      (json_int_t)(s != NULL ? json_array_size(s->lists) : 0),
		      "cas", (json_int_t)(s != NULL ? s->ncas : 0), "signers",
		      (json_int_t)signers, "revokedSeals",
		      (json_int_t)(s != NULL ? s->nrevoked : 0));
	pthread_mutex_unlock(&t->lock);
	return o;
}

uint64_t
trust_generation(struct trust *t)
{
	uint64_t g;

	pthread_mutex_lock(&t->lock);
	g = t->generation;
	pthread_mutex_unlock(&t->lock);
	return g;
}

enum sa_err
trust_revoked_seals(struct trust *t, uint64_t *generation,
		    unsigned char (**fps)[32], size_t *n)
{
	struct trust_snap *s;
	unsigned char(*out)[32] = NULL;
	size_t total = 0, k = 0;
	enum sa_err rc = SA_OK;

	pthread_mutex_lock(&t->lock);
	s = t->snap;
	if (s != NULL) {
		total = s->nrevoked;
		if (total > 0 && (out = calloc(total, sizeof(*out))) == NULL)
			rc = SA_ERR_NOMEM;
		for (size_t i = 0; rc == SA_OK && i < s->nscopes; i++) {
			const struct vrl *v = s->scopes[i].vrl;
			for (size_t j = 0; v != NULL && j < v->n && k < total;
			     j++)
				memcpy(out[k++], v->fps[j], 32);
		}
	}
	if (rc == SA_OK) {
		*generation = t->generation;
		*fps = out;
		*n = k;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

json_t *
trust_lists_json(struct trust *t)
{
	json_t *a;

	pthread_mutex_lock(&t->lock);
	if (t->snap != NULL)
		a = json_deep_copy(t->snap->lists);
	else if (t->failed_lists != NULL)
		a = json_deep_copy(t->failed_lists);
	else
		a = json_array();
	pthread_mutex_unlock(&t->lock);
	return a;
}

enum sa_err
trust_authority_prefix(struct trust *t, const char *iac,
		       char out[TRUST_MAX_PREFIX + 1])
{
	struct trust_snap *s = trust_snap_get(t);
	enum sa_err rc = SA_ERR_NOT_FOUND;

	for (size_t i = 0; s != NULL && iac != NULL && i < s->nauthorities; i++)
		if (strcmp(s->authorities[i].iac, iac) == 0) {
			memcpy(out, s->authorities[i].prefix,
			       sizeof(s->authorities[i].prefix));
			rc = SA_OK;
			break;
		}
	trust_snap_put(t, s);
	return rc;
}
