/*
 * test_config.c - defaults, config file, environment and derived settings.
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

#include "core/config.h"

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_defaults_and_resolve(void **state)
{
	struct config c;

	unsetenv("SEALAUTH_CONFIG");
	assert_int_equal(config_defaults(&c), SA_OK);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_string_equal(c.data_dir, "./sealauth-data");
	assert_int_equal(c.body_limit, 65536);
	assert_int_equal(config_resolve(&c, NULL), SA_OK);
	assert_string_equal(c.database_url,
			    "sqlite://./sealauth-data/sealauth.db");
	assert_string_equal(c.trust_dir, "./sealauth-data/trust");
	assert_string_equal(c.public_url, "http://127.0.0.1:8080");
	config_free(&c);
}

static void
test_file_then_env_then_option(void **state)
{
	char path[] = "/tmp/sealauth-config-XXXXXX";
	struct config c;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	write_text(path,
		   "# a comment\n\nSEALAUTH_LISTEN = 127.0.0.1:9000\n"
		   "SEALAUTH_BODY_LIMIT = 2048\nOTP_SECRET_MASTER = \"s3cr3t "
		   "with spaces\"\n");
	setenv("SEALAUTH_CONFIG", path, 1);
	setenv("SEALAUTH_BODY_LIMIT", "4096", 1);
	assert_int_equal(config_defaults(&c), SA_OK);
	assert_int_equal(config_load(&c, NULL), SA_OK);
	assert_string_equal(c.listen, "127.0.0.1:9000");
	assert_int_equal(c.body_limit, 4096); /* environment beats the file */
	assert_string_equal(c.otp_secret_master, "s3cr3t with spaces");
	assert_int_equal(config_set_option(&c, "listen", "[::1]:7000", NULL),
			 SA_OK);
	assert_string_equal(c.listen, "[::1]:7000");
	assert_int_equal(config_set_option(&c, "no-such-option", "1", NULL),
			 SA_ERR_NOT_FOUND);
	config_free(&c);
	unsetenv("SEALAUTH_BODY_LIMIT");
	unsetenv("SEALAUTH_CONFIG");
	unlink(path);
}

static void
test_errors_name_the_setting(void **state)
{
	char path[] = "/tmp/sealauth-config-XXXXXX";
	char *text = NULL;
	size_t len = 0;
	struct config c;
	FILE *err;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	unsetenv("SEALAUTH_CONFIG");
	assert_int_equal(config_defaults(&c), SA_OK);
	err = open_memstream(&text, &len);
	assert_int_equal(config_set(&c, "SEALAUTH_THREADS", "-1", err),
			 SA_ERR_CONFIG);
	assert_int_equal(config_set(&c, "SEALAUTH_THREADS", "2x", err),
			 SA_ERR_CONFIG);
	assert_int_equal(config_set(&c, "NOPE", "1", err), SA_ERR_CONFIG);
	write_text(path, "SEALAUTH_LISTEN\n");
	setenv("SEALAUTH_CONFIG", path, 1);
	assert_int_equal(config_load(&c, err), SA_ERR_CONFIG);
	unsetenv("SEALAUTH_CONFIG");
	setenv("SEALAUTH_LOG_LEVEL", "loud", 1);
	assert_int_equal(config_load(&c, err), SA_ERR_CONFIG);
	unsetenv("SEALAUTH_LOG_LEVEL");
	free(c.listen);
	c.listen = strdup("no-port");
	assert_int_equal(config_resolve(&c, err), SA_ERR_CONFIG);
	fclose(err);
	assert_non_null(strstr(text, "SEALAUTH_THREADS"));
	assert_non_null(strstr(text, "NOPE"));
	assert_non_null(strstr(text, "KEY = value"));
	assert_non_null(strstr(text, "SEALAUTH_LOG_LEVEL"));
	assert_non_null(strstr(text, "SEALAUTH_LISTEN"));
	free(text);
	config_free(&c);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_resolve),
	    cmocka_unit_test(test_file_then_env_then_option),
	    cmocka_unit_test(test_errors_name_the_setting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
