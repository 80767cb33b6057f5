/*
 * push_log.c - the two providers that deliver nothing: "log" writes the
 * message to the log for development (the line says it was not sent), and
 * "none" succeeds silently for benchmarks. Neither touches the network.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "push/push_int.h"

/*
 * log_target_hint keeps the first characters of a target so a developer can
 * tell devices apart without the whole FCM token landing in the log.
 */
static void
log_target_hint(const char *target, char *out, size_t n)
{
	size_t len = strlen(target);

	if (len <= 16)
		snprintf(out, n, "%s", target);
	else
		snprintf(out, n, "%.16s...", target);
}

/*
 * push_log_send writes one info line "push.log" holding the message. The
 * message may hold a login code: mode "log" is for development only.
 */
static void
push_log_send(const struct push_call *call, struct push_result *res)
{
	char hint[32];
	json_t *fields;

	log_target_hint(call->target, hint, sizeof(hint));
	fields = json_pack("{s:s, s:s, s:O}", "msg",
			   "push mode is log: message not sent to any device",
			   "target", hint, "message", call->msg);
	if (fields == NULL) {
		push_result_set(res, SA_ERR_NOMEM, 1, "out of memory");
		return;
	}
	log_json(SA_LOG_INFO, "push.log", fields);
	push_result_set(res, SA_OK, 0, "logged, not sent (push mode log)");
}

static void
push_none_send(const struct push_call *call, struct push_result *res)
{
	push_result_set(res, SA_OK, 0, "dropped (push mode none)");
}

const struct push_provider push_log_provider = {
    .name = "log",
    .send = push_log_send,
    .local = 1,
};

const struct push_provider push_none_provider = {
    .name = "none",
    .send = push_none_send,
    .local = 1,
};
