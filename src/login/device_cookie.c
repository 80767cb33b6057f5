/*
 * device_cookie.c - the signed cookie of the owner's browser.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/otp.h"
#include "login/device_cookie.h"
#include "core/util.h"

enum sa_err
device_cookie_value(const unsigned char key[32], const char *token_id,
		    int64_t now, char out[DEVICE_COOKIE_MAX])
{
	char mac[44];
	int64_t expiry = now + DEVICE_COOKIE_TTL;
	enum sa_err rc;

	if ((rc = otp_device_mac(key, token_id, expiry, mac)) != SA_OK)
		return rc;
	snprintf(out, DEVICE_COOKIE_MAX, "v1.%lld.%s", (long long)expiry, mac);
	return SA_OK;
}

enum sa_err
device_cookie_set_header(const unsigned char key[32], const char *token_id,
			 int64_t now, int secure, char *out, size_t outlen)
{
	char v[DEVICE_COOKIE_MAX];
	enum sa_err rc;
	int n;

	if ((rc = device_cookie_value(key, token_id, now, v)) != SA_OK)
		return rc;
	n = snprintf(out, outlen,
		     DEVICE_COOKIE_NAME "=%s; Path=/auth; Max-Age=%d; "
					"HttpOnly; SameSite=Strict%s",
		     v, DEVICE_COOKIE_TTL, secure ? "; Secure" : "");
	return n > 0 && (size_t)n < outlen ? SA_OK : SA_ERR_INTERNAL;
}

/* value_recognises checks one cookie value of n bytes against token_id. */
static int
value_recognises(const unsigned char key[32], const char *v, size_t n,
		 const char *token_id, int64_t now)
{
	char text[DEVICE_COOKIE_MAX], want[44], *dot, *end;
	long long expiry;

	if (n < 4 || n >= sizeof(text) || memcmp(v, "v1.", 3) != 0)
		return 0;
	memcpy(text, v, n);
	text[n] = '\0';
	if ((dot = strchr(text + 3, '.')) == NULL || dot == text + 3)
		return 0;
	*dot = '\0';
	errno = 0;
	expiry = strtoll(text + 3, &end, 10);
	if (*end != '\0' || errno != 0 || expiry <= now ||
	    expiry > now + DEVICE_COOKIE_TTL)
		return 0;
	if (strlen(dot + 1) != 43 ||
	    otp_device_mac(key, token_id, (int64_t)expiry, want) != SA_OK)
		return 0;
	return ct_equal(want, dot + 1, 43);
}

int
device_cookie_recognises(const unsigned char key[32], const char *header,
			 const char *token_id, int64_t now)
{
	static const char name[] = DEVICE_COOKIE_NAME "=";
	const char *p = header;

	if (header == NULL || strlen(header) > DEVICE_HEADER_MAX)
		return 0;
	/* "a=1; sa_device=v1....; b=2": pairs split by ';', spaces around. */
	while (*p != '\0') {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > sizeof(name) - 1 &&
		    memcmp(p, name, sizeof(name) - 1) == 0 &&
		    value_recognises(key, p + sizeof(name) - 1,
				     n - (sizeof(name) - 1), token_id, now))
			return 1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}
