/*
 * schema.c - declarative validation of JSON request bodies.
 *
 * The validator walks a static description (schema.h) alongside a parsed
 * jansson value. It allocates nothing per request: field paths are built in
 * a fixed buffer on the stack and the first failure is written into the
 * caller's struct schema_error. Regular expressions are compiled once, on
 * first use, into a process-wide cache that readers walk without a lock.
 * The string formats (SCHEMA_FMT_*) are checked in schema_format.c.
 */
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_in.h"
#include "core/schema.h"
#include "core/util.h"

/* Longest pattern source accepted, and most distinct patterns cached. */
#define PATTERN_SRC_MAX 1024
#define PATTERN_MAX 256
/* Longest unknown member name echoed back in a path. */
#define UNKNOWN_NAME_MAX 64

/* ---------------------------------------------------------------- UTF-8 */

/*
 * utf8_append copies at most n bytes of src to the NUL-terminated string
 * dst (capacity cap), stopping at a NUL, at limit copied bytes, or where the
 * next character would not fit. Bytes that are not UTF-8 become '?', so dst
 * stays valid UTF-8 whatever src holds. Returns 1 if all of src fit.
 */
static int
utf8_append(char *dst, size_t cap, const char *src, size_t n, size_t limit)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t len = strlen(dst), copied = 0;
	uint32_t cp;

	while (n > 0 && *p != '\0') {
		size_t k = utf8_next(p, n, &cp);
		const unsigned char *from = p;
		size_t w = k;

		if (k == 0) {
			from = (const unsigned char *)"?";
			k = 1;
			w = 1;
		}
		if (len + w >= cap || copied + w > limit) {
			dst[len] = '\0';
			return 0;
		}
		memcpy(dst + len, from, w);
		len += w;
		copied += w;
		p += k;
		n -= k;
	}
	dst[len] = '\0';
	return 1;
}

/* ---------------------------------------------------------------- errors */

static void __attribute__((format(printf, 4, 0)))
error_vset(struct schema_error *err, enum sa_err code, const char *field,
	   const char *fmt, va_list ap)
{
	char tmp[SCHEMA_MSG_MAX * 2];

	if (err == NULL)
		return;
	err->code = code;
	err->field[0] = '\0';
	err->message[0] = '\0';
	if (field != NULL)
		utf8_append(err->field, sizeof(err->field), field,
			    strlen(field), SIZE_MAX);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	utf8_append(err->message, sizeof(err->message), tmp, strlen(tmp),
		    SIZE_MAX);
}

static void __attribute__((format(printf, 4, 5)))
error_set(struct schema_error *err, enum sa_err code, const char *field,
	  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, code, field, fmt, ap);
	va_end(ap);
}

void
schema_error_set(struct schema_error *err, const char *field, const char *fmt,
		 ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(err, SA_ERR_VALIDATION, field, fmt, ap);
	va_end(ap);
}

json_t *
schema_error_json(const struct schema_error *err)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "error",
				json_string(sa_err_code(err->code))) != 0 ||
	    json_object_set_new(o, "message", json_string(err->message)) != 0 ||
	    (err->field[0] != '\0' &&
	     json_object_set_new(o, "field", json_string(err->field)) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---------------------------------------------------------------- paths */

/*
 * The validation context: run-time flags, where errors go, and the path of
 * the value being checked. Paths longer than the buffer are cut on a
 * character boundary; the error still names the field's beginning.
 */
struct vctx {
	unsigned int vflags;
	struct schema_error *err;
	int depth;
	char path[SCHEMA_PATH_MAX];
};

static size_t
path_push_name(struct vctx *c, const char *name, size_t n, size_t limit)
{
	size_t saved = strlen(c->path);

	if (saved > 0)
		utf8_append(c->path, sizeof(c->path), ".", 1, 1);
	utf8_append(c->path, sizeof(c->path), name, n, limit);
	return saved;
}

static size_t
path_push_index(struct vctx *c, size_t i)
{
	size_t saved = strlen(c->path);
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "[%zu]", i);
	utf8_append(c->path, sizeof(c->path), tmp, strlen(tmp), SIZE_MAX);
	return saved;
}

static void
path_pop(struct vctx *c, size_t saved)
{
	c->path[saved] = '\0';
}

static enum sa_err __attribute__((format(printf, 2, 3)))
fail(struct vctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(c->err, SA_ERR_VALIDATION, c->path, fmt, ap);
	va_end(ap);
	return SA_ERR_VALIDATION;
}

