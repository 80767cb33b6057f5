/*
 * cmd_trust.c - `sealauth trust`: the demo trust environment and checks of
 * the configured chain.
 *
 *   sealauth trust demo --dir DIR [--authority CODE [--prefix P]]
 *                       [--cert-id-forms FORMS]
 *   sealauth trust issue --dir DIR --given-name G --family-name F --dob D
 *                        --nationality N --document DOC [--token-id T]
 *                        [--expiry E] [--photo FILE] [--bioseal] [--json]
 *   sealauth trust revoke --dir DIR [--authority CODE] SEAL
 *   sealauth trust resign --dir DIR [--authority CODE] KIND
 *   sealauth trust verify-seal [--dir DIR] SEAL
 *   sealauth trust check [--dir DIR]
 *
 * Without --dir, verify-seal and check use the configured chain
 * (SEALAUTH_TRUST_GOVERNANCE_URL and _CERT, or the demo environment in the
 * trust directory).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "seal/seal_codec.h"
#include "trust/trust.h"
#include "core/util.h"
#include "seal/vds.h"
#include "trust/certref.h"

static void
trust_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sealauth trust demo --dir DIR [--authority CODE "
	    "[--prefix P]]\n"
	    "                           [--cert-id-forms FORMS]\n"
	    "       sealauth trust issue --dir DIR --given-name G "
	    "--family-name F --dob YYYY-MM-DD\n"
	    "                            --nationality NAT --document DOC "
	    "[--token-id T]\n"
	    "                            [--expiry YYYY-MM-DD] [--photo "
	    "FILE] [--bioseal | --icao] [--json]\n"
	    "       sealauth trust revoke --dir DIR [--authority CODE] SEAL\n"
	    "       sealauth trust resign --dir DIR [--authority CODE] "
	    "governance|scheme|tsl|vrl|crl\n"
	    "       sealauth trust verify-seal [--dir DIR] SEAL\n"
	    "       sealauth trust check [--dir DIR]\n\n"
	    "demo builds a demo trust environment (governance, scheme, "
	    "TSL, CA, signer,\nCRL, VRL) in DIR; issue prints a seal signed "
	    "by its signer as base64;\nrevoke puts a seal on its VRL; "
	    "verify-seal runs the whole chain against a\nseal; check "
	    "fetches and validates the chain and prints each list.\n"
	    "demo --authority CODE adds issuing authority CODE (its scheme "
	    "list, TSL, CA,\nsigner, CRL and VRL; the governance list "
	    "re-signed) to the demo in DIR,\ndeclaring token id prefix P "
	    "when given; issue, revoke and resign act for\nCODE with "
	    "--authority (default DEMO). resign re-signs one document "
	    "with the\nnext sequence number. issue --bioseal writes the "
	    "BioSeal layout (9-character\nids, the local identity manifest "
	    "0B0001); its token id is DEMO- and the document.\n"
	    "issue --icao writes an ICAO 9303-13 seal of an emergency "
	    "travel document\n(signer UTDM, its MRZ from the values; "
	    "--document and --expiry required);\nits token id is UTO- and "
	    "the document number.\n"
	    "demo --cert-id-forms FORMS declares how the DEMO CA's seals name "
	    "their signer\n(serial16, serial20, cn; default \"serial16 "
	    "serial20\"); a signer whose id no\nserial form admits is named "
	    "by its common name.\n"
	    "SEAL is the seal text, \"-\" for standard input or @FILE.\n");
}

/*
 * read_seal reads SEAL (text, "-" or @FILE), decodes its text form and
 * parses the bytes into *out (the caller frees it with vds_free). When the
 * parser refuses them, why says why.
 */
static enum sa_err
read_seal(const char *arg, struct vds **out, char *why, size_t whylen)
{
	unsigned char *text = NULL, *bytes = NULL;
	size_t tlen = 0, n = 0;
	enum seal_encoding enc;
	enum sa_err rc;

	if ((rc = cli_read_arg(arg, SEAL_MAX_TEXT, &text, &tlen)) != SA_OK)
		return rc;
	rc = seal_codec_decode((const char *)text, tlen, &bytes, &n, &enc);
	free(text);
	if (rc == SA_OK)
		rc = vds_decode(bytes, n, out, why, whylen);
	free(bytes);
	return rc;
}

