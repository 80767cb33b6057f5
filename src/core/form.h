/*
 * form.h - the one application/x-www-form-urlencoded parser: form bodies
 * and query strings split into name=value fields, each decoded and bounded,
 * names unique, the still-encoded value kept for signatures computed over
 * the octets as they were sent.
 */
#ifndef SEALAUTH_FORM_H
#define SEALAUTH_FORM_H

#include <stddef.h>

#include "core/errors.h"

#define FORM_FIELDS_MAX 32 /* the most fields any caller may keep */

/* The bounds one caller puts on a form; each is a number of bytes except
 * fields_max (at most FORM_FIELDS_MAX). */
struct form_limits {
	size_t text_max;   /* the whole text */
	size_t fields_max; /* fields, empty pairs ("a=1&&b=2") not counted */
	size_t name_max;   /* one decoded name */
	size_t value_max;  /* one decoded value */
};

/*
 * One field. name and value are decoded ('+' as a space, %XX escapes), end
 * in a NUL and hold no other; raw points at the value as it stands in the
 * parsed text (still encoded, not NUL-terminated), or is NULL for a field
 * added by form_add: it lives only as long as that text.
 */
struct form_field {
	char *name;
	char *value;
	const char *raw;
	size_t raw_len;
};

/* The fields of one form in the order they came. Start from {0}; free with
 * form_free whatever the outcome of the calls that filled it. */
struct form {
	size_t n;
	struct form_field field[FORM_FIELDS_MAX];
};

/*
 * form_parse splits the n bytes of text ('&'-separated name=value pairs; a
 * pair without '=' has an empty value; an empty pair is skipped) and adds
 * each field to f as form_add does, keeping a pointer to its raw value.
 * Refused: a text over lim->text_max (SA_ERR_BODY_TOO_LARGE); a malformed
 * escape, or one that decodes to a NUL byte, and whatever form_add refuses
 * (SA_ERR_VALIDATION). why says which field and why. On failure f holds the
 * fields before the bad one.
 */
enum sa_err form_parse(struct form *f, const char *text, size_t n,
		       const struct form_limits *lim, char *why, size_t whylen);

/*
 * form_add adds one decoded field (both strings copied; value NULL is
 * empty). Refused with SA_ERR_VALIDATION: an empty name, a name or value
 * over its bound or not UTF-8, a name already present (which of two values
 * would count?), more than lim->fields_max fields.
 */
enum sa_err form_add(struct form *f, const char *name, const char *value,
		     const struct form_limits *lim, char *why, size_t whylen);

/* form_find returns the field called name, or NULL. */
const struct form_field *form_find(const struct form *f, const char *name);

/* form_get returns the decoded value of name (possibly empty), or NULL. */
const char *form_get(const struct form *f, const char *name);

/* form_free wipes every value (they may be secrets) and frees the fields;
 * f is empty afterwards. */
void form_free(struct form *f);

#endif
