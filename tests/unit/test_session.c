/*
 * test_session.c - login sessions in the in-process store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "login/session.h"
#include "store/store.h"
#include "core/util.h"

static void
make_session(struct session *s, int64_t now)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(session_new_ids(s->id, s->random), SA_OK);
	snprintf(s->token_id, sizeof(s->token_id), "DE-1234567");
	snprintf(s->service_id, sizeof(s->service_id), "demo");
	snprintf(s->service_name, sizeof(s->service_name), "sealauth demo");
	snprintf(s->scopes[0], sizeof(s->scopes[0]), "identity:name");
	snprintf(s->scopes[1], sizeof(s->scopes[1]), "identity:age_over_18");
	s->nscopes = 2;
	s->issued_at = now;
	s->expires_at = now + 60;
	snprintf(s->otp_mac, sizeof(s->otp_mac), "%064d", 7);
	snprintf(s->origin, sizeof(s->origin), "https://shop.example");
	snprintf(s->ip, sizeof(s->ip), "203.0.113.7");
	snprintf(s->ua, sizeof(s->ua), "Mozilla/5.0");
	s->mode = SERVICE_MODE_TYPE;
	s->slot = -1;
}

static void
test_ids(void **state)
{
	char a[SESSION_ID_LEN + 1], b[SESSION_ID_LEN + 1],
	    r[SESSION_RANDOM_LEN + 1];

	assert_int_equal(session_new_ids(a, r), SA_OK);
	assert_int_equal(session_new_ids(b, r), SA_OK);
	assert_true(session_id_valid(a));
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(r), SESSION_RANDOM_LEN);
	assert_false(session_id_valid("sess_short"));
	assert_false(session_id_valid("xxxx_AAAAAAAAAAAAAAAAAAAAAA"));
	assert_false(session_id_valid("sess_AAAAAAAAAAAAAAAAAAAAA/"));
	assert_false(session_id_valid(NULL));
}

static void
test_save_load_round_trip(void **state)
{
	struct estore *es;
	struct session s, got;
	int64_t now = now_unix();

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	assert_int_equal(session_save(es, &s, now), SA_OK);
	/* Ids never repeat: a second save of the same id is refused. */
	assert_int_equal(session_save(es, &s, now), SA_ERR_CONFLICT);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_string_equal(got.token_id, "DE-1234567");
	assert_string_equal(got.service_name, "sealauth demo");
	assert_int_equal(got.nscopes, 2);
	assert_string_equal(got.scopes[1], "identity:age_over_18");
	assert_int_equal(got.expires_at, now + 60);
	assert_string_equal(got.otp_mac, s.otp_mac);
	assert_string_equal(got.random, s.random);
	assert_string_equal(got.ua, "Mozilla/5.0");
	assert_int_equal(got.mode, SERVICE_MODE_TYPE);
	assert_int_equal(got.decoy, 0);
	/* A decoy stays one (it is counted and audited as such). */
	assert_int_equal(session_new_ids(s.id, s.random), SA_OK);
	s.decoy = 1;
	assert_int_equal(session_save(es, &s, now), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_int_equal(got.decoy, 1);
	assert_int_equal(session_load(es, "sess_AAAAAAAAAAAAAAAAAAAAAA", &got),
			 SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_load(es, "nonsense", &got),
			 SA_ERR_SESSION_UNKNOWN);
	estore_close(es);
}

/*
 * Field values that look like the record's own syntax (lengths, colons)
 * or hold control bytes come back unchanged; the largest session fits.
 */
