/*
 * api.h - the HTTP handlers and the route table.
 */
#ifndef SEALAUTH_API_H
#define SEALAUTH_API_H

#include <stddef.h>

#include "errors.h"
#include "http.h"

enum sa_err api_health(struct http_request *req, struct http_response *res);
enum sa_err api_jwks(struct http_request *req, struct http_response *res);
enum sa_err api_enroll(struct http_request *req, struct http_response *res);
enum sa_err api_initiate(struct http_request *req, struct http_response *res);
enum sa_err api_verify(struct http_request *req, struct http_response *res);

struct schema;
extern const struct schema api_enroll_schema;
extern const struct schema api_initiate_schema;
extern const struct schema api_verify_schema;

/*
 * api_routes returns the route table; test-only routes are included when
 * with_test is set (SEALAUTH_TEST_ROUTES=1).
 */
const struct route *api_routes(int with_test, size_t *n);

#endif
