/*
 * services.h - the registry of relying parties ("services") that may start
 * logins: their display name, the scopes they may ask for, the browser
 * origins they start logins from, the code-matching mode, whether they are
 * enabled, and their protocol settings (OpenID Connect, SAML).
 *
 * The records live in the durable store and are managed by the admin API.
 * SEALAUTH_SERVICES_FILE (JSON, see docs/api.md), when given, seeds them at
 * start; with no file and an empty registry, the embedded default registers
 * one demo service, "demo", that may ask for every identity scope from the
 * server's own origin.
 */
#ifndef SEALAUTH_SERVICES_H
#define SEALAUTH_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"

struct dstore;

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
	int enabled; /* a disabled service starts no login */
	char name[SERVICE_NAME_MAX + 1];
	size_t nscopes;
	char *scopes[SERVICE_SCOPES_MAX];
	size_t norigins;
	char *origins[SERVICE_ORIGINS_MAX];
	enum service_mode mode;
	/* "subjectType": 0 pairwise (the default: a subject no other service
	 * can link), 1 public (the raw token id, where the service opts in) */
	int subject_public;
	/*
	 * Protocol settings, owned by the record and validated by the
	 * protocol's module (NULL when the service does not use it): "oidc"
	 * for an OpenID Connect client, "saml" for a SAML service provider.
	 */
	json_t *oidc;
	json_t *saml;
};

/*
 * A snapshot of the registry: immutable, reference-counted. Readers take
 * one with services_get, look services up in it, and give it back with
 * services_put; a reload never changes a snapshot somebody holds.
 */
struct services;

/*
 * The registry: the records of the durable store, and the current
 * snapshot of them. Every write goes to the store, which bumps a version;
 * every server polls the version (services_watch) and reloads, so a change
 * reaches every instance sharing the database within a second.
 */
struct service_registry;

/*
 * A module's check of its own settings object (the "oidc" or "saml" member
 * of a record): SA_OK, or an error with why naming the field inside the
 * object ("redirectUris[0]: must be an https URL"). svc is the record the
 * settings belong to, fully parsed but for its settings; current is the
 * registry as it stands (the record's own earlier version included, under
 * the same id), for checks that span records, such as an identifier two
 * services may not share (SA_ERR_CONFLICT).
 */
struct services;
typedef enum sa_err (*service_checker)(const json_t *settings,
				       const struct service *svc,
				       const struct services *current,
				       char *why, size_t whylen);

/*
 * services_load reads a registry snapshot from a JSON file, or builds the
 * demo registry when path is NULL or empty (demo_origin then lists the
 * origins the demo service accepts, comma-separated). Every entry is validated;
 * a bad one fails the whole load with why naming the entry and field. The
 * snapshot holds one reference (services_put frees it). Settings checkers are
 * not applied here: services_seed applies them.
 */
enum sa_err services_load(const char *path, const char *demo_origin,
			  struct services **out, char *why, size_t whylen);
/* services_put drops a reference; the last one frees the snapshot. */
void services_put(struct services *s);
/* services_free is services_put, for snapshots from services_load. */
void services_free(struct services *s);

/*
 * services_find returns an enabled service or NULL: what a login, an OpenID
 * Connect or a SAML request may use. services_find_any also returns a
 * disabled one (for the admin API). Valid while the snapshot is held.
 */
const struct service *services_find(const struct services *s, const char *id);
const struct service *services_find_any(const struct services *s,
					const char *id);
size_t services_count(const struct services *s);
/* services_at returns the i-th service in id order (i < services_count). */
const struct service *services_at(const struct services *s, size_t i);
/* services_version is the registry version the snapshot was read at. */
int64_t services_version(const struct services *s);

/* service_allows_scope tells whether the service may ask for a scope. */
int service_allows_scope(const struct service *svc, const char *scope);

/* service_allows_origin tells whether a login may start from origin: a
 * browser's Origin must be listed; a request without an Origin header (a
 * server-to-server start, origin NULL) is accepted. */
int service_allows_origin(const struct service *svc, const char *origin);

const char *service_mode_name(enum service_mode mode);

/* service_to_json is the record as the API and the services file show it
 * (a new reference, NULL when out of memory). */
json_t *service_to_json(const struct service *svc);

/* ---- The registry ------------------------------------------------------ */

/*
 * services_open creates a registry on a durable store (which must outlive
 * it) and reads the records once. The caller installs its checkers, seeds
 * it (services_seed) and starts the watch.
 */
enum sa_err services_open(struct dstore *ds, struct service_registry **out);
/* services_close stops the watch and frees the registry; snapshots still
 * held stay valid until put. */
void services_close(struct service_registry *reg);

/*
 * services_set_checker installs the validation of the settings object
 * named key ("oidc", "saml") for every write from now on: the admin API's
 * and the seeding's. Call it at start, before services_seed; at most
 * SERVICES_CHECKERS_MAX keys. A record whose settings have no checker is
 * refused when it carries that object.
 */
#define SERVICES_CHECKERS_MAX 8
enum sa_err services_set_checker(struct service_registry *reg, const char *key,
				 service_checker fn);

/*
 * services_seed writes the services file's records (or, without a file and
 * with an empty registry, the demo service) into the store: the file is
 * the authority for the ids it lists, each start. Records added by the
 * admin API are left alone.
 */
enum sa_err services_seed(struct service_registry *reg, const char *path,
			  const char *demo_origin, char *why, size_t whylen);

/* services_get returns the current snapshot with a reference (never NULL
 * once services_open succeeded); give it back with services_put. */
struct services *services_get(struct service_registry *reg);

/*
 * services_refresh reads the store's version and reloads the snapshot when
 * it changed; *changed (may be NULL) says whether it did. Safe from any
 * thread; the watch calls it four times a second.
 */
enum sa_err services_refresh(struct service_registry *reg, int *changed);

/* services_watch starts the thread that calls services_refresh; stopped by
 * services_close. */
enum sa_err services_watch(struct service_registry *reg);

/*
 * services_check validates a record in the API's shape (serviceId, name,
 * scopes, origins, matchMode, enabled, oidc, saml): the schema, the known
 * scopes, then each settings object with its checker. On failure why names
 * the field. vflags as for schema_validate.
 */
enum sa_err services_check(struct service_registry *reg, const json_t *doc,
			   unsigned int vflags, char *field, size_t fieldlen,
			   char *why, size_t whylen);

/*
 * services_create, services_replace and services_remove write one record
 * (doc in the API's shape, checked with services_check first) and reload
 * the snapshot, so the caller's next services_get sees the change. Errors:
 * SA_ERR_VALIDATION (field and why say what), SA_ERR_CONFLICT (create of an
 * existing id), SA_ERR_NOT_FOUND (replace or remove of a missing one).
 */
enum sa_err services_create(struct service_registry *reg, const json_t *doc,
			    unsigned int vflags, char *field, size_t fieldlen,
			    char *why, size_t whylen);
enum sa_err services_replace(struct service_registry *reg, const json_t *doc,
			     unsigned int vflags, char *field, size_t fieldlen,
			     char *why, size_t whylen);
enum sa_err services_remove(struct service_registry *reg, const char *id);

#endif