static void
test_hostile_fields_and_full_size(void **state)
{
	struct estore *es;
	struct session s, got;
	int64_t now = now_unix();

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	memset(s.ua, '9', sizeof(s.ua) - 1);
	s.ua[sizeof(s.ua) - 1] = '\0';
	memcpy(s.ua, "12:\x1f\x01:3:", 8);
	memset(s.origin, 0, sizeof(s.origin));
	snprintf(s.origin, sizeof(s.origin), "4:abc");
	memset(s.service_name, 'n', sizeof(s.service_name) - 1);
	s.service_name[sizeof(s.service_name) - 1] = '\0';
	s.nscopes = SERVICE_SCOPES_MAX;
	for (size_t i = 0; i < SERVICE_SCOPES_MAX; i++) {
		memset(s.scopes[i], 'a' + (int)(i % 26),
		       sizeof(s.scopes[i]) - 1);
		s.scopes[i][sizeof(s.scopes[i]) - 1] = '\0';
	}
	s.mode = SERVICE_MODE_COMPARE;
	s.decoy = 1;
	assert_int_equal(session_save(es, &s, now), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_memory_equal(&got, &s, sizeof(s));
	estore_close(es);
}

/* A damaged stored value is refused, never half read. */
static void
test_damaged_value(void **state)
{
	struct estore *es;
	struct session s, got;
	char key[64];
	int64_t now = now_unix();
	static const char *bad[] = {
	    "",
	    "S1",
	    "{\"tokenId\":\"x\"}",
	    "S1999999:abc",
	    "S13:ab",
	    "S1x:abc",
	    "S110:DE-1234567" /* ends after one field */,
	};
	static const char nul[] = "S110:DE-12\0\0\0\0567";

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	snprintf(key, sizeof(key), "sess:%s", s.id);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		estore_del(es, key, NULL);
		assert_int_equal(
		    estore_set(es, key, bad[i], strlen(bad[i]), 60000, 0),
		    SA_OK);
		assert_int_not_equal(session_load(es, s.id, &got), SA_OK);
	}
	/* A NUL inside a field: never cut short silently. */
	estore_del(es, key, NULL);
	assert_int_equal(estore_set(es, key, nul, sizeof(nul) - 1, 60000, 0),
			 SA_OK);
	assert_int_not_equal(session_load(es, s.id, &got), SA_OK);
	estore_close(es);
}

static void
test_finish_once_and_attempts(void **state)
{
	struct estore *es;
	struct session s;
	enum session_end prior = SESSION_OPEN;
	int64_t now = now_unix(), count = 0;

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	assert_int_equal(session_save(es, &s, now), SA_OK);
	assert_int_equal(session_state(es, s.id), SESSION_OPEN);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(session_fail(es, &s, now, &count), SA_OK);
		assert_int_equal(count, i);
	}
	assert_int_equal(session_finish(es, &s, SESSION_APPROVED, now, &prior),
			 SA_OK);
	assert_int_equal(session_finish(es, &s, SESSION_REJECTED, now, &prior),
			 SA_ERR_REPLAY);
	assert_int_equal(prior, SESSION_APPROVED);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	estore_close(es);
}

static int
index_collect(const char *member, int64_t expires, void *arg)
{
	char *out = arg;

	(void)expires;
	strncat(out, member, 64);
	strncat(out, " ", 2);
	return 0;
}

/*
 * A session that ends becomes its end marker: the record goes, and what a
 * late WebSocket and "remember this browser" read comes back from the
 * marker (ended set), through the final event and its delivered mark; what
 * only a waiting session needs is gone, and it leaves the index of live
 * logins. A loser of the race changes nothing; a damaged marker or one
 * without the fields gives no session, but still says the session ended.
 */