/* ---------------------------------------------------------------- patterns */

/*
 * A compiled pattern. Entries are published at the head of a list with a
 * release store and never change afterwards, so readers follow the list
 * with an acquire load and no lock; writers serialise on pattern_lock.
 */
struct pattern_entry {
	struct pattern_entry *next;
	char *src;
	int ok; /* 0 when the source did not compile */
	regex_t re;
};

static _Atomic(struct pattern_entry *) pattern_head;
static pthread_mutex_t pattern_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t pattern_count;

static struct pattern_entry *
pattern_find(struct pattern_entry *e, const char *src)
{
	for (; e != NULL; e = e->next)
		if (strcmp(e->src, src) == 0)
			return e;
	return NULL;
}

/*
 * pattern_compile compiles src anchored at both ends ("^(src)$"). A source
 * that does not compile is cached too, as a failed entry, so it is not
 * recompiled on every request. Returns NULL only when out of memory.
 */
static struct pattern_entry *
pattern_compile(const char *src)
{
	struct pattern_entry *e;
	size_t n = strlen(src);
	char *anchored;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->src = strdup(src);
	anchored = malloc(n + 5);
	if (e->src == NULL || anchored == NULL) {
		free(anchored);
		free(e->src);
		free(e);
		return NULL;
	}
	snprintf(anchored, n + 5, "^(%s)$", src);
	e->ok = n <= PATTERN_SRC_MAX &&
		regcomp(&e->re, anchored, REG_EXTENDED | REG_NOSUB) == 0;
	free(anchored);
	return e;
}

/*
 * pattern_get finds or compiles the pattern src. On success *out points to
 * a compiled expression owned by the cache, valid until schema_cache_free.
 */
static enum sa_err
pattern_get(const char *src, const regex_t **out)
{
	struct pattern_entry *e;
	enum sa_err rc = SA_OK;

	e = pattern_find(
	    atomic_load_explicit(&pattern_head, memory_order_acquire), src);
	if (e == NULL) {
		pthread_mutex_lock(&pattern_lock);
		e = pattern_find(
		    atomic_load_explicit(&pattern_head, memory_order_relaxed),
		    src);
		if (e == NULL && pattern_count >= PATTERN_MAX) {
			rc = SA_ERR_INTERNAL;
		} else if (e == NULL) {
			e = pattern_compile(src);
			if (e == NULL) {
				rc = SA_ERR_NOMEM;
			} else {
				e->next = atomic_load_explicit(
				    &pattern_head, memory_order_relaxed);
				atomic_store_explicit(&pattern_head, e,
						      memory_order_release);
				pattern_count++;
			}
		}
		pthread_mutex_unlock(&pattern_lock);
	}
	if (rc != SA_OK)
		return rc;
	if (!e->ok)
		return SA_ERR_INTERNAL;
	*out = &e->re;
	return SA_OK;
}

void
schema_cache_free(void)
{
	struct pattern_entry *e, *next;

	pthread_mutex_lock(&pattern_lock);
	e = atomic_exchange(&pattern_head, NULL);
	for (; e != NULL; e = next) {
		next = e->next;
		if (e->ok)
			regfree(&e->re);
		free(e->src);
		free(e);
	}
	pattern_count = 0;
	pthread_mutex_unlock(&pattern_lock);
}

/* ---------------------------------------------------------------- values */

static enum sa_err check_value(struct vctx *c, const struct schema_field *f,
			       const json_t *v);
static enum sa_err check_object(struct vctx *c, const struct schema *s,
				const json_t *obj);

static const char *
plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* string_plain checks what every string must be: a string, without NUL,
 * valid UTF-8. */
static enum sa_err
string_plain(struct vctx *c, const json_t *v)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return fail(c, "must be a string");
	s = json_string_value(v);
	n = json_string_length(v);
	/* jansson can carry \u0000; C consumers would see a shorter string. */
	if (memchr(s, '\0', n) != NULL)
		return fail(c, "must not contain NUL characters");
	if (!utf8_valid(s, n, 0))
		return fail(c, "must be valid UTF-8");
	return SA_OK;
}

