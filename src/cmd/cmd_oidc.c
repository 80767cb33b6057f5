/*
 * cmd_oidc.c - `sealauth oidc`: tools for OpenID Connect clients.
 *
 *   sealauth oidc hash-secret              reads a client secret from
 *                                          standard input, prints its hash
 *   sealauth oidc hash-secret --generate   makes a random secret, prints
 *                                          {"clientSecret", "secretHash"}
 *
 * The hash goes into the client's "secretHash"; the server never stores
 * the secret itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cmd/cmd.h"
#include "core/util.h"
#include "oidc/oidc.h"

static void
oidc_usage(FILE *out)
{
	fprintf(out,
		"usage: sealauth oidc hash-secret [--generate]\n\n"
		"Without --generate the secret is read from standard input "
		"(one line, at\nleast 16 characters) and its hash printed. "
		"With --generate a random\nsecret is made and both are printed "
		"as JSON. Put the hash in the client's\n\"secretHash\" "
		"(docs/oidc.md); give the secret to the client only.\n");
}

int
cmd_oidc(int argc, char **argv)
{
	char secret[600] = "", *hash = NULL, *gen = NULL;
	unsigned char r[32];
	int generate = argc == 3 && strcmp(argv[2], "--generate") == 0;
	int rc = 1;
	json_t *out;

	if (argc < 2 || strcmp(argv[1], "hash-secret") != 0 ||
	    (argc == 3 && !generate) || argc > 3) {
		oidc_usage(argc == 2 && strcmp(argv[1], "--help") == 0
			       ? stdout
			       : stderr);
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	if (generate) {
		if (rand_bytes(r, sizeof(r)) != SA_OK ||
		    (gen = b64url_encode(r, sizeof(r))) == NULL)
			goto out;
		snprintf(secret, sizeof(secret), "%s", gen);
	} else if (fgets(secret, sizeof(secret), stdin) == NULL) {
		fprintf(stderr, "sealauth oidc: no secret on standard input\n");
		goto out;
	}
	secret[strcspn(secret, "\r\n")] = '\0';
	if (oidc_secret_hash(secret, &hash) != SA_OK) {
		fprintf(stderr, "sealauth oidc: a client secret has 16 to 512 "
				"characters\n");
		goto out;
	}
	if (generate) {
		out = json_pack("{s:s, s:s}", "clientSecret", secret,
				"secretHash", hash);
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(out);
	} else {
		printf("%s\n", hash);
	}
	rc = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(r, sizeof(r));
	if (gen != NULL)
		OPENSSL_cleanse(gen, strlen(gen));
	free(gen);
	free(hash);
	return rc;
}
