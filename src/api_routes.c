/*
 * api_routes.c - the route table: every endpoint, its schema and its
 * rate-limit class, in one place.
 */
#include "api.h"
#include "api_test.h"

static const struct route routes[] = {
	{"GET", "/health", 0, NULL, "health", api_health, NULL, NULL},
	{"GET", "/jwks", ROUTE_CORS, NULL, "default", api_jwks, NULL, NULL},
	{"GET", "/.well-known/jwks.json", ROUTE_CORS, NULL, "default", api_jwks,
	 NULL, NULL},
	API_TEST_ROUTES
};

/* Test-only routes come last, so the production table is a prefix. */
static const size_t routes_test = API_TEST_ROUTE_COUNT;

const struct route *
api_routes(int with_test, size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]) - (with_test ? 0 : routes_test);
	return routes;
}
