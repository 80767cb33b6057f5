/*
 * cmd_saml.c - `sealauth saml`: SAML service provider settings.
 *
 *   sealauth saml import-sp FILE [--metadata-cert CERT.pem]
 *
 * prints the "saml" settings object of a service for the SP whose metadata
 * XML is in FILE ("-" for standard input), ready to go under "saml" of a
 * service of the services file or of the admin API (docs/saml.md). With
 * --metadata-cert the metadata must be signed by that certificate's key.
 * What the metadata holds and the settings leave out (an ACS binding we do
 * not answer on, an encryption algorithm we do not produce) is named on
 * standard error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cmd/cmd.h"
#include "core/util.h"
#include "saml/saml_sp.h"
#include "saml/saml_xml.h"

static void
saml_usage(FILE *out)
{
	fprintf(out, "usage: sealauth saml import-sp FILE "
		     "[--metadata-cert CERT.pem]\n\n"
		     "Reads an SP's SAML metadata (FILE, or - for standard "
		     "input) and prints the\nsettings object to put under "
		     "\"saml\" of its service (docs/saml.md). With\n"
		     "--metadata-cert the metadata must carry a signature "
		     "that certificate's key\nverifies.\n");
}

/* read_input reads FILE or standard input, at most SAML_MSG_MAX bytes. */
static enum sa_err
read_input(const char *path, unsigned char **out, size_t *n)
{
	struct buf b;
	unsigned char chunk[4096];
	size_t r;
	enum sa_err rc = SA_OK;

	if (strcmp(path, "-") != 0)
		return read_file(path, SAML_MSG_MAX, out, n);
	buf_init(&b, SAML_MSG_MAX);
	while (rc == SA_OK && (r = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		rc = buf_append(&b, chunk, r);
	if (rc == SA_OK && buf_append(&b, "", 1) == SA_OK) {
		*out = b.data;
		*n = b.len - 1;
		return SA_OK;
	}
	buf_free(&b);
	return rc != SA_OK ? rc : SA_ERR_NOMEM;
}

/* read_cert reads the first PEM certificate of path (NULL on failure). */
static X509 *
read_cert(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

int
cmd_saml(int argc, char **argv)
{
	unsigned char *xml = NULL;
	size_t n = 0;
	json_t *sp = NULL, *warnings = NULL, *w;
	X509 *signer = NULL;
	size_t i;
	char why[300] = "";
	int status = 1;

	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		saml_usage(stdout);
		return 0;
	}
	if ((argc != 3 && argc != 5) || strcmp(argv[1], "import-sp") != 0 ||
	    (argc == 5 && strcmp(argv[3], "--metadata-cert") != 0)) {
		saml_usage(stderr);
		return 2;
	}
	if (argc == 5 && (signer = read_cert(argv[4])) == NULL) {
		fprintf(stderr,
			"sealauth: %s: not a readable PEM certificate\n",
			argv[4]);
		return 1;
	}
	if (read_input(argv[2], &xml, &n) != SA_OK) {
		fprintf(stderr, "sealauth: cannot read %s (at most %u bytes)\n",
			argv[2], SAML_MSG_MAX);
		goto out;
	}
	if (saml_sp_import_report(xml, n, signer, &sp, &warnings, NULL, why,
				  sizeof(why)) != SA_OK) {
		fprintf(stderr, "sealauth: %s: %s\n", argv[2], why);
		goto out;
	}
	/* What the metadata says and the settings leave out. */
	json_array_foreach(warnings, i, w)
	    fprintf(stderr, "sealauth: %s: warning: %s\n", argv[2],
		    json_string_value(w));
	if (json_dumpf(sp, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
		goto out;
	fputc('\n', stdout);
	status = 0;
out:
	X509_free(signer);
	json_decref(sp);
	json_decref(warnings);
	free(xml);
	return status;
}
