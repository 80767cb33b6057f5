/*
 * services.h - the registry of relying parties ("services") that may start
 * logins: their display name, the scopes they may ask for, the browser
 * origins they start logins from, and the code-matching mode.
 *
 * Loaded from SEALAUTH_SERVICES_FILE (JSON, see docs/api.md) at start. With
 * no file, the embedded default registers one demo service, "demo", that
 * may ask for every identity scope from the server's own origin.
 */
#ifndef SEALAUTH_SERVICES_H
#define SEALAUTH_SERVICES_H

#include <stddef.h>

#include <jansson.h>

#include "core/errors.h"

#define SERVICE_ID_MAX 64
#define SERVICE_NAME_MAX 128
#define SERVICE_SCOPES_MAX 32
#define SERVICE_ORIGINS_MAX 16
#define SERVICES_MAX 1024

enum service_mode {
	SERVICE_MODE_COMPARE =
	    0,		       /* the phone shows the code; the user compares */
	SERVICE_MODE_TYPE = 1, /* the phone asks the user to type the code */
};

struct service {
	char id[SERVICE_ID_MAX + 1];
	char name[SERVICE_NAME_MAX + 1];
	size_t nscopes;
	char *scopes[SERVICE_SCOPES_MAX];
	size_t norigins;
	char *origins[SERVICE_ORIGINS_MAX];
	enum service_mode mode;
	/*
	 * Protocol settings, owned by the record and validated by the
	 * protocol's module (NULL when the service does not use it): "oidc"
	 * for an OpenID Connect client, "saml" for a SAML service provider.
	 */
	json_t *oidc;
	json_t *saml;
};

struct services;

/*
 * services_load reads the registry from a JSON file, or builds the demo
 * registry when path is NULL or empty (demo_origin then lists the origins the
 * demo service accepts, comma-separated). Every entry is validated; a bad one fails the whole
 * load with why naming the entry and field.
 */
enum sa_err services_load(const char *path, const char *demo_origin,
			  struct services **out, char *why, size_t whylen);
void services_free(struct services *s);

/* services_find returns the service or NULL. Valid while the registry is. */
const struct service *services_find(const struct services *s, const char *id);
size_t services_count(const struct services *s);

/* service_allows_scope tells whether the service may ask for a scope. */
int service_allows_scope(const struct service *svc, const char *scope);

/* service_allows_origin tells whether a login may start from origin: a
 * browser's Origin must be listed; a request without an Origin header (a
 * server-to-server start, origin NULL) is accepted. */
int service_allows_origin(const struct service *svc, const char *origin);

const char *service_mode_name(enum service_mode mode);

#endif
