/*
 * keys.c - the signing key ring.
 *
 * Concurrency. Threads share one struct keys behind a mutex that is held
 * only to read or change the entries, never while signing. Processes (the
 * server and `sealauth keys rotate`) share ring.json: every writer takes an
 * exclusive flock on ring.lock, re-reads ring.json if it changed since it
 * last saw it, applies its change and writes the file atomically, so no
 * writer overwrites a change it has not seen.
 *
 * State transitions are a pure function of the entries and the time, so any
 * process applying them reaches the same ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "crypto/ecdsa.h"
#include "crypto/keys.h"
#include "core/log.h"
#include "core/util.h"

struct keys_entry {
	char kid[JWK_KID_LEN];
	enum keys_state state;
	int64_t created_at;
	int64_t activate_at;
	int64_t retired_at; /* meaningful only when retired */
	EVP_PKEY *pkey;	    /* owned */
};

/* What identifies one version of ring.json on disk. */
struct ring_stamp {
	int valid;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

struct keys {
	pthread_mutex_t mu;
	int external;
	char *dir; /* DATA_DIR/keys; NULL when external */
	char *ring_path;
	char *lock_path;
	int64_t jwt_ttl;
	int64_t publish_delay;
	FILE *err;
	struct keys_entry e[KEYS_MAX];
	size_t n;
	struct ring_stamp stamp; /* the version our entries came from */
};

void
keys_say(FILE *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err != NULL)
		fprintf(err, "sealauth: %s\n", msg);
	else
		log_error("keys", "%s", msg);
}

const char *
keys_state_name(enum keys_state s)
{
	switch (s) {
	case KEYS_NEXT:
		return "next";
	case KEYS_ACTIVE:
		return "active";
	case KEYS_RETIRED:
		return "retired";
	}
	return "unknown";
}

static int
state_parse(const char *s, enum keys_state *out)
{
	if (strcmp(s, "next") == 0)
		*out = KEYS_NEXT;
	else if (strcmp(s, "active") == 0)
		*out = KEYS_ACTIVE;
	else if (strcmp(s, "retired") == 0)
		*out = KEYS_RETIRED;
	else
		return 0;
	return 1;
}

/* kid_valid accepts exactly what jwk_thumbprint produces: 43 base64url. */
static int
kid_valid(const char *kid)
{
	size_t n = strlen(kid);

	if (n != JWK_KID_LEN - 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = kid[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/*
 * rsa_or_p256_from_pem parses an unencrypted PEM private key that is either
 * P-256 or RSA of at least 2048 bits (SAML's rsa-sha256 key).
 */
static enum sa_err
rsa_or_p256_from_pem(const char *pem, size_t n, EVP_PKEY **out)
{
	BIO *b = BIO_new_mem_buf(pem, (int)n);
	EVP_PKEY *k = NULL;
	enum sa_err rc = SA_ERR_VALIDATION;

	if (b == NULL)
		return SA_ERR_NOMEM;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k != NULL && ((EVP_PKEY_base_id(k) == EVP_PKEY_RSA &&
			   EVP_PKEY_get_bits(k) >= 2048) ||
			  ecdsa_is_p256(k))) {
		*out = k;
		return SA_OK;
	}
	EVP_PKEY_free(k);
	return rc;
}

/*
 * load_private_file reads a PEM private key file that only its owner may
 * access and parses it as a P-256 key (or, with allow_rsa, as P-256 or RSA
 * of at least 2048 bits). The text read is wiped before returning; the
 * caller owns *out.
 */
static enum sa_err
load_private_file(const char *path, int allow_rsa, FILE *err, EVP_PKEY **out)
{
	char pem[ECDSA_PEM_MAX + 1];
	size_t len = 0;
	struct stat st;
	enum sa_err rc = SA_ERR_CONFIG;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		keys_say(err, "cannot open signing key %s: %s", path,
			 strerror(errno));
		return SA_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		keys_say(err, "signing key %s is not a regular file", path);
		goto out;
	}
	/* A private key others can read is a private key others have. */
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		keys_say(err,
			 "signing key %s is accessible by group or others "
			 "(mode %04o); refusing it: run chmod 600 %s",
			 path, (unsigned int)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > ECDSA_PEM_MAX) {
		keys_say(err, "signing key %s is larger than %d bytes", path,
			 ECDSA_PEM_MAX);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, pem + len, sizeof(pem) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = SA_ERR_IO;
			keys_say(err, "cannot read signing key %s: %s", path,
				 strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == sizeof(pem) - 1) {
			keys_say(err, "signing key %s is larger than %d bytes",
				 path, ECDSA_PEM_MAX);
			goto out;
		}
	}
	if ((allow_rsa ? rsa_or_p256_from_pem(pem, len, out)
		       : ecdsa_privkey_from_pem(pem, len, out)) != SA_OK) {
		keys_say(err,
			 "signing key %s is not an unencrypted ECDSA P-256 "
			 "%sprivate key in PEM",
			 path, allow_rsa ? "or RSA (2048 bits or more) " : "");
		goto out;
	}
	rc = SA_OK;
out:
	OPENSSL_cleanse(pem, sizeof(pem));
	close(fd);
	return rc;
}

/* join_path returns "dir/name" in a new string, or NULL. */
static char *
join_path(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p;

	if (dl + 1 + nl + 1 > PATH_MAX || (p = malloc(dl + 1 + nl + 1)) == NULL)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	return p;
}

/* key_path returns "DIR/<kid>.pem" in a new string, or NULL. */
static char *
key_path(const struct keys *k, const char *kid)
{
	char name[JWK_KID_LEN + 8];

	snprintf(name, sizeof(name), "%.*s.pem", JWK_KID_LEN - 1, kid);
	return join_path(k->dir, name);
}

static void
entries_free(struct keys_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY_free(v[i].pkey);
		v[i].pkey = NULL;
	}
}

