/*
 * oidc_claims.c - OpenID scopes onto identity scopes, identity claims
 * under their OpenID names, and subjects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/oidc_int.h"
#include "app/app.h"
#include "login/claims.h"
#include "login/subject.h"

/* OpenID scopes that stand for identity scopes (docs/oidc.md). */
static const struct {
	const char *oidc, *identity;
} scope_map[] = {
    {"profile", "identity:name"},
    {"birthdate", "identity:date_of_birth"},
    {"nationality", "identity:nationality"},
    {"age_over_18", "identity:age_over_18"},
    {"age_over_21", "identity:age_over_21"},
    {"age_over_25", "identity:age_over_25"},
    {"age_range", "identity:age_range"},
};

/* Our claim names (SPEC §5) and their OpenID names. */
static const struct {
	const char *ours, *oidc;
} claim_map[] = {
    {"givenName", "given_name"},
    {"familyName", "family_name"},
    {"nameInitial", "name_initial"},
    {"dateOfBirth", "birthdate"},
    {"nationality", "nationality"},
    {"isEuCitizen", "is_eu_citizen"},
    {"documentNumber", "document_number"},
    {"trustLevel", "trust_level"},
    {"ageOver18", "age_over_18"},
    {"ageOver21", "age_over_21"},
    {"ageOver25", "age_over_25"},
    {"ageRange", "age_range"},
    {"photoBase64", "picture"},
};

int
oidc_scope_has(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; p != NULL && *p;) {
		size_t n = strcspn(p, " ");
		if (n == wl && strncmp(p, word, n) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

static enum sa_err
add_unique(const char *out[SERVICE_SCOPES_MAX], size_t *n, const char *s,
	   struct oidc_error *err)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i], s) == 0)
			return SA_OK;
	if (*n >= SERVICE_SCOPES_MAX) {
		err->code = "invalid_scope";
		snprintf(err->description, sizeof(err->description),
			 "more than %d identity scopes", SERVICE_SCOPES_MAX);
		return SA_ERR_SCOPE;
	}
	out[(*n)++] = s;
	return SA_OK;
}

enum sa_err
oidc_scopes_map(const char *text, const struct service *svc,
		const char *out[SERVICE_SCOPES_MAX], size_t *n,
		struct oidc_error *err)
{
	size_t k = 0;
	enum sa_err rc;

	*n = 0;
	for (size_t i = 0; i < sizeof(scope_map) / sizeof(scope_map[0]); i++)
		if (oidc_scope_has(text, scope_map[i].oidc) &&
		    (rc = add_unique(out, n, scope_map[i].identity, err)) !=
			SA_OK)
			return rc;
	/* identity:* scopes are asked for directly. */
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, " ");
		if (len > 9 && strncmp(p, "identity:", 9) == 0) {
			const char *const *all = claims_all_scopes;
			for (k = 0; all[k] != NULL; k++)
				if (strlen(all[k]) == len &&
				    strncmp(all[k], p, len) == 0)
					break;
			if (all[k] == NULL) {
				err->code = "invalid_scope";
				snprintf(err->description,
					 sizeof(err->description),
					 "unknown scope %.*s", (int)len, p);
				return SA_ERR_SCOPE;
			}
			if ((rc = add_unique(out, n, all[k], err)) != SA_OK)
				return rc;
		}
		p += len;
		p += strspn(p, " ");
	}
	for (size_t i = 0; i < *n; i++)
		if (!service_allows_scope(svc, out[i])) {
			err->code = "invalid_scope";
			snprintf(err->description, sizeof(err->description),
				 "this client may not ask for %s", out[i]);
			return SA_ERR_SCOPE;
		}
	return SA_OK;
}

