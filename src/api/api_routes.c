/*
 * api_routes.c - the route table: every endpoint, its schema and its
 * rate-limit class, in one place.
 */
#include "api/api.h"
#include "admin/admin.h"
#include "api/api_test.h"
#include "login/session_ws.h"
#include "login/weblogin.h"
#include "oidc/oidc.h"
#include "saml/saml.h"
#include "login/takeover.h"

static const struct route routes[] = {
    {"GET", "/health", 0, NULL, "health", api_health, NULL, NULL},
    {"GET", "/jwks", ROUTE_CORS, NULL, "default", api_jwks, NULL, NULL},
    {"GET", "/.well-known/jwks.json", ROUTE_CORS, NULL, "default", api_jwks,
     NULL, NULL},
    {"POST", "/enroll", ROUTE_JSON_BODY, &api_enroll_schema, "enroll",
     api_enroll, NULL, NULL},
    {"POST", "/enroll/takeover", ROUTE_JSON_BODY, &api_takeover_schema,
     "enroll", api_enroll_takeover, NULL, NULL},
    {"POST", "/auth/initiate", ROUTE_JSON_BODY | ROUTE_CORS,
     &api_initiate_schema, "initiate", api_initiate, NULL, NULL},
    {"POST", "/auth/verify", ROUTE_JSON_BODY, &api_verify_schema, "verify",
     api_verify, NULL, NULL},
    {"GET", "/login/pending/{id}", 0, NULL, "default", api_login_pending, NULL,
     NULL},
    {"GET", "/login/continue", ROUTE_HTML | ROUTE_NO_STORE, NULL, "default",
     api_login_continue, NULL, NULL},
    {"POST", "/auth/remember", ROUTE_JSON_BODY, &api_remember_schema, "default",
     api_remember, NULL, NULL},
    {"GET", "/.well-known/openid-configuration", ROUTE_CORS, NULL, "default",
     oidc_discovery, NULL, NULL},
    {"GET", "/oidc/authorize", ROUTE_HTML | ROUTE_NO_STORE, NULL, "authorize",
     oidc_authorize, NULL, NULL},
    {"POST", "/oidc/authorize", ROUTE_HTML | ROUTE_NO_STORE | ROUTE_FORM_BODY,
     NULL, "authorize", oidc_authorize, NULL, NULL},
    {"POST", "/oidc/token", ROUTE_FORM_BODY | ROUTE_CORS, NULL, "token",
     oidc_token, NULL, NULL},
    {"GET", "/oidc/userinfo", ROUTE_CORS, NULL, "token", oidc_userinfo, NULL,
     NULL},
    {"POST", "/oidc/userinfo", ROUTE_FORM_BODY | ROUTE_CORS, NULL, "token",
     oidc_userinfo, NULL, NULL},
    {"POST", "/oidc/revoke", ROUTE_FORM_BODY | ROUTE_CORS, NULL, "token",
     oidc_revoke, NULL, NULL},
    {"POST", "/oidc/introspect", ROUTE_FORM_BODY, NULL, "token",
     oidc_introspect, NULL, NULL},
    {"GET", "/oidc/logout", ROUTE_HTML | ROUTE_NO_STORE, NULL, "authorize",
     oidc_logout, NULL, NULL},
    {"POST", "/oidc/logout", ROUTE_HTML | ROUTE_NO_STORE | ROUTE_FORM_BODY,
     NULL, "authorize", oidc_logout, NULL, NULL},
    {"GET", "/saml/metadata", 0, NULL, "default", api_saml_metadata, NULL,
     NULL},
    {"GET", "/saml/sso", ROUTE_HTML | ROUTE_NO_STORE, NULL, "default",
     api_saml_sso, NULL, NULL},
    {"POST", "/saml/sso", ROUTE_HTML | ROUTE_NO_STORE | ROUTE_FORM_BODY, NULL,
     "default", api_saml_sso, NULL, NULL},
    {"GET", "/saml/slo", ROUTE_HTML | ROUTE_NO_STORE, NULL, "default",
     api_saml_slo, NULL, NULL},
    {"POST", "/saml/slo", ROUTE_HTML | ROUTE_NO_STORE | ROUTE_FORM_BODY, NULL,
     "default", api_saml_slo, NULL, NULL},
    {"GET", "/saml/slo/resume", ROUTE_HTML | ROUTE_NO_STORE, NULL, "default",
     api_saml_slo_resume, NULL, NULL},
    {"GET", "/saml/slo/walk", ROUTE_HTML | ROUTE_NO_STORE, NULL, "default",
     api_saml_slo_walk, NULL, NULL},
    {"GET", "/saml/logout", ROUTE_HTML | ROUTE_NO_STORE, NULL, "default",
     api_saml_logout_page, NULL, NULL},
    {"POST", "/saml/logout", ROUTE_HTML | ROUTE_NO_STORE | ROUTE_FORM_BODY,
     NULL, "default", api_saml_logout, NULL, NULL},
    {"GET", "/", ROUTE_HTML, NULL, "default", api_index, NULL, NULL},
    {"GET", "/admin", ROUTE_HTML, NULL, "default", api_admin_console, NULL,
     NULL},
    {"GET", "/admin/", ROUTE_HTML, NULL, "default", api_admin_console, NULL,
     NULL},
    {"GET", "/static/{file}", 0, NULL, "default", api_static_file, NULL, NULL},
    {"GET", "/metrics", ROUTE_NO_STORE, NULL, "default", api_metrics, NULL,
     NULL},
    {"GET", "/ws/session/{sessionId}", ROUTE_WEBSOCKET, NULL, "ws", NULL,
     session_ws_prepare, &session_ws_handler},
    /* Administration (admin/admin.h, docs/admin.md). */
    {"POST", "/v1/install/claim/start", ROUTE_JSON_BODY,
     &admin_claim_start_schema, "install", admin_claim_start, NULL, NULL},
    {"POST", "/v1/install/claim/finish", ROUTE_JSON_BODY,
     &admin_claim_finish_schema, "install", admin_claim_finish, NULL, NULL},
    {"POST", "/v1/auth/passkey-login/start", ROUTE_JSON_BODY,
     &admin_empty_schema, "admin", admin_login_start, NULL, NULL},
    {"POST", "/v1/auth/passkey-login/finish", ROUTE_JSON_BODY,
     &admin_login_finish_schema, "admin", admin_login_finish, NULL, NULL},
    {"POST", "/v1/auth/logout", ROUTE_JSON_BODY, &admin_empty_schema, "default",
     admin_logout, NULL, NULL},
    {"GET", "/v1/admin/me", 0, NULL, "default", admin_me, NULL, NULL},
    {"GET", "/v1/admin/sessions", 0, NULL, "default", admin_sessions_list, NULL,
     NULL},
    {"DELETE", "/v1/admin/sessions/{sessionId}", 0, NULL, "default",
     admin_sessions_end, NULL, NULL},
    {"GET", "/v1/admin/passkeys", 0, NULL, "default", admin_passkeys_list, NULL,
     NULL},
    {"POST", "/v1/admin/passkeys/register/start", ROUTE_JSON_BODY,
     &admin_empty_schema, "default", admin_passkeys_register_start, NULL, NULL},
    {"POST", "/v1/admin/passkeys/register/finish", ROUTE_JSON_BODY,
     &admin_register_finish_schema, "default", admin_passkeys_register_finish,
     NULL, NULL},
    {"POST", "/v1/admin/passkeys/revoke/start", ROUTE_JSON_BODY,
     &admin_revoke_start_schema, "default", admin_passkeys_revoke_start, NULL,
     NULL},
    {"POST", "/v1/admin/passkeys/revoke/finish", ROUTE_JSON_BODY,
     &admin_revoke_finish_schema, "default", admin_passkeys_revoke_finish, NULL,
     NULL},
    {"GET", "/v1/admin/audit", 0, NULL, "default", admin_audit_list, NULL,
     NULL},
    {"GET", "/v1/admin/audit/verify", 0, NULL, "default", admin_audit_verify,
     NULL, NULL},
    {"GET", "/v1/admin/keys", 0, NULL, "default", admin_keys_list, NULL, NULL},
    {"POST", "/v1/admin/keys/rotate/start", ROUTE_JSON_BODY,
     &admin_empty_schema, "default", admin_keys_rotate_start, NULL, NULL},
    {"POST", "/v1/admin/keys/rotate/finish", ROUTE_JSON_BODY,
     &admin_stepup_finish_schema, "default", admin_keys_rotate_finish, NULL,
     NULL},
    {"GET", "/v1/admin/trust", 0, NULL, "default", admin_trust_status, NULL,
     NULL},
    {"POST", "/v1/admin/trust/refresh", ROUTE_JSON_BODY, &admin_empty_schema,
     "default", admin_trust_refresh, NULL, NULL},
    {"GET", "/v1/admin/services", 0, NULL, "default", admin_services_list, NULL,
     NULL},
    {"POST", "/v1/admin/services/finish", ROUTE_JSON_BODY,
     &admin_stepup_finish_schema, "default", admin_services_finish, NULL, NULL},
    {"GET", "/v1/admin/services/{serviceId}", 0, NULL, "default",
     admin_services_get, NULL, NULL},
    {"POST", "/v1/admin/services", ROUTE_JSON_BODY, NULL, "default",
     admin_services_create, NULL, NULL},
    {"PATCH", "/v1/admin/services/{serviceId}", ROUTE_JSON_BODY, NULL,
     "default", admin_services_update, NULL, NULL},
    {"DELETE", "/v1/admin/services/{serviceId}", 0, NULL, "default",
     admin_services_delete, NULL, NULL},
    {"GET", "/v1/admin/enrollments", 0, NULL, "default", admin_enrollments_list,
     NULL, NULL},
    {"GET", "/v1/admin/enrollments/{tokenId}", 0, NULL, "default",
     admin_enrollments_get, NULL, NULL},
    {"POST", "/v1/admin/enrollments/revoke/start", ROUTE_JSON_BODY,
     &admin_enroll_revoke_schema, "default", admin_enrollments_revoke_start,
     NULL, NULL},
    {"POST", "/v1/admin/enrollments/revoke/finish", ROUTE_JSON_BODY,
     &admin_stepup_finish_schema, "default", admin_enrollments_revoke_finish,
     NULL, NULL},
    {"POST", "/v1/admin/enrollments/takeover/start", ROUTE_JSON_BODY,
     &admin_takeover_schema, "default", admin_enrollments_takeover_start, NULL,
     NULL},
    {"POST", "/v1/admin/enrollments/takeover/finish", ROUTE_JSON_BODY,
     &admin_stepup_finish_schema, "default", admin_enrollments_takeover_finish,
     NULL, NULL},
    API_TEST_ROUTES};

/* Test-only routes come last, so the production table is a prefix. */
static const size_t routes_test = API_TEST_ROUTE_COUNT;

const struct route *
api_routes(int with_test, size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]) - (with_test ? 0 : routes_test);
	return routes;
}

/* The protocols a browser login hands back to, by name (weblogin.h); the
 * test protocol only with the test routes. */
static const struct weblogin_protocol protocols[] = {
    API_TEST_WEBLOGIN_PROTOCOLS{"oidc", oidc_login_done},
    {"saml", saml_login_continue},
    {NULL, NULL},
};

const struct weblogin_protocol *
api_weblogin_protocols(int with_test)
{
	return with_test ? protocols : protocols + API_TEST_WEBLOGIN_COUNT;
}
