/*
 * errors.h - the one error enum of sealauth.
 *
 * Values are stable and explicit: they appear in logs and audit rows, so a
 * value is never renumbered or reused. Each value has a stable snake_case
 * machine code (the "error" field of JSON error bodies), an HTTP status and
 * a human text, all in the one list below: the enum and the lookups in
 * errors.c are generated from it, so a code cannot lack a row, and two codes
 * with the same value do not compile (they become duplicate case labels).
 *
 * Ranges: 1-19 generic failures, 20-39 request problems, 40-59 seal and
 * trust steps (the name says which step failed), 60-79 login, 80-99
 * administration, 100-139 the protocols (OpenID Connect, SAML).
 */
#ifndef SEALAUTH_ERRORS_H
#define SEALAUTH_ERRORS_H

/* X(name, value, code, http status, text) */
#define SA_ERRORS(X)                                                           \
	X(SA_OK, 0, "ok", 200, "success")                                      \
	X(SA_ERR_NOMEM, 1, "internal", 500, "out of memory")                   \
	X(SA_ERR_INTERNAL, 2, "internal", 500, "internal error")               \
	X(SA_ERR_IO, 3, "internal", 500, "input/output error")                 \
	X(SA_ERR_CONFIG, 4, "config", 500, "invalid configuration")            \
	X(SA_ERR_UNAVAILABLE, 5, "unavailable", 503,                           \
	  "a backend is unavailable")                                          \
	X(SA_ERR_TIMEOUT, 6, "timeout", 503, "operation timed out")            \
	X(SA_ERR_SHUTTING_DOWN, 7, "unavailable", 503,                         \
	  "server is shutting down")                                           \
	X(SA_ERR_DISK_FULL, 12, "unavailable", 503,                            \
	  "the server's disk is full; nothing was changed, try again later")   \
	X(SA_ERR_BAD_REQUEST, 20, "bad_request", 400, "malformed request")     \
	X(SA_ERR_BAD_JSON, 21, "bad_json", 400,                                \
	  "request body is not valid JSON")                                    \
	X(SA_ERR_VALIDATION, 22, "validation", 400, "request body is invalid") \
	X(SA_ERR_BODY_TOO_LARGE, 23, "body_too_large", 413,                    \
	  "request body is too large")                                         \
	X(SA_ERR_UNSUPPORTED_MEDIA, 24, "unsupported_media_type", 415,         \
	  "Content-Type must be application/json")                             \
	X(SA_ERR_NOT_FOUND, 25, "not_found", 404, "not found")                 \
	X(SA_ERR_METHOD, 26, "method_not_allowed", 405, "method not allowed")  \
	X(SA_ERR_RATE_LIMITED, 27, "rate_limited", 429, "too many requests")   \
	X(SA_ERR_UNAUTHORIZED, 28, "unauthorized", 401,                        \
	  "authentication required")                                           \
	X(SA_ERR_FORBIDDEN, 29, "forbidden", 403, "not allowed")               \
	X(SA_ERR_CONFLICT, 30, "conflict", 409, "conflicting state")           \
	X(SA_ERR_ORIGIN, 31, "origin_not_allowed", 403, "origin not allowed")  \
	X(SA_ERR_UNPROCESSABLE, 33, "unprocessable", 422, "request refused")   \
	X(SA_ERR_SEAL_DECODE, 40, "seal_decode", 422,                          \
	  "seal could not be decoded")                                         \
	X(SA_ERR_SEAL_SIGNATURE, 41, "seal_signature", 422,                    \
	  "seal signature is invalid")                                         \
	X(SA_ERR_TRUST_CHAIN, 42, "trust_chain", 422,                          \
	  "seal signer is not trusted")                                        \
	X(SA_ERR_TRUST_EXPIRY, 43, "trust_expiry", 422,                        \
	  "certificate or list has expired")                                   \
	X(SA_ERR_TRUST_USAGE, 44, "trust_usage", 422,                          \
	  "signer is not authorised for this manifest")                        \
	X(SA_ERR_TRUST_REVOKED, 45, "trust_revocation", 422,                   \
	  "seal or signer is revoked")                                         \
	X(SA_ERR_TRUST_GOVERNANCE, 46, "trust_governance", 422,                \
	  "governance check failed")                                           \
	X(SA_ERR_TRUST_LIST, 47, "trust_list", 422, "trust list is malformed") \
	X(SA_ERR_TRUST_LIST_SIG, 48, "trust_list_signature", 422,              \
	  "trust list signature is invalid")                                   \
	X(SA_ERR_TRUST_ROLLBACK, 52, "trust_rollback", 422,                    \
	  "trust document is older than one already accepted")                 \
	X(SA_ERR_AUTHORITY_CONFLICT, 54, "authority_conflict", 409,            \
	  "token id is bound to another issuing authority")                    \
	X(SA_ERR_NOT_ENROLLED, 60, "not_enrolled", 404,                        \
	  "Token ID is not enrolled")                                          \
	X(SA_ERR_TOKEN_REVOKED, 61, "token_revoked", 403,                      \
	  "Token ID is revoked")                                               \
	X(SA_ERR_SCOPE, 62, "scope_not_allowed", 422, "scope not allowed")     \
	X(SA_ERR_SESSION_UNKNOWN, 63, "session_not_found", 404,                \
	  "no such session")                                                   \
	X(SA_ERR_BAD_SIGNATURE, 65, "invalid_signature", 401,                  \
	  "Invalid signature")                                                 \
	X(SA_ERR_BAD_OTP, 66, "invalid_otp", 401, "Invalid OTP")               \
	X(SA_ERR_TOO_MANY_ATTEMPTS, 67, "too_many_attempts", 429,              \
	  "Too many attempts")                                                 \
	X(SA_ERR_REPLAY, 68, "replay", 409, "session already completed")       \
	X(SA_ERR_CLOCK_SKEW, 69, "timestamp_out_of_window", 400,               \
	  "timestamp is outside the allowed window")                           \
	X(SA_ERR_PUSH, 70, "push_failed", 502, "push delivery failed")         \
	X(SA_ERR_LAST_PASSKEY, 80, "last_passkey_protected", 409,              \
	  "the last passkey cannot be revoked")                                \
	X(SA_ERR_LOGIN_UNKNOWN, 104, "login_request_not_found", 404,           \
	  "no such login request, or it has expired")                          \
	X(SA_ERR_LOGIN_MISMATCH, 105, "login_mismatch", 403,                   \
	  "this login was not approved for that request")                      \
	X(SA_ERR_ADMIN_UNAVAILABLE, 90, "admin_unavailable", 503,              \
	  "administration needs SEALAUTH_PUBLIC_URL")                          \
	X(SA_ERR_WEBAUTHN, 91, "webauthn_failed", 401,                         \
	  "the passkey ceremony failed")                                       \
	X(SA_ERR_CHALLENGE, 92, "challenge_invalid", 401,                      \
	  "the ceremony is unknown, used or expired")                          \
	X(SA_ERR_PASSKEY_CLONED, 93, "passkey_cloned", 401,                    \
	  "the passkey's signature counter went backwards")                    \
	X(SA_ERR_LAST_ADMIN, 94, "last_admin_protected", 409,                  \
	  "the last admin cannot be removed")                                  \
	X(SA_ERR_INSTALL_CLOSED, 95, "install_closed", 403,                    \
	  "the install window is closed")                                      \
	X(SA_ERR_CSRF, 96, "csrf_failed", 403,                                 \
	  "the X-CSRF-Token header is missing or wrong")                       \
	X(SA_ERR_INVITE_INVALID, 97, "invite_invalid", 401,                    \
	  "the invitation is unknown, used, cancelled or expired")             \
	X(SA_ERR_SAML_REQUEST, 124, "saml_request_invalid", 400,               \
	  "the SAML message is malformed")                                     \
	X(SA_ERR_SAML_UNKNOWN_SP, 125, "saml_unknown_sp", 403,                 \
	  "the SAML service provider is not registered")                       \
	X(SA_ERR_SAML_ACS, 126, "saml_acs_not_registered", 403,                \
	  "the assertion consumer service is not registered for this SP")      \
	X(SA_ERR_SAML_SIGNATURE, 127, "saml_signature", 403,                   \
	  "the SAML message signature is missing or invalid")                  \
	X(SA_ERR_SAML_REPLAY, 128, "saml_replay", 409,                         \
	  "the SAML request ID was already used")                              \
	X(SA_ERR_SAML_EXPIRED, 129, "saml_expired", 400,                       \
	  "the SAML message is outside its validity window")                   \
	X(SA_ERR_SAML_UNSUPPORTED, 130, "saml_unsupported", 400,               \
	  "the SAML request asks for something this IdP does not offer")       \
	X(SA_ERR_SAML_METADATA, 131, "saml_metadata_invalid", 422,             \
	  "the SAML metadata is malformed or gives settings we refuse")        \
	X(SA_ERR_SAML_METADATA_SIGNATURE, 132, "saml_metadata_signature", 422, \
	  "the SAML metadata is not signed by the given certificate")          \
	X(SA_ERR_SAML_METADATA_FETCH, 133, "saml_metadata_fetch_failed", 502,  \
	  "the SAML metadata URL could not be read")

enum sa_err {
#define SA_ERR_ENUM(name, value, code, http, text) name = value,
	SA_ERRORS(SA_ERR_ENUM)
#undef SA_ERR_ENUM
};

/* sa_err_code returns the stable snake_case code of an error ("validation");
 * "internal" for a value that is not in the list. */
const char *sa_err_code(enum sa_err err);

/* sa_err_str returns a short English sentence describing an error. */
const char *sa_err_str(enum sa_err err);

/* sa_err_http returns the HTTP status an error maps to (500 for unknown). */
unsigned int sa_err_http(enum sa_err err);

/* sa_err_count and sa_err_at walk the list (for tests and the docs). */
unsigned int sa_err_count(void);
enum sa_err sa_err_at(unsigned int i);

#endif
