/*
 * form.c - application/x-www-form-urlencoded bodies and query strings,
 * decoded into bounded, unique fields (OIDC parameters, SAML bindings).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/form.h"
#include "core/util.h"

/*
 * decode returns a new string with the form-decoding of the n bytes at s
 * ('+' is a space), or NULL for a malformed escape, a NUL byte (sent or
 * escaped: the C string would end there) or no memory (*nomem set).
 */
static char *
decode(const char *s, size_t n, int *nomem)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL) {
		*nomem = 1;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				goto bad;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0)
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
bad:
	OPENSSL_cleanse(out, n + 1);
	free(out);
	return NULL;
}

enum sa_err
form_add(struct form *f, const char *name, const char *value,
	 const struct form_limits *lim, char *why, size_t whylen)
{
	size_t nl = strlen(name), vl;
	size_t max = lim->fields_max < FORM_FIELDS_MAX ? lim->fields_max
						       : FORM_FIELDS_MAX;

	if (value == NULL)
		value = "";
	vl = strlen(value);
	if (nl == 0 || nl > lim->name_max || !utf8_valid(name, nl, 0)) {
		why_set(why, whylen,
			"a parameter name is empty, too long or not UTF-8");
		return SA_ERR_VALIDATION;
	}
	if (vl > lim->value_max || !utf8_valid(value, vl, 0)) {
		why_set(why, whylen, "%s: longer than %zu bytes or not UTF-8",
			name, lim->value_max);
		return SA_ERR_VALIDATION;
	}
	if (form_find(f, name) != NULL) {
		why_set(why, whylen, "%s: given more than once", name);
		return SA_ERR_VALIDATION;
	}
	if (f->n >= max) {
		why_set(why, whylen, "more than %zu parameters", max);
		return SA_ERR_VALIDATION;
	}
	if ((f->field[f->n].name = strdup(name)) == NULL)
		return SA_ERR_NOMEM;
	if ((f->field[f->n].value = strdup(value)) == NULL) {
		free(f->field[f->n].name);
		return SA_ERR_NOMEM;
	}
	f->field[f->n].raw = NULL;
	f->field[f->n].raw_len = 0;
	f->n++;
	return SA_OK;
}

enum sa_err
form_parse(struct form *f, const char *text, size_t n,
	   const struct form_limits *lim, char *why, size_t whylen)
{
	size_t i = 0;
	enum sa_err rc = SA_OK;

	if (n > lim->text_max) {
		why_set(why, whylen, "the form is larger than %zu bytes",
			lim->text_max);
		return SA_ERR_BODY_TOO_LARGE;
	}
	while (i < n && rc == SA_OK) {
		const char *pair = text + i, *eq, *raw;
		size_t len = 0, nlen, rawlen;
		char *name = NULL, *value = NULL;
		int nomem = 0;

		while (i + len < n && text[i + len] != '&')
			len++;
		i += len + 1;
		if (len == 0)
			continue; /* "a=1&&b=2": an empty pair is nothing */
		eq = memchr(pair, '=', len);
		nlen = eq != NULL ? (size_t)(eq - pair) : len;
		raw = eq != NULL ? eq + 1 : pair + len;
		rawlen = eq != NULL ? len - nlen - 1 : 0;
		if ((name = decode(pair, nlen, &nomem)) == NULL ||
		    (value = decode(raw, rawlen, &nomem)) == NULL) {
			if (nomem)
				rc = SA_ERR_NOMEM;
			else if (name == NULL)
				why_set(why, whylen,
					"a parameter name is badly encoded");
			else
				why_set(why, whylen, "%.64s: badly encoded",
					name);
			if (!nomem)
				rc = SA_ERR_VALIDATION;
		} else if ((rc = form_add(f, name, value, lim, why, whylen)) ==
			   SA_OK) {
			f->field[f->n - 1].raw = raw;
			f->field[f->n - 1].raw_len = rawlen;
		}
		free(name);
		if (value != NULL) {
			/* Values may be secrets (client_secret, codes). */
			OPENSSL_cleanse(value, strlen(value));
			free(value);
		}
	}
	return rc;
}

const struct form_field *
form_find(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->field[i].name, name) == 0)
			return &f->field[i];
	return NULL;
}

const char *
form_get(const struct form *f, const char *name)
{
	const struct form_field *fl = form_find(f, name);

	return fl != NULL ? fl->value : NULL;
}

void
form_free(struct form *f)
{
	for (size_t i = 0; i < f->n; i++) {
		OPENSSL_cleanse(f->field[i].value, strlen(f->field[i].value));
		free(f->field[i].value);
		free(f->field[i].name);
	}
	memset(f, 0, sizeof(*f));
}
