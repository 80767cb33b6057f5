/*
 * verify_msg.h - the text a phone signs to answer a login, built in one
 * place for the server (login/api_auth.c checks the signature over it) and
 * the phone simulator (cmd/device.c signs it).
 *
 *   sealauth-verify-v1|{sessionId}|{otp}|{timestamp}|{decision}|{scopes}
 *
 * timestamp is unix seconds in decimal, decision "approve" or "reject",
 * scopes the granted scopes sorted bytewise (strcmp, no locale) and joined
 * with commas; no scopes leaves the last field empty. A rejection that gives
 * a reason ("declined", or "not_me": this wasn't me) appends "|{reason}",
 * so the reason is signed too (no scope holds a '|').
 */
#ifndef SEALAUTH_VERIFY_MSG_H
#define SEALAUTH_VERIFY_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

#define VERIFY_MSG_PREFIX "sealauth-verify-v1"
#define VERIFY_MSG_SESSION_MAX 128 /* bytes of a session id */
#define VERIFY_MSG_OTP_MAX 64	   /* bytes of the code field */
#define VERIFY_MSG_SCOPES_MAX 64   /* scopes in one message */
#define VERIFY_MSG_SCOPE_MAX 128   /* bytes of one scope */

/*
 * verify_msg_build sets *out to a new NUL-terminated message (the caller
 * frees it). The caller's scope array is not reordered. Input that would
 * make two different answers sign the same bytes is refused with
 * SA_ERR_VALIDATION: a '|' in the session or the code, an empty scope or
 * one holding ',', a decision other than approve or reject, or a field
 * over its limit above.
 */
enum sa_err verify_msg_build(const char *session, const char *otp, int64_t ts,
			     const char *decision, const char *const scopes[],
			     size_t n, char **out);

/*
 * verify_msg_build_reason is verify_msg_build with a rejection's reason
 * (NULL: none, the same text as verify_msg_build). A reason with "approve",
 * or another than "declined" and "not_me", is refused (SA_ERR_VALIDATION).
 */
enum sa_err verify_msg_build_reason(const char *session, const char *otp,
				    int64_t ts, const char *decision,
				    const char *const scopes[], size_t n,
				    const char *reason, char **out);

/* verify_msg_scopes_sort sorts scopes bytewise in place, drops repeats and
 * returns how many are left. */
size_t verify_msg_scopes_sort(const char **v, size_t n);

#endif
