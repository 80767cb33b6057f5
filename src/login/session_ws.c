/*
 * session_ws.c - session WebSockets and event delivery.
 *
 * The connection map (session id -> connection id) is this instance's only
 * state; the server makes it at start (session_conns_new, kept in struct
 * app), and it is guarded by its own mutex and touched briefly. Callbacks from
 * ws.c run on the WebSocket loop thread; session events arrive on whatever
 * thread published them (the in-process store) or on the Redis subscriber.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <openssl/crypto.h>

#include "core/json_out.h"
#include "app/app.h"
#include "net/http.h"
#include "core/log.h"
#include "crypto/otp.h"
#include "login/session.h"
#include "login/session_ws.h"
#include "store/store.h"
#include "core/util.h"
#include "net/ws.h"

#define EVENTS_CHANNEL "sealauth:session"
#define MAP_BUCKETS 4096

struct ws_arg;

struct conn_entry {
	struct conn_entry *next;
	char session_id[SESSION_ID_LEN + 1];
	uint64_t conn_id;
	struct ws_arg *arg; /* the connection's, freed only after map_drop */
};

struct ws_arg {
	struct app *app;
	char session_id[SESSION_ID_LEN + 1];
	char token[64];
	int token_missing;
	struct event *timer;
	uint64_t id;
	int registered;
	/* The bound session's id, token id, service, random, expiry and decoy
	 * mark (set with registered): the expiry timer reads it, and the
	 * delivered mark is written with it. */
	struct session_end_rec end;
	/* How the session ended, once a final event was sent on this socket
	 * (SESSION_OPEN before). Written under the map's mutex, by whichever
	 * thread sends the event; read after map_drop. */
	enum session_end final_how;
};

struct session_conns {
	pthread_mutex_t mu;
	struct conn_entry *map[MAP_BUCKETS];
};

enum sa_err
session_conns_new(struct session_conns **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&(*out)->mu, NULL);
	return SA_OK;
}

