/*
 * trust_demo_issue.c - sign seals with the demo environment's signers: our
 * profile for any of its authorities, the BioSeal layout and an ICAO
 * emergency travel document for DEMO.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "seal/vds.h"
#include "trust/trust.h"
#include "trust/trust_demo_int.h"

enum sa_err
trust_demo_issue_as(const char *dir, const char *code,
		    const struct vds_claims *claims, int64_t signing_time,
		    unsigned char **out, size_t *outlen)
{
	char rel[96], ca_id[5];
	EVP_PKEY *k;
	enum sa_err rc;

	if (code == NULL)
		code = TRUST_DEMO_IAC;
	if (!demo_code_ok(code))
		return SA_ERR_VALIDATION;
	demo_auth_rel(rel, sizeof(rel), "private", code, "signer.key");
	if ((k = demo_read_key(dir, rel)) == NULL)
		return SA_ERR_CONFIG;
	if (signing_time < 0 || signing_time > UINT32_MAX) {
		EVP_PKEY_free(k);
		return SA_ERR_VALIDATION;
	}
	trust_demo_ca_id(code, ca_id);
	rc = vds_encode_iso(ca_id, TRUST_DEMO_CERT_ID, VDS_PROFILE_MANIFEST,
			    (uint32_t)signing_time, claims, k, out, outlen);
	EVP_PKEY_free(k);
	return rc;
}

enum sa_err
trust_demo_issue_bioseal(const char *dir, const struct vds_claims *claims,
			 int64_t signing_time, unsigned char **out,
			 size_t *outlen)
{
	EVP_PKEY *k;
	enum sa_err rc;

	if (signing_time < 0 || signing_time > UINT32_MAX)
		return SA_ERR_VALIDATION;
	if ((k = demo_read_key(dir, "private/signer-bioseal.key")) == NULL)
		return SA_ERR_CONFIG;
	rc = vds_encode_bioseal(TRUST_DEMO_CA_ID, TRUST_DEMO_BIOSEAL_CERT_ID,
				VDS_BIOSEAL_MANIFEST, (uint32_t)signing_time,
				claims, k, out, outlen);
	EVP_PKEY_free(k);
	return rc;
}

enum sa_err
trust_demo_issue_icao(const char *dir, const struct vds_claims *claims,
		      int64_t signing_time, unsigned char **out, size_t *outlen)
{
	char mrz[VDS_MRZ_TD2_LEN + 1], day[21];
	/* An emergency travel document (5E 03) of Utopia: its MRZ as tag 2. */
	struct vds_icao_spec p = {.country = "UTO",
				  .signer = TRUST_DEMO_ICAO_SIGNER,
				  .cert_ref = TRUST_DEMO_ICAO_REF,
				  .issue_date = day,
				  .sig_date = day,
				  .feature_ref = 0x5e,
				  .type_category = 0x03,
				  .mrz_tag = 2,
				  .mrz = mrz};
	EVP_PKEY *k;
	enum sa_err rc;

	if (signing_time < 0 || claims == NULL || claims->token_id[0] != '\0')
		return SA_ERR_VALIDATION;
	/* Issued and signed today: the header has no time of day. */
	iso8601_utc(signing_time, day);
	day[10] = '\0';
	if ((rc = vds_mrz_td2("I", "UTO", claims, mrz)) != SA_OK)
		return rc;
	if ((k = demo_read_key(dir, "private/signer-icao.key")) == NULL)
		return SA_ERR_CONFIG;
	rc = vds_encode_icao(&p, k, out, outlen);
	EVP_PKEY_free(k);
	OPENSSL_cleanse(mrz, sizeof(mrz));
	return rc;
}

enum sa_err
trust_demo_issue(const char *dir, const struct vds_claims *claims,
		 int64_t signing_time, unsigned char **out, size_t *outlen)
{
	return trust_demo_issue_as(dir, NULL, claims, signing_time, out,
				   outlen);
}
