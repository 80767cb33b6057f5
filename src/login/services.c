/*
 * services.c - the relying-party registry: records in the durable store,
 * served to readers as immutable, reference-counted snapshots (like the
 * trust sets of trust.c), reloaded when the store's version moves.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/log.h"
#include "core/schema.h"
#include "core/util.h"
#include "login/claims.h"
#include "login/services.h"
#include "store/store.h"

#define SERVICES_WATCH_MS 250 /* a change reaches every server within 1 s */
#define SERVICES_SETTINGS_MAX 65536

struct services {
	atomic_int refs;
	int64_t version;
	size_t n;
	struct service *items;
};

struct checker {
	char key[16];
	service_checker fn;
};

struct service_registry {
	struct dstore *ds;
	pthread_mutex_t mu; /* guards cur */
	struct services *cur;
	/* Reloads one at a time, so an older read never replaces a newer. */
	pthread_mutex_t reload_mu;
	struct checker checkers[SERVICES_CHECKERS_MAX];
	size_t nchecker;
	pthread_t watcher;
	int watching;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stop;
};

/* The protocol settings a record may carry, each checked by its module. */
static const char *const settings_keys[] = {"oidc", "saml"};

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
    SCHEMA_BOOLEAN("enabled", SCHEMA_OPTIONAL),
    SCHEMA_ENUM("subjectType", SCHEMA_OPTIONAL, "pairwise", "public"),
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
services_put(struct services *s)
{
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (size_t i = 0; i < s->n; i++)
		service_clear(&s->items[i]);
	free(s->items);
	free(s);
}

void
services_free(struct services *s)
{
	services_put(s);
}

