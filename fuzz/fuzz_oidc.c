/*
 * fuzz_oidc.c - the OAuth parameter parsers: the form decoder of the token
 * endpoint's body (and of every form the OpenID Provider reads), then the
 * checks of an authorization request and of a token request on what it
 * decoded. The first byte picks how the rest is read, so a corpus entry
 * can be either a form or a query.
 *
 * Properties: nothing is read outside the input; every decoded name is
 * unique, bounded and NUL-free; a request that passes its checks has only
 * values within their documented bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_params(const struct form *p, const char *text, size_t n)
{
	if (p->n > OIDC_PARAMS_MAX)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		const struct form_field *f = &p->field[i];
		size_t nl = strlen(f->name);

		if (nl == 0 || nl > OIDC_PARAM_NAME_MAX ||
		    strlen(f->value) > OIDC_PARAM_VALUE_MAX)
			abort();
		/* The raw value lies inside the input. */
		if (f->raw < text || f->raw + f->raw_len > text + n)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->name, p->field[j].name) == 0)
				abort(); /* duplicates are refused */
	}
}

static void
check_bounded(const char *v, size_t max)
{
	if (v != NULL && strlen(v) > max)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form p = {0};
	struct oidc_authorize_req a;
	struct oidc_token_req t;
	struct oidc_error err;
	char why[256];
	int redirectable = 0;

	if (size == 0)
		return 0;
	/* Partial results must be as sound as complete ones. */
	oidc_params_parse_form((const char *)data + 1, size - 1, &p, why,
			       sizeof(why));
	check_params(&p, (const char *)data + 1, size - 1);
	if (data[0] & 1) {
		if (oidc_authorize_parse(&p, &a, &err, &redirectable) ==
		    SA_OK) {
			check_bounded(a.state, OIDC_STATE_MAX);
			check_bounded(a.nonce, OIDC_NONCE_MAX);
			check_bounded(a.redirect_uri, OIDC_URI_MAX);
			check_bounded(a.scope, OIDC_SCOPE_TEXT_MAX);
			if (a.code_challenge != NULL &&
			    strlen(a.code_challenge) != OIDC_CHALLENGE_LEN)
				abort();
			if (strcmp(a.response_type, "code") != 0)
				abort();
		}
	} else if (oidc_token_parse(&p, &t, &err) == SA_OK) {
		if (strcmp(t.grant_type, "authorization_code") != 0 &&
		    strcmp(t.grant_type, "refresh_token") != 0)
			abort();
		check_bounded(t.code_verifier, 128);
		check_bounded(t.redirect_uri, OIDC_URI_MAX);
	}
	form_free(&p);
	return 0;
}
