/*
 * admin.h - administration: the install claim, passkey sign-in, admins and
 * their passkeys (every change confirmed by a fresh user-verification
 * ceremony), the relying-party registry, and the operating endpoints.
 *
 * Admins hold passkeys only (WebAuthn, user verification required). The RP
 * id and origin come from SEALAUTH_PUBLIC_URL; without one every admin
 * endpoint answers 503 saying what to set. Ceremony challenges sit in the
 * ephemeral store (single use, five minutes), so a ceremony may start on
 * one server and finish on another; everything else sits in the durable
 * store. docs/admin.md describes every endpoint.
 */
#ifndef SEALAUTH_ADMIN_H
#define SEALAUTH_ADMIN_H

#include "core/errors.h"
#include "core/schema.h"
#include "net/http.h"

struct app;
struct admin;

/*
 * admin_open sets administration up for a running server: the relying
 * party from the configuration, and, when the database has no admin, the
 * install window (a one-time token logged and written to
 * DATA_DIR/install-token, mode 0600). *out is always set when SA_OK is
 * returned, also when administration is unavailable (no public URL).
 */
enum sa_err admin_open(struct app *app, struct admin **out);
void admin_close(struct admin *adm);

/*
 * admin_recover opens a new install window on a database whose admins
 * lost every passkey: the next claim adds an admin beside the existing
 * ones. The token is written to DATA_DIR/install-token and returned in
 * token (at least 64 bytes). Audited as admin.recover_opened.
 */
enum sa_err admin_recover(struct app *app, char *token, size_t tokenlen);

/* ---- Handlers and their schemas (admin_routes.h lists the routes) ------- */

#define ADMIN_HANDLER(name)                                                    \
	enum sa_err name(struct http_request *req, struct http_response *res)

ADMIN_HANDLER(admin_claim_start);
ADMIN_HANDLER(admin_claim_finish);
ADMIN_HANDLER(admin_login_start);
ADMIN_HANDLER(admin_login_finish);
ADMIN_HANDLER(admin_logout);
ADMIN_HANDLER(admin_me);
ADMIN_HANDLER(admin_sessions_list);
ADMIN_HANDLER(admin_sessions_end);
ADMIN_HANDLER(admin_passkeys_list);
ADMIN_HANDLER(admin_passkeys_register_start);
ADMIN_HANDLER(admin_passkeys_register_finish);
ADMIN_HANDLER(admin_passkeys_revoke_start);
ADMIN_HANDLER(admin_passkeys_revoke_finish);
ADMIN_HANDLER(admin_audit_list);
ADMIN_HANDLER(admin_audit_verify);
ADMIN_HANDLER(admin_keys_list);
ADMIN_HANDLER(admin_keys_rotate_start);
ADMIN_HANDLER(admin_keys_rotate_finish);
ADMIN_HANDLER(admin_trust_status);
ADMIN_HANDLER(admin_trust_refresh);
ADMIN_HANDLER(admin_services_list);
ADMIN_HANDLER(admin_services_get);
ADMIN_HANDLER(admin_services_create);
ADMIN_HANDLER(admin_services_update);
ADMIN_HANDLER(admin_services_delete);
ADMIN_HANDLER(admin_services_finish);
ADMIN_HANDLER(admin_services_saml_start);
ADMIN_HANDLER(admin_services_saml_finish);
ADMIN_HANDLER(admin_enrollments_list);
ADMIN_HANDLER(admin_enrollments_get);
ADMIN_HANDLER(admin_enrollments_revoke_start);
ADMIN_HANDLER(admin_enrollments_revoke_finish);
ADMIN_HANDLER(admin_enrollments_takeover_start);
ADMIN_HANDLER(admin_enrollments_takeover_finish);
ADMIN_HANDLER(admin_admins_list);
ADMIN_HANDLER(admin_admins_invite_start);
ADMIN_HANDLER(admin_admins_invite_finish);
ADMIN_HANDLER(admin_admins_invite_cancel_start);
ADMIN_HANDLER(admin_admins_invite_cancel_finish);
ADMIN_HANDLER(admin_admins_remove_start);
ADMIN_HANDLER(admin_admins_remove_finish);
ADMIN_HANDLER(admin_invite_redeem_start);
ADMIN_HANDLER(admin_invite_redeem_finish);
ADMIN_HANDLER(admin_login_sessions_list);
ADMIN_HANDLER(admin_login_sessions_end_start);
ADMIN_HANDLER(admin_login_sessions_end_finish);

extern const struct schema admin_claim_start_schema;
extern const struct schema admin_claim_finish_schema;
extern const struct schema admin_login_finish_schema;
extern const struct schema admin_empty_schema;
extern const struct schema admin_register_finish_schema;
extern const struct schema admin_revoke_start_schema;
extern const struct schema admin_revoke_finish_schema;
/* The finish of every step-up pair: {"stepupId", "uvResponse"}. */
extern const struct schema admin_stepup_finish_schema;
extern const struct schema admin_enroll_revoke_schema;
extern const struct schema admin_takeover_schema;
extern const struct schema admin_invite_start_schema;
extern const struct schema admin_invite_cancel_schema;
extern const struct schema admin_remove_start_schema;
extern const struct schema admin_redeem_start_schema;
extern const struct schema admin_redeem_finish_schema;
extern const struct schema admin_saml_import_schema;
extern const struct schema admin_login_session_end_schema;

#endif
