/*
 * store_pg_conn.c - the PostgreSQL store's connections: the pool of libpq
 * connections (taken by one operation at a time, checked and reset when
 * the server closed them), statement execution and pipelines, and the
 * mapping of SQLSTATEs to the project's errors. The operations are in
 * store_pg.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "core/log.h"
#include "store/store_pg_int.h"
#include "core/util.h"

/* ---- Errors ------------------------------------------------------------- */

/*
 * pg_state_err maps a SQLSTATE to the project's error enum: the server or
 * the network being away is SA_ERR_UNAVAILABLE, a constraint is a conflict,
 * a refused login or a missing database is configuration.
 */
static enum sa_err
pg_state_err(const char *st)
{
	if (st == NULL || strlen(st) != 5)
		return SA_ERR_INTERNAL;
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 ||
	    strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
	    strcmp(st, "57P03") == 0 || strcmp(st, "55P03") == 0)
		return SA_ERR_UNAVAILABLE;
	if (strcmp(st, "57014") == 0)
		return SA_ERR_TIMEOUT;
	if (strncmp(st, "23", 2) == 0 || strncmp(st, "40", 2) == 0)
		return SA_ERR_CONFLICT;
	if (strncmp(st, "22", 2) == 0)
		return SA_ERR_VALIDATION;
	if (strncmp(st, "28", 2) == 0 || strcmp(st, "3D000") == 0 ||
	    strcmp(st, "42501") == 0)
		return SA_ERR_CONFIG;
	return SA_ERR_INTERNAL;
}

/* pg_copy_msg copies a libpq message into dst without its line breaks. */
void
pg_copy_msg(char *dst, size_t cap, const char *msg)
{
	size_t i = 0;

	for (; msg != NULL && *msg != '\0' && i + 1 < cap; msg++)
		dst[i++] = (*msg == '\n' || *msg == '\r') ? ' ' : *msg;
	while (i > 0 && dst[i - 1] == ' ')
		i--;
	dst[i] = '\0';
}

/*
 * pg_note records the error of r (or, with r NULL or without a SQLSTATE,
 * of the connection) in the slot and returns its mapping. A connection
 * that went bad is marked for reconnection.
 */
static enum sa_err
pg_note(struct pg_slot *s, const PGresult *r)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *m =
	    r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (PQstatus(s->conn) != CONNECTION_OK)
		s->broken = 1;
	pg_copy_msg(s->msg, sizeof(s->msg),
		    m != NULL ? m : PQerrorMessage(s->conn));
	if (st != NULL && strlen(st) == 5) {
		memcpy(s->state, st, 6);
		return pg_state_err(st);
	}
	s->state[0] = '\0';
	return s->broken ? SA_ERR_UNAVAILABLE : SA_ERR_INTERNAL;
}

/* pg_report logs the error pg_note recorded for an operation and returns
 * rc, so callers can write "return pg_report(s, what, pg_note(s, r))". */
enum sa_err
pg_report(struct pg_slot *s, const char *what, enum sa_err rc)
{
	log_error("store.pg", "%s: %s (SQLSTATE %s)", what, s->msg,
		  s->state[0] ? s->state : "none");
	return rc;
}

/* pg_fail is pg_note and pg_report in one. */
enum sa_err
pg_fail(struct pg_slot *s, const char *what, const PGresult *r)
{
	return pg_report(s, what, pg_note(s, r));
}

/*
 * pg_notice routes server notices, and errors sent to an idle connection,
 * to the log instead of stderr. A FATAL one ("terminating connection due to
 * administrator command") means the server is closing this connection, so
 * the slot (arg) is marked for reconnection before anyone uses it.
 */
