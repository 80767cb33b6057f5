/*
 * store.c - the storage wrappers and the one place that picks a backend.
 *
 * Callers hold a struct dstore or struct estore, the interface each backend
 * embeds as its first member (store_int.h); the wrappers call through its
 * vtable.
 */
#include <stdatomic.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/json_out.h"
#include "core/log.h"
#include "store/store_int.h"
#include "core/util.h"

/*
 * store_scheme_later tells whether url names a backend that is part of the
 * design but not built into this binary yet, and logs that it is not.
 */
static int
store_scheme_later(const char *url, const char *const *schemes, size_t n,
		   const char *which)
{
	for (size_t i = 0; i < n; i++) {
		if (str_has_prefix(url, schemes[i])) {
			log_error("store.backend",
				  "%s backend \"%s\" is not built in yet",
				  which, schemes[i]);
			return 1;
		}
	}
	return 0;
}

/*
 * written notes the outcome of a write that reached the backend: a full
 * disk, an I/O error or an unreachable database marks the store as failing
 * until a write succeeds again (dstore_writes_failing); a refusal of the
 * write itself (a conflict, a missing row) says nothing about the store.
 */
static enum sa_err
written(struct dstore *ds, enum sa_err rc)
{
	if (rc == SA_OK || rc == SA_ERR_DISK_FULL || rc == SA_ERR_IO ||
	    rc == SA_ERR_UNAVAILABLE)
		atomic_store(&ds->write_failing, (int)rc);
	return rc;
}

enum sa_err
dstore_writes_failing(struct dstore *ds)
{
	return (enum sa_err)atomic_load(&ds->write_failing);
}

/*
 * dstore_open maps the URL to a backend: sqlite://PATH or a bare path is
 * SQLite; postgres:// and postgresql:// are PostgreSQL; any other scheme is
 * a configuration error.
 */
enum sa_err
dstore_open(const char *url, struct dstore **out)
{
	if (url == NULL || url[0] == '\0') {
		log_error("store.backend", "the database URL is empty");
		return SA_ERR_CONFIG;
	}
	if (str_has_prefix(url, "postgres://") ||
	    str_has_prefix(url, "postgresql://"))
		return store_pg_ops.open(url, out);
	if (str_has_prefix(url, "sqlite://") || strstr(url, "://") == NULL)
		return store_sqlite_ops.open(url, out);
	log_error("store.backend", "unknown durable store URL scheme");
	return SA_ERR_CONFIG;
}

void
dstore_close(struct dstore *ds)
{
	if (ds != NULL)
		ds->ops->close(ds);
}

const char *
dstore_name(struct dstore *ds)
{
	return ds->ops->name;
}

enum sa_err
dstore_ping(struct dstore *ds)
{
	return ds->ops->ping(ds);
}

enum sa_err
dstore_audit_append(struct dstore *ds, struct audit_row *rows, size_t n)
{
	if (n == 0)
		return SA_OK;
	return written(ds, ds->ops->audit_append(ds, rows, n));
}

enum sa_err
dstore_audit_iter(struct dstore *ds, int64_t from_seq, int64_t limit,
		  audit_row_cb cb, void *arg)
{
	return ds->ops->audit_iter(ds, from_seq, limit, cb, arg);
}

enum sa_err
dstore_audit_count(struct dstore *ds, int64_t *out)
{
	return ds->ops->audit_count(ds, out);
}

enum sa_err
dstore_meta_get(struct dstore *ds, const char *key, char **out)
{
	return ds->ops->meta_get(ds, key, out);
}

enum sa_err
dstore_meta_set(struct dstore *ds, const char *key, const char *value)
{
	return written(ds, ds->ops->meta_set(ds, key, value));
}

static int
enroll_token_ok(const char *token_id)
{
	size_t n = token_id ? strlen(token_id) : 0;
	return n > 0 && n <= ENROLL_TOKEN_MAX;
}

