/*
 * subject.h - the subject ("sub") a relying party sees for a person: by
 * default pairwise, derived from the relying party's sector, the issuing
 * authority and the token id, so two services cannot link their users; the
 * raw token id only for a service that opts in ("subjectType": "public").
 */
#ifndef SEALAUTH_SUBJECT_H
#define SEALAUTH_SUBJECT_H

#include "core/errors.h"
#include "store/store.h"

struct app;

#define SUBJECT_MAX ENROLL_TOKEN_MAX /* a pairwise subject is 43 chars */

/*
 * login_subject writes into out the subject for (authority, token_id) at
 * the relying party whose sector is sector (a service id, an OpenID
 * Connect sector, a SAML entity id): the token id itself when is_public,
 * otherwise otp_pairwise_sub over the server's master secret.
 */
enum sa_err login_subject(const struct app *app, const char *sector,
			  int is_public, const char *authority,
			  const char *token_id, char out[SUBJECT_MAX + 1]);

#endif
