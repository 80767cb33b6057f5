/*
 * test_verify_msg.c - the signed verification message: the one test vector
 * that the server (login/api_auth.c) and the phone simulator (cmd/device.c)
 * both build through verify_msg_build, and the refusals that keep two
 * answers from signing the same bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "login/verify_msg.h"

static void
test_message_vector(void **state)
{
	const char *in[] = {"identity:name", "identity:age_over_18",
			    "identity:Name", "identity:document"};
	char *msg = NULL;

	(void)state;
	assert_int_equal(verify_msg_build("sess_A1b2C3", "610739", 1800000123,
					  "approve", in, 4, &msg),
			 SA_OK);
	/* Bytewise: 'N' (0x4e) sorts before 'a' (0x61), unlike a locale. */
	assert_string_equal(msg, "sealauth-verify-v1|sess_A1b2C3|610739|"
				 "1800000123|approve|identity:Name,"
				 "identity:age_over_18,identity:document,"
				 "identity:name");
	free(msg);
	/* The caller's array keeps its order. */
	assert_string_equal(in[0], "identity:name");
	assert_string_equal(in[2], "identity:Name");

	msg = NULL;
	assert_int_equal(verify_msg_build("sess_test", "961377", 1700000000,
					  "reject", NULL, 0, &msg),
			 SA_OK);
	assert_string_equal(msg,
			    "sealauth-verify-v1|sess_test|961377|1700000000|"
			    "reject|");
	free(msg);
	/* "This wasn't me" is signed after the scopes; no reason is the
	 * plain text. */
	msg = NULL;
	assert_int_equal(verify_msg_build_reason("sess_test", "961377",
						 1700000000, "reject", NULL, 0,
						 "not_me", &msg),
			 SA_OK);
	assert_string_equal(msg,
			    "sealauth-verify-v1|sess_test|961377|1700000000|"
			    "reject||not_me");
	free(msg);
	msg = NULL;
	assert_int_equal(verify_msg_build_reason("sess_test", "961377",
						 1700000000, "reject", NULL, 0,
						 NULL, &msg),
			 SA_OK);
	assert_string_equal(msg,
			    "sealauth-verify-v1|sess_test|961377|1700000000|"
			    "reject|");
	free(msg);
}

static void
test_message_refuses_ambiguous(void **state)
{
	const char *comma[] = {"a,b"};
	const char *empty[] = {""};
	char *msg = NULL;

	(void)state;
	assert_int_equal(
	    verify_msg_build("s|x", "1", 1, "approve", NULL, 0, &msg),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    verify_msg_build("s", "1|2", 1, "approve", NULL, 0, &msg),
	    SA_ERR_VALIDATION);
	assert_int_equal(verify_msg_build("s", "1", 1, "maybe", NULL, 0, &msg),
			 SA_ERR_VALIDATION);
	assert_int_equal(
	    verify_msg_build("s", "1", 1, "approve", comma, 1, &msg),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    verify_msg_build("s", "1", 1, "approve", empty, 1, &msg),
	    SA_ERR_VALIDATION);
	/* A reason only with a rejection, and only a known one. */
	assert_int_equal(verify_msg_build_reason("s", "1", 1, "approve", NULL,
						 0, "not_me", &msg),
			 SA_ERR_VALIDATION);
	assert_int_equal(verify_msg_build_reason("s", "1", 1, "reject", NULL, 0,
						 "x|y", &msg),
			 SA_ERR_VALIDATION);
	assert_null(msg);
}

static void
test_scopes_sort_drops_repeats(void **state)
{
	const char *v[] = {"b", "a", "b", "A"};

	(void)state;
	assert_int_equal(verify_msg_scopes_sort(v, 4), 3);
	assert_string_equal(v[0], "A");
	assert_string_equal(v[1], "a");
	assert_string_equal(v[2], "b");
	assert_int_equal(verify_msg_scopes_sort(v, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_vector),
	    cmocka_unit_test(test_message_refuses_ambiguous),
	    cmocka_unit_test(test_scopes_sort_drops_repeats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