enum sa_err
dstore_enroll_write(struct dstore *ds, const struct enrollment *e,
		    enum enroll_put_mode mode, const char *take_id,
		    const struct dstore_audit *au, struct enrollment *prev,
		    int *had_prev)
{
	struct enrollment scratch;
	int had = 0;
	enum sa_err rc;

	if (!enroll_token_ok(e->token_id) || e->public_key_pem == NULL ||
	    e->claims == NULL ||
	    (take_id != NULL &&
	     (take_id[0] == '\0' || strlen(take_id) > TAKEOVER_ID_MAX)))
		return SA_ERR_VALIDATION;
	memset(&scratch, 0, sizeof(scratch));
	rc = written(ds, ds->ops->enroll_put(ds, e, mode, take_id, au,
					     prev ? prev : &scratch, &had));
	if (prev == NULL)
		enrollment_free(&scratch);
	if (had_prev != NULL)
		*had_prev = rc == SA_OK || rc == SA_ERR_CONFLICT ||
				    rc == SA_ERR_AUTHORITY_CONFLICT
				? had
				: 0;
	return rc;
}

enum sa_err
dstore_enroll_put_mode(struct dstore *ds, const struct enrollment *e,
		       enum enroll_put_mode mode, struct enrollment *prev,
		       int *had_prev)
{
	return dstore_enroll_write(ds, e, mode, NULL, NULL, prev, had_prev);
}

enum sa_err
dstore_audit_rows(const struct dstore_audit *au,
		  const struct dstore_found *found,
		  struct audit_row rows[DSTORE_AUDIT_ROWS_MAX], size_t *n)
{
	*n = 0;
	if (au == NULL || au->fill == NULL)
		return SA_OK;
	memset(rows, 0, DSTORE_AUDIT_ROWS_MAX * sizeof(*rows));
	*n = au->fill(found, rows, au->arg);
	if (*n == 0 || *n > DSTORE_AUDIT_ROWS_MAX) {
		*n = 0;
		return SA_ERR_NOMEM;
	}
	return SA_OK;
}

enum sa_err
dstore_enroll_put(struct dstore *ds, const struct enrollment *e,
		  struct enrollment *prev, int *had_prev)
{
	return dstore_enroll_put_mode(ds, e, ENROLL_PUT_REPLACE, prev,
				      had_prev);
}

enum sa_err
enroll_put_check(enum sa_err read, const struct enrollment *old,
		 const struct enrollment *e, enum enroll_put_mode mode,
		 int *had)
{
	*had = read == SA_OK;
	if (read != SA_OK)
		return read == SA_ERR_NOT_FOUND ? SA_OK : read;
	/* One authority can never move another's person to a new phone. */
	if (old->authority[0] != '\0' &&
	    strcmp(old->authority, e->authority) != 0)
		return SA_ERR_AUTHORITY_CONFLICT;
	if (mode == ENROLL_PUT_KEEP && old->revoked_at == 0 &&
	    old->public_key_pem != NULL && e->public_key_pem != NULL &&
	    strcmp(old->public_key_pem, e->public_key_pem) != 0)
		return SA_ERR_CONFLICT;
	return SA_OK;
}

void
enroll_put_prev(enum sa_err rc, int had, struct enrollment *old,
		struct enrollment *prev, int *had_prev)
{
	if ((rc == SA_OK || rc == SA_ERR_CONFLICT ||
	     rc == SA_ERR_AUTHORITY_CONFLICT) &&
	    had) {
		*prev = *old;
		*had_prev = 1;
	} else {
		enrollment_free(old);
		*had_prev = 0;
	}
}

/* seq_doc_ok bounds a trust document key. */
static int
seq_doc_ok(const char *doc)
{
	size_t n = doc != NULL ? strnlen(doc, 97) : 0;

	return n > 0 && n <= 96;
}

enum sa_err
dstore_seq_raise(struct dstore *ds, const char *doc, int64_t seq, int64_t now,
		 int64_t *highest)
{
	if (!seq_doc_ok(doc) || seq < 0)
		return SA_ERR_VALIDATION;
	return written(ds, ds->ops->seq_raise(ds, doc, seq, now, highest));
}

/* takeover_ok checks a takeover before it is written. */
static int
takeover_ok(const struct takeover *t)
{
	return t->id[0] != '\0' && enroll_token_ok(t->token_id) &&
	       t->enrollment != NULL &&
	       strlen(t->enrollment) <= ESTORE_VALUE_MAX;
}