static void
pg_notice(void *arg, const PGresult *r)
{
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	struct pg_slot *s = arg;
	char msg[PG_MSG_MAX];

	if (sev != NULL &&
	    (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
		s->broken = 1;
	pg_copy_msg(msg, sizeof(msg), m ? m : PQresultErrorMessage(r));
	if (sev != NULL &&
	    (strcmp(sev, "NOTICE") == 0 || strcmp(sev, "INFO") == 0 ||
	     strcmp(sev, "LOG") == 0 || strncmp(sev, "DEBUG", 5) == 0))
		log_debug("store.pg", "server: %s", msg);
	else
		log_warn("store.pg", "server %s: %s", sev ? sev : "message",
			 msg);
}

/* ---- Connections and the pool ------------------------------------------- */

/*
 * pg_connect opens the connection of slot s to ds->url. The URL goes to libpq
 * as it is; defaults for the connect timeout, the client encoding and the
 * application name come first, so the URL can override each of them. On
 * failure the reason is logged (libpq never puts the password in it).
 */
static enum sa_err
pg_connect(struct pg_store *ds, struct pg_slot *s)
{
	static const char *const keys[] = {"connect_timeout", "client_encoding",
					   "fallback_application_name",
					   "dbname", NULL};
	const char *vals[] = {PG_CONNECT_TIMEOUT, "UTF8", "sealauth", ds->url,
			      NULL};
	char msg[PG_MSG_MAX];
	PGconn *c;

	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL)
		return SA_ERR_NOMEM;
	if (PQstatus(c) != CONNECTION_OK) {
		pg_copy_msg(msg, sizeof(msg), PQerrorMessage(c));
		log_error("store.pg", "cannot connect: %s", msg);
		PQfinish(c);
		return SA_ERR_UNAVAILABLE;
	}
	PQsetNoticeReceiver(c, pg_notice, s);
	s->conn = c;
	s->broken = 0;
	return SA_OK;
}

/*
 * pg_ready makes the slot's connection usable: it opens one if the slot has
 * none, and otherwise reads whatever the server sent while the connection
 * was idle (no round trip), which reveals a connection the server closed
 * or said it is closing.
 * A broken connection is reset once; if that fails it is dropped and the
 * caller gets SA_ERR_UNAVAILABLE.
 */
static enum sa_err
pg_ready(struct pg_store *ds, struct pg_slot *s)
{
	char msg[PG_MSG_MAX];

	s->state[0] = '\0';
	s->msg[0] = '\0';
	if (s->conn == NULL)
		return pg_connect(ds, s);
	/* PQconsumeInput reads, PQisBusy parses (which runs pg_notice). */
	if (!s->broken && PQstatus(s->conn) == CONNECTION_OK &&
	    PQconsumeInput(s->conn) && !PQisBusy(s->conn) &&
	    PQstatus(s->conn) == CONNECTION_OK && !s->broken &&
	    PQtransactionStatus(s->conn) == PQTRANS_IDLE)
		return SA_OK;
	log_info("store.pg", "reconnecting a broken database connection");
	PQreset(s->conn);
	if (PQstatus(s->conn) == CONNECTION_OK) {
		s->broken = 0;
		return SA_OK;
	}
	pg_copy_msg(msg, sizeof(msg), PQerrorMessage(s->conn));
	log_error("store.pg", "cannot reconnect: %s", msg);
	PQfinish(s->conn);
	s->conn = NULL;
	s->broken = 0;
	return SA_ERR_UNAVAILABLE;
}

/* pg_release gives a slot back to the pool. */
void
pg_release(struct pg_store *ds, struct pg_slot *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&ds->mu);
	s->busy = 0;
	pthread_cond_signal(&ds->cv);
	pthread_mutex_unlock(&ds->mu);
}

/*
 * pg_acquire takes a slot for the caller's exclusive use, preferring one
 * with an open connection, waiting at most PG_ACQUIRE_WAIT_MS when all are
 * busy (SA_ERR_TIMEOUT). Connecting happens outside the pool lock. The
 * caller gives the slot back with pg_release.
 */
enum sa_err
pg_acquire(struct pg_store *ds, struct pg_slot **out)
{
	struct pg_slot *s = NULL;
	struct timespec dl;
	enum sa_err rc;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += PG_ACQUIRE_WAIT_MS / 1000;
	pthread_mutex_lock(&ds->mu);
	for (;;) {
		for (size_t i = 0; i < PG_POOL_MAX && s == NULL; i++)
			if (!ds->slot[i].busy && ds->slot[i].conn != NULL)
				s = &ds->slot[i];
		for (size_t i = 0; i < PG_POOL_MAX && s == NULL; i++)
			if (!ds->slot[i].busy)
				s = &ds->slot[i];
		if (s != NULL)
			break;
		if (pthread_cond_timedwait(&ds->cv, &ds->mu, &dl) ==
		    ETIMEDOUT) {
			pthread_mutex_unlock(&ds->mu);
			log_error("store.pg",
				  "no database connection free after %d ms",
				  PG_ACQUIRE_WAIT_MS);
			return SA_ERR_TIMEOUT;
		}
	}
	s->busy = 1;
	pthread_mutex_unlock(&ds->mu);
	if ((rc = pg_ready(ds, s)) != SA_OK) {
		pg_release(ds, s);
		return rc;
	}
	*out = s;
	return SA_OK;
}

/*
 * pg_exec runs one parameterised statement (text parameters unless formats
 * says otherwise) and checks that it ended with status want. On success
 * *out (may be NULL) receives the result, which the caller clears; on
 * failure the error is logged under what and mapped.
 */
enum sa_err
pg_exec(struct pg_slot *s, const char *what, const struct pg_query *q,
	ExecStatusType want, PGresult **out)
{
	PGresult *r;
	enum sa_err rc;

	r = PQexecParams(s->conn, q->sql, q->nparams, NULL, q->values,
			 q->lengths, q->formats, q->binary);
	if (r == NULL || PQresultStatus(r) != want) {
		rc = pg_fail(s, what, r);
		PQclear(r);
		return rc;
	}
	if (out != NULL)
		*out = r;
	else
		PQclear(r);
	return SA_OK;
}