/* snap_new makes an empty snapshot holding one reference. */
static struct services *
snap_new(size_t cap)
{
	struct services *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	if ((s->items = calloc(cap + 1, sizeof(*s->items))) == NULL) {
		free(s);
		return NULL;
	}
	return s;
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
	const char *subject =
	    json_string_value(json_object_get(o, "subjectType"));
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
	v = json_object_get(o, "enabled");
	svc->enabled = v == NULL || json_is_true(v);
	/* pairwise unless the service opts in to the raw token id */
	svc->subject_public = subject != NULL && strcmp(subject, "public") == 0;
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

	s->n = 1;
	svc = &s->items[0];
	svc->enabled = 1;
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
	struct services *s = NULL;
	unsigned char *text = NULL;
	size_t len = 0, i;
	json_t *root = NULL, *list, *v;
	struct schema_error serr;
	enum sa_err rc;

	if (path == NULL || *path == '\0') {
		if ((s = snap_new(1)) == NULL)
			return SA_ERR_NOMEM;
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
	if ((s = snap_new(json_array_size(list))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(list, i, v)
	{
		const char *id =
		    json_string_value(json_object_get(v, "serviceId"));
		if (services_find_any(s, id) != NULL) {
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
	services_put(s);
	return rc;
}

const struct service *
services_find_any(const struct services *s, const char *id)
{
	if (s == NULL || id == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i].id, id) == 0)
			return &s->items[i];
	return NULL;
}

const struct service *
services_find(const struct services *s, const char *id)
{
	const struct service *svc = services_find_any(s, id);

	return svc != NULL && svc->enabled ? svc : NULL;
}

size_t
services_count(const struct services *s)
{
	return s->n;
}

const struct service *
services_at(const struct services *s, size_t i)
{
	return i < s->n ? &s->items[i] : NULL;
}

int64_t
services_version(const struct services *s)
{
	return s->version;
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

json_t *
service_to_json(const struct service *svc)
{
	json_t *o = json_object(), *scopes = json_array(),
	       *origins = json_array();

	if (o == NULL || scopes == NULL || origins == NULL)
		goto fail;
	for (size_t i = 0; i < svc->nscopes; i++)
		if (json_array_append_new(scopes,
					  json_string(svc->scopes[i])) != 0)
			goto fail;
	for (size_t i = 0; i < svc->norigins; i++)
		if (json_array_append_new(origins,
					  json_string(svc->origins[i])) != 0)
			goto fail;
	if (json_object_set_new(o, "serviceId", json_string(svc->id)) != 0 ||
	    json_object_set_new(o, "name", json_string(svc->name)) != 0 ||
	    json_object_set_new(o, "scopes", scopes) != 0 ||
	    json_object_set_new(o, "origins", origins) != 0 ||
	    json_object_set_new(o, "matchMode",
				json_string(service_mode_name(svc->mode))) !=
		0 ||
	    json_object_set_new(o, "enabled", json_boolean(svc->enabled)) !=
		0 ||
	    json_object_set_new(
		o, "subjectType",
		json_string(svc->subject_public ? "public" : "pairwise")) != 0)
		goto fail_owned;
	if (svc->oidc != NULL &&
	    json_object_set_new(o, "oidc", json_deep_copy(svc->oidc)) != 0)
		goto fail_owned;
	if (svc->saml != NULL &&
	    json_object_set_new(o, "saml", json_deep_copy(svc->saml)) != 0)
		goto fail_owned;
	return o;
fail:
	json_decref(scopes);
	json_decref(origins);
fail_owned:
	json_decref(o);
	return NULL;
}

/* ---- The registry ------------------------------------------------------ */

/* find_checker returns the checker installed for a settings key, or NULL. */
static service_checker
find_checker(const struct service_registry *reg, const char *key)
{
	for (size_t i = 0; i < reg->nchecker; i++)
		if (strcmp(reg->checkers[i].key, key) == 0)
			return reg->checkers[i].fn;
	return NULL;
}

enum sa_err
services_set_checker(struct service_registry *reg, const char *key,
		     service_checker fn)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(settings_keys); i++)
		if (strcmp(settings_keys[i], key) == 0)
			break;
	if (i == ARRAY_LEN(settings_keys) || fn == NULL ||
	    reg->nchecker >= SERVICES_CHECKERS_MAX ||
	    find_checker(reg, key) != NULL)
		return SA_ERR_CONFIG;
	snprintf(reg->checkers[reg->nchecker].key, sizeof(reg->checkers[0].key),
		 "%s", key);
	reg->checkers[reg->nchecker].fn = fn;
	reg->nchecker++;
	return SA_OK;
}

/*
 * check_doc validates a record in the API's shape and parses it into svc
 * (the caller clears svc, also on failure): schema, known scopes, then each
 * settings object with its module's checker. A settings object whose module
 * installed no checker is kept as given: no module reads it.
 */
static enum sa_err
check_doc(const struct service_registry *reg, const json_t *doc,
	  unsigned int vflags, struct service *svc, char *field,
	  size_t fieldlen, char *why, size_t whylen)
{
	struct schema_error serr;
	struct services *cur;
	char inner[256] = "";
	const json_t *v;
	enum sa_err rc;
	size_t i;

	memset(&serr, 0, sizeof(serr));
	field[0] = '\0';
	if (!json_is_object(doc) ||
	    schema_validate(&service_schema, doc, vflags, &serr) != SA_OK) {
		snprintf(field, fieldlen, "%s", serr.field);
		snprintf(why, whylen, "%s",
			 serr.message[0] ? serr.message : "must be an object");
		return SA_ERR_VALIDATION;
	}
	json_array_foreach(json_object_get(doc, "scopes"), i, v)
	{
		const char *scope[1] = {json_string_value(v)};
		size_t bad = 0;

		if (claims_scopes_known(scope, 1, &bad) != SA_OK) {
			snprintf(field, fieldlen, "scopes[%zu]", i);
			snprintf(why, whylen, "unknown scope \"%s\"", scope[0]);
			return SA_ERR_VALIDATION;
		}
	}
	if ((rc = service_from_json(doc, svc, why, whylen)) != SA_OK)
		return rc == SA_ERR_CONFIG ? SA_ERR_VALIDATION : rc;
	for (i = 0; i < ARRAY_LEN(settings_keys); i++) {
		service_checker fn = find_checker(reg, settings_keys[i]);

		v = json_object_get(doc, settings_keys[i]);
		if (v == NULL || fn == NULL)
			continue;
		inner[0] = '\0';
		cur = services_get((struct service_registry *)reg);
		rc = fn(v, svc, cur, inner, sizeof(inner));
		services_put(cur);
		if (rc != SA_OK) {
			snprintf(field, fieldlen, "%s", settings_keys[i]);
			snprintf(why, whylen, "%s",
				 inner[0] ? inner : "settings are invalid");
			return rc == SA_ERR_NOMEM || rc == SA_ERR_CONFLICT
				   ? rc
				   : SA_ERR_VALIDATION;
		}
	}
	return SA_OK;
}

enum sa_err
services_check(struct service_registry *reg, const json_t *doc,
	       unsigned int vflags, char *field, size_t fieldlen, char *why,
	       size_t whylen)
{
	struct service svc;
	enum sa_err rc;

	memset(&svc, 0, sizeof(svc));
	rc = check_doc(reg, doc, vflags, &svc, field, fieldlen, why, whylen);
	service_clear(&svc);
	return rc;
}

/* row_to_doc rebuilds the API's shape of a stored record (new reference). */
static json_t *
row_to_doc(const struct service_row *row)
{
	json_t *doc, *settings;
	const char *key;
	json_t *v;

	doc = json_pack("{s:s, s:s, s:o?, s:o?, s:s, s:b}", "serviceId",
			row->id, "name", row->name, "scopes",
			json_loads(row->scopes, JSON_REJECT_DUPLICATES, NULL),
			"origins",
			json_loads(row->origins, JSON_REJECT_DUPLICATES, NULL),
			"matchMode", row->match_mode, "enabled", row->enabled);
	if (doc == NULL)
		return NULL;
	settings = json_loads(row->settings, JSON_REJECT_DUPLICATES, NULL);
	json_object_foreach(settings, key, v)
	{
		if (json_object_set(doc, key, v) != 0) {
			json_decref(doc);
			doc = NULL;
			break;
		}
	}
	json_decref(settings);
	return doc;
}

struct read_ctx {
	struct service_registry *reg;
	struct services *snap;
	size_t cap;
	enum sa_err rc;
};

/*
 * read_row parses one stored record into the snapshot being built. A record
 * that no longer passes the checks (a scope dropped from this version, a
 * module's rules tightened) is left out and logged, so one bad record does
 * not take the others down.
 */
static int
read_row(const struct service_row *row, void *arg)
{
	struct read_ctx *c = arg;
	struct service *svc;
	char field[SCHEMA_PATH_MAX], why[256] = "";
	json_t *doc;
	enum sa_err rc;

	if (c->snap->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct service *items;
		if (cap > SERVICES_MAX) {
			log_warn("services.load",
				 "more than %d services; the rest are left "
				 "out",
				 SERVICES_MAX);
			return 1;
		}
		items = realloc(c->snap->items, (cap + 1) * sizeof(*items));
		if (items == NULL) {
			c->rc = SA_ERR_NOMEM;
			return 1;
		}
		memset(items + c->cap, 0, (cap + 1 - c->cap) * sizeof(*items));
		c->snap->items = items;
		c->cap = cap;
	}
	svc = &c->snap->items[c->snap->n];
	if ((doc = row_to_doc(row)) == NULL) {
		log_warn("services.load", "service \"%s\" is unreadable",
			 row->id);
		return 0;
	}
	rc = check_doc(c->reg, doc, SCHEMA_LOOPBACK_HTTP, svc, field,
		       sizeof(field), why, sizeof(why));
	json_decref(doc);
	if (rc == SA_ERR_NOMEM) {
		service_clear(svc);
		c->rc = rc;
		return 1;
	}
	if (rc != SA_OK) {
		log_warn("services.load", "service \"%s\" is left out: %s: %s",
			 row->id, field, why);
		service_clear(svc);
		return 0;
	}
	c->snap->n++;
	return 0;
}

/* reload reads every record into a new snapshot and publishes it. */
static enum sa_err
reload(struct service_registry *reg)
{
	struct read_ctx c = {.reg = reg, .rc = SA_OK};
	struct services *old;
	enum sa_err rc;
	int64_t version = 0;

	if ((c.snap = snap_new(0)) == NULL)
		return SA_ERR_NOMEM;
	rc = dstore_services_read(reg->ds, &version, read_row, &c);
	if (rc == SA_OK)
		rc = c.rc;
	if (rc != SA_OK) {
		services_put(c.snap);
		return rc;
	}
	c.snap->version = version;
	pthread_mutex_lock(&reg->mu);
	old = reg->cur;
	reg->cur = c.snap;
	pthread_mutex_unlock(&reg->mu);
	services_put(old);
	return SA_OK;
}

enum sa_err
services_open(struct dstore *ds, struct service_registry **out)
{
	struct service_registry *reg = calloc(1, sizeof(*reg));
	enum sa_err rc;

	if (reg == NULL)
		return SA_ERR_NOMEM;
	reg->ds = ds;
	pthread_mutex_init(&reg->mu, NULL);
	pthread_mutex_init(&reg->reload_mu, NULL);
	pthread_mutex_init(&reg->stop_mu, NULL);
	pthread_cond_init(&reg->stop_cv, NULL);
	if ((rc = reload(reg)) != SA_OK) {
		services_close(reg);
		return rc;
	}
	*out = reg;
	return SA_OK;
}

void
services_close(struct service_registry *reg)
{
	if (reg == NULL)
		return;
	if (reg->watching) {
		pthread_mutex_lock(&reg->stop_mu);
		reg->stop = 1;
		pthread_cond_signal(&reg->stop_cv);
		pthread_mutex_unlock(&reg->stop_mu);
		pthread_join(reg->watcher, NULL);
	}
	services_put(reg->cur);
	pthread_mutex_destroy(&reg->mu);
	pthread_mutex_destroy(&reg->reload_mu);
	pthread_mutex_destroy(&reg->stop_mu);
	pthread_cond_destroy(&reg->stop_cv);
	free(reg);
}

struct services *
services_get(struct service_registry *reg)
{
	struct services *s;

	pthread_mutex_lock(&reg->mu);
	s = reg->cur;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&reg->mu);
	return s;
}

enum sa_err
services_refresh(struct service_registry *reg, int *changed)
{
	struct services *cur;
	int64_t v = 0;
	enum sa_err rc;
	int moved;

	if (changed != NULL)
		*changed = 0;
	pthread_mutex_lock(&reg->reload_mu);
	if ((rc = dstore_services_version(reg->ds, &v)) != SA_OK)
		goto out;
	cur = services_get(reg);
	moved = cur->version != v;
	services_put(cur);
	if (moved && (rc = reload(reg)) == SA_OK && changed != NULL)
		*changed = 1;
out:
	pthread_mutex_unlock(&reg->reload_mu);
	return rc;
}

/* watch_main polls the store's version until services_close. */
static void *
watch_main(void *arg)
{
	struct service_registry *reg = arg;
	int failing = 0;

	thread_name("sa-services");
	pthread_mutex_lock(&reg->stop_mu);
	while (!reg->stop) {
		struct timespec ts;
		enum sa_err rc;

		pthread_mutex_unlock(&reg->stop_mu);
		rc = services_refresh(reg, NULL);
		/* Log a failing database once, not four times a second. */
		if (rc != SA_OK && !failing)
			log_warn("services.refresh",
				 "cannot read the service registry, keeping "
				 "the last one: %s",
				 sa_err_str(rc));
		failing = rc != SA_OK;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += SERVICES_WATCH_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&reg->stop_mu);
		if (!reg->stop)
			pthread_cond_timedwait(&reg->stop_cv, &reg->stop_mu,
					       &ts);
	}
	pthread_mutex_unlock(&reg->stop_mu);
	return NULL;
}

