/*
 * curl_lib.c - libcurl's functions, loaded on first use.
 *
 * The binary does not link libcurl. Each function sealauth calls is defined
 * here under its own name: the first call of any of them opens libcurl
 * (core/dynlib.h says why) and runs curl_global_init once, before any
 * handle exists; every call then goes straight to the library. When libcurl
 * cannot be loaded the constructors fail as libcurl's own do when out of
 * memory (curl_easy_init and curl_url return NULL, curl_slist_append too),
 * and the error is logged once.
 *
 * The definitions are hidden: only this binary's calls reach them, never
 * libcurl's calls of its own functions.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#include "core/curl_lib.h"
#include "core/dynlib.h"
#include "core/log.h"
#include "core/util.h"

/* The stubs are defined with the header's prototypes, which the compiler
 * checks; the type-checking macros of curl_easy_setopt and
 * curl_easy_getinfo would otherwise rename the definitions themselves. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

/*
 * X(return type, name, value when libcurl is missing, parameters,
 * arguments) for the functions that return a value, V(name, parameters,
 * arguments) for those that do not, and N(return type, name, parameters)
 * for the two that take a variable argument, whose definitions are
 * written out below.
 */
#define CURL_FUNCS(X, V, N)                                                    \
	X(CURLcode, curl_global_init, CURLE_FAILED_INIT, (long flags),         \
	  (flags))                                                             \
	V(curl_global_cleanup, (void), ())                                     \
	X(CURL *, curl_easy_init, NULL, (void), ())                            \
	X(CURLcode, curl_easy_perform, CURLE_FAILED_INIT, (CURL * c), (c))     \
	V(curl_easy_cleanup, (CURL * c), (c))                                  \
	V(curl_easy_reset, (CURL * c), (c))                                    \
	X(const char *, curl_easy_strerror, "libcurl is not available",        \
	  (CURLcode code), (code))                                             \
	X(char *, curl_easy_escape, NULL, (CURL * c, const char *s, int n),    \
	  (c, s, n))                                                           \
	V(curl_free, (void *p), (p))                                           \
	X(struct curl_slist *, curl_slist_append, NULL,                        \
	  (struct curl_slist * l, const char *s), (l, s))                      \
	V(curl_slist_free_all, (struct curl_slist * l), (l))                   \
	X(CURLU *, curl_url, NULL, (void), ())                                 \
	V(curl_url_cleanup, (CURLU * u), (u))                                  \
	X(CURLUcode, curl_url_get, CURLUE_OUT_OF_MEMORY,                       \
	  (CURLU * u, CURLUPart what, char **part, unsigned int flags),        \
	  (u, what, part, flags))                                              \
	X(CURLUcode, curl_url_set, CURLUE_OUT_OF_MEMORY,                       \
	  (CURLU * u, CURLUPart what, const char *part, unsigned int flags),   \
	  (u, what, part, flags))                                              \
	N(CURLcode, curl_easy_setopt, (CURL * c, CURLoption opt, ...))         \
	N(CURLcode, curl_easy_getinfo, (CURL * c, CURLINFO info, ...))

#define SLOT_N(ret, name, params) ret(*name) params;
#define SYM_N(ret, name, params) {#name, (void **)&fn.name},
#define NONE_N(ret, name, params)

static struct {
	CURL_FUNCS(DYNLIB_SLOT_X, DYNLIB_SLOT_V, SLOT_N)
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;

static void
load(void)
{
	const struct dynlib_sym syms[] = {
	    CURL_FUNCS(DYNLIB_SYM_X, DYNLIB_SYM_V, SYM_N)};
	CURLcode rc;

	if (dynlib_load(CURL_LIB_SONAME, syms, ARRAY_LEN(syms)) != SA_OK)
		return;
	/* Once, before any handle exists, as libcurl asks. */
	if ((rc = fn.curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		log_error("dynlib.load", "curl_global_init: %s",
			  fn.curl_easy_strerror(rc));
		return;
	}
	loaded = 1;
}

/* ready loads libcurl on the first call; 1 when it is usable. */
static int
ready(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

int
curl_lib_usable(void)
{
	return ready();
}

CURL_FUNCS(DYNLIB_STUB_X, DYNLIB_STUB_V, NONE_N)

/*
 * curl_easy_setopt takes one argument after the option, whose type the
 * option's number says (CURLOPTTYPE_*): a long, a pointer to data, a
 * pointer to a function, a curl_off_t or a blob. It is read as that type
 * and passed on as that type.
 */
DYNLIB_HIDDEN CURLcode
curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);
		rc = fn.curl_easy_setopt(c, opt, v);
	} else if (opt < CURLOPTTYPE_FUNCTIONPOINT) {
		void *v = va_arg(ap, void *);
		rc = fn.curl_easy_setopt(c, opt, v);
	} else if (opt < CURLOPTTYPE_OFF_T) {
		void (*v)(void) = va_arg(ap, void (*)(void));
		rc = fn.curl_easy_setopt(c, opt, v);
	} else if (opt < CURLOPTTYPE_BLOB) {
		curl_off_t v = va_arg(ap, curl_off_t);
		rc = fn.curl_easy_setopt(c, opt, v);
	} else if (opt < CURLOPTTYPE_BLOB + 10000) {
		struct curl_blob *v = va_arg(ap, struct curl_blob *);
		rc = fn.curl_easy_setopt(c, opt, v);
	} else {
		rc = CURLE_UNKNOWN_OPTION;
	}
	va_end(ap);
	return rc;
}

/* Every CURLINFO_* takes a pointer to where the answer goes. */
DYNLIB_HIDDEN CURLcode
curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	va_list ap;
	void *out;

	if (!ready())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	out = va_arg(ap, void *);
	va_end(ap);
	return fn.curl_easy_getinfo(c, info, out);
}
