/*
 * store_audited.c - the durable contract for changes that commit with
 * their audit rows (struct dstore_audit in store/store.h): a failure
 * injected between the change and its rows (a row the audit table
 * refuses, or a fill that cannot make its rows) leaves neither, and a
 * success leaves both, chained.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_contract.h"

/* What the test's fill callback makes and what it was told. */
struct fill_ctx {
	const char *event; /* NULL: a row the audit table refuses */
	int empty;	   /* make no rows at all (fill fails) */
	int calls;
	char prev_device[ENROLL_DEVICE_MAX + 1];
	int64_t count;
	struct dstore_audit au; /* fill_rows over this context */
};

static size_t
fill_rows(const struct dstore_found *found, struct audit_row *rows, void *arg)
{
	struct fill_ctx *c = arg;

	c->calls++;
	snprintf(c->prev_device, sizeof(c->prev_device), "%s",
		 found->prev != NULL ? found->prev->device_id : "");
	c->count = found->count;
	if (c->empty)
		return 0;
	rows[0] = mkrow("x.before", "{}");
	rows[1] = mkrow(c->event, "{\"k\":2}");
	return 2;
}

/* fill_set readies c for the next write: event NULL injects a failure. */
static void
fill_set(struct fill_ctx *c, const char *event, int empty)
{
	memset(c, 0, sizeof(*c));
	c->event = event;
	c->empty = empty;
	c->au.fill = fill_rows;
	c->au.arg = c;
}

static int64_t
audit_rows_now(struct dstore *ds)
{
	int64_t n = -1;

	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	return n;
}

/* last_event reads the event of the last row in the log. */
static void
assert_last_event(struct dstore *ds, const char *event)
{
	struct collect c;
	int64_t n = audit_rows_now(ds);

	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_audit_iter(ds, n, 1, collect_cb, &c), SA_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.event[0], event);
}

static void
assert_device(struct dstore *ds, const char *tok, const char *device)
{
	struct enrollment got;

	assert_int_equal(dstore_enroll_get(ds, tok, &got), SA_OK);
	assert_string_equal(got.device_id, device);
	enrollment_free(&got);
}

/* Enrollments: new, refused rows, a replacement, a refused fill. */
static void
audited_enrollments(struct dstore *ds)
{
	const struct dstore_audit none = {NULL, NULL};
	struct fill_ctx c;
	struct enrollment e, got;
	int had = -1;

	/* The audit row is refused: the enrollment is not stored. */
	fill_enrollment(&e, "AUD-1", "dev-a", FP_A);
	fill_set(&c, NULL, 0);
	assert_int_not_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_KEEP, NULL,
						 &c.au, NULL, &had),
			     SA_OK);
	assert_int_equal(c.calls, 1);
	assert_int_equal(had, 0);
	assert_int_equal(dstore_enroll_get(ds, "AUD-1", &got),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(audit_rows_now(ds), 0);

	/* A fill that cannot make its rows fails the enrollment too. */
	fill_set(&c, "enroll.ok", 1);
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_KEEP, NULL,
					     &c.au, NULL, NULL),
			 SA_ERR_NOMEM);
	assert_int_equal(dstore_enroll_get(ds, "AUD-1", &got),
			 SA_ERR_NOT_FOUND);

	/* Both, chained: the store is usable after the failures. */
	fill_set(&c, "enroll.ok", 0);
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_KEEP, NULL,
					     &c.au, NULL, &had),
			 SA_OK);
	assert_int_equal(had, 0);
	assert_string_equal(c.prev_device, "");
	assert_device(ds, "AUD-1", "dev-a");
	assert_int_equal(audit_rows_now(ds), 2);
	assert_last_event(ds, "enroll.ok");
	enrollment_free(&e);

	/* A replacement is told the binding it replaces; refused rows keep
	 * the old binding. */
	fill_enrollment(&e, "AUD-1", "dev-b", FP_A);
	fill_set(&c, NULL, 0);
	assert_int_not_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_REPLACE,
						 NULL, &c.au, NULL, NULL),
			     SA_OK);
	assert_string_equal(c.prev_device, "dev-a");
	assert_device(ds, "AUD-1", "dev-a");
	assert_int_equal(audit_rows_now(ds), 2);
	fill_set(&c, "enroll.replaced", 0);
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_REPLACE, NULL,
					     &c.au, NULL, &had),
			 SA_OK);
	assert_int_equal(had, 1);
	assert_device(ds, "AUD-1", "dev-b");
	assert_last_event(ds, "enroll.replaced");
	/* A refused change asks for no rows at all. */
	fill_set(&c, "enroll.ok", 0);
	free(e.public_key_pem);
	e.public_key_pem = strdup("another key");
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_KEEP, NULL,
					     &c.au, NULL, NULL),
			 SA_ERR_CONFLICT);
	assert_int_equal(c.calls, 0);
	/* No fill: no rows. */
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_REPLACE, NULL,
					     &none, NULL, NULL),
			 SA_OK);
	assert_int_equal(audit_rows_now(ds), 4);
	enrollment_free(&e);
	assert_intact(ds, 4);
}

