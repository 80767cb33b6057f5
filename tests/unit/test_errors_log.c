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

#include "errors.h"
#include "log.h"

static void
test_every_error_has_code_text_and_status(void **state)
{
	/* Every value in the enum's ranges that is defined maps somewhere
	 * sensible; undefined ones fall back to internal/500. */
	for (int e = 0; e < 100; e++) {
		const char *code = sa_err_code((enum sa_err)e);
		unsigned int st = sa_err_http((enum sa_err)e);
		assert_non_null(code);
		assert_non_null(sa_err_str((enum sa_err)e));
		assert_true(st >= 200 && st < 600);
	}
	assert_string_equal(sa_err_code(SA_ERR_VALIDATION), "validation");
	assert_int_equal(sa_err_http(SA_ERR_VALIDATION), 400);
	assert_int_equal(sa_err_http(SA_ERR_RATE_LIMITED), 429);
	assert_int_equal(sa_err_http(SA_ERR_NOT_ENROLLED), 404);
	assert_int_equal(sa_err_http(SA_ERR_REPLAY), 409);
	assert_int_equal(sa_err_http(SA_ERR_SEAL_SIGNATURE), 422);
	assert_string_equal(sa_err_code(SA_ERR_LAST_PASSKEY), "LastPasskeyProtected");
	assert_string_equal(sa_err_code((enum sa_err)999), "internal");
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
	assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
	assert_string_equal(json_string_value(json_object_get(o, "event")), "test.warn");
	assert_string_equal(json_string_value(json_object_get(o, "req")), "req-1");
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
