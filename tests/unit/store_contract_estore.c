/*
 * store_contract_estore.c - the ephemeral store's contracts (store_contract.h):
 * values and their TTLs, counters, races, expiring indexes, bounds,
 * publish/subscribe and concurrency.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

#include "store_contract.h"

/* ---- Ephemeral store ---- */

void
inbox_init(struct inbox *in)
{
	memset(in, 0, sizeof(*in));
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cv, NULL);
}

void
inbox_destroy(struct inbox *in)
{
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cv);
}

void
on_msg(const char *channel, const void *msg, size_t n, void *arg)
{
	struct inbox *in = arg;

	pthread_mutex_lock(&in->mu);
	in->n++;
	snprintf(in->last, sizeof(in->last), "%.*s", (int)n, (const char *)msg);
	snprintf(in->channel, sizeof(in->channel), "%s", channel);
	in->thread = pthread_self();
	pthread_cond_broadcast(&in->cv);
	pthread_mutex_unlock(&in->mu);
}

/* inbox_wait waits up to ms for the inbox to hold at least n messages and
 * returns how many it holds. */
int
inbox_wait(struct inbox *in, int n, unsigned ms)
{
	uint64_t until = now_mono_ms() + ms;
	int got;

	pthread_mutex_lock(&in->mu);
	while (in->n < n && now_mono_ms() < until) {
		pthread_mutex_unlock(&in->mu);
		sleep_ms(5);
		pthread_mutex_lock(&in->mu);
	}
	got = in->n;
	pthread_mutex_unlock(&in->mu);
	return got;
}

void
estore_contract_ttl(struct estore *es)
{
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t ttl = 0;

	assert_int_equal(estore_ping(es), SA_OK);
	assert_int_equal(estore_set(es, "sess:1", "hello", 5, 80, 0), SA_OK);
	assert_int_equal(estore_set(es, "keep", "k", 1, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "sess:1", &v, &n, &ttl), SA_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(v, "hello", 6); /* NUL-terminated copy */
	assert_true(ttl > 0 && ttl <= 80);
	free(v);
	v = NULL;
	assert_int_equal(estore_get(es, "keep", &v, &n, &ttl), SA_OK);
	assert_int_equal(ttl, -1);
	free(v);
	v = NULL;
	assert_int_equal(estore_count(es), 2);

	/* Binary values come back byte for byte. */
	assert_int_equal(estore_set(es, "bin", "a\0b\r\n", 5, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "bin", &v, &n, NULL), SA_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(v, "a\0b\r\n", 6);
	free(v);
	v = NULL;
	assert_int_equal(estore_set(es, "empty", NULL, 0, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "empty", &v, &n, NULL), SA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(v[0], '\0');
	free(v);
	v = NULL;

	sleep_ms(150);
	assert_int_equal(estore_get(es, "sess:1", &v, &n, NULL),
			 SA_ERR_NOT_FOUND);
	assert_null(v);
	assert_int_equal(estore_count(es), 3); /* keep, bin, empty */
}

void
estore_contract_nx_xx(struct estore *es)
{
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t ttl = 0;

	assert_int_equal(estore_set(es, "k", "b", 1, 0, ESTORE_XX),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(estore_count(es), 0);
	assert_int_equal(estore_set(es, "k", "a", 1, 0, ESTORE_NX), SA_OK);
	assert_int_equal(estore_set(es, "k", "c", 1, 0, ESTORE_NX),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_get(es, "k", &v, &n, NULL), SA_OK);
	assert_string_equal((char *)v, "a");
	free(v);
	assert_int_equal(estore_set(es, "k", "dd", 2, 5000, ESTORE_XX), SA_OK);
	assert_int_equal(estore_get(es, "k", &v, &n, &ttl), SA_OK);
	assert_string_equal((char *)v, "dd");
	assert_true(ttl > 4000 && ttl <= 5000);
	free(v);
	assert_int_equal(estore_set(es, "k", "e", 1, 0, ESTORE_NX | ESTORE_XX),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_set(es, "k", "e", 1, 0, 8), SA_ERR_VALIDATION);

	/* NX succeeds again once the key expired. */
	assert_int_equal(estore_set(es, "t", "1", 1, 20, 0), SA_OK);
	sleep_ms(50);
	assert_int_equal(estore_set(es, "t", "2", 1, 0, ESTORE_NX), SA_OK);
}

void
estore_contract_incr(struct estore *es)
{
	int64_t count = 0, ttl = 0, first_ttl = 0;
	unsigned char *v = NULL;

	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &first_ttl),
			 SA_OK);
	assert_int_equal(count, 1);
	assert_true(first_ttl > 0 && first_ttl <= 200);
	sleep_ms(60);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &ttl), SA_OK);
	assert_int_equal(count, 2);
	/* A later hit does not extend the window. */
	assert_true(ttl <= first_ttl - 50);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, NULL), SA_OK);
	assert_int_equal(count, 3);
	assert_int_equal(estore_get(es, "rl:ip", &v, NULL, NULL), SA_OK);
	assert_string_equal((char *)v, "3");
	free(v);

	sleep_ms(200);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &ttl), SA_OK);
	assert_int_equal(count, 1);
	assert_true(ttl > 100);

	/* Without a window the counter does not expire. */
	assert_int_equal(estore_incr(es, "forever", 0, &count, &ttl), SA_OK);
	assert_int_equal(count, 1);
	assert_int_equal(ttl, -1);

	/* A non-counter is not incremented. */
	assert_int_equal(estore_set(es, "s", "abc", 3, 0, 0), SA_OK);
	assert_int_equal(estore_incr(es, "s", 1000, &count, &ttl),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_set(es, "max", "9223372036854775807", 19, 0, 0),
			 SA_OK);
	assert_int_equal(estore_incr(es, "max", 1000, &count, &ttl),
			 SA_ERR_CONFLICT);
}

