/*
 * audit.h - the audit log writer (group commit) and the chain verifier.
 *
 * Every security event goes through audit_log, which returns only when the
 * row is committed to the durable store: a response that reports an action
 * is sent after its audit row exists. Rows form a hash chain (see
 * audit_row_hash in store/store.h) that audit_verify walks.
 */
#ifndef SEALAUTH_AUDIT_H
#define SEALAUTH_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"
#include "store/store.h"

#define AUDIT_EVENT_MAX 64    /* bytes; longer events are refused */
#define AUDIT_IP_MAX 64	      /* bytes; longer addresses are truncated */
#define AUDIT_UA_MAX 512      /* bytes; longer user agents are truncated */
#define AUDIT_SUBJECT_MAX 256 /* bytes; longer subjects are refused */
#define AUDIT_DETAIL_MAX 8192 /* bytes of compact JSON text */
#define AUDIT_QUEUE_MAX 65536 /* events waiting; audit_log blocks beyond */

struct audit;

/*
 * One event made ready to be written together with a change of the
 * durable store (struct dstore_audit in store/store.h), so the change and
 * its row commit as one: the row and the text it points to, checked and
 * cut exactly as audit_log does. audit_entry_fill does not take detail
 * (NULL meaning {}); audit_entry_clear frees what the entry holds (also
 * after a failed fill). A row written this way bypasses the writer: tell
 * it with audit_note_written so its counts stay whole.
 */
struct audit_entry {
	struct audit_row row;
	char event[AUDIT_EVENT_MAX + 1];
	char ip[AUDIT_IP_MAX + 1];
	char ua[AUDIT_UA_MAX + 1];
	char subject[AUDIT_SUBJECT_MAX + 1];
	char *detail; /* malloc'd JSON text */
};
enum sa_err audit_entry_fill(struct audit_entry *en, const char *event,
			     const char *ip, const char *ua,
			     const char *subject, const json_t *detail);
void audit_entry_clear(struct audit_entry *en);
void audit_note_written(struct audit *a, size_t rows);

/*
 * audit_open starts the writer thread over ds, which must outlive the
 * writer. At most batch_max rows (1..AUDIT_QUEUE_MAX) go into one
 * transaction. On success *out owns the writer; stop it with audit_close.
 */
enum sa_err audit_open(struct dstore *ds, size_t batch_max, struct audit **out);

/*
 * audit_set_commit_gap makes the writer thread (which writes the events of
 * parked requests and asynchronous callers) start a commit at most every us
 * microseconds: under load the events of that interval share one fsync. A
 * commit after a quiet spell starts at once. 0, the default, never waits.
 */
void audit_set_commit_gap(struct audit *a, unsigned int us);

/*
 * audit_set_busy_gap makes the writer thread wait busy_us (when longer than
 * the commit gap) before the commit that follows one of at least
 * AUDIT_BUSY_ROWS events: under heavy load the commits are spaced further
 * apart and each fsync carries more events, so a busy server spends less
 * CPU and fewer device syncs per event, while under light load an event
 * still waits at most the commit gap. 0, the default, never waits longer.
 */
#define AUDIT_BUSY_ROWS 16
void audit_set_busy_gap(struct audit *a, unsigned int busy_us);

/*
 * audit_log appends one event and returns only when it is durable
 * (committed). detail (may be NULL, meaning {}) must be a JSON object; the
 * reference is stolen in every case. Safe from any thread; concurrent
 * callers are batched into one transaction by the writer thread (group
 * commit). When the queue is full it blocks until there is room: an event is
 * never dropped. If the store write fails every caller in that batch gets the
 * error, and must then not report the action as done.
 *
 * event must be 1..AUDIT_EVENT_MAX bytes and subject at most
 * AUDIT_SUBJECT_MAX (SA_ERR_VALIDATION otherwise); ip and ua are cut to
 * their maximum at a UTF-8 boundary; a detail whose JSON text is over
 * AUDIT_DETAIL_MAX is replaced by {"detail_omitted_bytes": N}. ip, ua and
 * subject may be NULL (stored as "").
 */