static enum sa_err
check_string(struct vctx *c, const struct schema_field *f, const json_t *v)
{
	const regex_t *re;
	enum sa_err rc;
	size_t n;

	if ((rc = string_plain(c, v)) != SA_OK)
		return rc;
	n = json_string_length(v);
	if (n < f->min_len)
		return fail(c, "must be at least %zu byte%s", f->min_len,
			    plural(f->min_len));
	if (n > f->max_len)
		return fail(c, "must be at most %zu byte%s", f->max_len,
			    plural(f->max_len));
	if (!schema_format_check(f->format, json_string_value(v), n, c->vflags))
		return fail(c, "must match format %s",
			    schema_format_name(f->format));
	if (f->pattern != NULL) {
		if ((rc = pattern_get(f->pattern, &re)) != SA_OK) {
			error_set(c->err, rc, c->path,
				  "has a pattern that does not compile");
			return rc;
		}
		if (regexec(re, json_string_value(v), 0, NULL, 0) != 0)
			return fail(c, "must match pattern %s", f->pattern);
	}
	return SA_OK;
}

static enum sa_err
check_enum(struct vctx *c, const struct schema_field *f, const json_t *v)
{
	char list[SCHEMA_MSG_MAX] = "";
	enum sa_err rc;

	if ((rc = string_plain(c, v)) != SA_OK)
		return rc;
	for (size_t i = 0; f->enum_values != NULL && f->enum_values[i] != NULL;
	     i++) {
		const char *e = f->enum_values[i];
		if (json_string_length(v) == strlen(e) &&
		    memcmp(json_string_value(v), e, strlen(e)) == 0)
			return SA_OK;
	}
	for (size_t i = 0; f->enum_values != NULL && f->enum_values[i] != NULL;
	     i++) {
		if (i > 0)
			utf8_append(list, sizeof(list), ", ", 2, SIZE_MAX);
		utf8_append(list, sizeof(list), f->enum_values[i],
			    strlen(f->enum_values[i]), SIZE_MAX);
	}
	return fail(c, "must be one of %s", list);
}

static enum sa_err
check_array(struct vctx *c, const struct schema_field *f, const json_t *v)
{
	size_t n, saved;
	enum sa_err rc;

	if (!json_is_array(v))
		return fail(c, "must be an array");
	if (f->items == NULL) {
		error_set(c->err, SA_ERR_INTERNAL, c->path,
			  "has no item description");
		return SA_ERR_INTERNAL;
	}
	n = json_array_size(v);
	if (n < f->min_len)
		return fail(c, "must have at least %zu item%s", f->min_len,
			    plural(f->min_len));
	if (n > f->max_len)
		return fail(c, "must have at most %zu item%s", f->max_len,
			    plural(f->max_len));
	for (size_t i = 0; i < n; i++) {
		saved = path_push_index(c, i);
		rc = check_value(c, f->items, json_array_get(v, i));
		if (rc == SA_OK && (f->flags & SCHEMA_UNIQUE)) {
			/* Quadratic, but n is bounded by max_len above. */
			for (size_t j = 0; j < i && rc == SA_OK; j++)
				if (json_equal(json_array_get(v, j),
					       json_array_get(v, i)))
					rc = fail(c, "repeats item %zu", j);
		}
		path_pop(c, saved);
		if (rc != SA_OK)
			return rc;
	}
	return SA_OK;
}

static enum sa_err
check_value(struct vctx *c, const struct schema_field *f, const json_t *v)
{
	enum sa_err rc;

	if (json_is_null(v) && (f->flags & SCHEMA_NULLABLE))
		return SA_OK;
	switch (f->type) {
	case SCHEMA_T_STRING:
		return check_string(c, f, v);
	case SCHEMA_T_ENUM:
		return check_enum(c, f, v);
	case SCHEMA_T_INTEGER:
		if (!json_is_integer(v))
			return fail(c, "must be an integer");
		if (json_integer_value(v) < f->min)
			return fail(c, "must be at least %" JSON_INTEGER_FORMAT,
				    f->min);
		if (json_integer_value(v) > f->max)
			return fail(c, "must be at most %" JSON_INTEGER_FORMAT,
				    f->max);
		return SA_OK;
	case SCHEMA_T_BOOLEAN:
		if (!json_is_boolean(v))
			return fail(c, "must be true or false");
		return SA_OK;
	case SCHEMA_T_ARRAY:
		if (c->depth >= SCHEMA_MAX_DEPTH)
			return fail(c, "is nested too deeply");
		c->depth++;
		rc = check_array(c, f, v);
		c->depth--;
		return rc;
	case SCHEMA_T_OBJECT:
		if (!json_is_object(v))
			return fail(c, "must be an object");
		if (f->object == NULL) {
			char *text;
			size_t n;

			/* An opaque object: its owner validates the inside;
			 * here only its size is bounded. */
			if (f->max_len == 0) {
				error_set(c->err, SA_ERR_INTERNAL, c->path,
					  "has no object description");
				return SA_ERR_INTERNAL;
			}
			text = json_dumps(v, JSON_COMPACT);
			if (text == NULL)
				return fail(c, "cannot be serialised");
			n = strlen(text);
			free(text);
			if (n > f->max_len)
				return fail(c, "is too large");
			return SA_OK;
		}
		return check_object(c, f->object, v);
	case SCHEMA_T_NONE:
		break;
	}
	error_set(c->err, SA_ERR_INTERNAL, c->path, "has an unknown type");
	return SA_ERR_INTERNAL;
}

