/*
 * test_schema.c - request body parsing and schema validation.
 *
 * Each case feeds a body through schema_parse_json and schema_validate, as
 * the HTTP layer does, and checks the outcome a client would see: the error
 * class, the field path and the message.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/schema.h"

/* ------------------------------------------------------------- schemas */

/* POST /enroll (SPEC section 2). */
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

/* POST /auth/verify (SPEC section 3.5). */
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

/* A schema touching every type, for boundaries and paths. */
static const struct schema_field tag_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 3, SCHEMA_FMT_TOKEN);
static const struct schema_field meta_fields[] = {
    SCHEMA_ARRAY("tags", SCHEMA_REQUIRED, 2, 3, &tag_item),
    SCHEMA_END,
};
static const struct schema meta_schema = {.fields = meta_fields};
static const struct schema_field device_fields[] = {
    SCHEMA_STRING("key", SCHEMA_REQUIRED, 2, 4, SCHEMA_FMT_NONE),
    SCHEMA_OBJECT("meta", SCHEMA_OPTIONAL, &meta_schema),
    SCHEMA_END,
};
static const struct schema device_schema = {.fields = device_fields};
static const struct schema_field point_fields[] = {
    SCHEMA_INTEGER("x", SCHEMA_REQUIRED, -5, 10),
    SCHEMA_END,
};
static const struct schema point_schema = {.fields = point_fields};
static const struct schema_field point_item =
    SCHEMA_OBJECT(NULL, SCHEMA_REQUIRED, &point_schema);