static int
stamp_equal(const struct ring_stamp *a, const struct ring_stamp *b)
{
	return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	       a->mtim.tv_nsec == b->mtim.tv_nsec;
}

/* stamp_read records the current version of ring.json; 0 if absent. */
static int
stamp_read(const char *path, struct ring_stamp *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) != 0)
		return 0;
	s->valid = 1;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtim = st.st_mtim;
	return 1;
}

/*
 * ring_parse reads the entries of ring.json (without their keys) into v.
 * Every field is checked: this file decides which keys are trusted.
 */
static enum sa_err
ring_parse(const unsigned char *text, size_t len, struct keys_entry *v,
	   size_t *count)
{
	json_t *root = NULL, *arr = NULL, *it;
	json_error_t jerr;
	json_int_t version = 0;
	size_t i, n = 0;
	enum sa_err rc = SA_ERR_CONFIG;

	root =
	    json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL ||
	    json_unpack(root, "{s:I, s:o !}", "version", &version, "keys",
			&arr) != 0 ||
	    version != 1 || !json_is_array(arr) ||
	    json_array_size(arr) > KEYS_MAX)
		goto out;
	json_array_foreach(arr, i, it)
	{
		const char *kid, *file, *state;
		json_int_t created, activate;
		json_t *retired = NULL;
		char want[JWK_KID_LEN + 8];

		if (json_unpack(it, "{s:s, s:s, s:s, s:I, s:I, s?o !}", "kid",
				&kid, "file", &file, "state", &state,
				"created_at", &created, "activate_at",
				&activate, "retired_at", &retired) != 0)
			goto out;
		/* The file name is derived, never taken as a path. */
		snprintf(want, sizeof(want), "%.*s.pem", JWK_KID_LEN - 1, kid);
		if (!kid_valid(kid) || strcmp(file, want) != 0)
			goto out;
		memset(&v[n], 0, sizeof(v[n]));
		memcpy(v[n].kid, kid, JWK_KID_LEN);
		if (!state_parse(state, &v[n].state))
			goto out;
		v[n].created_at = created;
		v[n].activate_at = activate;
		if (v[n].state == KEYS_RETIRED) {
			if (!json_is_integer(retired))
				goto out;
			v[n].retired_at = json_integer_value(retired);
		} else if (retired != NULL && !json_is_null(retired)) {
			goto out;
		}
		for (size_t j = 0; j < n; j++)
			if (strcmp(v[j].kid, kid) == 0)
				goto out;
		n++;
	}
	*count = n;
	rc = SA_OK;
out:
	json_decref(root);
	return rc;
}

/*
 * ring_load reads ring.json and the key of each entry, reusing keys
 * already in memory, and replaces the entries on success. The stamp is taken
 * before reading, so a change racing the read is seen by the next reload.
 */
