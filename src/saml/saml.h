/*
 * saml.h - the SAML 2.0 identity provider (SPEC §6): metadata, single
 * sign-on over HTTP-Redirect and HTTP-POST, responses posted to the SP's
 * assertion consumer service, and single logout. docs/saml.md describes it
 * for SP administrators.
 *
 * The server holds one struct saml_idp (its signing credentials and
 * settings), built at start by saml_idp_open and reached through
 * app->saml. SP settings live in the relying-party registry (saml_sp.h).
 */
#ifndef SEALAUTH_SAML_H
#define SEALAUTH_SAML_H

#include <stdint.h>
#include <stdio.h>

#include "core/errors.h"
#include "net/http.h"

struct app;
struct keys;
struct weblogin_done;

struct saml_idp;

/*
 * saml_idp_open sets up the IdP of app: its entity id, the ECDSA signing
 * credentials (a dedicated key and certificate, or the token key ring with
 * a self-signed certificate per key kept in DATA_DIR/saml) and the RSA key
 * for rsa-sha256 SPs (configured, or generated into DATA_DIR/saml). SP
 * settings are checked by the registry (saml_sp_checker). Refusals are
 * explained on err. The caller frees *out with saml_idp_close.
 */
enum sa_err saml_idp_open(struct app *app, FILE *err, struct saml_idp **out);
void saml_idp_close(struct saml_idp *idp);

/* GET /saml/metadata (?signed=1 for a signed document). */
enum sa_err api_saml_metadata(struct http_request *req,
			      struct http_response *res);
/* GET and POST /saml/sso: an AuthnRequest. */
enum sa_err api_saml_sso(struct http_request *req, struct http_response *res);

/* GET and POST /saml/slo: a LogoutRequest or LogoutResponse of an SP. */
enum sa_err api_saml_slo(struct http_request *req, struct http_response *res);
/* GET /saml/slo/resume?k=: a POSTed LogoutRequest, back with the cookie. */
enum sa_err api_saml_slo_resume(struct http_request *req,
				struct http_response *res);
/* GET /saml/slo/walk?w=: the page that signs the person out of the other
 * SPs one after the other (?poll=1: its state as JSON). */
enum sa_err api_saml_slo_walk(struct http_request *req,
			      struct http_response *res);
/* GET /saml/logout: the sign-out page; POST: the person's own logout of
 * every SP of the session (same-origin only). */
enum sa_err api_saml_logout_page(struct http_request *req,
				 struct http_response *res);
enum sa_err api_saml_logout(struct http_request *req,
			    struct http_response *res);

/* The continuation of a finished browser login (weblogin.h): posts the
 * SAMLResponse to the ACS the request named. */
enum sa_err saml_login_continue(struct http_request *req,
				struct http_response *res,
				const struct weblogin_done *done);

#endif
