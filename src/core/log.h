/*
 * log.h - structured JSON log lines on standard error.
 *
 * Every line is one JSON object written with a single write(2), so lines from
 * several threads never interleave: {"ts", "level", "event", "msg", ...}.
 * A request id, when known, goes in "req".
 */
#ifndef SEALAUTH_LOG_H
#define SEALAUTH_LOG_H

#include <jansson.h>

enum log_level {
	SA_LOG_DEBUG = 0,
	SA_LOG_INFO = 1,
	SA_LOG_WARN = 2,
	SA_LOG_ERROR = 3,
	SA_LOG_OFF = 4,
};

/* log_set_level sets the lowest level that is written. */
void log_set_level(enum log_level level);

/* log_parse_level maps "debug", "info", "warn", "error" or "off" to a level;
 * returns -1 for anything else. */
int log_parse_level(const char *name);

/* log_enabled tells whether a line at this level would be written. */
int log_enabled(enum log_level level);

/*
 * log_json writes one line with the event name and the fields of the object
 * "fields" (may be NULL). The reference to "fields" is stolen.
 */
void log_json(enum log_level level, const char *event, json_t *fields);

/* log_msg writes one line with a printf-formatted "msg" and optional request
 * id. */
void log_msg(enum log_level level, const char *event, const char *req,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_info(event, ...) log_msg(SA_LOG_INFO, event, NULL, __VA_ARGS__)
#define log_warn(event, ...) log_msg(SA_LOG_WARN, event, NULL, __VA_ARGS__)
#define log_error(event, ...) log_msg(SA_LOG_ERROR, event, NULL, __VA_ARGS__)
#define log_debug(event, ...) log_msg(SA_LOG_DEBUG, event, NULL, __VA_ARGS__)

#endif