static void
make_takeover(struct takeover *t, const char *tok, int n)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%032d", n);
	snprintf(t->token_id, sizeof(t->token_id), "%s", tok);
	t->enrollment = strdup("{}");
	t->created_at = 100;
	t->effective_at = 200;
}

static void
assert_pending(struct dstore *ds, const char *tok, const char *id)
{
	struct takeover got;

	if (id == NULL) {
		assert_int_equal(dstore_takeover_get(ds, tok, &got),
				 SA_ERR_NOT_FOUND);
		return;
	}
	assert_int_equal(dstore_takeover_get(ds, tok, &got), SA_OK);
	assert_string_equal(got.id, id);
	takeover_free(&got);
}

/* Takeovers: pending, cancelled and completed only with their rows. */
static void
audited_takeovers(struct dstore *ds, int64_t rows)
{
	struct fill_ctx c;
	struct takeover t, got;
	struct enrollment e;

	make_takeover(&t, "AUD-2", 1);
	fill_set(&c, NULL, 0);
	assert_int_not_equal(dstore_takeover_put_audited(ds, &t, &c.au), SA_OK);
	assert_pending(ds, "AUD-2", NULL);
	fill_set(&c, "enroll.takeover_pending", 0);
	assert_int_equal(dstore_takeover_put_audited(ds, &t, &c.au), SA_OK);
	assert_pending(ds, "AUD-2", t.id);
	rows += 2;

	/* A cancellation whose row is refused leaves it pending. */
	memset(&got, 0, sizeof(got));
	fill_set(&c, NULL, 0);
	assert_int_not_equal(
	    dstore_takeover_take_audited(ds, "AUD-2", t.id, &c.au, &got),
	    SA_OK);
	assert_null(got.enrollment);
	assert_pending(ds, "AUD-2", t.id);

	/* A completion: refused rows keep both the takeover and the old
	 * binding; a wrong id completes nothing; the right one both. */
	fill_enrollment(&e, "AUD-2", "dev-old", FP_B);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	fill_enrollment(&e, "AUD-2", "dev-new", FP_B);
	fill_set(&c, NULL, 0);
	assert_int_not_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_REPLACE,
						 t.id, &c.au, NULL, NULL),
			     SA_OK);
	assert_pending(ds, "AUD-2", t.id);
	assert_device(ds, "AUD-2", "dev-old");
	fill_set(&c, "enroll.takeover_approved", 0);
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_REPLACE,
					     "00000000000000000000000000000009",
					     &c.au, NULL, NULL),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(c.calls, 0);
	assert_device(ds, "AUD-2", "dev-old");
	assert_int_equal(audit_rows_now(ds), rows);
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_REPLACE, t.id,
					     &c.au, NULL, NULL),
			 SA_OK);
	assert_string_equal(c.prev_device, "dev-old");
	assert_device(ds, "AUD-2", "dev-new");
	assert_pending(ds, "AUD-2", NULL);
	assert_last_event(ds, "enroll.takeover_approved");
	rows += 2;
	/* Exactly once: the second completion finds it gone. */
	fill_set(&c, "enroll.takeover_approved", 0);
	assert_int_equal(dstore_enroll_write(ds, &e, ENROLL_PUT_REPLACE, t.id,
					     &c.au, NULL, NULL),
			 SA_ERR_NOT_FOUND);
	enrollment_free(&e);

	/* A cancellation with its row. */
	make_takeover(&got, "AUD-2", 2);
	assert_int_equal(dstore_takeover_put(ds, &got), SA_OK);
	takeover_free(&got);
	fill_set(&c, "enroll.takeover_cancelled", 0);
	assert_int_equal(
	    dstore_takeover_take_audited(
		ds, "AUD-2", "00000000000000000000000000000002", &c.au, &got),
	    SA_OK);
	assert_string_equal(got.id, "00000000000000000000000000000002");
	takeover_free(&got);
	assert_pending(ds, "AUD-2", NULL);
	assert_last_event(ds, "enroll.takeover_cancelled");
	rows += 2;
	assert_int_equal(audit_rows_now(ds), rows);
	takeover_free(&t);
}

