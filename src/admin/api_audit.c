/*
 * api_audit.c - the audit log for admins: query it (newest first, by
 * event, subject and time, with a cursor) and verify its hash chain.
 *
 * The log is read through the durable store's ordered walk, in pages going
 * backwards from the cursor: a query examines at most AUDIT_SCAN_MAX rows
 * per call, so a filter that matches rarely costs bounded work and the
 * answer's cursor continues the search where it stopped. Details pass
 * through a filter that drops any member whose name marks a secret, so the
 * log never hands one out even if a future event carried it by mistake.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "audit/audit.h"
#include "core/log.h"
#include "core/util.h"

#define AUDIT_PAGE 256		/* rows read from the store at a time */
#define AUDIT_SCAN_MAX 20000	/* rows one query examines at most */
#define AUDIT_LIMIT_DEFAULT 50	/* events per answer */
#define AUDIT_LIMIT_MAX 200	/* events per answer at most */
#define AUDIT_SINCE_SLACK 60000 /* ms a row's time may lag its seq order */

/* The query, from the query string. */
struct audit_query {
	const char *event; /* exact name, or a prefix when it ends in '*' */
	size_t event_len;
	int event_prefix;
	const char *subject;
	int64_t since_ms, until_ms; /* 0: no bound */
	int64_t cursor;		    /* rows with seq <= cursor; 0: newest */
	const char *cursor_text;    /* as given */
	int64_t limit;
	const char *bad; /* the first parameter refused */
	char why[160];
};

/* ---- Reading the query --------------------------------------------------- */

/* query_int reads a decimal in [lo, hi]; -1 when s is not one. */
static int64_t
query_int(const char *s, int64_t lo, int64_t hi)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 19)
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return -1;
	return (int64_t)v;
}

/* query_time reads unix seconds or an ISO 8601 UTC time into unix
 * milliseconds. */
static int
query_time(const char *s, int64_t *ms)
{
	int64_t t;

	if (s == NULL || strlen(s) > 32)
		return -1;
	if ((t = query_int(s, 0, INT64_MAX / 2000)) < 0 &&
	    (t = iso8601_parse(s)) < 0)
		return -1;
	*ms = t * 1000;
	return 0;
}

/* query_arg takes one query-string argument; a refusal stops the walk. */
static int
query_arg(void *arg, const char *name, const char *value)
{
	struct audit_query *q = arg;

	if (value == NULL || value[0] == '\0') {
		snprintf(q->why, sizeof(q->why), "%s needs a value", name);
		goto bad;
	}
	if (strcmp(name, "event") == 0) {
		q->event = value;
		q->event_len = strlen(value);
		if (q->event_len > AUDIT_EVENT_MAX) {
			snprintf(q->why, sizeof(q->why),
				 "event is longer than %d bytes",
				 AUDIT_EVENT_MAX);
			goto bad;
		}
		if (value[q->event_len - 1] == '*') {
			q->event_prefix = 1;
			q->event_len--;
		}
	} else if (strcmp(name, "tokenId") == 0 ||
		   strcmp(name, "subject") == 0) {
		if (q->subject != NULL) {
			snprintf(q->why, sizeof(q->why),
				 "give tokenId or subject, once");
			goto bad;
		}
		if (strlen(value) > AUDIT_SUBJECT_MAX) {
			snprintf(q->why, sizeof(q->why),
				 "%s is longer than %d bytes", name,
				 AUDIT_SUBJECT_MAX);
			goto bad;
		}
		q->subject = value;
	} else if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
		int64_t *t = name[0] == 's' ? &q->since_ms : &q->until_ms;
		if (query_time(value, t) != 0) {
			snprintf(q->why, sizeof(q->why),
				 "%s must be unix seconds or a UTC time like "
				 "2026-01-31T12:00:00Z",
				 name);
			goto bad;
		}
	} else if (strcmp(name, "cursor") == 0) {
		/* Checked once every filter is known (cursor_read). */
		q->cursor_text = value;
	} else if (strcmp(name, "limit") == 0) {
		if ((q->limit = query_int(value, 1, AUDIT_LIMIT_MAX)) < 0) {
			snprintf(q->why, sizeof(q->why),
				 "limit must be a number from 1 to %d",
				 AUDIT_LIMIT_MAX);
			goto bad;
		}
	} else {
		snprintf(q->why, sizeof(q->why),
			 "unknown parameter (event, tokenId, subject, since, "
			 "until, cursor, limit)");
		goto bad;
	}
	return 0;
bad:
	q->bad = name;
	return 1;
}

/* ---- Rows ---------------------------------------------------------------- */

/* ends_with tells whether k ends in w, ignoring case. */
static int
ends_with(const char *k, const char *w)
{
	size_t n = strlen(k), m = strlen(w);

	return n >= m && strcasecmp(k + n - m, w) == 0;
}

