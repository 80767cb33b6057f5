/*
 * ratelimit.h - fixed-window request limits kept in the ephemeral store.
 *
 * Limits are named classes ("initiate", "enroll", "admin", "default", ...)
 * with a count per window, configured as SEALAUTH_RATE_LIMITS
 * ("initiate=10/60,enroll=5/3600"). A route names its class and is limited
 * per client IP by the HTTP layer; a handler may also limit by any other key
 * it names (a token id). Counters live in the ephemeral store, so several
 * instances sharing Redis share the limits.
 */
#ifndef SEALAUTH_RATELIMIT_H
#define SEALAUTH_RATELIMIT_H

#include <stdint.h>
#include <stdio.h>

#include "core/errors.h"

struct estore;
struct ratelimit;

#define RATELIMIT_CLASSES_MAX 32

/*
 * ratelimit_new parses the configured limits on top of the built-in
 * defaults. On a parse error it writes the reason into why.
 */
enum sa_err ratelimit_new(struct estore *es, const char *spec,
			  struct ratelimit **out, char *why, size_t whylen);
void ratelimit_free(struct ratelimit *rl);

/*
 * ratelimit_hit counts one request of class "cls" for the key kind and value
 * (e.g. "ip", "127.0.0.1"). It returns SA_OK when the request is within the
 * limit and SA_ERR_RATE_LIMITED otherwise, with *retry_after the seconds
 * until the window ends. *first_refusal is set to 1 for the first refusal of
 * a window, so the caller can audit once per window rather than once per
 * request (an attacker must not be able to flood the audit log). A class
 * with no limit, or a count of 0, always passes. When the store fails, the
 * request passes and the failure is logged: limits protect the service and must
 * not take it down. retry_after and first_refusal may be NULL.
 */
enum sa_err ratelimit_hit(struct ratelimit *rl, const char *cls,
			  const char *kind, const char *key,
			  int64_t *retry_after, int *first_refusal);

/* ratelimit_print_markdown writes the built-in classes as the Markdown
 * table of docs/configuration.md. */
void ratelimit_print_markdown(FILE *out);

/* ratelimit_limit reports a class's count and window (0, 0 if none). */
void ratelimit_limit(const struct ratelimit *rl, const char *cls,
		     int64_t *count, int64_t *window_s);

#endif
