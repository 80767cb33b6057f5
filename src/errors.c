/*
 * errors.c - codes, texts and HTTP statuses of enum sa_err, in one table.
 */
#include <stddef.h>

#include "errors.h"

struct err_info {
	enum sa_err err;
	const char *code;
	const char *text;
	unsigned int http;
};

static const struct err_info err_table[] = {
	{SA_OK, "ok", "success", 200},
	{SA_ERR_NOMEM, "internal", "out of memory", 500},
	{SA_ERR_INTERNAL, "internal", "internal error", 500},
	{SA_ERR_IO, "internal", "input/output error", 500},
	{SA_ERR_CONFIG, "config", "invalid configuration", 500},
	{SA_ERR_UNAVAILABLE, "unavailable", "a backend is unavailable", 503},
	{SA_ERR_TIMEOUT, "timeout", "operation timed out", 503},
	{SA_ERR_SHUTTING_DOWN, "unavailable", "server is shutting down", 503},
	{SA_ERR_BAD_REQUEST, "bad_request", "malformed request", 400},
	{SA_ERR_BAD_JSON, "bad_json", "request body is not valid JSON", 400},
	{SA_ERR_VALIDATION, "validation", "request body is invalid", 400},
	{SA_ERR_BODY_TOO_LARGE, "body_too_large", "request body is too large", 413},
	{SA_ERR_UNSUPPORTED_MEDIA, "unsupported_media_type",
	 "Content-Type must be application/json", 415},
	{SA_ERR_NOT_FOUND, "not_found", "not found", 404},
	{SA_ERR_METHOD, "method_not_allowed", "method not allowed", 405},
	{SA_ERR_RATE_LIMITED, "rate_limited", "too many requests", 429},
	{SA_ERR_UNAUTHORIZED, "unauthorized", "authentication required", 401},
	{SA_ERR_FORBIDDEN, "forbidden", "not allowed", 403},
	{SA_ERR_CONFLICT, "conflict", "conflicting state", 409},
	{SA_ERR_ORIGIN, "origin_not_allowed", "origin not allowed", 403},
	{SA_ERR_GONE, "gone", "resource has expired", 410},
	{SA_ERR_UNPROCESSABLE, "unprocessable", "request refused", 422},
	{SA_ERR_SEAL_DECODE, "seal_decode", "seal could not be decoded", 422},
	{SA_ERR_SEAL_SIGNATURE, "seal_signature", "seal signature is invalid", 422},
	{SA_ERR_TRUST_CHAIN, "trust_chain", "seal signer is not trusted", 422},
	{SA_ERR_TRUST_EXPIRY, "trust_expiry", "certificate or list has expired", 422},
	{SA_ERR_TRUST_USAGE, "trust_usage",
	 "signer is not authorised for this manifest", 422},
	{SA_ERR_TRUST_REVOKED, "trust_revocation", "seal or signer is revoked", 422},
	{SA_ERR_TRUST_GOVERNANCE, "trust_governance", "governance check failed", 422},
	{SA_ERR_TRUST_LIST, "trust_list", "trust list is malformed", 422},
	{SA_ERR_TRUST_LIST_SIG, "trust_list_signature",
	 "trust list signature is invalid", 422},
	{SA_ERR_NOT_ENROLLED, "not_enrolled", "token id is not enrolled", 404},
	{SA_ERR_TOKEN_REVOKED, "token_revoked", "token id is revoked", 403},
	{SA_ERR_SCOPE, "scope_not_allowed", "scope not allowed", 422},
	{SA_ERR_SESSION_UNKNOWN, "session_not_found", "no such session", 404},
	{SA_ERR_SESSION_EXPIRED, "session_expired", "session has expired", 410},
	{SA_ERR_BAD_SIGNATURE, "invalid_signature", "Invalid signature", 401},
	{SA_ERR_BAD_OTP, "invalid_otp", "Invalid OTP", 401},
	{SA_ERR_TOO_MANY_ATTEMPTS, "too_many_attempts", "Too many attempts", 429},
	{SA_ERR_REPLAY, "replay", "session already completed", 409},
	{SA_ERR_CLOCK_SKEW, "timestamp_out_of_window",
	 "timestamp is outside the allowed window", 400},
	{SA_ERR_PUSH, "push_failed", "push delivery failed", 502},
	{SA_ERR_LAST_PASSKEY, "LastPasskeyProtected",
	 "the last passkey cannot be revoked", 409},
	{SA_ERR_STEP_UP, "step_up_required", "a fresh user verification is required",
	 401},
};

static const struct err_info *
err_find(enum sa_err err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].err == err)
			return &err_table[i];
	return NULL;
}

const char *
sa_err_code(enum sa_err err)
{
	const struct err_info *e = err_find(err);
	return e ? e->code : "internal";
}

const char *
sa_err_str(enum sa_err err)
{
	const struct err_info *e = err_find(err);
	return e ? e->text : "unknown error";
}

unsigned int
sa_err_http(enum sa_err err)
{
	const struct err_info *e = err_find(err);
	return e ? e->http : 500;
}
