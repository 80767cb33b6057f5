/*
 * verify_msg.c - the signed verification message (verify_msg.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "login/verify_msg.h"

static int
scope_cmp(const void *a, const void *b)
{
	/* strcmp compares as unsigned char: a bytewise order. */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t
verify_msg_scopes_sort(const char **v, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), scope_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i], v[k]) != 0)
			v[++k] = v[i];
	return k + 1;
}

/* field_ok bounds a field and refuses the separator sep inside it. */
static int
field_ok(const char *s, size_t max, char sep)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	return s != NULL && n <= max && memchr(s, sep, n) == NULL;
}

enum sa_err
verify_msg_build(const char *session, const char *otp, int64_t ts,
		 const char *decision, const char *const scopes[], size_t n,
		 char **out)
{
	return verify_msg_build_reason(session, otp, ts, decision, scopes, n,
				       NULL, out);
}

enum sa_err
verify_msg_build_reason(const char *session, const char *otp, int64_t ts,
			const char *decision, const char *const scopes[],
			size_t n, const char *reason, char **out)
{
	const char **sorted = NULL;
	struct buf b;
	char head[64 + VERIFY_MSG_SESSION_MAX + VERIFY_MSG_OTP_MAX];
	enum sa_err rc = SA_ERR_VALIDATION;

	buf_init(&b, sizeof(head) +
			 VERIFY_MSG_SCOPES_MAX * (VERIFY_MSG_SCOPE_MAX + 1));
	if (!field_ok(session, VERIFY_MSG_SESSION_MAX, '|') ||
	    !field_ok(otp, VERIFY_MSG_OTP_MAX, '|') || decision == NULL ||
	    (n > 0 && scopes == NULL) || n > VERIFY_MSG_SCOPES_MAX)
		goto out;
	if (strcmp(decision, "approve") != 0 && strcmp(decision, "reject") != 0)
		goto out;
	if (reason != NULL && (strcmp(decision, "reject") != 0 ||
			       (strcmp(reason, "declined") != 0 &&
				strcmp(reason, "not_me") != 0)))
		goto out;
	if (n > 0) {
		if ((sorted = calloc(n, sizeof(*sorted))) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (!field_ok(scopes[i], VERIFY_MSG_SCOPE_MAX, ',') ||
			    scopes[i][0] == '\0')
				goto out;
			sorted[i] = scopes[i];
		}
		qsort(sorted, n, sizeof(*sorted), scope_cmp);
	}
	snprintf(head, sizeof(head), VERIFY_MSG_PREFIX "|%s|%s|%" PRId64 "|%s|",
		 session, otp, ts, decision);
	if ((rc = buf_append(&b, head, strlen(head))) != SA_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((i > 0 && (rc = buf_append(&b, ",", 1)) != SA_OK) ||
		    (rc = buf_append(&b, sorted[i], strlen(sorted[i]))) !=
			SA_OK)
			goto out;
	}
	if (reason != NULL &&
	    ((rc = buf_append(&b, "|", 1)) != SA_OK ||
	     (rc = buf_append(&b, reason, strlen(reason))) != SA_OK))
		goto out;
	*out = (char *)b.data;
	b.data = NULL;
	rc = SA_OK;
out:
	free(sorted);
	buf_free(&b);
	return rc;
}