static const struct schema_field all_fields[] = {
    SCHEMA_STRING("name", SCHEMA_REQUIRED, 2, 4, SCHEMA_FMT_NONE),
    SCHEMA_INTEGER("count", SCHEMA_OPTIONAL, -5, 10),
    SCHEMA_INTEGER("big", SCHEMA_OPTIONAL, LLONG_MIN, LLONG_MAX),
    SCHEMA_BOOLEAN("flag", SCHEMA_OPTIONAL),
    SCHEMA_ENUM("mode", SCHEMA_OPTIONAL, "fast", "slow"),
    SCHEMA_ARRAY("list", SCHEMA_OPTIONAL | SCHEMA_UNIQUE, 2, 3, &tag_item),
    SCHEMA_ARRAY("points", SCHEMA_OPTIONAL, 0, 4, &point_item),
    SCHEMA_OBJECT("device", SCHEMA_OPTIONAL, &device_schema),
    SCHEMA_STRING("note", SCHEMA_OPTIONAL | SCHEMA_NULLABLE, 1, 8,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_STRING_RE("alt", SCHEMA_OPTIONAL, 1, 8, SCHEMA_FMT_NONE, "a|b"),
    SCHEMA_END,
};
static const struct schema all_schema = {.fields = all_fields};

/* Exactly-one-of and a rule hook, inside a nested object. */
static enum sa_err
window_check(const json_t *obj, struct schema_error *err)
{
	json_t *from = json_object_get(obj, "from");
	json_t *to = json_object_get(obj, "to");

	if (from != NULL && to != NULL &&
	    json_integer_value(from) > json_integer_value(to)) {
		schema_error_set(err, "to", "must not be before from");
		return SA_ERR_VALIDATION;
	}
	return SA_OK;
}
static const struct schema_field window_fields[] = {
    SCHEMA_INTEGER("from", SCHEMA_OPTIONAL, 0, 1000),
    SCHEMA_INTEGER("to", SCHEMA_OPTIONAL, 0, 1000),
    SCHEMA_END,
};
static const struct schema_rule window_rules[] = {
    SCHEMA_CHECK(window_check),
    SCHEMA_RULES_END,
};
static const struct schema window_schema = {
    .fields = window_fields,
    .rules = window_rules,
};
static const struct schema_field target_fields[] = {
    SCHEMA_STRING("a", SCHEMA_OPTIONAL, 1, 8, SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("b", SCHEMA_OPTIONAL, 1, 8, SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("c", SCHEMA_OPTIONAL, 1, 8, SCHEMA_FMT_TOKEN),
    SCHEMA_OBJECT("window", SCHEMA_OPTIONAL, &window_schema),
    SCHEMA_STRING("z", SCHEMA_OPTIONAL, 1, 8, SCHEMA_FMT_TOKEN),
    SCHEMA_END,
};
static const struct schema_rule target_rules[] = {
    SCHEMA_EXACTLY_ONE_OF("a", "b", "c"),
    SCHEMA_RULES_END,
};
static const struct schema target_schema = {
    .fields = target_fields,
    .rules = target_rules,
};

/* ------------------------------------------------------------- helpers */

#define PEM_OK                                                                 \
	"-----BEGIN PUBLIC KEY-----\\n"                                        \
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWfRfxqwvk4G9l0C0d8T8D2yf6Ah1\\n"  \
	"o6m3bW0xpw4Pp1K5s1kqS0j9fA4wHj0mO2bXxQ1B0Lq5uC6eW7wqj0L8VQ==\\n"      \
	"-----END PUBLIC KEY-----\\n"

/* run parses body and validates it; a parse failure is returned as is. */
static enum sa_err
run(const struct schema *s, const char *body, unsigned int vflags,
    struct schema_error *e)
{
	json_t *root = NULL;
	enum sa_err rc;

	memset(e, 0, sizeof(*e));
	rc = schema_parse_json(body, strlen(body), 65536, &root, e);
	if (rc != SA_OK)
		return rc;
	rc = schema_validate(s, root, vflags, e);
	json_decref(root);
	return rc;
}

static void
expect_ok(const struct schema *s, const char *body, unsigned int vflags)
{
	struct schema_error e;
	enum sa_err rc = run(s, body, vflags, &e);

	if (rc != SA_OK)
		fail_msg("%s: unexpected error %d field '%s': %s", body, rc,
			 e.field, e.message);
}

static void
expect_fail(const struct schema *s, const char *body, unsigned int vflags,
	    const char *field, const char *message)
{
	struct schema_error e;
	enum sa_err rc = run(s, body, vflags, &e);

	if (rc != SA_ERR_VALIDATION)
		fail_msg("%s: expected a validation error, got %d (%s: %s)",
			 body, rc, e.field, e.message);
	assert_int_equal(e.code, SA_ERR_VALIDATION);
	assert_string_equal(e.field, field);
	assert_string_equal(e.message, message);
}

static void
expect_parse_fail(const char *body, size_t n, enum sa_err want,
		  const char *needle)
{
	struct schema_error e;
	json_t *root = (json_t *)&e; /* must stay untouched on failure */
	enum sa_err rc;

	memset(&e, 0, sizeof(e));
	rc = schema_parse_json(body, n, 65536, &root, &e);
	if (rc != want)
		fail_msg("body %.40s: got %d, want %d (%s)", body, rc, want,
			 e.message);
	assert_ptr_equal(root, (json_t *)&e);
	assert_int_equal(e.code, want);
	if (strstr(e.message, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", e.message, needle);
}

/* value_result validates one JSON value against one field. */
static enum sa_err
value_result(const struct schema_field *f, json_t *v, struct schema_error *e)
{
	enum sa_err rc;

	memset(e, 0, sizeof(*e));
	rc = schema_check_value(f, v, NULL, 0, e);
	json_decref(v);
	return rc;
}

/* fmt_ok / fmt_bad check a format on a NUL-terminated string. */
static void
fmt_expect(enum schema_format fmt, const char *s, unsigned int vflags, int want)
{
	int got = schema_format_check(fmt, s, strlen(s), vflags);

	if (got != want)
		fail_msg("format %s on '%s': got %d, want %d",
			 schema_format_name(fmt), s, got, want);
}

#define FMT_OK(fmt, s) fmt_expect((fmt), (s), 0, 1)
#define FMT_BAD(fmt, s) fmt_expect((fmt), (s), 0, 0)

/* ------------------------------------------------------------- parsing */

static void
test_parse_object(void **state)
{
	struct schema_error e;
	json_t *root = NULL;
	const char *body = " {\"a\": [1, {\"b\": null}]}\n\t ";

	assert_int_equal(
	    schema_parse_json(body, strlen(body), strlen(body), &root, &e),
	    SA_OK);
	assert_true(json_is_object(root));
	assert_true(json_is_array(json_object_get(root, "a")));
	json_decref(root);
}

static void
test_parse_size_limit(void **state)
{
	struct schema_error e;
	json_t *root = NULL;
	const char *body = "{\"a\":1}"; /* 7 bytes */

	assert_int_equal(schema_parse_json(body, 7, 6, &root, &e),
			 SA_ERR_BODY_TOO_LARGE);
	assert_null(root);
	assert_string_equal(e.message, "body must be at most 6 bytes");
	assert_int_equal(schema_parse_json(body, 7, 7, &root, &e), SA_OK);
	json_decref(root);
}

static void
test_parse_duplicate_keys(void **state)
{
	const char *b1 = "{\"a\":1,\"a\":2}";
	const char *b2 = "{\"a\":1,\"\\u0061\":2}"; /* same key, escaped */
	const char *b3 = "{\"o\":{\"k\":1,\"k\":1}}";

	expect_parse_fail(b1, strlen(b1), SA_ERR_BAD_JSON, "duplicate");
	expect_parse_fail(b2, strlen(b2), SA_ERR_BAD_JSON, "duplicate");
	expect_parse_fail(b3, strlen(b3), SA_ERR_BAD_JSON, "duplicate");
}

static void
test_parse_trailing_garbage(void **state)
{
	const char *b1 = "{\"a\":1} x";
	const char *b2 = "{\"a\":1}{}";
	const char b3[] = "{\"a\":1}\0";

	expect_parse_fail(b1, strlen(b1), SA_ERR_BAD_JSON, "line 1, column");
	expect_parse_fail(b2, strlen(b2), SA_ERR_BAD_JSON, "line 1, column");
	/* A NUL byte after the object is trailing data too. */
	expect_parse_fail(b3, sizeof(b3) - 1, SA_ERR_BAD_JSON, "invalid JSON");
}

static void
test_parse_error_position(void **state)
{
	const char *b = "{\n  \"a\": 1,\n  \"b\": tru\n}";
	struct schema_error e;
	json_t *root = NULL;

	assert_int_equal(schema_parse_json(b, strlen(b), 1000, &root, &e),
			 SA_ERR_BAD_JSON);
	if (strstr(e.message, "invalid JSON at line 3, column") == NULL)
		fail_msg("message: %s", e.message);
	assert_string_equal(e.field, "");
}

static void
test_parse_nul_in_string(void **state)
{
	const char *b1 = "{\"a\":\"x\\u0000y\"}";
	const char *b2 = "{\"x\\u0000\":1}";
	const char b3[] = "{\"a\":\"x\0y\"}"; /* raw NUL byte */

	expect_parse_fail(b1, strlen(b1), SA_ERR_BAD_JSON, "\\u0000");
	expect_parse_fail(b2, strlen(b2), SA_ERR_BAD_JSON, "\\u0000");
	expect_parse_fail(b3, sizeof(b3) - 1, SA_ERR_BAD_JSON, "invalid JSON");
}

static void
test_parse_root_not_object(void **state)
{
	expect_parse_fail("[1,2]", 5, SA_ERR_VALIDATION,
			  "body must be a JSON object");
	expect_parse_fail("\"str\"", 5, SA_ERR_BAD_JSON, "invalid JSON");
	expect_parse_fail("42", 2, SA_ERR_BAD_JSON, "invalid JSON");
	expect_parse_fail("null", 4, SA_ERR_BAD_JSON, "invalid JSON");
	expect_parse_fail("", 0, SA_ERR_BAD_JSON, "invalid JSON");
	expect_parse_fail("   ", 3, SA_ERR_BAD_JSON, "invalid JSON");
}

static void
test_parse_bad_utf8(void **state)
{
	const char *b = "{\"a\":\"\xc3\x28\"}";
	struct schema_error e;
	json_t *root = NULL, *body;

	expect_parse_fail(b, strlen(b), SA_ERR_BAD_JSON, "invalid JSON");
	/* The message itself is always fit for a JSON answer. */
	assert_int_equal(schema_parse_json(b, strlen(b), 100, &root, &e),
			 SA_ERR_BAD_JSON);
	body = schema_error_json(&e);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body, "error")),
			    "bad_json");
	assert_null(json_object_get(body, "field"));
	json_decref(body);
}

/* nested builds {"a": [[...]]} with depth containers in all. */
static char *
nested(int depth)
{
	size_t n = (size_t)depth * 2 + 16;
	char *s = malloc(n), *p = s;

	assert_non_null(s);
	p += sprintf(p, "{\"a\":");
	for (int i = 1; i < depth; i++)
		*p++ = '[';
	*p++ = '1';
	for (int i = 1; i < depth; i++)
		*p++ = ']';
	*p++ = '}';
	*p = '\0';
	return s;
}

static void
test_parse_depth_limit(void **state)
{
	struct schema_error e;
	json_t *root = NULL;
	char *ok = nested(SCHEMA_MAX_DEPTH);
	char *deep = nested(SCHEMA_MAX_DEPTH + 1);
	char *very = nested(5000); /* past jansson's own limit too */

	assert_int_equal(schema_parse_json(ok, strlen(ok), 65536, &root, &e),
			 SA_OK);
	json_decref(root);
	expect_parse_fail(deep, strlen(deep), SA_ERR_VALIDATION,
			  "nested deeper than 16 levels");
	root = NULL;
	assert_int_not_equal(
	    schema_parse_json(very, strlen(very), 65536, &root, &e), SA_OK);
	assert_null(root);
	free(ok);
	free(deep);
	free(very);
}

/* ------------------------------------------------------------- fields */

static void
test_required_and_unknown(void **state)
{
	expect_ok(&all_schema, "{\"name\":\"ab\"}", 0);
	expect_fail(&all_schema, "{}", 0, "name", "is required");
	expect_fail(&all_schema, "{\"nam\":\"ab\"}", 0, "name", "is required");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"bogus\":1}", 0, "bogus",
		    "is not a known field");
	/* Declared fields first, then unknown members in document order. */
	expect_fail(&all_schema, "{\"bogus\":1,\"name\":5}", 0, "name",
		    "must be a string");
	expect_fail(&all_schema, "{\"zeta\":1,\"alpha\":2,\"name\":\"ab\"}", 0,
		    "zeta", "is not a known field");
	/* Case matters. */
	expect_fail(&all_schema, "{\"name\":\"ab\",\"Name\":\"ab\"}", 0, "Name",
		    "is not a known field");
}

static void
test_unknown_name_bounded(void **state)
{
	struct schema_error e;
	char body[1024];
	size_t n = 0;
	json_t *j;

	n += (size_t)sprintf(body, "{\"name\":\"ab\",\"");
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(body + n, "\xc3\xa9"); /* U+00E9 */
	sprintf(body + n, "\":1}");
	assert_int_equal(run(&all_schema, body, 0, &e), SA_ERR_VALIDATION);
	assert_string_equal(e.message, "is not a known field");
	assert_true(strlen(e.field) <= 64);
	assert_true(strlen(e.field) >= 62);
	assert_int_equal(strlen(e.field) % 2, 0); /* whole characters only */
	j = json_string(e.field);		  /* NULL if not valid UTF-8 */
	assert_non_null(j);
	json_decref(j);
}

static void
test_string_lengths(void **state)
{
	expect_fail(&all_schema, "{\"name\":\"a\"}", 0, "name",
		    "must be at least 2 bytes");
	expect_ok(&all_schema, "{\"name\":\"ab\"}", 0);
	expect_ok(&all_schema, "{\"name\":\"abcd\"}", 0);
	expect_fail(&all_schema, "{\"name\":\"abcde\"}", 0, "name",
		    "must be at most 4 bytes");
	/* Bytes, not characters: two e-acutes are four bytes. */
	expect_ok(&all_schema, "{\"name\":\"\\u00e9\\u00e9\"}", 0);
	expect_fail(&all_schema, "{\"name\":\"\\u00e9\\u00e9x\"}", 0, "name",
		    "must be at most 4 bytes");
	expect_fail(&all_schema, "{\"name\":[\"ab\"]}", 0, "name",
		    "must be a string");
	expect_fail(&all_schema, "{\"name\":null}", 0, "name",
		    "must be a string");
}

static void
test_string_nul_and_utf8(void **state)
{
	static const struct schema_field f =
	    SCHEMA_STRING("s", SCHEMA_REQUIRED, 1, 8, SCHEMA_FMT_NONE);
	struct schema_error e;

	/* jansson carries NUL when the string is built with a length. */
	assert_int_equal(value_result(&f, json_stringn("ab\0cd", 5), &e),
			 SA_ERR_VALIDATION);
	assert_string_equal(e.field, "s");
	assert_string_equal(e.message, "must not contain NUL characters");
	assert_int_equal(value_result(&f, json_stringn_nocheck("a\xff", 2), &e),
			 SA_ERR_VALIDATION);
	assert_string_equal(e.message, "must be valid UTF-8");
	assert_int_equal(value_result(&f, json_string("abc"), &e), SA_OK);
	assert_int_equal(schema_check_value(&f, NULL, "x.s", 0, &e),
			 SA_ERR_VALIDATION);
	assert_string_equal(e.field, "x.s");
	assert_string_equal(e.message, "is required");
}

static const struct schema_field req_null_fields[] = {
    SCHEMA_STRING("s", SCHEMA_REQUIRED | SCHEMA_NULLABLE, 1, 8,
		  SCHEMA_FMT_NONE),
    SCHEMA_END,
};
static const struct schema req_null_schema = {.fields = req_null_fields};

static void
test_nullable(void **state)
{
	const struct schema *s = &req_null_schema;

	expect_ok(&all_schema, "{\"name\":\"ab\",\"note\":null}", 0);
	expect_fail(&all_schema, "{\"name\":\"ab\",\"mode\":null}", 0, "mode",
		    "must be a string");
	/* Required and nullable: null counts as absent. */
	expect_fail(s, "{\"s\":null}", 0, "s", "is required");
	expect_ok(s, "{\"s\":\"v\"}", 0);
}

static void
test_integers(void **state)
{
	expect_fail(&all_schema, "{\"name\":\"ab\",\"count\":-6}", 0, "count",
		    "must be at least -5");
	expect_ok(&all_schema, "{\"name\":\"ab\",\"count\":-5}", 0);
	expect_ok(&all_schema, "{\"name\":\"ab\",\"count\":10}", 0);
	expect_fail(&all_schema, "{\"name\":\"ab\",\"count\":11}", 0, "count",
		    "must be at most 10");
	expect_ok(&all_schema, "{\"name\":\"ab\",\"count\":-0}", 0);
	expect_fail(&all_schema, "{\"name\":\"ab\",\"count\":1.0}", 0, "count",
		    "must be an integer");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"count\":1e1}", 0, "count",
		    "must be an integer");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"count\":\"5\"}", 0,
		    "count", "must be an integer");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"count\":true}", 0, "count",
		    "must be an integer");
	/* The whole json_int_t range, and one past it refused by the parser. */
	expect_ok(&all_schema, "{\"name\":\"ab\",\"big\":9223372036854775807}",
		  0);
	expect_ok(&all_schema, "{\"name\":\"ab\",\"big\":-9223372036854775808}",
		  0);
	expect_parse_fail("{\"big\":9223372036854775808}",
			  strlen("{\"big\":9223372036854775808}"),
			  SA_ERR_BAD_JSON, "too big");
	expect_parse_fail("{\"big\":-9223372036854775809}",
			  strlen("{\"big\":-9223372036854775809}"),
			  SA_ERR_BAD_JSON, "too big");
}

