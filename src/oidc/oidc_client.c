/*
 * oidc_client.c - OpenID Connect client settings: the "oidc" object of a
 * service record, its validation, client secrets stored as PBKDF2 hashes,
 * and redirect URI matching.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "oidc/oidc_int.h"
#include "oidc/oidc_jwk.h"
#include "core/schema.h"
#include "core/util.h"

#define SECRET_ITERATIONS 20000
#define SECRET_SALT_LEN 16
#define SECRET_HASH_LEN 32
#define SECRET_HASH_MAX 256
#define SECRET_MIN 16 /* characters of a client secret */

static const struct schema_field uri_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, OIDC_URI_MAX, SCHEMA_FMT_NONE);

static const struct schema_field settings_fields[] = {
    SCHEMA_ENUM("clientType", SCHEMA_REQUIRED, "confidential", "public"),
    SCHEMA_ENUM("tokenEndpointAuthMethod", SCHEMA_OPTIONAL,
		"client_secret_basic", "client_secret_post", "private_key_jwt",
		"none"),
    SCHEMA_STRING("secretHash", SCHEMA_OPTIONAL, 1, SECRET_HASH_MAX,
		  SCHEMA_FMT_NONE),
    SCHEMA_OPAQUE_OBJECT("jwks", SCHEMA_OPTIONAL),
    SCHEMA_ARRAY("redirectUris", SCHEMA_REQUIRED | SCHEMA_UNIQUE, 1, 16,
		 &uri_item),
    SCHEMA_ARRAY("postLogoutRedirectUris", SCHEMA_OPTIONAL | SCHEMA_UNIQUE, 0,
		 16, &uri_item),
    SCHEMA_ENUM("subjectType", SCHEMA_OPTIONAL, "pairwise", "public"),
    SCHEMA_STRING("sectorIdentifier", SCHEMA_OPTIONAL, 1, 128,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_INTEGER("accessTokenTtl", SCHEMA_OPTIONAL, 30, 86400),
    SCHEMA_INTEGER("idTokenTtl", SCHEMA_OPTIONAL, 30, 86400),
    SCHEMA_BOOLEAN("refreshTokens", SCHEMA_OPTIONAL),
    SCHEMA_INTEGER("refreshTokenTtl", SCHEMA_OPTIONAL, 60, 31536000),
    SCHEMA_STRING("backchannelLogoutUri", SCHEMA_OPTIONAL, 1, OIDC_URI_MAX,
		  SCHEMA_FMT_NONE),
    SCHEMA_END,
};
static const struct schema settings_schema = {settings_fields, NULL};

/* ---- Secrets ------------------------------------------------------------- */

static enum sa_err
pbkdf2(const char *secret, const unsigned char *salt, size_t saltlen,
       int iterations, unsigned char out[SECRET_HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt,
				 (int)saltlen, iterations, EVP_sha256(),
				 SECRET_HASH_LEN, out) == 1
		   ? SA_OK
		   : SA_ERR_INTERNAL;
}

enum sa_err
oidc_secret_hash(const char *secret, char **out)
{
	unsigned char salt[SECRET_SALT_LEN], h[SECRET_HASH_LEN];
	char *s64 = NULL, *h64 = NULL, *text = NULL;
	enum sa_err rc;

	if (strlen(secret) < SECRET_MIN || strlen(secret) > 512)
		return SA_ERR_VALIDATION;
	if ((rc = rand_bytes(salt, sizeof(salt))) != SA_OK ||
	    (rc = pbkdf2(secret, salt, sizeof(salt), SECRET_ITERATIONS, h)) !=
		SA_OK)
		goto out;
	s64 = b64url_encode(salt, sizeof(salt));
	h64 = b64url_encode(h, sizeof(h));
	rc = SA_ERR_NOMEM;
	if (s64 == NULL || h64 == NULL ||
	    asprintf(&text, "pbkdf2-sha256$%d$%s$%s", SECRET_ITERATIONS, s64,
		     h64) < 0)
		goto out;
	*out = text;
	rc = SA_OK;
out:
	OPENSSL_cleanse(h, sizeof(h));
	free(s64);
	free(h64);
	return rc;
}

/* secret_hash_parse splits a stored hash; 0 when it is malformed. */
static int
secret_hash_parse(const char *hash, int *iterations,
		  unsigned char salt[SECRET_SALT_LEN],
		  unsigned char h[SECRET_HASH_LEN])
{
	char copy[SECRET_HASH_MAX + 1], *it, *s, *d, *end;
	unsigned char *bs = NULL, *bh = NULL;
	size_t ns = 0, nh = 0;
	long v;
	int ok = 0;

	if (strlen(hash) > SECRET_HASH_MAX ||
	    strncmp(hash, "pbkdf2-sha256$", 14) != 0)
		return 0;
	snprintf(copy, sizeof(copy), "%s", hash + 14);
	it = copy;
	if ((s = strchr(it, '$')) == NULL)
		return 0;
	*s++ = '\0';
	if ((d = strchr(s, '$')) == NULL)
		return 0;
	*d++ = '\0';
	v = strtol(it, &end, 10);
	if (*it == '\0' || *end != '\0' || v < 1000 || v > 10000000)
		return 0;
	if (b64url_decode(s, strlen(s), 64, &bs, &ns) == SA_OK &&
	    b64url_decode(d, strlen(d), 64, &bh, &nh) == SA_OK &&
	    ns == SECRET_SALT_LEN && nh == SECRET_HASH_LEN) {
		memcpy(salt, bs, ns);
		memcpy(h, bh, nh);
		*iterations = (int)v;
		ok = 1;
	}
	free(bs);
	free(bh);
	return ok;
}

int
oidc_secret_verify(const char *secret, const char *hash)
{
	unsigned char salt[SECRET_SALT_LEN], want[SECRET_HASH_LEN],
	    got[SECRET_HASH_LEN];
	int iterations = 0, ok;

	if (secret == NULL || hash == NULL ||
	    !secret_hash_parse(hash, &iterations, salt, want) ||
	    strlen(secret) > 512 ||
	    pbkdf2(secret, salt, sizeof(salt), iterations, got) != SA_OK)
		return 0;
	ok = ct_equal(got, want, sizeof(got));
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

/* ---- Redirect URIs --------------------------------------------------------
 */

/*
 * loopback_split tells whether uri is http:// to a loopback address
 * (127.0.0.1, [::1], localhost) and if so points host/hostlen at the host
 * and *rest at what follows the port (the path).
 */
static int
loopback_split(const char *uri, const char **host, size_t *hostlen,
	       const char **rest)
{
	static const char *const hosts[] = {"127.0.0.1", "[::1]", "localhost"};
	const char *p;

	if (strncmp(uri, "http://", 7) != 0)
		return 0;
	p = uri + 7;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(hosts[i]);
		if (strncmp(p, hosts[i], n) != 0 ||
		    (p[n] != ':' && p[n] != '/' && p[n] != '\0'))
			continue;
		*host = p;
		*hostlen = n;
		p += n;
		if (*p == ':') {
			p++;
			if (strspn(p, "0123456789") == 0 ||
			    strspn(p, "0123456789") > 5)
				return 0;
			p += strspn(p, "0123456789");
		}
		if (*p != '/' && *p != '\0')
			return 0;
		*rest = p;
		return 1;
	}
	return 0;
}

/*
 * uri_check tells why a registered URI is refused, or NULL: https with a
 * host, http to loopback (native apps, RFC 8252 §7.3; and development),
 * or for redirect URIs a private-use scheme in reverse domain form
 * (RFC 8252 §7.1); never a fragment or a space.
 */
static const char *
uri_check(const char *uri, int private_scheme_ok)
{
	const char *h, *rest, *colon;
	size_t hl;

	if (strchr(uri, '#') != NULL)
		return "must not have a fragment";
	for (const char *p = uri; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "must be printable ASCII without spaces";
	if (strncmp(uri, "https://", 8) == 0) {
		h = uri + 8;
		if (*h == '\0' || *h == '/' || *h == ':' || strchr(h, '@'))
			return "needs a host (and no user information)";
		return NULL;
	}
	if (loopback_split(uri, &h, &hl, &rest))
		return NULL;
	if (strncmp(uri, "http://", 7) == 0)
		return "plain http only to a loopback address";
	colon = strchr(uri, ':');
	if (private_scheme_ok && colon != NULL && colon > uri &&
	    memchr(uri, '.', (size_t)(colon - uri)) != NULL &&
	    strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789+.-") ==
		(size_t)(colon - uri))
		return NULL;
	return "must be https, http to a loopback address, or a private-use "
	       "scheme like com.example.app:/callback";
}

static int
uri_in(const json_t *list, const char *uri, int loopback_any_port)
{
	const json_t *v;
	size_t i, hl1, hl2;
	const char *h1, *r1, *h2, *r2;

	json_array_foreach(list, i, v)
	{
		const char *reg = json_string_value(v);
		if (reg == NULL)
			continue;
		if (strcmp(reg, uri) == 0)
			return 1;
		/* RFC 8252 §7.3: the port of a loopback redirect varies. */
		if (loopback_any_port && loopback_split(reg, &h1, &hl1, &r1) &&
		    loopback_split(uri, &h2, &hl2, &r2) && hl1 == hl2 &&
		    strncmp(h1, h2, hl1) == 0 && strcmp(r1, r2) == 0)
			return 1;
	}
	return 0;
}

int
oidc_redirect_ok(const struct oidc_client *c, const char *uri)
{
	return uri != NULL && uri_in(c->redirect_uris, uri, 1);
}

int
oidc_logout_uri_ok(const struct oidc_client *c, const char *uri)
{
	return uri != NULL && c->post_logout_uris != NULL &&
	       uri_in(c->post_logout_uris, uri, 0);
}

/* ---- Settings ------------------------------------------------------------ */

static long
int_or(const json_t *o, const char *name, long def)
{
	const json_t *v = json_object_get(o, name);
	return json_is_integer(v) ? (long)json_integer_value(v) : def;
}

enum sa_err
oidc_client_from(const struct service *svc, struct oidc_client *out)
{
	const json_t *o = svc->oidc;
	struct oidc_client c;
	const char *type, *method;

	if (!json_is_object(o))
		return SA_ERR_NOT_FOUND;
	memset(&c, 0, sizeof(c));
	c.svc = svc;
	c.id = svc->id;
	type = json_string_value(json_object_get(o, "clientType"));
	method =
	    json_string_value(json_object_get(o, "tokenEndpointAuthMethod"));
	c.is_public = type != NULL && strcmp(type, "public") == 0;
	c.secret_hash = json_string_value(json_object_get(o, "secretHash"));
	c.jwks = json_object_get(o, "jwks");
	if (c.is_public)
		c.methods = OIDC_AUTH_NONE;
	else {
		if (c.secret_hash != NULL)
			c.methods |= OIDC_AUTH_BASIC | OIDC_AUTH_POST;
		if (c.jwks != NULL)
			c.methods |= OIDC_AUTH_JWT;
	}
	if (method != NULL)
		c.methods &=
		    strcmp(method, "client_secret_basic") == 0 ? OIDC_AUTH_BASIC
		    : strcmp(method, "client_secret_post") == 0 ? OIDC_AUTH_POST
		    : strcmp(method, "private_key_jwt") == 0	? OIDC_AUTH_JWT
							     : OIDC_AUTH_NONE;
	c.redirect_uris = json_object_get(o, "redirectUris");
	c.post_logout_uris = json_object_get(o, "postLogoutRedirectUris");
	type = json_string_value(json_object_get(o, "subjectType"));
	c.pairwise = type == NULL || strcmp(type, "pairwise") == 0;
	c.sector = json_string_value(json_object_get(o, "sectorIdentifier"));
	if (c.sector == NULL)
		c.sector = svc->id;
	c.access_ttl = int_or(o, "accessTokenTtl", 300);
	c.id_ttl = int_or(o, "idTokenTtl", 300);
	c.refresh = json_is_true(json_object_get(o, "refreshTokens"));
	c.refresh_ttl = int_or(o, "refreshTokenTtl", 86400);
	c.backchannel_uri =
	    json_string_value(json_object_get(o, "backchannelLogoutUri"));
	*out = c;
	return SA_OK;
}

/* check_uris applies uri_check to every item of a list. */
static enum sa_err
check_uris(const json_t *list, const char *name, int private_ok, char *why,
	   size_t whylen)
{
	const json_t *v;
	const char *bad;
	size_t i;

	json_array_foreach(list, i, v)
	{
		if ((bad = uri_check(json_string_value(v), private_ok)) !=
		    NULL) {
			why_set(why, whylen, "%s[%zu]: %s", name, i, bad);
			return SA_ERR_VALIDATION;
		}
	}
	return SA_OK;
}

enum sa_err
oidc_client_check(const json_t *o, char *why, size_t whylen)
{
	struct schema_error serr;
	const char *type, *method, *hash, *bc;
	const json_t *jwks;
	unsigned char salt[SECRET_SALT_LEN], h[SECRET_HASH_LEN];
	int it, conf;
	enum sa_err rc;

	memset(&serr, 0, sizeof(serr));
	if (schema_validate(&settings_schema, o, 0, &serr) != SA_OK) {
		why_set(why, whylen, "%s%s%s", serr.field,
			serr.field[0] ? ": " : "", serr.message);
		return SA_ERR_VALIDATION;
	}
	type = json_string_value(json_object_get(o, "clientType"));
	method =
	    json_string_value(json_object_get(o, "tokenEndpointAuthMethod"));
	hash = json_string_value(json_object_get(o, "secretHash"));
	jwks = json_object_get(o, "jwks");
	conf = strcmp(type, "confidential") == 0;
	if (hash != NULL && !secret_hash_parse(hash, &it, salt, h)) {
		why_set(why, whylen,
			"secretHash: not a hash from `sealauth oidc "
			"hash-secret` (pbkdf2-sha256$...)");
		return SA_ERR_VALIDATION;
	}
	if (jwks != NULL && (rc = oidc_jwks_check(jwks, why, whylen)) != SA_OK)
		return rc;
	if (!conf && (hash != NULL || jwks != NULL ||
		      (method != NULL && strcmp(method, "none") != 0))) {
		why_set(
		    why, whylen,
		    "clientType: a public client has no secretHash, no jwks "
		    "and the method none");
		return SA_ERR_VALIDATION;
	}
	if (conf && hash == NULL && jwks == NULL) {
		why_set(why, whylen,
			"secretHash: a confidential client needs a secretHash "
			"or jwks");
		return SA_ERR_VALIDATION;
	}
	if (conf && method != NULL &&
	    (strcmp(method, "none") == 0 ||
	     (strcmp(method, "private_key_jwt") == 0 && jwks == NULL) ||
	     (strncmp(method, "client_secret", 13) == 0 && hash == NULL))) {
		why_set(why, whylen, "tokenEndpointAuthMethod: %s needs %s",
			method,
			strcmp(method, "none") == 0 ? "a public client"
			: jwks == NULL		    ? "jwks"
						    : "a secretHash");
		return SA_ERR_VALIDATION;
	}
	if ((rc = check_uris(json_object_get(o, "redirectUris"), "redirectUris",
			     1, why, whylen)) != SA_OK ||
	    (rc = check_uris(json_object_get(o, "postLogoutRedirectUris"),
			     "postLogoutRedirectUris", 0, why, whylen)) !=
		SA_OK)
		return rc;
	bc = json_string_value(json_object_get(o, "backchannelLogoutUri"));
	if (bc != NULL && uri_check(bc, 0) != NULL) {
		why_set(why, whylen, "backchannelLogoutUri: %s",
			uri_check(bc, 0));
		return SA_ERR_VALIDATION;
	}
	return SA_OK;
}

enum sa_err
oidc_services_check(const struct services *s, char *why, size_t whylen)
{
	char inner[256];

	for (size_t i = 0; i < services_count(s); i++) {
		const struct service *svc = services_at(s, i);
		if (svc->oidc == NULL)
			continue;
		if (oidc_client_check(svc->oidc, inner, sizeof(inner)) !=
		    SA_OK) {
			why_set(why, whylen, "service \"%s\": oidc.%s", svc->id,
				inner);
			return SA_ERR_VALIDATION;
		}
	}
	return SA_OK;
}

enum sa_err
oidc_service_checker(const json_t *settings, const struct service *svc,
		     const struct services *current, char *why, size_t whylen)
{
	/* A client id is the service id, unique by construction. */
	(void)svc;
	(void)current;
	return oidc_client_check(settings, why, whylen);
}