/* secret_name tells whether a detail member's name marks a secret. */
static int
secret_name(const char *k)
{
	static const char *const words[] = {
	    "secret", "password", "passwd", "privatekey",
	    "csrf",   "bearer",	  "apikey", "cookie",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(k, words[i]) != NULL)
			return 1;
	/* A credential itself, not its id. */
	if (strcasestr(k, "credential") != NULL)
		return !ends_with(k, "id") && !ends_with(k, "ids");
	/* "token", "accessToken", "installToken" ..., not "tokenId"; an
	 * OTP, not a footprint. */
	return ends_with(k, "token") || ends_with(k, "otp") ||
	       strcasecmp(k, "code") == 0;
}

void
admin_audit_redact(json_t *o)
{
	const char *k;
	json_t *v;
	void *tmp;
	size_t i;

	if (json_is_object(o)) {
		json_object_foreach_safe(o, tmp, k, v)
		{
			if (secret_name(k))
				json_object_del(o, k);
			else
				admin_audit_redact(v);
		}
	} else if (json_is_array(o)) {
		json_array_foreach(o, i, v) admin_audit_redact(v);
	}
}

/* row_json describes one row for the answer. */
static json_t *
row_json(const struct audit_row *row)
{
	json_t *detail;

	detail = json_loads(row->detail, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(detail))
		admin_audit_redact(detail);
	else {
		json_decref(detail);
		detail = json_object();
	}
	return json_pack(
	    "{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "seq",
	    (json_int_t)row->seq, "ts", (json_int_t)(row->ts_ms / 1000), "tsMs",
	    (json_int_t)row->ts_ms, "event", audit_text_json(row->event),
	    "subject", audit_text_json(row->subject), "ip",
	    audit_text_json(row->ip), "ua", audit_text_json(row->ua), "detail",
	    detail);
}

/* row_matches applies the filters that do not depend on the order. */
static int
row_matches(const struct audit_query *q, const struct audit_row *row)
{
	if (q->event != NULL &&
	    (q->event_prefix ? strncmp(row->event, q->event, q->event_len)
			     : strcmp(row->event, q->event)) != 0)
		return 0;
	if (q->subject != NULL && strcmp(row->subject, q->subject) != 0)
		return 0;
	if (q->since_ms != 0 && row->ts_ms < q->since_ms)
		return 0;
	if (q->until_ms != 0 && row->ts_ms >= q->until_ms)
		return 0;
	return 1;
}

/* One page of the walk: each row's seq and time, and its description when
 * it matched. */
struct audit_scan {
	const struct audit_query *q;
	size_t n;
	struct {
		int64_t seq, ts_ms;
		json_t *hit;
	} rows[AUDIT_PAGE];
};

static int
scan_row(const struct audit_row *row, void *arg)
{
	struct audit_scan *sc = arg;

	if (sc->n == AUDIT_PAGE)
		return 1;
	sc->rows[sc->n].seq = row->seq;
	sc->rows[sc->n].ts_ms = row->ts_ms;
	sc->rows[sc->n].hit = row_matches(sc->q, row) ? row_json(row) : NULL;
	sc->n++;
	return 0;
}

static void
scan_clear(struct audit_scan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		json_decref(sc->rows[i].hit);
	sc->n = 0;
}

/*
 * audit_search walks the log backwards from top, adding matches to events
 * until the limit, AUDIT_SCAN_MAX rows, the first seq, or (with since) rows
 * well older than since. *next is where the next call continues (0: the
 * walk reached its end).
 */
static enum sa_err
audit_search(struct dstore *ds, const struct audit_query *q, int64_t top,
	     json_t *events, int64_t *next, int64_t *scanned)
{
	struct audit_scan *sc = calloc(1, sizeof(*sc));
	enum sa_err rc = SA_OK;

	*next = 0;
	*scanned = 0;
	if (sc == NULL)
		return SA_ERR_NOMEM;
	sc->q = q;
	while (top >= 1) {
		int64_t from =
		    top - AUDIT_PAGE + 1 > 1 ? top - AUDIT_PAGE + 1 : 1;
		scan_clear(sc);
		if ((rc = dstore_audit_iter(ds, from, top - from + 1, scan_row,
					    sc)) != SA_OK)
			break;
		for (size_t i = sc->n; i-- > 0;) {
			if (sc->rows[i].seq > top)
				continue;
			(*scanned)++;
			if (q->since_ms != 0 &&
			    sc->rows[i].ts_ms < q->since_ms - AUDIT_SINCE_SLACK)
				goto out; /* everything below is older */
			if (sc->rows[i].hit != NULL) {
				json_array_append(events, sc->rows[i].hit);
				if ((int64_t)json_array_size(events) ==
				    q->limit) {
					*next = sc->rows[i].seq - 1;
					goto out;
				}
			}
			if (*scanned >= AUDIT_SCAN_MAX) {
				*next = sc->rows[i].seq - 1;
				goto out;
			}
		}
		/* A page shorter than asked: the rows below are missing
		 * (a damaged log); go on below them. */
		top = from - 1;
	}
out:
	scan_clear(sc);
	free(sc);
	return rc;
}