static void
test_booleans(void **state)
{
	expect_ok(&all_schema, "{\"name\":\"ab\",\"flag\":true}", 0);
	expect_ok(&all_schema, "{\"name\":\"ab\",\"flag\":false}", 0);
	expect_fail(&all_schema, "{\"name\":\"ab\",\"flag\":0}", 0, "flag",
		    "must be true or false");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"flag\":\"true\"}", 0,
		    "flag", "must be true or false");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"flag\":null}", 0, "flag",
		    "must be true or false");
}

static void
test_enums(void **state)
{
	/* Automatic: the value list is a compound literal. */
	const struct schema_field f =
	    SCHEMA_ENUM("mode", SCHEMA_REQUIRED, "fast", "slow");
	struct schema_error e;

	expect_ok(&all_schema, "{\"name\":\"ab\",\"mode\":\"fast\"}", 0);
	expect_ok(&all_schema, "{\"name\":\"ab\",\"mode\":\"slow\"}", 0);
	expect_fail(&all_schema, "{\"name\":\"ab\",\"mode\":\"Fast\"}", 0,
		    "mode", "must be one of fast, slow");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"mode\":\"fas\"}", 0,
		    "mode", "must be one of fast, slow");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"mode\":\"fastt\"}", 0,
		    "mode", "must be one of fast, slow");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"mode\":1}", 0, "mode",
		    "must be a string");
	/* "fast" followed by a NUL must not pass as "fast". */
	assert_int_equal(value_result(&f, json_stringn("fast\0", 5), &e),
			 SA_ERR_VALIDATION);
	assert_string_equal(e.message, "must not contain NUL characters");
}