enum sa_err
services_watch(struct service_registry *reg)
{
	if (reg->watching)
		return SA_OK;
	if (pthread_create(&reg->watcher, NULL, watch_main, reg) != 0)
		return SA_ERR_INTERNAL;
	reg->watching = 1;
	return SA_OK;
}

/*
 * doc_to_row fills a store row from a checked record; the JSON texts are
 * new strings the caller frees with row_clear.
 */
static enum sa_err
doc_to_row(const json_t *doc, const struct service *svc, int64_t now,
	   struct service_row *row)
{
	json_t *settings = json_object();
	const json_t *v;

	memset(row, 0, sizeof(*row));
	if (settings == NULL)
		return SA_ERR_NOMEM;
	for (size_t i = 0; i < ARRAY_LEN(settings_keys); i++)
		if ((v = json_object_get(doc, settings_keys[i])) != NULL)
			json_object_set(settings, settings_keys[i],
					(json_t *)v);
	/* the subject type rides with the settings (row_to_doc puts every
	 * settings member back at the top level) */
	if (svc->subject_public)
		json_object_set_new(settings, "subjectType",
				    json_string("public"));
	row->id = svc->id;
	row->name = svc->name;
	row->match_mode = service_mode_name(svc->mode);
	row->enabled = svc->enabled;
	row->created_at = now;
	row->updated_at = now;
	row->settings = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(settings);
	v = json_object_get(doc, "origins");
	row->scopes = json_dumps(json_object_get(doc, "scopes"), JSON_COMPACT);
	row->origins = v ? json_dumps(v, JSON_COMPACT) : strdup("[]");
	if (row->settings == NULL || row->scopes == NULL ||
	    row->origins == NULL)
		return SA_ERR_NOMEM;
	return SA_OK;
}