/* dir_config fills tc for the demo environment in dir. */
static enum sa_err
dir_config(const char *dir, struct trust_config *tc, char **storage)
{
	char abs[PATH_MAX];
	char *buf = NULL;
	int n;

	if (realpath(dir, abs) == NULL)
		return SA_ERR_CONFIG;
	n = asprintf(&buf, "file://%s/lists/governance.xml%c%s/governance.pem",
		     abs, '\0', abs);
	if (n < 0)
		return SA_ERR_NOMEM;
	memset(tc, 0, sizeof(*tc));
	tc->governance_url = buf;
	tc->governance_cert_path = buf + strlen(buf) + 1;
	tc->ttl = 3600;
	*storage = buf;
	return SA_OK;
}

static void
print_json(json_t *j)
{
	char *s = j != NULL
		      ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		      : NULL;

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

/* open_chain loads the chain named by --dir or the configuration. *f gets
 * the fetcher the handle uses: the caller frees it after trust_close, also
 * when this fails. */
static int
open_chain(struct cli *cli, const char *dir, struct trust_fetcher **f,
	   struct trust **t)
{
	struct trust_config tc;
	struct trust_result res;
	char *storage = NULL;
	int demo = 0, ret = 1;
	enum sa_err rc;

	if ((rc = trust_fetcher_new(cli->cfg.trust_ca_file, f)) != SA_OK) {
		fprintf(stderr, "sealauth: %s\n",
			rc == SA_ERR_CONFIG
			    ? "SEALAUTH_TRUST_CA_FILE is too long"
			    : sa_err_str(rc));
		goto out;
	}
	if (dir != NULL)
		rc = dir_config(dir, &tc, &storage);
	else
		rc = trust_config_from(&cli->cfg, &tc, &storage, &demo);
	if (rc != SA_OK) {
		fprintf(stderr,
			"sealauth: no usable trust configuration (%s)\n",
			sa_err_str(rc));
		goto out;
	}
	if (dir == NULL) {
		tc.ttl = cli->cfg.trust_ttl;
		tc.max_list_bytes = (size_t)cli->cfg.trust_max_list_bytes;
		tc.fetch_timeout_ms = cli->cfg.trust_fetch_timeout_ms;
	}
	tc.fetcher = *f;
	rc = trust_new(&tc, t);
	if (rc != SA_OK) {
		fprintf(stderr,
			"sealauth: cannot read the pinned governance "
			"certificate %s or the URL %s is not allowed\n",
			tc.governance_cert_path, tc.governance_url);
		goto out;
	}
	rc = trust_refresh(*t, now_unix(), 1, &res);
	if (rc != SA_OK) {
		json_t *lists = trust_lists_json(*t);
		json_t *o = json_pack("{s:s, s:o, s:o}", "governance_url",
				      tc.governance_url, "lists",
				      lists != NULL ? lists : json_array(),
				      "result", trust_result_json(&res));

		print_json(o);
		json_decref(o);
		fprintf(stderr, "sealauth: trust chain failed at step %s: %s\n",
			res.step, res.reason);
		trust_close(*t);
		*t = NULL;
		goto out;
	}
	ret = 0;
out:
	free(storage);
	return ret;
}

static int
do_check(struct cli *cli, const char *dir)
{
	struct trust_fetcher *f = NULL;
	struct trust *t = NULL;
	json_t *o;

	if (open_chain(cli, dir, &f, &t) != 0) {
		trust_fetcher_free(f);
		return 1;
	}
	o = json_pack("{s:o, s:o}", "status", trust_status_json(t, now_unix()),
		      "lists", trust_lists_json(t));
	print_json(o);
	json_decref(o);
	trust_close(t);
	trust_fetcher_free(f);
	return 0;
}

static int
do_verify(struct cli *cli, const char *dir, const char *arg)
{
	struct trust_fetcher *f = NULL;
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v = NULL;
	char why[VDS_WHY_MAX] = "";
	json_t *o = NULL;
	int ret = 1;
	enum sa_err rc;

	rc = read_seal(arg, &v, why, sizeof(why));
	if (rc != SA_OK) {
		o = json_pack("{s:b, s:s, s:s, s:s}", "valid", 0, "step",
			      "decode", "error", "seal_decode", "reason",
			      why[0] ? why : sa_err_str(rc));
		print_json(o);
		fprintf(stderr, "sealauth: step decode failed\n");
		goto out;
	}
	if (open_chain(cli, dir, &f, &t) != 0)
		goto out;
	rc = trust_verify_seal(t, v, now_unix(), &res);
	o = trust_result_json(&res);
	if (o != NULL && rc == SA_OK) {
		json_t *seal = vds_to_json(v);

		json_object_set_new(o, "seal",
				    seal != NULL ? seal : json_null());
	}
	print_json(o);
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: step %s failed: %s\n", res.step,
			res.reason);
		goto out;
	}
	ret = 0;
