/*
 * cmd_vds.c - `sealauth vds`: inspect a seal and check its signature.
 *
 *   sealauth vds inspect [--explain] SEAL
 *   sealauth vds verify SEAL --cert PEM
 *
 * SEAL is the seal text itself (hex, base32, base45, base64), "-" for
 * standard input, or @FILE (text or raw bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "seal/seal_codec.h"
#include "core/util.h"
#include "seal/vds.h"

static void
vds_usage(FILE *out)
{
	fprintf(out,
		"usage: sealauth vds inspect [--explain] SEAL\n"
		"       sealauth vds verify SEAL --cert PEM\n\n"
		"SEAL is the seal as hex, base32, base45 or base64 text, \"-\" "
		"to read it\nfrom standard input, or @FILE to read it (text or "
		"raw bytes) from a file.\ninspect prints the decoded seal as "
		"JSON; with --explain it prints each\nfield as the parser read "
		"it instead, up to the byte that failed. verify\nchecks only "
		"the signature against the public key of the certificate (no\n"
		"chain, no validity dates).\n");
}

/* print_trace writes the fields of a trace as a table, then the failing
 * byte and the reason when the seal was refused. */
static void
print_trace(FILE *out, const struct vds_trace *t, enum seal_encoding enc,
	    size_t nbytes, const char *why)
{
	fprintf(out, "encoding %s, %zu bytes\n", seal_encoding_name(enc),
		nbytes);
	fprintf(out, "%-6s %-5s %-22s %s\n", "offset", "bytes", "field",
		"value");
	for (size_t i = 0; i < t->n; i++)
		fprintf(out, "%-6zu %-5zu %-22s %s\n", t->f[i].offset,
			t->f[i].len, t->f[i].name, t->f[i].value);
	if (t->ntotal > t->n)
		fprintf(out, "... %zu more fields\n", t->ntotal - t->n);
	if (t->failed)
		fprintf(out, "refused at byte %zu: %s\n", t->fail_offset, why);
	else
		fprintf(out, "decoded\n");
}

/*
 * load_seal reads, detects and decodes the seal named by arg. With
 * explain set it prints the fields read (print_trace) to stdout, refused
 * or not. Returns 0 with *out set, or 1 after saying why on stderr.
 */
static int
load_seal(const char *arg, int explain, struct vds **out)
{
	unsigned char *text = NULL, *bytes = NULL;
	size_t tlen = 0, blen = 0;
	enum seal_encoding enc;
	struct vds_trace *trace = NULL;
	char why[VDS_WHY_MAX] = "";
	enum sa_err rc;
	int ret = 1;

	rc = cli_read_arg(arg, SEAL_MAX_TEXT, &text, &tlen);
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: cannot read the seal: %s\n",
			sa_err_str(rc));
		goto out;
	}
	rc = seal_codec_decode((const char *)text, tlen, &bytes, &blen, &enc);
	if (rc != SA_OK) {
		/* Only when no encoding gives a seal's magic byte. */
		fprintf(stderr, "sealauth: seal malformed: %s\n",
			rc == SA_ERR_BODY_TOO_LARGE
			    ? "too large"
			    : "not hex, base32, base45 or base64 of a seal");
		goto out;
	}
	if (explain && (trace = calloc(1, sizeof(*trace))) == NULL) {
		fprintf(stderr, "sealauth: out of memory\n");
		goto out;
	}
	rc = vds_decode_traced(bytes, blen, out, why, sizeof(why), trace);
	if (trace != NULL)
		print_trace(stdout, trace, enc, blen,
			    why[0] ? why : sa_err_str(rc));
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: seal malformed: %s\n",
			why[0] ? why : sa_err_str(rc));
		goto out;
	}
	ret = 0;
out:
	free(trace);
	free(text);
	free(bytes);
	return ret;
}

/* load_pubkey reads a certificate (or a bare public key) from a PEM file. */
static EVP_PKEY *
load_pubkey(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = NULL;
	EVP_PKEY *k = NULL;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	if (x != NULL) {
		k = X509_get_pubkey(x);
		X509_free(x);
	} else {
		rewind(f);
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	}
	fclose(f);
	return k;
}

int
cmd_vds(int argc, char **argv)
{
	struct cli cli;
	struct vds *v = NULL;
	EVP_PKEY *pub = NULL;
	const char *cert = NULL, *what;
	int bad = 0, explain = 0, ret = 2;

	if ((ret = cli_begin(&cli, argc, argv, vds_usage)) >= 0)
		return ret;
	ret = 2;
	cert = cli_value(&cli, "cert", &bad);
	explain = cli_flag(&cli, "explain");
	if (bad || cli_leftover(&cli, "vds", 2,
				"the action and the seal (inspect SEAL, or "
				"verify --cert FILE SEAL)") != 0)
		goto out;
	what = cli.argv[0];
	if (strcmp(what, "inspect") == 0 && cert == NULL) {
		json_t *j;
		char *s;
		if ((ret = load_seal(cli.argv[1], explain, &v)) != 0)
			goto out;
		ret = 0;
		if (explain)
			goto out;
		ret = 1;
		j = vds_to_json(v);
		s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		      : NULL;
		json_decref(j);
		if (s == NULL) {
			fprintf(stderr, "sealauth: out of memory\n");
			goto out;
		}
		printf("%s\n", s);
		free(s);
		ret = 0;
	} else if (strcmp(what, "verify") == 0 && cert != NULL && !explain) {
		pub = load_pubkey(cert);
		if (pub == NULL) {
			fprintf(stderr,
				"sealauth: cannot read a certificate "
				"or public key from %s\n",
				cert);
			goto out;
		}
		if ((ret = load_seal(cli.argv[1], 0, &v)) != 0)
			goto out;
		if (vds_verify_signature(v, pub) == SA_OK) {
			printf("signature valid\n");
			ret = 0;
		} else {
			size_t len;
			if (vds_signature(v, &len) == NULL)
				fprintf(stderr, "sealauth: the seal carries no "
						"signature\n");
			printf("signature INVALID\n");
			ret = 1;
		}
	} else if (strcmp(what, "verify") == 0) {
		cli_usage_error("vds", explain ? "--explain goes with inspect"
					       : "verify needs --cert FILE");
	} else if (strcmp(what, "inspect") == 0) {
		cli_usage_error("vds", "--cert goes with verify, not inspect");
	} else {
		cli_usage_error("vds",
				"unknown action \"%s\" (inspect or "
				"verify)",
				what);
	}
out:
	EVP_PKEY_free(pub);
	vds_free(v);
	cli_free(&cli);
	return ret;
}
