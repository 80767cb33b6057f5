/*
 * test_enroll_cache.c - the enrollment cache: hits, expiry, invalidation,
 * and the ticket that keeps a racing read from restoring an old row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/enroll_cache.h"
#include "store/store.h"

static void
make(struct enrollment *e, const char *token, int64_t revoked_at)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->token_id, sizeof(e->token_id), "%s", token);
	snprintf(e->device_id, sizeof(e->device_id), "dev-1");
	e->public_key_pem = strdup("-----BEGIN PUBLIC KEY-----");
	e->fcm_token = strdup("fcm");
	e->claims = strdup("{\"name\":\"Erika\"}");
	e->revoked_at = revoked_at;
}

static struct enroll_cache *
enroll_cache_new(size_t slots, uint64_t ttl_ms)
{
	struct enroll_cache *c = NULL;

	if (enroll_cache_open(NULL, slots, ttl_ms, &c) != SA_OK)
		return NULL;
	return c;
}

static void
test_hit_copy_and_miss(void **state)
{
	struct enroll_cache *c = enroll_cache_new(64, 60000);
	struct enroll_cache_ticket t;
	struct enrollment e, out;

	(void)state;
	assert_non_null(c);
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t), 0);
	make(&e, "DE-1", 0);
	enroll_cache_put(c, &e, &t);
	enrollment_free(&e);
	/* A deep copy: the caller frees it and the entry stays. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t), 1);
		assert_string_equal(out.token_id, "DE-1");
		assert_string_equal(out.claims, "{\"name\":\"Erika\"}");
		assert_string_equal(out.fcm_token, "fcm");
		assert_null(out.push_endpoint);
		enrollment_free(&out);
	}
	assert_int_equal(enroll_cache_get(c, "DE-2", &out, &t), 0);
	enroll_cache_free(c);
	/* Only powers of two. */
	assert_null(enroll_cache_new(100, 1000));
	assert_null(enroll_cache_new(0, 1000));
}

/*
 * A revocation that commits while a read of the old row is in flight: the
 * reader took its ticket before, the store forgets the token after its
 * commit, and the reader's late put is refused.
 */
static void
test_forget_beats_a_racing_read(void **state)
{
	struct enroll_cache *c = enroll_cache_new(64, 60000);
	struct enroll_cache_ticket t, t2;
	struct enrollment old, fresh, out;

	(void)state;
	make(&old, "DE-1", 0);
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t), 0);
	/* ... the reader reads "old" from the database here ... */
	enroll_cache_forget(c, "DE-1"); /* the revocation committed */
	enroll_cache_put(c, &old, &t);
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t2), 0);
	/* The next read sees the revoked row and may keep it. */
	make(&fresh, "DE-1", 1700000000);
	enroll_cache_put(c, &fresh, &t2);
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t), 1);
	assert_int_equal(out.revoked_at, 1700000000);
	enrollment_free(&out);
	/* Forgetting a cached entry drops it at once. */
	enroll_cache_forget(c, "DE-1");
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t), 0);
	enrollment_free(&old);
	enrollment_free(&fresh);
	enroll_cache_free(c);
}

/* clear invalidates every entry and every ticket taken before it. */
static void
test_clear(void **state)
{
	struct enroll_cache *c = enroll_cache_new(64, 60000);
	struct enroll_cache_ticket t1, t2, t3;
	struct enrollment a, b, out;

	(void)state;
	make(&a, "DE-A", 0);
	make(&b, "DE-B", 0);
	assert_int_equal(enroll_cache_get(c, "DE-A", &out, &t1), 0);
	enroll_cache_put(c, &a, &t1);
	assert_int_equal(enroll_cache_get(c, "DE-B", &out, &t2), 0);
	enroll_cache_clear(c);
	enroll_cache_put(c, &b, &t2); /* taken before the clear: refused */
	assert_int_equal(enroll_cache_get(c, "DE-A", &out, &t3), 0);
	assert_int_equal(enroll_cache_get(c, "DE-B", &out, &t3), 0);
	enroll_cache_put(c, &b, &t3);
	assert_int_equal(enroll_cache_get(c, "DE-B", &out, &t3), 1);
	enrollment_free(&out);
	enrollment_free(&a);
	enrollment_free(&b);
	enroll_cache_free(c);
}

/* Entries expire: identity claims do not stay in memory for long. */
static void
test_expiry(void **state)
{
	struct enroll_cache *c = enroll_cache_new(64, 20);
	struct enroll_cache_ticket t;
	struct enrollment e, out;

	(void)state;
	make(&e, "DE-1", 0);
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t), 0);
	enroll_cache_put(c, &e, &t);
	usleep(60 * 1000);
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t), 0);
	enrollment_free(&e);
	enroll_cache_free(c);
}

/*
 * "No takeover pending" is kept on the token id's entry: not before the
 * entry exists, not when a takeover was stored while the lookup read the
 * database (its store forgets the token id), and never past the entry.
 */
