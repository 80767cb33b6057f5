/*
 * store_contract.h - the storage contracts: one suite per storage interface
 * (store/store.h), run by the test of every backend against it, so every
 * backend is held to the same behaviour. A backend's own test file adds
 * only what is particular to it (its URL rules, what its tables hold, how
 * it survives its server going away). A new backend calls every contract
 * function of its interface.
 *
 * Durable contracts take the URL of an empty store and open it themselves
 * (twice where a reopen must keep data); ephemeral ones take an open, empty
 * store. Each fails the running cmocka test on the first broken promise.
 */
#ifndef SEALAUTH_STORE_CONTRACT_H
#define SEALAUTH_STORE_CONTRACT_H

#include <pthread.h>
#include <stdint.h>

#include "store/store.h"
#include "support.h"

/* ---- Durable store (SQLite, PostgreSQL) ---- */

/* Metadata: missing keys, overwrite, reopen, quotes as data, the value
 * bound (exactly at it is fine, one over is refused), empty keys. */
void dstore_contract_meta(const char *url);
/* The audit chain: seq and hashes filled in, the chain continued across a
 * reopen, iteration with a start and a limit, audit_verify agreeing. */
void dstore_contract_audit(const char *url);
/* A batch with a bad row writes nothing and takes no place in the chain. */
void dstore_contract_failed_append(const char *url);
/* Enrollments: put, replace handing back the old binding, revoke for good,
 * revoke by seal fingerprint, bounds, reopen. */
void dstore_contract_enrollments(const char *url);
/*
 * The durable contracts that need nothing of the backend, as cmocka tests
 * for its table (DSTORE_CONTRACT_TESTS). The state each gets from the
 * backend's setup is its fixture, whose first member is the URL of an empty
 * store (char url[...]).
 *
 * dstore_test_failed_append: dstore_contract_failed_append.
 * dstore_test_admin: the relying-party rows (create, update, upsert,
 * version, order, delete), then the registry and the administration records
 * over two stores on one database (two servers): versioned updates, guards,
 * rollback, two servers racing for the last two passkeys of an admin
 * (exactly one wins), guards naming one record, the sessions of a
 * passkey deleted with it by the doc member they carry (REC_DELETE_MATCH,
 * with the count), and two servers racing to remove the last two admins
 * under a guard over every owner (exactly one wins).
 * dstore_test_trust: issuing authorities (a token id bound by one authority
 * is never rebound by another; ENROLL_PUT_KEEP refuses a new device key and
 * accepts the same), trust document sequence numbers that only go up, and
 * one pending takeover per token id that exactly one taker gets, and the
 * admin API's pages of enrollments (order, filters, cursor).
 */
void dstore_test_failed_append(void **state);
void dstore_test_admin(void **state);
void dstore_test_trust(void **state);
/*
 * dstore_test_audited (store_audited.c): enrollments, takeovers and
 * revocations written with their audit rows (struct dstore_audit). A row
 * the audit table refuses, or a fill that makes none, leaves neither the
 * change nor any row; a success leaves both, chained; a refused change
 * asks for no rows; a completion removes its takeover exactly once.
 */
void dstore_test_audited(void **state);
#define DSTORE_CONTRACT_TESTS(setup, teardown)                                 \
	cmocka_unit_test_setup_teardown(dstore_test_failed_append, setup,      \
					teardown),                             \
	    cmocka_unit_test_setup_teardown(dstore_test_admin, setup,          \
					    teardown),                         \
	    cmocka_unit_test_setup_teardown(dstore_test_trust, setup,          \
					    teardown),                         \
	    cmocka_unit_test_setup_teardown(dstore_test_audited, setup,        \
					    teardown)

/* Helpers for a backend's own audit and enrollment tests. */
struct audit_row mkrow(const char *event, const char *detail);
struct collect {
	int n;
	int64_t seq[16];
	char event[16][32];
	char detail[16][32];
	unsigned char prev[16][32], hash[16][32];
};
int collect_cb(const struct audit_row *row, void *arg);
/* assert_intact runs audit_verify and expects rows intact rows. */
void assert_intact(struct dstore *ds, int64_t rows);
void fill_enrollment(struct enrollment *e, const char *tok, const char *dev,
		     const char *fp);
#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* ---- Ephemeral store (in-process, Redis) ---- */

/* Values with and without a TTL, binary and empty values, expiry. */
void estore_contract_ttl(struct estore *es);
/* ESTORE_NX and ESTORE_XX, both refused together, NX after expiry. */
void estore_contract_nx_xx(struct estore *es);
/* The fixed-window counter: not extended by later hits, reopened after the
 * window, no window, non-counters refused. */
void estore_contract_incr(struct estore *es);
/* Two threads delete the same key rounds times, with estore_del and then
 * with estore_del_if: exactly one wins each. */
void estore_contract_del_race(struct estore *es, int rounds);
/* Compare and delete: only the exact bytes (binary, empty) delete, absent
 * and expired keys delete nothing, bad arguments are refused. */
void estore_contract_del_if(struct estore *es);
/* estore_remove: keys, exact-bytes compares and index entries in one batch,
 * absent ones no failure, one bad item refusing the batch untouched. */
void estore_contract_remove(struct estore *es);
void estore_contract_set_remove(struct estore *es);
/* estore_get_many: values, absent keys, TTLs, binary and empty values as
 * estore_get gives them; too many or bad keys refused with nothing out. */
void estore_contract_get_many(struct estore *es);
/* estore_set_listed: stored and listed; a conflict changes nothing; an
 * expiry already past lists nothing; bad arguments refused. */
void estore_contract_set_listed(struct estore *es);
/* estore_set_publish: a subscriber that reads the key on hearing the
 * message finds the new value; bad arguments change and send nothing. */
void estore_contract_set_publish(struct estore *es);
/* Expiring indexes: order, cursors (also past a deleted entry), expiry
 * that removes for good, separate indexes, argument checks, and the bound
 * (ESTORE_INDEX_MAX entries, the soonest expiring dropped beyond it). */
void estore_contract_index(struct estore *es);
/* Key and value bounds, checked before the backend sees anything. */
void estore_contract_bounds(struct estore *es);
/* Two subscribers of a channel get each message, in order; others none. */
void estore_contract_pubsub(struct estore *es);
/* Eight threads set, get, count and delete ops times each at once;
 * nothing is lost. */
void estore_contract_concurrency(struct estore *es, int ops);

/* A subscriber's inbox, for a backend's own publish/subscribe tests. */
struct inbox {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	char last[64];
	char channel[32];
	pthread_t thread;
};
void inbox_init(struct inbox *in);
void inbox_destroy(struct inbox *in);
void on_msg(const char *channel, const void *msg, size_t n, void *arg);
int inbox_wait(struct inbox *in, int n, unsigned ms);

/*
 * store_backend_missing reports that a backend's server program is not
 * installed and returns the exit status for it: 77, which ctest reports as
 * skipped, or 1 when SEALAUTH_BACKENDS_REQUIRED is set (scripts/test), so
 * CI fails instead of skipping.
 */
int store_backend_missing(const char *test, const char *why);

#endif