/* Revocations: marked only with their rows, told how many. */
static void
audited_revocations(struct dstore *ds, int64_t rows)
{
	struct fill_ctx c;
	struct enrollment e, got;
	int count = -1;

	fill_enrollment(&e, "AUD-3", "dev-a", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	fill_set(&c, NULL, 0);
	assert_int_not_equal(
	    dstore_enroll_revoke_audited(ds, "AUD-3", 1700000100, "t", &c.au),
	    SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "AUD-3", &got), SA_OK);
	assert_int_equal(got.revoked_at, 0);
	enrollment_free(&got);
	/* Not on the revoked list either: it can still be enrolled. */
	fill_enrollment(&e, "AUD-3", "dev-a", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);

	/* By fingerprint: AUD-1 and AUD-3 were enrolled with FP_A. */
	fill_set(&c, NULL, 0);
	assert_int_not_equal(dstore_enroll_revoke_fingerprint_audited(
				 ds, FP_A, 1700000200, &count, &c.au),
			     SA_OK);
	assert_int_equal(count, 0);
	assert_int_equal(dstore_enroll_get(ds, "AUD-1", &got), SA_OK);
	assert_int_equal(got.revoked_at, 0);
	enrollment_free(&got);
	assert_int_equal(audit_rows_now(ds), rows);

	fill_set(&c, "enroll.revoked", 0);
	assert_int_equal(
	    dstore_enroll_revoke_audited(ds, "AUD-3", 1700000300, "t", &c.au),
	    SA_OK);
	assert_int_equal(c.count, 1);
	assert_last_event(ds, "enroll.revoked");
	fill_set(&c, "enroll.revoked", 0);
	assert_int_equal(dstore_enroll_revoke_fingerprint_audited(
			     ds, FP_A, 1700000400, &count, &c.au),
			 SA_OK);
	assert_int_equal(count, 1); /* AUD-1; AUD-3 was revoked already */
	assert_int_equal(c.count, 1);
	/* Nothing to revoke: no rows asked for, none written. */
	fill_set(&c, "enroll.revoked", 0);
	assert_int_equal(dstore_enroll_revoke_fingerprint_audited(
			     ds, FP_A, 1700000500, &count, &c.au),
			 SA_OK);
	assert_int_equal(count, 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(dstore_enroll_get(ds, "AUD-1", &got), SA_OK);
	assert_int_equal(got.revoked_at, 1700000400);
	enrollment_free(&got);
	assert_intact(ds, rows + 4);
}

void
dstore_test_audited(void **state)
{
	struct dstore *ds = NULL;

	assert_int_equal(dstore_open(*state, &ds), SA_OK);
	audited_enrollments(ds);
	audited_takeovers(ds, 4);
	audited_revocations(ds, 10);
	dstore_close(ds);
}