/* ---------------------------------------------------------------- objects */

static const struct schema_field *
find_field(const struct schema *s, const char *name, size_t n)
{
	for (const struct schema_field *f = s->fields; f != NULL && f->name;
	     f++)
		if (strlen(f->name) == n && memcmp(f->name, name, n) == 0)
			return f;
	return NULL;
}

/* member_present tells whether the object has the member, counting a
 * null as absent where the field allows null. */
static int
member_present(const struct schema *s, const json_t *obj, const char *name)
{
	const struct schema_field *f = find_field(s, name, strlen(name));
	const json_t *v = json_object_get(obj, name);

	if (v == NULL)
		return 0;
	return !(json_is_null(v) && f != NULL && (f->flags & SCHEMA_NULLABLE));
}

static enum sa_err
check_one_of(struct vctx *c, const struct schema *s, const json_t *obj,
	     const struct schema_rule *r)
{
	const char *first = NULL;
	char others[SCHEMA_MSG_MAX] = "";
	size_t saved, count = 0;
	enum sa_err rc;

	for (size_t i = 0; r->names != NULL && r->names[i] != NULL; i++) {
		if (!member_present(s, obj, r->names[i]))
			continue;
		if (first != NULL) {
			saved = path_push_name(c, r->names[i],
					       strlen(r->names[i]), SIZE_MAX);
			rc = fail(c, "must not be given together with %s",
				  first);
			path_pop(c, saved);
			return rc;
		}
		first = r->names[i];
	}
	if (first != NULL || r->kind != SCHEMA_RULE_EXACTLY_ONE_OF ||
	    r->names == NULL || r->names[0] == NULL)
		return SA_OK;
	for (size_t i = 1; r->names[i] != NULL; i++, count++) {
		if (i > 1)
			utf8_append(others, sizeof(others), ", ", 2, SIZE_MAX);
		utf8_append(others, sizeof(others), r->names[i],
			    strlen(r->names[i]), SIZE_MAX);
	}
	saved = path_push_name(c, r->names[0], strlen(r->names[0]), SIZE_MAX);
	rc = fail(c, "is required unless %s%s is given",
		  count > 1 ? "one of " : "", others);
	path_pop(c, saved);
	return rc;
}

/*
 * check_hook runs a rule's own check and moves the field it names under
 * the current object's path.
 */
static enum sa_err
check_hook(struct vctx *c, const json_t *obj, const struct schema_rule *r)
{
	struct schema_error local;
	enum sa_err rc;
	size_t saved;

	memset(&local, 0, sizeof(local));
	if (r->check == NULL) {
		error_set(c->err, SA_ERR_INTERNAL, c->path,
			  "has an empty rule");
		return SA_ERR_INTERNAL;
	}
	rc = r->check(obj, &local);
	if (rc == SA_OK)
		return SA_OK;
	saved = strlen(c->path);
	if (local.field[0] != '\0')
		path_push_name(c, local.field, strlen(local.field), SIZE_MAX);
	error_set(c->err, rc, c->path, "%s",
		  local.message[0] != '\0' ? local.message : "is invalid");
	path_pop(c, saved);
	return rc;
}

/*
 * check_object checks the members of obj against s: declared fields in
 * order, then the first member s does not declare (in document order), then
 * the rules in order.
 */
