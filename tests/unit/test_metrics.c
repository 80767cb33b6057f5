/*
 * test_metrics.c - the metrics table: counts from many threads, label
 * escaping, histogram buckets, the bound on series and event mapping.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static char *
render(struct metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(m, NULL, 0, &text, &len), SA_OK);
	assert_int_equal(strlen(text), len);
	return text;
}

static void *
adder(void *arg)
{
	for (int i = 0; i < 10000; i++) {
		metrics_add(arg, M_PUSH, "fcm", "ok", 1);
		metrics_event(arg, "auth.initiate", NULL);
	}
	return NULL;
}

static void
test_counts_from_many_threads(void **state)
{
	struct metrics *m;
	pthread_t t[4];
	char *text;

	assert_int_equal(metrics_new(&m), SA_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, adder, m), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	text = render(m);
	assert_non_null(
	    strstr(text, "sealauth_push_total{provider=\"fcm\",outcome=\"ok\"} "
			 "40000\n"));
	assert_non_null(strstr(text, "sealauth_logins_started_total 40000\n"));
	assert_non_null(strstr(
	    text,
	    "sealauth_audit_events_total{event=\"auth.initiate\"} 40000\n"));
	assert_non_null(strstr(text, "# TYPE sealauth_push_total counter\n"));
	free(text);
	metrics_free(m);
}

static void
test_histogram_and_escaping(void **state)
{
	struct metrics *m;
	char *text;

	assert_int_equal(metrics_new(&m), SA_OK);
	metrics_observe(m, M_HTTP, "/a\"b\\c\nd", "2xx", 400);	/* 0.4 ms */
	metrics_observe(m, M_HTTP, "/a\"b\\c\nd", "2xx", 3000); /* 3 ms */
	metrics_observe(m, M_HTTP, "/a\"b\\c\nd", "2xx", 20000000);
	text = render(m);
	assert_non_null(strstr(text,
			       "{route=\"/a\\\"b\\\\c\\nd\",status=\"2xx\","
			       "le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(text, "le=\"0.005\"} 2\n"));
	assert_non_null(strstr(text, "le=\"10\"} 2\n"));
	assert_non_null(strstr(text, "le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "_count{route=\"/a\\\"b\\\\c\\nd\","
				     "status=\"2xx\"} 3\n"));
	assert_non_null(strstr(text, "_sum{route=\"/a\\\"b\\\\c\\nd\","
				     "status=\"2xx\"} 20.003400\n"));
	free(text);
	metrics_free(m);
}

static void
test_series_are_bounded_and_events_mapped(void **state)
{
	struct metrics *m;
	char label[32], *text;

	assert_int_equal(metrics_new(&m), SA_OK);
	for (int i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		snprintf(label, sizeof(label), "ev%d", i);
		metrics_add(m, M_AUDIT_EVENTS, label, NULL, 1);
	}
	text = render(m);
	/* Every new series past the bound was dropped and counted. */
	assert_non_null(
	    strstr(text, "sealauth_metrics_series_dropped_total 10\n"));
	assert_non_null(strstr(text, "{event=\"ev511\"} 1\n"));
	assert_null(strstr(text, "{event=\"ev512\"}"));
	free(text);
	metrics_free(m);

	assert_int_equal(metrics_new(&m), SA_OK);
	metrics_event(m, "enroll.refused", "signature");
	metrics_event(m, "auth.rejected", "Invalid OTP");
	metrics_event(m, "auth.expired", NULL);
	metrics_event(NULL, "auth.expired", NULL); /* no metrics: ignored */
	/* Decoys have a counter of their own; their end is no expiry. */
	metrics_event(m, "auth.initiate_unknown", "revoked");
	metrics_event(m, "auth.decoy_expired", NULL);
	text = render(m);
	assert_non_null(strstr(text, "sealauth_enrollments_total{outcome="
				     "\"refused\",step=\"signature\"} 1\n"));
	assert_non_null(strstr(
	    text,
	    "sealauth_logins_rejected_total{reason=\"Invalid OTP\"} 1\n"));
	assert_non_null(strstr(text, "sealauth_logins_expired_total 1\n"));
	assert_non_null(strstr(
	    text, "sealauth_logins_decoy_total{reason=\"revoked\"} 1\n"));
	free(text);
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts_from_many_threads),
	    cmocka_unit_test(test_histogram_and_escaping),
	    cmocka_unit_test(test_series_are_bounded_and_events_mapped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
