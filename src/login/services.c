/*
 * services.c - the relying-party registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "login/claims.h"
#include "core/schema.h"
#include "login/services.h"
#include "core/util.h"

struct services {
	size_t n;
	struct service *items;
};

static const struct schema_field scope_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 64, SCHEMA_FMT_SCOPE);
static const struct schema_field origin_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 256, SCHEMA_FMT_ORIGIN);

static const struct schema_field service_fields[] = {
    SCHEMA_STRING("serviceId", SCHEMA_REQUIRED, 1, SERVICE_ID_MAX,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("name", SCHEMA_REQUIRED, 1, SERVICE_NAME_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_ARRAY("scopes", SCHEMA_REQUIRED | SCHEMA_UNIQUE, 1,
		 SERVICE_SCOPES_MAX, &scope_item),
    SCHEMA_ARRAY("origins", SCHEMA_OPTIONAL | SCHEMA_UNIQUE, 0,
		 SERVICE_ORIGINS_MAX, &origin_item),
    SCHEMA_ENUM("matchMode", SCHEMA_OPTIONAL, "compare", "type"),
    SCHEMA_OPAQUE_OBJECT("oidc", SCHEMA_OPTIONAL),
    SCHEMA_OPAQUE_OBJECT("saml", SCHEMA_OPTIONAL),
    SCHEMA_END,
};
static const struct schema service_schema = {service_fields, NULL};
static const struct schema_field service_item =
    SCHEMA_OBJECT(NULL, SCHEMA_REQUIRED, &service_schema);
static const struct schema_field file_fields[] = {
    SCHEMA_ARRAY("services", SCHEMA_REQUIRED, 0, SERVICES_MAX, &service_item),
    SCHEMA_END,
};
static const struct schema file_schema = {file_fields, NULL};

static void
service_clear(struct service *svc)
{
	for (size_t i = 0; i < svc->nscopes; i++)
		free(svc->scopes[i]);
	for (size_t i = 0; i < svc->norigins; i++)
		free(svc->origins[i]);
	json_decref(svc->oidc);
	json_decref(svc->saml);
	memset(svc, 0, sizeof(*svc));
}

void
services_free(struct services *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		service_clear(&s->items[i]);
	free(s->items);
	free(s);
}

static enum sa_err
add_string(char **slot, const char *v)
{
	*slot = strdup(v);
	return *slot ? SA_OK : SA_ERR_NOMEM;
}

/* service_from_json fills svc from an entry that passed the schema. */
static enum sa_err
service_from_json(const json_t *o, struct service *svc, char *why,
		  size_t whylen)
{
	const json_t *scopes = json_object_get(o, "scopes");
	const json_t *origins = json_object_get(o, "origins");
	const char *mode = json_string_value(json_object_get(o, "matchMode"));
	const char *bad_scope[1];
	size_t i, bad = 0;
	const json_t *v;
	enum sa_err rc;

	snprintf(svc->id, sizeof(svc->id), "%s",
		 json_string_value(json_object_get(o, "serviceId")));
	snprintf(svc->name, sizeof(svc->name), "%s",
		 json_string_value(json_object_get(o, "name")));
	svc->mode = mode && strcmp(mode, "type") == 0 ? SERVICE_MODE_TYPE
						      : SERVICE_MODE_COMPARE;
	if ((v = json_object_get(o, "oidc")) != NULL &&
	    (svc->oidc = json_deep_copy(v)) == NULL)
		return SA_ERR_NOMEM;
	if ((v = json_object_get(o, "saml")) != NULL &&
	    (svc->saml = json_deep_copy(v)) == NULL)
		return SA_ERR_NOMEM;
	json_array_foreach(scopes, i, v)
	{
		bad_scope[0] = json_string_value(v);
		if (claims_scopes_known(bad_scope, 1, &bad) != SA_OK) {
			snprintf(why, whylen,
				 "service \"%s\": scopes[%zu]: unknown "
				 "scope \"%s\"",
				 svc->id, i, bad_scope[0]);
			return SA_ERR_CONFIG;
		}
		if ((rc = add_string(&svc->scopes[svc->nscopes],
				     bad_scope[0])) != SA_OK)
			return rc;
		svc->nscopes++;
	}
	json_array_foreach(origins, i, v)
	{
		if ((rc = add_string(&svc->origins[svc->norigins],
				     json_string_value(v))) != SA_OK)
			return rc;
		svc->norigins++;
	}
	return SA_OK;
}

