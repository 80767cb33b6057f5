/*
 * dynlib.c - opening a shared library on first use and resolving its
 * functions, all or nothing.
 */
#include <dlfcn.h>

#include "core/dynlib.h"
#include "core/log.h"

enum sa_err
dynlib_load(const char *soname, const struct dynlib_sym *syms, size_t n)
{
	void *h;
	const char *err;

	for (size_t i = 0; i < n; i++)
		*syms[i].slot = NULL;
	/* RTLD_NOW: a missing symbol of the library's own dependencies shows
	 * here, once, not in the middle of a transfer. RTLD_LOCAL: its
	 * symbols serve only the stubs that asked for them. */
	if ((h = dlopen(soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		log_error("dynlib.load", "cannot load %s: %s", soname,
			  err != NULL ? err : "unknown error");
		return SA_ERR_UNAVAILABLE;
	}
	for (size_t i = 0; i < n; i++) {
		(void)dlerror();
		*syms[i].slot = dlsym(h, syms[i].name);
		if (*syms[i].slot == NULL) {
			err = dlerror();
			log_error("dynlib.load", "%s has no %s: %s", soname,
				  syms[i].name,
				  err != NULL ? err : "NULL symbol");
			for (size_t j = 0; j < n; j++)
				*syms[j].slot = NULL;
			dlclose(h);
			return SA_ERR_UNAVAILABLE;
		}
	}
	log_info("dynlib.load", "loaded %s on first use", soname);
	return SA_OK;
}

int
dynlib_is_loaded(const char *soname)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);

	if (h == NULL)
		return 0;
	dlclose(h);
	return 1;
}
