/*
 * push_unifiedpush.c - UnifiedPush: the message is POSTed as compact JSON
 * to the endpoint URL the device registered. The URL comes from the device,
 * so it is treated as hostile: https only, no redirects, and the address
 * actually connected to must be public (push_http.c), unless the pusher
 * allows private targets for development.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "push/push_int.h"
#include "core/util.h"

/*
 * up_check_url parses the endpoint and refuses anything but an absolute
 * https URL with a host (http too when private targets are allowed), and
 * URLs carrying credentials. Returns NULL when acceptable, else why not.
 */
static const char *
up_check_url(const char *url, int allow_private)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	const char *why = NULL;

	if (u == NULL)
		return "out of memory";
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		why = "endpoint is not a valid URL";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0') {
		why = "endpoint has no scheme or host";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		why = "endpoint URL must not carry credentials";
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0)
		goto out;
	if (strcasecmp(scheme, "http") == 0 && allow_private)
		goto out;
	why = "endpoint must use https";
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return why;
}

/*
 * up_send makes one attempt: 2xx is delivered, 404 and 410 mean the
 * endpoint is gone (final), 408, 429 and 5xx are retried, any other status
 * (redirects included, as they are not followed) is final.
 */
static void
up_send(const struct push_call *call, struct push_result *res)
{
	struct push_http_req rq = {0};
	struct push_http_resp *resp = NULL;
	struct curl_slist *hdr = NULL, *t;
	const char *why;
	enum sa_err rc;
	long st;

	why = up_check_url(call->target, call->cfg->allow_private_targets);
	if (why != NULL) {
		push_result_set(res, SA_ERR_PUSH, 0, "%s", why);
		goto out;
	}
	resp = malloc(sizeof(*resp));
	if (resp == NULL) {
		push_result_set(res, SA_ERR_NOMEM, 1, "out of memory");
		goto out;
	}
	static const char *const headers[] = {
	    "Content-Type: application/json", "TTL: 120", "Urgency: high",
	    "Expect:", /* no 100-continue round trip for a small body */
	};
	for (size_t i = 0; i < ARRAY_LEN(headers); i++) {
		t = curl_slist_append(hdr, headers[i]);
		if (t == NULL) {
			push_result_set(res, SA_ERR_NOMEM, 1, "out of memory");
			goto out;
		}
		hdr = t;
	}
	rq.url = call->target;
	rq.headers = hdr;
	rq.body = call->body;
	rq.body_len = call->body_len;
	rq.timeout_ms = call->cfg->timeout_ms;
	rq.device = 1;
	rq.allow_private = call->cfg->allow_private_targets;
	rq.abort_at_ms = call->abort_at_ms;
	rc = push_http_post(call->device, &rq, resp);
	if (rc != SA_OK) {
		push_result_transport(rc, resp, res);
		goto out;
	}
	st = resp->status;
	res->retry_after_ms = resp->retry_after_ms;
	if (st >= 200 && st <= 299)
		push_result_set(res, SA_OK, 0, "delivered (HTTP %ld)", st);
	else if (st == 404 || st == 410)
		push_result_set(res, SA_ERR_PUSH, 0, "endpoint gone (HTTP %ld)",
				st);
	else if (st == 408 || st == 429 || st >= 500)
		push_result_set(res, SA_ERR_PUSH, 1,
				"push service busy (HTTP %ld)", st);
	else if (st >= 300 && st <= 399)
		push_result_set(res, SA_ERR_PUSH, 0,
				"endpoint redirected (HTTP %ld), not followed",
				st);
	else
		push_result_set(res, SA_ERR_PUSH, 0,
				"endpoint refused the message (HTTP %ld)", st);
out:
	curl_slist_free_all(hdr);
	free(resp);
}

const struct push_provider push_unifiedpush_provider = {
    .name = "unifiedpush",
    .send = up_send,
};