static void
test_ended_session_is_its_end_marker(void **state)
{
	struct estore *es;
	struct session s, open, got;
	struct session_end_rec e;
	enum session_end how = SESSION_OPEN;
	char rkey[ESTORE_KEY_MAX], dkey[ESTORE_KEY_MAX], listed[256] = "";
	unsigned char *val = NULL;
	size_t n = 0;
	int64_t now = now_unix(), ttl = -1;
	unsigned char raw[16];
	size_t rn = 0;
	char *ev;

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	s.decoy = 1;
	assert_int_equal(
	    b64url_decode_to(s.random, strlen(s.random), raw, sizeof(raw), &rn),
	    SA_OK);
	assert_int_equal(rn, sizeof(raw));
	make_session(&open, now);
	assert_int_equal(session_save(es, &s, now), SA_OK);
	assert_int_equal(session_save(es, &open, now), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_false(got.ended);
	assert_int_equal(session_finish(es, &s, SESSION_REJECTED, now, NULL),
			 SA_OK);
	snprintf(rkey, sizeof(rkey), "sess:%s", s.id);
	snprintf(dkey, sizeof(dkey), "sess:%s:done", s.id);
	assert_int_equal(estore_get(es, rkey, &val, &n, NULL),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(estore_get(es, dkey, &val, &n, &ttl), SA_OK);
	/* How it ended as a digit, the tag of a decoy session, token id and
	 * service each as a length byte and its bytes, the random's 16
	 * bytes; the expiry is the entry's own. */
	memcpy(listed, "2G\012DE-1234567\004demo", 18);
	memcpy(listed + 18, raw, sizeof(raw));
	assert_int_equal(n, 34);
	assert_memory_equal(val, listed, n);
	listed[0] = '\0';
	assert_true(ttl > 55000 && ttl <= 60000);
	free(val);
	val = NULL;
	memset(&got, 0x55, sizeof(got));
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_true(got.ended);
	assert_string_equal(got.id, s.id);
	assert_string_equal(got.token_id, "DE-1234567");
	assert_string_equal(got.service_id, "demo");
	assert_string_equal(got.random, s.random);
	/* From the entry's lifetime, rounded down: never later. */
	assert_true(got.expires_at == s.expires_at ||
		    got.expires_at == s.expires_at - 1);
	assert_int_equal(got.decoy, 1);
	assert_int_equal(got.slot, -1);
	assert_string_equal(got.otp_mac, "");
	assert_string_equal(got.ip, "");
	assert_string_equal(got.ua, "");
	assert_string_equal(got.origin, "");
	assert_int_equal(got.nscopes, 0);
	/* Only the waiting session is listed. */
	assert_int_equal(estore_index_page(es, SESSION_INDEX, now, 0, NULL, 10,
					   index_collect, listed),
			 SA_OK);
	assert_null(strstr(listed, s.id));
	assert_non_null(strstr(listed, open.id));
	/* A replay, from the whole record read before the end, loses and
	 * changes nothing. */
	assert_int_equal(session_finish(es, &open, SESSION_APPROVED, now, NULL),
			 SA_OK);
	assert_int_equal(session_finish(es, &s, SESSION_APPROVED, now, NULL),
			 SA_ERR_REPLAY);
	assert_int_equal(session_state(es, s.id), SESSION_REJECTED);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_true(got.ended);
	/* The final event and then its delivered mark keep the fields. */
	session_end_rec_of(&s, &e);
	assert_int_equal(session_keep_final(es, &e, SESSION_REJECTED,
					    "{\"type\":\"rejected\"}", 19),
			 SA_OK);
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, "{\"type\":\"rejected\"}");
	free(ev);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_string_equal(got.random, s.random);
	session_mark_delivered(es, &e, SESSION_REJECTED);
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, SESSION_DELIVERED_EVENT);
	assert_int_equal(how, SESSION_REJECTED);
	free(ev);
	assert_int_equal(estore_get(es, dkey, &val, &n, &ttl), SA_OK);
	assert_int_equal(n, 2 + 11 + 5 + 16 + 1);
	assert_int_equal(val[n - 1], '-');
	/* Rewriting the marker keeps its lifetime, never lengthens it. */
	assert_true(ttl > 54000 && ttl <= 60000);
	free(val);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_true(got.ended && got.decoy);
	/* Damaged fields, or none (an earlier version's marker): ended, no
	 * session, no event. */
	assert_int_equal(
	    estore_set(es, dkey, "rejected\nE110:DE-1234567", 24, 60000, 0),
	    SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_state(es, s.id), SESSION_REJECTED);
	assert_null(session_final_event(es, s.id, &how));
	assert_int_equal(estore_set(es, dkey, "approved\nE11:a1:b1:c2:991:2{}",
				    29, 60000, 0),
			 SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(estore_set(es, dkey, "approved", 8, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	assert_int_equal(
	    estore_set(es, dkey, "approved\n{\"a\":1}", 16, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, "{\"a\":1}");
	free(ev);
	/* Fields past their expiry: gone. */
	assert_int_equal(
	    estore_set(es, dkey, "approved\nE11:a1:b1:c1:51:0", 26, 60000, 0),
	    SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	/* The earlier marker (how by name, E1 with the expiry as a field)
	 * still reads, with its own expiry. */
	snprintf(listed, sizeof(listed),
		 "approved\nE15:DE-994:demo22:%s10:%lld1:0{\"x\":2}", s.random,
		 (long long)(now + 30));
	assert_int_equal(estore_set(es, dkey, listed, strlen(listed), 60000, 0),
			 SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_true(got.ended);
	assert_string_equal(got.token_id, "DE-99");
	assert_string_equal(got.random, s.random);
	assert_int_equal(got.expires_at, now + 30);
	assert_int_equal(got.decoy, 0);
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, "{\"x\":2}");
	assert_int_equal(how, SESSION_APPROVED);
	free(ev);
	/* The marker before this one (E2: the random in base64url) still
	 * reads. */
	snprintf(listed, sizeof(listed), "1\nE25:DE-994:demo%s0{\"y\":3}",
		 s.random);
	assert_int_equal(estore_set(es, dkey, listed, strlen(listed), 60000, 0),
			 SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_string_equal(got.token_id, "DE-99");
	assert_string_equal(got.random, s.random);
	assert_int_equal(got.decoy, 0);
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, "{\"y\":3}");
	free(ev);
	/* The current form, its random as bytes (any byte, NUL included,
	 * and a newline in a length), not a decoy; then damaged: a length
	 * past the end, a NUL in the token id, the random cut short. */
	memcpy(listed, "1F\012DE-99DE-99\004demo", 18);
	memset(listed + 18, 0, 16);
	memcpy(listed + 34, "{}", 2);
	assert_int_equal(estore_set(es, dkey, listed, 36, 60000, 0), SA_OK);
	memset(&got, 0x55, sizeof(got));
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_string_equal(got.token_id, "DE-99DE-99");
	assert_string_equal(got.service_id, "demo");
	assert_string_equal(got.random, "AAAAAAAAAAAAAAAAAAAAAA");
	assert_int_equal(got.decoy, 0);
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, "{}");
	assert_int_equal(how, SESSION_APPROVED);
	free(ev);
	listed[2] = 60;
	assert_int_equal(estore_set(es, dkey, listed, 36, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	assert_null(session_final_event(es, s.id, &how));
	listed[2] = 10;
	listed[5] = '\0';
	assert_int_equal(estore_set(es, dkey, listed, 36, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	listed[5] = '9';
	assert_int_equal(estore_set(es, dkey, listed, 30, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	/* The marker before this one (E3: a newline after the digit, the
	 * fields in decimal form, a decoy mark), then damaged: a bad decoy
	 * mark, the random cut short. */
	memcpy(listed, "1\nE35:DE-994:demo", 17);
	memset(listed + 17, 0, 16);
	memcpy(listed + 33, "0{}", 3);
	assert_int_equal(estore_set(es, dkey, listed, 36, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	assert_string_equal(got.random, "AAAAAAAAAAAAAAAAAAAAAA");
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, "{}");
	free(ev);
	listed[33] = '7';
	assert_int_equal(estore_set(es, dkey, listed, 36, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_null(session_final_event(es, s.id, &how));
	assert_int_equal(estore_set(es, dkey, listed, 29, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	/* A damaged random or decoy mark in the E2 form: ended, no session,
	 * no event. */
	snprintf(listed, sizeof(listed), "1\nE25:DE-994:demo%s", s.random);
	listed[strlen(listed) - 3] = '=';
	strcat(listed, "0{}");
	assert_int_equal(estore_set(es, dkey, listed, strlen(listed), 60000, 0),
			 SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	assert_null(session_final_event(es, s.id, &how));
	snprintf(listed, sizeof(listed), "3\nE25:DE-994:demo%s7{}", s.random);
	assert_int_equal(estore_set(es, dkey, listed, strlen(listed), 60000, 0),
			 SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(session_state(es, s.id), SESSION_TOO_MANY);
	snprintf(listed, sizeof(listed), "1\nE25:DE-994:demo%.10s", s.random);
	assert_int_equal(estore_set(es, dkey, listed, strlen(listed), 60000, 0),
			 SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	/* A digit that is no way of ending: not one we know. */
	assert_int_equal(estore_set(es, dkey, "7\nE2", 4, 60000, 0), SA_OK);
	assert_int_equal(session_state(es, s.id), SESSION_REJECTED);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	/* Any other value: ended in a way we do not know. */
	assert_int_equal(estore_set(es, dkey, "weird", 5, 60000, 0), SA_OK);
	assert_int_equal(session_state(es, s.id), SESSION_REJECTED);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	estore_close(es);
}

/*
 * The final event is kept with the end marker: none before it is stored,
 * then the text and how the session ended, then what replaces it. A
 * session that has not ended keeps no event.
 */
static void
test_final_event_kept_with_end(void **state)
{
	struct estore *es;
	struct session s, open;
	struct session_end_rec e;
	enum session_end how = SESSION_OPEN;
	int64_t now = now_unix();
	char *ev;

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	make_session(&open, now);
	assert_int_equal(session_save(es, &s, now), SA_OK);
	assert_int_equal(session_save(es, &open, now), SA_OK);
	assert_int_equal(session_finish(es, &s, SESSION_APPROVED, now, NULL),
			 SA_OK);
	assert_null(session_final_event(es, s.id, &how));
	assert_int_equal(how, SESSION_APPROVED);
	session_end_rec_of(&s, &e);
	assert_int_equal(session_keep_final(es, &e, SESSION_APPROVED,
					    "{\"type\":\"approved\"}\n", 20),
			 SA_OK);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	how = SESSION_OPEN;
	ev = session_final_event(es, s.id, &how);
	assert_non_null(ev);
	assert_int_equal(how, SESSION_APPROVED);
	/* The event's own bytes come back whole, a newline in it too. */
	assert_string_equal(ev, "{\"type\":\"approved\"}\n");
	free(ev);
	session_mark_delivered(es, &e, SESSION_APPROVED);
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	ev = session_final_event(es, s.id, &how);
	assert_string_equal(ev, SESSION_DELIVERED_EVENT);
	free(ev);
	assert_int_equal(session_finish(es, &s, SESSION_REJECTED, now, NULL),
			 SA_ERR_REPLAY);
	/* A session that has not ended keeps no event. */
	assert_null(session_final_event(es, open.id, &how));
	assert_int_equal(how, SESSION_OPEN);
	assert_int_equal(session_state(es, open.id), SESSION_OPEN);
	estore_close(es);
}

/*
 * The one-read forms give what their two reads give: the session with how
 * it ended (the record while it runs, the end marker after, also in the
 * moment both exist), and the final event with a value kept beside it.
 */
static void
test_reads_in_one_round_trip(void **state)
{
	struct estore *es;
	struct session s, got;
	struct session_end_rec e;
	enum session_end how = SESSION_APPROVED;
	int64_t now = now_unix();
	char key[128], *ev, *kept = (char *)"x";

	(void)state;
	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	assert_int_equal(session_save(es, &s, now), SA_OK);
	assert_int_equal(session_load_state(es, s.id, &got, &how, NULL, NULL),
			 SA_OK);
	assert_int_equal(how, SESSION_OPEN);
	assert_false(got.ended);
	assert_string_equal(got.otp_mac, s.otp_mac);
	assert_int_equal(got.nscopes, 2);
	/* A value kept with it comes in the same read; none: NULL. */
	kept = (char *)"x";
	assert_int_equal(
	    session_load_state(es, s.id, &got, &how, "login", &kept), SA_OK);
	assert_null(kept);
	snprintf(key, sizeof(key), "sess:%s:login", s.id);
	assert_int_equal(estore_set(es, key, "wl_1", 4, 60000, 0), SA_OK);
	assert_int_equal(
	    session_load_state(es, s.id, &got, &how, "login", &kept), SA_OK);
	assert_string_equal(kept, "wl_1");
	free(kept);
	kept = (char *)"x";
	/* Nothing ended, nothing kept. */
	assert_null(session_final_event_and(es, s.id, &how, "push", &kept));
	assert_null(kept);
	assert_int_equal(how, SESSION_OPEN);
	/* A value kept beside it comes back without an event. */
	snprintf(key, sizeof(key), "sess:%s:push", s.id);
	assert_int_equal(estore_set(es, key, "no route", 8, 60000, 0), SA_OK);
	assert_null(session_final_event_and(es, s.id, &how, "push", &kept));
	assert_string_equal(kept, "no route");
	free(kept);

	/* The marker written while the record is still there (the moment
	 * before the winner drops it): the record, and how it ended. */
	session_end_rec_of(&s, &e);
	assert_int_equal(session_keep_final(es, &e, SESSION_APPROVED, "{}", 2),
			 SA_OK);
	assert_int_equal(session_load_state(es, s.id, &got, &how, NULL, NULL),
			 SA_OK);
	assert_int_equal(how, SESSION_APPROVED);
	assert_false(got.ended);
	ev = session_final_event_and(es, s.id, &how, "push", &kept);
	assert_string_equal(ev, "{}");
	assert_string_equal(kept, "no route");
	assert_int_equal(how, SESSION_APPROVED);
	free(ev);
	free(kept);

	/* Ended and dropped: the session from its marker, ended set. */
	session_drop(es, s.id);
	assert_int_equal(session_load_state(es, s.id, &got, &how, NULL, NULL),
			 SA_OK);
	assert_int_equal(how, SESSION_APPROVED);
	assert_true(got.ended);
	assert_string_equal(got.token_id, s.token_id);
	assert_string_equal(got.random, s.random);
	assert_int_equal(got.otp_mac[0], '\0');

	/* Unknown, malformed and expired ids: no session, how OPEN. */
	make_session(&got, now);
	assert_int_equal(session_load_state(es, got.id, &got, &how, NULL, NULL),
			 SA_ERR_SESSION_UNKNOWN);
	assert_int_equal(how, SESSION_OPEN);
	assert_int_equal(
	    session_load_state(es, "sess_short", &got, &how, NULL, NULL),
	    SA_ERR_SESSION_UNKNOWN);
	make_session(&s, now - 120);
	assert_int_equal(session_save(es, &s, now - 120), SA_OK);
	assert_int_equal(session_load_state(es, s.id, &got, &how, NULL, NULL),
			 SA_ERR_SESSION_UNKNOWN);

	/* A damaged record is no session, as session_load says. */
	make_session(&s, now);
	snprintf(key, sizeof(key), "sess:%s", s.id);
	assert_int_equal(estore_set(es, key, "S2junk", 6, 60000, 0), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_INTERNAL);
	assert_int_equal(session_load_state(es, s.id, &got, &how, NULL, NULL),
			 SA_ERR_INTERNAL);
	estore_close(es);
}

struct heard {
	int n;
	char msg[64];
	char kept[64];
	struct estore *es;
	const char *id;
};

/* on_heard records a message and the final event stored when it came. */
static void
on_heard(const char *channel, const void *msg, size_t n, void *arg)
{
	struct heard *h = arg;
	enum session_end how;
	char *ev = session_final_event(h->es, h->id, &how);

	(void)channel;
	h->n++;
	snprintf(h->msg, sizeof(h->msg), "%.*s", (int)n, (const char *)msg);
	snprintf(h->kept, sizeof(h->kept), "%s", ev ? ev : "");
	free(ev);
}

/* The final event is kept and then published in one write: a subscriber
 * finds it stored. With nothing to keep (open), the message still goes. */
static void
test_keep_final_and_publish(void **state)
{
	struct estore *es;
	struct session s;
	struct session_end_rec e;
	struct heard h = {0};
	int64_t now = now_unix();

	(void)state;
	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	assert_int_equal(session_save(es, &s, now), SA_OK);
	h.es = es;
	h.id = s.id;
	assert_int_equal(estore_subscribe(es, "ev", on_heard, &h), SA_OK);
	assert_int_equal(session_finish(es, &s, SESSION_APPROVED, now, NULL),
			 SA_OK);
	session_end_rec_of(&s, &e);
	assert_int_equal(session_keep_final_publish(es, &e, SESSION_APPROVED,
						    "{\"type\":\"approved\"}",
						    19, "ev", "m1", 2),
			 SA_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.msg, "m1");
	assert_string_equal(h.kept, "{\"type\":\"approved\"}");
	assert_int_equal(session_state(es, s.id), SESSION_APPROVED);
	/* Nothing to keep for an open session: published all the same. */
	assert_int_equal(session_keep_final_publish(es, &e, SESSION_OPEN, "x",
						    1, "ev", "m2", 2),
			 SA_OK);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.msg, "m2");
	estore_close(es);
}

static void
test_session_expires(void **state)
{
	struct estore *es;
	struct session s, got;
	int64_t now = now_unix();

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	make_session(&s, now);
	s.expires_at = now + 1;
	assert_int_equal(session_save(es, &s, now), SA_OK);
	assert_int_equal(session_load(es, s.id, &got), SA_OK);
	for (int i = 0; i < 40 && session_load(es, s.id, &got) == SA_OK; i++)
		usleep(100000);
	assert_int_equal(session_load(es, s.id, &got), SA_ERR_SESSION_UNKNOWN);
	estore_close(es);
}

/*
 * Pending slots: strangers fill their pool and then wait, the owner's pool
 * stays free of them, and an ended session frees its slot at once.
 */
#define STRANGERS 3
#define OWNERS 5

static void
test_pending_slots(void **state)
{
	struct estore *es;
	struct session st[STRANGERS + 1], ow[OWNERS + 1], other;
	int64_t now = now_unix(), retry = 0;

	(void)state;
	assert_int_equal(estore_open("mem:", &es), SA_OK);
	for (int i = 0; i < STRANGERS; i++) {
		make_session(&st[i], now);
		assert_int_equal(
		    session_claim_slot(es, &st[i], 0, STRANGERS, now, &retry),
		    SA_OK);
		assert_true(st[i].slot >= 0);
	}
	make_session(&st[STRANGERS], now);
	assert_int_equal(
	    session_claim_slot(es, &st[STRANGERS], 0, STRANGERS, now, &retry),
	    SA_ERR_RATE_LIMITED);
	assert_true(retry >= 1 && retry <= 60);
	assert_int_equal(st[STRANGERS].slot, -1);
	/* Another token id has its own slots. */
	make_session(&other, now);
	snprintf(other.token_id, sizeof(other.token_id), "DE-7654321");
	assert_int_equal(
	    session_claim_slot(es, &other, 0, STRANGERS, now, &retry), SA_OK);
	/* The owner's pool is untouched by strangers, and bounded too. */
	for (int i = 0; i < OWNERS; i++) {
		make_session(&ow[i], now);
		assert_int_equal(
		    session_claim_slot(es, &ow[i], 1, OWNERS, now, &retry),
		    SA_OK);
	}
	make_session(&ow[OWNERS], now);
	assert_int_equal(
	    session_claim_slot(es, &ow[OWNERS], 1, OWNERS, now, &retry),
	    SA_ERR_RATE_LIMITED);
	/* A session that ends gives its slot back. */
	assert_int_equal(
	    session_finish(es, &st[1], SESSION_REJECTED, now, NULL), SA_OK);
	assert_int_equal(
	    session_claim_slot(es, &st[STRANGERS], 0, STRANGERS, now, &retry),
	    SA_OK);
	assert_int_equal(st[STRANGERS].slot, st[1].slot);
	/* Releasing a slot that another session holds now does nothing. */
	session_release_slot(es, &st[1]);
	make_session(&other, now);
	assert_int_equal(
	    session_claim_slot(es, &other, 0, STRANGERS, now, &retry),
	    SA_ERR_RATE_LIMITED);
	/* The slot survives the session's round trip through the store. */
	assert_int_equal(session_save(es, &st[0], now), SA_OK);
	assert_int_equal(session_load(es, st[0].id, &other), SA_OK);
	assert_int_equal(other.slot, st[0].slot);
	/* A pool of size 0 is no bound at all. */
	for (int i = 0; i < 10; i++) {
		make_session(&other, now);
		assert_int_equal(
		    session_claim_slot(es, &other, 0, 0, now, &retry), SA_OK);
		assert_int_equal(other.slot, -1);
	}
	estore_close(es);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_save_load_round_trip),
	    cmocka_unit_test(test_hostile_fields_and_full_size),
	    cmocka_unit_test(test_damaged_value),
	    cmocka_unit_test(test_finish_once_and_attempts),
	    cmocka_unit_test(test_ended_session_is_its_end_marker),
	    cmocka_unit_test(test_final_event_kept_with_end),
	    cmocka_unit_test(test_reads_in_one_round_trip),
	    cmocka_unit_test(test_keep_final_and_publish),
	    cmocka_unit_test(test_session_expires),
	    cmocka_unit_test(test_pending_slots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
