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

#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BODY_MAX 65536

static const struct schema_field enroll_fields[] = {
    SCHEMA_STRING("vdsData", SCHEMA_REQUIRED, 1, 16384, SCHEMA_FMT_SEAL_TEXT),
    SCHEMA_STRING("publicKeyPem", SCHEMA_REQUIRED, 1, 1024, SCHEMA_FMT_PEM),
    SCHEMA_STRING("deviceId", SCHEMA_REQUIRED, 1, 128, SCHEMA_FMT_TOKEN),
    SCHEMA_STRING_RE("fcmToken", SCHEMA_OPTIONAL | SCHEMA_NULLABLE, 1, 4096,
		     SCHEMA_FMT_NONE, "[A-Za-z0-9_.:-]+"),
    SCHEMA_STRING("pushEndpoint", SCHEMA_OPTIONAL | SCHEMA_NULLABLE, 1, 2048,
		  SCHEMA_FMT_HTTPS_URL),
    SCHEMA_END,
};
static const struct schema_rule enroll_rules[] = {
    SCHEMA_AT_MOST_ONE_OF("fcmToken", "pushEndpoint"),
    SCHEMA_RULES_END,
};
static const struct schema enroll_schema = {
    .fields = enroll_fields,
    .rules = enroll_rules,
};

static const struct schema_field scope_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 10, 64, SCHEMA_FMT_SCOPE);
static const struct schema_field verify_fields[] = {
    SCHEMA_STRING_RE("sessionId", SCHEMA_REQUIRED, 6, 64, SCHEMA_FMT_NONE,
		     "sess_[A-Za-z0-9_-]+"),
    SCHEMA_STRING("tokenId", SCHEMA_REQUIRED, 1, 64, SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("otp", SCHEMA_REQUIRED, 6, 6, SCHEMA_FMT_DIGITS),
    SCHEMA_INTEGER("timestamp", SCHEMA_REQUIRED, 0, 253402300799LL),
    SCHEMA_ENUM("decision", SCHEMA_REQUIRED, "approve", "reject"),
    SCHEMA_ARRAY("grantedScopes", SCHEMA_REQUIRED | SCHEMA_UNIQUE, 0, 32,
		 &scope_item),
    SCHEMA_STRING("signature", SCHEMA_REQUIRED, 1, 256, SCHEMA_FMT_BASE64),
    SCHEMA_END,
};
static const struct schema verify_schema = {.fields = verify_fields};

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
		validate(&enroll_schema, root, 0);
		validate(&enroll_schema, root, SCHEMA_LOOPBACK_HTTP);
		validate(&verify_schema, root, 0);
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
