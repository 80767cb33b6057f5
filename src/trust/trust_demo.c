/*
 * trust_demo.c - build a complete demo trust environment (trust.h):
 * governance key -> scheme operator -> TSL operator -> CA -> signers (our
 * profile, BioSeal, ICAO), with the CRL, the VRL, the manifest description
 * and a sample seal, so that the server runs and the tests pass without
 * outside infrastructure; and add further issuing authorities to it (the
 * demo federation). docs/trust.md lists what DIR holds: keys in private/
 * (0600, directory 0700), the pinned governance.pem, trust.conf, and the
 * published tree in lists/, whose locations are relative so DIR may move.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "seal/vds.h"
#include "trust/certref.h"
#include "trust/trust.h"
#include "trust/trust_demo_int.h"
#include "trust/trust_int.h"
#include "trust/tsl.h"
#include "trust/usagelist.h"
#include "trust/vrl.h"

static const char manifest_json[] =
    "{\n"
    "  \"manifest\": \"0A0001\",\n"
    "  \"name\": \"sealauth identity seal\",\n"
    "  \"payload\": \"MessagePack map\",\n"
    "  \"fields\": [\n"
    "    {\"key\": \"gn\", \"claim\": \"givenName\", \"type\": \"string\", "
    "\"maxBytes\": 128, \"required\": true},\n"
    "    {\"key\": \"fn\", \"claim\": \"familyName\", \"type\": \"string\", "
    "\"maxBytes\": 128, \"required\": true},\n"
    "    {\"key\": \"dob\", \"claim\": \"dateOfBirth\", \"type\": "
    "\"date\", \"format\": \"YYYY-MM-DD\", \"required\": true},\n"
    "    {\"key\": \"nat\", \"claim\": \"nationality\", \"type\": "
    "\"string\", \"format\": \"3 uppercase letters\", \"required\": "
    "false},\n"
    "    {\"key\": \"doc\", \"claim\": \"documentNumber\", \"type\": "
    "\"string\", \"maxBytes\": 64, \"required\": false},\n"
    "    {\"key\": \"tid\", \"claim\": \"tokenId\", \"type\": \"string\", "
    "\"format\": \"printable ASCII\", \"maxBytes\": 64, \"required\": "
    "true},\n"
    "    {\"key\": \"exp\", \"claim\": \"expiry\", \"type\": \"date\", "
    "\"format\": \"YYYY-MM-DD\", \"required\": false},\n"
    "    {\"key\": \"photo\", \"claim\": \"photoBase64\", \"type\": "
    "\"bytes\", \"format\": \"WEBP\", \"required\": false},\n"
    "    {\"key\": \"face\", \"type\": \"bytes\", \"format\": \"face "
    "template\", \"required\": false}\n"
    "  ]\n"
    "}\n";

/* write_lists writes the governance list, scheme list and TSL of DEMO. */
static enum sa_err
write_lists(const char *dir, const struct trust_demo_opts *o, int64_t now,
	    int64_t next, const struct demo_authority *a)
{
	struct tsl_cert cs = demo_der_of(a->scheme.cert);
	struct tsl_kv info[4];
	char loc[64], opname[96];
	struct tsl_pointer ptr;
	struct tsl in;
	enum sa_err rc = SA_ERR_NOMEM;

	if (cs.der == NULL)
		goto out;
	demo_list_init(&in, now, next);
	demo_gov_pointer(&ptr, info, loc, sizeof(loc), opname, sizeof(opname),
			 TRUST_DEMO_IAC, NULL, &cs);
	in.type = TRUST_TYPE_GOVERNANCE_DEMO;
	in.operator_name = "sealauth DEMO governance";
	in.pointers = &ptr;
	in.npointers = 1;
	if ((rc = demo_build_list(dir, "lists/governance.xml", &in, &a->gov)) !=
	    SA_OK)
		goto out;
	rc = demo_write_authority_lists(
	    dir, TRUST_DEMO_IAC, TRUST_DEMO_CA_ID,
	    o->scheme_manifests != NULL ? o->scheme_manifests
					: VDS_PROFILE_MANIFEST
		" " VDS_BIOSEAL_MANIFEST " " TRUST_DEMO_ICAO_USAGE,
	    o->cert_id_forms != NULL ? o->cert_id_forms : "serial16 serial20",
	    TRUST_DEMO_ICAO_SIGNER, now, next, a);
out:
	OPENSSL_free(cs.der);
	return rc;
}

