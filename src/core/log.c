/*
 * log.c - structured JSON log lines.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json_out.h"
#include "core/log.h"

static volatile int log_level_min = SA_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error",
					  "off"};

void
log_set_level(enum log_level level)
{
	log_level_min = level;
}

int
log_parse_level(const char *name)
{
	for (int i = 0; i <= SA_LOG_OFF; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

int
log_enabled(enum log_level level)
{
	return (int)level >= log_level_min && level < SA_LOG_OFF;
}

void
log_json(enum log_level level, const char *event, json_t *fields)
{
	struct timespec ts;
	struct tm tm;
	char when[40];
	json_t *line = NULL;
	char *text = NULL;
	size_t n = 0;

	if (!log_enabled(level))
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + 19, sizeof(when) - 19, ".%03dZ",
		 (int)(ts.tv_nsec / 1000000) % 1000);
	line = json_pack("{s:s, s:s, s:s}", "ts", when, "level",
			 level_names[level], "event", event ? event : "log");
	if (line == NULL)
		goto out;
	if (fields != NULL && json_is_object(fields))
		json_object_update_missing(line, fields);
	text = json_out(line, 0, &n);
	if (text != NULL) {
		text[n] = '\n'; /* the NUL is replaced; length is known */
		/* One write per line keeps lines whole across threads. */
		ssize_t w = write(STDERR_FILENO, text, n + 1);
		(void)w;
		text[n] = '\0';
	}
out:
	free(text);
	json_decref(line);
	json_decref(fields);
}

void
log_msg(enum log_level level, const char *event, const char *req,
	const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *fields;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fields = json_object();
	if (fields == NULL)
		return;
	json_object_set_new(fields, "msg", json_string(msg));
	if (req != NULL)
		json_object_set_new(fields, "req", json_string(req));
	log_json(level, event, fields);
}