struct del_race {
	struct estore *es;
	pthread_barrier_t *bar;
	int rounds;
	int wins;
	int cas; /* estore_del_if instead of estore_del */
};

static void *
del_racer(void *arg)
{
	struct del_race *r = arg;

	for (int i = 0; i < r->rounds; i++) {
		int existed = -1;

		pthread_barrier_wait(r->bar); /* the key is set */
		/* cmocka asserts only work on the test's own thread. */
		if ((r->cas ? estore_del_if(r->es, "race", "v", 1, &existed)
			    : estore_del(r->es, "race", &existed)) != SA_OK)
			existed = 100;
		r->wins += existed;
		pthread_barrier_wait(r->bar); /* both deleted */
	}
	return NULL;
}

void
estore_contract_del_race(struct estore *es, int rounds)
{
	for (int cas = 0; cas < 2; cas++) {
		pthread_barrier_t bar;
		struct del_race r[2];
		pthread_t t[2];

		pthread_barrier_init(&bar, NULL, 3);
		for (int i = 0; i < 2; i++) {
			r[i] = (struct del_race){es, &bar, rounds, 0, cas};
			pthread_create(&t[i], NULL, del_racer, &r[i]);
		}
		for (int i = 0; i < rounds; i++) {
			assert_int_equal(estore_set(es, "race", "v", 1, 0, 0),
					 SA_OK);
			pthread_barrier_wait(&bar);
			pthread_barrier_wait(&bar);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);
		assert_int_equal(r[0].wins + r[1].wins, rounds);
		assert_int_equal(estore_count(es), 0);
	}
}

/* del_if_is runs estore_del_if on "cas" and checks whether it deleted. */
static void
del_if_is(struct estore *es, const char *val, size_t n, int want)
{
	int deleted = -1;

	assert_int_equal(estore_del_if(es, "cas", val, n, &deleted), SA_OK);
	assert_int_equal(deleted, want);
}