enum sa_err
oidc_claims_add(struct app *app, const char *token_id, const json_t *granted,
		int64_t now, json_t *out)
{
	struct enrollment e;
	struct identity id;
	const char *scopes[SERVICE_SCOPES_MAX];
	size_t n = json_array_size(granted);
	json_t *idj = NULL, *tmp = NULL, *v;
	const char *gn, *fn;
	enum sa_err rc;

	memset(&e, 0, sizeof(e));
	memset(&id, 0, sizeof(id));
	if (n > SERVICE_SCOPES_MAX)
		return SA_ERR_INTERNAL;
	rc = dstore_enroll_get(app->ds, token_id, &e);
	if (rc == SA_ERR_NOT_FOUND ||
	    (rc == SA_OK && (e.revoked_at != 0 || e.expires_at < now))) {
		rc = SA_ERR_TOKEN_REVOKED;
		goto out;
	}
	if (rc != SA_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		scopes[i] = json_string_value(json_array_get(granted, i));
	rc = SA_ERR_INTERNAL;
	if ((idj = json_loads(e.claims, JSON_REJECT_DUPLICATES, NULL)) ==
		NULL ||
	    (tmp = json_object()) == NULL)
		goto out;
	if ((rc = claims_identity_from_json(idj, &id)) != SA_OK ||
	    (rc = claims_add(&id, scopes, n, now, tmp)) != SA_OK)
		goto out;
	for (size_t i = 0; i < sizeof(claim_map) / sizeof(claim_map[0]); i++) {
		if ((v = json_object_get(tmp, claim_map[i].ours)) == NULL)
			continue;
		if (strcmp(claim_map[i].oidc, "picture") == 0 &&
		    json_is_string(v)) {
			char *url = NULL;
			if (asprintf(&url, "data:image/webp;base64,%s",
				     json_string_value(v)) < 0) {
				rc = SA_ERR_NOMEM;
				goto out;
			}
			json_object_set_new(out, "picture", json_string(url));
			free(url);
		} else {
			json_object_set(out, claim_map[i].oidc, v);
		}
	}
	/* Who vouched for the released claims: the issuing authority, with
	 * any identity scope (none granted, nothing about the person). */
	if (n > 0 && e.authority[0] != '\0')
		json_object_set_new(out, "iss_authority",
				    json_string(e.authority));
	/* The standard "name" when both parts were released. */
	gn = json_string_value(json_object_get(tmp, "givenName"));
	fn = json_string_value(json_object_get(tmp, "familyName"));
	if (gn != NULL && fn != NULL) {
		char *name = NULL;
		if (asprintf(&name, "%s %s", gn, fn) < 0) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		json_object_set_new(out, "name", json_string(name));
		free(name);
	}
	rc = SA_OK;
out:
	json_decref(tmp);
	json_decref(idj);
	claims_identity_clear(&id);
	enrollment_free(&e);
	return rc;
}

json_t *
oidc_claims_supported(void)
{
	json_t *a = json_pack("[s, s, s, s, s, s, s, s, s, s, s, s]", "sub",
			      "iss", "aud", "exp", "iat", "auth_time", "nonce",
			      "acr", "amr", "sid", "name", "iss_authority");

	for (size_t i = 0;
	     a != NULL && i < sizeof(claim_map) / sizeof(claim_map[0]); i++)
		json_array_append_new(a, json_string(claim_map[i].oidc));
	return a;
}

json_t *
oidc_scopes_supported(void)
{
	json_t *a = json_pack("[s]", "openid");

	for (size_t i = 0;
	     a != NULL && i < sizeof(scope_map) / sizeof(scope_map[0]); i++)
		json_array_append_new(a, json_string(scope_map[i].oidc));
	for (size_t i = 0; a != NULL && claims_all_scopes[i] != NULL; i++)
		json_array_append_new(a, json_string(claims_all_scopes[i]));
	return a;
}

/* A subject from login_subject fits every buffer that holds a "sub". */
_Static_assert(OIDC_SUB_MAX >= SUBJECT_MAX, "OIDC_SUB_MAX");

enum sa_err
oidc_subject(struct app *app, const struct oidc_client *c, const char *token_id,
	     const char *authority, char out[OIDC_SUB_MAX + 1])
{
	/* One derivation for every protocol: the client's sector, the
	 * issuing authority and the token id (login/subject.c). */
	return login_subject(app, c->sector, !c->pairwise, authority, token_id,
			     out);
}
