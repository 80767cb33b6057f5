/*
 * vds_test.h - helpers the seal tests share (included after cmocka.h).
 */
#ifndef SEALAUTH_VDS_TEST_H
#define SEALAUTH_VDS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/util.h"

#include "seal/vds.h"

/*
 * vds_testdata_path is the path of dir/rel in the shared test data
 * (SEALAUTH_TESTDATA, else the testdata folder beside the source tree);
 * the caller frees it.
 */
static inline char *
vds_testdata_path(const char *dir, const char *rel)
{
	const char *root = getenv("SEALAUTH_TESTDATA");
	char *p = NULL;

	if (root == NULL || root[0] == '\0')
		assert_true(asprintf(&p, "%s/../shared/testdata/%s/%s",
				     SEALAUTH_SOURCE_DIR, dir, rel) > 0);
	else
		assert_true(asprintf(&p, "%s/%s/%s", root, dir, rel) > 0);
	return p;
}

/* vds_read_hex reads a file holding one seal as hex text (a final line
 * end allowed) as exactly-sized bytes; the caller frees them. */
static inline unsigned char *
vds_read_hex(const char *path, size_t *len)
{
	unsigned char *text = NULL, *bytes = NULL;
	size_t tl = 0;

	assert_int_equal(read_file(path, 1 << 16, &text, &tl), SA_OK);
	while (tl > 0 && (text[tl - 1] == '\n' || text[tl - 1] == '\r'))
		tl--;
	assert_int_equal(
	    hex_decode((const char *)text, tl, 1 << 16, &bytes, len), SA_OK);
	free(text);
	return bytes;
}

/* vds_load_hex reads the test data seal dir/rel (hex text) as bytes. */
static inline unsigned char *
vds_load_hex(const char *dir, const char *rel, size_t *len)
{
	char *path = vds_testdata_path(dir, rel);
	unsigned char *b = vds_read_hex(path, len);

	free(path);
	return b;
}

/* vds_load_cert reads the test data certificate dir/rel (PEM). */
static inline X509 *
vds_load_cert(const char *dir, const char *rel)
{
	char *path = vds_testdata_path(dir, rel);
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	assert_non_null(x);
	fclose(f);
	free(path);
	return x;
}

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