static enum sa_err
check_object(struct vctx *c, const struct schema *s, const json_t *obj)
{
	const char *key;
	size_t klen, saved;
	json_t *v;
	enum sa_err rc;

	if (c->depth >= SCHEMA_MAX_DEPTH)
		return fail(c, "is nested too deeply");
	c->depth++;
	for (const struct schema_field *f = s->fields; f != NULL && f->name;
	     f++) {
		const json_t *m = json_object_get(obj, f->name);
		int present = m != NULL && !(json_is_null(m) &&
					     (f->flags & SCHEMA_NULLABLE));

		if (!present && !(f->flags & SCHEMA_REQUIRED))
			continue;
		saved = path_push_name(c, f->name, strlen(f->name), SIZE_MAX);
		rc = present ? check_value(c, f, m) : fail(c, "is required");
		path_pop(c, saved);
		if (rc != SA_OK)
			goto out;
	}
	json_object_keylen_foreach((json_t *)obj, key, klen, v)
	{
		if (find_field(s, key, klen) != NULL)
			continue;
		saved = path_push_name(c, key, klen, UNKNOWN_NAME_MAX);
		rc = fail(c, "is not a known field");
		path_pop(c, saved);
		goto out;
	}
	for (const struct schema_rule *r = s->rules;
	     r != NULL && r->kind != SCHEMA_RULE_NONE; r++) {
		if (r->kind == SCHEMA_RULE_CHECK)
			rc = check_hook(c, obj, r);
		else
			rc = check_one_of(c, s, obj, r);
		if (rc != SA_OK)
			goto out;
	}
	rc = SA_OK;
out:
	c->depth--;
	return rc;
}

enum sa_err
schema_validate(const struct schema *s, const json_t *root, unsigned int vflags,
		struct schema_error *err)
{
	struct vctx c;

	memset(&c, 0, sizeof(c));
	c.vflags = vflags;
	c.err = err;
	if (root == NULL || !json_is_object(root))
		return fail(&c, "body must be a JSON object");
	return check_object(&c, s, root);
}

enum sa_err
schema_check_value(const struct schema_field *f, const json_t *v,
		   const char *path, unsigned int vflags,
		   struct schema_error *err)
{
	struct vctx c;
	const char *p = path != NULL ? path : f->name;

	memset(&c, 0, sizeof(c));
	c.vflags = vflags;
	c.err = err;
	if (p != NULL)
		utf8_append(c.path, sizeof(c.path), p, strlen(p), SIZE_MAX);
	if (v == NULL)
		return fail(&c, "is required");
	return check_value(&c, f, v);
}

/* ---------------------------------------------------------------- parsing */

enum sa_err
schema_parse_json(const char *body, size_t n, size_t max, json_t **out,
		  struct schema_error *err)
{
	struct json_in_error jerr;
	json_t *root = NULL;
	enum sa_err rc;

