/*
 * device_listen.c - the phone simulator's UnifiedPush endpoint
 * (libmicrohttpd): it checks each push and queues it; the loop that takes
 * pushes from the queue, shows them, asks or decides, and answers through
 * device_answer.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "cmd/device.h"
#include "core/util.h"

/* ---- the push endpoint -------------------------------------------------- */

struct push_item {
	json_t *msg;
	struct push_item *next;
};

struct device_listener {
	struct MHD_Daemon *mhd;
	unsigned int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct push_item *head, *tail;
	size_t queued; /* in the list, and held by requests still answering */
};

/*
 * One request being received. A valid push is held in item until its
 * answer has gone out: only then does the loop see it, so a phone never
 * acts on a push that the server, not having heard the answer, will send
 * again.
 */
struct push_req {
	struct buf body;
	int too_large;
	struct push_item *item;
};

/* reply queues a JSON answer (copied) on a push connection. */
static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *json)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(json), (void *)json,
					    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* text_ok: a string of 1..max bytes without control characters. */
static int
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * push_valid checks a login push before it is acknowledged: anything the
 * loop later prints or signs is bounded and free of separators and control
 * characters. A message with a "type" (a notice) only needs that to be a
 * short string. Returns a reason or NULL.
 */
static const char *
push_valid(const json_t *m)
{
	static const char *const opt[] = {"serviceName", "random",
					  "expiresAt",	 "origin",
					  "requestIp",	 "userAgent"};
	const json_t *type = json_object_get(m, "type"), *v, *scopes;
	const char *sid, *otp;
	size_t i;

	if (type != NULL)
		return json_is_string(type) &&
			       text_ok(json_string_value(type), 64)
			   ? NULL
			   : "type";
	sid = json_string_value(json_object_get(m, "sessionId"));
	if (sid == NULL || !text_ok(sid, DEVICE_SESSION_MAX) ||
	    strchr(sid, '|') != NULL)
		return "sessionId";
	if ((v = json_object_get(m, "otp")) != NULL) {
		otp = json_string_value(v);
		if (otp == NULL || strlen(otp) != DEVICE_OTP_LEN)
			return "otp";
		for (i = 0; i < DEVICE_OTP_LEN; i++)
			if (!isdigit((unsigned char)otp[i]))
				return "otp";
	}
	scopes = json_object_get(m, "scopes");
	if (scopes != NULL) {
		if (!json_is_array(scopes) ||
		    json_array_size(scopes) > DEVICE_SCOPES_MAX)
			return "scopes";
		json_array_foreach(scopes, i, v)
		{
			const char *s = json_string_value(v);
			if (s == NULL || !text_ok(s, DEVICE_SCOPE_MAX) ||
			    strchr(s, ',') != NULL)
				return "scopes";
		}
	}
	for (i = 0; i < ARRAY_LEN(opt); i++) {
		v = json_object_get(m, opt[i]);
		if (v != NULL &&
		    (!json_is_string(v) ||
		     strlen(json_string_value(v)) > DEVICE_FIELD_MAX))
			return opt[i];
	}
	return NULL;
}

/*
 * hold takes a place in the queue for msg (taking the reference) and
 * returns the item that release later hands to the loop.
 */
