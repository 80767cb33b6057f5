/*
 * fuzz_vds.c - libFuzzer driver for the seal parsers: the input is tried
 * as seal text (seal_codec_decode, then vds_decode) and as seal bytes
 * (vds_decode_traced, as `vds inspect --explain` runs it), and every
 * accessor of a decoded seal is exercised: ICAO headers of every version
 * and quirk, the feature catalogue, ISO seals of both identifier layouts
 * and the manifest-driven sequence payloads.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "seal/seal_codec.h"
#include "seal/vds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *p256, *bp224;

/* exercise walks everything a caller may read from a decoded seal. */
static void
exercise(const unsigned char *b, size_t n)
{
	struct vds *v = NULL;
	char why[VDS_WHY_MAX];
	unsigned char fp[32];
	size_t len;
	json_t *j;

	static struct vds_trace trace;
	const char *what = NULL;

	if (vds_decode_traced(b, n, &v, why, sizeof(why), &trace) != SA_OK)
		return;
	(void)vds_quirks(v);
	(void)vds_can_enroll(v, &what);
	vds_fingerprint(v, fp);
	(void)vds_signature(v, &len);
	(void)vds_aux(v, &len);
	(void)vds_claims(v);
	j = vds_to_json(v);
	if (j != NULL) {
		char *s = json_dumps(j, 0);
		free(s);
		json_decref(j);
	}
	for (size_t i = 0; i < vds_icao_feature_count(v); i++) {
		unsigned int tag;
		const unsigned char *val;
		char text[256];
		if (vds_icao_feature(v, i, &tag, &val, &len) == SA_OK)
			(void)vds_feature_text(v, tag, text, sizeof(text), NULL,
					       NULL);
	}
	(void)vds_verify_signature(v, p256);
	(void)vds_verify_signature(v, bp224);
	vds_free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bytes = NULL;
	size_t n = 0;
	enum seal_encoding enc;

	if (p256 == NULL) {
		p256 = EVP_EC_gen("P-256");
		bp224 = EVP_EC_gen("brainpoolP224r1");
	}
	if (seal_codec_decode((const char *)data, size, &bytes, &n, &enc) ==
	    SA_OK) {
		exercise(bytes, n);
		free(bytes);
	}
	exercise(data, size);
	return 0;
}
