/*
 * fuzz_session.c - stored session records and end markers read back.
 *
 * The bytes are stored as a session's value in the in-process store, then
 * loaded: a record that is not exactly a well-formed session must be
 * refused without reading outside it. A record that loads is saved again
 * under a fresh id and must load back to the same session.
 *
 * The same bytes are then stored as the end marker of a session without a
 * record, and read as a late WebSocket and a replay read them: what it
 * ended as, its final event and the ended session. An ended session that
 * loads is written again as a marker of the current form and must load
 * back with the same fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login/session.h"
#include "store/store.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct estore *fz_es;

static void fuzz_marker(const char *id, const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char id[] = "sess_AAAAAAAAAAAAAAAAAAAAAA";
	char key[64];
	struct session s, again;
	int64_t now = now_unix();

	if (fz_es == NULL && estore_open("mem:", &fz_es) != SA_OK)
		abort();
	fuzz_marker("sess_BBBBBBBBBBBBBBBBBBBBBB", data, size);
	snprintf(key, sizeof(key), "sess:%s", id);
	estore_del(fz_es, key, NULL);
	if (estore_set(fz_es, key, data, size, 60000, 0) != SA_OK)
		return 0;
	if (session_load(fz_es, id, &s) != SA_OK)
		return 0;
	if (session_new_ids(s.id, s.random) != SA_OK)
		return 0;
	s.expires_at = now + 60;
	if (session_save(fz_es, &s, now) != SA_OK)
		abort(); /* whatever loads must fit when saved again */
	if (session_load(fz_es, s.id, &again) != SA_OK ||
	    memcmp(&s, &again, sizeof(s)) != 0)
		abort();
	/* Gone with its entry in the live-session index, so a long run does
	 * not pile up one entry per input until they expire. */
	session_drop(fz_es, s.id);
	estore_index_del(fz_es, SESSION_INDEX, s.id, s.expires_at);
	return 0;
}

/* fuzz_marker reads the bytes as the end marker of session id. */
static void
fuzz_marker(const char *id, const uint8_t *data, size_t size)
{
	char key[64], *ev;
	struct session s, again;
	struct session_end_rec e;
	enum session_end how = SESSION_OPEN;

	snprintf(key, sizeof(key), "sess:%s:done", id);
	if (estore_set(fz_es, key, data, size, 60000, 0) != SA_OK)
		return;
	if (session_state(fz_es, id) == SESSION_OPEN)
		abort(); /* any marker at all says the session ended */
	ev = session_final_event(fz_es, id, &how);
	free(ev);
	if (session_load(fz_es, id, &s) == SA_OK) {
		if (!s.ended)
			abort();
		session_end_rec_of(&s, &e);
		/* An earlier form's random that is not the base64url of 16
		 * bytes in its one encoding cannot be kept in this form. */
		if (session_keep_final(fz_es, &e, how, "-", 1) != SA_OK)
			goto out;
		if (session_load(fz_es, id, &again) != SA_OK ||
		    strcmp(again.token_id, s.token_id) != 0 ||
		    strcmp(again.service_id, s.service_id) != 0 ||
		    strcmp(again.random, s.random) != 0 ||
		    again.decoy != s.decoy || session_state(fz_es, id) != how)
			abort();
	}
out:
	estore_del(fz_es, key, NULL);
}
