/*
 * test_services.c - the relying-party registry.
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

#include "core/log.h"
#include "login/services.h"

static char path[] = "/tmp/sealauth-services-XXXXXX";

static void
write_services(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	log_set_level(SA_LOG_OFF);
	return 0;
}

static int
teardown(void **state)
{
	unlink(path);
	return 0;
}

static void
test_demo_registry(void **state)
{
	struct services *s = NULL;
	const struct service *svc;
	char why[256] = "";

	assert_int_equal(
	    services_load(NULL, "http://127.0.0.1:8080", &s, why, sizeof(why)),
	    SA_OK);
	assert_int_equal(services_count(s), 1);
	svc = services_find(s, "demo");
	assert_non_null(svc);
	assert_true(service_allows_scope(svc, "identity:name"));
	assert_true(service_allows_scope(svc, "identity:full_with_photo"));
	assert_false(service_allows_scope(svc, "identity:nope"));
	assert_true(service_allows_origin(svc, "http://127.0.0.1:8080"));
	assert_false(service_allows_origin(svc, "https://evil.example"));
	assert_true(service_allows_origin(svc, NULL));
	assert_int_equal(svc->mode, SERVICE_MODE_COMPARE);
	assert_null(services_find(s, "other"));
	services_free(s);
}

static void
test_file_registry(void **state)
{
	struct services *s = NULL;
	const struct service *svc;
	char why[256] = "";

	write_services(
	    "{\"services\": [{\"serviceId\": \"shop\", \"name\": \"Shop\","
	    " \"scopes\": [\"identity:age_over_18\"], \"origins\":"
	    " [\"https://shop.example\"], \"matchMode\": \"type\"},"
	    " {\"serviceId\": \"bank\", \"name\": \"Bank\", \"scopes\":"
	    " [\"identity:full\"], \"oidc\": {\"redirectUris\":"
	    " [\"https://bank.example/cb\"]}}]}");
	assert_int_equal(services_load(path, NULL, &s, why, sizeof(why)),
			 SA_OK);
	assert_int_equal(services_count(s), 2);
	assert_null(services_find(s, "demo")); /* a file replaces the demo */
	svc = services_find(s, "shop");
	assert_non_null(svc);
	assert_int_equal(svc->mode, SERVICE_MODE_TYPE);
	assert_true(service_allows_scope(svc, "identity:age_over_18"));
	assert_false(service_allows_scope(svc, "identity:name"));
	assert_true(service_allows_origin(svc, "https://shop.example"));
	assert_null(svc->oidc);
	assert_null(svc->saml);
	svc = services_find(s, "bank");
	/* Protocol settings are kept whole for their module to read. */
	assert_non_null(svc->oidc);
	assert_string_equal(json_string_value(json_array_get(
				json_object_get(svc->oidc, "redirectUris"), 0)),
			    "https://bank.example/cb");
	assert_null(svc->saml);
	assert_false(service_allows_origin(svc, "https://shop.example"));
	assert_true(service_allows_origin(svc, NULL));
	services_free(s);
}

static void
test_bad_files_name_the_problem(void **state)
{
	struct {
		const char *text, *want;
	} cases[] = {
	    {"not json", "services file"},
	    {"{\"services\": [{\"serviceId\": \"a b\", \"name\": \"x\", "
	     "\"scopes\":"
	     " [\"identity:name\"]}]}",
	     "serviceId"},
	    {"{\"services\": [{\"serviceId\": \"a\", \"name\": \"x\", "
	     "\"scopes\":"
	     " [\"identity:bogus\"]}]}",
	     "unknown scope"},
	    {"{\"services\": [{\"serviceId\": \"a\", \"name\": \"x\", "
	     "\"scopes\":"
	     " [\"identity:name\"], \"origins\": "
	     "[\"https://x.example/path\"]}]}",
	     "origins"},
	    {"{\"services\": [{\"serviceId\": \"a\", \"name\": \"x\", "
	     "\"scopes\":"
	     " [\"identity:name\"]}, {\"serviceId\": \"a\", \"name\": \"y\","
	     " \"scopes\": [\"identity:name\"]}]}",
	     "twice"},
	    {"{\"services\": [{\"serviceId\": \"a\", \"name\": \"x\", "
	     "\"scopes\":"
	     " [\"identity:name\"], \"matchMode\": \"guess\"}]}",
	     "matchMode"},
	    {"{\"services\": [], \"extra\": 1}", "extra"},
	    {"{\"services\": [{\"serviceId\": \"a\", \"name\": \"x\", "
	     "\"scopes\": [\"identity:name\"], \"saml\": [1]}]}",
	     "saml"},
	};
	struct services *s = NULL;
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_services(cases[i].text);
		why[0] = '\0';
		assert_int_equal(
		    services_load(path, NULL, &s, why, sizeof(why)),
		    SA_ERR_CONFIG);
		if (strstr(why, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\" does not mention %s", i, why,
				 cases[i].want);
	}
	why[0] = '\0';
	assert_int_equal(services_load("/nonexistent/services.json", NULL, &s,
				       why, sizeof(why)),
			 SA_ERR_CONFIG);
	assert_non_null(strstr(why, "cannot read"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_demo_registry),
	    cmocka_unit_test(test_file_registry),
	    cmocka_unit_test(test_bad_files_name_the_problem),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