static void
test_arrays(void **state)
{
	expect_fail(&all_schema, "{\"name\":\"ab\",\"list\":[\"a\"]}", 0,
		    "list", "must have at least 2 items");
	expect_ok(&all_schema, "{\"name\":\"ab\",\"list\":[\"a\",\"b\"]}", 0);
	expect_ok(&all_schema, "{\"name\":\"ab\",\"list\":[\"a\",\"b\",\"c\"]}",
		  0);
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"list\":[\"a\",\"b\",\"c\",\"d\"]}", 0,
		    "list", "must have at most 3 items");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"list\":[]}", 0, "list",
		    "must have at least 2 items");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"list\":\"a\"}", 0, "list",
		    "must be an array");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"list\":{}}", 0, "list",
		    "must be an array");
	/* Item errors name the item. */
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"list\":[\"a\",\"b\",\"a b\"]}", 0,
		    "list[2]", "must match format TOKEN");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"list\":[\"a\",\"abcd\"]}",
		    0, "list[1]", "must be at most 3 bytes");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"list\":[\"a\",7]}", 0,
		    "list[1]", "must be a string");
	/* Uniqueness. */
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"list\":[\"a\",\"b\",\"a\"]}", 0,
		    "list[2]", "repeats item 0");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"list\":[\"a\",\"a\"]}", 0,
		    "list[1]", "repeats item 0");
	/* Not unique: repeats allowed. */
	expect_ok(&all_schema,
		  "{\"name\":\"ab\",\"points\":[{\"x\":1},{\"x\":1}]}", 0);
	expect_ok(&all_schema, "{\"name\":\"ab\",\"points\":[]}", 0);
}

static void
test_nested_paths(void **state)
{
	expect_ok(&all_schema,
		  "{\"name\":\"ab\",\"device\":{\"key\":\"k1\",\"meta\":"
		  "{\"tags\":[\"x\",\"y\"]}}}",
		  0);
	expect_fail(&all_schema, "{\"name\":\"ab\",\"device\":{}}", 0,
		    "device.key", "is required");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"device\":{\"key\":\"k\"}}",
		    0, "device.key", "must be at least 2 bytes");
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"device\":{\"key\":\"k1\",\"x\":1}}", 0,
		    "device.x", "is not a known field");
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"device\":{\"key\":\"k1\",\"meta\":"
		    "{\"tags\":[\"x\",\"y z\"]}}}",
		    0, "device.meta.tags[1]", "must match format TOKEN");
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"device\":{\"key\":\"k1\",\"meta\":[]}}",
		    0, "device.meta", "must be an object");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"device\":\"k1\"}", 0,
		    "device", "must be an object");
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"points\":[{\"x\":1},{\"x\":2.5}]}", 0,
		    "points[1].x", "must be an integer");
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"points\":[{\"x\":1},{\"y\":2}]}", 0,
		    "points[1].x", "is required");
	/* A nested error comes before a later field's error. */
	expect_fail(&all_schema,
		    "{\"name\":\"ab\",\"device\":{\"key\":1},\"note\":\"\"}", 0,
		    "device.key", "must be a string");
}

static void
test_pattern(void **state)
{
	expect_ok(&all_schema, "{\"name\":\"ab\",\"alt\":\"a\"}", 0);
	expect_ok(&all_schema, "{\"name\":\"ab\",\"alt\":\"b\"}", 0);
	/* Anchored around the whole alternation, not ^a|b$. */
	expect_fail(&all_schema, "{\"name\":\"ab\",\"alt\":\"ab\"}", 0, "alt",
		    "must match pattern a|b");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"alt\":\"xa\"}", 0, "alt",
		    "must match pattern a|b");
	expect_fail(&all_schema, "{\"name\":\"ab\",\"alt\":\"a\\n\"}", 0, "alt",
		    "must match pattern a|b");
}

static void
test_bad_pattern_is_internal(void **state)
{
	static const struct schema_field fl[] = {
	    SCHEMA_STRING_RE("s", SCHEMA_REQUIRED, 1, 8, SCHEMA_FMT_NONE,
			     "a(b"),
	    SCHEMA_END,
	};
	static const struct schema s = {.fields = fl};
	struct schema_error e;

	assert_int_equal(run(&s, "{\"s\":\"ab\"}", 0, &e), SA_ERR_INTERNAL);
	assert_string_equal(e.field, "s");
	assert_int_equal(schema_lint(&s, &e), SA_ERR_INTERNAL);
	assert_string_equal(e.message, "has a pattern that does not compile");
}