/* pg_once runs one statement on a pooled connection, as pg_exec does, and
 * gives the connection back before it returns. */
enum sa_err
pg_once(struct pg_store *ds, const char *what, const struct pg_query *q,
	ExecStatusType want, PGresult **out)
{
	struct pg_slot *s = NULL;
	enum sa_err rc;

	if ((rc = pg_acquire(ds, &s)) != SA_OK)
		return rc;
	rc = pg_exec(s, what, q, want, out);
	pg_release(ds, s);
	return rc;
}

/* pg_exec0 runs a statement without parameters or rows. */
enum sa_err
pg_exec0(struct pg_slot *s, const char *sql)
{
	struct pg_query q = {.sql = sql};

	return pg_exec(s, sql, &q, PGRES_COMMAND_OK, NULL);
}

/* pg_rollback ends a transaction a failure left open; the caller already
 * reports the first error, so a failure here only marks the connection. */
void
pg_rollback(struct pg_slot *s)
{
	PGresult *r;
	PGTransactionStatusType ts;

	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK)
		return;
	ts = PQtransactionStatus(s->conn);
	if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR)
		return;
	r = PQexec(s->conn, "ROLLBACK");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		s->broken = 1;
	PQclear(r);
}

/*
 * pg_pipeline sends the n statements in pipeline mode followed by one sync,
 * so they cost one round trip, and collects their results. res (n entries,
 * may be NULL) receives the result of each statement that returned rows;
 * the caller clears them, also on failure. The first failing statement
 * stops the rest (the server skips them) and its error is recorded with
 * pg_note and returned, not logged, so the caller decides how loud it is.
 */
enum sa_err
pg_pipeline(struct pg_slot *s, const struct pg_query *qs, size_t n,
	    PGresult **res)
{
	enum sa_err rc = SA_OK;
	PGresult *r;

	if (res != NULL)
		memset(res, 0, n * sizeof(*res));
	if (!PQenterPipelineMode(s->conn))
		return pg_note(s, NULL);
	for (size_t i = 0; i < n; i++) {
		if (!PQsendQueryParams(s->conn, qs[i].sql, qs[i].nparams, NULL,
				       qs[i].values, qs[i].lengths,
				       qs[i].formats, qs[i].binary)) {
			/* Only a dead connection refuses to queue. */
			rc = pg_note(s, NULL);
			s->broken = 1;
			return rc;
		}
	}
	if (!PQpipelineSync(s->conn)) {
		rc = pg_note(s, NULL);
		s->broken = 1;
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		ExecStatusType st;

		if ((r = PQgetResult(s->conn)) == NULL) {
			rc = pg_note(s, NULL);
			s->broken = 1;
			return rc;
		}
		st = PQresultStatus(r);
		if (st == PGRES_FATAL_ERROR) {
			if (rc == SA_OK)
				rc = pg_note(s, r);
		} else if (st == PGRES_TUPLES_OK && res != NULL) {
			res[i] = r;
			r = NULL;
		} else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
			   st != PGRES_PIPELINE_ABORTED && rc == SA_OK) {
			rc = pg_note(s, r);
		}
		PQclear(r);
		/* Each statement's results end with a NULL. */
		while ((r = PQgetResult(s->conn)) != NULL) {
			if (PQresultStatus(r) == PGRES_FATAL_ERROR &&
			    rc == SA_OK)
				rc = pg_note(s, r);
			PQclear(r);
			if (PQstatus(s->conn) != CONNECTION_OK)
				break;
		}
		if (PQstatus(s->conn) != CONNECTION_OK) {
			s->broken = 1;
			return rc != SA_OK ? rc : pg_note(s, NULL);
		}
	}
	r = PQgetResult(s->conn);
	if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		if (rc == SA_OK)
			rc = pg_note(s, r);
		s->broken = 1;
	}
	PQclear(r);
	if (!PQexitPipelineMode(s->conn)) {
		if (rc == SA_OK)
			rc = pg_note(s, NULL);
		s->broken = 1;
	}
	return rc;
}

/* pg_clear_all clears n results (NULL entries are skipped). */
void
pg_clear_all(PGresult **res, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		PQclear(res[i]);
		res[i] = NULL;
	}
}

/* pg_int64 parses a text-format integer column. */
int64_t
pg_col_int64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* pg_be64 decodes a binary-format bigint column (8 bytes big-endian). */
enum sa_err
pg_be64(const PGresult *r, int row, int col, int64_t *out)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
	uint64_t v = 0;

	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
		return SA_ERR_INTERNAL;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	*out = (int64_t)v;
	return SA_OK;
}