static enum sa_err
hold(struct device_listener *l, json_t *msg, struct push_item **out)
{
	struct push_item *it = NULL;
	enum sa_err rc = SA_OK;

	pthread_mutex_lock(&l->mu);
	if (l->queued >= DEVICE_QUEUE_MAX) {
		rc = SA_ERR_UNAVAILABLE;
		goto out;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	it->msg = msg;
	msg = NULL;
	l->queued++;
	*out = it;
out:
	pthread_mutex_unlock(&l->mu);
	json_decref(msg);
	return rc;
}

/*
 * release ends the hold on it: with delivered set (its answer went out)
 * the loop gets it, else it is dropped and its place freed.
 */
static void
release(struct device_listener *l, struct push_item *it, int delivered)
{
	pthread_mutex_lock(&l->mu);
	if (delivered) {
		if (l->tail != NULL)
			l->tail->next = it;
		else
			l->head = it;
		l->tail = it;
		pthread_cond_signal(&l->cv);
		it = NULL;
	} else {
		l->queued--;
	}
	pthread_mutex_unlock(&l->mu);
	if (it != NULL) {
		json_decref(it->msg);
		free(it);
	}
}

/*
 * push_handler receives POST /push. It only parses, checks and holds a
 * place in the queue (push_completed hands the push on once its answer has
 * gone out): the verify call happens in device_listen_run, so a slow server
 * never holds the push connection open.
 */
static enum MHD_Result
push_handler(void *cls, struct MHD_Connection *c, const char *url,
	     const char *method, const char *version, const char *upload,
	     size_t *upload_size, void **con_cls)
{
	struct device_listener *l = cls;
	struct push_req *pr = *con_cls;
	json_t *msg;
	const char *why;
	enum sa_err rc;

	(void)version;
	if (pr == NULL) {
		const char *cl;
		if (strcmp(url, "/push") != 0)
			return reply(c, MHD_HTTP_NOT_FOUND,
				     "{\"error\":\"not_found\"}");
		if (strcmp(method, "POST") != 0)
			return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				     "{\"error\":\"method\"}");
		/* Refuse a declared oversize body before reading it. */
		cl = MHD_lookup_connection_value(
		    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > DEVICE_PUSH_MAX)
			return reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
				     "{\"error\":\"body_too_large\"}");
		if ((pr = calloc(1, sizeof(*pr))) == NULL)
			return MHD_NO;
		buf_init(&pr->body, DEVICE_PUSH_MAX);
		*con_cls = pr;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!pr->too_large &&
		    buf_append(&pr->body, upload, *upload_size) != SA_OK)
			pr->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (pr->too_large)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
			     "{\"error\":\"body_too_large\"}");
	msg = json_loadb(pr->body.data ? (const char *)pr->body.data : "",
			 pr->body.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(msg)) {
		json_decref(msg);
		return reply(c, MHD_HTTP_BAD_REQUEST,
			     "{\"error\":\"bad_json\"}");
	}
	if ((why = push_valid(msg)) != NULL) {
		char body[128];
		json_decref(msg);
		snprintf(body, sizeof(body),
			 "{\"error\":\"validation\",\"field\":\"%s\"}", why);
		return reply(c, MHD_HTTP_BAD_REQUEST, body);
	}
	if ((rc = hold(l, msg, &pr->item)) != SA_OK)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			     "{\"error\":\"unavailable\"}");
	return reply(c, MHD_HTTP_OK, "{\"received\":true}");
}

static void
push_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	struct device_listener *l = cls;
	struct push_req *pr = *con_cls;

	(void)c;
	if (pr == NULL)
		return;
	if (pr->item != NULL)
		release(l, pr->item,
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	buf_free(&pr->body);
	free(pr);
	*con_cls = NULL;
}

