/*
 * test_api_static.c - the login page's file set: the name check, content
 * types, loading a web directory with its bounds, ETags and If-None-Match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "core/util.h"

static void
test_name_check(void **state)
{
	char longest[API_STATIC_NAME_MAX + 1],
	    too_long[API_STATIC_NAME_MAX + 2];

	assert_true(api_static_name_ok("app.js"));
	assert_true(api_static_name_ok("index.html"));
	assert_true(api_static_name_ok("logo-2_dark.v3.svg"));
	assert_true(api_static_name_ok("A"));

	assert_false(api_static_name_ok(NULL));
	assert_false(api_static_name_ok(""));
	assert_false(api_static_name_ok("."));
	assert_false(api_static_name_ok(".."));
	assert_false(api_static_name_ok(".htaccess"));
	assert_false(api_static_name_ok("a..js"));
	assert_false(api_static_name_ok("../etc/passwd"));
	assert_false(api_static_name_ok("a/b.js"));
	assert_false(api_static_name_ok("a\\b.js"));
	assert_false(api_static_name_ok("a%2fb.js"));
	assert_false(api_static_name_ok("a b.js"));
	assert_false(api_static_name_ok("app.js\n"));
	assert_false(api_static_name_ok("caf\xc3\xa9.js"));
	assert_false(api_static_name_ok("a:b.js"));

	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	assert_true(api_static_name_ok(longest));
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_false(api_static_name_ok(too_long));
}

static void
test_content_type(void **state)
{
	assert_string_equal(api_static_content_type("app.js"),
			    "text/javascript; charset=utf-8");
	assert_string_equal(api_static_content_type("style.css"),
			    "text/css; charset=utf-8");
	assert_string_equal(api_static_content_type("index.html"),
			    "text/html; charset=utf-8");
	assert_string_equal(api_static_content_type("logo.svg"),
			    "image/svg+xml");
	assert_string_equal(api_static_content_type("a.png"), "image/png");
	assert_string_equal(api_static_content_type("favicon.ico"),
			    "image/x-icon");
	assert_null(api_static_content_type("notes.txt"));
	assert_null(api_static_content_type("app.js.map"));
	assert_null(api_static_content_type("js"));
	assert_null(api_static_content_type(".js"));
	assert_null(api_static_content_type("Makefile"));
}

static void
test_etag_match(void **state)
{
	const char *tag = "\"abc\"";

	assert_false(api_static_etag_match(NULL, tag));
	assert_false(api_static_etag_match("", tag));
	assert_true(api_static_etag_match("\"abc\"", tag));
	assert_true(api_static_etag_match("*", tag));
	assert_true(api_static_etag_match("W/\"abc\"", tag));
	assert_true(api_static_etag_match("\"x\", \"abc\"", tag));
	assert_true(api_static_etag_match(" \"x\" ,\t\"abc\" ", tag));
	assert_false(api_static_etag_match("\"abcd\"", tag));
	assert_false(api_static_etag_match("\"ab\"", tag));
	assert_false(api_static_etag_match("abc", tag));
	assert_false(api_static_etag_match("\"x\", \"y\"", tag));
}

/* ---- Loading a directory --------------------------------------------- */

static char dir[256];

static void
put(const char *name, const void *data, size_t n)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(write_file_atomic(path, data, n, 0644), SA_OK);
}

