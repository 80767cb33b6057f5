/*
 * errors.c - codes, texts and HTTP statuses of enum sa_err, generated from
 * the one list in errors.h.
 */
#include <stddef.h>

#include "core/errors.h"

const char *
sa_err_code(enum sa_err err)
{
	switch (err) {
#define SA_ERR_CODE(name, value, code, http, text)                             \
	case name:                                                             \
		return code;
		SA_ERRORS(SA_ERR_CODE)
#undef SA_ERR_CODE
	}
	return "internal";
}

const char *
sa_err_str(enum sa_err err)
{
	switch (err) {
#define SA_ERR_TEXT(name, value, code, http, text)                             \
	case name:                                                             \
		return text;
		SA_ERRORS(SA_ERR_TEXT)
#undef SA_ERR_TEXT
	}
	return "unknown error";
}

unsigned int
sa_err_http(enum sa_err err)
{
	switch (err) {
#define SA_ERR_HTTP(name, value, code, http, text)                             \
	case name:                                                             \
		return http;
		SA_ERRORS(SA_ERR_HTTP)
#undef SA_ERR_HTTP
	}
	return 500;
}

static const enum sa_err err_all[] = {
#define SA_ERR_ALL(name, value, code, http, text) name,
    SA_ERRORS(SA_ERR_ALL)
#undef SA_ERR_ALL
};

unsigned int
sa_err_count(void)
{
	return (unsigned int)(sizeof(err_all) / sizeof(err_all[0]));
}

enum sa_err
sa_err_at(unsigned int i)
{
	return i < sa_err_count() ? err_all[i] : SA_ERR_INTERNAL;
}
