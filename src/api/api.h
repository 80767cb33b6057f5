/*
 * api.h - the route table and the server-level handlers (health, JWKS, the
 * login page's static files). The login's own handlers are in login/login.h.
 */
#ifndef SEALAUTH_API_H
#define SEALAUTH_API_H

#include <stddef.h>

#include "core/errors.h"
#include "net/http.h"
#include "login/login.h"

enum sa_err api_health(struct http_request *req, struct http_response *res);
enum sa_err api_jwks(struct http_request *req, struct http_response *res);
/* GET /metrics on the main listener: only with the metrics bearer token. */
enum sa_err api_metrics(struct http_request *req, struct http_response *res);
/* GET /metrics on the private metrics listener: no token. */
enum sa_err api_metrics_private(struct http_request *req,
				struct http_response *res);
/* api_metrics_routes is the route table of the private metrics listener. */
const struct route *api_metrics_routes(size_t *n);

/* ---- The login page (api_static.c) -------------------------------------- */

#define API_STATIC_NAME_MAX 64	      /* bytes of a file name */
#define API_STATIC_FILE_MAX (1 << 20) /* bytes of one file */
#define API_STATIC_FILES_MAX 64

struct api_static_set;

/* GET /: index.html of the web directory, with the page CSP. */
enum sa_err api_index(struct http_request *req, struct http_response *res);
/* GET /admin and /admin/ (the invitation links' form): the console,
 * admin.html of the web directory, with the same page CSP. */
enum sa_err api_admin_console(struct http_request *req,
			      struct http_response *res);
/* GET /static/{file}: another file of the web directory. */
enum sa_err api_static_file(struct http_request *req,
			    struct http_response *res);

/*
 * api_static_name_ok tells whether name may be served: 1 to
 * API_STATIC_NAME_MAX characters of [A-Za-z0-9._-], no leading dot and no
 * "..". Names that fail are never looked up, on disk or in memory.
 */
int api_static_name_ok(const char *name);

/* api_static_content_type maps a name's extension (.html, .js, .css, .svg,
 * .png, .ico) to its Content-Type, or NULL for a type that is not served. */
const char *api_static_content_type(const char *name);

/*
 * api_static_load reads every servable regular file of dir (name check,
 * known type, at most API_STATIC_FILE_MAX bytes; at most
 * API_STATIC_FILES_MAX files, others skipped with a warning) into a new
 * set the caller frees with api_static_free. Fails only when dir cannot be
 * opened or memory runs out.
 */
enum sa_err api_static_load(const char *dir, struct api_static_set **out);

/*
 * api_static_get finds name in set and points the out-parameters at its
 * bytes, Content-Type and quoted ETag (owned by the set). Returns
 * SA_ERR_NOT_FOUND for a name that fails the check or is not in the set.
 */
enum sa_err api_static_get(const struct api_static_set *set, const char *name,
			   const unsigned char **data, size_t *len,
			   const char **ctype, const char **etag);

/* api_static_etag_match tells whether an If-None-Match header value (a list
 * of tags or "*", may be NULL) matches the quoted etag. */
int api_static_etag_match(const char *if_none_match, const char *etag);

/* api_static_free frees a set and its files; NULL is ignored. */
void api_static_free(struct api_static_set *set);

/*
 * api_routes returns the route table; test-only routes are included when
 * with_test is set (SEALAUTH_TEST_ROUTES=1).
 */
const struct route *api_routes(int with_test, size_t *n);

/*
 * api_weblogin_protocols returns the table of protocols a browser login
 * hands back to (login/weblogin.h), with the test protocol when with_test.
 */
struct weblogin_protocol;
const struct weblogin_protocol *api_weblogin_protocols(int with_test);

#endif