static enum sa_err
write_conf(const char *dir)
{
	char *text = NULL;
	int n = asprintf(&text,
			 "# The demo trust environment (sealauth trust demo).\n"
			 "# Use it with SEALAUTH_CONFIG=%s/trust.conf or copy "
			 "the lines.\n"
			 "SEALAUTH_TRUST_GOVERNANCE_URL = "
			 "file://%s/lists/governance.xml\n"
			 "SEALAUTH_TRUST_GOVERNANCE_CERT = %s/governance.pem\n",
			 dir, dir, dir);
	enum sa_err rc;

	if (n < 0)
		return SA_ERR_NOMEM;
	rc = demo_write_bytes(dir, "trust.conf", text, (size_t)n);
	free(text);
	return rc;
}

static enum sa_err
make_dirs(const char *dir)
{
	static const char *const subs[] = {
	    "lists/ca/signers", "lists/manifests", "certs", "samples"};
	char path[PATH_MAX];
	enum sa_err rc;

	if ((rc = mkdir_p(dir, 0700)) != SA_OK)
		return rc;
	if ((rc = demo_path(path, dir, "private")) != SA_OK ||
	    (rc = mkdir_p(path, 0700)) != SA_OK)
		return rc;
	/* an existing private/ made by someone else must not stay open */
	if (chmod(path, 0700) != 0)
		return SA_ERR_IO;
	for (size_t i = 0; i < ARRAY_LEN(subs); i++)
		if ((rc = demo_path(path, dir, subs[i])) != SA_OK ||
		    (rc = mkdir_p(path, 0755)) != SA_OK)
			return rc;
	return SA_OK;
}

/*
 * icao_signer writes the demo's signer of ICAO seals, issued by ca: its
 * key and its certificate C=UT, CN=DM with serial 0xA1, which signer
 * identifier UTDM and certificate reference A1 name (ICAO 9303-13), and
 * whose UsageList allows the emergency travel document.
 */
static enum sa_err
icao_signer(const char *dir, const struct demo_party *ca, int64_t now)
{
	struct demo_party p;
	unsigned char usage[1][3];
	enum sa_err rc;

	if ((rc = demo_party_new(&p)) != SA_OK)
		return rc;
	p.country = "UT";
	if ((rc = usagelist_parse_manifest(TRUST_DEMO_ICAO_USAGE, usage[0])) ==
		SA_OK &&
	    (rc = demo_make_cert(&p, &TRUST_DEMO_ICAO_SIGNER[2], ca,
				 TRUST_DEMO_ICAO_SERIAL, now - DAY,
				 now + 730 * DAY, 0, usage, 1)) == SA_OK &&
	    (rc = demo_write_key(dir, "private/signer-icao.key", p.key)) ==
		SA_OK)
		rc = demo_write_cert(dir,
				     "lists/ca/signers/" TRUST_DEMO_ICAO_SIGNER
					 TRUST_DEMO_ICAO_REF ".pem",
				     p.cert);
	demo_party_free(&p);
	return rc;
}

/* cn_named tells whether the DEMO CA's forms name a signer whose id the
 * serial form does not admit by its common name (the id itself). */
static int
cn_named(const struct trust_demo_opts *o, unsigned int serial)
{
	unsigned int f = certref_parse(
	    o->cert_id_forms != NULL ? o->cert_id_forms : "serial16 serial20");

	return (f & CERTREF_CN) && !(f & serial);
}

/* sample_claims fills the claims of the sample seal. */
static void
sample_claims(struct vds_claims *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->given_name, "ERIKA");
	strcpy(c->family_name, "MUSTERMANN");
	strcpy(c->birth_date, "1964-08-12");
	strcpy(c->nationality, "DEU");
	strcpy(c->document, "T22000129");
	strcpy(c->token_id, "DEMO-SAMPLE-0001");
	strcpy(c->expiry, "2031-12-31");
}

