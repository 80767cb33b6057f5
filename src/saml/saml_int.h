/*
 * saml_int.h - what the files of src/saml/ share and nothing outside reads:
 * the IdP's state, incoming messages as parsed, and the builders of the
 * messages we send.
 */
#ifndef SEALAUTH_SAML_INT_H
#define SEALAUTH_SAML_INT_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "crypto/jwk.h"
#include "crypto/keys.h"
#include "saml/saml.h"
#include "saml/saml_sp.h"
#include "saml/saml_xml.h"

#define SAML_RING_CERTS_MAX KEYS_MAX
#define SAML_RELAY_MAX 1024 /* bytes of RelayState we carry back */
#define SAML_SKEW_FUTURE 60 /* seconds an IssueInstant may be ahead */

/* The default attribute mapping (saml_sp.c), in the order an import
 * writes it. */
extern const struct saml_attr saml_default_attrs[];
extern const size_t saml_default_nattrs;

/* A signing key and the certificate that publishes it. */
struct saml_cred {
	char kid[JWK_KID_LEN];
	EVP_PKEY *key; /* NULL for a published-only certificate */
	X509 *cert;
};

struct saml_idp {
	struct app *app;
	char entity_id[SAML_URL_MAX + 1];
	char base_url[SAML_URL_MAX + 1]; /* public URL, no trailing slash */
	char cert_dir[4096];		 /* DATA_DIR/saml */
	struct keys *ring;		 /* NULL with a dedicated key */
	pthread_mutex_t mu;		 /* guards ring_creds */
	size_t nring;
	struct saml_cred ring_creds[SAML_RING_CERTS_MAX];
	struct saml_cred ec;	 /* dedicated key (key NULL when the ring) */
	size_t nextra;		 /* more certificates of the dedicated key */
	X509 *extra[4];		 /* (published during a rotation) */
	struct saml_cred rsa;	 /* rsa-sha256 SPs */
	int64_t assertion_ttl;	 /* seconds */
	int64_t request_max_age; /* seconds */
	int64_t slo_timeout;	 /* seconds */
};

/*
 * saml_idp_signer gives the credential that signs for an SP with algorithm
 * alg at now: *key and *cert are new references the caller frees.
 */
enum sa_err saml_idp_signer(struct saml_idp *idp, enum saml_sigalg alg,
			    int64_t now, EVP_PKEY **key, X509 **cert);

/*
 * saml_idp_certs lists every certificate a relying SP may see signatures
 * from at now (dedicated or ring, rotation included, then RSA): new
 * references in out (at most max), count in *n; caller frees each.
 */
enum sa_err saml_idp_certs(struct saml_idp *idp, int64_t now, X509 **out,
			   size_t max, size_t *n);

/* saml_metadata_build writes the IdP's metadata (signed when sign). */
enum sa_err saml_metadata_build(struct saml_idp *idp, int sign, int64_t now,
				char **out, size_t *outlen);

/*
 * saml_sp_lookup parses the SP with that entity id from the registry's
 * current snapshot (caller frees): SA_ERR_SAML_UNKNOWN_SP when none.
 */
enum sa_err saml_sp_lookup(struct app *app, const char *entity_id,
			   struct saml_sp **out);

/* ---- Incoming messages (saml_msg.c) -------------------------------------- */

enum saml_msg_kind {
	SAML_MSG_AUTHN_REQUEST = 1,
	SAML_MSG_LOGOUT_REQUEST = 2,
	SAML_MSG_LOGOUT_RESPONSE = 3,
};

/* A message as it arrived, decoded by saml_msg_decode. */
struct saml_msg {
	enum saml_msg_kind kind;
	enum saml_binding binding;
	char id[SAML_ID_MAX + 1];
	char issuer[SAML_URL_MAX + 1];
	char destination[SAML_URL_MAX + 1];
	int64_t issue_instant;
	char relay_state[SAML_RELAY_MAX + 1];
	int has_relay_state;
	int signed_ok;	   /* a signature verified with a pinned SP key */
	int has_signature; /* a signature was present */
	/* AuthnRequest */
	char acs_url[SAML_URL_MAX + 1];
	int has_acs_url;
	int acs_index; /* -1 when absent */
	char protocol_binding[128];
	int force_authn;
	int is_passive;
	char nameid_policy[128];
	int allow_create; /* -1 absent */
	char rac_comparison[16];
	size_t nrac;
	char rac[4][256];
	/* LogoutRequest */
	char nameid[SAML_URL_MAX + 1];
	size_t nsession_index;
	char session_index[4][128];
	/* LogoutResponse */
	char in_response_to[SAML_ID_MAX + 1];
	char status[256];
	/* the parsed document (owned) */
	xmlDocPtr doc;
};

/*
 * saml_msg_decode reads the message of a request: for GET (HTTP-Redirect)
 * SAMLRequest or SAMLResponse from the query, base64 then inflated; for
 * POST (HTTP-POST) from the form body, base64. It parses and checks the
 * shape (root element, Version 2.0, ID, IssueInstant, Issuer) and fills m.
 * Signatures are not checked here: the SP is not known yet.
 * SA_ERR_SAML_REQUEST with why on a malformed message.
 */
enum sa_err saml_msg_decode(struct http_request *req, struct saml_msg *m,
			    char *why, size_t whylen);
void saml_msg_clear(struct saml_msg *m);
/* saml_msg_decode_text is saml_msg_decode for a query string (HTTP-Redirect)
 * or form body (HTTP-POST) already at hand: the fuzz driver's way in. */
enum sa_err saml_msg_decode_text(const char *text, size_t n,
				 enum saml_binding binding, struct saml_msg *m,
				 char *why, size_t whylen);

