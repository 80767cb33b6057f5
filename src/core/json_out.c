/*
 * json_out.c - compact JSON text of a jansson value, the same bytes as
 * json_dumps (json_out.h says which, and why this exists), and flat
 * objects written member by member in the same form. Both write through
 * one growing buffer, struct json_obj.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_out.h"
#include "core/util.h"

#define OUT_FIRST_CAP 512

/* reserve makes room for k more bytes and a NUL. */
static int
reserve(struct json_obj *o, size_t k)
{
	size_t cap;
	char *p;

	if (!o->ok)
		return 0;
	if (k < o->cap - o->n)
		return 1;
	if (k > SIZE_MAX / 2 - o->n) {
		o->ok = 0;
		return 0;
	}
	cap = o->cap ? o->cap : OUT_FIRST_CAP;
	while (cap - o->n <= k)
		cap *= 2;
	if ((p = realloc(o->p, cap)) == NULL) {
		o->ok = 0;
		return 0;
	}
	o->p = p;
	o->cap = cap;
	return 1;
}

static void
put(struct json_obj *o, const void *s, size_t k)
{
	if (reserve(o, k)) {
		memcpy(o->p + o->n, s, k);
		o->n += k;
	}
}

static void
put_c(struct json_obj *o, char c)
{
	if (reserve(o, 1))
		o->p[o->n++] = c;
}

/* needs_escape: the bytes jansson writes as an escape (other bytes, also
 * those of multi-byte characters, are written as they are). */
static inline int
needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

/* The characters jansson escapes with a letter; the other control
 * characters become \u00XX (upper-case hex, as jansson writes them). */
static const char short_escape[] = {
    ['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
    ['\n'] = 'n', ['\r'] = 'r',	 ['\t'] = 't',
};

/*
 * put_string writes n bytes at s as a JSON string. Runs of bytes that need
 * no escape are copied at once; a byte of 0x80 or more starts a character
 * that must be well-formed UTF-8 (utf8_next refuses overlong forms,
 * surrogates and values past U+10FFFF, as jansson does), else the whole
 * text fails.
 */
static void
put_string(struct json_obj *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run;
	uint32_t cp;

	put_c(o, '"');
	while (o->ok && i < n) {
		run = i;
		/* Eight bytes a step while none needs a look of its own. */
		while (n - run >= 8) {
			uint64_t w = swar_load(s + run);
			if ((w & SWAR_HIGH) != 0 || swar_has_below(w, 0x20) ||
			    swar_has_byte(w, '"') || swar_has_byte(w, '\\'))
				break;
			run += 8;
		}
		while (run < n && s[run] < 0x80 && !needs_escape(s[run]))
			run++;
		if (run > i) {
			put(o, s + i, run - i);
			i = run;
			continue;
		}
		if (s[i] >= 0x80) {
			size_t k = utf8_next(s + i, n - i, &cp);

			if (k == 0) {
				o->ok = 0;
				return;
			}
			put(o, s + i, k);
			i += k;
			continue;
		}
		if (s[i] < sizeof(short_escape) && short_escape[s[i]] != 0) {
			char e[2] = {'\\', short_escape[s[i]]};

			put(o, e, 2);
		} else {
			char seq[8];

			snprintf(seq, sizeof(seq), "\\u%04X",
				 (unsigned int)s[i]);
			put(o, seq, 6);
		}
		i++;
	}
	put_c(o, '"');
}

/* A member of an object, for sorting. */
struct member {
	const char *key;
	size_t len;
	json_t *value;
};

/* member_cmp orders keys as jansson's JSON_SORT_KEYS does: bytewise, a
 * prefix first. */
static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t min = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, min);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* put_int writes an integer in decimal, as jansson does. */
static void
put_int(struct json_obj *o, json_int_t v)
{
	char num[FMT_INT_MAX];

	put(o, num, fmt_i64(num, (int64_t)v));
}

static void put_value(struct json_obj *o, const json_t *v, unsigned int flags,
		      int depth);

static void
put_member(struct json_obj *o, const char *key, size_t len, const json_t *value,
	   unsigned int flags, int depth, int first)
{
	if (!first)
		put_c(o, ',');
	/* jansson would write such a key cut short; refuse it. */
	if (memchr(key, '\0', len) != NULL) {
		o->ok = 0;
		return;
	}
	put_string(o, key, len);
	put_c(o, ':');
	put_value(o, value, flags, depth);
}

/* put_object writes the members of v, sorted when asked. jansson's
 * iterator takes a non-const object but does not change it. */