enum sa_err
trust_demo_build(const char *dir, const struct trust_demo_opts *opts)
{
	struct trust_demo_opts def;
	const struct trust_demo_opts *o = opts != NULL ? opts : &def;
	struct demo_authority a;
	struct demo_party bsigner;
	unsigned char usage[1][3], busage[1][3];
	struct vrl v;
	struct vds_claims claims;
	unsigned char *seal = NULL;
	char *b64 = NULL, abs[PATH_MAX];
	size_t seal_len = 0;
	int64_t now, next;
	enum sa_err rc;

	memset(&def, 0, sizeof(def));
	memset(&a, 0, sizeof(a));
	memset(&bsigner, 0, sizeof(bsigner));
	now = o->now != 0 ? o->now : now_unix();
	next = o->list_next_update != 0 ? o->list_next_update : now + 365 * DAY;

	if ((rc = make_dirs(dir)) != SA_OK)
		goto out;
	if (realpath(dir, abs) == NULL) {
		rc = SA_ERR_IO;
		goto out;
	}
	rc = usagelist_parse_manifest(o->usage_manifest != NULL
					  ? o->usage_manifest
					  : VDS_PROFILE_MANIFEST,
				      usage[0]);
	if (rc != SA_OK || (rc = usagelist_parse_manifest(VDS_BIOSEAL_MANIFEST,
							  busage[0])) != SA_OK)
		goto out;
	if ((rc = demo_party_new(&bsigner)) != SA_OK ||
	    (rc = demo_party_new(&a.gov)) != SA_OK ||
	    (rc = demo_party_new(&a.scheme)) != SA_OK ||
	    (rc = demo_party_new(&a.tslop)) != SA_OK ||
	    (rc = demo_party_new(&a.ca)) != SA_OK ||
	    (rc = demo_party_new(&a.signer)) != SA_OK)
		goto out;
	if ((rc = demo_make_cert(&a.gov, "sealauth DEMO governance", NULL, 1,
				 now - DAY, now + 3650 * DAY, 0, NULL, 0)) !=
		SA_OK ||
	    (rc = demo_make_cert(&a.scheme, "sealauth DEMO scheme operator",
				 NULL, 1, now - DAY, now + 3650 * DAY, 0, NULL,
				 0)) != SA_OK ||
	    (rc = demo_make_cert(&a.tslop, "sealauth DEMO TSL operator", NULL,
				 1, now - DAY, now + 3650 * DAY, 0, NULL, 0)) !=
		SA_OK ||
	    (rc = demo_make_cert(
		 &a.ca, "sealauth DEMO CA " TRUST_DEMO_CA_ID, NULL, 1,
		 o->ca_not_before != 0 ? o->ca_not_before : now - DAY,
		 o->ca_not_after != 0 ? o->ca_not_after : now + 3650 * DAY, 1,
		 NULL, 0)) != SA_OK ||
	    (rc = demo_make_cert(
		 &a.signer,
		 cn_named(o, CERTREF_SERIAL16)
		     ? TRUST_DEMO_CERT_ID
		     : "sealauth DEMO seal signer " TRUST_DEMO_CERT_ID,
		 &a.ca, 0x0001,
		 o->signer_not_before != 0 ? o->signer_not_before : now - DAY,
		 o->signer_not_after != 0 ? o->signer_not_after
					  : now + 730 * DAY,
		 0, o->no_usage_list ? NULL : usage,
		 o->no_usage_list ? 0 : 1)) != SA_OK)
		goto out;
	/* The signer of BioSeal-layout seals: cert id B0001 is the low 20
	 * bits of its serial (reference form serial20). */
	if ((rc = demo_make_cert(&bsigner,
				 cn_named(o, CERTREF_SERIAL20)
				     ? TRUST_DEMO_BIOSEAL_CERT_ID
				     : "sealauth DEMO BioSeal "
				       "signer " TRUST_DEMO_BIOSEAL_CERT_ID,
				 &a.ca, 0xB0001, now - DAY, now + 730 * DAY, 0,
				 busage, 1)) != SA_OK)
		goto out;

	if ((rc = demo_write_key(abs, "private/governance.key", a.gov.key)) !=
		SA_OK ||
	    (rc = demo_write_key(abs, "private/scheme.key", a.scheme.key)) !=
		SA_OK ||
	    (rc = demo_write_key(abs, "private/tsl.key", a.tslop.key)) !=
		SA_OK ||
	    (rc = demo_write_key(abs, "private/ca.key", a.ca.key)) != SA_OK ||
	    (rc = demo_write_key(abs, "private/signer.key", a.signer.key)) !=
		SA_OK ||
	    (rc = demo_write_key(abs, "private/signer-bioseal.key",
				 bsigner.key)) != SA_OK ||
	    (rc = icao_signer(abs, &a.ca, now)) != SA_OK)
		goto out;
	if ((rc = demo_write_cert(abs, "governance.pem", a.gov.cert)) !=
		SA_OK ||
	    (rc = demo_write_cert(abs, "certs/scheme.pem", a.scheme.cert)) !=
		SA_OK ||
	    (rc = demo_write_cert(abs, "certs/tsl.pem", a.tslop.cert)) !=
		SA_OK ||
	    (rc = demo_write_cert(abs, "lists/ca/" TRUST_DEMO_CA_ID ".pem",
				  a.ca.cert)) != SA_OK ||
	    (rc = demo_write_cert(
		 abs,
		 "lists/ca/signers/" TRUST_DEMO_CA_ID TRUST_DEMO_CERT_ID ".pem",
		 a.signer.cert)) != SA_OK ||
	    (rc = demo_write_cert(
		 abs,
		 "lists/ca/signers/" TRUST_DEMO_CA_ID TRUST_DEMO_BIOSEAL_CERT_ID
		 ".pem",
		 bsigner.cert)) != SA_OK)
		goto out;
	if ((rc = demo_build_crl(
		 abs, TRUST_DEMO_CA_ID, &a.ca,
		 o->revoke_signer ? a.signer.cert : NULL, 1, now,
		 o->crl_next_update != 0 ? o->crl_next_update
					 : now + 365 * DAY)) != SA_OK)
		goto out;
	memset(&v, 0, sizeof(v));
	v.sequence = 1;
	v.issued = now;
	v.next_update = next;
	if ((rc = demo_write_vrl(abs, TRUST_DEMO_IAC, &v, &a.tslop)) != SA_OK ||
	    (rc = write_lists(abs, o, now, next, &a)) != SA_OK)
		goto out;
	if ((rc = demo_write_bytes(abs, "lists/manifests/0A0001.json",
				   manifest_json, sizeof(manifest_json) - 1)) !=
		SA_OK ||
	    (rc = write_conf(abs)) != SA_OK)
		goto out;
	sample_claims(&claims);
	rc = vds_encode_iso(TRUST_DEMO_CA_ID, TRUST_DEMO_CERT_ID,
			    VDS_PROFILE_MANIFEST, (uint32_t)now, &claims,
			    a.signer.key, &seal, &seal_len);
	if (rc != SA_OK)
		goto out;
	b64 = b64_encode(seal, seal_len);
	if (b64 == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	rc = demo_write_bytes(
	    abs, "samples/" TRUST_DEMO_CA_ID TRUST_DEMO_CERT_ID ".b64", b64,
	    strlen(b64));
out:
	free(b64);
	free(seal);
	demo_authority_free(&a);
	demo_party_free(&bsigner);
	return rc;
}

/* What add_pointer appends to the governance list. */
struct gov_add {
	struct tsl_pointer ptr;
	struct tsl_kv info[4];
	char loc[64], opname[96];
	struct tsl_cert scheme_der;
	struct tsl_pointer *parsed; /* the list's own array while lent */
};

static enum sa_err
add_pointer(struct tsl *l, void *arg)
{
	struct gov_add *g = arg;
	struct tsl_pointer *n;

	for (size_t i = 0; i < l->npointers; i++)
		if (l->pointers[i].territory != NULL &&
		    strcmp(l->pointers[i].territory, g->ptr.info[1].value) == 0)
			return SA_ERR_CONFLICT;
	n = calloc(l->npointers + 1, sizeof(*n));
	if (n == NULL)
		return SA_ERR_NOMEM;
	if (l->npointers > 0)
		memcpy(n, l->pointers, l->npointers * sizeof(*n));
	n[l->npointers] = g->ptr;
	g->parsed = l->pointers;
	l->pointers = n;
	l->npointers++;
	return SA_OK;
}

/* drop_pointer undoes add_pointer before the parsed list is freed. */
static void
drop_pointer(struct tsl *l, void *arg)
{
	struct gov_add *g = arg;

	free(l->pointers);
	l->pointers = g->parsed;
	l->npointers--;
}

enum sa_err
trust_demo_add_authority(const char *dir, const char *code, const char *prefix,
			 int64_t now)
{
	struct demo_authority a;
	struct gov_add g;
	unsigned char usage[1][3];
	char abs[PATH_MAX], path[PATH_MAX], rel[96], ca_id[5], cn[96];
	struct vrl v;
	struct stat st;
	enum sa_err rc;

	memset(&a, 0, sizeof(a));
	memset(&g, 0, sizeof(g));
	if (!demo_code_ok(code) || strcmp(code, TRUST_DEMO_IAC) == 0 ||
	    (prefix != NULL &&
	     (prefix[0] == '\0' || strlen(prefix) > TRUST_MAX_PREFIX)))
		return SA_ERR_VALIDATION;
	if (now == 0)
		now = now_unix();
	if (realpath(dir, abs) == NULL)
		return SA_ERR_CONFIG;
	trust_demo_ca_id(code, ca_id);
	snprintf(rel, sizeof(rel), "lists/scheme-%s.xml", code);
	if (demo_path(path, abs, rel) != SA_OK || stat(path, &st) == 0)
		return SA_ERR_CONFLICT;
	snprintf(rel, sizeof(rel), "lists/ca/%s.pem", ca_id);
	if (demo_path(path, abs, rel) != SA_OK || stat(path, &st) == 0)
		return SA_ERR_CONFLICT;
	if ((rc = demo_party_read(abs, "private/governance.key",
				  "governance.pem", &a.gov)) != SA_OK)
		goto out;
	snprintf(rel, sizeof(rel), "private/%s", code);
	if ((rc = demo_path(path, abs, rel)) != SA_OK ||
	    (rc = mkdir_p(path, 0700)) != SA_OK)
		goto out;
	snprintf(rel, sizeof(rel), "certs/%s", code);
	if ((rc = demo_path(path, abs, rel)) != SA_OK ||
	    (rc = mkdir_p(path, 0755)) != SA_OK)
		goto out;
	if ((rc = usagelist_parse_manifest(VDS_PROFILE_MANIFEST, usage[0])) !=
		SA_OK ||
	    (rc = demo_party_new(&a.scheme)) != SA_OK ||
	    (rc = demo_party_new(&a.tslop)) != SA_OK ||
	    (rc = demo_party_new(&a.ca)) != SA_OK ||
	    (rc = demo_party_new(&a.signer)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s scheme operator", code);
	if ((rc = demo_make_cert(&a.scheme, cn, NULL, 1, now - DAY,
				 now + 3650 * DAY, 0, NULL, 0)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s TSL operator", code);
	if ((rc = demo_make_cert(&a.tslop, cn, NULL, 1, now - DAY,
				 now + 3650 * DAY, 0, NULL, 0)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s CA %s", code, ca_id);
	if ((rc = demo_make_cert(&a.ca, cn, NULL, 1, now - DAY,
				 now + 3650 * DAY, 1, NULL, 0)) != SA_OK)
		goto out;
	snprintf(cn, sizeof(cn), "sealauth %s seal signer 0001", code);
	if ((rc = demo_make_cert(&a.signer, cn, &a.ca, 0x0001, now - DAY,
				 now + 730 * DAY, 0, usage, 1)) != SA_OK)
		goto out;
	{
		static const char *const names[] = {"scheme", "tsl", "ca",
						    "signer"};
		const struct demo_party *ps[] = {&a.scheme, &a.tslop, &a.ca,
						 &a.signer};

		for (size_t i = 0; i < ARRAY_LEN(names); i++) {
			char file[32];

			snprintf(file, sizeof(file), "%s.key", names[i]);
			demo_auth_rel(rel, sizeof(rel), "private", code, file);
			if ((rc = demo_write_key(abs, rel, ps[i]->key)) !=
			    SA_OK)
				goto out;
			if (i < 2) {
				snprintf(file, sizeof(file), "%s.pem",
					 names[i]);
				demo_auth_rel(rel, sizeof(rel), "certs", code,
					      file);
				if ((rc = demo_write_cert(
					 abs, rel, ps[i]->cert)) != SA_OK)
					goto out;
			}
		}
	}
	snprintf(rel, sizeof(rel), "lists/ca/%s.pem", ca_id);
	if ((rc = demo_write_cert(abs, rel, a.ca.cert)) != SA_OK)
		goto out;
	snprintf(rel, sizeof(rel), "lists/ca/signers/%s0001.pem", ca_id);
	if ((rc = demo_write_cert(abs, rel, a.signer.cert)) != SA_OK)
		goto out;
	if ((rc = demo_build_crl(abs, ca_id, &a.ca, NULL, 1, now,
				 now + 365 * DAY)) != SA_OK)
		goto out;
	memset(&v, 0, sizeof(v));
	v.sequence = 1;
	v.issued = now;
	v.next_update = now + 365 * DAY;
	if ((rc = demo_write_vrl(abs, code, &v, &a.tslop)) != SA_OK ||
	    (rc = demo_write_authority_lists(
		 abs, code, ca_id, VDS_PROFILE_MANIFEST, NULL, NULL, now,
		 now + 365 * DAY, &a)) != SA_OK)
		goto out;
	/* Last: the governance list names the authority once all is there. */
	g.scheme_der = demo_der_of(a.scheme.cert);
	if (g.scheme_der.der == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	demo_gov_pointer(&g.ptr, g.info, g.loc, sizeof(g.loc), g.opname,
			 sizeof(g.opname), code, prefix, &g.scheme_der);
	g.ptr.info = g.info;
	rc = demo_resign_list(abs, "lists/governance.xml", &a.gov, now, NULL,
			      add_pointer, drop_pointer, &g);
out:
	OPENSSL_free(g.scheme_der.der);
	demo_authority_free(&a);
	return rc;
}