enum sa_err
dstore_takeover_put_audited(struct dstore *ds, const struct takeover *t,
			    const struct dstore_audit *au)
{
	if (!takeover_ok(t))
		return SA_ERR_VALIDATION;
	return written(ds, ds->ops->takeover_put(ds, t, au));
}

enum sa_err
dstore_takeover_put(struct dstore *ds, const struct takeover *t)
{
	return dstore_takeover_put_audited(ds, t, NULL);
}

enum sa_err
dstore_takeover_get(struct dstore *ds, const char *token_id,
		    struct takeover *out)
{
	if (!enroll_token_ok(token_id))
		return SA_ERR_VALIDATION;
	return ds->ops->takeover_get(ds, token_id, out);
}

enum sa_err
dstore_takeover_take_audited(struct dstore *ds, const char *token_id,
			     const char *id, const struct dstore_audit *au,
			     struct takeover *out)
{
	if (!enroll_token_ok(token_id) || id == NULL || id[0] == '\0' ||
	    strlen(id) > TAKEOVER_ID_MAX)
		return SA_ERR_VALIDATION;
	return written(ds, ds->ops->takeover_take(ds, token_id, id, au, out));
}

enum sa_err
dstore_takeover_take(struct dstore *ds, const char *token_id, const char *id,
		     struct takeover *out)
{
	return dstore_takeover_take_audited(ds, token_id, id, NULL, out);
}

void
takeover_free(struct takeover *t)
{
	if (t == NULL)
		return;
	if (t->enrollment != NULL) {
		OPENSSL_cleanse(t->enrollment, strlen(t->enrollment));
		free(t->enrollment);
	}
	memset(t, 0, sizeof(*t));
}

enum sa_err
dstore_enroll_get(struct dstore *ds, const char *token_id,
		  struct enrollment *out)
{
	if (!enroll_token_ok(token_id))
		return SA_ERR_NOT_FOUND;
	return ds->ops->enroll_get(ds, token_id, out);
}

enum sa_err
dstore_enroll_revoke_audited(struct dstore *ds, const char *token_id,
			     int64_t when, const char *reason,
			     const struct dstore_audit *au)
{
	if (!enroll_token_ok(token_id))
		return SA_ERR_VALIDATION;
	return written(ds, ds->ops->enroll_revoke(ds, token_id, when,
						  reason ? reason : "", au));
}

enum sa_err
dstore_enroll_revoke(struct dstore *ds, const char *token_id, int64_t when,
		     const char *reason)
{
	return dstore_enroll_revoke_audited(ds, token_id, when, reason, NULL);
}

enum sa_err
dstore_enroll_revoke_fingerprint_audited(struct dstore *ds,
					 const char *fingerprint, int64_t when,
					 int *count,
					 const struct dstore_audit *au)
{
	int n = 0;
	enum sa_err rc;

	if (fingerprint == NULL || strlen(fingerprint) != 64)
		return SA_ERR_VALIDATION;
	rc = written(ds, ds->ops->enroll_revoke_fingerprint(ds, fingerprint,
							    when, &n, au));
	if (count != NULL)
		*count = rc == SA_OK ? n : 0;
	return rc;
}

enum sa_err
dstore_enroll_revoke_fingerprint(struct dstore *ds, const char *fingerprint,
				 int64_t when, int *count)
{
	return dstore_enroll_revoke_fingerprint_audited(ds, fingerprint, when,
							count, NULL);
}

enum sa_err
dstore_enroll_count(struct dstore *ds, int64_t *out)
{
	return ds->ops->enroll_count(ds, out);
}

enum sa_err
dstore_enroll_list(struct dstore *ds, const struct enroll_filter *f,
		   enroll_row_cb cb, void *arg)
{
	struct enroll_filter g = *f;

	/* Bound everything before a backend sees it. */
	if (g.limit < 1 || g.limit > ENROLL_LIST_MAX || g.status < ENROLL_ANY ||
	    g.status > ENROLL_EXPIRED || g.since < 0 || g.until < 0)
		return SA_ERR_VALIDATION;
	if (g.token_prefix == NULL)
		g.token_prefix = "";
	if (g.authority == NULL)
		g.authority = "";
	if (g.after_token == NULL)
		g.after_token = "";
	if (strlen(g.token_prefix) > ENROLL_TOKEN_MAX ||
	    strlen(g.authority) > ENROLL_AUTHORITY_MAX ||
	    strlen(g.after_token) > ENROLL_TOKEN_MAX)
		return SA_ERR_VALIDATION;
	return ds->ops->enroll_list(ds, &g, cb, arg);
}

