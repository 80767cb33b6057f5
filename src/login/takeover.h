/*
 * takeover.h - replacing the device a token id is bound to.
 *
 * Anyone holding a copy of a seal can enroll a phone with it, so a new
 * device never silently replaces the one a token id is bound to. The new
 * binding waits as a pending takeover: the old device is told at once and
 * may approve it (it then completes) or cancel it; otherwise it completes
 * when the waiting period (SEALAUTH_TAKEOVER_DELAY, default 72 h) is over,
 * at the next login of that token id. takeover_decide is also the hook an
 * administrator's override uses.
 */
#ifndef SEALAUTH_TAKEOVER_H
#define SEALAUTH_TAKEOVER_H

#include <stdint.h>

#include "core/errors.h"
#include "net/http.h"
#include "store/store.h"

struct app;
struct schema;

/*
 * takeover_start records e (the new binding) as a pending takeover of the
 * binding old, tells the old device, audits it and answers 202 with the
 * takeover's id and when it takes effect.
 */
enum sa_err takeover_start(struct http_request *req, struct http_response *res,
			   const struct enrollment *e,
			   const struct enrollment *old);

/*
 * takeover_settle completes the pending takeover of token_id when its
 * waiting period is over at now (audited); nothing otherwise. Errors are
 * logged and audited, never returned: the caller goes on with whatever
 * binding is current.
 */
void takeover_settle(struct app *app, const char *token_id, int64_t now);

/* What may be decided about a pending takeover. */
enum takeover_decision {
	TAKEOVER_APPROVE = 1, /* complete it now */
	TAKEOVER_CANCEL = 2,  /* drop it; the old binding stays */
};

/*
 * takeover_decide approves or cancels the pending takeover id of token_id
 * on behalf of actor ("old-device", or an administrator's id), audited
 * with req's client (req may be NULL). SA_ERR_NOT_FOUND when no such
 * takeover is pending (already decided, completed or replaced).
 */
enum sa_err takeover_decide(struct app *app, struct http_request *req,
			    const char *token_id, const char *id,
			    enum takeover_decision d, const char *actor);

/*
 * enroll_notify pushes msg (consumed) to the device of binding dev, if it
 * has a push target; kind names it in the push.sent/push.failed audit row.
 */
void enroll_notify(struct app *app, const struct enrollment *dev,
		   const char *kind, json_t *msg);

/* POST /enroll/takeover: the old device approves or cancels, signed with
 * its key over "sealauth-takeover-v1|{takeoverId}|{decision}|{timestamp}". */
enum sa_err api_enroll_takeover(struct http_request *req,
				struct http_response *res);
extern const struct schema api_takeover_schema;

#endif
