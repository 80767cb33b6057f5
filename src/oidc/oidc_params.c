/*
 * oidc_params.c - OAuth parameters: the bounds the shared form parser
 * (core/form.c) applies to the token, revocation, introspection and logout
 * bodies and to every query, and the rule that an empty one is absent.
 */
#include <stddef.h>

#include "oidc/oidc.h"

const struct form_limits oidc_form_limits = {
    .text_max = OIDC_FORM_MAX,
    .fields_max = OIDC_PARAMS_MAX,
    .name_max = OIDC_PARAM_NAME_MAX,
    .value_max = OIDC_PARAM_VALUE_MAX,
};

enum sa_err
oidc_params_add(struct form *p, const char *name, const char *value, char *why,
		size_t whylen)
{
	return form_add(p, name, value, &oidc_form_limits, why, whylen);
}

enum sa_err
oidc_params_parse_form(const char *text, size_t n, struct form *p, char *why,
		       size_t whylen)
{
	return form_parse(p, text, n, &oidc_form_limits, why, whylen);
}

const char *
oidc_params_get(const struct form *p, const char *name)
{
	const char *v = form_get(p, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}
