/*
 * fuzz_session.c - stored session records read back by session_load.
 *
 * The bytes are stored as a session's value in the in-process store, then
 * loaded: a record that is not exactly a well-formed session must be
 * refused without reading outside it. A record that loads is saved again
 * under a fresh id and must load back to the same session.
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char id[] = "sess_AAAAAAAAAAAAAAAAAAAAAA";
	char key[64];
	struct session s, again;
	int64_t now = now_unix();

	if (fz_es == NULL && estore_open("mem:", &fz_es) != SA_OK)
		abort();
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
	snprintf(key, sizeof(key), "sess:%s", s.id);
	estore_del(fz_es, key, NULL);
	return 0;
}
