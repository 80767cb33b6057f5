/*
 * fuzz_tsl.c - libFuzzer driver for the trust-list parser and the XML-DSig
 * verifier. Each input is parsed as XML and its signature checked against a
 * fixed pinned P-256 key, then parsed as a TS 119 612 list and verified
 * again through tsl_verify. The corpus in fuzz/corpus/tsl holds small real
 * and built lists; one of them is signed by the pinned key so the valid
 * path is reachable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "trust/tsl.h"
#include "trust/xmldsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char pinned_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE71wzJt3ee5+0+8X/xnd1XKwsqLcP\n"
    "kQn4nzQ+Kzeq/OXir7XPosPsKP7XQMsvb01O+0yZBVM0ScnB1RrHcOe77Q==\n"
    "-----END PUBLIC KEY-----\n";

static EVP_PKEY *pinned;

static EVP_PKEY *
load_pinned(void)
{
	BIO *bio = BIO_new_mem_buf(pinned_pem, (int)sizeof(pinned_pem) - 1);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

	BIO_free(bio);
	if (k == NULL)
		abort();
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xmlDocPtr doc = NULL;
	struct tsl *t = NULL;
	struct xmldsig_result res;
	char why[200];

	if (pinned == NULL) {
		if (xmldsig_global_init() != SA_OK)
			abort();
		pinned = load_pinned();
	}
	if (xmldsig_parse(data, size, &doc, why, sizeof(why)) == SA_OK) {
		xmldsig_verify(doc, &pinned, 1, &res);
		xmldsig_result_clear(&res);
		xmlFreeDoc(doc);
	}
	if (tsl_parse(data, size, &t, why, sizeof(why)) == SA_OK) {
		tsl_verify(t, &pinned, 1, &res);
		xmldsig_result_clear(&res);
		tsl_free(t);
	}
	return 0;
}
