/*
 * test_errors_log.c - the error table and the JSON log lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/errors.h"
#include "core/log.h"

/* snake_ok tells whether s is lower-case snake case: [a-z][a-z0-9_]*. */
static int
snake_ok(const char *s)
{
	if (*s < 'a' || *s > 'z')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return 0;
	return 1;
}

static void
test_every_error_has_code_text_and_status(void **state)
{
	/* Every listed code is snake case, has a text and a status that
	 * matches its range; a value outside the list falls back. */
	assert_true(sa_err_count() > 30);
	for (unsigned int i = 0; i < sa_err_count(); i++) {
		enum sa_err e = sa_err_at(i);
		unsigned int st = sa_err_http(e);
		assert_true(snake_ok(sa_err_code(e)));
		assert_string_not_equal(sa_err_str(e), "unknown error");
		assert_true(st >= 200 && st < 600);
		if (e == SA_OK)
			assert_int_equal(st, 200);
		else
			assert_true(st >= 400);
		for (unsigned int j = 0; j < i; j++)
			assert_int_not_equal(sa_err_at(j), e);
	}
	assert_string_equal(sa_err_code(SA_ERR_VALIDATION), "validation");
	assert_int_equal(sa_err_http(SA_ERR_VALIDATION), 400);
	assert_int_equal(sa_err_http(SA_ERR_RATE_LIMITED), 429);
	assert_int_equal(sa_err_http(SA_ERR_NOT_ENROLLED), 404);
	assert_int_equal(sa_err_http(SA_ERR_REPLAY), 409);
	assert_int_equal(sa_err_http(SA_ERR_SEAL_SIGNATURE), 422);
	assert_string_equal(sa_err_code(SA_ERR_LAST_PASSKEY),
			    "last_passkey_protected");
	assert_string_equal(sa_err_code((enum sa_err)999), "internal");
	assert_string_equal(sa_err_str((enum sa_err)999), "unknown error");
	assert_int_equal(sa_err_http((enum sa_err)999), 500);
}

static void
test_log_lines_are_json(void **state)
{
	char path[] = "/tmp/sealauth-log-XXXXXX", line[4096];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	json_t *o;
	FILE *f;

	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, STDERR_FILENO);
	log_set_level(SA_LOG_INFO);
	log_debug("test.debug", "hidden %d", 1);
	log_msg(SA_LOG_WARN, "test.warn", "req-1", "value \"%s\"\n", "quoted");
	log_json(SA_LOG_ERROR, "test.json", json_pack("{s:i}", "n", 7));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f));
	o = json_loads(line, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "level")),
			    "warn");
	assert_string_equal(json_string_value(json_object_get(o, "event")),
			    "test.warn");
	assert_string_equal(json_string_value(json_object_get(o, "req")),
			    "req-1");
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
			    "value \"quoted\"\n");
	json_decref(o);
	assert_non_null(fgets(line, sizeof(line), f));
	o = json_loads(line, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(o, "n")), 7);
	json_decref(o);
	assert_null(fgets(line, sizeof(line), f)); /* debug was filtered */
	fclose(f);
	unlink(path);
	assert_int_equal(log_parse_level("warn"), SA_LOG_WARN);
	assert_int_equal(log_parse_level("loud"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_error_has_code_text_and_status),
	    cmocka_unit_test(test_log_lines_are_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