static void
test_at_most_one_of(void **state)
{
	const char *base = "\"vdsData\":\"DE02ABCD\",\"publicKeyPem\":\"" PEM_OK
			   "\",\"deviceId\":\"dev-1\"";
	char body[1024];

	snprintf(body, sizeof(body), "{%s}", base);
	expect_ok(&enroll_schema, body, 0);
	snprintf(body, sizeof(body), "{%s,\"fcmToken\":\"abc:DEF_12-x\"}",
		 base);
	expect_ok(&enroll_schema, body, 0);
	snprintf(body, sizeof(body),
		 "{%s,\"pushEndpoint\":\"https://push.example/up/1\"}", base);
	expect_ok(&enroll_schema, body, 0);
	snprintf(body, sizeof(body),
		 "{%s,\"fcmToken\":\"abc\",\"pushEndpoint\":"
		 "\"https://push.example/up/1\"}",
		 base);
	expect_fail(&enroll_schema, body, 0, "pushEndpoint",
		    "must not be given together with fcmToken");
	/* A null that the field allows is absent, for the rule too. */
	snprintf(body, sizeof(body),
		 "{%s,\"fcmToken\":null,\"pushEndpoint\":"
		 "\"https://push.example/up/1\"}",
		 base);
	expect_ok(&enroll_schema, body, 0);
	/* Unknown members are reported before rules. */
	snprintf(body, sizeof(body),
		 "{%s,\"fcmToken\":\"abc\",\"pushEndpoint\":"
		 "\"https://push.example/up/1\",\"extra\":true}",
		 base);
	expect_fail(&enroll_schema, body, 0, "extra", "is not a known field");
	/* Field errors are reported before rules. */
	snprintf(body, sizeof(body),
		 "{%s,\"fcmToken\":\"a b\",\"pushEndpoint\":"
		 "\"https://push.example/up/1\"}",
		 base);
	expect_fail(&enroll_schema, body, 0, "fcmToken",
		    "must match pattern [A-Za-z0-9_.:-]+");
}

static void
test_exactly_one_of_and_hook(void **state)
{
	expect_ok(&target_schema, "{\"a\":\"x\"}", 0);
	expect_ok(&target_schema, "{\"c\":\"x\"}", 0);
	expect_fail(&target_schema, "{}", 0, "a",
		    "is required unless one of b, c is given");
	expect_fail(&target_schema, "{\"a\":\"x\",\"c\":\"y\"}", 0, "c",
		    "must not be given together with a");
	expect_ok(&target_schema,
		  "{\"b\":\"x\",\"window\":{\"from\":1,"
		  "\"to\":1}}",
		  0);
	expect_fail(&target_schema,
		    "{\"b\":\"x\",\"window\":{\"from\":2,\"to\":1}}", 0,
		    "window.to", "must not be before from");
	/* The nested object's rule runs while the object is checked, so it
	 * comes before the top-level unknown member. */
	expect_fail(&target_schema,
		    "{\"b\":\"x\",\"window\":{\"from\":2,\"to\":1},\"q\":1}", 0,
		    "window.to", "must not be before from");
	expect_fail(&target_schema, "{\"q\":1}", 0, "q",
		    "is not a known field");
}

static void
test_verify_schema(void **state)
{
	const char *ok =
	    "{\"sessionId\":\"sess_A1b2C3\",\"tokenId\":"
	    "\"DE-1234567\",\"otp\":\"961377\",\"timestamp\":"
	    "1700000000,\"decision\":\"approve\",\"grantedScopes\":"
	    "[\"identity:name\",\"identity:age_over_18\"],"
	    "\"signature\":\"MEUCIQDx\"}";

	expect_ok(&verify_schema, ok, 0);
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_A1b2C3\",\"tokenId\":\"t\",\"otp\":"
		    "\"96137\",\"timestamp\":1,\"decision\":\"approve\","
		    "\"grantedScopes\":[],\"signature\":\"AA==\"}",
		    0, "otp", "must be at least 6 bytes");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_A1b2C3\",\"tokenId\":\"t\",\"otp\":"
		    "\"96137a\",\"timestamp\":1,\"decision\":\"approve\","
		    "\"grantedScopes\":[],\"signature\":\"AA==\"}",
		    0, "otp", "must match format DIGITS");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_A1b2C3\",\"tokenId\":\"t\",\"otp\":"
		    "\"961377\",\"timestamp\":1700000000.5,\"decision\":"
		    "\"approve\",\"grantedScopes\":[],\"signature\":\"AA==\"}",
		    0, "timestamp", "must be an integer");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_A1b2C3\",\"tokenId\":\"t\",\"otp\":"
		    "\"961377\",\"timestamp\":-1,\"decision\":"
		    "\"approve\",\"grantedScopes\":[],\"signature\":\"AA==\"}",
		    0, "timestamp", "must be at least 0");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_A1b2C3\",\"tokenId\":\"t\",\"otp\":"
		    "\"961377\",\"timestamp\":1,\"decision\":\"approve\","
		    "\"grantedScopes\":[\"identity:name\",\"identity:Name\"],"
		    "\"signature\":\"AA==\"}",
		    0, "grantedScopes[1]", "must match format SCOPE");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_A1b2C3\",\"tokenId\":\"t\",\"otp\":"
		    "\"961377\",\"timestamp\":1,\"decision\":\"approve\","
		    "\"grantedScopes\":[\"identity:name\",\"identity:name\"],"
		    "\"signature\":\"AA==\"}",
		    0, "grantedScopes[1]", "repeats item 0");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"session1\",\"tokenId\":\"t\",\"otp\":"
		    "\"961377\",\"timestamp\":1,\"decision\":\"approve\","
		    "\"grantedScopes\":[],\"signature\":\"AA==\"}",
		    0, "sessionId", "must match pattern sess_[A-Za-z0-9_-]+");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_1\",\"tokenId\":\"t\",\"otp\":"
		    "\"961377\",\"timestamp\":1,\"decision\":\"maybe\","
		    "\"grantedScopes\":[],\"signature\":\"AA==\"}",
		    0, "decision", "must be one of approve, reject");
	expect_fail(&verify_schema,
		    "{\"sessionId\":\"sess_1\",\"tokenId\":\"t\",\"otp\":"
		    "\"961377\",\"timestamp\":1,\"decision\":\"reject\","
		    "\"grantedScopes\":[],\"signature\":\"AA=\"}",
		    0, "signature", "must match format BASE64");
	/* The first missing field in declared order is named. */
	expect_fail(&verify_schema, "{\"otp\":\"961377\"}", 0, "sessionId",
		    "is required");
}

/* ------------------------------------------------------------- formats */