static void
put_object(struct json_obj *o, const json_t *v, unsigned int flags, int depth)
{
	json_t *obj = (json_t *)v;
	size_t size = json_object_size(obj), n = 0;
	struct member *m;
	void *it;

	put_c(o, '{');
	if (!(flags & JSON_OUT_SORT_KEYS) || size < 2) {
		for (it = json_object_iter(obj); it != NULL && o->ok;
		     it = json_object_iter_next(obj, it), n++)
			put_member(o, json_object_iter_key(it),
				   json_object_iter_key_len(it),
				   json_object_iter_value(it), flags, depth,
				   n == 0);
		put_c(o, '}');
		return;
	}
	if ((m = calloc(size, sizeof(*m))) == NULL) {
		o->ok = 0;
		return;
	}
	for (it = json_object_iter(obj); it != NULL && n < size;
	     it = json_object_iter_next(obj, it), n++) {
		m[n].key = json_object_iter_key(it);
		m[n].len = json_object_iter_key_len(it);
		m[n].value = json_object_iter_value(it);
	}
	qsort(m, n, sizeof(*m), member_cmp);
	for (size_t i = 0; i < n && o->ok; i++)
		put_member(o, m[i].key, m[i].len, m[i].value, flags, depth,
			   i == 0);
	free(m);
	put_c(o, '}');
}

static void
put_array(struct json_obj *o, const json_t *v, unsigned int flags, int depth)
{
	size_t size = json_array_size(v);

	put_c(o, '[');
	for (size_t i = 0; i < size && o->ok; i++) {
		if (i > 0)
			put_c(o, ',');
		put_value(o, json_array_get(v, i), flags, depth);
	}
	put_c(o, ']');
}

/* put_real writes a real as jansson does, by asking jansson. */
static void
put_real(struct json_obj *o, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s == NULL) {
		o->ok = 0;
		return;
	}
	put(o, s, strlen(s));
	free(s);
}

static void
put_value(struct json_obj *o, const json_t *v, unsigned int flags, int depth)
{
	if (!o->ok)
		return;
	if (v == NULL || depth >= JSON_OUT_DEPTH_MAX) {
		o->ok = 0;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		put_object(o, v, flags, depth + 1);
		break;
	case JSON_ARRAY:
		put_array(o, v, flags, depth + 1);
		break;
	case JSON_STRING:
		put_string(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		put_int(o, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(o, v);
		break;
	case JSON_TRUE:
		put(o, "true", 4);
		break;
	case JSON_FALSE:
		put(o, "false", 5);
		break;
	case JSON_NULL:
		put(o, "null", 4);
		break;
	default:
		o->ok = 0;
	}
}

char *
json_out(const json_t *v, unsigned int flags, size_t *len)
{
	struct json_obj o = {NULL, 0, 0, 1, 0, 0, NULL};

	/* As json_dumps without JSON_ENCODE_ANY: an object or an array. */
	if (v == NULL || (!json_is_object(v) && !json_is_array(v)))
		return NULL;
	put_value(&o, v, flags, 0);
	if (!o.ok) {
		free(o.p);
		return NULL;
	}
	o.p[o.n] = '\0';
	if (len != NULL)
		*len = o.n;
	return o.p;
}

/* ---- Flat objects written directly ------------------------------------- */

void
json_obj_begin(struct json_obj *o)
{
	*o = (struct json_obj){NULL, 0, 0, 1, 0, 0, NULL};
	put_c(o, '{');
}

void
json_obj_begin_sorted(struct json_obj *o)
{
	json_obj_begin(o);
	o->sorted = 1;
}

/* key_of writes the separator and "key": of the next member. */
static void
key_of(struct json_obj *o, const char *key)
{
	if (o->sorted) {
		if (o->last != NULL && strcmp(o->last, key) >= 0)
			o->ok = 0;
		o->last = key;
	}
	if (o->members++ > 0)
		put_c(o, ',');
	put_string(o, key, strlen(key));
	put_c(o, ':');
}

void
json_obj_str(struct json_obj *o, const char *key, const char *val)
{
	if (val == NULL) {
		o->ok = 0;
		return;
	}
	key_of(o, key);
	put_string(o, val, strlen(val));
}

void
json_obj_int(struct json_obj *o, const char *key, long long val)
{
	key_of(o, key);
	put_int(o, val);
}

void
json_obj_bool(struct json_obj *o, const char *key, int val)
{
	key_of(o, key);
	if (val)
		put(o, "true", 4);
	else
		put(o, "false", 5);
}

void
json_obj_strs(struct json_obj *o, const char *key, const char *const *vals,
	      size_t n)
{
	key_of(o, key);
	put_c(o, '[');
	for (size_t i = 0; i < n && o->ok; i++) {
		if (vals[i] == NULL) {
			o->ok = 0;
			return;
		}
		if (i > 0)
			put_c(o, ',');
		put_string(o, vals[i], strlen(vals[i]));
	}
	put_c(o, ']');
}

char *
json_obj_end(struct json_obj *o, size_t *len)
{
	put_c(o, '}');
	if (!o->ok) {
		free(o->p);
		*o = (struct json_obj){NULL, 0, 0, 0, 0, 0, NULL};
		return NULL;
	}
	o->p[o->n] = '\0';
	if (len != NULL)
		*len = o->n;
	return o->p;
}
