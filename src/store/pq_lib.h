/*
 * pq_lib.h - whether libpq, which the binary opens on first use
 * (store/pq_lib.c), can be used.
 */
#ifndef SEALAUTH_PQ_LIB_H
#define SEALAUTH_PQ_LIB_H

/* The library's ABI name, as the loader opens it and its errors name it. */
#define PQ_LIB_SONAME "libpq.so.5"

/*
 * pq_lib_usable opens libpq if that was not tried yet and says whether
 * every function sealauth calls resolved (1) or not (0). The PostgreSQL
 * store asks first, so a missing library is reported as such rather than
 * as the NULL its stubs return.
 */
int pq_lib_usable(void);

#endif
