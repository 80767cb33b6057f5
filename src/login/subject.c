/*
 * subject.c - the subject a relying party sees (subject.h).
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/util.h"
#include "crypto/otp.h"
#include "login/subject.h"

enum sa_err
login_subject(const struct app *app, const char *sector, int is_public,
	      const char *authority, const char *token_id,
	      char out[SUBJECT_MAX + 1])
{
	char sub[44];
	enum sa_err rc;

	if (token_id == NULL || strlen(token_id) > SUBJECT_MAX)
		return SA_ERR_VALIDATION;
	if (is_public) {
		str_copy(out, SUBJECT_MAX + 1, token_id);
		return SA_OK;
	}
	rc =
	    otp_pairwise_sub(app->otp_secret, app->otp_secret_len, sector,
			     authority != NULL ? authority : "", token_id, sub);
	if (rc == SA_OK)
		str_copy(out, SUBJECT_MAX + 1, sub);
	return rc;
}
