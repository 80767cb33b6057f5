/*
 * device.h - a phone simulator: a real client of the public API (SPEC §2,
 * §3) that holds a P-256 device key, enrolls a seal, receives UnifiedPush
 * messages on a loopback endpoint and answers them with signed approvals or
 * rejections on POST /auth/verify.
 *
 * The device state lives in one directory: device-key.pem (the private key,
 * mode 0600) and device.json (deviceId, publicKeyPem, createdAt and, once
 * enrolled, server, tokenId, expiresAt and the push target). The private key
 * never leaves that file except as signatures.
 */
#ifndef SEALAUTH_DEVICE_H
#define SEALAUTH_DEVICE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/errors.h"
#include "login/verify_msg.h"

#define DEVICE_KEY_FILE "device-key.pem"
#define DEVICE_INFO_FILE "device.json"
#define DEVICE_INFO_MAX 65536  /* largest device.json read back */
#define DEVICE_PUSH_MAX 16384  /* largest push body accepted */
#define DEVICE_REPLY_MAX 65536 /* largest server answer read */
#define DEVICE_ID_MAX 128      /* deviceId length */
#define DEVICE_SESSION_MAX VERIFY_MSG_SESSION_MAX /* sessionId length */
#define DEVICE_SCOPES_MAX VERIFY_MSG_SCOPES_MAX	  /* scopes in one answer */
#define DEVICE_SCOPE_MAX VERIFY_MSG_SCOPE_MAX	  /* length of one scope */
#define DEVICE_FIELD_MAX 1024	  /* other push fields (origin, UA, ...) */
#define DEVICE_URL_MAX 2048	  /* server URL and push endpoint */
#define DEVICE_FCM_TOKEN_MAX 4096 /* FCM registration token */
#define DEVICE_OTP_LEN 6	  /* the code is six digits */
#define DEVICE_DEFAULT_PORT 8787  /* where `listen` serves by default */
#define DEVICE_QUEUE_MAX 32	  /* pushes waiting to be answered */

/*
 * device_sign_verify signs the verification message (login/verify_msg.h,
 * with a rejection's reason when not NULL) with a P-256 private key (borrowed)
 * and sets *b64sig to the standard base64 of the raw r||s signature (64 bytes),
 * a new string the caller frees.
 */
enum sa_err device_sign_verify(EVP_PKEY *key, const char *session,
			       const char *otp, int64_t ts,
			       const char *decision, const char *const scopes[],
			       size_t n, const char *reason, char **b64sig);

/*
 * device_init creates dir (mode 0700, with parents) holding a new P-256 key
 * and device.json. device_id may be NULL for a random "dev-" id; otherwise
 * it is 1..DEVICE_ID_MAX characters of [A-Za-z0-9._:-]. An existing key is
 * kept (SA_ERR_CONFLICT) unless force is set. Reasons for a refusal are
 * written to err (may be NULL).
 */
enum sa_err device_init(const char *dir, const char *device_id, int force,
			FILE *err);

/* The device state loaded from its directory; opaque. */
struct device;

/*
 * device_open loads the key and device.json from dir and checks that they
 * belong together. The caller owns *out and frees it with device_close,
 * which also wipes the key. Reasons for a refusal are written to err.
 */
enum sa_err device_open(const char *dir, FILE *err, struct device **out);
void device_close(struct device *d);

/* device_info returns device.json as loaded (borrowed; never the key). */
const json_t *device_info(const struct device *d);

/* device_key returns the private key (borrowed, valid until close). */
EVP_PKEY *device_key(const struct device *d);

/*
 * An answer from the server: the HTTP status, the body parsed as JSON (NULL
 * if it was not JSON) and the raw body text (NUL-terminated, never NULL once
 * filled). device_reply_free releases both; the struct may be reused.
 */
struct device_reply {
	long status;
	json_t *json;
	char *text;
};
void device_reply_free(struct device_reply *r);

/*
 * device_enroll posts {vdsData, publicKeyPem, deviceId, pushEndpoint |
 * fcmToken} to {server}/enroll. At most one of push_endpoint and fcm_token
 * is given (both NULL is allowed). On a 200 answer carrying a tokenId the
 * tokenId, expiresAt, server and push target are saved in device.json.
 * Returns SA_OK whenever the server answered (whatever the status, which is
 * in *out; the caller frees it with device_reply_free), an error when the
 * request could not be made or device.json not written.
 */
enum sa_err device_enroll(struct device *d, const char *server,
			  const char *seal, const char *push_endpoint,
			  const char *fcm_token, struct device_reply *out);

/*
 * device_answer posts a signed decision ("approve" or "reject") for a
 * session to {server}/auth/verify, server being NULL for the one saved at
 * enrollment: {sessionId, tokenId, otp, timestamp: now, decision,
 * grantedScopes (sorted), signature}, and reason when not NULL (a
 * rejection's "declined" or "not_me", signed too). Needs an enrolled device
 * (SA_ERR_NOT_ENROLLED). Like device_enroll, SA_OK means the server
 * answered and *out holds its answer.
 */
enum sa_err device_answer(struct device *d, const char *server,
			  const char *session, const char *otp,
			  const char *decision, const char *const scopes[],
			  size_t n, const char *reason, int64_t now,
			  struct device_reply *out);

/*
 * A UnifiedPush endpoint: POST /push on 127.0.0.1, bodies of at most
 * DEVICE_PUSH_MAX bytes holding a JSON object. A valid message is queued and
 * acknowledged with 200 at once; a body that is not JSON or not a valid
 * message gets 400, a larger one 413, a full queue 503. The messages are
 * answered by device_listen_run, not in the HTTP handler.
 */
struct device_listener;

/* device_listener_start listens on 127.0.0.1:port (0: any free port). */
enum sa_err device_listener_start(unsigned int port,
				  struct device_listener **out);
/* device_listener_port tells the port actually bound. */
unsigned int device_listener_port(const struct device_listener *l);
/* device_listener_stop closes the endpoint and drops queued messages. */
void device_listener_stop(struct device_listener *l);

enum device_mode {
	DEVICE_MODE_APPROVE = 1,
	DEVICE_MODE_REJECT = 2,
	DEVICE_MODE_ASK = 3,
	DEVICE_MODE_NOT_ME = 4, /* reject each push: "this wasn't me" */
};

struct device_listen_opts {
	enum device_mode mode;
	const char *server; /* NULL: the one saved at enrollment */
	const char *scopes; /* comma-separated grants; NULL: all requested */
	unsigned int count; /* stop after this many pushes; 0: never */
	unsigned int
	    timeout; /* give up after this many idle seconds; 0: never */
	const char *type_otp;	     /* the code to send when a push has none */
	FILE *out;		     /* the readable blocks */
	FILE *json;		     /* one JSON line per event, or NULL */
	FILE *tty_in;		     /* terminal for questions, or NULL */
	FILE *tty_out;		     /* where the questions are written */
	volatile sig_atomic_t *stop; /* set to end the loop, or NULL */
};

/*
 * device_listen_run takes the pushes the listener queued, one at a time:
 * prints each, decides (by mode, or by asking on the terminal), and answers
 * the server with device_answer. Other message types (a re-enrollment
 * notice) are printed and count as handled. A login push that comes again
 * for a session answered here is noted (event "repeated") and not counted.
 * Returns SA_OK when every answer sent got 200 and the loop ended by count or
 * stop, SA_ERR_TIMEOUT when no push arrived for timeout seconds, SA_ERR_PUSH
 * when an answer failed.
 */
enum sa_err device_listen_run(struct device *d, struct device_listener *l,
			      const struct device_listen_opts *o);

#endif
