/*
 * api_test.h - routes that exist only for the test suite, enabled by
 * SEALAUTH_TEST_ROUTES=1. They exercise the foundation (validation, rate
 * limits, audit, WebSockets) through the real request path.
 */
#ifndef SEALAUTH_API_TEST_H
#define SEALAUTH_API_TEST_H

#include "net/http.h"
#include "core/schema.h"
#include "net/ws.h"

extern const struct schema api_test_echo_schema;
extern const struct ws_handler api_test_ws_handler;
enum sa_err api_test_echo(struct http_request *req, struct http_response *res);
enum sa_err api_test_audit(struct http_request *req, struct http_response *res);
enum sa_err api_test_ws_prepare(struct http_request *req, void **arg);
extern const struct schema api_test_weblogin_schema;
enum sa_err api_test_weblogin(struct http_request *req,
			      struct http_response *res);
enum sa_err api_test_sso(struct http_request *req, struct http_response *res);
enum sa_err api_test_trust_refresh(struct http_request *req,
				   struct http_response *res);
struct weblogin_done;
enum sa_err api_test_weblogin_cont(struct http_request *req,
				   struct http_response *res,
				   const struct weblogin_done *done);
enum sa_err api_test_syscall(struct http_request *req,
			     struct http_response *res);
enum sa_err api_test_takeover(struct http_request *req,
			      struct http_response *res);

#define API_TEST_ROUTES                                                        \
	{"POST",                                                               \
	 "/test/echo",                                                         \
	 ROUTE_JSON_BODY | ROUTE_CORS,                                         \
	 &api_test_echo_schema,                                                \
	 "test",                                                               \
	 api_test_echo,                                                        \
	 NULL,                                                                 \
	 NULL},                                                                \
	    {"POST", "/test/audit/{event}", 0,	  NULL,                        \
	     "test", api_test_audit,	    NULL, NULL},                       \
	    {"GET", "/test/ws", ROUTE_WEBSOCKET,     NULL,                     \
	     "ws",  NULL,	api_test_ws_prepare, &api_test_ws_handler},    \
	    {"POST",                                                           \
	     "/test/weblogin",                                                 \
	     ROUTE_JSON_BODY,                                                  \
	     &api_test_weblogin_schema,                                        \
	     "test",                                                           \
	     api_test_weblogin,                                                \
	     NULL,                                                             \
	     NULL},                                                            \
	    {"GET", "/test/sso", 0, NULL, "test", api_test_sso, NULL, NULL},   \
	    {"POST", "/test/syscall",  0,    NULL,                             \
	     "test", api_test_syscall, NULL, NULL},                            \
	    {"POST", "/test/trust/refresh",  0,	   NULL,                       \
	     "test", api_test_trust_refresh, NULL, NULL},                      \
	    {"POST", "/test/takeover",	0,    NULL,                            \
	     "test", api_test_takeover, NULL, NULL},
#define API_TEST_ROUTE_COUNT 8

/* A protocol for the browser login hand-off whose continuation answers
 * what it was handed as JSON. */
#define API_TEST_WEBLOGIN_PROTOCOLS {"test", api_test_weblogin_cont},
#define API_TEST_WEBLOGIN_COUNT 1

#endif
