/*
 * takeover.h - replacing the device a token id is bound to.
 *
 * Anyone holding a copy of a seal can enroll a phone with it, so a new
 * device never silently replaces the one a token id is bound to. The new
 * binding waits as a pending takeover: the old device is told at once and
 * may approve it (it then completes) or cancel it; otherwise it completes
 * when the waiting period (SEALAUTH_TAKEOVER_DELAY, default 72 h) is over,
 * at the next login of that token id. An administrator may approve or
 * cancel it at any time (takeover_admin_decide).
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

/* What an administrator is shown of a pending takeover. */
struct takeover_view {
	char id[TAKEOVER_ID_MAX + 1];
	char authority[ENROLL_AUTHORITY_MAX + 1];
	char token_id[ENROLL_TOKEN_MAX + 1];
	char new_device_id[ENROLL_DEVICE_MAX + 1]; /* the device waiting */
	int64_t created_at;			   /* unix seconds */
	int64_t effective_at; /* when the waiting period ends */
};

/*
 * takeover_pending fills *out with the pending takeover of token_id:
 * SA_ERR_NOT_FOUND when none is pending, SA_ERR_VALIDATION for a token id
 * that cannot be one, a store error as it came.
 */
enum sa_err takeover_pending(struct app *app, const char *token_id,
			     struct takeover_view *out);

/*
 * takeover_admin_decide is an administrator's override of the pending
 * takeover takeover_id of token_id (the id the administrator was shown, so
 * a newer takeover is never decided by mistake): TAKEOVER_APPROVE binds the
 * waiting device now and tells the replaced one, TAKEOVER_CANCEL drops it
 * and the current binding stays. admin_id names the administrator; reason
 * (NULL or at most a few hundred printable bytes, checked by the caller) is
 * kept in the audit row, and so are the members of by (an object, NULL for
 * none; borrowed) that the row does not have already: the administration
 * layer puts the admin's session, the passkey it signed in with and the
 * one that signed the step-up there. req (NULL allowed) gives the audit
 * its client.
 *
 * The decision, its effect and its audit row ("admin.takeover_approved"
 * or "admin.takeover_cancelled" with takeoverId, adminId, authority,
 * oldDeviceId, newDeviceId, reason) commit in one transaction: when it
 * cannot be written nothing changes and the takeover stays pending (a
 * failed approval is then audited as "enroll.takeover_failed"). Returns SA_OK
 * once decided; SA_ERR_NOT_FOUND when no such takeover is pending (decided by
 * the old device, completed by its waiting period, replaced by a newer one, or
 * decided by another administrator first: exactly one decision wins);
 * SA_ERR_VALIDATION for malformed arguments; a store or audit error otherwise
 * (503 class).
 */
enum sa_err takeover_admin_decide(struct app *app, struct http_request *req,
				  const char *token_id, const char *takeover_id,
				  enum takeover_decision d,
				  const char *admin_id, const char *reason,
				  const json_t *by);

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