static enum sa_err
ring_load(struct keys *k)
{
	struct keys_entry v[KEYS_MAX];
	struct ring_stamp st;
	unsigned char *text = NULL;
	size_t len = 0, n = 0, i;
	enum sa_err rc;

	if (!stamp_read(k->ring_path, &st))
		return SA_ERR_IO;
	if ((rc = read_file(k->ring_path, KEYS_RING_MAX, &text, &len)) !=
	    SA_OK) {
		keys_say(k->err, "cannot read %s: %s", k->ring_path,
			 sa_err_str(rc));
		return rc;
	}
	rc = ring_parse(text, len, v, &n);
	free(text);
	if (rc != SA_OK) {
		keys_say(k->err, "%s is not a valid key ring", k->ring_path);
		return rc;
	}
	for (i = 0; i < n; i++) {
		for (size_t j = 0; j < k->n; j++) {
			if (strcmp(k->e[j].kid, v[i].kid) == 0 &&
			    EVP_PKEY_up_ref(k->e[j].pkey) == 1) {
				v[i].pkey = k->e[j].pkey;
				break;
			}
		}
		if (v[i].pkey == NULL) {
			char kid[JWK_KID_LEN];
			char *path = key_path(k, v[i].kid);
			if (path == NULL) {
				rc = SA_ERR_NOMEM;
				goto fail;
			}
			rc = load_private_file(path, 0, k->err, &v[i].pkey);
			free(path);
			if (rc != SA_OK)
				goto fail;
			/* The kid names the key: a swapped file is refused. */
			if (jwk_thumbprint(v[i].pkey, kid) != SA_OK ||
			    strcmp(kid, v[i].kid) != 0) {
				keys_say(k->err,
					 "key file %s.pem does not hold the "
					 "key its name says",
					 v[i].kid);
				i++;
				rc = SA_ERR_CONFIG;
				goto fail;
			}
		}
	}
	entries_free(k->e, k->n);
	memcpy(k->e, v, n * sizeof(v[0]));
	k->n = n;
	k->stamp = st;
	return SA_OK;
fail:
	entries_free(v, i);
	return rc;
}

/* ring_write writes the entries to ring.json atomically (mode 0600). */
static enum sa_err
ring_write(struct keys *k)
{
	json_t *root = NULL, *arr;
	char *text = NULL;
	size_t textlen;
	enum sa_err rc = SA_ERR_NOMEM;

	if ((arr = json_array()) == NULL)
		return SA_ERR_NOMEM;
	root = json_pack("{s:i, s:o}", "version", 1, "keys", arr);
	if (root == NULL)
		goto out;
	for (size_t i = 0; i < k->n; i++) {
		const struct keys_entry *e = &k->e[i];
		char file[JWK_KID_LEN + 8];
		json_t *o;

		snprintf(file, sizeof(file), "%.*s.pem", JWK_KID_LEN - 1,
			 e->kid);
		o = json_pack(
		    "{s:s, s:s, s:s, s:I, s:I, s:o}", "kid", e->kid, "file",
		    file, "state", keys_state_name(e->state), "created_at",
		    (json_int_t)e->created_at, "activate_at",
		    (json_int_t)e->activate_at, "retired_at",
		    e->state == KEYS_RETIRED ? json_integer(e->retired_at)
					     : json_null());
		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto out;
	}
	if ((text = json_dumps(root, JSON_INDENT(2))) == NULL)
		goto out;
	/* Written with a final newline in place of the NUL. */
	textlen = strlen(text);
	text[textlen] = '\n';
	rc = write_file_atomic(k->ring_path, text, textlen + 1, 0600);
	if (rc != SA_OK) {
		keys_say(k->err, "cannot write %s: %s", k->ring_path,
			 sa_err_str(rc));
		goto out;
	}
	stamp_read(k->ring_path, &k->stamp);
out:
	free(text);
	json_decref(root);
	return rc;
}

