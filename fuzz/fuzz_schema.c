/*
 * fuzz_schema.c - libFuzzer driver for request body parsing and validation.
 *
 * Each input is parsed as a request body and validated against the enroll
 * (SPEC section 2) and verify (SPEC section 3.5) schemas, with and without
 * loopback push endpoints. The same bytes are also run through every string
 * format. Besides the sanitizers, the driver checks the error contract: the
 * returned code is the one recorded, and every error renders as a JSON body
 * (so field and message are valid UTF-8).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "core/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BODY_MAX 65536

/*
 * The server's own route schemas (api_enroll.c, api_auth.c), so the fuzzer
 * exercises what the server runs rather than copies of it.
 */

/* check_error aborts when an error breaks the contract of schema.h. */
static void
check_error(enum sa_err rc, const struct schema_error *err)
{
	json_t *body;

	if (rc == SA_OK)
		return;
	if (err->code != rc || err->message[0] == '\0')
		abort();
	body = schema_error_json(err);
	if (body == NULL)
		abort();
	json_decref(body);
}

static void
validate(const struct schema *s, const json_t *root, unsigned int vflags)
{
	struct schema_error err;
	enum sa_err rc;

	memset(&err, 0, sizeof(err));
	rc = schema_validate(s, root, vflags, &err);
	if (rc != SA_OK && rc != SA_ERR_VALIDATION)
		abort(); /* the schemas are sound: nothing else may come back */
	check_error(rc, &err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct schema_error err;
	json_t *root = NULL;
	enum sa_err rc;

	memset(&err, 0, sizeof(err));
	rc = schema_parse_json((const char *)data, size, BODY_MAX, &root, &err);
	check_error(rc, &err);
	if (rc == SA_OK) {
		validate(&api_enroll_schema, root, 0);
		validate(&api_enroll_schema, root, SCHEMA_LOOPBACK_HTTP);
		validate(&api_initiate_schema, root, 0);
		validate(&api_verify_schema, root, 0);
		json_decref(root);
	} else if (root != NULL) {
		abort(); /* out-parameter set on failure */
	}

	/* The formats see raw bytes, NULs and invalid UTF-8 included. */
	for (int f = SCHEMA_FMT_NONE; f <= SCHEMA_FMT_PRINTABLE; f++) {
		schema_format_check((enum schema_format)f, (const char *)data,
				    size, 0);
		schema_format_check((enum schema_format)f, (const char *)data,
				    size, SCHEMA_LOOPBACK_HTTP);
	}
	return 0;
}