/* service_row_ok bounds a record before any backend sees it. */
static int
service_row_ok(const struct service_row *r)
{
	const char *json[] = {r->scopes, r->origins, r->settings};
	size_t n = r->id ? strnlen(r->id, 65) : 0;

	if (n == 0 || n > 64 || r->name == NULL ||
	    strnlen(r->name, 257) > 256 || r->match_mode == NULL ||
	    strnlen(r->match_mode, 17) > 16)
		return 0;
	for (size_t i = 0; i < ARRAY_LEN(json); i++)
		if (json[i] == NULL ||
		    strnlen(json[i], SERVICE_ROW_JSON_MAX + 1) >
			SERVICE_ROW_JSON_MAX)
			return 0;
	return 1;
}

enum sa_err
dstore_services_version(struct dstore *ds, int64_t *out)
{
	return ds->ops->services_version(ds, out);
}

enum sa_err
dstore_services_read(struct dstore *ds, int64_t *version, service_row_cb cb,
		     void *arg)
{
	return ds->ops->services_read(ds, version, cb, arg);
}

enum sa_err
dstore_service_write(struct dstore *ds, const struct service_row *row,
		     enum dstore_write how)
{
	if (!service_row_ok(row) || how < DSTORE_CREATE || how > DSTORE_UPSERT)
		return SA_ERR_VALIDATION;
	return written(ds, ds->ops->service_write(ds, row, how));
}

enum sa_err
dstore_service_delete(struct dstore *ds, const char *id)
{
	size_t n = id ? strnlen(id, 65) : 0;

	if (n == 0 || n > 64)
		return SA_ERR_NOT_FOUND;
	return written(ds, ds->ops->service_delete(ds, id));
}

/* rec_text_ok bounds one string of a record; NULL passes when optional. */
static int
rec_text_ok(const char *s, size_t max, int optional)
{
	if (s == NULL)
		return optional;
	return strnlen(s, max + 1) <= max;
}

/* rec_member_ok checks the doc member a REC_DELETE_MATCH compares: a plain
 * name, so the backends can put it in a JSON path as it is. */
