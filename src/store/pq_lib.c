/*
 * pq_lib.c - libpq's functions, loaded on first use.
 *
 * The binary does not link libpq: only the PostgreSQL backend needs it,
 * and with it come Kerberos, LDAP and SASL (core/dynlib.h says why that
 * matters). Each libpq function sealauth calls is defined here under its
 * own name; the first call of any of them opens the library, and every
 * call then goes straight to it. When libpq cannot be loaded, connecting
 * fails as it does out of memory (PQconnectdb and PQconnectdbParams return
 * NULL), the functions given a NULL connection or result answer as libpq
 * does for one, and the error is logged once.
 *
 * The definitions are hidden: only this binary's calls reach them.
 */
#include <pthread.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "core/dynlib.h"
#include "store/pq_lib.h"
#include "core/util.h"

/*
 * X(return type, name, value when libpq is missing, parameters, arguments)
 * for the functions that return a value, V(name, parameters, arguments)
 * for those that do not.
 */
#define PQ_FUNCS(X, V)                                                         \
	X(PGconn *, PQconnectdb, NULL, (const char *info), (info))             \
	X(PGconn *, PQconnectdbParams, NULL,                                   \
	  (const char *const *keys, const char *const *values, int expand),    \
	  (keys, values, expand))                                              \
	X(PGPing, PQping, PQPING_NO_ATTEMPT, (const char *info), (info))       \
	X(PQconninfoOption *, PQconninfoParse, NULL,                           \
	  (const char *info, char **err), (info, err))                         \
	V(PQconninfoFree, (PQconninfoOption * o), (o))                         \
	V(PQfinish, (PGconn * c), (c))                                         \
	V(PQreset, (PGconn * c), (c))                                          \
	X(ConnStatusType, PQstatus, CONNECTION_BAD, (const PGconn *c), (c))    \
	X(PGTransactionStatusType, PQtransactionStatus, PQTRANS_UNKNOWN,       \
	  (const PGconn *c), (c))                                              \
	X(char *, PQerrorMessage, (char *)"libpq is not available",            \
	  (const PGconn *c), (c))                                              \
	X(PQnoticeReceiver, PQsetNoticeReceiver, NULL,                         \
	  (PGconn * c, PQnoticeReceiver proc, void *arg), (c, proc, arg))      \
	X(int, PQisthreadsafe, 0, (void), ())                                  \
	X(PGresult *, PQexec, NULL, (PGconn * c, const char *q), (c, q))       \
	X(PGresult *, PQexecParams, NULL,                                      \
	  (PGconn * c, const char *q, int n, const Oid *types,                 \
	   const char *const *values, const int *lens, const int *formats,     \
	   int rformat),                                                       \
	  (c, q, n, types, values, lens, formats, rformat))                    \
	X(int, PQsendQueryParams, 0,                                           \
	  (PGconn * c, const char *q, int n, const Oid *types,                 \
	   const char *const *values, const int *lens, const int *formats,     \
	   int rformat),                                                       \
	  (c, q, n, types, values, lens, formats, rformat))                    \
	X(PGresult *, PQgetResult, NULL, (PGconn * c), (c))                    \
	X(int, PQisBusy, 0, (PGconn * c), (c))                                 \
	X(int, PQconsumeInput, 0, (PGconn * c), (c))                           \
	X(int, PQenterPipelineMode, 0, (PGconn * c), (c))                      \
	X(int, PQexitPipelineMode, 0, (PGconn * c), (c))                       \
	X(int, PQpipelineSync, 0, (PGconn * c), (c))                           \
	X(ExecStatusType, PQresultStatus, PGRES_FATAL_ERROR,                   \
	  (const PGresult *r), (r))                                            \
	X(char *, PQresultErrorMessage, (char *)"", (const PGresult *r), (r))  \
	X(char *, PQresultErrorField, NULL, (const PGresult *r, int field),    \
	  (r, field))                                                          \
	X(int, PQntuples, 0, (const PGresult *r), (r))                         \
	X(char *, PQgetvalue, NULL, (const PGresult *r, int row, int col),     \
	  (r, row, col))                                                       \
	X(int, PQgetlength, 0, (const PGresult *r, int row, int col),          \
	  (r, row, col))                                                       \
	X(int, PQgetisnull, 1, (const PGresult *r, int row, int col),          \
	  (r, row, col))                                                       \
	V(PQclear, (PGresult * r), (r))                                        \
	V(PQfreemem, (void *p), (p))

static struct {
	PQ_FUNCS(DYNLIB_SLOT_X, DYNLIB_SLOT_V)
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;

static void
load(void)
{
	const struct dynlib_sym syms[] = {PQ_FUNCS(DYNLIB_SYM_X, DYNLIB_SYM_V)};

	loaded = dynlib_load(PQ_LIB_SONAME, syms, ARRAY_LEN(syms)) == SA_OK;
}

/* ready loads libpq on the first call; 1 when it is usable. */
static int
ready(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

int
pq_lib_usable(void)
{
	return ready();
}

PQ_FUNCS(DYNLIB_STUB_X, DYNLIB_STUB_V)