/*
 * saml_msg_verify checks the message's signature against the SP's pinned
 * keys: the query-string signature of HTTP-Redirect over the octets as
 * sent, or the enveloped XML signature of HTTP-POST (wrapping refused, see
 * xmldsig_verify_element). It sets m->signed_ok. SA_OK when unsigned and
 * not required; SA_ERR_SAML_SIGNATURE when a signature is bad, or missing
 * and required (required set by the caller).
 */
enum sa_err saml_msg_verify(struct http_request *req, const struct saml_sp *sp,
			    int required, struct saml_msg *m, char *why,
			    size_t whylen);
/* saml_msg_verify_text is saml_msg_verify with the raw query at hand. */
enum sa_err saml_msg_verify_text(const char *query, const struct saml_sp *sp,
				 int required, struct saml_msg *m, char *why,
				 size_t whylen);

/* ---- Outgoing messages (saml_build.c) ------------------------------------ */

/* What an assertion says about a person. */
struct saml_subject {
	const char *nameid; /* pairwise or transient value */
	enum saml_nameid format;
	int64_t auth_time;
	const char *session_index;
	const json_t *claims; /* claims_add output for the granted scopes */
};

/*
 * saml_build_response writes a signed Response for sp to acs: status
 * Success with an assertion about subj when subj is not NULL, else the
 * error status (and optional second-level status and message). The
 * assertion and/or the response are signed as the SP's settings say.
 */
enum sa_err saml_build_response(struct saml_idp *idp, const struct saml_sp *sp,
				const char *acs, const char *in_response_to,
				const struct saml_subject *subj,
				const char *status, const char *substatus,
				const char *message, int64_t now, char **out);

/* saml_build_logout_request writes a signed LogoutRequest to sp's SLO
 * endpoint; id receives its ID. */
enum sa_err saml_build_logout_request(struct saml_idp *idp,
				      const struct saml_sp *sp,
				      const char *nameid,
				      enum saml_nameid format,
				      const char *session_index, int64_t now,
				      char id[SAML_ID_LEN + 1], char **out);

/*
 * saml_build_logout_response writes a signed LogoutResponse to sp with a
 * status and an optional second-level one (substatus may be NULL);
 * SAML_STATUS_PARTIAL_LOGOUT alone becomes Success + PartialLogout.
 */
enum sa_err
saml_build_logout_response(struct saml_idp *idp, const struct saml_sp *sp,
			   const char *in_response_to, const char *status,
			   const char *substatus, int64_t now, char **out);

/*
 * saml_redirect_url writes the HTTP-Redirect binding's URL for a message
 * to sp at url: deflated, base64, RelayState (relay may be NULL), SigAlg
 * and the query signature with the SP's algorithm. Caller frees *out.
 */
enum sa_err saml_redirect_url(struct saml_idp *idp, const struct saml_sp *sp,
			      const char *url, const char *param,
			      const char *xml, const char *relay, char **out);

/*
 * saml_send answers the browser with a message for sp at url: HTTP-POST
 * as an auto-submitting form (a static script submits it; a button for
 * browsers without script), HTTP-Redirect as a 303 with the deflated,
 * query-signed message. param is "SAMLRequest" or "SAMLResponse"; relay
 * may be NULL.
 */
enum sa_err saml_send(struct saml_idp *idp, struct http_response *res,
		      const struct saml_sp *sp, enum saml_binding binding,
		      const char *url, const char *param, const char *xml,
		      const char *relay);

/*
 * saml_auto_form answers with a page whose form sends the n fields to url
 * by method ("post" or "get") on its own (a static script, a button
 * without script), under a policy that lets it go to url's origin only.
 */
enum sa_err saml_auto_form(struct http_response *res, const char *url,
			   const char *method, const char *const *names,
			   const char *const *values, size_t n);

/* saml_html_attr appends s escaped for a double-quoted HTML attribute. */
struct buf;
void saml_html_attr(struct buf *b, const char *s);

/* saml_page_send answers 200 with the HTML page in b (freed) under its
 * own policy csp, not to be stored. */
void saml_page_send(struct http_response *res, struct buf *b, const char *csp);

/* saml_url_origin writes scheme://host[:port] of url into out; -1 when
 * url has no scheme or the origin does not fit. */
int saml_url_origin(const char *url, char *out, size_t outlen);

/* ---- Single logout (saml_slo.c, saml_walk.c) ----------------------------- */

/* saml_store_json writes a JSON record into the ephemeral store for ttl
 * seconds; saml_load_json reads one (caller decrefs), deleting it when
 * take, so one of two racing readers gets it. */
enum sa_err saml_store_json(struct app *app, const char *key, json_t *rec,
			    int64_t ttl);
enum sa_err saml_load_json(struct app *app, const char *key, int take,
			   json_t **out);

/* saml_sp_of_service parses the SP of a registry service id (caller
 * frees); SA_ERR_SAML_UNKNOWN_SP when it has no SAML settings. */
enum sa_err saml_sp_of_service(struct app *app, const char *service_id,
			       struct saml_sp **out);

/*
 * saml_walk_begin stores a new logout walk w (a "queue" of the SPs to
 * sign out, "partial", "sid", and for an SP that asked "initiator", "irt",
 * "relay"; the reference is kept) under a fresh id and sends the browser
 * to its page, /saml/slo/walk?w={id}, with a 303.
 */
enum sa_err saml_walk_begin(struct http_request *req, struct http_response *res,
			    json_t *w);

/*
 * saml_walk_answer records the answer of the SP service_id to the
 * LogoutRequest of step n of walk slo_id: ok or not. An answer for a step
 * the walk has left (its time ran out) changes nothing: SA_ERR_NOT_FOUND.
 */
enum sa_err saml_walk_answer(struct app *app, const char *slo_id,
			     const char *service_id, int64_t n, int ok);

#endif