static void
test_format_token_digits_hex(void **state)
{
	FMT_OK(SCHEMA_FMT_TOKEN, "aZ09._:-");
	FMT_OK(SCHEMA_FMT_TOKEN, "x");
	FMT_BAD(SCHEMA_FMT_TOKEN, "");
	FMT_BAD(SCHEMA_FMT_TOKEN, "a b");
	FMT_OK(SCHEMA_FMT_TOKEN, "a_b");
	FMT_BAD(SCHEMA_FMT_TOKEN, "a+b");
	FMT_BAD(SCHEMA_FMT_TOKEN, "a/b");
	FMT_BAD(SCHEMA_FMT_TOKEN, "\xc3\xa9");
	FMT_OK(SCHEMA_FMT_DIGITS, "0");
	FMT_OK(SCHEMA_FMT_DIGITS, "0123456789");
	FMT_BAD(SCHEMA_FMT_DIGITS, "");
	FMT_BAD(SCHEMA_FMT_DIGITS, "12a");
	FMT_BAD(SCHEMA_FMT_DIGITS, "-1");
	FMT_BAD(SCHEMA_FMT_DIGITS, " 1");
	FMT_BAD(SCHEMA_FMT_DIGITS, "\xef\xbc\x91"); /* fullwidth one */
	FMT_OK(SCHEMA_FMT_HEX, "00");
	FMT_OK(SCHEMA_FMT_HEX, "aF09bc");
	FMT_BAD(SCHEMA_FMT_HEX, "");
	FMT_BAD(SCHEMA_FMT_HEX, "0");
	FMT_BAD(SCHEMA_FMT_HEX, "abc");
	FMT_BAD(SCHEMA_FMT_HEX, "0g");
	FMT_BAD(SCHEMA_FMT_HEX, "0x00");
}

static void
test_format_base64(void **state)
{
	FMT_OK(SCHEMA_FMT_BASE64, "AAAA");
	FMT_OK(SCHEMA_FMT_BASE64, "AAA=");
	FMT_OK(SCHEMA_FMT_BASE64, "AA==");
	FMT_OK(SCHEMA_FMT_BASE64, "AAA");
	FMT_OK(SCHEMA_FMT_BASE64, "AA");
	FMT_OK(SCHEMA_FMT_BASE64, "YWJj+/9z");
	FMT_BAD(SCHEMA_FMT_BASE64, "");
	FMT_BAD(SCHEMA_FMT_BASE64, "A");
	FMT_BAD(SCHEMA_FMT_BASE64, "AAAAA");
	FMT_BAD(SCHEMA_FMT_BASE64, "AA=");
	FMT_BAD(SCHEMA_FMT_BASE64, "A===");
	FMT_BAD(SCHEMA_FMT_BASE64, "=");
	FMT_BAD(SCHEMA_FMT_BASE64, "====");
	FMT_BAD(SCHEMA_FMT_BASE64, "AA==AA==");
	FMT_BAD(SCHEMA_FMT_BASE64, "AB==");  /* bits left over */
	FMT_BAD(SCHEMA_FMT_BASE64, "AAB=");  /* bits left over */
	FMT_BAD(SCHEMA_FMT_BASE64, "AA-_");  /* URL alphabet */
	FMT_BAD(SCHEMA_FMT_BASE64, "AA AA"); /* whitespace */
	FMT_BAD(SCHEMA_FMT_BASE64, "AAAA\n");
	FMT_OK(SCHEMA_FMT_BASE64URL, "AA");
	FMT_OK(SCHEMA_FMT_BASE64URL, "AAA");
	FMT_OK(SCHEMA_FMT_BASE64URL, "-_-_");
	FMT_BAD(SCHEMA_FMT_BASE64URL, "");
	FMT_BAD(SCHEMA_FMT_BASE64URL, "A");
	FMT_BAD(SCHEMA_FMT_BASE64URL, "AA==");
	FMT_BAD(SCHEMA_FMT_BASE64URL, "+/+/");
	FMT_BAD(SCHEMA_FMT_BASE64URL, "AB");
}

static void
test_format_seal_text(void **state)
{
	FMT_OK(SCHEMA_FMT_SEAL_TEXT, "3q2+7w==");	 /* base64 */
	FMT_OK(SCHEMA_FMT_SEAL_TEXT, "NF7 $%*+-./:AB9"); /* base45 */
	FMT_OK(SCHEMA_FMT_SEAL_TEXT, "NBSWY3DP======");	 /* base32 */
	FMT_OK(SCHEMA_FMT_SEAL_TEXT, "de02abcdef");	 /* hex */
	FMT_BAD(SCHEMA_FMT_SEAL_TEXT, "");
	FMT_BAD(SCHEMA_FMT_SEAL_TEXT, "a_b");
	FMT_BAD(SCHEMA_FMT_SEAL_TEXT, "a\tb");
	FMT_BAD(SCHEMA_FMT_SEAL_TEXT, "a\nb");
	FMT_BAD(SCHEMA_FMT_SEAL_TEXT, "a#b");
	FMT_BAD(SCHEMA_FMT_SEAL_TEXT, "\xc3\xa9");
}

static void
test_format_pem(void **state)
{
	FMT_OK(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw\nEw==\n"
			       "-----END PUBLIC KEY-----\n");
	FMT_OK(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw\n"
			       "-----END PUBLIC KEY-----");
	FMT_OK(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\r\nMFkw\r\n"
			       "-----END PUBLIC KEY-----\r\n");
	FMT_BAD(SCHEMA_FMT_PEM, "");
	FMT_BAD(SCHEMA_FMT_PEM, "MFkw");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\n"
				"-----END PUBLIC KEY-----\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PRIVATE KEY-----\nMFkw\n"
				"-----END PRIVATE KEY-----\n");
	FMT_BAD(SCHEMA_FMT_PEM, " -----BEGIN PUBLIC KEY-----\nMFkw\n"
				"-----END PUBLIC KEY-----\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----MFkw\n"
				"-----END PUBLIC KEY-----\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw\n\n"
				"-----END PUBLIC KEY-----\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMF kw\n"
				"-----END PUBLIC KEY-----\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw"
				"-----END PUBLIC KEY-----\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw\n"
				"-----END PUBLIC KEY-----\n\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw\n"
				"-----END PUBLIC KEY-----\nMFkw\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw\n");
	FMT_BAD(SCHEMA_FMT_PEM, "-----BEGIN PUBLIC KEY-----\nMFkw\r"
				"-----END PUBLIC KEY-----");
}