void
session_conns_free(struct session_conns *c)
{
	if (c == NULL)
		return;
	for (size_t b = 0; b < MAP_BUCKETS; b++) {
		while (c->map[b] != NULL) {
			struct conn_entry *e = c->map[b];
			c->map[b] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static size_t
bucket_of(const char *session_id)
{
	/* Session ids are random: a keyed hash would buy nothing. */
	return (size_t)(fnv1a(session_id) % MAP_BUCKETS);
}

/* map_put registers conn for a session and returns the connection it
 * replaces (0 if none). */
static uint64_t
map_put(struct session_conns *c, const char *session_id, uint64_t conn,
	struct ws_arg *arg, int *ok)
{
	size_t b = bucket_of(session_id);
	struct conn_entry *e;
	uint64_t old = 0;

	*ok = 1;
	pthread_mutex_lock(&c->mu);
	for (e = c->map[b]; e != NULL; e = e->next)
		if (strcmp(e->session_id, session_id) == 0)
			break;
	if (e != NULL) {
		old = e->conn_id;
		e->conn_id = conn;
		e->arg = arg;
	} else if ((e = calloc(1, sizeof(*e))) != NULL) {
		str_copy(e->session_id, sizeof(e->session_id), session_id);
		e->conn_id = conn;
		e->arg = arg;
		e->next = c->map[b];
		c->map[b] = e;
	} else {
		*ok = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return old;
}

/*
 * map_get finds a session's connection. With how other than SESSION_OPEN
 * it is about to receive the final event of a session that ended so: the
 * entry is removed and its connection told how (final_how).
 */
static uint64_t
map_get(struct session_conns *c, const char *session_id, enum session_end how)
{
	size_t b = bucket_of(session_id);
	struct conn_entry **pp, *e;
	uint64_t id = 0;

	pthread_mutex_lock(&c->mu);
	for (pp = &c->map[b]; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->session_id, session_id) != 0)
			continue;
		id = e->conn_id;
		if (how != SESSION_OPEN) {
			e->arg->final_how = how;
			*pp = e->next;
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&c->mu);
	return id;
}

/* map_drop removes a session's entry only if it still names conn. */
static void
map_drop(struct session_conns *c, const char *session_id, uint64_t conn)
{
	size_t b = bucket_of(session_id);
	struct conn_entry **pp, *e;

	pthread_mutex_lock(&c->mu);
	for (pp = &c->map[b]; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->session_id, session_id) == 0 &&
		    e->conn_id == conn) {
			*pp = e->next;
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
}

enum sa_err
session_ws_prepare(struct http_request *req, void **arg)
{
	struct ws_arg *a = calloc(1, sizeof(*a));
	const char *id = http_req_param(req, 0),
		   *token = http_req_query(req, "token");

	if (a == NULL)
		return SA_ERR_NOMEM;
	a->app = http_req_app(req);
	str_copy(a->session_id, sizeof(a->session_id),
		 session_id_valid(id) ? id : "");
	if (token == NULL || strlen(token) >= sizeof(a->token))
		a->token_missing = 1;
	else
		str_copy(a->token, sizeof(a->token), token);
	*arg = a;
	return SA_OK;
}

static void
send_json(struct ws_server *ws, uint64_t id, json_t *ev)
{
	size_t n = 0;
	char *text = json_out(ev, 0, &n);

	if (text != NULL)
		ws_send_text(ws, id, text, n);
	free(text);
}

/* expire_cb runs on the loop thread when a session's lifetime is over. */
static void
expire_cb(evutil_socket_t fd, short what, void *p)
{
	struct ws_arg *a = p;
	struct app *app = a->app;

	if (session_state(app->es, a->session_id) != SESSION_OPEN)
		return;
	if (map_get(app->session_conns, a->session_id, SESSION_OPEN) != a->id)
		return;
	/* The loop thread must not wait for the disk. A decoy's end is
	 * audited as what it is, not as a login that expired. */
	app_audit_async(app,
			a->end.decoy ? "auth.decoy_expired" : "auth.expired",
			"", json_pack("{s:s}", "sessionId", a->session_id));
	ws_send_close(app->ws, a->id, "{\"type\":\"expired\"}", 18, 1000,
		      "expired");
}

static void
session_ws_open(struct ws_server *ws, uint64_t id, void *arg)
{
	struct ws_arg *a = arg;
	struct app *app = a->app;
	struct session s;
	char otp[OTP_DIGITS + 1], when[21], *final, *push_failed = NULL;
	enum session_end how;
	struct timeval tv;
	uint64_t old;
	int ok;
	json_t *ev;
	struct json_obj ready;
	char *text;
	size_t n = 0;

	a->id = id;
	if (a->session_id[0] == '\0' ||
	    session_load(app->es, a->session_id, &s) != SA_OK) {
		ws_close(ws, id, 4004, "no such session");
		return;
	}
	/* The token binds the socket to the browser that started the login. */
	if (a->token_missing ||
	    !otp_ws_token_check(app->otp_secret, app->otp_secret_len, s.id,
				s.random, a->token)) {
		app_audit_async(app, "ws.bad_token", s.token_id,
				json_pack("{s:s}", "sessionId", s.id));
		ws_close(ws, id, 4001, "bad token");
		return;
	}
	old = map_put(app->session_conns, s.id, id, a, &ok);
	if (!ok) {
		ws_close(ws, id, 1011, "out of memory");
		return;
	}
	a->registered = 1;
	session_end_rec_of(&s, &a->end);
	if (old != 0 && old != id)
		ws_close(ws, old, 4009, "replaced by a newer connection");
	/*
	 * Read only now that the socket is registered: an event published
	 * before went into the store and is read here, one published after
	 * finds the socket. With it, in the same round trip, the reason a
	 * push failed ("push"), which a browser that connected late is
	 * still told.
	 */
	final =
	    session_final_event_and(app->es, s.id, &how, "push", &push_failed);
	if (final != NULL) {
		pthread_mutex_lock(&app->session_conns->mu);
		a->final_how = how;
		pthread_mutex_unlock(&app->session_conns->mu);
		ws_send_close(ws, id, final, strlen(final), 1000, "done");
		free(final);
		free(push_failed);
		return;
	}
	/* Ended a moment ago, its final event not yet stored: the event is
	 * on its way to this socket, and the code is no longer shown. */
	if (s.ended)
		goto wait;
	if (otp_derive(app->otp_secret, app->otp_secret_len, s.id, s.token_id,
		       s.issued_at, otp) != SA_OK) {
		free(push_failed);
		ws_close(ws, id, 1011, "internal error");
		return;
	}
	iso8601_utc(s.expires_at, when);
	/* Every login sends it: written straight to text. */
	json_obj_begin(&ready);
	json_obj_str(&ready, "type", "otp_ready");
	json_obj_str(&ready, "autoPassword", otp);
	json_obj_str(&ready, "expiresAt", when);
	memset(otp, 0, sizeof(otp));
	if ((text = json_obj_end(&ready, &n)) != NULL) {
		ws_send_text(ws, id, text, n);
		OPENSSL_cleanse(text, n);
	}
	free(text);
	/* A push that failed before the browser connected is still told. */
	if (push_failed != NULL) {
		ev = json_pack("{s:s, s:s}", "type", "push_failed", "reason",
			       push_failed);
		if (ev != NULL)
			send_json(ws, id, ev);
		json_decref(ev);
	}
wait:
	free(push_failed);
	a->timer = evtimer_new(ws_event_base(ws), expire_cb, a);
	if (a->timer != NULL) {
		int64_t left = s.expires_at - now_unix();
		tv.tv_sec = left > 0 ? (time_t)left : 0;
		tv.tv_usec = 0;
		evtimer_add(a->timer, &tv);
	}
}

/*
 * A final event is kept so that a browser whose socket dropped before the
 * event reached it still learns the outcome when it reconnects. Once the
 * browser has answered the close that follows a final event, it has had
 * the event, and the approved one carries the token: the stored event
 * gives way to this marker, so the token is handed over once and no longer
 * held in the store (about 0.8 KB per login less until the session
 * expires). A socket opened afterwards is told the login has ended.
 */
static void
session_ws_close(struct ws_server *ws, uint64_t id, uint16_t code, int answered,
		 void *arg)
{
	struct ws_arg *a = arg;

	if (a == NULL)
		return;
	if (a->timer != NULL)
		event_free(a->timer);
	if (a->registered)
		map_drop(a->app->session_conns, a->session_id, id);
	/* map_drop above has waited for any thread that was telling this
	 * socket how its session ended. */
	if (a->registered && answered && code == 1000 &&
	    a->final_how != SESSION_OPEN && a->end.expires_at > now_unix())
		session_mark_delivered(a->app->es, &a->end, a->final_how);
	free(a);
}

const struct ws_handler session_ws_handler = {session_ws_open, NULL,
					      session_ws_close};

/*
 * The message published for a session event is "{sessionId} {how}
 * {event}": the 27-character id, one digit, "0" for an event that does not
 * end the session or how it ended (enum session_end) for a final one, and
 * the event's JSON text as the browser receives it. A receiver finds the socket
 * from the id and forwards the text unparsed; the event is serialised once,
 * where it is made.
 */
#define MSG_HEAD (SESSION_ID_LEN + 3)

/* on_event delivers a published event to the local socket of its session,
 * if this instance holds it. */
static void
on_event(const char *channel, const void *msg, size_t n, void *arg)
{
	struct app *app = arg;
	const char *m = msg;
	char sid[SESSION_ID_LEN + 1];
	enum session_end how;
	uint64_t id;

	(void)channel;
	if (n <= MSG_HEAD || m[SESSION_ID_LEN] != ' ' ||
	    m[SESSION_ID_LEN + 1] < '0' ||
	    m[SESSION_ID_LEN + 1] > '0' + SESSION_TOO_MANY ||
	    m[SESSION_ID_LEN + 2] != ' ' || m[MSG_HEAD] != '{' ||
	    app->ws == NULL || app->session_conns == NULL)
		return;
	memcpy(sid, m, SESSION_ID_LEN);
	sid[SESSION_ID_LEN] = '\0';
	if (!session_id_valid(sid))
		return;
	how = (enum session_end)(m[SESSION_ID_LEN + 1] - '0');
	id = map_get(app->session_conns, sid, how);
	if (id == 0)
		return;
	if (how != SESSION_OPEN)
		ws_send_close(app->ws, id, m + MSG_HEAD, n - MSG_HEAD, 1000,
			      "done");
	else
		ws_send_text(app->ws, id, m + MSG_HEAD, n - MSG_HEAD);
}

enum sa_err
session_events_start(struct app *app)
{
	return estore_subscribe(app->es, EVENTS_CHANNEL, on_event, app);
}

/* event_msg builds the message that carries the event's text to the
 * socket of session_id, wherever it is (free it); how is SESSION_OPEN or
 * how a final event's session ended. */
static char *
event_msg(const char *session_id, const char *text, size_t n,
	  enum session_end how)
{
	char *msg = malloc(MSG_HEAD + n);

	if (msg == NULL)
		return NULL;
	memcpy(msg, session_id, SESSION_ID_LEN);
	msg[SESSION_ID_LEN] = ' ';
	msg[SESSION_ID_LEN + 1] = (char)('0' + how);
	msg[SESSION_ID_LEN + 2] = ' ';
	memcpy(msg + MSG_HEAD, text, n);
	return msg;
}

/* publish sends the event's text to the socket of session_id. */
static enum sa_err
publish(struct app *app, const char *session_id, const char *text, size_t n,
	enum session_end how)
{
	char *msg = event_msg(session_id, text, n, how);
	enum sa_err rc;

	if (msg == NULL)
		return SA_ERR_NOMEM;
	rc = estore_publish(app->es, EVENTS_CHANNEL, msg, MSG_HEAD + n);
	free(msg);
	return rc;
}

enum sa_err
session_publish(struct app *app, const char *session_id, json_t *event)
{
	char *text = NULL;
	size_t n = 0;
	enum sa_err rc = SA_ERR_NOMEM;

	if (event == NULL)
		return SA_ERR_NOMEM;
	if (!session_id_valid(session_id))
		rc = SA_ERR_INTERNAL;
	else if ((text = json_out(event, 0, &n)) != NULL)
		rc = publish(app, session_id, text, n, SESSION_OPEN);
	free(text);
	json_decref(event);
	return rc;
}

enum sa_err
session_publish_end(struct app *app, const struct session_end_rec *end,
		    json_t *event, enum session_end how)
{
	char *text = NULL;
	size_t n = 0;

	if (event == NULL)
		return SA_ERR_NOMEM;
	text = json_out(event, 0, &n);
	json_decref(event);
	return session_publish_end_text(app, end, text, n, how);
}

enum sa_err
session_publish_end_text(struct app *app, const struct session_end_rec *end,
			 char *text, size_t n, enum session_end how)
{
	char *msg = NULL;
	enum sa_err rc = SA_ERR_NOMEM;

	if (text == NULL)
		return SA_ERR_NOMEM;
	if (!session_id_valid(end->id) || how == SESSION_OPEN) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	if ((msg = event_msg(end->id, text, n, how)) == NULL) {
		/* No message: the event is still kept for the socket. */
		session_keep_final(app->es, end, how, text, n);
		goto out;
	}
	/* Kept first, in the same write: a socket that opens in between
	 * finds it. */
	rc = session_keep_final_publish(app->es, end, how, text, n,
					EVENTS_CHANNEL, msg, MSG_HEAD + n);
out:
	free(msg);
	free(text);
	return rc;
}
