/*
 * schema.h - declarative validation of JSON request bodies.
 *
 * Every endpoint declares the shape of its body as a static table of fields
 * and the HTTP layer checks the parsed body against it before any handler
 * runs. A failed check names the offending field by its path ("scopes[2]",
 * "device.key") and says why in a short English predicate ("must be at most
 * 64 bytes"), so the answer can be 400 {"error":"validation","message",
 * "field"}.
 *
 *	static const struct schema_field scope_item =
 *		SCHEMA_STRING(NULL, 0, 10, 64, SCHEMA_FMT_SCOPE);
 *	static const struct schema_field initiate_fields[] = {
 *		SCHEMA_STRING("tokenId", SCHEMA_REQUIRED, 1, 64,
 *SCHEMA_FMT_TOKEN), SCHEMA_STRING("serviceId", SCHEMA_REQUIRED, 1, 64,
 *SCHEMA_FMT_TOKEN), SCHEMA_ARRAY("scopes", SCHEMA_REQUIRED | SCHEMA_UNIQUE, 1,
 *32, &scope_item), SCHEMA_END,
 *	};
 *	static const struct schema initiate_schema = {
 *		.fields = initiate_fields,
 *	};
 *
 * Tables are read-only and may be shared by any number of threads. The
 * formats are documented exactly in docs/validation.md.
 */
#ifndef SEALAUTH_SCHEMA_H
#define SEALAUTH_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

#include "core/errors.h"

/* Deepest nesting of arrays and objects schema_parse_json accepts. */
#define SCHEMA_MAX_DEPTH 16
/* Longest field path and message kept in a struct schema_error. */
#define SCHEMA_PATH_MAX 192
#define SCHEMA_MSG_MAX 192
/* Longest HTTPS_URL accepted whatever the field's own bound is. */
#define SCHEMA_URL_MAX 2048

enum schema_type {
	SCHEMA_T_NONE = 0, /* ends a field list */
	SCHEMA_T_STRING = 1,
	SCHEMA_T_INTEGER = 2,
	SCHEMA_T_BOOLEAN = 3,
	SCHEMA_T_ARRAY = 4,
	SCHEMA_T_OBJECT = 5,
	SCHEMA_T_ENUM = 6, /* a string out of a fixed list */
};

enum schema_format {
	SCHEMA_FMT_NONE = 0,
	SCHEMA_FMT_TOKEN = 1,	   /* [A-Za-z0-9._:-]+ */
	SCHEMA_FMT_DIGITS = 2,	   /* [0-9]+ */
	SCHEMA_FMT_HEX = 3,	   /* pairs of [0-9A-Fa-f] */
	SCHEMA_FMT_BASE64 = 4,	   /* standard alphabet, padding optional */
	SCHEMA_FMT_BASE64URL = 5,  /* URL-safe alphabet, no padding */
	SCHEMA_FMT_SEAL_TEXT = 6,  /* base64, base45, base32 or hex text */
	SCHEMA_FMT_PEM = 7,	   /* one PEM "PUBLIC KEY" block */
	SCHEMA_FMT_HTTPS_URL = 8,  /* https:// URL, see SCHEMA_LOOPBACK_HTTP */
	SCHEMA_FMT_SCOPE = 9,	   /* identity:[a-z0-9_]+ */
	SCHEMA_FMT_ORIGIN = 10,	   /* scheme://host[:port], no path */
	SCHEMA_FMT_ISO_DATE = 11,  /* YYYY-MM-DD, a real calendar date */
	SCHEMA_FMT_PRINTABLE = 12, /* UTF-8 text without control characters */
};

/* Field flags. */
#define SCHEMA_OPTIONAL 0x0u
#define SCHEMA_REQUIRED 0x1u /* the member must be present */
#define SCHEMA_UNIQUE 0x2u   /* arrays: no two items may be equal */
#define SCHEMA_NULLABLE 0x4u /* null is accepted and means absent */

/* Validation flags, chosen at run time from configuration. */
#define SCHEMA_LOOPBACK_HTTP 0x1u /* HTTPS_URL also takes http://loopback */

struct schema;
struct schema_error;

