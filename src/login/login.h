/*
 * login.h - the HTTP handlers of enrollment and of the X.1280 login, and the
 * schemas their bodies are validated against before they run.
 */
#ifndef SEALAUTH_LOGIN_H
#define SEALAUTH_LOGIN_H

#include "core/errors.h"
#include "net/http.h"

struct schema;

/* POST /enroll: binds a verified seal's token id to a device key. */
enum sa_err api_enroll(struct http_request *req, struct http_response *res);
/* POST /auth/initiate: starts a login and pushes its code to the phone. */
enum sa_err api_initiate(struct http_request *req, struct http_response *res);
/* POST /auth/verify: the phone's signed approval or rejection. */
enum sa_err api_verify(struct http_request *req, struct http_response *res);
/* POST /auth/remember: the cookie of a browser whose login was approved. */
enum sa_err api_remember(struct http_request *req, struct http_response *res);

extern const struct schema api_enroll_schema;
extern const struct schema api_initiate_schema;
extern const struct schema api_verify_schema;
extern const struct schema api_remember_schema;

#endif