static void
test_format_https_url(void **state)
{
	char url[SCHEMA_URL_MAX + 2];

	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://push.example.com/up/abc?x=1#f");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://a");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://h.example:8443/p");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://h.example:1/");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://h.example:65535/");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://[2001:db8::1]:443/x");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "HTTPS://Example.com/");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://h/%41%2f");
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://h?q");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https:///path");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "http://example.com/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "ftp://example.com/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "//example.com/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://user@h/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://user:pw@h/");
	/* An '@' after the authority is path, not userinfo. */
	FMT_OK(SCHEMA_FMT_HTTPS_URL, "https://h/a@b");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://a@h/a@b");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https:// h/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h/a b");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h/a\tb");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h/\xc3\xa9");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h\\@evil/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h:0/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h:65536/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h:/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h:123456/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://-h/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h-/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h_x/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://a..b/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://[::1/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://[zz::1]/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://[::1]x/");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h/%zz");
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, "https://h/%4");
	/* Length: SCHEMA_URL_MAX bytes pass, one more does not. */
	memset(url, 'a', sizeof(url));
	memcpy(url, "https://h/", 10);
	url[SCHEMA_URL_MAX] = '\0';
	FMT_OK(SCHEMA_FMT_HTTPS_URL, url);
	url[SCHEMA_URL_MAX] = 'a';
	url[SCHEMA_URL_MAX + 1] = '\0';
	FMT_BAD(SCHEMA_FMT_HTTPS_URL, url);
}

static void
test_format_https_url_loopback(void **state)
{
	const unsigned int lb = SCHEMA_LOOPBACK_HTTP;

	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://127.0.0.1:8080/up", 0, 0);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://127.0.0.1:8080/up", lb, 1);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://localhost/up", lb, 1);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://LOCALHOST:9/", lb, 1);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://[::1]:9000/x", lb, 1);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://[::1]", lb, 1);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "https://push.example/x", lb, 1);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://127.0.0.2/", lb, 0);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://example.com/", lb, 0);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://localhost.evil.example/", lb,
		   0);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://user@localhost/", lb, 0);
	fmt_expect(SCHEMA_FMT_HTTPS_URL, "http://[::2]/", lb, 0);
	/* Through a schema, the flag comes from the caller. */
	expect_fail(&enroll_schema,
		    "{\"vdsData\":\"AA\",\"publicKeyPem\":\"" PEM_OK
		    "\",\"deviceId\":\"d\",\"pushEndpoint\":"
		    "\"http://127.0.0.1:1/\"}",
		    0, "pushEndpoint", "must match format HTTPS_URL");
	expect_ok(&enroll_schema,
		  "{\"vdsData\":\"AA\",\"publicKeyPem\":\"" PEM_OK
		  "\",\"deviceId\":\"d\",\"pushEndpoint\":"
		  "\"http://127.0.0.1:1/\"}",
		  lb);
}

static void
test_format_scope_origin(void **state)
{
	FMT_OK(SCHEMA_FMT_SCOPE, "identity:name");
	FMT_OK(SCHEMA_FMT_SCOPE, "identity:age_over_18");
	FMT_OK(SCHEMA_FMT_SCOPE, "identity:x");
	FMT_BAD(SCHEMA_FMT_SCOPE, "identity:");
	FMT_BAD(SCHEMA_FMT_SCOPE, "identity:Name");
	FMT_BAD(SCHEMA_FMT_SCOPE, "identity:na-me");
	FMT_BAD(SCHEMA_FMT_SCOPE, "identity:na me");
	FMT_BAD(SCHEMA_FMT_SCOPE, "Identity:name");
	FMT_BAD(SCHEMA_FMT_SCOPE, "identityname");
	FMT_BAD(SCHEMA_FMT_SCOPE, "openid");
	FMT_BAD(SCHEMA_FMT_SCOPE, "");
	FMT_OK(SCHEMA_FMT_ORIGIN, "https://rp.example.com");
	FMT_OK(SCHEMA_FMT_ORIGIN, "https://rp.example.com:8443");
	FMT_OK(SCHEMA_FMT_ORIGIN, "http://localhost:3000");
	FMT_OK(SCHEMA_FMT_ORIGIN, "https://[::1]:8443");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://rp.example.com/");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://rp.example.com/path");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://rp.example.com?q");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://rp.example.com#f");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://RP.example.com");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "HTTPS://rp.example.com");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "ftp://rp.example.com");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://u@rp.example.com");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://rp.example.com:0");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "https://rp.example.com:");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "null");
	FMT_BAD(SCHEMA_FMT_ORIGIN, "*");
}

static void
test_format_iso_date(void **state)
{
	FMT_OK(SCHEMA_FMT_ISO_DATE, "2024-02-29");
	FMT_OK(SCHEMA_FMT_ISO_DATE, "2000-02-29");
	FMT_OK(SCHEMA_FMT_ISO_DATE, "2023-02-28");
	FMT_OK(SCHEMA_FMT_ISO_DATE, "2023-12-31");
	FMT_OK(SCHEMA_FMT_ISO_DATE, "2023-04-30");
	FMT_OK(SCHEMA_FMT_ISO_DATE, "0001-01-01");
	FMT_OK(SCHEMA_FMT_ISO_DATE, "9999-12-31");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-02-29");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "1900-02-29");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2024-02-30");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-04-31");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-12-32");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-13-01");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-00-10");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-01-00");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "0000-01-01");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-4-01");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023/01/01");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "20230101");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "2023-01-01T00:00:00Z");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "+023-01-01");
	FMT_BAD(SCHEMA_FMT_ISO_DATE, "");
}

static void
test_format_printable(void **state)
{
	FMT_OK(SCHEMA_FMT_PRINTABLE, "Ana Mar\xc3\xad"
				     "a");
	FMT_OK(SCHEMA_FMT_PRINTABLE, "\xe6\x97\xa5\xe6\x9c\xac");
	FMT_OK(SCHEMA_FMT_PRINTABLE, " ~!");
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "");
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\tb");
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\nb");
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\x1f");
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\x7f");
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\xc2\x85"); /* NEL, C1 */
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\xc2\x9f"); /* C1 */
	FMT_OK(SCHEMA_FMT_PRINTABLE, "a\xc2\xa0");  /* NBSP is text */
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\xe2\x80\xae"
				      "b"); /* RLO */
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\xe2\x81\xa6"
				      "b");		/* LRI */
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\xe2\x80\xa8"); /* LSEP */
	FMT_BAD(SCHEMA_FMT_PRINTABLE, "a\xff");
}

static void
test_format_names_in_messages(void **state)
{
	static const enum schema_format fmts[] = {
	    SCHEMA_FMT_TOKEN,  SCHEMA_FMT_DIGITS,    SCHEMA_FMT_HEX,
	    SCHEMA_FMT_BASE64, SCHEMA_FMT_BASE64URL, SCHEMA_FMT_SEAL_TEXT,
	    SCHEMA_FMT_PEM,    SCHEMA_FMT_HTTPS_URL, SCHEMA_FMT_SCOPE,
	    SCHEMA_FMT_ORIGIN, SCHEMA_FMT_ISO_DATE,  SCHEMA_FMT_PRINTABLE,
	};
	static const char *const names[] = {
	    "TOKEN", "DIGITS",	  "HEX",   "BASE64", "BASE64URL", "SEAL_TEXT",
	    "PEM",   "HTTPS_URL", "SCOPE", "ORIGIN", "ISO_DATE",  "PRINTABLE",
	};
	struct schema_field f =
	    SCHEMA_STRING("v", SCHEMA_REQUIRED, 1, 64, SCHEMA_FMT_NONE);
	struct schema_error e;
	char want[64];

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		f.format = fmts[i];
		/* A tab is in none of the formats. */
		assert_int_equal(value_result(&f, json_string("\t"), &e),
				 SA_ERR_VALIDATION);
		snprintf(want, sizeof(want), "must match format %s", names[i]);
		assert_string_equal(e.message, want);
		assert_string_equal(schema_format_name(fmts[i]), names[i]);
	}
}

