/*
 * keys.h - the token signing keys: one active key that signs, the keys that
 * are published in the JWKS, and their rotation.
 *
 * Two sources. With SERVER_PRIVATE_KEY_PATH the key is one PEM file managed
 * outside sealauth. Otherwise (the embedded default) a key ring lives in
 * DATA_DIR/keys: ring.json lists every published key with its state and one
 * <kid>.pem file holds each private key (mode 0600, directory 0700).
 *
 * Rotation keeps two promises (SPEC §5): a new key is published before it
 * signs (it is "next" until activate_at), and a retired key stays published
 * until the last token it signed has expired (retired_at + jwt_ttl + slack),
 * then it is dropped from the JWKS, the ring and the disk.
 *
 * Every function taking a time takes it explicitly ("now", unix seconds) and
 * applies the transitions due at that time first. All functions are
 * thread-safe; keys handed out are references, so no lock is held while a
 * caller signs or verifies.
 */
#ifndef SEALAUTH_KEYS_H
#define SEALAUTH_KEYS_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/errors.h"
#include "crypto/jwk.h"

#define KEYS_MAX 16	     /* published keys in one ring */
#define KEYS_RETIRE_SLACK 60 /* seconds published beyond the last token */
#define KEYS_PUBLISH_DELAY_MAX 2592000 /* 30 days */
#define KEYS_RING_MAX 65536	       /* bytes of ring.json */

enum keys_state {
	KEYS_NEXT = 0,	  /* published, signs from activate_at */
	KEYS_ACTIVE = 1,  /* published, signs */
	KEYS_RETIRED = 2, /* published until retired_at + jwt_ttl + slack */
};

struct keys_config {
	const char *data_dir; /* the ring lives in DATA_DIR/keys */
	const char
	    *private_key_path; /* SERVER_PRIVATE_KEY_PATH; NULL or "": ring */
	int64_t jwt_ttl;       /* seconds an issued token lives, > 0 */
	int64_t publish_delay; /* seconds a rotated-in key waits, >= 0 */
	FILE *err;	       /* refusals are explained here; NULL: the log */
};

struct keys;

/*
 * keys_open loads the signing keys as cfg says (cfg is copied). With a
 * private key path, the file must be a P-256 key in PKCS#8 or SEC1 PEM that
 * neither group nor others may access; its text is wiped once parsed. Without
 * one, DATA_DIR/keys is created (0700) and on first start a key is
 * generated and written. The caller frees *out with keys_close.
 */
enum sa_err keys_open(const struct keys_config *cfg, struct keys **out);

/* keys_close frees the ring and every key it holds; NULL is fine. */
void keys_close(struct keys *k);

/* keys_external tells whether the key comes from SERVER_PRIVATE_KEY_PATH. */
int keys_external(const struct keys *k);

/*
 * keys_signing_key gives the key that signs at now: *key is a new reference
 * the caller frees with EVP_PKEY_free, kid its key id. SA_ERR_UNAVAILABLE if
 * no key may sign at now.
 */
enum sa_err keys_signing_key(struct keys *k, int64_t now, EVP_PKEY **key,
			     char kid[JWK_KID_LEN]);

/*
 * keys_find gives the published key named kid at now as a new reference
 * (caller frees), for verification; SA_ERR_NOT_FOUND if none.
 */
enum sa_err keys_find(struct keys *k, const char *kid, int64_t now,
		      EVP_PKEY **out);

/* keys_jwt_lookup adapts keys_find to jwt_verify_es256 (arg: struct keys). */
EVP_PKEY *keys_jwt_lookup(void *arg, const char *kid, int64_t now);

/*
 * keys_jwks_json returns {"keys":[JWK...]} of every key published at now
 * (next, active and retired-but-live). The caller owns the reference; NULL
 * when out of memory.
 */
json_t *keys_jwks_json(struct keys *k, int64_t now);

/*
 * keys_list_json returns an array describing every key at now: kid, state,
 * created_at, activate_at, retired_at (done or scheduled, else null) and
 * unpublish_at (else null), all unix seconds. The caller owns it.
 */
json_t *keys_list_json(struct keys *k, int64_t now);

/*
 * keys_rotate generates a key and adds it as "next", signing from
 * now + publish_delay (with a delay of 0 it is active at once). The active
 * key retires when it activates. The ring is re-read first if another
 * process changed it, and written atomically. kid (may be NULL) receives the
 * new key id. SA_ERR_FORBIDDEN with an external key, SA_ERR_CONFLICT when
 * KEYS_MAX keys are already published.
 */
enum sa_err keys_rotate(struct keys *k, int64_t now, char kid[JWK_KID_LEN]);

/*
 * keys_reload re-reads ring.json if it changed on disk (inode, size or
 * mtime) since this process last read or wrote it, so that a rotation made
 * by `sealauth keys rotate` reaches a running server. Cheap when nothing
 * changed (one stat); on error the keys in memory stay as they were.
 */
enum sa_err keys_reload(struct keys *k);

/*
 * keys_load_private_file reads a private key file as the key ring does: a
 * regular file neither group nor others may access, at most 8 KiB of
 * unencrypted PEM, wiped once parsed; a P-256 key, or with allow_rsa also
 * an RSA key of at least 2048 bits. Refusals are explained on err (NULL:
 * the log). The caller owns *out.
 */
enum sa_err keys_load_private_file(const char *path, int allow_rsa, FILE *err,
				   EVP_PKEY **out);

/* keys_say explains a refusal about a key to err ("sealauth: ..."), or to
 * the log when err is NULL. */
void keys_say(FILE *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* keys_state_name maps a state to "next", "active" or "retired". */
const char *keys_state_name(enum keys_state s);

#endif
