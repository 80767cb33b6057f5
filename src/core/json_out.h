/*
 * json_out.h - compact JSON text of a jansson value, byte for byte what
 * json_dumps(v, JSON_COMPACT) writes (with JSON_SORT_KEYS when asked), at a
 * fraction of its cost.
 *
 * Every answer, WebSocket event, token, audit row and log line is a json_t
 * turned into compact text. jansson decodes each string one code point at a
 * time through a callback; a login's approved event alone (its token is
 * about 800 characters, written for the browser's socket and again for the
 * answer) took about 4 µs that way. This writer copies runs of characters
 * that need no escape at once and checks UTF-8 only where a byte is not
 * ASCII.
 *
 * The output is the same: members in insertion order (or sorted as jansson
 * sorts them); the escapes \" \\ \b \f \n \r \t, and \u00XX for the other
 * control characters; '/' and every other character as it is; integers in
 * decimal; reals as jansson writes them (they are rare on these paths and
 * go through jansson). A string that is not well-formed UTF-8, a top-level
 * value that is neither an object nor an array, or no memory give NULL, as
 * json_dumps does. Two differences: a key with a NUL byte or malformed
 * UTF-8 in it gives NULL (jansson's parser and json_object_set refuse such
 * a key; json_dumps would write a broken text for one made by the
 * unchecked setters), and a nesting deeper than JSON_OUT_DEPTH_MAX levels
 * gives NULL (so a value that contains itself ends there) where json_dumps
 * has no bound; jansson's parser stops at 2,048 levels and nothing the
 * server builds comes near.
 */
#ifndef SEALAUTH_JSON_OUT_H
#define SEALAUTH_JSON_OUT_H

#include <stddef.h>

#include <jansson.h>

#define JSON_OUT_SORT_KEYS 0x1
#define JSON_OUT_DEPTH_MAX 4096

/*
 * A flat object written straight to text, for the answers and events a
 * login sends: the same bytes as json_out of the object json_pack would
 * build from the same members in the same order, without building it.
 * json_obj_begin starts one; each json_obj_* call adds a member (keys are
 * the caller's literals: distinct, no escapes needed beyond what
 * json_out does); json_obj_end returns the text (free it) and its length,
 * or NULL when a string was NULL or not well-formed UTF-8, or memory ran
 * out (the writer then frees what it had). Fields are private.
 */
struct json_obj {
	char *p;
	size_t n, cap;
	int ok; /* 0 after the first failure: later writes do nothing */
	int members;
	int sorted;	  /* keys must come in ascending order */
	const char *last; /* the key before, when sorted */
};

void json_obj_begin(struct json_obj *o);
/* json_obj_begin_sorted starts an object whose keys the caller writes in
 * the order JSON_OUT_SORT_KEYS gives (bytewise); a key out of that order
 * fails the text, so the result is what json_out with JSON_OUT_SORT_KEYS
 * writes of the same members. */
void json_obj_begin_sorted(struct json_obj *o);
void json_obj_str(struct json_obj *o, const char *key, const char *val);
void json_obj_int(struct json_obj *o, const char *key, long long val);
void json_obj_bool(struct json_obj *o, const char *key, int val);
/* json_obj_strs adds an array of the n strings at vals (none NULL). */
void json_obj_strs(struct json_obj *o, const char *key, const char *const *vals,
		   size_t n);
char *json_obj_end(struct json_obj *o, size_t *len);

/* json_out returns the compact text of v (free it) and its length in *len
 * (len may be NULL), or NULL; see above. */
char *json_out(const json_t *v, unsigned int flags, size_t *len);

#endif