/*
 * filters_tag is a short digest of the filters, part of every cursor: a
 * cursor continues the query it was made for and no other.
 */
static void
filters_tag(const struct audit_query *q, char out[17])
{
	char text[AUDIT_EVENT_MAX + AUDIT_SUBJECT_MAX + 64], hex[65];

	snprintf(text, sizeof(text), "%.*s%s|%s|%" PRId64 "|%" PRId64,
		 (int)q->event_len, q->event ? q->event : "",
		 q->event_prefix ? "*" : "", q->subject ? q->subject : "",
		 q->since_ms, q->until_ms);
	admin_hash_hex(text, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

/* cursor_read checks a cursor ("SEQ.TAG") against the query's filters. */
static int
cursor_read(struct audit_query *q)
{
	char tag[17], seq[24];
	const char *dot;

	if (q->cursor_text == NULL)
		return 0;
	dot = strchr(q->cursor_text, '.');
	filters_tag(q, tag);
	if (dot == NULL || (size_t)(dot - q->cursor_text) >= sizeof(seq) ||
	    strcmp(dot + 1, tag) != 0)
		return -1;
	memcpy(seq, q->cursor_text, (size_t)(dot - q->cursor_text));
	seq[dot - q->cursor_text] = '\0';
	return (q->cursor = query_int(seq, 1, INT64_MAX / 2)) < 0 ? -1 : 0;
}

enum sa_err
admin_audit_list(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct audit_query q;
	struct admin *adm;
	int64_t count = 0, next = 0, scanned = 0;
	char cursor[48], tag[17];
	json_t *events;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	memset(&q, 0, sizeof(q));
	q.limit = AUDIT_LIMIT_DEFAULT;
	http_req_query_each(req, query_arg, &q);
	if (q.bad != NULL)
		return http_res_error(res, SA_ERR_VALIDATION, q.bad, "%s",
				      q.why);
	if (q.since_ms != 0 && q.until_ms != 0 && q.since_ms > q.until_ms)
		return http_res_error(res, SA_ERR_VALIDATION, "since",
				      "since is after until");
	if (cursor_read(&q) != 0)
		return http_res_error(res, SA_ERR_VALIDATION, "cursor",
				      "cursor must be the nextCursor of an "
				      "earlier answer with the same filters");
	if ((rc = dstore_audit_count(adm->app->ds, &count)) != SA_OK)
		return admin_store_err(res, rc);
	if ((events = json_array()) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	/* seq runs 1..count in an intact log. */
	rc = audit_search(adm->app->ds, &q,
			  q.cursor != 0 && q.cursor < count ? q.cursor : count,
			  events, &next, &scanned);
	if (rc != SA_OK) {
		json_decref(events);
		return admin_store_err(res, rc);
	}
	filters_tag(&q, tag);
	snprintf(cursor, sizeof(cursor), "%" PRId64 ".%s", next, tag);
	http_res_json(res, 200,
		      json_pack("{s:o, s:s?, s:I}", "events", events,
				"nextCursor", next > 0 ? cursor : NULL,
				"scanned", (json_int_t)scanned));
	return SA_OK;
}

/* ---- Verification -------------------------------------------------------- */

enum sa_err
admin_audit_verify(struct http_request *req, struct http_response *res)
{
	struct audit_verify_result vr;
	struct admin_caller who;
	struct admin *adm;
	int64_t started;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	started = now_mono_ms();
	if ((rc = audit_verify(adm->app->ds, &vr)) != SA_OK)
		return admin_store_err(res, rc);
	if (vr.first_bad_seq != 0) {
		/* Finding the log altered is a security event in itself. */
		log_warn("audit.chain_broken",
			 "audit chain broken at seq %" PRId64 ": %s",
			 vr.first_bad_seq, vr.reason);
		admin_audit(req, &who, "admin.audit_chain_broken",
			    json_pack("{s:I, s:s}", "firstBadSeq",
				      (json_int_t)vr.first_bad_seq, "reason",
				      vr.reason));
	}
	http_res_json(
	    res, 200,
	    json_pack(
		"{s:b, s:I, s:o, s:o, s:I}", "intact", vr.first_bad_seq == 0,
		"rows", (json_int_t)vr.rows, "firstBadSeq",
		vr.first_bad_seq ? json_integer(vr.first_bad_seq) : json_null(),
		"reason",
		vr.first_bad_seq ? json_string(vr.reason) : json_null(),
		"tookMs", (json_int_t)(now_mono_ms() - started)));
	return SA_OK;
}