static int
rec_member_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++)
		if (n >= 64 || !((s[n] >= 'A' && s[n] <= 'Z') ||
				 (s[n] >= 'a' && s[n] <= 'z') ||
				 (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n > 0;
}

enum sa_err
dstore_rec_write(struct dstore *ds, const struct dstore_rec_op *ops, size_t n)
{
	if (n == 0 || n > 64)
		return SA_ERR_VALIDATION;
	for (size_t i = 0; i < n; i++) {
		const struct dstore_rec_op *o = &ops[i];
		int writes = o->op == REC_CREATE || o->op == REC_UPDATE;
		int keyed = writes || o->op == REC_DELETE;
		int match = o->op == REC_DELETE_MATCH;

		if (o->op < REC_CREATE || o->op > REC_DELETE_MATCH ||
		    o->kind == NULL || o->kind[0] == '\0' ||
		    !rec_text_ok(o->kind, REC_KIND_MAX, 0) ||
		    !rec_text_ok(o->id, REC_ID_MAX, !keyed) ||
		    (keyed && o->id[0] == '\0') ||
		    !rec_text_ok(o->owner, REC_ID_MAX, 1) ||
		    !rec_text_ok(o->doc, REC_DOC_MAX, !writes && !match) ||
		    (match && !rec_member_ok(o->member)))
			return SA_ERR_VALIDATION;
	}
	return written(ds, ds->ops->rec_write(ds, ops, n));
}

static int
rec_copy(const struct dstore_rec *r, void *arg)
{
	struct dstore_rec *out = arg;

	out->kind = strdup(r->kind);
	out->id = strdup(r->id);
	out->owner = strdup(r->owner);
	out->doc = strdup(r->doc);
	out->version = r->version;
	out->expires_at = r->expires_at;
	return 1;
}

void
dstore_rec_free(struct dstore_rec *r)
{
	if (r == NULL)
		return;
	free((char *)r->kind);
	free((char *)r->id);
	free((char *)r->owner);
	free((char *)r->doc);
	memset(r, 0, sizeof(*r));
}

enum sa_err
dstore_rec_get(struct dstore *ds, const char *kind, const char *id,
	       struct dstore_rec *out)
{
	struct dstore_rec r;
	enum sa_err rc;

	if (!rec_text_ok(kind, REC_KIND_MAX, 0) ||
	    !rec_text_ok(id, REC_ID_MAX, 0))
		return SA_ERR_NOT_FOUND;
	memset(&r, 0, sizeof(r));
	rc = ds->ops->rec_get(ds, kind, id, rec_copy, &r);
	if (rc == SA_OK && r.kind == NULL && r.id == NULL)
		rc = SA_ERR_NOT_FOUND;
	if (rc == SA_OK && (r.kind == NULL || r.id == NULL || r.owner == NULL ||
			    r.doc == NULL))
		rc = SA_ERR_NOMEM;
	if (rc != SA_OK) {
		dstore_rec_free(&r);
		return rc;
	}
	*out = r;
	return SA_OK;
}

enum sa_err
dstore_rec_list(struct dstore *ds, const char *kind, const char *owner,
		dstore_rec_cb cb, void *arg)
{
	if (!rec_text_ok(kind, REC_KIND_MAX, 0) ||
	    !rec_text_ok(owner, REC_ID_MAX, 1))
		return SA_ERR_VALIDATION;
	return ds->ops->rec_list(ds, kind, owner, cb, arg);
}

void
enrollment_free(struct enrollment *e)
{
	if (e == NULL)
		return;
	free(e->public_key_pem);
	free(e->fcm_token);
	free(e->push_endpoint);
	if (e->claims != NULL)
		OPENSSL_cleanse(e->claims, strlen(e->claims));
	free(e->claims);
	memset(e, 0, sizeof(*e));
}

/*
 * estore_open maps the URL to a backend: "mem:" or an empty URL is the
 * in-process store; redis:// is Redis (store_redis.c checks the rest of
 * the URL); rediss:// (TLS) is not built in.
 */
enum sa_err
estore_open(const char *url, struct estore **out)
{
	static const char *const later[] = {"rediss://"};

	if (url == NULL || url[0] == '\0' || str_has_prefix(url, "mem:"))
		return store_mem_ops.open(url == NULL ? "" : url, out);
	if (str_has_prefix(url, "redis://"))
		return store_redis_ops.open(url, out);
	if (store_scheme_later(url, later, ARRAY_LEN(later), "ephemeral"))
		return SA_ERR_CONFIG;
	log_error("store.backend", "unknown ephemeral store URL scheme");
	return SA_ERR_CONFIG;
}

void
estore_close(struct estore *es)
{
	if (es != NULL)
		es->ops->close(es);
}

const char *
estore_name(struct estore *es)
{
	return es->ops->name;
}

enum sa_err
estore_ping(struct estore *es)
{
	return es->ops->ping(es);
}

enum sa_err
estore_set(struct estore *es, const char *key, const void *val, size_t n,
	   uint64_t ttl_ms, int flags)
{
	return es->ops->set(es, key, val, n, ttl_ms, flags);
}

enum sa_err
estore_get(struct estore *es, const char *key, unsigned char **val, size_t *n,
	   int64_t *ttl_ms)
{
	return es->ops->get(es, key, val, n, ttl_ms);
}

/* key_ok tells whether key (or a channel or index name) is there and
 * within ESTORE_KEY_MAX. */
static int
key_ok(const char *key)
{
	size_t n = key ? strnlen(key, ESTORE_KEY_MAX + 1) : 0;

	return n > 0 && n <= ESTORE_KEY_MAX;
}

/* value_ok tells whether n bytes at val are a value the store takes. */
static int
value_ok(const void *val, size_t n)
{
	return n <= ESTORE_VALUE_MAX && (val != NULL || n == 0);
}

enum sa_err
estore_set_publish(struct estore *es, const char *key, const void *val,
		   size_t n, uint64_t ttl_ms, const char *channel,
		   const void *msg, size_t mn, enum sa_err *published)
{
	enum sa_err ignored;

	if (published == NULL)
		published = &ignored;
	*published = SA_ERR_VALIDATION;
	if (!key_ok(key) || !key_ok(channel) || !value_ok(val, n) ||
	    !value_ok(msg, mn))
		return SA_ERR_VALIDATION;
	return es->ops->set_publish(es, key, n > 0 ? val : "", n, ttl_ms,
				    channel, mn > 0 ? msg : "", mn, published);
}

enum sa_err
estore_get_many(struct estore *es, const char *const *keys, size_t n,
		struct estore_got *got)
{
	if (got != NULL && n <= ESTORE_GET_MAX)
		memset(got, 0, n * sizeof(*got));
	if (n == 0)
		return SA_OK;
	if (keys == NULL || got == NULL || n > ESTORE_GET_MAX)
		return SA_ERR_VALIDATION;
	return es->ops->get_many(es, keys, n, got);
}

enum sa_err
estore_del(struct estore *es, const char *key, int *existed)
{
	return es->ops->del(es, key, existed);
}

enum sa_err
estore_del_if(struct estore *es, const char *key, const void *val, size_t n,
	      int *deleted)
{
	if (deleted != NULL)
		*deleted = 0;
	if (!value_ok(val, n))
		return SA_ERR_VALIDATION;
	return es->ops->del_if(es, key, n > 0 ? val : "", n, deleted);
}

/* index_args_ok checks what every index operation names. */
static int
index_args_ok(const char *index, const char *member, int64_t expires)
{
	size_t n = member ? strnlen(member, ESTORE_MEMBER_MAX + 1) : 0;

	if (!key_ok(index) || n == 0 || n > ESTORE_MEMBER_MAX || expires < 1 ||
	    expires > ESTORE_EXPIRY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (member[i] <= ' ' || member[i] > '~')
			return 0;
	return 1;
}

/* rm_item_ok checks one item of estore_remove the way the operation it
 * stands for checks its arguments. */
static int
rm_item_ok(const struct estore_rm *it)
{
	switch (it->kind) {
	case ESTORE_RM_KEY:
		return key_ok(it->key);
	case ESTORE_RM_KEY_IF:
		return key_ok(it->key) && value_ok(it->val, it->n);
	case ESTORE_RM_INDEX:
		return index_args_ok(it->key, it->member, it->expires);
	}
	return 0;
}

/* rm_items_ok checks a removal batch and copies it to copy, an empty
 * compared value made "" for the backends. */
static int
rm_items_ok(const struct estore_rm *items, size_t n,
	    struct estore_rm copy[ESTORE_RM_MAX])
{
	if ((items == NULL && n > 0) || n > ESTORE_RM_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!rm_item_ok(&items[i]))
			return 0;
		copy[i] = items[i];
		if (copy[i].kind == ESTORE_RM_KEY_IF && copy[i].n == 0)
			copy[i].val = "";
	}
	return 1;
}

enum sa_err
estore_remove(struct estore *es, const struct estore_rm *items, size_t n)
{
	struct estore_rm copy[ESTORE_RM_MAX];

	if (n == 0)
		return SA_OK;
	if (!rm_items_ok(items, n, copy))
		return SA_ERR_VALIDATION;
	return es->ops->remove(es, copy, n);
}

enum sa_err
estore_set_remove(struct estore *es, const char *key, const void *val, size_t n,
		  uint64_t ttl_ms, int flags, const struct estore_rm *items,
		  size_t nitems)
{
	struct estore_rm copy[ESTORE_RM_MAX];

	if (!key_ok(key) || !value_ok(val, n) || (flags & ~ESTORE_NX) != 0 ||
	    !rm_items_ok(items, nitems, copy))
		return SA_ERR_VALIDATION;
	return es->ops->set_remove(es, key, n > 0 ? val : "", n, ttl_ms, flags,
				   copy, nitems);
}

enum sa_err
estore_index_add(struct estore *es, const char *index, const char *member,
		 int64_t expires, int64_t now)
{
	if (!index_args_ok(index, member, expires) || now < 0 ||
	    now > ESTORE_EXPIRY_MAX)
		return SA_ERR_VALIDATION;
	return es->ops->index_add(es, index, member, expires, now);
}

enum sa_err
estore_index_del(struct estore *es, const char *index, const char *member,
		 int64_t expires)
{
	if (!index_args_ok(index, member, expires))
		return SA_ERR_VALIDATION;
	return es->ops->index_del(es, index, member, expires);
}

enum sa_err
estore_set_listed(struct estore *es, const char *key, const void *val, size_t n,
		  uint64_t ttl_ms, const char *index, const char *member,
		  int64_t expires, int64_t now)
{
	if (!index_args_ok(index, member, expires) || now < 0 ||
	    now > ESTORE_EXPIRY_MAX || !value_ok(val, n))
		return SA_ERR_VALIDATION;
	return es->ops->set_listed(es, key, n > 0 ? val : "", n, ttl_ms, index,
				   member, expires, now);
}

enum sa_err
estore_index_page(struct estore *es, const char *index, int64_t now,
		  int64_t after_expires, const char *after, int limit,
		  estore_index_cb cb, void *arg)
{
	if (after != NULL && after[0] == '\0')
		after = NULL;
	if (!index_args_ok(index, "x", 1) || now < 0 ||
	    now > ESTORE_EXPIRY_MAX || limit < 1 || limit > ESTORE_PAGE_MAX ||
	    cb == NULL ||
	    (after != NULL && !index_args_ok(index, after, after_expires)))
		return SA_ERR_VALIDATION;
	return es->ops->index_page(es, index, now, after_expires, after, limit,
				   cb, arg);
}

enum sa_err
estore_incr(struct estore *es, const char *key, uint64_t window_ms,
	    int64_t *count, int64_t *ttl_ms)
{
	return es->ops->incr(es, key, window_ms, count, ttl_ms);
}

enum sa_err
estore_publish(struct estore *es, const char *channel, const void *msg,
	       size_t n)
{
	return es->ops->publish(es, channel, msg, n);
}

enum sa_err
estore_subscribe(struct estore *es, const char *channel, estore_msg_cb cb,
		 void *arg)
{
	return es->ops->subscribe(es, channel, cb, arg);
}

enum sa_err
estore_set_json(struct estore *es, const char *key, const json_t *val,
		size_t max, uint64_t ttl_ms, int flags)
{
	char *text = val ? json_out(val, 0, NULL) : NULL;
	enum sa_err rc;

	if (text == NULL)
		return SA_ERR_NOMEM;
	rc = strlen(text) > max
		 ? SA_ERR_BODY_TOO_LARGE
		 : estore_set(es, key, text, strlen(text), ttl_ms, flags);
	free(text);
	return rc;
}

enum sa_err
estore_get_json(struct estore *es, const char *key, json_t **out)
{
	unsigned char *val = NULL;
	size_t n = 0;
	json_t *rec;
	enum sa_err rc;

	if ((rc = estore_get(es, key, &val, &n, NULL)) != SA_OK)
		return rc;
	rec = json_loadb((const char *)val, n, JSON_REJECT_DUPLICATES, NULL);
	free(val);
	if (!json_is_object(rec)) {
		json_decref(rec);
		return SA_ERR_INTERNAL;
	}
	*out = rec;
	return SA_OK;
}

size_t
estore_count(struct estore *es)
{
	return es->ops->count(es);
}

enum sa_err
estore_footprint(struct estore *es, size_t *entries, size_t *bytes)
{
	*entries = *bytes = 0;
	if (es->ops->footprint == NULL)
		return SA_ERR_NOT_FOUND;
	return es->ops->footprint(es, entries, bytes);
}

enum sa_err
estore_attach_loop(struct estore *es, struct event_base *base)
{
	if (es->ops->attach_loop == NULL)
		return SA_OK;
	return es->ops->attach_loop(es, base);
}

void
estore_detach_loop(struct estore *es)
{
	if (es != NULL && es->ops->detach_loop != NULL)
		es->ops->detach_loop(es);
}