void
estore_contract_del_if(struct estore *es)
{
	unsigned char *val = NULL;
	size_t n = 0;
	int deleted = -1;

	/* Absent: nothing to delete. */
	del_if_is(es, "abc", 3, 0);
	/* Another value, a prefix of it, or a longer one: the key stays. */
	assert_int_equal(estore_set(es, "cas", "abc", 3, 60000, 0), SA_OK);
	del_if_is(es, "abd", 3, 0);
	del_if_is(es, "ab", 2, 0);
	del_if_is(es, "abcd", 4, 0);
	assert_int_equal(estore_get(es, "cas", &val, &n, NULL), SA_OK);
	assert_int_equal(n, 3);
	free(val);
	val = NULL;
	/* The value it holds: gone, once. */
	del_if_is(es, "abc", 3, 1);
	assert_int_equal(estore_get(es, "cas", &val, &n, NULL),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(estore_del_if(es, "cas", "abc", 3, NULL), SA_OK);
	/* Binary values compare as bytes, NULs included; empty ones too. */
	assert_int_equal(estore_set(es, "cas", "a\0b", 3, 60000, 0), SA_OK);
	del_if_is(es, "a", 1, 0);
	del_if_is(es, "a\0c", 3, 0);
	del_if_is(es, "a\0b", 3, 1);
	assert_int_equal(estore_set(es, "cas", "", 0, 60000, 0), SA_OK);
	del_if_is(es, NULL, 0, 1);
	/* Expired: nothing to delete. */
	assert_int_equal(estore_set(es, "cas", "x", 1, 1, 0), SA_OK);
	sleep_ms(20);
	del_if_is(es, "x", 1, 0);
	/* Arguments the wrapper refuses. */
	assert_int_equal(estore_del_if(es, "cas", NULL, 1, &deleted),
			 SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_del_if(es, "cas", "x", ESTORE_VALUE_MAX + 1, &deleted),
	    SA_ERR_VALIDATION);
	assert_int_equal(estore_del_if(es, "", "x", 1, &deleted),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_count(es), 0);
}

static int
contract_stop_after_one(const char *member, int64_t expires, void *arg)
{
	struct index_seen_count {
		int n;
	} *c = arg;

	(void)member;
	(void)expires;
	assert_int_equal(++c->n, 1);
	return 1;
}

struct index_seen {
	int n;
	char member[8][ESTORE_MEMBER_MAX + 1];
	int64_t expires[8];
};

static int
index_seen_cb(const char *member, int64_t expires, void *arg)
{
	struct index_seen *s = arg;

	if (s->n < 8) {
		snprintf(s->member[s->n], sizeof(s->member[s->n]), "%s",
			 member);
		s->expires[s->n] = expires;
	}
	s->n++;
	return 0;
}

/* index_page reads a page into a "a,b,c" list of its members. */
static void
index_page(struct estore *es, const char *index, int64_t now,
	   int64_t after_expires, const char *after, int limit, char *out,
	   size_t cap)
{
	struct index_seen s = {0};

	assert_int_equal(estore_index_page(es, index, now, after_expires, after,
					   limit, index_seen_cb, &s),
			 SA_OK);
	out[0] = '\0';
	for (int i = 0; i < s.n && i < 8; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s",
			 i ? "," : "", s.member[i]);
}

void
estore_contract_index(struct estore *es)
{
	const int64_t now = 1700000000;
	char got[256], m[16];
	struct index_seen s = {0};

	assert_int_equal(estore_index_add(es, "ix", "b", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "a", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "c", now + 200, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "old", now + 10, now),
			 SA_OK);
	/* Expired when added: never listed. Added twice: listed once. */
	assert_int_equal(estore_index_add(es, "ix", "x", now, now), SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "b", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "other", "z", now + 300, now),
			 SA_OK);
	/* Latest expiry first, one expiry in byte order; the expiry comes
	 * back as it went in. */
	assert_int_equal(
	    estore_index_page(es, "ix", now, 0, NULL, 10, index_seen_cb, &s),
	    SA_OK);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.member[0], "c");
	assert_int_equal(s.expires[0], now + 200);
	assert_int_equal(s.expires[3], now + 10);
	index_page(es, "ix", now, 0, "", 10, got, sizeof(got));
	assert_string_equal(got, "c,a,b,old");
	/* Pages continue after a cursor, even one whose entry went. */
	index_page(es, "ix", now, 0, NULL, 2, got, sizeof(got));
	assert_string_equal(got, "c,a");
	index_page(es, "ix", now, now + 100, "a", 2, got, sizeof(got));
	assert_string_equal(got, "b,old");
	index_page(es, "ix", now, now + 10, "old", 2, got, sizeof(got));
	assert_string_equal(got, "");
	assert_int_equal(estore_index_del(es, "ix", "a", now + 100), SA_OK);
	assert_int_equal(estore_index_del(es, "ix", "a", now + 100), SA_OK);
	/* Another expiry names another entry. */
	assert_int_equal(estore_index_del(es, "ix", "b", now + 99), SA_OK);
	index_page(es, "ix", now, now + 100, "a", 5, got, sizeof(got));
	assert_string_equal(got, "b,old");
	index_page(es, "other", now, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "z");
	index_page(es, "none", now, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "");
	/* Time passes: what expired is not listed, and is gone for good
	 * (removed, not hidden: the earlier clock no longer sees it). */
	index_page(es, "ix", now + 100, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "c");
	index_page(es, "ix", now, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "c");
	/* A callback's non-zero answer stops the page. */
	assert_int_equal(estore_index_add(es, "ix", "d", now + 200, now),
			 SA_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(estore_index_page(es, "ix", now, 0, NULL, 5,
					   contract_stop_after_one, &s),
			 SA_OK);
	/* Refused before the backend sees anything. */
	assert_int_equal(estore_index_add(es, "ix", "has space", now + 5, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_add(es, "ix", "", now + 5, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_add(es, "ix", "y", 0, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_add(es, "", "y", now + 5, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_index_add(es, "ix", "y", ESTORE_EXPIRY_MAX + 1, now),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_index_page(es, "ix", now, 0, NULL, 0, index_seen_cb, &s),
	    SA_ERR_VALIDATION);
	assert_int_equal(estore_index_page(es, "ix", now, 0, NULL,
					   ESTORE_PAGE_MAX + 1, index_seen_cb,
					   &s),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_page(es, "ix", now, 0, "bad cursor", 5,
					   index_seen_cb, &s),
			 SA_ERR_VALIDATION);
	/* Bounded: beyond ESTORE_INDEX_MAX entries the soonest expiring
	 * goes (m000000), so nothing comes after m000001 any more. */
	for (int i = 0; i < ESTORE_INDEX_MAX; i++) {
		snprintf(m, sizeof(m), "m%06d", i);
		assert_int_equal(
		    estore_index_add(es, "big", m, now + 1000 + i, now), SA_OK);
	}
	index_page(es, "big", now, now + 1001, "m000001", 5, got, sizeof(got));
	assert_string_equal(got, "m000000");
	assert_int_equal(
	    estore_index_add(es, "big", "last", now + 5000000, now), SA_OK);
	index_page(es, "big", now, now + 1001, "m000001", 5, got, sizeof(got));
	assert_string_equal(got, "");
	index_page(es, "big", now, 0, NULL, 2, got, sizeof(got));
	assert_string_equal(got, "last,m099999");
}

void
estore_contract_get_many(struct estore *es)
{
	const char *keys[ESTORE_GET_MAX + 1] = {"gm:a", "gm:none", "gm:b",
						"gm:e", "gm:a"};
	struct estore_got got[ESTORE_GET_MAX + 1];

	assert_int_equal(estore_set(es, "gm:a", "one", 3, 60000, 0), SA_OK);
	assert_int_equal(estore_set(es, "gm:b", "t\0o", 3, 0, 0), SA_OK);
	assert_int_equal(estore_set(es, "gm:e", "", 0, 60000, 0), SA_OK);
	assert_int_equal(estore_get_many(es, keys, 0, got), SA_OK);
	assert_int_equal(estore_get_many(es, keys, ESTORE_GET_MAX, got), SA_OK);
	assert_int_equal(got[0].rc, SA_OK);
	assert_int_equal(got[0].n, 3);
	assert_memory_equal(got[0].val, "one", 4);
	assert_true(got[0].ttl_ms > 50000 && got[0].ttl_ms <= 60000);
	assert_int_equal(got[1].rc, SA_ERR_NOT_FOUND);
	assert_null(got[1].val);
	assert_int_equal(got[2].rc, SA_OK);
	assert_int_equal(got[2].n, 3);
	assert_memory_equal(got[2].val, "t\0o", 4);
	assert_int_equal(got[2].ttl_ms, -1);
	assert_int_equal(got[3].rc, SA_OK);
	assert_int_equal(got[3].n, 0);
	assert_int_equal(got[3].val[0], '\0');
	for (int i = 0; i < ESTORE_GET_MAX; i++)
		free(got[i].val);
	/* More keys than a call reads, a missing array or a bad key: refused,
	 * nothing handed out. */
	assert_int_equal(estore_get_many(es, keys, ESTORE_GET_MAX + 1, got),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_get_many(es, NULL, 1, got), SA_ERR_VALIDATION);
	assert_int_equal(estore_get_many(es, keys, 1, NULL), SA_ERR_VALIDATION);
	keys[1] = "";
	assert_int_equal(estore_get_many(es, keys, 2, got), SA_ERR_VALIDATION);
	assert_null(got[0].val);
	assert_null(got[1].val);
}

/* present tells whether key holds a live value. */
static int
present(struct estore *es, const char *key)
{
	unsigned char *val = NULL;
	size_t n = 0;
	enum sa_err rc = estore_get(es, key, &val, &n, NULL);

	free(val);
	assert_true(rc == SA_OK || rc == SA_ERR_NOT_FOUND);
	return rc == SA_OK;
}

/* What a subscriber of set_publish's channel finds under the key when the
 * message reaches it. */
struct seen_at_publish {
	struct estore *es;
	struct inbox in;
	char val[64];
};

static void
on_msg_read_key(const char *channel, const void *msg, size_t n, void *arg)
{
	struct seen_at_publish *s = arg;
	unsigned char *val = NULL;
	size_t vn = 0;

	if (estore_get(s->es, "sp:k", &val, &vn, NULL) == SA_OK)
		snprintf(s->val, sizeof(s->val), "%.*s", (int)vn, (char *)val);
	free(val);
	on_msg(channel, msg, n, &s->in);
}

void
estore_contract_set_publish(struct estore *es)
{
	struct seen_at_publish s = {.es = es};
	enum sa_err pub = SA_ERR_INTERNAL;
	unsigned char *val = NULL;
	size_t n = 0;
	int64_t ttl = 0;

	inbox_init(&s.in);
	assert_int_equal(estore_subscribe(es, "sp:ch", on_msg_read_key, &s),
			 SA_OK);
	assert_int_equal(estore_set(es, "sp:k", "old", 3, 60000, 0), SA_OK);
	/* Stored, then published: the subscriber finds the new value. */
	assert_int_equal(estore_set_publish(es, "sp:k", "new", 3, 30000,
					    "sp:ch", "hello", 5, &pub),
			 SA_OK);
	assert_int_equal(pub, SA_OK);
	assert_int_equal(inbox_wait(&s.in, 1, 5000), 1);
	assert_string_equal(s.in.last, "hello");
	assert_string_equal(s.val, "new");
	assert_int_equal(estore_get(es, "sp:k", &val, &n, &ttl), SA_OK);
	assert_true(ttl > 20000 && ttl <= 30000);
	free(val);
	/* Arguments refused before anything is stored or sent. */
	pub = SA_OK;
	assert_int_equal(
	    estore_set_publish(es, "sp:k", "bad", 3, 0, "", "x", 1, &pub),
	    SA_ERR_VALIDATION);
	assert_int_equal(pub, SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_set_publish(es, "", "bad", 3, 0, "sp:ch", "x", 1, NULL),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_set_publish(es, "sp:k", NULL, 3, 0, "sp:ch", "x", 1, NULL),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_set_publish(es, "sp:k", "bad", 3, 0, "sp:ch", NULL, 1, NULL),
	    SA_ERR_VALIDATION);
	/* An empty message and value go; the refused ones never did. */
	assert_int_equal(
	    estore_set_publish(es, "sp:k", NULL, 0, 0, "sp:ch", NULL, 0, NULL),
	    SA_OK);
	assert_int_equal(inbox_wait(&s.in, 2, 5000), 2);
	assert_string_equal(s.in.last, "");
	assert_string_equal(s.val, "");
	assert_int_equal(estore_get(es, "sp:k", &val, &n, &ttl), SA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ttl, -1);
	free(val);
	inbox_destroy(&s.in);
}

void
estore_contract_set_listed(struct estore *es)
{
	const int64_t now = 1700000000;
	unsigned char *val = NULL;
	size_t n = 0;
	int64_t ttl = 0;
	char got[256];

	/* Stored with its lifetime, and listed. */
	assert_int_equal(estore_set_listed(es, "sl:a", "rec\0a", 5, 60000,
					   "sl:ix", "a", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_get(es, "sl:a", &val, &n, &ttl), SA_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(val, "rec\0a", 5);
	assert_true(ttl > 50000 && ttl <= 60000);
	free(val);
	val = NULL;
	index_page(es, "sl:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "a");
	/* The key exists: a conflict, the value kept, no second listing. */
	assert_int_equal(estore_set_listed(es, "sl:a", "other", 5, 60000,
					   "sl:ix", "a", now + 200, now),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_get(es, "sl:a", &val, &n, NULL), SA_OK);
	assert_memory_equal(val, "rec\0a", 5);
	free(val);
	index_page(es, "sl:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "a");
	/* A conflict with an entry already listed leaves that entry. */
	assert_int_equal(estore_set_listed(es, "sl:a", "other", 5, 60000,
					   "sl:ix", "a", now + 100, now),
			 SA_ERR_CONFLICT);
	index_page(es, "sl:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "a");
	/* An expiry already past stores the key and lists nothing, as
	 * estore_index_add does. */
	assert_int_equal(
	    estore_set_listed(es, "sl:b", "", 0, 60000, "sl:ix", "b", now, now),
	    SA_OK);
	assert_true(present(es, "sl:b"));
	index_page(es, "sl:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "a");
	/* Arguments the wrapper refuses change nothing. */
	assert_int_equal(estore_set_listed(es, "sl:c", "v", 1, 60000, "sl:ix",
					   "bad member", now + 100, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_set_listed(es, "sl:c", "v", 1, 60000, "", "c",
					   now + 100, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_set_listed(es, "sl:c", NULL, 1, 60000, "sl:ix",
					   "c", now + 100, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_set_listed(es, "", "v", 1, 60000, "sl:ix", "c",
					   now + 100, now),
			 SA_ERR_VALIDATION);
	assert_false(present(es, "sl:c"));
	index_page(es, "sl:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "a");
}

void
estore_contract_remove(struct estore *es)
{
	const int64_t now = 1700000000;
	char got[256], long_key[ESTORE_KEY_MAX + 2];
	struct estore_rm rm[ESTORE_RM_MAX + 1];
	const struct estore_rm bad[] = {
	    {.kind = ESTORE_RM_KEY, .key = long_key},
	    {.kind = ESTORE_RM_KEY, .key = ""},
	    {.kind = ESTORE_RM_INDEX,
	     .key = "rm:ix",
	     .member = "has space",
	     .expires = now + 100},
	    {.kind = ESTORE_RM_INDEX, .key = "rm:ix", .member = "m2"},
	    {.kind = ESTORE_RM_KEY_IF, .key = "rm:c", .val = NULL, .n = 1},
	    {.kind = ESTORE_RM_KEY_IF,
	     .key = "rm:c",
	     .val = "x",
	     .n = ESTORE_VALUE_MAX + 1},
	    {.kind = (enum estore_rm_kind)7, .key = "rm:c"},
	};

	assert_int_equal(estore_set(es, "rm:a", "1", 1, 60000, 0), SA_OK);
	assert_int_equal(estore_set(es, "rm:b", "x\0y", 3, 60000, 0), SA_OK);
	assert_int_equal(estore_set(es, "rm:c", "x\0y", 3, 60000, 0), SA_OK);
	assert_int_equal(estore_set(es, "rm:d", "", 0, 60000, 0), SA_OK);
	assert_int_equal(estore_index_add(es, "rm:ix", "m1", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "rm:ix", "m2", now + 100, now),
			 SA_OK);
	/* Nothing to do is no failure. */
	assert_int_equal(estore_remove(es, NULL, 0), SA_OK);

	/* A key; a key holding those exact bytes; one holding others (it
	 * stays); an empty value; an index entry; an absent key and entry
	 * (no failure); all in one batch. */
	memset(rm, 0, sizeof(rm));
	rm[0] = (struct estore_rm){.kind = ESTORE_RM_KEY, .key = "rm:a"};
	rm[1] = (struct estore_rm){
	    .kind = ESTORE_RM_KEY_IF, .key = "rm:b", .val = "x\0y", .n = 3};
	rm[2] = (struct estore_rm){
	    .kind = ESTORE_RM_KEY_IF, .key = "rm:c", .val = "x\0z", .n = 3};
	rm[3] = (struct estore_rm){
	    .kind = ESTORE_RM_KEY_IF, .key = "rm:d", .val = NULL, .n = 0};
	rm[4] = (struct estore_rm){.kind = ESTORE_RM_INDEX,
				   .key = "rm:ix",
				   .member = "m1",
				   .expires = now + 100};
	rm[5] = (struct estore_rm){.kind = ESTORE_RM_KEY, .key = "rm:none"};
	rm[6] = (struct estore_rm){.kind = ESTORE_RM_INDEX,
				   .key = "rm:ix",
				   .member = "m9",
				   .expires = now + 100};
	assert_int_equal(estore_remove(es, rm, 7), SA_OK);
	assert_false(present(es, "rm:a"));
	assert_false(present(es, "rm:b"));
	assert_true(present(es, "rm:c"));
	assert_false(present(es, "rm:d"));
	index_page(es, "rm:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "m2");

	/* One bad item refuses the whole batch before anything is removed:
	 * a key too long, an index entry with a bad member or expiry, a
	 * compare without bytes, more items than a batch holds. */
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	rm[0] = (struct estore_rm){.kind = ESTORE_RM_KEY, .key = "rm:c"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rm[1] = bad[i];
		assert_int_equal(estore_remove(es, rm, 2), SA_ERR_VALIDATION);
	}
	for (int i = 0; i <= ESTORE_RM_MAX; i++)
		rm[i] =
		    (struct estore_rm){.kind = ESTORE_RM_KEY, .key = "rm:c"};
	assert_int_equal(estore_remove(es, rm, ESTORE_RM_MAX + 1),
			 SA_ERR_VALIDATION);
	assert_true(present(es, "rm:c"));
	index_page(es, "rm:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "m2");

	/* The full batch runs. */
	assert_int_equal(estore_remove(es, rm, ESTORE_RM_MAX), SA_OK);
	assert_false(present(es, "rm:c"));
}

void
estore_contract_set_remove(struct estore *es)
{
	const int64_t now = 1700000000;
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t ttl = 0;
	char got[256];
	struct estore_rm rm[ESTORE_RM_MAX + 1];

	assert_int_equal(estore_set(es, "sr:rec", "r", 1, 60000, 0), SA_OK);
	assert_int_equal(estore_set(es, "sr:slot", "id1", 3, 60000, 0), SA_OK);
	assert_int_equal(estore_index_add(es, "sr:ix", "id1", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "sr:ix", "id2", now + 100, now),
			 SA_OK);
	memset(rm, 0, sizeof(rm));
	rm[0] = (struct estore_rm){
	    .kind = ESTORE_RM_KEY_IF, .key = "sr:slot", .val = "id1", .n = 3};
	rm[1] = (struct estore_rm){.kind = ESTORE_RM_KEY, .key = "sr:rec"};
	rm[2] = (struct estore_rm){.kind = ESTORE_RM_INDEX,
				   .key = "sr:ix",
				   .member = "id1",
				   .expires = now + 100};

	/* A new key is stored, and the batch runs with it. */
	assert_int_equal(estore_set_remove(es, "sr:done", "d\0x", 3, 30000,
					   ESTORE_NX, rm, 3),
			 SA_OK);
	assert_int_equal(estore_get(es, "sr:done", &v, &n, &ttl), SA_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(v, "d\0x", 3);
	assert_true(ttl > 0 && ttl <= 30000);
	free(v);
	v = NULL;
	assert_false(present(es, "sr:rec"));
	assert_false(present(es, "sr:slot"));
	index_page(es, "sr:ix", now, 0, NULL, 10, got, sizeof(got));
	assert_string_equal(got, "id2");

	/* With ESTORE_NX an existing key is a conflict and keeps its value;
	 * the removals run all the same (here: a record set again). */
	assert_int_equal(estore_set(es, "sr:rec", "again", 5, 60000, 0), SA_OK);
	assert_int_equal(estore_set_remove(es, "sr:done", "other", 5, 30000,
					   ESTORE_NX, rm, 3),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_get(es, "sr:done", &v, &n, NULL), SA_OK);
	assert_int_equal(n, 3);
	free(v);
	v = NULL;
	assert_false(present(es, "sr:rec"));

	/* Without flags the value is replaced; no items is a plain SET. */
	assert_int_equal(
	    estore_set_remove(es, "sr:done", "new", 3, 30000, 0, NULL, 0),
	    SA_OK);
	assert_int_equal(estore_get(es, "sr:done", &v, &n, NULL), SA_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(v, "new", 3);
	free(v);
	v = NULL;

	/* Anything not valid refuses the whole call, nothing done: a bad
	 * key, value, flag or item, or too many items. */
	assert_int_equal(estore_set(es, "sr:rec", "r", 1, 60000, 0), SA_OK);
	assert_int_equal(
	    estore_set_remove(es, "", "x", 1, 30000, ESTORE_NX, rm, 3),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_set_remove(es, "sr:v", NULL, 1, 30000, ESTORE_NX, rm, 3),
	    SA_ERR_VALIDATION);
	assert_int_equal(estore_set_remove(es, "sr:v", "x", 1, 30000, 4, rm, 3),
			 SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_set_remove(es, "sr:v", "x", 1, 30000, ESTORE_NX, NULL, 2),
	    SA_ERR_VALIDATION);
	rm[3] = (struct estore_rm){.kind = ESTORE_RM_INDEX,
				   .key = "sr:ix",
				   .member = "has space",
				   .expires = now + 100};
	assert_int_equal(
	    estore_set_remove(es, "sr:v", "x", 1, 30000, ESTORE_NX, rm, 4),
	    SA_ERR_VALIDATION);
	for (int i = 0; i <= ESTORE_RM_MAX; i++)
		rm[i] =
		    (struct estore_rm){.kind = ESTORE_RM_KEY, .key = "sr:rec"};
	assert_int_equal(estore_set_remove(es, "sr:v", "x", 1, 30000, ESTORE_NX,
					   rm, ESTORE_RM_MAX + 1),
			 SA_ERR_VALIDATION);
	assert_false(present(es, "sr:v"));
	assert_true(present(es, "sr:rec"));
}

void
estore_contract_bounds(struct estore *es)
{
	char key[ESTORE_KEY_MAX + 2];
	unsigned char *val = calloc(ESTORE_VALUE_MAX + 1, 1), *v = NULL;
	size_t n = 0;
	int existed = 1;
	int64_t count = 0;

	assert_non_null(val);
	memset(key, 'k', sizeof(key));
	key[ESTORE_KEY_MAX + 1] = '\0'; /* one over */
	assert_int_equal(estore_set(es, key, "v", 1, 0, 0), SA_ERR_VALIDATION);
	assert_int_equal(estore_get(es, key, &v, &n, NULL), SA_ERR_VALIDATION);
	assert_int_equal(estore_del(es, key, &existed), SA_ERR_VALIDATION);
	assert_int_equal(estore_incr(es, key, 0, &count, NULL),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_count(es), 0); /* nothing reached Redis */
	key[ESTORE_KEY_MAX] = '\0';	       /* exactly the maximum */
	assert_int_equal(estore_set(es, key, "v", 1, 0, 0), SA_OK);
	assert_int_equal(estore_set(es, "", "v", 1, 0, 0), SA_ERR_VALIDATION);
	assert_int_equal(estore_set(es, NULL, "v", 1, 0, 0), SA_ERR_VALIDATION);

	assert_int_equal(estore_set(es, "big", val, ESTORE_VALUE_MAX + 1, 0, 0),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_count(es), 1);
	val[ESTORE_VALUE_MAX - 1] = 'z';
	assert_int_equal(estore_set(es, "big", val, ESTORE_VALUE_MAX, 0, 0),
			 SA_OK);
	assert_int_equal(estore_get(es, "big", &v, &n, NULL), SA_OK);
	assert_int_equal(n, ESTORE_VALUE_MAX);
	assert_int_equal(v[ESTORE_VALUE_MAX - 1], 'z');
	assert_int_equal(v[ESTORE_VALUE_MAX], '\0');
	free(v);
	assert_int_equal(estore_count(es), 2);
	assert_int_equal(estore_publish(es, key, val, ESTORE_VALUE_MAX + 1),
			 SA_ERR_VALIDATION);
	free(val);
}

void
estore_contract_pubsub(struct estore *es)
{
	struct inbox a, b, other;

	inbox_init(&a);
	inbox_init(&b);
	inbox_init(&other);
	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &a),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &b),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:xyz", on_msg, &other),
			 SA_OK);
	/* Subscribed when subscribe returned: the first publish arrives. */
	assert_int_equal(estore_publish(es, "session:abc", "approved", 8),
			 SA_OK);
	assert_int_equal(inbox_wait(&a, 1, 5000), 1);
	assert_int_equal(inbox_wait(&b, 1, 5000), 1);
	assert_string_equal(a.last, "approved");
	assert_string_equal(b.last, "approved");
	assert_string_equal(a.channel, "session:abc");
	/* Delivered in order: once the second message is in, the one to a
	 * channel nobody listens to would have been too. */
	assert_int_equal(estore_publish(es, "session:none", "x", 1), SA_OK);
	assert_int_equal(estore_publish(es, "session:abc", "again", 5), SA_OK);
	assert_int_equal(inbox_wait(&a, 2, 5000), 2);
	assert_int_equal(inbox_wait(&b, 2, 5000), 2);
	assert_string_equal(b.last, "again");
	assert_int_equal(other.n, 0);
	assert_int_equal(estore_subscribe(es, "c", NULL, &a),
			 SA_ERR_VALIDATION);
	inbox_destroy(&a);
	inbox_destroy(&b);
	inbox_destroy(&other);
}

#define SMOKE_THREADS 8

struct smoke {
	struct estore *es;
	int ops;
	int id;
	int failures;
};

static void *
smoke_worker(void *arg)
{
	struct smoke *s = arg;
	char key[48], val[48];

	for (int i = 0; i < s->ops; i++) {
		int64_t count;
		unsigned char *v = NULL;
		size_t n = 0;
		int existed;

		snprintf(key, sizeof(key), "t%d:%d", s->id, i % 64);
		snprintf(val, sizeof(val), "%d-%d", s->id, i);
		if (estore_set(s->es, key, val, strlen(val), 60000, 0) != SA_OK)
			s->failures++;
		if (estore_get(s->es, key, &v, &n, NULL) != SA_OK ||
		    strcmp((char *)v, val) != 0)
			s->failures++;
		free(v);
		if (estore_incr(s->es, "shared", 0, &count, NULL) != SA_OK ||
		    count < 1)
			s->failures++;
		if (i % 3 == 0 &&
		    (estore_del(s->es, key, &existed) != SA_OK || existed != 1))
			s->failures++;
	}
	return NULL;
}

void
estore_contract_concurrency(struct estore *es, int ops)
{
	struct smoke s[SMOKE_THREADS];
	pthread_t t[SMOKE_THREADS];
	unsigned char *v = NULL;

	for (int i = 0; i < SMOKE_THREADS; i++) {
		s[i] = (struct smoke){es, ops, i, 0};
		pthread_create(&t[i], NULL, smoke_worker, &s[i]);
	}
	for (int i = 0; i < SMOKE_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(s[i].failures, 0);
	}
	/* No increment was lost. */
	assert_int_equal(estore_get(es, "shared", &v, NULL, NULL), SA_OK);
	assert_int_equal(atoll((char *)v), SMOKE_THREADS * ops);
	free(v);
	/* Keys t<id>:<i%64>: the last write of each slot happened at
	 * the last 64 values of i, and those with i % 3 == 0 were deleted. */
	size_t live = 0;
	for (int i = ops - 64; i < ops; i++)
		live += i % 3 != 0;
	assert_int_equal(estore_count(es), SMOKE_THREADS * live + 1);
}