out:
	json_decref(o);
	trust_close(t);
	trust_fetcher_free(f);
	vds_free(v);
	return ret;
}

static int
copy_claim(char *dst, size_t dstsz, const char *src, const char *what)
{
	if (src == NULL)
		return 0;
	if (strlen(src) >= dstsz) {
		fprintf(stderr, "sealauth: --%s is too long\n", what);
		return -1;
	}
	strcpy(dst, src);
	return 0;
}

static int
do_issue(struct cli *cli, const char *dir, const char *auth)
{
	struct vds_claims c;
	const char *gn, *fn, *dob, *nat, *doc, *tid, *exp, *photo;
	unsigned char *photo_bytes = NULL, *seal = NULL, rnd[8];
	size_t photo_len = 0, seal_len = 0;
	char *b64 = NULL, *rhex = NULL, tidbuf[48];
	int bad = 0, json = cli_flag(cli, "json"), ret = 2;
	int bioseal = cli_flag(cli, "bioseal"), icao = cli_flag(cli, "icao");
	struct vds *v = NULL;
	enum sa_err rc;

	gn = cli_value(cli, "given-name", &bad);
	fn = cli_value(cli, "family-name", &bad);
	dob = cli_value(cli, "dob", &bad);
	nat = cli_value(cli, "nationality", &bad);
	doc = cli_value(cli, "document", &bad);
	tid = cli_value(cli, "token-id", &bad);
	exp = cli_value(cli, "expiry", &bad);
	photo = cli_value(cli, "photo", &bad);
	if (bad || cli_leftover(cli, "trust issue", 1, "the action") != 0)
		goto out;
	if (gn == NULL || fn == NULL || dob == NULL) {
		cli_usage_error("trust issue",
				"missing %s (a seal needs --given-name, "
				"--family-name and --dob)",
				gn == NULL   ? "--given-name"
				: fn == NULL ? "--family-name"
					     : "--dob");
		goto out;
	}
	if (bioseal && (tid != NULL || doc == NULL ||
			(auth != NULL && strcmp(auth, TRUST_DEMO_IAC) != 0))) {
		cli_usage_error("trust issue", "%s",
				tid != NULL ? "--bioseal takes no --token-id "
					      "(it is DEMO- and the "
					      "document number)"
				: doc == NULL
				    ? "--bioseal needs --document"
				    : "--bioseal issues for DEMO only");
		goto out;
	}
	if (icao && (bioseal || tid != NULL || photo != NULL || doc == NULL ||
		     exp == NULL ||
		     (auth != NULL && strcmp(auth, TRUST_DEMO_IAC) != 0))) {
		cli_usage_error("trust issue", "%s",
				bioseal ? "--icao and --bioseal exclude each "
					  "other"
				: tid != NULL || photo != NULL
				    ? "--icao takes no --token-id (it is UTO- "
				      "and the document number) and no --photo"
				: doc == NULL || exp == NULL
				    ? "--icao needs --document and --expiry "
				      "(the MRZ carries both)"
				    : "--icao issues for DEMO only");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	if (icao) {
		tid = "";
	} else if (bioseal) {
		snprintf(tidbuf, sizeof(tidbuf), "%s-%.40s", TRUST_DEMO_CA_ID,
			 doc);
		tid = tidbuf;
	} else if (tid == NULL) {
		if (rand_bytes(rnd, sizeof(rnd)) != SA_OK ||
		    (rhex = hex_encode(rnd, sizeof(rnd))) == NULL)
			goto out;
		snprintf(tidbuf, sizeof(tidbuf), "%.16s-%s",
			 auth != NULL ? auth : "DEMO", rhex);
		tid = tidbuf;
	}
	if (copy_claim(c.given_name, sizeof(c.given_name), gn, "given-name") ||
	    copy_claim(c.family_name, sizeof(c.family_name), fn,
		       "family-name") ||
	    copy_claim(c.birth_date, sizeof(c.birth_date), dob, "dob") ||
	    copy_claim(c.nationality, sizeof(c.nationality), nat,
		       "nationality") ||
	    copy_claim(c.document, sizeof(c.document), doc, "document") ||
	    (!bioseal && !icao &&
	     copy_claim(c.token_id, sizeof(c.token_id), tid, "token-id")) ||
	    copy_claim(c.expiry, sizeof(c.expiry), exp, "expiry"))
		goto out;
	ret = 1;
	if (photo != NULL) {
		if (read_file(photo, SEAL_MAX_BYTES, &photo_bytes,
			      &photo_len) != SA_OK) {
			fprintf(stderr, "sealauth: cannot read %s\n", photo);
			goto out;
		}
		c.photo = photo_bytes;
		c.photo_len = photo_len;
	}
	rc = icao ? trust_demo_issue_icao(dir, &c, now_unix(), &seal, &seal_len)
	     : bioseal ? trust_demo_issue_bioseal(dir, &c, now_unix(), &seal,
						  &seal_len)
		       : trust_demo_issue_as(dir, auth, &c, now_unix(), &seal,
					     &seal_len);
	/* An ICAO seal's token id is what the decoder reads from its MRZ. */
	if (rc == SA_OK && icao)
		rc = vds_decode(seal, seal_len, &v, NULL, 0) != SA_OK ||
			     vds_claims(v) == NULL
			 ? SA_ERR_VALIDATION
			 : SA_OK;
	if (rc == SA_OK && icao)
		tid = vds_claims(v)->token_id;
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: cannot issue the seal: %s\n",
			rc == SA_ERR_CONFIG
			    ? (bioseal || icao
				   ? "no demo BioSeal or ICAO signer key in "
				     "the directory (built before such "
				     "seals; build it again)"
				   : "no demo signer key in the directory")
			: rc == SA_ERR_VALIDATION && icao
			    ? "the values do not fit an MRZ (letters A-Z, "
			      "digits, spaces; names together at most 29 "
			      "characters, a document number at most 9)"
			: rc == SA_ERR_VALIDATION && bioseal
			    ? "a BioSeal sequence has no gaps: --expiry needs "
			      "--nationality, --photo needs both, and each "
			      "value must be valid"
			    : sa_err_str(rc));
		goto out;
	}
	b64 = b64_encode(seal, seal_len);
	if (b64 == NULL)
		goto out;
	if (json) {
		json_t *o =
		    json_pack("{s:s, s:s}", "seal", b64, "tokenId", tid);

		print_json(o);
		json_decref(o);
	} else {
		printf("%s\n", b64);
		fprintf(stderr, "token id: %s\n", tid);
	}
	ret = 0;