enum sa_err
device_listener_start(unsigned int port, struct device_listener **out)
{
	struct device_listener *l;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;

	if (port > 65535)
		return SA_ERR_VALIDATION;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	/* Loopback only: the endpoint accepts unauthenticated pushes. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, (uint16_t)port,
	    NULL, NULL, push_handler, l, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_NOTIFY_COMPLETED, push_completed, l,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16, MHD_OPTION_END);
	if (l->mhd == NULL) {
		device_listener_stop(l);
		return SA_ERR_IO;
	}
	di = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT);
	l->port = di != NULL ? di->port : port;
	*out = l;
	return SA_OK;
}

unsigned int
device_listener_port(const struct device_listener *l)
{
	return l->port;
}

void
device_listener_stop(struct device_listener *l)
{
	struct push_item *it;

	if (l == NULL)
		return;
	if (l->mhd != NULL)
		MHD_stop_daemon(l->mhd);
	while ((it = l->head) != NULL) {
		l->head = it->next;
		json_decref(it->msg);
		free(it);
	}
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/*
 * next_push waits until a message is queued, the stop flag is set or the
 * monotonic deadline (0: none) passes. *out is the message (caller owns).
 */
static enum sa_err
next_push(struct device_listener *l, uint64_t deadline_ms,
	  volatile sig_atomic_t *stop, json_t **out)
{
	struct push_item *it;
	enum sa_err rc = SA_OK;

	pthread_mutex_lock(&l->mu);
	while (l->head == NULL) {
		struct timespec ts;
		uint64_t now = now_mono_ms();
		if (stop != NULL && *stop) {
			rc = SA_ERR_SHUTTING_DOWN;
			goto out;
		}
		if (deadline_ms != 0 && now >= deadline_ms) {
			rc = SA_ERR_TIMEOUT;
			goto out;
		}
		/* Wake at least every 200 ms to notice the stop flag, which a
		 * signal handler cannot signal through the condition. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	it = l->head;
	l->head = it->next;
	if (l->head == NULL)
		l->tail = NULL;
	l->queued--;
	*out = it->msg;
	free(it);
out:
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* ---- answering pushes -------------------------------------------------- */

/*
 * put_safe prints text from the network with control characters (C0, DEL
 * and the C1 range in UTF-8) replaced, so a push cannot drive the terminal.
 */
static void
put_safe(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fputc('?', f);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fputc('?', f);
			p++;
		} else
			fputc(*p, f);
	}
}

static const char *
field(const json_t *m, const char *name)
{
	return json_string_value(json_object_get(m, name));
}

/*
 * print_block shows a login push the way a phone would: service, code,
 * scopes, where the login was started and when it expires.
 */
static void
print_block(FILE *f, const json_t *m, int64_t now)
{
	const char *otp = field(m, "otp"), *exp = field(m, "expiresAt");
	const json_t *scopes = json_object_get(m, "scopes"), *v;
	int64_t t = iso8601_parse(exp);
	size_t i;

	fprintf(f, "\n--- login request ----------------------------------\n");
	fprintf(f, "service:  ");
	put_safe(f, field(m, "serviceName"));
	fprintf(f, "\ncode:     ");
	if (otp != NULL)
		fprintf(f,
			"%.3s %.3s   (it must match the code in your "
			"browser)",
			otp, otp + 3);
	else
		fprintf(f, "(not sent: type the code shown in your browser)");
	fprintf(f, "\nscopes:   ");
	if (json_array_size(scopes) == 0)
		fprintf(f, "(none)");
	json_array_foreach(scopes, i, v)
	{
		if (i > 0)
			fprintf(f, ", ");
		put_safe(f, json_string_value(v));
	}
	fprintf(f, "\nfrom:     ");
	/* A login started by a server, not a browser, has no origin. */
	if (field(m, "origin") == NULL || field(m, "origin")[0] == '\0')
		fprintf(f, "(no browser origin)");
	else
		put_safe(f, field(m, "origin"));
	fprintf(f, " (IP ");
	put_safe(f, field(m, "requestIp"));
	fprintf(f, ")\nbrowser:  ");
	put_safe(f, field(m, "userAgent"));
	fprintf(f, "\nsession:  ");
	put_safe(f, field(m, "sessionId"));
	fprintf(f, "\nexpires:  ");
	put_safe(f, exp);
	if (t >= 0)
		fprintf(f, t > now ? " (in %" PRId64 " s)" : " (expired)",
			t - now);
	fprintf(f, "\n----------------------------------------------------\n");
	fflush(f);
}

/* emit writes one JSON event line to f (may be NULL); it steals ev. */
static void
emit(FILE *f, json_t *ev)
{
	if (f != NULL && ev != NULL) {
		json_dumpf(ev, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', f);
		fflush(f);
	}
	json_decref(ev);
}

/* ask_line prints a question and reads one answer line into out. */
static int
ask_line(const struct device_listen_opts *o, const char *q, char *out,
	 size_t cap)
{
	size_t n;

	if (o->tty_in == NULL)
		return 0;
	fprintf(o->tty_out ? o->tty_out : stderr, "%s", q);
	fflush(o->tty_out ? o->tty_out : stderr);
	if (fgets(out, (int)cap, o->tty_in) == NULL)
		return 0;
	n = strlen(out);
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
	return 1;
}

/* typed_code gets the code in type mode: --type-otp or asked. */
static int
typed_code(const struct device_listen_opts *o, char out[DEVICE_OTP_LEN + 1])
{
	char line[64];
	size_t k = 0;
	const char *src = o->type_otp;

	if (src == NULL) {
		if (!ask_line(o, "Type the code shown in your browser: ", line,
			      sizeof(line)))
			return 0;
		src = line;
	}
	/* "123 456" as the browser shows it is fine too. */
	for (; *src != '\0'; src++) {
		if (*src == ' ')
			continue;
		if (!isdigit((unsigned char)*src) || k >= DEVICE_OTP_LEN)
			return 0;
		out[k++] = *src;
	}
	out[k] = '\0';
	return k == DEVICE_OTP_LEN;
}

/*
 * grants builds the scopes to grant: those requested, or when a grant list
 * is given those requested that are also on it (a grant beyond the request
 * would only get the answer refused). The strings are borrowed from msg and
 * from the list copy in spare.
 */
static size_t
grants(const json_t *msg, char *spare, const char *v[DEVICE_SCOPES_MAX])
{
	const json_t *scopes = json_object_get(msg, "scopes"), *e;
	size_t i, n = 0;

	json_array_foreach(scopes, i, e)
	{
		const char *s = json_string_value(e);
		int ok = spare == NULL;
		if (spare != NULL) {
			const char *p = spare;
			size_t len = strlen(s);
			while (*p != '\0') {
				const char *q = strchr(p, ',');
				size_t plen = q ? (size_t)(q - p) : strlen(p);
				if (plen == len && memcmp(p, s, len) == 0)
					ok = 1;
				p += plen + (q != NULL);
			}
		}
		if (ok && n < DEVICE_SCOPES_MAX)
			v[n++] = s;
	}
	return n;
}

/*
 * handle_login decides on one login push and sends the answer. Returns
 * SA_OK when no answer was needed or the server said 200.
 */
static enum sa_err
handle_login(struct device *d, const json_t *msg,
	     const struct device_listen_opts *o)
{
	const char *sid = field(msg, "sessionId"), *otp = field(msg, "otp");
	const char *v[DEVICE_SCOPES_MAX], *decision, *reason;
	char typed[DEVICE_OTP_LEN + 1], line[16];
	struct device_reply r = {0};
	int64_t now = now_unix(), exp = iso8601_parse(field(msg, "expiresAt"));
	size_t n = 0;
	json_t *arr;
	enum sa_err rc;

	print_block(o->out, msg, now);
	if (exp >= 0 && exp <= now) {
		/* The server would refuse it; a phone shows it as expired. */
		fprintf(o->out, "this request has expired; not answering\n");
		emit(o->json, json_pack("{s:s, s:s}", "event", "expired",
					"sessionId", sid));
		return SA_OK;
	}
	if (o->mode == DEVICE_MODE_ASK) {
		if (!ask_line(o, "Approve? [y/N] ", line, sizeof(line))) {
			fprintf(o->out, "no answer from the terminal\n");
			return SA_ERR_PUSH;
		}
		decision = (strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 ||
			    strcmp(line, "yes") == 0)
			       ? "approve"
			       : "reject";
	} else {
		decision =
		    o->mode == DEVICE_MODE_APPROVE ? "approve" : "reject";
	}
	/* "This wasn't me": the server blocks where the login came from. */
	reason = o->mode == DEVICE_MODE_NOT_ME ? "not_me" : NULL;
	if (otp == NULL) {
		if (!typed_code(o, typed)) {
			fprintf(o->out, "no six-digit code to answer with "
					"(use --type-otp or a terminal)\n");
			emit(o->json,
			     json_pack("{s:s, s:s, s:s}", "event", "error",
				       "sessionId", sid, "error", "no_code"));
			return SA_ERR_PUSH;
		}
		otp = typed;
	}
	if (strcmp(decision, "approve") == 0) {
		char *spare = o->scopes ? strdup(o->scopes) : NULL;
		if (o->scopes != NULL && spare == NULL)
			return SA_ERR_NOMEM;
		n = grants(msg, spare, v);
		n = verify_msg_scopes_sort(v, n);
		rc = device_answer(d, o->server, sid, otp, decision, v, n, NULL,
				   now, &r);
		free(spare);
	} else {
		rc = device_answer(d, o->server, sid, otp, decision, NULL, 0,
				   reason, now, &r);
	}
	if (rc != SA_OK) {
		fprintf(o->out, "%s: could not reach the server: %s\n",
			decision, sa_err_str(rc));
		emit(o->json, json_pack("{s:s, s:s, s:s, s:s}", "event",
					"error", "sessionId", sid, "decision",
					decision, "error", sa_err_code(rc)));
		return SA_ERR_PUSH;
	}
	fprintf(o->out, "%s sent; server answered %ld: ", decision, r.status);
	put_safe(o->out, r.text);
	fprintf(o->out, "\n");
	fflush(o->out);
	if (o->json != NULL && (arr = json_array()) != NULL) {
		for (size_t i = 0; i < n && strcmp(decision, "approve") == 0;
		     i++)
			json_array_append_new(arr, json_string(v[i]));
		emit(o->json,
		     json_pack("{s:s, s:s, s:s, s:o, s:I, s:O?}", "event",
			       "answer", "sessionId", sid, "decision", decision,
			       "grantedScopes", arr, "status",
			       (json_int_t)r.status, "response", r.json));
	}
	rc = r.status == 200 ? SA_OK : SA_ERR_PUSH;
	device_reply_free(&r);
	return rc;
}

/* The last logins shown, so that a push that comes again is known. */
#define SEEN_MAX 16
struct seen {
	char id[SEEN_MAX][DEVICE_SESSION_MAX + 1];
	unsigned int next;
};

/*
 * seen_before tells whether msg is a login push for a session shown
 * here already, and otherwise remembers it. A push service may deliver a
 * message twice (the server retries when an answer is lost); a phone shows
 * a login once.
 */
static int
seen_before(struct seen *s, const json_t *msg)
{
	const char *sid = json_string_value(json_object_get(msg, "sessionId"));

	if (sid == NULL || json_object_get(msg, "type") != NULL)
		return 0;
	for (unsigned int i = 0; i < SEEN_MAX; i++)
		if (strcmp(s->id[i], sid) == 0)
			return 1;
	snprintf(s->id[s->next], sizeof(s->id[0]), "%s", sid);
	s->next = (s->next + 1) % SEEN_MAX;
	return 0;
}

enum sa_err
device_listen_run(struct device *d, struct device_listener *l,
		  const struct device_listen_opts *o)
{
	unsigned int handled = 0;
	int failed = 0;
	struct seen seen = {0};
	enum sa_err rc;

	/* First, so a script knows this listener holds the port before it
	 * starts a login. */
	emit(o->json, json_pack("{s:s, s:I}", "event", "listening", "port",
				(json_int_t)device_listener_port(l)));
	for (;;) {
		json_t *msg = NULL;
		uint64_t deadline =
		    o->timeout ? now_mono_ms() + (uint64_t)o->timeout * 1000
			       : 0;
		if (o->count != 0 && handled >= o->count)
			break;
		rc = next_push(l, deadline, o->stop, &msg);
		if (rc == SA_ERR_SHUTTING_DOWN)
			break;
		if (rc == SA_ERR_TIMEOUT) {
			fprintf(o->out, "no push arrived within %u s\n",
				o->timeout);
			emit(o->json, json_pack("{s:s}", "event", "timeout"));
			return SA_ERR_TIMEOUT;
		}
		if (seen_before(&seen, msg)) {
			fprintf(o->out, "\nthe push for login ");
			put_safe(o->out, field(msg, "sessionId"));
			fprintf(o->out,
				" came again; it was shown here already\n");
			fflush(o->out);
			emit(o->json,
			     json_pack("{s:s, s:s}", "event", "repeated",
				       "sessionId", field(msg, "sessionId")));
			json_decref(msg);
			continue;
		}
		emit(o->json,
		     json_pack("{s:s, s:O}", "event", "push", "message", msg));
		if (json_object_get(msg, "type") != NULL) {
			const char *t = field(msg, "type");
			fprintf(o->out, "\n--- notice: ");
			put_safe(o->out, t);
			fprintf(o->out, " ---\n");
			if (strcmp(t, "enrollment_replaced") == 0)
				fprintf(o->out, "this device's enrollment was "
						"replaced by another device\n");
			{
				char *s = json_dumps(
				    msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
				put_safe(o->out, s);
				fputc('\n', o->out);
				free(s);
			}
			fflush(o->out);
		} else if (handle_login(d, msg, o) != SA_OK) {
			failed = 1;
		}
		json_decref(msg);
		handled++;
	}
	return failed ? SA_ERR_PUSH : SA_OK;
}
