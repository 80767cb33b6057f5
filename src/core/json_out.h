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

/* json_out returns the compact text of v (free it) and its length in *len
 * (len may be NULL), or NULL; see above. */
char *json_out(const json_t *v, unsigned int flags, size_t *len);

#endif
