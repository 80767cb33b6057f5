/*
 * audit.c - the audit log: the group-commit writer and the chain verifier
 * (rows are hashed by audit_row_hash, store/audit_rows.c).
 *
 * Callers of audit_log queue a node that lives on their own stack. Whoever
 * finds no write in progress becomes the writer (the leader): it takes up
 * to batch_max queued nodes, writes them in one transaction with the lock
 * released, wakes each caller in the batch with the outcome and hands the
 * pen to the next waiting caller. Events queued during a write share the
 * next fsync; alone, an event is written by its own thread with no
 * hand-off at all. Asynchronous events (audit_log_cb), queued by threads
 * that must not wait, are written by the next leader or, when no caller is
 * waiting, by a writer thread kept for them.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json_out.h"
#include "audit/audit.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define AUDIT_SPARE_MAX 1024 /* spent async nodes kept for reuse */

/* One queued event; owned by the audit_log caller, on its stack. */
struct audit_pending {
	struct audit_entry en;
	enum sa_err rc;
	int done;
	pthread_cond_t cv; /* signalled under a->mu when done is set */
	audit_done_cb cb; /* async nodes: called after the commit, then freed */
	void *cb_arg;
	int async;
	/* Written in the same transaction as the next node (audit_log_many):
	 * its owner waits on the group's last node. */
	int with_next;
	struct audit_pending *next;
};

struct audit {
	struct dstore *ds;
	size_t batch_max;
	struct metrics *metrics; /* commit latency; may be NULL */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv_work;	   /* the writer thread waits for async nodes */
	pthread_cond_t cv_room;	   /* callers wait for queue room */
	pthread_cond_t cv_idle;	   /* audit_close waits for callers to leave */
	pthread_cond_t cv_flushed; /* audit_flush waits for "finished" */
	struct audit_pending *head, *tail;
	size_t queued;
	size_t active; /* callers inside audit_log */
	int writing; /* a batch is being written (by a leader or the thread) */
	size_t sync_queued; /* synchronous nodes in the queue */
	/* Spent asynchronous nodes kept for reuse: each is over 1 KiB, and
	 * allocations of that size make glibc consolidate its free lists. */
	struct audit_pending *spare;
	size_t nspare;
	uint64_t gap_us;  /* the writer thread's least time between commits */
	uint64_t busy_us; /* that time after a batch of AUDIT_BUSY_ROWS */
	uint64_t last_us; /* when the last batch started */
	size_t last_rows; /* events in the last batch */
	/* The writer thread is waiting out the gap: it wakes by itself when
	 * the gap ends, so only a full batch or closing needs to wake it. */
	int gap_wait;
	int closing;
	uint64_t batches, rows;
	/* Events queued so far, and those written (or failed) with their
	 * callbacks run: batches go one at a time, in queue order. */
	uint64_t entered, finished;
	/* Writer-only scratch space, batch_max + AUDIT_GROUP_MAX - 1 entries
	 * each: a batch never splits a group. */
	struct audit_row *batch;
	struct audit_pending **taken;
};

/*
 * Set while this thread runs the callbacks of a batch it wrote. The write
 * is still in progress then, so no one can make room in the queue: an event
 * such a callback queues (audit_log_cb) goes in without waiting for room,
 * which bounds the overshoot to one event per callback of one batch.
 */
static _Thread_local int in_callbacks;

/* audit_now_ms is the wall clock in unix milliseconds. */
static int64_t
audit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * audit_copy_cut copies s (NULL: "") into dst of max+1 bytes, cutting it to
 * at most max bytes without splitting a UTF-8 sequence.
 */
