/*
 * fuzz_ws_early.c - peeked bytes into the accept thread's upgrade parser.
 *
 * Whatever the bytes, the parser must stay inside them, and a request it
 * takes must hold what ws_early.h promises: a head that ends with its
 * blank line within the bytes, a path that starts with '/', and no value
 * that a header line could not have carried. The same bytes, as a string,
 * also go through ws_has_token.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ws_early.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_check_value(const char *v)
{
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_early_req r;
	char *s;

	if (ws_early_parse((const char *)data, size, &r)) {
		if (r.head_len < 4 || r.head_len > size ||
		    r.head_len > WS_EARLY_HEAD_MAX ||
		    memcmp(data + r.head_len - 4, "\r\n\r\n", 4) != 0 ||
		    r.path[0] != '/' || r.nquery > WS_EARLY_QUERY_MAX)
			abort();
		for (size_t i = 0; i < r.nquery; i++)
			if (r.qname[i][0] == '\0' ||
			    ws_early_query(&r, r.qname[i]) != r.qvalue[i])
				abort();
		fz_check_value(r.key);
		fz_check_value(r.origin);
		fz_check_value(r.ua);
	}
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)ws_has_token(s, "upgrade");
	free(s);
	return 0;
}
