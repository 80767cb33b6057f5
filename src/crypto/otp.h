/*
 * otp.h - the login code ("autoPassword") of SPEC §3.2 and the WebSocket
 * token that lets a browser watch its own session.
 */
#ifndef SEALAUTH_OTP_H
#define SEALAUTH_OTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/errors.h"

#define OTP_SECRET_MIN 16 /* bytes; 32 recommended */
#define OTP_SECRET_MAX 1024
#define OTP_DIGITS 6

/*
 * otp_derive computes the six-digit code:
 *   HMAC-SHA256(secret, "sealauth-otp-v1" 0x00 sessionId 0x00 tokenId 0x00
 *               issuedAt as decimal unix seconds)
 * dynamically truncated as in RFC 4226 §5.3 (offset = mac[31] & 0x0f),
 * modulo 10^6, zero-padded. It is deterministic: the same inputs give the
 * same code. A secret shorter than OTP_SECRET_MIN bytes is refused.
 */
enum sa_err otp_derive(const unsigned char *secret, size_t secret_len,
		       const char *session_id, const char *token_id,
		       int64_t issued_at, char out[OTP_DIGITS + 1]);

#define OTP_KEY_LEN 32

/*
 * otp_derive_key derives a key for one purpose from the master secret:
 * HMAC-SHA256(secret, "sealauth-key-v1" 0x00 purpose). Keys of different
 * purposes are independent; each is derived once at start and held by the
 * application, wiped at exit.
 */
enum sa_err otp_derive_key(const unsigned char *secret, size_t secret_len,
			   const char *purpose, unsigned char out[OTP_KEY_LEN]);

/*
 * otp_code_mac writes the hex HMAC-SHA256(key, "sealauth-code-v1" 0x00
 * sessionId 0x00 otp): the only trace of a code that is ever stored. A
 * plain hash of six digits is reversed with a table of a million entries;
 * this MAC cannot be computed, nor its code found, without the key.
 */
enum sa_err otp_code_mac(const unsigned char key[OTP_KEY_LEN],
			 const char *session_id, const char *otp, char out[65]);

/*
 * otp_device_mac computes the proof of a device-recognition cookie:
 * base64url(HMAC-SHA256(key, "sealauth-device-v1" 0x00 tokenId 0x00
 * expiry as decimal unix seconds)), 43 characters; key is the "device" key
 * of otp_derive_key.
 */
enum sa_err otp_device_mac(const unsigned char key[OTP_KEY_LEN],
			   const char *token_id, int64_t expiry, char out[44]);

/*
 * otp_ws_token computes the token a browser presents to open the session's
 * WebSocket: base64url(HMAC-SHA256(secret, "sealauth-ws-v1" 0x00 sessionId
 * 0x00 random)), 43 characters. otp_ws_token_check recomputes it and
 * compares in constant time.
 */
enum sa_err otp_ws_token(const unsigned char *secret, size_t secret_len,
			 const char *session_id, const char *random,
			 char out[44]);
int otp_ws_token_check(const unsigned char *secret, size_t secret_len,
		       const char *session_id, const char *random,
		       const char *token);

/*
 * otp_pairwise_sub derives the subject ("sub") a relying party sees for a
 * person: base64url(HMAC-SHA256(secret, "sealauth-sub-v1" 0x00 sector 0x00
 * authority 0x00 tokenId)), 43 characters. sector names the relying party
 * (a service id, an OpenID Connect client's sector, a SAML SP's entity id);
 * authority is the issuing authority that vouched for the token id ("" when
 * none is known). The same person gets the same subject at one relying party
 * every time and unlinkable subjects at two. The secret is the OTP master
 * secret: changing it changes every pairwise subject.
 */
enum sa_err otp_pairwise_sub(const unsigned char *secret, size_t secret_len,
			     const char *sector, const char *authority,
			     const char *token_id, char out[44]);

#endif
