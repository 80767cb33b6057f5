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
	     "ws",  NULL,	api_test_ws_prepare, &api_test_ws_handler},
#define API_TEST_ROUTE_COUNT 3

#endif