static void
audit_copy_cut(char *dst, const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

/*
 * audit_detail_take makes the n bytes of text (stolen; NULL when it could
 * not be made) the detail an entry stores. An oversized text is replaced
 * by a marker that keeps the event.
 */
static enum sa_err
audit_detail_take(const char *event, char *text, size_t n, char **out)
{
	if (text == NULL)
		return SA_ERR_NOMEM;
	if (n < 2 || text[0] != '{' || text[n - 1] != '}' ||
	    strlen(text) != n) {
		free(text);
		return SA_ERR_VALIDATION;
	}
	if (n > AUDIT_DETAIL_MAX) {
		char marker[64];

		log_warn("audit.detail",
			 "detail of %s is %zu bytes, over %d; not stored",
			 event, n, AUDIT_DETAIL_MAX);
		snprintf(marker, sizeof(marker),
			 "{\"detail_omitted_bytes\":%zu}", n);
		free(text);
		if ((text = strdup(marker)) == NULL)
			return SA_ERR_NOMEM;
	}
	*out = text;
	return SA_OK;
}

/*
 * audit_detail_text turns detail (not stolen here) into compact JSON text
 * with sorted keys, so the same detail always stores and hashes alike.
 */
static enum sa_err
audit_detail_text(const char *event, const json_t *detail, char **out)
{
	char *text;
	size_t n = 2;

	if (detail == NULL)
		text = strdup("{}");
	else if (!json_is_object(detail))
		return SA_ERR_VALIDATION;
	else
		text = json_out(detail, JSON_OUT_SORT_KEYS, &n);
	return audit_detail_take(event, text, n, out);
}

/*
 * handoff_locked passes the pen after a write: to the first queued
 * synchronous caller, which is waiting anyway, or, when only asynchronous
 * events wait (or the log is closing), to the writer thread.
 */
static void
handoff_locked(struct audit *a)
{
	for (struct audit_pending *p = a->head; a->sync_queued > 0 && p != NULL;
	     p = p->next) {
		if (!p->async && !p->with_next) {
			pthread_cond_signal(&p->cv);
			return;
		}
	}
	if (a->head != NULL || a->closing)
		pthread_cond_signal(&a->cv_work);
}

/*
 * write_batch_locked writes up to batch_max nodes from the head of the
 * queue in one transaction and hands each caller the outcome. The caller
 * holds a->mu with no write in progress; the lock is released during the
 * write and held again on return.
 */
static void
write_batch_locked(struct audit *a)
{
	struct audit_pending *spent = NULL;
	size_t k = 0;
	enum sa_err rc;

	a->writing = 1;
	a->last_us = now_mono_us();
	while (a->head != NULL &&
	       (k < a->batch_max || a->taken[k - 1]->with_next)) {
		if (!a->head->async && !a->head->with_next)
			a->sync_queued--;
		a->taken[k++] = a->head;
		a->head = a->head->next;
	}
	a->last_rows = k;
	if (a->head == NULL)
		a->tail = NULL;
	a->queued -= k;
	pthread_cond_broadcast(&a->cv_room);
	pthread_mutex_unlock(&a->mu);

	/* The nodes stay valid: their owners wait until done. */
	for (size_t i = 0; i < k; i++)
		a->batch[i] = a->taken[i]->en.row;
	rc = dstore_audit_append(a->ds, a->batch, k);
	if (rc == SA_OK)
		metrics_observe(a->metrics, M_AUDIT_COMMIT, NULL, NULL,
				now_mono_us() - a->last_us);
	if (rc != SA_OK)
		log_error("audit.write", "%zu audit rows not written: %s", k,
			  sa_err_str(rc));

	/* Asynchronous callers learn the outcome outside the lock. */
	in_callbacks = 1;
	for (size_t i = 0; i < k; i++) {
		struct audit_pending *p = a->taken[i];
		if (!p->async)
			continue;
		if (p->cb != NULL)
			p->cb(rc, p->cb_arg);
		audit_entry_clear(&p->en);
		p->next = spent;
		spent = p;
		a->taken[i] = NULL;
	}
	in_callbacks = 0;
	pthread_mutex_lock(&a->mu);
	while (spent != NULL) {
		struct audit_pending *p = spent;
		spent = p->next;
		if (a->nspare < AUDIT_SPARE_MAX) {
			p->next = a->spare;
			a->spare = p;
			a->nspare++;
		} else {
			free(p);
		}
	}
	if (rc == SA_OK) {
		a->batches++;
		a->rows += k;
	}
	for (size_t i = 0; i < k; i++) {
		if (a->taken[i] == NULL)
			continue;
		a->taken[i]->rc = rc;
		a->taken[i]->done = 1;
		pthread_cond_signal(&a->taken[i]->cv);
	}
	a->finished += k;
	pthread_cond_broadcast(&a->cv_flushed);
	a->writing = 0;
	handoff_locked(a);
}

void
audit_flush(struct audit *a)
{
	uint64_t target;

	pthread_mutex_lock(&a->mu);
	target = a->entered;
	while (a->finished < target)
		pthread_cond_wait(&a->cv_flushed, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

/*
 * audit_writer is the writer thread: it writes asynchronous events that no
 * waiting caller picked up. On closing it drains the queue before it exits.
 */
static void *
audit_writer(void *arg)
{
	struct audit *a = arg;

	thread_name("sa-audit");
	pthread_mutex_lock(&a->mu);
	for (;;) {
		if (a->head != NULL && !a->writing) {
			uint64_t due =
			    a->last_us + (a->last_rows >= AUDIT_BUSY_ROWS &&
						  a->busy_us > a->gap_us
					      ? a->busy_us
					      : a->gap_us);
			/*
			 * Right after a commit, wait out the gap: what arrives
			 * meanwhile shares the next fsync, which costs far
			 * more than a row. After a large batch the gap is the
			 * busy one. A full batch or closing goes at once; an
			 * idle log commits without delay.
			 */
			if (!a->closing && a->queued < a->batch_max &&
			    now_mono_us() < due) {
				struct timespec ts = mono_at_us(due);
				a->gap_wait = 1;
				pthread_cond_timedwait(&a->cv_work, &a->mu,
						       &ts);
				a->gap_wait = 0;
				continue;
			}
			write_batch_locked(a);
			continue;
		}
		if (a->closing && a->head == NULL && !a->writing)
			break;
		pthread_cond_wait(&a->cv_work, &a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* audit_free releases a writer whose thread is not running. */
static void
audit_free(struct audit *a)
{
	while (a->spare != NULL) {
		struct audit_pending *p = a->spare;
		a->spare = p->next;
		free(p);
	}
	pthread_cond_destroy(&a->cv_work);
	pthread_cond_destroy(&a->cv_room);
	pthread_cond_destroy(&a->cv_idle);
	pthread_cond_destroy(&a->cv_flushed);
	pthread_mutex_destroy(&a->mu);
	free(a->batch);
	free(a->taken);
	free(a);
}

enum sa_err
audit_open(struct dstore *ds, size_t batch_max, struct audit **out)
{
	struct audit *a;

	if (ds == NULL || batch_max == 0 || batch_max > AUDIT_QUEUE_MAX)
		return SA_ERR_CONFIG;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return SA_ERR_NOMEM;
	a->ds = ds;
	a->batch_max = batch_max;
	pthread_mutex_init(&a->mu, NULL);
	cond_init_mono(&a->cv_work); /* for the commit gap's timed wait */
	pthread_cond_init(&a->cv_room, NULL);
	pthread_cond_init(&a->cv_idle, NULL);
	pthread_cond_init(&a->cv_flushed, NULL);
	a->batch = calloc(batch_max + AUDIT_GROUP_MAX - 1, sizeof(*a->batch));
	a->taken = calloc(batch_max + AUDIT_GROUP_MAX - 1, sizeof(*a->taken));
	if (a->batch == NULL || a->taken == NULL) {
		audit_free(a);
		return SA_ERR_NOMEM;
	}
	if (pthread_create(&a->thread, NULL, audit_writer, a) != 0) {
		audit_free(a);
		return SA_ERR_INTERNAL;
	}
	*out = a;
	return SA_OK;
}

/* entry_head fills everything of an entry but its detail. */
static enum sa_err
entry_head(struct audit_entry *p, const char *event, const char *ip,
	   const char *ua, const char *subject)
{
	size_t n = event ? strnlen(event, AUDIT_EVENT_MAX + 1) : 0;

	memset(p, 0, sizeof(*p));
	if (n == 0 || n > AUDIT_EVENT_MAX ||
	    (subject &&
	     strnlen(subject, AUDIT_SUBJECT_MAX + 1) > AUDIT_SUBJECT_MAX))
		return SA_ERR_VALIDATION;
	memcpy(p->event, event, n + 1);
	audit_copy_cut(p->ip, ip, AUDIT_IP_MAX);
	audit_copy_cut(p->ua, ua, AUDIT_UA_MAX);
	audit_copy_cut(p->subject, subject, AUDIT_SUBJECT_MAX);
	p->row.ts_ms = audit_now_ms();
	p->row.event = p->event;
	p->row.ip = p->ip;
	p->row.ua = p->ua;
	p->row.subject = p->subject;
	return SA_OK;
}

enum sa_err
audit_entry_fill(struct audit_entry *p, const char *event, const char *ip,
		 const char *ua, const char *subject, const json_t *detail)
{
	enum sa_err rc;

	if ((rc = entry_head(p, event, ip, ua, subject)) != SA_OK ||
	    (rc = audit_detail_text(p->event, detail, &p->detail)) != SA_OK)
		return rc;
	p->row.detail = p->detail;
	return SA_OK;
}

/* entry_fill_text is audit_entry_fill for a detail already written as
 * text (stolen, even on failure). */
static enum sa_err
entry_fill_text(struct audit_entry *p, const char *event, const char *ip,
		const char *ua, const char *subject, char *text, size_t n)
{
	enum sa_err rc;

	if ((rc = entry_head(p, event, ip, ua, subject)) != SA_OK) {
		free(text);
		return rc;
	}
	if ((rc = audit_detail_take(p->event, text, n, &p->detail)) != SA_OK)
		return rc;
	p->row.detail = p->detail;
	return SA_OK;
}

void
audit_entry_clear(struct audit_entry *p)
{
	free(p->detail);
	p->detail = NULL;
	p->row.detail = NULL;
}

void
audit_note_written(struct audit *a, size_t rows)
{
	pthread_mutex_lock(&a->mu);
	a->batches++;
	a->rows += rows;
	pthread_mutex_unlock(&a->mu);
}

/*
 * enqueue_locked appends n linked nodes (p, p->next, ...) after waiting for
 * room for all of them at once, so no other caller's node comes between
 * them: a full queue makes the caller wait rather than lose an event. The
 * caller holds a->mu and has counted itself in a->active.
 */
static enum sa_err
enqueue_locked(struct audit *a, struct audit_pending *p, size_t n)
{
	struct audit_pending *last = p;

	while (a->queued + n > AUDIT_QUEUE_MAX && !a->closing && !in_callbacks)
		pthread_cond_wait(&a->cv_room, &a->mu);
	if (a->closing)
		return SA_ERR_SHUTTING_DOWN;
	for (size_t i = 1; i < n; i++)
		last = last->next;
	last->next = NULL;
	if (a->tail != NULL)
		a->tail->next = p;
	else
		a->head = p;
	a->tail = last;
	a->queued += n;
	a->entered += n;
	/*
	 * A synchronous caller writes itself if nobody is writing. An
	 * asynchronous one cannot wait: the writer thread is told, unless a
	 * write is in progress or a synchronous caller is about to lead, since
	 * those take it along (handoff_locked), or the thread is waiting out
	 * the commit gap and the batch is not full: woken for each event, it
	 * would only wait again (two context switches per event for nothing).
	 */
	if (!last->async)
		a->sync_queued++;
	else if (!a->writing && a->sync_queued == 0 &&
		 (!a->gap_wait || a->queued >= a->batch_max))
		pthread_cond_signal(&a->cv_work);
	return SA_OK;
}

/*
 * audit_wait_locked queues the n linked nodes of one caller and returns
 * when the last is written, leading the write itself whenever nobody else
 * is writing. The caller holds a->mu.
 */
static enum sa_err
audit_wait_locked(struct audit *a, struct audit_pending *p, size_t n)
{
	struct audit_pending *last = &p[n - 1];
	enum sa_err rc;

	for (size_t i = 0; i + 1 < n; i++) {
		p[i].next = &p[i + 1];
		p[i].with_next = 1;
	}
	a->active++;
	rc = enqueue_locked(a, p, n);
	if (rc == SA_OK) {
		while (!last->done) {
			if (!a->writing)
				write_batch_locked(a);
			else
				pthread_cond_wait(&last->cv, &a->mu);
		}
		rc = last->rc;
	}
	if (--a->active == 0)
		pthread_cond_signal(&a->cv_idle);
	return rc;
}

enum sa_err
audit_log(struct audit *a, const char *event, const char *ip, const char *ua,
	  const char *subject, json_t *detail)
{
	const struct audit_event ev = {event, subject, detail};

	return audit_log_many(a, ip, ua, &ev, 1);
}

enum sa_err
audit_log_many(struct audit *a, const char *ip, const char *ua,
	       const struct audit_event *ev, size_t n)
{
	struct audit_pending p[AUDIT_GROUP_MAX];
	enum sa_err rc = SA_OK;

	if (n == 0 || n > AUDIT_GROUP_MAX) {
		for (size_t i = 0; i < n; i++)
			json_decref(ev[i].detail);
		return SA_ERR_VALIDATION;
	}
	memset(p, 0, n * sizeof(p[0]));
	for (size_t i = 0; i < n && rc == SA_OK; i++)
		rc = audit_entry_fill(&p[i].en, ev[i].event, ip, ua,
				      ev[i].subject, ev[i].detail);
	if (rc != SA_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		pthread_cond_init(&p[i].cv, NULL);
	pthread_mutex_lock(&a->mu);
	rc = audit_wait_locked(a, p, n);
	pthread_mutex_unlock(&a->mu);
	for (size_t i = 0; i < n; i++)
		pthread_cond_destroy(&p[i].cv);
out:
	for (size_t i = 0; i < n; i++)
		audit_entry_clear(&p[i].en);
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i].detail);
	return rc;
}

/* pending_get takes a spare pending event, or a new one; NULL when out of
 * memory. */
static struct audit_pending *
pending_get(struct audit *a)
{
	struct audit_pending *p;

	pthread_mutex_lock(&a->mu);
	if ((p = a->spare) != NULL) {
		a->spare = p->next;
		a->nspare--;
	}
	pthread_mutex_unlock(&a->mu);
	if (p != NULL)
		memset(p, 0, sizeof(*p));
	else
		p = calloc(1, sizeof(*p));
	return p;
}

/* queue_async queues p, its entry filled with outcome rc, for cb; p is
 * freed when it is not queued. */
static enum sa_err
queue_async(struct audit *a, struct audit_pending *p, enum sa_err rc,
	    audit_done_cb cb, void *arg)
{
	if (rc == SA_OK) {
		p->async = 1;
		p->cb = cb;
		p->cb_arg = arg;
		pthread_mutex_lock(&a->mu);
		a->active++;
		rc = enqueue_locked(a, p, 1);
		if (--a->active == 0)
			pthread_cond_signal(&a->cv_idle);
		pthread_mutex_unlock(&a->mu);
	}
	if (rc != SA_OK) {
		audit_entry_clear(&p->en);
		free(p);
	}
	return rc;
}

enum sa_err
audit_log_cb(struct audit *a, const char *event, const char *ip, const char *ua,
	     const char *subject, json_t *detail, audit_done_cb cb, void *arg)
{
	struct audit_pending *p = pending_get(a);
	enum sa_err rc;

	if (p == NULL) {
		json_decref(detail);
		return SA_ERR_NOMEM;
	}
	rc = audit_entry_fill(&p->en, event, ip, ua, subject, detail);
	json_decref(detail);
	return queue_async(a, p, rc, cb, arg);
}

enum sa_err
audit_log_text_cb(struct audit *a, const char *event, const char *ip,
		  const char *ua, const char *subject, char *detail, size_t n,
		  audit_done_cb cb, void *arg)
{
	struct audit_pending *p = pending_get(a);

	if (p == NULL) {
		free(detail);
		return SA_ERR_NOMEM;
	}
	return queue_async(
	    a, p, entry_fill_text(&p->en, event, ip, ua, subject, detail, n),
	    cb, arg);
}

/* audit_close_drain stops the writer after the queue is empty and waits
 * for every caller to leave. */
static void
audit_close_drain(struct audit *a)
{
	pthread_mutex_lock(&a->mu);
	a->closing = 1;
	pthread_cond_broadcast(&a->cv_work);
	pthread_cond_broadcast(&a->cv_room);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	/* Callers woken by closing still hold pointers into a. */
	pthread_mutex_lock(&a->mu);
	while (a->active > 0)
		pthread_cond_wait(&a->cv_idle, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	audit_close_drain(a);
	audit_free(a);
}

void
audit_set_commit_gap(struct audit *a, unsigned int us)
{
	pthread_mutex_lock(&a->mu);
	a->gap_us = us;
	pthread_mutex_unlock(&a->mu);
}

void
audit_set_busy_gap(struct audit *a, unsigned int busy_us)
{
	pthread_mutex_lock(&a->mu);
	a->busy_us = busy_us;
	pthread_mutex_unlock(&a->mu);
}

void
audit_close_stats(struct audit *a, uint64_t *batches, uint64_t *rows)
{
	audit_close_drain(a);
	*batches = a->batches;
	*rows = a->rows;
	audit_free(a);
}

void
audit_stats(struct audit *a, uint64_t *batches, uint64_t *rows)
{
	pthread_mutex_lock(&a->mu);
	if (batches != NULL)
		*batches = a->batches;
	if (rows != NULL)
		*rows = a->rows;
	pthread_mutex_unlock(&a->mu);
}

struct audit_verify_state {
	struct audit_verify_result *res;
	int64_t last_seq;
	unsigned char prev[32];
};

/* audit_verify_row checks one row against the chain so far; it stops the
 * walk at the first bad row. */
static int
audit_verify_row(const struct audit_row *row, void *arg)
{
	struct audit_verify_state *st = arg;
	struct audit_verify_result *res = st->res;
	unsigned char h[32];

	res->rows++;
	if (row->seq != st->last_seq + 1) {
		res->first_bad_seq = row->seq;
		snprintf(res->reason, sizeof(res->reason),
			 "seq %" PRId64 " follows seq %" PRId64 ": %s",
			 row->seq, st->last_seq,
			 row->seq > st->last_seq + 1 ? "rows are missing"
						     : "out of order");
		return 1;
	}
	if (memcmp(row->prev_hash, st->prev, 32) != 0) {
		res->first_bad_seq = row->seq;
		if (st->last_seq == 0)
			snprintf(res->reason, sizeof(res->reason),
				 "prev_hash of the first row is not the "
				 "genesis hash (32 zero bytes)");
		else
			snprintf(res->reason, sizeof(res->reason),
				 "prev_hash does not match the hash of seq "
				 "%" PRId64,
				 st->last_seq);
		return 1;
	}
	audit_row_hash(row, st->prev, h);
	if (memcmp(h, row->hash, 32) != 0) {
		res->first_bad_seq = row->seq;
		snprintf(res->reason, sizeof(res->reason),
			 "hash does not match the row's contents (the row "
			 "was modified)");
		return 1;
	}
	st->last_seq = row->seq;
	memcpy(st->prev, row->hash, 32);
	return 0;
}

enum sa_err
audit_verify(struct dstore *ds, struct audit_verify_result *res)
{
	struct audit_verify_state st;
	enum sa_err rc;

	memset(res, 0, sizeof(*res));
	memset(&st, 0, sizeof(st));
	st.res = res;
	rc = dstore_audit_iter(ds, 1, 0, audit_verify_row, &st);
	if (rc == SA_ERR_INTERNAL && res->first_bad_seq == 0) {
		/* The store hands over every good row before one it cannot
		 * read, so the unreadable one comes right after. */
		res->first_bad_seq = st.last_seq + 1;
		snprintf(res->reason, sizeof(res->reason),
			 "the row after seq %" PRId64
			 " is unreadable (malformed columns)",
			 st.last_seq);
		rc = SA_OK;
	}
	return rc;
}

void
audit_set_metrics(struct audit *a, struct metrics *m)
{
	pthread_mutex_lock(&a->mu);
	a->metrics = m;
	pthread_mutex_unlock(&a->mu);
}

size_t
audit_queue_depth(struct audit *a)
{
	size_t n;

	pthread_mutex_lock(&a->mu);
	n = a->queued;
	pthread_mutex_unlock(&a->mu);
	return n;
}

json_t *
audit_text_json(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL || (copy = strdup(s)) == NULL)
		return j;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}
