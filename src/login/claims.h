/*
 * claims.h - the identity an enrollment keeps and the claims a token
 * carries for the scopes a user granted (SPEC §5).
 *
 * An enrollment copies the identity out of its seal once (claims_identity_
 * from_vds) and stores it as JSON (claims_identity_to_json / _from_json).
 * When a login is approved, claims_add writes into the token's claim set
 * exactly the claims the granted scopes allow, deriving ages, the age range,
 * EU citizenship and the name initials at the time of issue. Everything here
 * is pure: no I/O, no clock (the caller passes the time), no globals that
 * change. docs/claims.md describes every claim and every derivation rule.
 */
#ifndef SEALAUTH_CLAIMS_H
#define SEALAUTH_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"
#include "seal/vds.h"

#define CLAIMS_NAME_MAX VDS_NAME_MAX   /* given / family name, UTF-8 bytes */
#define CLAIMS_DOC_MAX VDS_DOC_MAX     /* document number, bytes */
#define CLAIMS_TRUST_MAX 15	       /* trust level, bytes */
#define CLAIMS_PHOTO_MAX VDS_MAX_BYTES /* photo bytes (it came in a seal) */
#define CLAIMS_SCOPE_MAX 64	       /* bytes of one scope name */
#define CLAIMS_SCOPES_MAX 64	       /* scopes in one request */

/*
 * The identity data an enrollment keeps. Strings are NUL-terminated and
 * empty when absent; a claim whose source is absent is never issued.
 *  - given_name, family_name: UTF-8 without control characters;
 *  - date_of_birth: "YYYY-MM-DD", a real calendar day;
 *  - nationality: 1 to 3 letters A-Z (ICAO codes, so Germany may be "D");
 *  - document_number: printable ASCII;
 *  - trust_level: [A-Za-z0-9._:-], set by the enrollment from the trust
 *    check that accepted the seal;
 *  - photo: photo_len bytes owned by the struct (free with
 *    claims_identity_clear), NULL when absent.
 * The seal's face template is deliberately not kept: no claim needs it.
 */
struct identity {
	char given_name[CLAIMS_NAME_MAX + 1];
	char family_name[CLAIMS_NAME_MAX + 1];
	char date_of_birth[11];
	char nationality[4];
	char document_number[CLAIMS_DOC_MAX + 1];
	char trust_level[CLAIMS_TRUST_MAX + 1];
	unsigned char *photo;
	size_t photo_len;
};

/*
 * claims_identity_to_json describes id as a new JSON object for storage
 * (caller decrefs): givenName, familyName, dateOfBirth, nationality,
 * documentNumber, trustLevel and photo (standard base64), each only when
 * present. NULL when out of memory or when id breaks the rules above.
 */
json_t *claims_identity_to_json(const struct identity *id);

/*
 * claims_identity_from_json reads what claims_identity_to_json wrote. It is
 * strict: j must be an object holding only those keys, each a non-empty
 * string within its bound and format (the photo at most CLAIMS_PHOTO_MAX
 * bytes once decoded). SA_ERR_VALIDATION otherwise, SA_ERR_NOMEM when out
 * of memory. On success *out is overwritten (whatever it held is not freed)
 * and owns a new photo buffer; on failure *out is untouched.
 */
enum sa_err claims_identity_from_json(const json_t *j, struct identity *out);

/*
 * claims_identity_from_vds copies the profile claims of a decoded seal and
 * the trust level (NULL or "" for none) into *out, which then owns a copy
 * of the photo. Every field is checked as above: SA_ERR_VALIDATION when one
 * breaks the rules, SA_ERR_NOMEM when out of memory; *out is set only on
 * success and may be freed with claims_identity_clear.
 */
enum sa_err claims_identity_from_vds(const struct vds_claims *c,
				     const char *trust_level,
				     struct identity *out);

/*
 * claims_identity_clear wipes and frees the photo and wipes every field,
 * leaving an empty identity. NULL is fine.
 */
void claims_identity_clear(struct identity *id);

/*
 * claims_scopes_known tells whether every one of the n scopes is a scope
 * of SPEC §5. SA_OK if so; otherwise SA_ERR_SCOPE and *bad (may be NULL) is
 * the index of the first unknown scope (a NULL entry counts as unknown, and
 * more than CLAIMS_SCOPES_MAX scopes give *bad = CLAIMS_SCOPES_MAX).
 */
enum sa_err claims_scopes_known(const char *const *scopes, size_t n,
				size_t *bad);

/*
 * claims_add expands the composite scopes (identity:basic,
 * identity:age_verification, identity:full, identity:full_with_photo) and
 * sets in the JSON object out exactly the claims the n scopes allow, taken
 * from id, with the derived claims computed on the UTC date of now (unix
 * seconds). A claim no scope grants never appears; a claim whose source is
 * absent (or, for the age claims, a birth date after now) is left out,
 * never null. Duplicate scopes are harmless; n = 0 adds nothing. Other keys
 * of out are kept, same-named ones overwritten. SA_ERR_SCOPE for an unknown
 * scope, SA_ERR_VALIDATION when id breaks the rules above or out is not an
 * object, SA_ERR_NOMEM when out of memory; out is changed only on success.
 */
enum sa_err claims_add(const struct identity *id, const char *const *scopes,
		       size_t n, int64_t now, json_t *out);

struct json_obj;

/*
 * claims_write is claims_add for a claim set being written straight to
 * text (core/json_out.h): it appends the same claims, in the same order,
 * as members of out. The caller's own members must not share their names
 * (the registered JWT claims do not). On an error out may hold some of
 * them: the caller discards it.
 */
enum sa_err claims_write(const struct identity *id, const char *const *scopes,
			 size_t n, int64_t now, struct json_obj *out);

/*
 * Every scope of SPEC §5, single ones first, then the composites, ending
 * with NULL.
 */
extern const char *const claims_all_scopes[];

#endif
