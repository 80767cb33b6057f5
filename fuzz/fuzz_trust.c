/*
 * fuzz_trust.c - libFuzzer driver for the trust parsers that read
 * untrusted bytes outside the TS 119 612 lists: the UsageList DER and the
 * seal revocation list (structure, then signature against a fixed key).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "trust/usagelist.h"
#include "trust/vrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *key;
	unsigned char ids[USAGELIST_MAX][3];
	size_t n = 0;
	struct vrl *v = NULL;
	char why[200];

	if (key == NULL)
		key = EVP_EC_gen("P-256");
	if (usagelist_decode(data, size, ids, &n) == SA_OK) {
		unsigned char *der = NULL;
		size_t len = 0;

		/* what decodes re-encodes to the same bytes (strict DER) */
		if (usagelist_encode((const unsigned char(*)[3])ids, n, &der,
				     &len) != SA_OK ||
		    len != size || __builtin_memcmp(der, data, len) != 0)
			abort();
		free(der);
	}
	if (vrl_load(data, size, &key, 1, &v, why, sizeof(why)) == SA_OK)
		vrl_free(v);
	return 0;
}
