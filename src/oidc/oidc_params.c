/*
 * oidc_params.c - OAuth parameters: the application/x-www-form-urlencoded
 * decoder of the token, revocation, introspection and logout bodies, and
 * the checks every parameter passes whether it came in a form or a query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "oidc/oidc.h"
#include "core/util.h"

enum sa_err
oidc_params_add(struct oidc_params *p, const char *name, const char *value,
		char *why, size_t whylen)
{
	size_t nl = strlen(name), vl = value ? strlen(value) : 0;

	if (value == NULL)
		value = "";
	if (nl == 0 || nl > OIDC_PARAM_NAME_MAX || !utf8_valid(name, nl, 0)) {
		why_set(why, whylen,
			"a parameter name is empty, too long or "
			"not UTF-8");
		return SA_ERR_VALIDATION;
	}
	if (vl > OIDC_PARAM_VALUE_MAX || !utf8_valid(value, vl, 0)) {
		why_set(why, whylen, "%s: longer than %d bytes or not UTF-8",
			name, OIDC_PARAM_VALUE_MAX);
		return SA_ERR_VALIDATION;
	}
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->name[i], name) == 0) {
			why_set(why, whylen, "%s: given more than once", name);
			return SA_ERR_VALIDATION;
		}
	if (p->n >= OIDC_PARAMS_MAX) {
		why_set(why, whylen, "more than %d parameters",
			OIDC_PARAMS_MAX);
		return SA_ERR_VALIDATION;
	}
	if ((p->name[p->n] = strdup(name)) == NULL)
		return SA_ERR_NOMEM;
	if ((p->value[p->n] = strdup(value)) == NULL) {
		free(p->name[p->n]);
		return SA_ERR_NOMEM;
	}
	p->n++;
	return SA_OK;
}

/*
 * decode writes the form-decoding of the n bytes at s into out (room for
 * cap bytes with the NUL). 0 for a malformed escape, a NUL byte or a
 * result that does not fit.
 */
static int
decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return 0;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return 0;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return 0;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 1;
}

enum sa_err
oidc_params_parse_form(const char *text, size_t n, struct oidc_params *p,
		       char *why, size_t whylen)
{
	char name[OIDC_PARAM_NAME_MAX + 2], *value = NULL;
	size_t i = 0;
	enum sa_err rc = SA_OK;

	if (n > OIDC_FORM_MAX) {
		why_set(why, whylen, "the form is larger than %d bytes",
			OIDC_FORM_MAX);
		return SA_ERR_BODY_TOO_LARGE;
	}
	if ((value = malloc(OIDC_PARAM_VALUE_MAX + 2)) == NULL)
		return SA_ERR_NOMEM;
	while (i < n) {
		const char *pair = text + i, *eq;
		size_t len = 0;

		while (i + len < n && text[i + len] != '&')
			len++;
		i += len + 1;
		if (len == 0)
			continue; /* "a=1&&b=2": an empty pair is nothing */
		eq = memchr(pair, '=', len);
		if (!decode(pair, eq ? (size_t)(eq - pair) : len, name,
			    sizeof(name)) ||
		    !decode(eq ? eq + 1 : "",
			    eq ? len - (size_t)(eq - pair) - 1 : 0, value,
			    OIDC_PARAM_VALUE_MAX + 2)) {
			why_set(why, whylen,
				"a parameter is too long or badly encoded");
			rc = SA_ERR_VALIDATION;
			break;
		}
		if ((rc = oidc_params_add(p, name, value, why, whylen)) !=
		    SA_OK)
			break;
	}
	/* Values may be secrets (client_secret, codes). */
	OPENSSL_cleanse(value, OIDC_PARAM_VALUE_MAX + 2);
	free(value);
	return rc;
}

const char *
oidc_params_get(const struct oidc_params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->name[i], name) == 0)
			return p->value[i][0] ? p->value[i] : NULL;
	return NULL;
}

void
oidc_params_free(struct oidc_params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		OPENSSL_cleanse(p->value[i], strlen(p->value[i]));
		free(p->value[i]);
		free(p->name[i]);
	}
	p->n = 0;
}
