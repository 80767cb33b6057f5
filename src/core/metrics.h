/*
 * metrics.h - counters and latency histograms for the operator's dashboard,
 * rendered in the Prometheus text exposition format (version 0.0.4).
 *
 * A series is a family (a fixed list below: names, types and help texts in
 * one table) plus at most two label values. Series are created on first use
 * into a bounded, append-only table and never removed; updates after that are
 * lock-free atomic additions, so the request path pays one short scan and
 * one atomic add. Label values come from the code (event names, route
 * patterns, provider names), never from a request, which keeps the number of
 * series bounded; past METRICS_SERIES_MAX new series are dropped and counted.
 */
#ifndef SEALAUTH_METRICS_H
#define SEALAUTH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

#define METRICS_SERIES_MAX 512
#define METRICS_LABEL_MAX 96 /* bytes of one label value */

/* X(id, name, type, label names, help) */
#define METRICS_FAMILIES(X)                                                    \
	X(M_LOGINS_STARTED, "sealauth_logins_started_total", "counter", NULL,  \
	  NULL, "Logins started (POST /auth/initiate answered 200).")          \
	X(M_LOGINS_APPROVED, "sealauth_logins_approved_total", "counter",      \
	  NULL, NULL, "Logins approved on the phone.")                         \
	X(M_LOGINS_REJECTED, "sealauth_logins_rejected_total", "counter",      \
	  "reason", NULL,                                                      \
	  "Logins that ended rejected, by reason (the phone said no, bad "     \
	  "code, bad signature, too many attempts).")                          \
	X(M_LOGINS_EXPIRED, "sealauth_logins_expired_total", "counter", NULL,  \
	  NULL, "Logins that expired before an answer.")                       \
	X(M_LOGINS_DECOY, "sealauth_logins_decoy_total", "counter", "reason",  \
	  NULL,                                                                \
	  "Decoy logins started for a token id without a live enrollment "     \
	  "(not_enrolled, revoked, expired): answered like any login, never "  \
	  "pushed nor approved.")                                              \
	X(M_ENROLLMENTS, "sealauth_enrollments_total", "counter", "outcome",   \
	  "step",                                                              \
	  "Enrollments by outcome (ok, replaced, refused) and, for refusals, " \
	  "the failing step.")                                                 \
	X(M_PUSH, "sealauth_push_total", "counter", "provider", "outcome",     \
	  "Push deliveries by provider and final outcome (ok, failed).")       \
	X(M_RATELIMIT, "sealauth_ratelimit_refused_total", "counter", "class", \
	  NULL, "Requests refused by a rate limit, by limit class.")           \
	X(M_AUDIT_EVENTS, "sealauth_audit_events_total", "counter", "event",   \
	  NULL, "Security events written to the audit log, by event.")         \
	X(M_HTTP, "sealauth_http_request_duration_seconds", "histogram",       \
	  "route", "status",                                                   \
	  "Time from a request's arrival to its answer, by route pattern and " \
	  "status class (2xx, 4xx, 5xx).")                                     \
	X(M_AUDIT_COMMIT, "sealauth_audit_commit_duration_seconds",            \
	  "histogram", NULL, NULL,                                             \
	  "Time to make one batch of audit rows durable.")                     \
	X(M_DROPPED, "sealauth_metrics_series_dropped_total", "counter", NULL, \
	  NULL, "Series not recorded because the table was full.")

enum metrics_family {
#define METRICS_ENUM(id, name, type, l1, l2, help) id,
	METRICS_FAMILIES(METRICS_ENUM)
#undef METRICS_ENUM
	    M_FAMILY_COUNT
};

struct metrics;

/* metrics_new allocates an empty registry; metrics_free frees it (NULL ok). */
enum sa_err metrics_new(struct metrics **out);
void metrics_free(struct metrics *m);

/*
 * metrics_add adds n to the counter of family f with label values l1 and l2
 * (NULL where the family has fewer labels). m may be NULL (no metrics).
 * Thread-safe.
 */
void metrics_add(struct metrics *m, enum metrics_family f, const char *l1,
		 const char *l2, uint64_t n);

/* metrics_observe records one duration (microseconds) in the histogram
 * family f. m may be NULL. Thread-safe. */
void metrics_observe(struct metrics *m, enum metrics_family f, const char *l1,
		     const char *l2, uint64_t us);

/*
 * metrics_event counts an audit event: sealauth_audit_events_total, and the
 * named families an event stands for (logins started, approved, rejected,
 * expired; decoy logins; enrollments; rate-limit refusals). A decoy's end
 * (auth.decoy_expired) is not a login that expired. detail_reason is the
 * event's "reason" or "step" detail, or NULL.
 */
void metrics_event(struct metrics *m, const char *event,
		   const char *detail_reason);

/*
 * A gauge is read when the metrics are rendered: the caller passes its
 * current values. value is a plain number (seconds, counts).
 */
struct metrics_gauge {
	const char *name; /* sealauth_... */
	const char *help;
	const char *label_name; /* NULL: no label */
	const char *label_value;
	double value;
};

/*
 * metrics_render writes every family and the gauges in the text format into
 * a new NUL-terminated buffer the caller frees; *len is its length.
 */
enum sa_err metrics_render(struct metrics *m, const struct metrics_gauge *g,
			   size_t ng, char **out, size_t *len);

#endif
