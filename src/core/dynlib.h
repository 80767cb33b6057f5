/*
 * dynlib.h - shared libraries loaded on first use.
 *
 * libcurl and libpq are not linked into the binary: a server that never
 * sends a push, fetches a trust list or opens PostgreSQL never maps them,
 * nor the libraries they pull in (Kerberos, LDAP, SSH, HTTP/2, RTMP). Each
 * is opened the first time one of its functions is called, through a file
 * of stubs with the library's own function names (core/curl_lib.c,
 * store/pq_lib.c), so the code that calls it is written against the
 * library's header as usual and keeps its type checks.
 */
#ifndef SEALAUTH_DYNLIB_H
#define SEALAUTH_DYNLIB_H

#include <stddef.h>

#include "core/errors.h"

/* One function to resolve: its name and where its address goes. */
struct dynlib_sym {
	const char *name;
	void **slot;
};

/*
 * dynlib_load opens the library soname (its ABI version in the name, so a
 * library of another ABI is never taken) and resolves every symbol in
 * syms. All or nothing: on failure every slot is NULL, the library is
 * closed again, and an error naming the library and the missing symbol is
 * logged. The library stays loaded for the life of the process.
 */
enum sa_err dynlib_load(const char *soname, const struct dynlib_sym *syms,
			size_t n);

/*
 * The stubs' building blocks. A file of stubs lists the library's functions
 * as X(return type, name, value when the library is missing, parameters,
 * arguments) or V(name, parameters, arguments) for those returning void,
 * keeps their addresses in a struct named fn (DYNLIB_SLOT_*), resolves them
 * from an array of DYNLIB_SYM_* and has a static ready() that loads the
 * library once and says whether it is usable. DYNLIB_STUB_* then define
 * each function under its own name, hidden from every other library.
 */
#define DYNLIB_HIDDEN __attribute__((visibility("hidden")))
#define DYNLIB_SLOT_X(ret, name, fail, params, args) ret(*name) params;
#define DYNLIB_SLOT_V(name, params, args) void(*name) params;
#define DYNLIB_SYM_X(ret, name, fail, params, args) {#name, (void **)&fn.name},
#define DYNLIB_SYM_V(name, params, args) {#name, (void **)&fn.name},
#define DYNLIB_STUB_X(ret, name, fail, params, args)                           \
	DYNLIB_HIDDEN ret name params                                          \
	{                                                                      \
		return ready() ? fn.name args : fail;                          \
	}
#define DYNLIB_STUB_V(name, params, args)                                      \
	DYNLIB_HIDDEN void name params                                         \
	{                                                                      \
		if (ready())                                                   \
			fn.name args;                                          \
	}

/* dynlib_is_loaded says whether soname is mapped in this process now,
 * without loading it. */
int dynlib_is_loaded(const char *soname);

#endif
