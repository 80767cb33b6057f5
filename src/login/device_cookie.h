/*
 * device_cookie.h - recognising the owner's own browser (issue 13, item 7).
 *
 * When a login is approved, the browser that started it may ask for a
 * cookie (POST /auth/remember) that says "this browser completed a login
 * for this token id before". Its value is "v1.{expiry}.{mac}" with mac =
 * otp_device_mac(device key, token id, expiry): it names no token id,
 * cannot be made without the server's key, and proves nothing for another
 * token id. A browser that presents it when it starts a login for that
 * token id is exempt from the quota strangers share (class "push") and
 * from blocks the phone set against an address.
 */
#ifndef SEALAUTH_DEVICE_COOKIE_H
#define SEALAUTH_DEVICE_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

#define DEVICE_COOKIE_NAME "sa_device"
#define DEVICE_COOKIE_TTL (180 * 86400) /* seconds */
#define DEVICE_COOKIE_MAX 96		/* "v1." + 20 digits + "." + 43 */
#define DEVICE_HEADER_MAX 8192		/* longest Cookie header examined */

/* device_cookie_value writes the cookie value for token_id, valid from now
 * for DEVICE_COOKIE_TTL seconds. */
enum sa_err device_cookie_value(const unsigned char key[32],
				const char *token_id, int64_t now,
				char out[DEVICE_COOKIE_MAX]);

/*
 * device_cookie_set_header writes the whole Set-Cookie value: HttpOnly,
 * SameSite=Strict, Path=/auth, Max-Age, and Secure when secure is set
 * (the public URL is https).
 */
enum sa_err device_cookie_set_header(const unsigned char key[32],
				     const char *token_id, int64_t now,
				     int secure, char *out, size_t outlen);

/*
 * device_cookie_recognises tells whether a Cookie request header (NULL:
 * none) holds a sa_device cookie, unexpired at now, made for token_id.
 * Every cookie of that name is tried (a browser may send several); the
 * comparison is constant-time. A header longer than DEVICE_HEADER_MAX is
 * not examined.
 */
int device_cookie_recognises(const unsigned char key[32], const char *header,
			     const char *token_id, int64_t now);

#endif
