/*
 * fuzz_json_out.c - json_out against json_dumps: any JSON text jansson
 * parses (NUL bytes in strings allowed) is written back by both, and the
 * two must give the same bytes, in insertion order and with sorted keys,
 * or both refuse.
 *
 * Properties: json_out never reads outside its value, never writes a text
 * json_dumps would not, and never refuses one json_dumps writes (jansson's
 * parser makes no key json_out refuses, and stops at 2,048 levels).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same(const json_t *v, unsigned int out_flags, size_t dump_flags)
{
	char *want = json_dumps(v, dump_flags);
	size_t n = 0;
	char *got = json_out(v, out_flags, &n);

	if ((want == NULL) != (got == NULL))
		abort();
	if (want != NULL && (strcmp(want, got) != 0 || n != strlen(want)))
		abort();
	free(want);
	free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = json_loadb((const char *)data, size,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	if (v == NULL)
		return 0;
	same(v, 0, JSON_COMPACT);
	same(v, JSON_OUT_SORT_KEYS, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	return 0;
}