out:
	vds_free(v);
	free(rhex);
	free(b64);
	free(seal);
	free(photo_bytes);
	return ret;
}

static int
do_revoke(const char *dir, const char *auth, const char *arg)
{
	struct vds *v = NULL;
	uint64_t seq = 0;
	char why[VDS_WHY_MAX] = "";
	int ret = 1;
	enum sa_err rc;

	rc = read_seal(arg, &v, why, sizeof(why));
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: seal malformed: %s\n",
			why[0] ? why : sa_err_str(rc));
		goto out;
	}
	rc = trust_demo_revoke_as(dir, auth, v, now_unix(), &seq);
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: cannot update the VRL: %s\n",
			sa_err_str(rc));
		goto out;
	}
	{
		unsigned char fp[32];
		char *hex;

		vds_fingerprint(v, fp);
		hex = hex_encode(fp, sizeof(fp));
		printf("revoked %s (VRL sequence %llu)\n", hex ? hex : "",
		       (unsigned long long)seq);
		free(hex);
	}
	ret = 0;
out:
	vds_free(v);
	return ret;
}

/* do_demo builds the demo environment, or adds authority auth to it. */
static int
do_demo(const char *dir, const char *auth, const char *prefix,
	const char *forms)
{
	struct trust_demo_opts o;
	enum sa_err rc;

	memset(&o, 0, sizeof(o));
	o.cert_id_forms = forms;
	if (forms != NULL && (auth != NULL || certref_parse(forms) == 0)) {
		cli_usage_error("trust demo", "%s",
				auth != NULL
				    ? "--cert-id-forms is for the DEMO "
				      "environment, not --authority"
				    : "--cert-id-forms takes serial16, "
				      "serial20 and cn, each once");
		return 2;
	}
	if (auth == NULL) {
		rc = trust_demo_build(dir, &o);
		if (rc == SA_OK)
			printf("demo trust environment written to %s\n"
			       "  SEALAUTH_CONFIG=%s/trust.conf selects it; "
			       "a sample seal is in %s/samples/\n",
			       dir, dir, dir);
	} else {
		char ca_id[5];

		rc = trust_demo_add_authority(dir, auth, prefix, 0);
		trust_demo_ca_id(auth, ca_id);
		if (rc == SA_OK)
			printf("issuing authority %s added to %s (CA %s%s%s)\n",
			       auth, dir, ca_id,
			       prefix != NULL ? ", token id prefix " : "",
			       prefix != NULL ? prefix : "");
	}
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: cannot %s in %s: %s\n",
			auth != NULL ? "add the authority"
				     : "build the demo environment",
			dir,
			rc == SA_ERR_CONFLICT	  ? "it exists already"
			: rc == SA_ERR_VALIDATION ? "CODE must be 1 to 16 of "
						    "[0-9A-Z] and not DEMO, "
						    "P 1 to 16 characters"
						  : sa_err_str(rc));
		return 1;
	}
	return 0;
}

