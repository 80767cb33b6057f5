/*
 * api_jwks.c - GET /jwks and /.well-known/jwks.json: every public key that
 * may have signed a live token, and any key about to start signing.
 */
#include "api/api.h"
#include "app/app.h"
#include "crypto/keys.h"
#include "core/util.h"

enum sa_err
api_jwks(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	json_t *jwks = keys_jwks_json(app->keys, now_unix());

	if (jwks == NULL)
		return SA_ERR_NOMEM;
	/* Short caching: a rotated key is published before it signs. */
	http_res_header(res, "Cache-Control", "public, max-age=300");
	http_res_json(res, 200, jwks);
	return SA_OK;
}
