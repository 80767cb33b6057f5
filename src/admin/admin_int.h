/*
 * admin_int.h - what the files of src/admin share: the administration
 * state, the caller of an admin request, ceremony challenges, passkey
 * records and the WebAuthn JSON shapes. Not for other layers.
 */
#ifndef SEALAUTH_ADMIN_INT_H
#define SEALAUTH_ADMIN_INT_H

#include <stdint.h>

#include <jansson.h>

#include "admin/admin.h"
#include "admin/webauthn.h"
#include "store/store.h"

#define ADMIN_ID_MAX 32		/* base64url of 16 random bytes: 22 */
#define ADMIN_NAME_MAX 64	/* bytes of an admin's name */
#define ADMIN_LABEL_MAX 64	/* bytes of a passkey's label */
#define ADMIN_CRED_B64_MAX 1366 /* base64url of WEBAUTHN_CRED_ID_MAX */
#define ADMIN_COOKIE "sealauth_admin"

/*
 * ADMIN_STRING_SCHEMA defines name, the schema of a request body with one
 * required string member (the start of many step-up pairs).
 */
#define ADMIN_STRING_SCHEMA(name, member, min, max, fmt)                       \
	static const struct schema_field name##_fields[] = {                   \
	    SCHEMA_STRING(member, SCHEMA_REQUIRED, min, max, fmt),             \
	    SCHEMA_END,                                                        \
	};                                                                     \
	const struct schema name = {name##_fields, NULL}

/* Record kinds in the durable store. */
#define REC_ADMIN "admin"
#define REC_PASSKEY "passkey"
#define REC_SESSION "admin_session"
#define REC_INSTALL "install"
#define REC_INVITE "admin_invite"

struct admin {
	struct app *app;
	int ready; /* a usable public URL: the RP exists */
	char why[192];
	struct webauthn_rp rp;
};

/* The admin behind a request, once admin_auth accepted it. */
struct admin_caller {
	char admin_id[ADMIN_ID_MAX + 1];
	char name[ADMIN_NAME_MAX + 1];
	char session_key[65]; /* hex SHA-256 of the bearer token */
	char sid[44];	      /* the session's public id */
	char passkey_id[ADMIN_CRED_B64_MAX + 1];
};

/*
 * admin_ready answers 503 (naming SEALAUTH_PUBLIC_URL) when administration
 * has no relying party, and returns that error; SA_OK otherwise.
 */
enum sa_err admin_ready(struct http_request *req, struct http_response *res,
			struct admin **out);

/*
 * admin_auth admits an admin request: a bearer token (Authorization) or the
 * console's cookie, which for anything but GET must come with the
 * X-CSRF-Token the sign-in gave; a live session of an existing admin; the
 * admin's rate limit. On refusal res is filled and the error returned.
 */
enum sa_err admin_auth(struct http_request *req, struct http_response *res,
		       struct admin **adm, struct admin_caller *out);

/*
 * admin_audit records an admin action with the admin, their passkey, the
 * session and (from req) IP and user agent. detail is stolen (may be NULL).
 * The action must not be reported as done unless it returns SA_OK.
 */
enum sa_err admin_audit(struct http_request *req,
			const struct admin_caller *who, const char *event,
			json_t *detail);
/* admin_who_detail adds to detail (stolen; NULL: a new object) the members
 * admin_audit adds, for a row another layer writes; returns it (NULL when
 * out of memory). */
json_t *admin_who_detail(const struct admin_caller *who, json_t *detail);

/* ---- Ceremonies ---------------------------------------------------------- */

/*
 * admin_challenge_put stores a ceremony's state (a JSON object that gets a
 * fresh "challenge" member) for five minutes under id: a new one when
 * id[0] is NUL (43 characters), else the one given (a second ceremony of
 * the same pair). challenge receives the challenge text (43).
 */
enum sa_err admin_challenge_put(struct admin *adm, const char *purpose,
				json_t *state, char id[44], char challenge[44]);
/*
 * admin_challenge_take removes and returns the state stored under purpose
 * and id (a new reference): exactly one caller gets it. SA_ERR_CHALLENGE
 * when it is unknown, used or expired.
 */
enum sa_err admin_challenge_take(struct admin *adm, const char *purpose,
				 const char *id, json_t **state);

/* admin_creation_options builds navigator.credentials.create() options. */
json_t *admin_creation_options(struct admin *adm, const char *challenge,
			       const char *admin_id, const char *name,
			       json_t *exclude);
/* admin_request_options builds navigator.credentials.get() options; allow
 * may be NULL (a discoverable credential: any of the RP's). */
json_t *admin_request_options(struct admin *adm, const char *challenge,
			      json_t *allow);

/*
 * admin_register_check verifies the "registerResponse" credential of a
 * request body against a challenge: *cred receives the new credential.
 * On refusal why says which check failed.
 */
enum sa_err admin_register_check(struct admin *adm, const json_t *credential,
				 const char *challenge,
				 struct webauthn_credential *cred, char *why,
				 size_t whylen);

/*
 * admin_assert_check verifies an assertion credential against a challenge
 * with the stored passkey of its id, checks the signature counter (a
 * counter that went backwards is refused as SA_ERR_PASSKEY_CLONED and
 * audited) and stores the new counter. owner, when not NULL, is the admin
 * the passkey must belong to. *admin_id and *passkey_id receive who
 * signed.
 */
enum sa_err admin_assert_check(struct http_request *req, struct admin *adm,
			       const json_t *credential, const char *challenge,
			       const char *owner,
			       char admin_id[ADMIN_ID_MAX + 1],
			       char passkey_id[ADMIN_CRED_B64_MAX + 1],
			       char *why, size_t whylen);

/*
 * The same in two steps, so a caller can store the new counter in the
 * transaction of its own writes (a sign-in's session: one commit, one
 * fsync). admin_assert_verify does every check and keeps the passkey's
 * record with the new counter in *out (free with admin_assertion_clear,
 * also after a failure); admin_assert_store writes it, compare-and-set on
 * the version it was read at, then the caller's ops (at most
 * ADMIN_ASSERT_MORE_MAX), all or none. A passkey used or removed meanwhile
 * is SA_ERR_WEBAUTHN with why set; any other error is the store's.
 */
#define ADMIN_ASSERT_MORE_MAX 4
struct admin_assertion {
	char admin_id[ADMIN_ID_MAX + 1];	 /* who signed */
	char passkey_id[ADMIN_CRED_B64_MAX + 1]; /* with which passkey */
	char *doc;	 /* the passkey's record, new counter (heap) */
	int64_t version; /* the record's version when it was read */
};
enum sa_err admin_assert_verify(struct http_request *req, struct admin *adm,
				const json_t *credential, const char *challenge,
				const char *owner, struct admin_assertion *out,
				char *why, size_t whylen);
enum sa_err admin_assert_store(struct admin *adm,
			       const struct admin_assertion *as,
			       const struct dstore_rec_op *more, size_t nmore,
			       char *why, size_t whylen);
void admin_assertion_clear(struct admin_assertion *as);

/* admin_passkey_doc is a new passkey's record document. */
json_t *admin_passkey_doc(const struct webauthn_credential *cred,
			  const char *label, const json_t *transports);

/*
 * admin_transports finds the transports the browser reported for a new
 * passkey in a request body: the body's own "transports" when given, else
 * registerResponse.response.transports (getTransports() of the WebAuthn
 * JSON form); NULL when neither is there. Borrowed from body.
 */
const json_t *admin_transports(const json_t *body);

/*
 * A new admin with their first passkey, as the install claim and an
 * invitation make them. The caller sets admin_id and name (from the
 * ceremony's state), doc (the admin's record document, borrowed) and the
 * guards that run first in the same transaction (closing the install
 * window, using up the invitation); cred and cred_id (the caller frees it)
 * are filled in.
 */
#define ADMIN_FIRST_GUARDS_MAX 4
struct admin_first {
	const char *admin_id, *name;
	const json_t *doc;
	const struct dstore_rec_op *guards;
	size_t nguards;
	struct webauthn_credential cred;
	char *cred_id;
};

/*
 * admin_first_create checks the body's "registerResponse" against the
 * challenge of the ceremony's state; a refused registration returns its
 * error with why filled in. Otherwise it writes the guards, the admin and
 * the passkey (the body's "label", "first passkey" without one, and the
 * browser's transports) in one transaction and returns the store's answer,
 * why left empty: a guard's error, SA_ERR_CONFLICT for a passkey (or
 * admin) that exists, or SA_OK.
 */
enum sa_err admin_first_create(struct admin *adm, const json_t *body,
			       const json_t *state, struct admin_first *f,
			       char *why, size_t whylen);
/*
 * admin_first_done audits event as the new admin with detail (stolen, may
 * be NULL; the attestation format and algorithm are added) and answers 201
 * {"adminId", "name", "credentialId"}.
 */
enum sa_err admin_first_done(struct http_request *req,
			     struct http_response *res,
			     const struct admin_first *f, const char *event,
			     json_t *detail);

/* admin_cred_id encodes a credential id (base64url, caller frees). */
char *admin_cred_id(const struct webauthn_credential *cred);

/* admin_allow_list lists an admin's credentials as {type, id} (new). */
json_t *admin_allow_list(struct admin *adm, const char *admin_id);

/* admin_random writes 32 random bytes in base64url (43 characters). */
enum sa_err admin_random(char out[44]);
/* admin_hash_hex writes the hex SHA-256 of a string (64 characters). */
void admin_hash_hex(const char *s, char out[65]);

/*
 * Cursors of the admin lists: base64url of "KEY.N.LAST", where KEY is the
 * 16-character digest of the list's filters (admin_cursor_key), so a cursor
 * only continues the query it was made with, N the sort value and LAST the
 * key of the last row given. admin_cursor_make returns it (heap, NULL when
 * out of memory). admin_cursor_read refuses (SA_ERR_VALIDATION) a cursor
 * that decodes to max_raw bytes or more, names other filters, or whose LAST
 * is empty or does not fit in cap bytes.
 */
void admin_cursor_key(const char *filters, char out[17]);
char *admin_cursor_make(const char *key, int64_t n, const char *last);
enum sa_err admin_cursor_read(const char *cursor, const char *key,
			      size_t max_raw, int64_t *n, char *last,
			      size_t cap);

/* admin_new_id writes a fresh random id (base64url of 16 bytes). */
enum sa_err admin_new_id(char out[ADMIN_ID_MAX + 1]);

/* admin_fail answers a refused ceremony: the error with why, audited as
 * event (with who may be NULL before sign-in). Returns err. */
enum sa_err admin_fail(struct http_request *req, struct http_response *res,
		       const struct admin_caller *who, const char *event,
		       enum sa_err err, const char *why);

/* admin_session_cookie sets (or, with token NULL, clears) the console's
 * session cookie (api_session.c). */
void admin_session_cookie(struct http_response *res, const char *token,
			  int64_t ttl);

/* admin_store_err answers a store error and returns it. */
enum sa_err admin_store_err(struct http_response *res, enum sa_err rc);

/* Schemas of the WebAuthn credentials in request bodies. */
extern const struct schema admin_registration_schema;
extern const struct schema admin_assertion_schema;

/* admin_install_ensure opens the install window when there is no admin
 * (api_install.c); called by admin_open. */
enum sa_err admin_install_ensure(struct admin *adm);

/* ---- Step-up (stepup.c) -------------------------------------------------- */

/*
 * Every admin mutation is a start/finish pair confirmed by a fresh
 * user-verification assertion from one of the caller's own passkeys, in
 * the caller's session (docs/admin.md, "Step-up"). A new mutation uses
 * admin_stepup_start and admin_stepup_pinned:
 *
 * admin_stepup_start pins change (a JSON object, stolen; validate it
 * first) to a new ceremony bound to the caller's session and to action (a
 * short name such as "service"), and answers
 * 202 {"stepupId", "uvOptions", "expiresAt"}.
 */
enum sa_err admin_stepup_start(struct http_response *res, struct admin *adm,
			       const struct admin_caller *who,
			       const char *action, json_t *change);
/*
 * admin_stepup_start_show is admin_stepup_start whose answer also carries
 * "preview": show (stolen, may be NULL), what the change will do, for the
 * admin to read before confirming it.
 */
enum sa_err admin_stepup_start_show(struct http_response *res,
				    struct admin *adm,
				    const struct admin_caller *who,
				    const char *action, json_t *change,
				    json_t *show);
/*
 * admin_stepup_pinned is how every finish of a pair begins. It admits the
 * caller (admin_auth: *adm, *who); reads "stepupId" and "uvResponse" from
 * the body (admin_stepup_finish_schema); takes the ceremony (single use),
 * checks it belongs to the caller's session and to action, and verifies
 * the assertion; then reads back the string members names (NULL-terminated,
 * or NULL for none) that the start pinned, into vals in that order. The
 * start pinned every one of them, so a missing one answers 500. On SA_OK
 * *change is the pinned object (caller decrefs) with "uvPasskeyId" added,
 * the passkey that signed, for the audit, and vals point into it.
 * Otherwise the answer is written, *change is left alone, and a refused
 * step-up is audited as refused_event: a failed assertion answers 401 with
 * "retryId" and fresh "uvOptions", the change pending. The finish
 * route's body schema is admin_stepup_finish_schema (admin.h).
 */
enum sa_err admin_stepup_pinned(struct http_request *req,
				struct http_response *res, const char *action,
				const char *refused_event, struct admin **adm,
				struct admin_caller *who, json_t **change,
				const char *const *names, const char **vals);

/*
 * The two halves the helpers above are made of, for ceremonies with their
 * own id and shape (the passkey endpoints). admin_stepup_put stores a
 * step-up for the caller's session under id (new when id[0] is NUL) with
 * extra members (may be NULL, stolen) and returns its request options (new
 * reference) or NULL. admin_stepup_check takes the step-up of id and
 * verifies the assertion as admin_stepup_pinned does; on SA_OK *state is
 * the whole stored state (caller decrefs), with "uvPasskeyId".
 */
json_t *admin_stepup_put(struct admin *adm, const struct admin_caller *who,
			 char id[44], json_t *extra);
enum sa_err admin_stepup_check(struct http_request *req,
			       struct http_response *res, struct admin *adm,
			       const struct admin_caller *who, const char *id,
			       const json_t *assertion, const char *event,
			       json_t **state);

/* ---- The relying-party registry (api_services.c) ------------------------- */

struct services;
struct service_registry;

/*
 * A change of the registry is checked by a prepare function: on SA_OK
 * *change is what to pin (new: "serviceId" and what the finish needs; a
 * SAML import also "entityId", "doc", "before" (null for a new record) and
 * "audit", members added to the audit detail) and *show, when set, what the
 * admin is shown before confirming. On refusal it writes the answer and
 * returns the error.
 */
typedef enum sa_err (*admin_services_prepare_fn)(
    struct http_request *req, struct http_response *res, struct admin *adm,
    const struct admin_caller *who, json_t **change, json_t **show);

/* admin_service_doc is the record of id in the API's shape (new), or
 * NULL when there is none. */
json_t *admin_service_doc(struct service_registry *reg, const char *id);
/* admin_service_check answers 400 naming the field (or the setting inside
 * "oidc" or "saml") unless doc is a record the registry takes. */
enum sa_err admin_service_check(struct http_response *res, struct admin *adm,
				const json_t *doc);

/* admin_services_saml_prepare checks an SP metadata import and previews it
 * (api_services_saml.c). */
enum sa_err admin_services_saml_prepare(struct http_request *req,
					struct http_response *res,
					struct admin *adm,
					const struct admin_caller *who,
					json_t **change, json_t **show);

/* admin_saml_entity_owner is the id of the service of snap whose SAML
 * entity id is eid, or NULL (borrowed from snap). */
const char *admin_saml_entity_owner(const struct services *snap,
				    const char *eid);

/*
 * admin_audit_redact drops, recursively, the members of an audit detail
 * whose names mark a secret (token, secret, password, private key, CSRF,
 * OTP, credential, cookie ...; not tokenId or credentialId), so the audit
 * endpoints never hand one out (api_audit.c).
 */
void admin_audit_redact(json_t *detail);

#endif