/* do_resign re-signs one document of the demo environment. */
static int
do_resign(const char *dir, const char *auth, const char *kind)
{
	uint64_t seq = 0;
	enum sa_err rc = trust_demo_resign(dir, kind, auth, 0, &seq);

	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: cannot re-sign %s: %s\n", kind,
			rc == SA_ERR_VALIDATION
			    ? "KIND is governance, scheme, tsl, vrl or crl"
			    : sa_err_str(rc));
		return 1;
	}
	printf("re-signed %s of %s (sequence %llu)\n", kind,
	       auth != NULL ? auth : "DEMO", (unsigned long long)seq);
	return 0;
}

int
cmd_trust(int argc, char **argv)
{
	struct cli cli;
	const char *dir, *what, *auth, *prefix, *forms;
	int bad = 0, ret = 2;

	if ((ret = cli_begin(&cli, argc, argv, trust_usage)) >= 0)
		return ret;
	ret = 2;
	dir = cli_value(&cli, "dir", &bad);
	auth = cli_value(&cli, "authority", &bad);
	prefix = cli_value(&cli, "prefix", &bad);
	forms = cli_value(&cli, "cert-id-forms", &bad);
	if (bad)
		goto out;
	if (cli.argc < 1) {
		cli_usage_error("trust",
				"missing the action (demo, issue, "
				"revoke, resign, verify-seal or check)");
		goto out;
	}
	what = cli.argv[0];
	if (strcmp(what, "demo") == 0 && dir != NULL && cli.argc == 1) {
		ret = do_demo(dir, auth, prefix, forms);
	} else if (strcmp(what, "issue") == 0 && dir != NULL) {
		ret = do_issue(&cli, dir, auth);
	} else if (strcmp(what, "revoke") == 0 && dir != NULL &&
		   cli.argc == 2) {
		ret = do_revoke(dir, auth, cli.argv[1]);
	} else if (strcmp(what, "resign") == 0 && dir != NULL &&
		   cli.argc == 2) {
		ret = do_resign(dir, auth, cli.argv[1]);
	} else if (strcmp(what, "verify-seal") == 0 && cli.argc == 2) {
		ret = do_verify(&cli, dir, cli.argv[1]);
	} else if (strcmp(what, "check") == 0 && cli.argc == 1) {
		ret = do_check(&cli, dir);
	} else if (strcmp(what, "demo") != 0 && strcmp(what, "issue") != 0 &&
		   strcmp(what, "revoke") != 0 && strcmp(what, "resign") != 0 &&
		   strcmp(what, "verify-seal") != 0 &&
		   strcmp(what, "check") != 0) {
		cli_usage_error("trust",
				"unknown action \"%s\" (demo, issue, revoke, "
				"resign, verify-seal or check)",
				what);
	} else if (dir == NULL && strcmp(what, "verify-seal") != 0 &&
		   strcmp(what, "check") != 0) {
		cli_usage_error("trust",
				"%s needs --dir DIR (the demo trust "
				"environment)",
				what);
	} else {
		cli_leftover(&cli, "trust",
			     strcmp(what, "demo") == 0 ||
				     strcmp(what, "check") == 0 ||
				     strcmp(what, "issue") == 0
				 ? 1
				 : 2,
			     "the seal or list to act on");
	}
out:
	cli_free(&cli);
	return ret;
}