	if (n > max) {
		error_set(err, SA_ERR_BODY_TOO_LARGE, NULL,
			  "body must be at most %zu bytes", max);
		return SA_ERR_BODY_TOO_LARGE;
	}
	if (body == NULL && n > 0) {
		error_set(err, SA_ERR_INTERNAL, NULL, "body is missing");
		return SA_ERR_INTERNAL;
	}
	/*
	 * The same texts as json_loadb with JSON_REJECT_DUPLICATES and no
	 * other flag (json_in.h), nesting bounded while parsing.
	 */
	root = json_in_parse(body, n, SCHEMA_MAX_DEPTH, &jerr);
	if (root == NULL && jerr.too_deep) {
		error_set(err, SA_ERR_VALIDATION, NULL,
			  "body is nested deeper than %d levels",
			  SCHEMA_MAX_DEPTH);
		rc = SA_ERR_VALIDATION;
		goto out;
	}
	if (root == NULL && jerr.nomem) {
		error_set(err, SA_ERR_NOMEM, NULL, "out of memory");
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (root == NULL) {
		error_set(err, SA_ERR_BAD_JSON, NULL,
			  "invalid JSON at line %d, column %d: %s", jerr.line,
			  jerr.column, jerr.text);
		rc = SA_ERR_BAD_JSON;
		goto out;
	}
	if (!json_is_object(root)) {
		error_set(err, SA_ERR_VALIDATION, NULL,
			  "body must be a JSON object");
		rc = SA_ERR_VALIDATION;
		goto out;
	}
	*out = root;
	root = NULL;
	rc = SA_OK;
out:
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------- lint */

struct lctx {
	struct schema_error *err;
	char path[SCHEMA_PATH_MAX];
	int depth;
};

static enum sa_err __attribute__((format(printf, 2, 3)))
lint_fail(struct lctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(c->err, SA_ERR_INTERNAL, c->path, fmt, ap);
	va_end(ap);
	return SA_ERR_INTERNAL;
}

static enum sa_err lint_object(struct lctx *c, const struct schema *s);

static enum sa_err
lint_field(struct lctx *c, const struct schema_field *f)
{
	const regex_t *re;

	if ((f->flags & SCHEMA_UNIQUE) && f->type != SCHEMA_T_ARRAY)
		return lint_fail(c, "is unique but not an array");
	switch (f->type) {
	case SCHEMA_T_STRING:
		if (f->max_len == 0 || f->min_len > f->max_len)
			return lint_fail(c, "has no sensible length bounds");
		if ((size_t)f->format > (size_t)SCHEMA_FMT_PRINTABLE)
			return lint_fail(c, "has an unknown format");
		if (f->pattern != NULL && pattern_get(f->pattern, &re) != SA_OK)
			return lint_fail(c, "has a pattern that does not "
					    "compile");
		return SA_OK;
	case SCHEMA_T_ENUM:
		if (f->enum_values == NULL || f->enum_values[0] == NULL)
			return lint_fail(c, "has no enum values");
		return SA_OK;
	case SCHEMA_T_INTEGER:
		if (f->min > f->max)
			return lint_fail(c, "has min above max");
		return SA_OK;
	case SCHEMA_T_BOOLEAN:
		return SA_OK;
	case SCHEMA_T_ARRAY:
		if (f->max_len == 0 || f->min_len > f->max_len)
			return lint_fail(c, "has no sensible item bounds");
		if (f->items == NULL)
			return lint_fail(c, "has no item description");
		if (c->depth >= SCHEMA_MAX_DEPTH)
			return lint_fail(c, "is nested too deeply");
		c->depth++;
		{
			size_t saved = strlen(c->path);
			enum sa_err rc;

			utf8_append(c->path, sizeof(c->path), "[]", 2,
				    SIZE_MAX);
			rc = lint_field(c, f->items);
			c->path[saved] = '\0';
			c->depth--;
			return rc;
		}
	case SCHEMA_T_OBJECT:
		if (f->object == NULL && f->max_len > 0)
			return SA_OK; /* opaque: validated by its owner */
		if (f->object == NULL)
			return lint_fail(c, "has no object description");
		return lint_object(c, f->object);
	case SCHEMA_T_NONE:
		break;
	}
	return lint_fail(c, "has an unknown type");
}

static enum sa_err
lint_object(struct lctx *c, const struct schema *s)
{
	enum sa_err rc = SA_OK;
	size_t saved = strlen(c->path);

	if (c->depth >= SCHEMA_MAX_DEPTH)
		return lint_fail(c, "is nested too deeply");
	c->depth++;
	for (const struct schema_field *f = s->fields; f != NULL && f->name;
	     f++) {
		if (saved > 0)
			utf8_append(c->path, sizeof(c->path), ".", 1, SIZE_MAX);
		utf8_append(c->path, sizeof(c->path), f->name, strlen(f->name),
			    SIZE_MAX);
		if (find_field(s, f->name, strlen(f->name)) != f)
			rc = lint_fail(c, "is declared twice");
		else
			rc = lint_field(c, f);
		c->path[saved] = '\0';
		if (rc != SA_OK)
			goto out;
	}
	for (const struct schema_rule *r = s->rules;
	     r != NULL && r->kind != SCHEMA_RULE_NONE; r++) {
		size_t count = 0;

		if (r->kind == SCHEMA_RULE_CHECK) {
			if (r->check == NULL) {
				rc = lint_fail(c, "has a rule without a check");
				goto out;
			}
			continue;
		}
		for (; r->names != NULL && r->names[count] != NULL; count++) {
			const char *name = r->names[count];
			if (find_field(s, name, strlen(name)) == NULL) {
				rc = lint_fail(c,
					       "has a rule naming unknown "
					       "field %s",
					       name);
				goto out;
			}
		}
		if (count < 2) {
			rc = lint_fail(c, "has a one-of rule with fewer than "
					  "two names");
			goto out;
		}
	}
out:
	c->depth--;
	return rc;
}

enum sa_err
schema_lint(const struct schema *s, struct schema_error *err)
{
	struct lctx c;

	memset(&c, 0, sizeof(c));
	c.err = err;
	return lint_object(&c, s);
}

int
schema_copy_string(const json_t *v, char *out, size_t cap)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (s == NULL || n >= cap || memchr(s, '\0', n) != NULL)
		return 0;
	memcpy(out, s, n + 1);
	return 1;
}
