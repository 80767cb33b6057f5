/*
 * vds_test.h - helpers the seal tests share (included after cmocka.h).
 */
#ifndef SEALAUTH_VDS_TEST_H
#define SEALAUTH_VDS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/util.h"

#include "seal/vds.h"

/* expect_refused asserts that n bytes of seal do not decode, and that the
 * reason mentions want. */
static inline void
expect_refused(const unsigned char *b, size_t n, const char *want)
{
	struct vds *v = NULL;
	char why[VDS_WHY_MAX] = "";

	assert_int_equal(vds_decode(b, n, &v, why, sizeof(why)),
			 SA_ERR_SEAL_DECODE);
	assert_null(v);
	if (strstr(why, want) == NULL)
		fail_msg("reason \"%s\" does not mention \"%s\"", why, want);
}

/* decode_ok decodes n bytes that must be a seal; the caller frees it. */
static inline struct vds *
decode_ok(const unsigned char *b, size_t n)
{
	struct vds *v = NULL;
	char why[VDS_WHY_MAX] = "";

	if (vds_decode(b, n, &v, why, sizeof(why)) != SA_OK)
		fail_msg("decode: %s", why);
	return v;
}

/* jstr is the string at o[k], or NULL. */
static inline const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* read_seals_doc returns docs/seals.md as a new NUL-terminated string. */
static inline char *
read_seals_doc(void)
{
	char *path = NULL;
	unsigned char *doc = NULL;
	size_t len = 0;

	assert_true(asprintf(&path, "%s/docs/seals.md", SEALAUTH_SOURCE_DIR) >
		    0);
	assert_int_equal(read_file(path, 1 << 20, &doc, &len), SA_OK);
	free(path);
	doc = realloc(doc, len + 1);
	assert_non_null(doc);
	doc[len] = '\0';
	return (char *)doc;
}

#endif