static void
test_no_takeover(void **state)
{
	struct enroll_cache *c = enroll_cache_new(64, 60000);
	struct enroll_cache_ticket t, t2;
	struct enrollment e, out;

	(void)state;
	make(&e, "DE-1", 0);
	/* Without an entry there is nothing to note it on. */
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 0);
	enroll_cache_note_no_takeover(c, "DE-1", &t);
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 0);
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t2), 0);
	enroll_cache_put(c, &e, &t2);
	/* An entry alone does not say that no takeover is pending. */
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 0);
	enroll_cache_note_no_takeover(c, "DE-1", &t);
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 1);
	assert_int_equal(enroll_cache_no_takeover(c, "DE-2", &t), 0);
	/* A takeover stored: the store forgets the token id. */
	enroll_cache_forget(c, "DE-1");
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 0);
	/* A lookup racing with a takeover's commit cannot note "none". */
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t2), 0);
	enroll_cache_put(c, &e, &t2);
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 0);
	enroll_cache_forget(c, "DE-1"); /* the takeover committed */
	assert_int_equal(enroll_cache_get(c, "DE-1", &out, &t2), 0);
	enroll_cache_put(c, &e, &t2);
	enroll_cache_note_no_takeover(c, "DE-1", &t);
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 0);
	/* A fresh entry replacing the old one starts without the fact. */
	enroll_cache_note_no_takeover(c, "DE-1", &t);
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 1);
	enroll_cache_put(c, &e, &t);
	assert_int_equal(enroll_cache_no_takeover(c, "DE-1", &t), 0);
	enrollment_free(&e);
	enroll_cache_free(c);
}

/* Two token ids in one slot: the later one replaces the earlier. */
static void
test_collision(void **state)
{
	struct enroll_cache *c = enroll_cache_new(1, 60000);
	struct enroll_cache_ticket t;
	struct enrollment a, b, out;

	(void)state;
	make(&a, "DE-A", 0);
	make(&b, "DE-B", 0);
	assert_int_equal(enroll_cache_get(c, "DE-A", &out, &t), 0);
	enroll_cache_put(c, &a, &t);
	assert_int_equal(enroll_cache_get(c, "DE-B", &out, &t), 0);
	enroll_cache_put(c, &b, &t);
	assert_int_equal(enroll_cache_get(c, "DE-A", &out, &t), 0);
	assert_int_equal(enroll_cache_get(c, "DE-B", &out, &t), 1);
	assert_string_equal(out.token_id, "DE-B");
	enrollment_free(&out);
	enrollment_free(&a);
	enrollment_free(&b);
	enroll_cache_free(c);
}

/*
 * Two caches over one version file stand for two server processes on one
 * SQLite database: a write through one invalidates the other's entry.
 */
static void
test_shared_versions(void **state)
{
	char path[] = "/tmp/test_enroll_cache_XXXXXX";
	int fd = mkstemp(path);
	struct enroll_cache *a = NULL, *b = NULL;
	struct enroll_cache_ticket t;
	struct enrollment e, out;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(enroll_cache_open(path, 64, 60000, &a), SA_OK);
	assert_int_equal(enroll_cache_open(path, 64, 60000, &b), SA_OK);
	make(&e, "DE-1", 0);
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 0);
	enroll_cache_put(a, &e, &t);
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 1);
	enrollment_free(&out);
	enroll_cache_forget(b, "DE-1"); /* the other process revoked it */
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 0);
	enroll_cache_put(a, &e, &t);
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 1);
	enrollment_free(&out);
	enroll_cache_clear(b); /* a revoked seal, rows unknown */
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 0);
	/* A third opener of the same layout keeps the versions. */
	enroll_cache_put(a, &e, &t);
	enroll_cache_free(b);
	assert_int_equal(enroll_cache_open(path, 64, 60000, &b), SA_OK);
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 1);
	enrollment_free(&out);
	/* A cache of another layout keeps nothing, and its writes still
	 * reach the others through the generation. */
	enroll_cache_free(b);
	assert_int_equal(enroll_cache_open(path, 128, 60000, &b), SA_OK);
	assert_int_equal(enroll_cache_get(b, "DE-1", &out, &t), 0);
	enroll_cache_put(b, &e, &t);
	assert_int_equal(enroll_cache_get(b, "DE-1", &out, &t), 0);
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 1);
	enrollment_free(&out);
	enroll_cache_forget(b, "DE-2");
	enroll_cache_free(b);
	assert_int_equal(enroll_cache_get(a, "DE-1", &out, &t), 0);
	enrollment_free(&e);
	enroll_cache_free(a);
	unlink(path);
}

/*
 * On a full file system the version file cannot be made: opening the cache
 * answers SA_ERR_DISK_FULL. A sparse file mapped shared would instead raise
 * SIGBUS at its first write and end the process. Needs a small tmpfs, so
 * root; SEALAUTH_ROOT_TESTS_REQUIRED=1 (scripts/test) makes its absence a
 * failure.
 */
static void
test_full_disk_is_an_error(void **state)
{
	char dir[] = "/tmp/test_enroll_cache_full_XXXXXX", path[96], filler[96];
	static const char block[4096];
	struct enroll_cache *c = NULL;
	const char *req = getenv("SEALAUTH_ROOT_TESTS_REQUIRED");
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
		rmdir(dir);
		fprintf(stderr,
			"test_full_disk_is_an_error: SKIPPED: cannot mount a "
			"tmpfs (needs root)\n");
		if (req != NULL && strcmp(req, "1") == 0)
			fail_msg("SEALAUTH_ROOT_TESTS_REQUIRED=1 and no tmpfs");
		skip();
	}
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	while (write(fd, block, sizeof(block)) > 0)
		;
	close(fd);
	snprintf(path, sizeof(path), "%s/DB-cache", dir);
	assert_int_equal(enroll_cache_open(path, 1024, 60000, &c),
			 SA_ERR_DISK_FULL);
	assert_null(c);
	/* Space back: the same file opens and works. */
	unlink(filler);
	assert_int_equal(enroll_cache_open(path, 1024, 60000, &c), SA_OK);
	enroll_cache_forget(c, "DE-1");
	enroll_cache_free(c);
	umount(dir);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_copy_and_miss),
	    cmocka_unit_test(test_forget_beats_a_racing_read),
	    cmocka_unit_test(test_clear),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_collision),
	    cmocka_unit_test(test_no_takeover),
	    cmocka_unit_test(test_shared_versions),
	    cmocka_unit_test(test_full_disk_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