static int
setup_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sealauth-test-static-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_load_serves_only_what_passes(void **state)
{
	static const char page[] = "<!doctype html><title>t</title>";
	struct api_static_set *set = NULL;
	const unsigned char *data;
	const char *ctype, *etag;
	unsigned char digest[32];
	char *hex, want[80], path[512], sub[512];
	unsigned char *big;
	size_t len;

	put("index.html", page, strlen(page));
	put("app.js", "1;", 2);
	put("empty.css", "", 0);
	put(".hidden.js", "secret", 6);
	put("notes.txt", "secret", 6);
	put("a b.js", "secret", 6);
	snprintf(sub, sizeof(sub), "%s/dir.js", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	big = calloc(1, API_STATIC_FILE_MAX + 1);
	assert_non_null(big);
	put("big.js", big, API_STATIC_FILE_MAX + 1);
	put("max.js", big, API_STATIC_FILE_MAX);
	free(big);
	snprintf(path, sizeof(path), "%s/link.js", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);

	assert_int_equal(api_static_load(dir, &set), SA_OK);

	assert_int_equal(
	    api_static_get(set, "index.html", &data, &len, &ctype, &etag),
	    SA_OK);
	assert_int_equal(len, strlen(page));
	assert_memory_equal(data, page, len);
	assert_string_equal(ctype, "text/html; charset=utf-8");
	sha256(page, strlen(page), digest);
	hex = hex_encode(digest, sizeof(digest));
	assert_non_null(hex);
	snprintf(want, sizeof(want), "\"%s\"", hex);
	free(hex);
	assert_string_equal(etag, want);

	assert_int_equal(
	    api_static_get(set, "app.js", &data, &len, &ctype, &etag), SA_OK);
	assert_int_equal(len, 2);
	assert_int_equal(
	    api_static_get(set, "empty.css", &data, &len, &ctype, &etag),
	    SA_OK);
	assert_int_equal(len, 0);
	assert_int_equal(
	    api_static_get(set, "max.js", &data, &len, &ctype, &etag), SA_OK);
	assert_int_equal(len, API_STATIC_FILE_MAX);

	/* Hidden, unknown types, bad names, directories and oversized files
	 * are not in the set; a symlink to a regular file is (the directory
	 * belongs to the operator), but only under its own checked name. */
	const char *absent[] = {".hidden.js",	 "notes.txt", "a b.js",
				"dir.js",	 "big.js",    "nope.js",
				"../index.html", ""};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		assert_int_equal(
		    api_static_get(set, absent[i], &data, &len, &ctype, &etag),
		    SA_ERR_NOT_FOUND);
	assert_int_equal(
	    api_static_get(set, "link.js", &data, &len, &ctype, &etag), SA_OK);
	api_static_free(set);

	assert_int_equal(
	    api_static_get(NULL, "index.html", &data, &len, &ctype, &etag),
	    SA_ERR_NOT_FOUND);
}

static void
test_load_is_bounded_in_count(void **state)
{
	struct api_static_set *set = NULL;
	const unsigned char *data;
	const char *ctype, *etag;
	size_t len, found = 0;
	char name[32];

	for (int i = 0; i < API_STATIC_FILES_MAX + 6; i++) {
		snprintf(name, sizeof(name), "f%03d.js", i);
		put(name, name, strlen(name));
	}
	assert_int_equal(api_static_load(dir, &set), SA_OK);
	for (int i = 0; i < API_STATIC_FILES_MAX + 6; i++) {
		snprintf(name, sizeof(name), "f%03d.js", i);
		if (api_static_get(set, name, &data, &len, &ctype, &etag) ==
		    SA_OK) {
			assert_int_equal(len, strlen(name));
			assert_memory_equal(data, name, len);
			found++;
		}
	}
	assert_int_equal(found, API_STATIC_FILES_MAX);
	api_static_free(set);
}

static void
test_load_missing_dir(void **state)
{
	struct api_static_set *set = (struct api_static_set *)&set;

	assert_int_not_equal(api_static_load("/nonexistent/sealauth-web", &set),
			     SA_OK);
	/* The out-parameter is left alone on failure. */
	assert_ptr_equal(set, (struct api_static_set *)&set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_check),
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_etag_match),
	    cmocka_unit_test_setup_teardown(test_load_serves_only_what_passes,
					    setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_load_is_bounded_in_count,
					    setup_dir, teardown_dir),
	    cmocka_unit_test(test_load_missing_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
