/*
 * test_admin_audit.c - the filter that keeps secrets out of the audit
 * endpoints' answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/admin_int.h"

static void
test_redact_drops_secrets_and_keeps_ids(void **state)
{
	json_t *in, *want;

	(void)state;
	in = json_loads(
	    "{\"tokenId\": \"DE-1\", \"token\": \"s1\", \"accessToken\": "
	    "\"s2\", \"installToken\": \"s3\", \"clientSecret\": \"s4\", "
	    "\"nested\": {\"password\": \"p\", \"ok\": 1, \"privateKey\": "
	    "\"k\"}, \"list\": [{\"csrfToken\": \"c\", \"credentialId\": "
	    "\"i\", \"credential\": {\"id\": \"x\"}}], \"otp\": \"123456\", "
	    "\"code\": \"9\", \"footprint\": \"f\", \"tokenHash\": \"h\", "
	    "\"Cookie\": \"a=b\", \"protocol\": \"saml\"}",
	    0, NULL);
	want = json_loads(
	    "{\"tokenId\": \"DE-1\", \"nested\": {\"ok\": 1}, \"list\": "
	    "[{\"credentialId\": \"i\"}], \"footprint\": \"f\", "
	    "\"tokenHash\": \"h\", \"protocol\": \"saml\"}",
	    0, NULL);
	assert_non_null(in);
	assert_non_null(want);
	admin_audit_redact(in);
	if (!json_equal(in, want)) {
		char *got = json_dumps(in, JSON_SORT_KEYS);
		fail_msg("redacted to %s", got);
		free(got);
	}
	json_decref(in);
	json_decref(want);
}

static void
test_redact_leaves_scalars_alone(void **state)
{
	json_t *s = json_string("token");

	(void)state;
	admin_audit_redact(s);
	admin_audit_redact(NULL);
	assert_string_equal(json_string_value(s), "token");
	json_decref(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redact_drops_secrets_and_keeps_ids),
	    cmocka_unit_test(test_redact_leaves_scalars_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