/*
 * One member of an object, or the description of an array's items (whose
 * name is then ignored). min_len/max_len bound a string's length in bytes or
 * an array's item count; min/max bound an integer, inclusive. pattern is an
 * optional POSIX extended regular expression that must match the whole
 * string. enum_values is a NULL-terminated list. Use the macros below rather
 * than filling this in by hand.
 */
struct schema_field {
	const char *name;
	enum schema_type type;
	unsigned int flags;
	size_t min_len;
	size_t max_len;
	json_int_t min;
	json_int_t max;
	enum schema_format format;
	const char *pattern;
	const char *const *enum_values;
	const struct schema_field *items;
	const struct schema *object;
};

enum schema_rule_kind {
	SCHEMA_RULE_NONE = 0, /* ends a rule list */
	SCHEMA_RULE_AT_MOST_ONE_OF = 1,
	SCHEMA_RULE_EXACTLY_ONE_OF = 2,
	SCHEMA_RULE_CHECK = 3,
};

/*
 * A rule across the members of one object, checked after every field of the
 * object passed. names is a NULL-terminated list. check is called with the
 * object; it returns SA_OK, or SA_ERR_VALIDATION after filling the error
 * with schema_error_set (the field it names is relative to the object).
 */
struct schema_rule {
	enum schema_rule_kind kind;
	const char *const *names;
	enum sa_err (*check)(const json_t *obj, struct schema_error *err);
};

/* An object: its fields (ended by SCHEMA_END) and optional rules (ended by
 * SCHEMA_RULES_END). Members not in fields are refused. */
struct schema {
	const struct schema_field *fields;
	const struct schema_rule *rules;
};

/*
 * What went wrong: code is SA_ERR_VALIDATION, SA_ERR_BAD_JSON,
 * SA_ERR_BODY_TOO_LARGE or SA_ERR_INTERNAL; field is the path of the
 * offending member ("" for the body itself), always valid UTF-8; message a
 * predicate about it.
 */
struct schema_error {
	enum sa_err code;
	char field[SCHEMA_PATH_MAX];
	char message[SCHEMA_MSG_MAX];
};

#define SCHEMA_STRING(n, fl, lo, hi, fmt)                                      \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_STRING, .flags = (fl),           \
		.min_len = (lo), .max_len = (hi), .format = (fmt)              \
	}
#define SCHEMA_STRING_RE(n, fl, lo, hi, fmt, re)                               \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_STRING, .flags = (fl),           \
		.min_len = (lo), .max_len = (hi), .format = (fmt),             \
		.pattern = (re)                                                \
	}
#define SCHEMA_INTEGER(n, fl, lo, hi)                                          \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_INTEGER, .flags = (fl),          \
		.min = (lo), .max = (hi)                                       \
	}
#define SCHEMA_BOOLEAN(n, fl)                                                  \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_BOOLEAN, .flags = (fl)           \
	}
/* SCHEMA_ENUM("decision", SCHEMA_REQUIRED, "approve", "reject"); at file
 * scope only, since the list is a compound literal. */
#define SCHEMA_ENUM(n, fl, ...)                                                \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_ENUM, .flags = (fl),             \
		.enum_values = (const char *const[])                           \
		{                                                              \
			__VA_ARGS__, NULL                                      \
		}                                                              \
	}
#define SCHEMA_ARRAY(n, fl, lo, hi, item)                                      \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_ARRAY, .flags = (fl),            \
		.min_len = (lo), .max_len = (hi), .items = (item)              \
	}
/*
 * SCHEMA_OPAQUE_OBJECT accepts any JSON object of at most 64 KiB (as
 * serialised) without looking inside: for settings another module validates
 * with its own schema (a relying party's OpenID Connect or SAML settings).
 */
#define SCHEMA_OPAQUE_OBJECT(n, fl)                                            \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_OBJECT, .flags = (fl),           \
		.object = NULL, .max_len = 65536                               \
	}
#define SCHEMA_OBJECT(n, fl, sub)                                              \
	{                                                                      \
		.name = (n), .type = SCHEMA_T_OBJECT, .flags = (fl),           \
		.object = (sub)                                                \
	}
#define SCHEMA_END                                                             \
	{                                                                      \
		.name = NULL, .type = SCHEMA_T_NONE                            \
	}

