/*
 * fuzz_saml.c - libFuzzer driver for incoming SAML messages, both bindings:
 * the first byte picks HTTP-Redirect (the rest is a query string:
 * SAMLRequest/SAMLResponse, RelayState, SigAlg, Signature) or HTTP-POST
 * (the rest is a form body). What decodes (base64, raw DEFLATE, XML under
 * our limits, AuthnRequest, LogoutRequest or LogoutResponse) then has its
 * signature checked against a fixed SP key, so the query-signature and
 * wrapping checks run on attacker bytes too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "saml/saml_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct saml_sp sp;
	struct saml_msg m;
	enum saml_binding binding;
	char *text, why[300];

	if (sp.ncerts == 0) {
		sp.keys[0] = EVP_EC_gen("P-256");
		sp.ncerts = sp.keys[0] != NULL;
	}
	if (size < 1 || size > SAML_MSG_MAX)
		return 0;
	binding = (data[0] & 1) ? SAML_BINDING_POST : SAML_BINDING_REDIRECT;
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (saml_msg_decode_text(text, size - 1, binding, &m, why,
				 sizeof(why)) == SA_OK)
		(void)saml_msg_verify_text(
		    binding == SAML_BINDING_REDIRECT ? text : "", &sp,
		    data[0] & 2, &m, why, sizeof(why));
	saml_msg_clear(&m);
	free(text);
	return 0;
}