static void
row_clear(struct service_row *row)
{
	free((char *)row->settings);
	free((char *)row->scopes);
	free((char *)row->origins);
	memset(row, 0, sizeof(*row));
}

/* write_doc checks a record and writes it to the store with how. */
static enum sa_err
write_doc(struct service_registry *reg, const json_t *doc, unsigned int vflags,
	  enum dstore_write how, char *field, size_t fieldlen, char *why,
	  size_t whylen)
{
	struct service svc;
	struct service_row row;
	enum sa_err rc;

	memset(&svc, 0, sizeof(svc));
	memset(&row, 0, sizeof(row));
	if ((rc = check_doc(reg, doc, vflags, &svc, field, fieldlen, why,
			    whylen)) != SA_OK)
		goto out;
	if ((rc = doc_to_row(doc, &svc, now_unix(), &row)) != SA_OK)
		goto out;
	if ((rc = dstore_service_write(reg->ds, &row, how)) != SA_OK)
		goto out;
	rc = services_refresh(reg, NULL);
out:
	row_clear(&row);
	service_clear(&svc);
	return rc;
}

enum sa_err
services_create(struct service_registry *reg, const json_t *doc,
		unsigned int vflags, char *field, size_t fieldlen, char *why,
		size_t whylen)
{
	return write_doc(reg, doc, vflags, DSTORE_CREATE, field, fieldlen, why,
			 whylen);
}