static enum sa_err
load_demo(struct services *s, const char *demo_origin)
{
	struct service *svc;
	enum sa_err rc;

	s->items = calloc(1, sizeof(*s->items));
	if (s->items == NULL)
		return SA_ERR_NOMEM;
	s->n = 1;
	svc = &s->items[0];
	snprintf(svc->id, sizeof(svc->id), "demo");
	snprintf(svc->name, sizeof(svc->name), "sealauth demo");
	for (size_t i = 0;
	     claims_all_scopes[i] != NULL && i < SERVICE_SCOPES_MAX; i++) {
		if ((rc = add_string(&svc->scopes[i], claims_all_scopes[i])) !=
		    SA_OK)
			return rc;
		svc->nscopes++;
	}
	/* demo_origin may list several origins, comma-separated (the
	 * loopback names of one server). */
	for (const char *o = demo_origin; o != NULL && *o != '\0';) {
		size_t len = strcspn(o, ",");

		if (len > 0 && svc->norigins < SERVICE_ORIGINS_MAX) {
			if ((svc->origins[svc->norigins] = strndup(o, len)) ==
			    NULL)
				return SA_ERR_NOMEM;
			svc->norigins++;
		}
		o += len;
		if (*o == ',')
			o++;
	}
	return SA_OK;
}

enum sa_err
services_load(const char *path, const char *demo_origin, struct services **out,
	      char *why, size_t whylen)
{
	struct services *s = calloc(1, sizeof(*s));
	unsigned char *text = NULL;
	size_t len = 0, i;
	json_t *root = NULL, *list, *v;
	struct schema_error serr;
	enum sa_err rc;

	if (s == NULL)
		return SA_ERR_NOMEM;
	if (path == NULL || *path == '\0') {
		if ((rc = load_demo(s, demo_origin)) != SA_OK)
			goto out;
		goto done;
	}
	if (read_file(path, 4u << 20, &text, &len) != SA_OK) {
		snprintf(why, whylen, "cannot read services file %s", path);
		rc = SA_ERR_CONFIG;
		goto out;
	}
	memset(&serr, 0, sizeof(serr));
	if (schema_parse_json((const char *)text, len, 4u << 20, &root,
			      &serr) != SA_OK ||
	    schema_validate(&file_schema, root, 0, &serr) != SA_OK) {
		snprintf(why, whylen, "services file %s: %s%s%s", path,
			 serr.field, serr.field[0] ? ": " : "", serr.message);
		rc = SA_ERR_CONFIG;
		goto out;
	}
	list = json_object_get(root, "services");
	s->items = calloc(json_array_size(list) + 1, sizeof(*s->items));
	if (s->items == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(list, i, v)
	{
		const char *id =
		    json_string_value(json_object_get(v, "serviceId"));
		if (services_find(s, id) != NULL) {
			snprintf(why, whylen,
				 "services file %s: services[%zu]: "
				 "serviceId \"%s\" appears twice",
				 path, i, id);
			rc = SA_ERR_CONFIG;
			goto out;
		}
		s->n++;
		if ((rc = service_from_json(v, &s->items[s->n - 1], why,
					    whylen)) != SA_OK)
			goto out;
	}
done:
	*out = s;
	s = NULL;
	rc = SA_OK;
out:
	json_decref(root);
	free(text);
	services_free(s);
	return rc;
}

const struct service *
services_find(const struct services *s, const char *id)
{
	if (id == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i].id, id) == 0)
			return &s->items[i];
	return NULL;
}

size_t
services_count(const struct services *s)
{
	return s->n;
}

int
service_allows_scope(const struct service *svc, const char *scope)
{
	for (size_t i = 0; i < svc->nscopes; i++)
		if (strcmp(svc->scopes[i], scope) == 0)
			return 1;
	return 0;
}

int
service_allows_origin(const struct service *svc, const char *origin)
{
	if (origin == NULL)
		return 1;
	for (size_t i = 0; i < svc->norigins; i++)
		if (strcmp(svc->origins[i], origin) == 0)
			return 1;
	return 0;
}

const char *
service_mode_name(enum service_mode mode)
{
	return mode == SERVICE_MODE_TYPE ? "type" : "compare";
}
