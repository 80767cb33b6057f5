/*
 * metrics.c - the series table and the Prometheus text rendering.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/util.h"

/* Histogram bucket upper bounds in microseconds (0.5 ms to 10 s). */
static const uint64_t bucket_us[] = {500,     1000,    2500,	5000,	 10000,
				     25000,   50000,   100000,	250000,	 500000,
				     1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct family {
	const char *name;
	const char *type;
	const char *l1, *l2; /* label names, NULL where unused */
	const char *help;
};

static const struct family families[M_FAMILY_COUNT] = {
#define METRICS_ROW(id, n, t, a, b, h) [id] = {n, t, a, b, h},
    METRICS_FAMILIES(METRICS_ROW)
#undef METRICS_ROW
};

struct series {
	enum metrics_family f;
	char l1[METRICS_LABEL_MAX + 1];
	char l2[METRICS_LABEL_MAX + 1];
	_Atomic uint64_t count;	 /* counter value, or histogram count */
	_Atomic uint64_t sum_us; /* histograms only */
	_Atomic uint64_t bucket[NBUCKETS];
};

struct metrics {
	pthread_mutex_t mu; /* serialises the creation of series */
	_Atomic size_t n;   /* published series; entries below never change */
	_Atomic uint64_t dropped; /* series not created: the table was full */
	struct series s[METRICS_SERIES_MAX];
};

enum sa_err
metrics_new(struct metrics **out)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&m->mu, NULL);
	*out = m;
	return SA_OK;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* scan looks for a published series among the first n. */
static struct series *
scan(struct metrics *m, size_t n, enum metrics_family f, const char *l1,
     const char *l2)
{
	for (size_t i = 0; i < n; i++) {
		struct series *s = &m->s[i];

		if (s->f == f && strcmp(s->l1, l1) == 0 &&
		    strcmp(s->l2, l2) == 0)
			return s;
	}
	return NULL;
}

/*
 * find returns the series of f with the given label values, creating it on
 * first use; NULL when the table is full (counted as dropped). A label value
 * longer than METRICS_LABEL_MAX is cut: values come from the code, so that
 * never merges two real series.
 */