/* ring_lock takes the cross-process writer lock; returns its fd or -1. */
static int
ring_lock(struct keys *k)
{
	int fd = open(k->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		keys_say(k->err, "cannot open %s: %s", k->lock_path,
			 strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void
ring_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* ring_refresh re-reads ring.json if it is not the version we hold. */
static enum sa_err
ring_refresh(struct keys *k)
{
	struct ring_stamp st;

	if (!stamp_read(k->ring_path, &st))
		return k->n > 0 ? SA_OK : SA_ERR_IO;
	if (stamp_equal(&st, &k->stamp))
		return SA_OK;
	return ring_load(k);
}

/* eligible: the key may sign at now (before superseding is applied). */
static int
eligible(const struct keys_entry *e, int64_t now)
{
	return e->state == KEYS_ACTIVE ||
	       (e->state == KEYS_NEXT && e->activate_at <= now);
}

/* unpublish_at is when a retired key leaves the JWKS. */
static int64_t
unpublish_at(const struct keys *k, const struct keys_entry *e)
{
	return e->retired_at + k->jwt_ttl + KEYS_RETIRE_SLACK;
}

/*
 * apply_due applies the transitions due at now: of the keys that may sign,
 * the one activated last becomes active and the others retire at the moment
 * their successor activated; retired keys whose last token has expired are
 * moved out of the ring into dropped (the caller frees them). Returns
 * whether anything changed.
 */
static int
apply_due(struct keys *k, int64_t now, struct keys_entry *dropped,
	  size_t *ndropped)
{
	int elig[KEYS_MAX];
	int changed = 0;
	size_t best = SIZE_MAX, i, j, n = 0;

	for (i = 0; i < k->n; i++) {
		elig[i] = eligible(&k->e[i], now);
		/* Ties go to the later entry: the newer key. */
		if (elig[i] && (best == SIZE_MAX ||
				k->e[i].activate_at >= k->e[best].activate_at))
			best = i;
	}
	for (i = 0; best != SIZE_MAX && i < k->n; i++) {
		int64_t succ;
		if (!elig[i] || i == best)
			continue;
		/* Retired when the first key activated after it did. */
		succ = k->e[best].activate_at;
		for (j = 0; j < k->n; j++) {
			if (!elig[j] || j == i)
				continue;
			if ((k->e[j].activate_at > k->e[i].activate_at ||
			     (k->e[j].activate_at == k->e[i].activate_at &&
			      j > i)) &&
			    k->e[j].activate_at < succ)
				succ = k->e[j].activate_at;
		}
		k->e[i].state = KEYS_RETIRED;
		k->e[i].retired_at = succ;
		changed = 1;
	}
	if (best != SIZE_MAX && k->e[best].state != KEYS_ACTIVE) {
		k->e[best].state = KEYS_ACTIVE;
		changed = 1;
	}
	for (i = 0; i < k->n; i++) {
		if (k->e[i].state == KEYS_RETIRED &&
		    unpublish_at(k, &k->e[i]) <= now) {
			dropped[(*ndropped)++] = k->e[i];
			changed = 1;
			continue;
		}
		k->e[n++] = k->e[i];
	}
	k->n = n;
	return changed;
}

/* due tells whether apply_due would change anything at now. */
static int
due(const struct keys *k, int64_t now)
{
	size_t active = 0;

	for (size_t i = 0; i < k->n; i++) {
		const struct keys_entry *e = &k->e[i];
		if (e->state == KEYS_ACTIVE)
			active++;
		if ((e->state == KEYS_NEXT && e->activate_at <= now) ||
		    (e->state == KEYS_RETIRED && unpublish_at(k, e) <= now))
			return 1;
	}
	return active > 1;
}

/*
 * finish_dropped frees the keys apply_due dropped. Their files are removed
 * only once a ring without them is on disk (persisted), since a ring that
 * names a missing file cannot be loaded.
 */
static void
finish_dropped(struct keys *k, struct keys_entry *dropped, size_t n,
	       int persisted)
{
	for (size_t i = 0; persisted && i < n; i++) {
		char *path = key_path(k, dropped[i].kid);
		if (path != NULL && unlink(path) != 0 && errno != ENOENT)
			log_warn("keys", "cannot remove %s: %s", path,
				 strerror(errno));
		free(path);
		log_info("keys.unpublish", "key %s left the JWKS",
			 dropped[i].kid);
	}
	entries_free(dropped, n);
}

/*
 * sync_locked applies the transitions due at now (mutex held). In the ring
 * they are applied under the file lock to the newest ring.json and written
 * back; if that fails the transitions still apply in memory, so signing
 * goes on and the next writer persists them.
 */
static void
sync_locked(struct keys *k, int64_t now)
{
	struct keys_entry dropped[KEYS_MAX];
	size_t ndropped = 0;
	int fd = -1, persisted = 0;

	if (!due(k, now))
		return;
	if (!k->external) {
		fd = ring_lock(k);
		/* A ring on disk we cannot read is left for an operator to
		 * see, not overwritten with ours. */
		if (fd >= 0 && ring_refresh(k) != SA_OK) {
			ring_unlock(fd);
			fd = -1;
		}
	}
	if (apply_due(k, now, dropped, &ndropped) && fd >= 0)
		persisted = ring_write(k) == SA_OK;
	ring_unlock(fd);
	finish_dropped(k, dropped, ndropped, persisted);
}

/*
 * new_key_file generates a key, writes it to DIR/<kid>.pem (0600) and
 * fills entry e (owning the key) on success.
 */
static enum sa_err
new_key_file(struct keys *k, int64_t now, int64_t activate_at,
	     enum keys_state state, struct keys_entry *e)
{
	EVP_PKEY *key = NULL;
	char *pem = NULL, *path = NULL;
	size_t pemlen = 0;
	char kid[JWK_KID_LEN];
	enum sa_err rc;

	if ((rc = ecdsa_generate_p256(&key)) != SA_OK ||
	    (rc = jwk_thumbprint(key, kid)) != SA_OK ||
	    (rc = ecdsa_privkey_to_pem(key, &pem, &pemlen)) != SA_OK)
		goto out;
	if ((path = key_path(k, kid)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = write_file_atomic(path, pem, pemlen, 0600)) != SA_OK) {
		keys_say(k->err, "cannot write %s: %s", path, sa_err_str(rc));
		goto out;
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->kid, kid, JWK_KID_LEN);
	e->state = state;
	e->created_at = now;
	e->activate_at = activate_at;
	e->pkey = key;
	key = NULL;
out:
	if (pem != NULL) {
		OPENSSL_cleanse(pem, pemlen);
		free(pem);
	}
	free(path);
	EVP_PKEY_free(key);
	return rc;
}

/* open_ring prepares DATA_DIR/keys and loads or creates the ring. */
static enum sa_err
open_ring(struct keys *k, const char *data_dir)
{
	struct stat st;
	enum sa_err rc;
	int fd = -1, has_signer = 0;

	if ((k->dir = join_path(data_dir, "keys")) == NULL ||
	    (k->ring_path = join_path(k->dir, "ring.json")) == NULL ||
	    (k->lock_path = join_path(k->dir, "ring.lock")) == NULL)
		return SA_ERR_NOMEM;
	if (mkdir_p(k->dir, 0700) != SA_OK || stat(k->dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		keys_say(k->err, "cannot create key directory %s", k->dir);
		return SA_ERR_IO;
	}
	/* Only the owner may list or reach the keys. */
	if ((st.st_mode & 07777) != 0700 && chmod(k->dir, 0700) != 0) {
		keys_say(k->err, "cannot restrict %s to mode 0700: %s", k->dir,
			 strerror(errno));
		return SA_ERR_IO;
	}
	if ((fd = ring_lock(k)) < 0)
		return SA_ERR_IO;
	if (access(k->ring_path, F_OK) == 0 && (rc = ring_load(k)) != SA_OK)
		goto out;
	for (size_t i = 0; i < k->n; i++)
		if (k->e[i].state != KEYS_RETIRED)
			has_signer = 1;
	if (!has_signer) {
		int64_t now = now_unix();
		if (k->n >= KEYS_MAX) {
			rc = SA_ERR_CONFLICT;
			goto out;
		}
		if ((rc = new_key_file(k, now, now, KEYS_ACTIVE,
				       &k->e[k->n])) != SA_OK)
			goto out;
		k->n++;
		if ((rc = ring_write(k)) != SA_OK)
			goto out;
		log_info("keys.generate", "generated signing key %s in %s",
			 k->e[k->n - 1].kid, k->dir);
	}
	rc = SA_OK;
out:
	ring_unlock(fd);
	return rc;
}

enum sa_err
keys_open(const struct keys_config *cfg, struct keys **out)
{
	struct keys *k = NULL;
	enum sa_err rc = SA_ERR_CONFIG;

	if (cfg == NULL || cfg->jwt_ttl <= 0 || cfg->jwt_ttl > 86400 * 30 ||
	    cfg->publish_delay < 0 ||
	    cfg->publish_delay > KEYS_PUBLISH_DELAY_MAX)
		return SA_ERR_CONFIG;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return SA_ERR_NOMEM;
	if (pthread_mutex_init(&k->mu, NULL) != 0) {
		free(k);
		return SA_ERR_INTERNAL;
	}
	k->jwt_ttl = cfg->jwt_ttl;
	k->publish_delay = cfg->publish_delay;
	k->err = cfg->err;
	if (cfg->private_key_path != NULL && cfg->private_key_path[0] != '\0') {
		k->external = 1;
		rc = load_private_file(cfg->private_key_path, 0, k->err,
				       &k->e[0].pkey);
		if (rc != SA_OK)
			goto out;
		if ((rc = jwk_thumbprint(k->e[0].pkey, k->e[0].kid)) != SA_OK)
			goto out;
		k->e[0].state = KEYS_ACTIVE;
		k->n = 1;
	} else {
		if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0') {
			keys_say(k->err, "no data directory for the key ring");
			goto out;
		}
		if ((rc = open_ring(k, cfg->data_dir)) != SA_OK)
			goto out;
	}
	*out = k;
	k = NULL;
	rc = SA_OK;
out:
	keys_close(k);
	return rc;
}

void
keys_close(struct keys *k)
{
	if (k == NULL)
		return;
	entries_free(k->e, k->n);
	pthread_mutex_destroy(&k->mu);
	free(k->dir);
	free(k->ring_path);
	free(k->lock_path);
	free(k);
}

int
keys_external(const struct keys *k)
{
	return k->external;
}

enum sa_err
keys_signing_key(struct keys *k, int64_t now, EVP_PKEY **key,
		 char kid[JWK_KID_LEN])
{
	enum sa_err rc = SA_ERR_UNAVAILABLE;

	pthread_mutex_lock(&k->mu);
	sync_locked(k, now);
	for (size_t i = 0; i < k->n; i++) {
		if (k->e[i].state != KEYS_ACTIVE)
			continue;
		if (EVP_PKEY_up_ref(k->e[i].pkey) != 1) {
			rc = SA_ERR_INTERNAL;
			break;
		}
		*key = k->e[i].pkey;
		memcpy(kid, k->e[i].kid, JWK_KID_LEN);
		rc = SA_OK;
		break;
	}
	pthread_mutex_unlock(&k->mu);
	return rc;
}

enum sa_err
keys_find(struct keys *k, const char *kid, int64_t now, EVP_PKEY **out)
{
	enum sa_err rc = SA_ERR_NOT_FOUND;

	if (kid == NULL)
		return SA_ERR_NOT_FOUND;
	pthread_mutex_lock(&k->mu);
	sync_locked(k, now);
	for (size_t i = 0; i < k->n; i++) {
		if (strcmp(k->e[i].kid, kid) != 0)
			continue;
		if (EVP_PKEY_up_ref(k->e[i].pkey) == 1) {
			*out = k->e[i].pkey;
			rc = SA_OK;
		} else {
			rc = SA_ERR_INTERNAL;
		}
		break;
	}
	pthread_mutex_unlock(&k->mu);
	return rc;
}

EVP_PKEY *
keys_jwt_lookup(void *arg, const char *kid, int64_t now)
{
	EVP_PKEY *key = NULL;

	if (keys_find(arg, kid, now, &key) != SA_OK)
		return NULL;
	return key;
}

json_t *
keys_jwks_json(struct keys *k, int64_t now)
{
	json_t *arr = json_array(), *jwks = NULL;

	if (arr == NULL)
		return NULL;
	pthread_mutex_lock(&k->mu);
	sync_locked(k, now);
	for (size_t i = 0; i < k->n; i++) {
		json_t *jwk = jwk_public_json(k->e[i].pkey);
		if (jwk == NULL || json_array_append_new(arr, jwk) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&k->mu);
	if (arr != NULL)
		jwks = json_pack("{s:o}", "keys", arr);
	return jwks;
}

/* time_or_null is a JSON integer, or null for a time that does not apply. */
static json_t *
time_or_null(int64_t t, int set)
{
	return set ? json_integer(t) : json_null();
}

json_t *
keys_list_json(struct keys *k, int64_t now)
{
	json_t *arr = json_array();
	int64_t next_at = 0;
	int has_next = 0;

	if (arr == NULL)
		return NULL;
	pthread_mutex_lock(&k->mu);
	sync_locked(k, now);
	for (size_t i = 0; i < k->n; i++)
		if (k->e[i].state == KEYS_NEXT &&
		    (!has_next || k->e[i].activate_at < next_at)) {
			next_at = k->e[i].activate_at;
			has_next = 1;
		}
	for (size_t i = 0; i < k->n; i++) {
		const struct keys_entry *e = &k->e[i];
		/* The active key retires when the first next key activates. */
		int retires = e->state == KEYS_RETIRED ||
			      (e->state == KEYS_ACTIVE && has_next);
		int64_t ret =
		    e->state == KEYS_RETIRED ? e->retired_at : next_at;
		/* An external key has no history we know of. */
		json_t *o = json_pack(
		    "{s:s, s:s, s:o, s:o, s:o, s:o}", "kid", e->kid, "state",
		    keys_state_name(e->state), "created_at",
		    time_or_null(e->created_at, !k->external), "activate_at",
		    time_or_null(e->activate_at, !k->external), "retired_at",
		    time_or_null(ret, retires), "unpublish_at",
		    time_or_null(ret + k->jwt_ttl + KEYS_RETIRE_SLACK,
				 retires));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&k->mu);
	return arr;
}

enum sa_err
keys_rotate(struct keys *k, int64_t now, char kid[JWK_KID_LEN])
{
	struct keys_entry dropped[KEYS_MAX], saved[KEYS_MAX], added;
	size_t ndropped = 0, nsaved = 0;
	enum sa_err rc;
	int fd = -1, persisted = 0;

	if (k->external) {
		keys_say(k->err,
			 "the signing key comes from SERVER_PRIVATE_KEY_PATH "
			 "and is managed outside sealauth; rotate it there");
		return SA_ERR_FORBIDDEN;
	}
	pthread_mutex_lock(&k->mu);
	if ((fd = ring_lock(k)) < 0) {
		rc = SA_ERR_IO;
		goto out;
	}
	if ((rc = ring_refresh(k)) != SA_OK)
		goto out;
	/* Kept to undo everything below if the ring cannot be written. */
	memcpy(saved, k->e, k->n * sizeof(k->e[0]));
	nsaved = k->n;
	apply_due(k, now, dropped, &ndropped);
	if (k->n >= KEYS_MAX) {
		keys_say(k->err,
			 "%d keys are already published; wait for retired "
			 "keys to expire",
			 KEYS_MAX);
		rc = SA_ERR_CONFLICT;
		goto undo;
	}
	/* The key file exists before ring.json names it. */
	rc = new_key_file(k, now, now + k->publish_delay, KEYS_NEXT, &added);
	if (rc != SA_OK)
		goto undo;
	k->e[k->n++] = added;
	/* With no delay the new key activates now: published and signing
	 * from the same moment. */
	apply_due(k, now, dropped, &ndropped);
	if ((rc = ring_write(k)) != SA_OK) {
		/* Not published, so it must never sign: forget it. */
		char *path = key_path(k, added.kid);
		if (path != NULL)
			unlink(path);
		free(path);
		EVP_PKEY_free(added.pkey);
		goto undo;
	}
	persisted = 1;
	log_info("keys.rotate", "key %s published, signs from %lld", added.kid,
		 (long long)added.activate_at);
	if (kid != NULL)
		memcpy(kid, added.kid, JWK_KID_LEN);
	rc = SA_OK;
	goto out;
undo:
	/* The dropped keys are back in saved, which owns them again. */
	memcpy(k->e, saved, nsaved * sizeof(k->e[0]));
	k->n = nsaved;
	ndropped = 0;
out:
	ring_unlock(fd);
	finish_dropped(k, dropped, ndropped, persisted);
	pthread_mutex_unlock(&k->mu);
	return rc;
}

enum sa_err
keys_reload(struct keys *k)
{
	struct ring_stamp st;
	enum sa_err rc = SA_OK;

	if (k->external)
		return SA_OK;
	/* One stat outside the lock: the common case is "unchanged". */
	if (!stamp_read(k->ring_path, &st))
		return SA_ERR_IO;
	pthread_mutex_lock(&k->mu);
	if (!stamp_equal(&st, &k->stamp))
		rc = ring_load(k);
	pthread_mutex_unlock(&k->mu);
	return rc;
}

enum sa_err
keys_load_private_file(const char *path, int allow_rsa, FILE *err,
		       EVP_PKEY **out)
{
	return load_private_file(path, allow_rsa, err, out);
}