enum sa_err audit_log(struct audit *a, const char *event, const char *ip,
		      const char *ua, const char *subject, json_t *detail);

/*
 * audit_close stops accepting events, writes everything already queued,
 * stops the thread and frees a. Callers still blocked waiting for queue room
 * get SA_ERR_SHUTTING_DOWN; no thread may call audit_log once audit_close has
 * returned.
 */
void audit_close(struct audit *a);
/* audit_close_stats closes a like audit_close and reports the rows written
 * and the commits they took, for the shutdown log line. */
void audit_close_stats(struct audit *a, uint64_t *batches, uint64_t *rows);

/*
 * audit_log_many is audit_log for up to AUDIT_GROUP_MAX events of one
 * request (ip and ua are shared): they are written in order, next to each
 * other in the chain, in one transaction, so they cost one fsync and are
 * durable together or not at all. Every detail reference is stolen; an
 * event that fails the checks of audit_log refuses them all.
 */
#define AUDIT_GROUP_MAX 4
struct audit_event {
	const char *event;
	const char *subject; /* may be NULL */
	json_t *detail;	     /* may be NULL; stolen */
};
enum sa_err audit_log_many(struct audit *a, const char *ip, const char *ua,
			   const struct audit_event *ev, size_t n);

/*
 * audit_log_cb queues one event like audit_log but returns at once (it
 * waits only while the queue is full). cb (may be NULL) runs on the writer
 * thread once the event is durable or its write failed, with the outcome;
 * it must be quick, and may queue further events only with audit_log_cb
 * (which then does not wait for room: the write that would make room is
 * the one whose callback is running), never with audit_log. For events whose
 * report does not wait on them, such as those raised on the WebSocket loop
 * thread, which must not block. On an error return cb is never called.
 */
typedef void (*audit_done_cb)(enum sa_err rc, void *arg);
enum sa_err audit_log_cb(struct audit *a, const char *event, const char *ip,
			 const char *ua, const char *subject, json_t *detail,
			 audit_done_cb cb, void *arg);

/*
 * audit_log_text_cb is audit_log_cb for a detail already written as the n
 * bytes of compact JSON text of an object, members in sorted order as
 * audit_log would store them (json_obj_begin_sorted, core/json_out.h).
 * detail is stolen, also on failure; NULL stands for no memory.
 */
enum sa_err audit_log_text_cb(struct audit *a, const char *event,
			      const char *ip, const char *ua,
			      const char *subject, char *detail, size_t n,
			      audit_done_cb cb, void *arg);

/*
 * audit_flush returns once every event queued before the call has been
 * written, or its write failed, and its callback has run. For shutdown:
 * what those callbacks use (the push sender, say) may be closed after it.
 */
void audit_flush(struct audit *a);

/* audit_stats reports how many transactions (batches) and rows the writer
 * has committed so far. Either pointer may be NULL. */
void audit_stats(struct audit *a, uint64_t *batches, uint64_t *rows);

struct audit_verify_result {
	int64_t rows;	       /* rows checked */
	int64_t first_bad_seq; /* 0 if none */
	char reason[160];
};

/*
 * audit_verify walks the whole chain and reports the first row whose seq
 * skips, whose prev_hash is not the previous row's hash, or whose hash does
 * not match its contents. It returns SA_OK when the walk completed, whether
 * or not the chain is intact (see res->first_bad_seq); an error only when
 * the store could not be read at all.
 */
enum sa_err audit_verify(struct dstore *ds, struct audit_verify_result *res);

struct metrics;

/* audit_set_metrics makes the log time each batch commit into m (which
 * must outlive the log); call it before events are logged. */
void audit_set_metrics(struct audit *a, struct metrics *m);

/* audit_text_json makes a JSON string of text read from a stored row
 * (new reference, NULL on allocation failure); bytes that are not valid
 * UTF-8 become '?' rather than losing the row. */
json_t *audit_text_json(const char *s);

/* audit_queue_depth is the number of events waiting to be written. */
size_t audit_queue_depth(struct audit *a);

#endif