/* Rules; at file scope only, since the name lists are compound literals. */
#define SCHEMA_AT_MOST_ONE_OF(...)                                             \
	{                                                                      \
		.kind = SCHEMA_RULE_AT_MOST_ONE_OF,                            \
		.names = (const char *const[])                                 \
		{                                                              \
			__VA_ARGS__, NULL                                      \
		}                                                              \
	}
#define SCHEMA_EXACTLY_ONE_OF(...)                                             \
	{                                                                      \
		.kind = SCHEMA_RULE_EXACTLY_ONE_OF,                            \
		.names = (const char *const[])                                 \
		{                                                              \
			__VA_ARGS__, NULL                                      \
		}                                                              \
	}
#define SCHEMA_CHECK(fn)                                                       \
	{                                                                      \
		.kind = SCHEMA_RULE_CHECK, .check = (fn)                       \
	}
#define SCHEMA_RULES_END                                                       \
	{                                                                      \
		.kind = SCHEMA_RULE_NONE                                       \
	}

/*
 * schema_parse_json parses a request body of n bytes (at most max) into a
 * JSON object. Duplicate keys, trailing bytes after the value, \u0000 in
 * strings, a root that is not an object and nesting deeper than
 * SCHEMA_MAX_DEPTH are refused. On success *out holds a new reference the
 * caller releases with json_decref. On failure *out is untouched and err
 * (if not NULL) says why; a syntax error's message carries its line and
 * column.
 */
enum sa_err schema_parse_json(const char *body, size_t n, size_t max,
			      json_t **out, struct schema_error *err);

/*
 * schema_validate checks a parsed object against a schema: fields in their
 * declared order (nested members depth first), then members the schema does
 * not know, then the object's rules. The first failure wins and is written
 * to err (if not NULL). vflags is a set of SCHEMA_LOOPBACK_HTTP. Returns
 * SA_OK, SA_ERR_VALIDATION, or SA_ERR_INTERNAL when the schema itself is
 * broken (a pattern that does not compile). Nothing is allocated except the
 * compiled patterns, which are cached for the life of the process.
 */
enum sa_err schema_validate(const struct schema *s, const json_t *root,
			    unsigned int vflags, struct schema_error *err);

/*
 * schema_check_value checks one value against one field description (the
 * field's name is used as the path when path is NULL). It is what
 * schema_validate applies to each member.
 */
enum sa_err schema_check_value(const struct schema_field *f, const json_t *v,
			       const char *path, unsigned int vflags,
			       struct schema_error *err);

/*
 * schema_lint checks a schema definition once, at start-up or in a test:
 * bounds in order, every string and array bounded, patterns compile, rule
 * names declared. Returns SA_OK or SA_ERR_INTERNAL with err saying what.
 */
enum sa_err schema_lint(const struct schema *s, struct schema_error *err);

/*
 * schema_format_check tells whether the n bytes of s are in the format
 * (1) or not (0). SCHEMA_FMT_NONE accepts everything.
 */
int schema_format_check(enum schema_format fmt, const char *s, size_t n,
			unsigned int vflags);

/* schema_format_name returns the upper-case name of a format ("TOKEN"). */
const char *schema_format_name(enum schema_format fmt);

/*
 * schema_error_set fills err (which may be NULL) with SA_ERR_VALIDATION,
 * the field path and a printf-formatted message, both truncated to fit on
 * a UTF-8 character boundary. For rule checks.
 */
void schema_error_set(struct schema_error *err, const char *field,
		      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * schema_error_json builds the 400 body {"error", "message", "field"} for
 * an error (a new reference; NULL when out of memory). "field" is left out
 * when the error is about the body as a whole.
 */
json_t *schema_error_json(const struct schema_error *err);

/*
 * schema_copy_string copies a JSON string of fewer than cap bytes into out
 * (NUL-terminated): 1, or 0 when v is no string or too long (out is then
 * untouched). For reading back records the server wrote.
 */
int schema_copy_string(const json_t *v, char *out, size_t cap);

/*
 * schema_cache_free releases the compiled patterns. Only for orderly exit
 * and tests: no other thread may be validating.
 */
void schema_cache_free(void);

#endif