enum sa_err
services_replace(struct service_registry *reg, const json_t *doc,
		 unsigned int vflags, char *field, size_t fieldlen, char *why,
		 size_t whylen)
{
	return write_doc(reg, doc, vflags, DSTORE_UPDATE, field, fieldlen, why,
			 whylen);
}

enum sa_err
services_remove(struct service_registry *reg, const char *id)
{
	enum sa_err rc = dstore_service_delete(reg->ds, id);

	if (rc == SA_OK)
		rc = services_refresh(reg, NULL);
	return rc;
}

/*
 * services_seed loads the file (or the demo registry) as a snapshot of its
 * own and upserts each record, after the modules' checks, so a bad file
 * stops the start with a reason instead of being half applied.
 */
enum sa_err
services_seed(struct service_registry *reg, const char *path,
	      const char *demo_origin, char *why, size_t whylen)
{
	struct services *file = NULL, *cur = NULL;
	char field[SCHEMA_PATH_MAX], inner[256];
	json_t **docs = NULL;
	int demo = path == NULL || *path == '\0';
	enum sa_err rc;
	size_t i;

	if ((rc = services_load(path, demo_origin, &file, why, whylen)) !=
	    SA_OK)
		return rc;
	cur = services_get(reg);
	/* The demo service only stands in for an empty registry: once an
	 * admin registered a real one, the demo is theirs to keep or drop. */
	if (demo && (cur->n > 1 ||
		     (cur->n == 1 && strcmp(cur->items[0].id, "demo") != 0))) {
		rc = SA_OK;
		goto out;
	}
	if ((docs = calloc(file->n + 1, sizeof(*docs))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < file->n; i++) {
		if ((docs[i] = service_to_json(&file->items[i])) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		rc = services_check(reg, docs[i], SCHEMA_LOOPBACK_HTTP, field,
				    sizeof(field), inner, sizeof(inner));
		if (rc != SA_OK) {
			snprintf(why, whylen,
				 "services file %s: service \"%s\": %s: %s",
				 path ? path : "", file->items[i].id, field,
				 inner);
			rc = rc == SA_ERR_VALIDATION ? SA_ERR_CONFIG : rc;
			goto out;
		}
	}
	for (i = 0; i < file->n; i++) {
		rc =
		    write_doc(reg, docs[i], SCHEMA_LOOPBACK_HTTP, DSTORE_UPSERT,
			      field, sizeof(field), inner, sizeof(inner));
		if (rc != SA_OK && field[0] != '\0') {
			/* Refused by a check that spans records: two
			 * entries of the file with one SAML entity id. */
			snprintf(why, whylen,
				 "services file %s: service \"%s\": %s: %s",
				 path ? path : "", file->items[i].id, field,
				 inner);
			rc = SA_ERR_CONFIG;
			goto out;
		}
		if (rc != SA_OK) {
			snprintf(why, whylen, "cannot store service \"%s\": %s",
				 file->items[i].id, sa_err_str(rc));
			goto out;
		}
	}
	rc = SA_OK;
out:
	for (i = 0; docs != NULL && docs[i] != NULL; i++)
		json_decref(docs[i]);
	free(docs);
	services_put(cur);
	services_put(file);
	return rc;
}