static struct series *
find(struct metrics *m, enum metrics_family f, const char *l1, const char *l2)
{
	size_t n = atomic_load_explicit(&m->n, memory_order_acquire);
	struct series *s;

	l1 = l1 ? l1 : "";
	l2 = l2 ? l2 : "";
	if ((s = scan(m, n, f, l1, l2)) != NULL)
		return s;
	pthread_mutex_lock(&m->mu);
	n = atomic_load_explicit(&m->n, memory_order_relaxed);
	if ((s = scan(m, n, f, l1, l2)) == NULL && n < METRICS_SERIES_MAX) {
		s = &m->s[n];
		s->f = f;
		snprintf(s->l1, sizeof(s->l1), "%s", l1);
		snprintf(s->l2, sizeof(s->l2), "%s", l2);
		atomic_store_explicit(&m->n, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&m->mu);
	if (s == NULL)
		atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
	return s;
}

void
metrics_add(struct metrics *m, enum metrics_family f, const char *l1,
	    const char *l2, uint64_t n)
{
	struct series *s;

	if (m == NULL || (s = find(m, f, l1, l2)) == NULL)
		return;
	atomic_fetch_add_explicit(&s->count, n, memory_order_relaxed);
}

void
metrics_observe(struct metrics *m, enum metrics_family f, const char *l1,
		const char *l2, uint64_t us)
{
	struct series *s;
	size_t b = 0;

	if (m == NULL || (s = find(m, f, l1, l2)) == NULL)
		return;
	while (b < NBUCKETS && us > bucket_us[b])
		b++;
	if (b < NBUCKETS)
		atomic_fetch_add_explicit(&s->bucket[b], 1,
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void
metrics_event(struct metrics *m, const char *event, const char *detail_reason)
{
	if (m == NULL || event == NULL)
		return;
	metrics_add(m, M_AUDIT_EVENTS, event, NULL, 1);
	if (strcmp(event, "auth.initiate") == 0)
		metrics_add(m, M_LOGINS_STARTED, NULL, NULL, 1);
	else if (strcmp(event, "auth.approved") == 0)
		metrics_add(m, M_LOGINS_APPROVED, NULL, NULL, 1);
	else if (strcmp(event, "auth.rejected") == 0)
		metrics_add(m, M_LOGINS_REJECTED,
			    detail_reason ? detail_reason : "unknown", NULL, 1);
	else if (strcmp(event, "auth.expired") == 0)
		metrics_add(m, M_LOGINS_EXPIRED, NULL, NULL, 1);
	else if (strcmp(event, "auth.initiate_unknown") == 0)
		metrics_add(m, M_LOGINS_DECOY,
			    detail_reason ? detail_reason : "unknown", NULL, 1);
	else if (strcmp(event, "enroll.ok") == 0)
		metrics_add(m, M_ENROLLMENTS, "ok", "", 1);
	else if (strcmp(event, "enroll.replaced") == 0)
		metrics_add(m, M_ENROLLMENTS, "replaced", "", 1);
	else if (strcmp(event, "enroll.refused") == 0)
		metrics_add(m, M_ENROLLMENTS, "refused",
			    detail_reason ? detail_reason : "unknown", 1);
}

/* buf_printf appends formatted text (at most 1 KiB a call) to b. */
static enum sa_err __attribute__((format(printf, 2, 3)))
buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return SA_ERR_INTERNAL;
	return buf_append(b, tmp, (size_t)n);
}

/* Prometheus label values escape backslash, double quote and newline. */
static enum sa_err
put_label(struct buf *b, const char *name, const char *value, int first)
{
	enum sa_err rc;

	if ((rc = buf_printf(b, "%s%s=\"", first ? "" : ",", name)) != SA_OK)
		return rc;
	for (const char *c = value; *c; c++) {
		if (*c == '\\' || *c == '"')
			rc = buf_printf(b, "\\%c", *c);
		else if (*c == '\n')
			rc = buf_printf(b, "\\n");
		else
			rc = buf_printf(b, "%c", *c);
		if (rc != SA_OK)
			return rc;
	}
	return buf_printf(b, "\"");
}

/* put_labels writes "{a="x",b="y"" without the closing brace, or nothing. */
static enum sa_err
put_labels(struct buf *b, const struct family *fam, const struct series *s,
	   int *open)
{
	enum sa_err rc = SA_OK;

	*open = 0;
	if (fam->l1 != NULL) {
		if ((rc = buf_printf(b, "{")) != SA_OK ||
		    (rc = put_label(b, fam->l1, s->l1, 1)) != SA_OK)
			return rc;
		*open = 1;
	}
	if (fam->l2 != NULL)
		rc = put_label(b, fam->l2, s->l2, 0);
	return rc;
}

static enum sa_err
render_family(struct metrics *m, size_t n, enum metrics_family f, struct buf *b)
{
	const struct family *fam = &families[f];
	enum sa_err rc;
	int open;

	if ((rc = buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam->name,
			     fam->help, fam->name, fam->type)) != SA_OK)
		return rc;
	if (f == M_DROPPED) /* kept outside the table it counts for */
		return buf_printf(b, "%s %llu\n", fam->name,
				  (unsigned long long)atomic_load_explicit(
				      &m->dropped, memory_order_relaxed));
	for (size_t i = 0; i < n; i++) {
		struct series *s = &m->s[i];
		uint64_t cum = 0, count;

		if (s->f != f)
			continue;
		count = atomic_load_explicit(&s->count, memory_order_relaxed);
		if (strcmp(fam->type, "counter") == 0) {
			if ((rc = buf_printf(b, "%s", fam->name)) != SA_OK ||
			    (rc = put_labels(b, fam, s, &open)) != SA_OK ||
			    (rc = buf_printf(b, "%s %llu\n", open ? "}" : "",
					     (unsigned long long)count)) !=
				SA_OK)
				return rc;
			continue;
		}
		for (size_t k = 0; k <= NBUCKETS; k++) {
			if (k < NBUCKETS)
				cum += atomic_load_explicit(
				    &s->bucket[k], memory_order_relaxed);
			else
				cum = cum > count ? cum : count;
			if ((rc = buf_printf(b, "%s_bucket", fam->name)) !=
				SA_OK ||
			    (rc = put_labels(b, fam, s, &open)) != SA_OK)
				return rc;
			if (k < NBUCKETS)
				rc = buf_printf(b, "%sle=\"%g\"} %llu\n",
						open ? "," : "{",
						(double)bucket_us[k] / 1e6,
						(unsigned long long)cum);
			else
				rc = buf_printf(b, "%sle=\"+Inf\"} %llu\n",
						open ? "," : "{",
						(unsigned long long)cum);
			if (rc != SA_OK)
				return rc;
		}
		if ((rc = buf_printf(b, "%s_sum", fam->name)) != SA_OK ||
		    (rc = put_labels(b, fam, s, &open)) != SA_OK ||
		    (rc = buf_printf(b, "%s %.6f\n", open ? "}" : "",
				     (double)atomic_load_explicit(
					 &s->sum_us, memory_order_relaxed) /
					 1e6)) != SA_OK ||
		    (rc = buf_printf(b, "%s_count", fam->name)) != SA_OK ||
		    (rc = put_labels(b, fam, s, &open)) != SA_OK ||
		    (rc = buf_printf(b, "%s %llu\n", open ? "}" : "",
				     (unsigned long long)cum)) != SA_OK)
			return rc;
	}
	return SA_OK;
}

enum sa_err
metrics_render(struct metrics *m, const struct metrics_gauge *g, size_t ng,
	       char **out, size_t *len)
{
	struct buf b;
	size_t n = atomic_load_explicit(&m->n, memory_order_acquire);
	enum sa_err rc = SA_OK;

	buf_init(&b, 4u << 20);
	for (int f = 0; f < M_FAMILY_COUNT && rc == SA_OK; f++)
		rc = render_family(m, n, (enum metrics_family)f, &b);
	for (size_t i = 0; i < ng && rc == SA_OK; i++) {
		/* Consecutive gauges of one name share their HELP and TYPE. */
		if (i == 0 || strcmp(g[i - 1].name, g[i].name) != 0)
			rc = buf_printf(&b, "# HELP %s %s\n# TYPE %s gauge\n",
					g[i].name, g[i].help, g[i].name);
		if (rc == SA_OK && g[i].label_name != NULL)
			rc = buf_printf(&b, "%s{%s=\"%s\"} %.17g\n", g[i].name,
					g[i].label_name, g[i].label_value,
					g[i].value);
		else if (rc == SA_OK)
			rc =
			    buf_printf(&b, "%s %.17g\n", g[i].name, g[i].value);
	}
	if (rc == SA_OK)
		rc = buf_append(&b, "", 1); /* the NUL, not counted */
	if (rc != SA_OK) {
		buf_free(&b);
		return rc;
	}
	*len = b.len - 1;
	*out = (char *)b.data;
	return SA_OK;
}