/* ------------------------------------------------------------- misc */

static void
test_error_json(void **state)
{
	struct schema_error e;
	json_t *j;

	assert_int_equal(run(&all_schema, "{\"name\":\"abcdef\"}", 0, &e),
			 SA_ERR_VALIDATION);
	j = schema_error_json(&e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "error")),
			    "validation");
	assert_string_equal(json_string_value(json_object_get(j, "field")),
			    "name");
	assert_string_equal(json_string_value(json_object_get(j, "message")),
			    "must be at most 4 bytes");
	assert_int_equal(json_object_size(j), 3);
	json_decref(j);
}

static void
test_lint(void **state)
{
	static const struct schema_field bad_len[] = {
	    SCHEMA_STRING("s", SCHEMA_REQUIRED, 5, 4, SCHEMA_FMT_NONE),
	    SCHEMA_END,
	};
	static const struct schema_field unbounded[] = {
	    SCHEMA_STRING("s", SCHEMA_REQUIRED, 0, 0, SCHEMA_FMT_NONE),
	    SCHEMA_END,
	};
	static const struct schema_field twice[] = {
	    SCHEMA_BOOLEAN("b", 0),
	    SCHEMA_BOOLEAN("b", 0),
	    SCHEMA_END,
	};
	static const struct schema_field int_rev[] = {
	    SCHEMA_INTEGER("i", 0, 5, 4),
	    SCHEMA_END,
	};
	static const struct schema_field no_items[] = {
	    SCHEMA_ARRAY("a", 0, 0, 4, NULL),
	    SCHEMA_END,
	};
	const struct schema_rule bad_rule[] = {
	    SCHEMA_AT_MOST_ONE_OF("b", "nope"),
	    SCHEMA_RULES_END,
	};
	static const struct schema_field one_b[] = {
	    SCHEMA_BOOLEAN("b", 0),
	    SCHEMA_END,
	};
	const struct schema bad[] = {
	    {.fields = bad_len},  {.fields = unbounded},
	    {.fields = twice},	  {.fields = int_rev},
	    {.fields = no_items}, {.fields = one_b, .rules = bad_rule},
	};
	struct schema_error e;

	assert_int_equal(schema_lint(&enroll_schema, &e), SA_OK);
	assert_int_equal(schema_lint(&verify_schema, &e), SA_OK);
	assert_int_equal(schema_lint(&all_schema, &e), SA_OK);
	assert_int_equal(schema_lint(&target_schema, &e), SA_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (schema_lint(&bad[i], &e) != SA_ERR_INTERNAL)
			fail_msg("bad schema %zu passed lint", i);
		assert_int_equal(e.code, SA_ERR_INTERNAL);
		assert_true(e.message[0] != '\0');
	}
	schema_lint(&bad[5], &e);
	assert_string_equal(e.message, "has a rule naming unknown field nope");
}

/* Several threads compile and use patterns at once. */
static void *
pattern_worker(void *arg)
{
	long failures = 0;

	for (int i = 0; i < 200; i++) {
		struct schema_error e;
		if (run(&verify_schema,
			"{\"sessionId\":\"sess_x\",\"tokenId\":\"t\",\"otp\":"
			"\"961377\",\"timestamp\":1,\"decision\":\"reject\","
			"\"grantedScopes\":[],\"signature\":\"AA==\"}",
			0, &e) != SA_OK)
			failures++;
		if (run(&all_schema, "{\"name\":\"ab\",\"alt\":\"ab\"}", 0,
			&e) != SA_ERR_VALIDATION)
			failures++;
	}
	return (void *)failures;
}

static void
test_pattern_cache_threads(void **state)
{
	pthread_t t[4];
	void *res;

	schema_cache_free(); /* start cold so the threads race to compile */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, pattern_worker, NULL), 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_int_equal((long)res, 0);
	}
}

static int
teardown_group(void **state)
{
	schema_cache_free();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_object),
	    cmocka_unit_test(test_parse_size_limit),
	    cmocka_unit_test(test_parse_duplicate_keys),
	    cmocka_unit_test(test_parse_trailing_garbage),
	    cmocka_unit_test(test_parse_error_position),
	    cmocka_unit_test(test_parse_nul_in_string),
	    cmocka_unit_test(test_parse_root_not_object),
	    cmocka_unit_test(test_parse_bad_utf8),
	    cmocka_unit_test(test_parse_depth_limit),
	    cmocka_unit_test(test_required_and_unknown),
	    cmocka_unit_test(test_unknown_name_bounded),
	    cmocka_unit_test(test_string_lengths),
	    cmocka_unit_test(test_string_nul_and_utf8),
	    cmocka_unit_test(test_nullable),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_booleans),
	    cmocka_unit_test(test_enums),
	    cmocka_unit_test(test_arrays),
	    cmocka_unit_test(test_nested_paths),
	    cmocka_unit_test(test_pattern),
	    cmocka_unit_test(test_bad_pattern_is_internal),
	    cmocka_unit_test(test_at_most_one_of),
	    cmocka_unit_test(test_exactly_one_of_and_hook),
	    cmocka_unit_test(test_verify_schema),
	    cmocka_unit_test(test_format_token_digits_hex),
	    cmocka_unit_test(test_format_base64),
	    cmocka_unit_test(test_format_seal_text),
	    cmocka_unit_test(test_format_pem),
	    cmocka_unit_test(test_format_https_url),
	    cmocka_unit_test(test_format_https_url_loopback),
	    cmocka_unit_test(test_format_scope_origin),
	    cmocka_unit_test(test_format_iso_date),
	    cmocka_unit_test(test_format_printable),
	    cmocka_unit_test(test_format_names_in_messages),
	    cmocka_unit_test(test_error_json),
	    cmocka_unit_test(test_lint),
	    cmocka_unit_test(test_pattern_cache_threads),
	};

	return cmocka_run_group_tests(tests, NULL, teardown_group);
}
