/*
 * session_ws.h - the browser's live view of its login (SPEC §3.4):
 * GET /ws/session/{sessionId}?token={wsToken}.
 *
 * Events: otp_ready when the socket opens, then approved / rejected /
 * expired, which end the session and close the socket with 1000. Close codes
 * 4001 (bad token), 4004 (no such session) and 4009 (a newer connection for
 * the same session replaced this one). Events are published on the
 * ephemeral store's "sealauth:session" channel, so the instance that holds a
 * browser's socket delivers them whichever instance verified the phone.
 */
#ifndef SEALAUTH_SESSION_WS_H
#define SEALAUTH_SESSION_WS_H

#include <jansson.h>

#include "core/errors.h"
#include "login/session.h"

struct app;
struct http_request;
struct ws_handler;

extern const struct ws_handler session_ws_handler;

/* session_ws_prepare is the route's ws_prepare: it never refuses, since the
 * verdict is given as a close code once the socket is open. */
enum sa_err session_ws_prepare(struct http_request *req, void **arg);

/*
 * session_conns_new makes this instance's connection map: which WebSocket
 * connection watches which session. The server keeps it in struct app from
 * start; session_conns_free frees it once ws_server_stop has run and
 * app->session_conns is cleared (NULL is ignored).
 */
struct session_conns;
enum sa_err session_conns_new(struct session_conns **out);
void session_conns_free(struct session_conns *c);

/* session_events_start subscribes this instance to session events, which
 * it delivers through app->session_conns. */
enum sa_err session_events_start(struct app *app);

/*
 * session_publish sends an event ({"type": ...}) that does not end the
 * session to the browser of a session, wherever its socket is.
 * session_publish_end sends a final one: the session ended as how
 * (session_finish); the event ends the socket and is kept with the
 * session's end so a browser that connects late still receives it. The
 * reference to event is stolen.
 */
enum sa_err session_publish(struct app *app, const char *session_id,
			    json_t *event);
enum sa_err session_publish_end(struct app *app,
				const struct session_end_rec *end,
				json_t *event, enum session_end how);
/* session_publish_end_text is session_publish_end with the event already
 * written as JSON text (n bytes at text, stolen; NULL: out of memory). */
enum sa_err session_publish_end_text(struct app *app,
				     const struct session_end_rec *end,
				     char *text, size_t n,
				     enum session_end how);

#endif
