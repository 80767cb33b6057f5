/*
 * ratelimit.c - fixed-window limits over estore_incr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/ratelimit.h"
#include "store/store.h"
#include "core/util.h"

struct rl_class {
	char name[32];
	int64_t count;
	int64_t window_s;
};

struct ratelimit {
	struct estore *es;
	size_t n;
	struct rl_class classes[RATELIMIT_CLASSES_MAX];
};

/*
 * The built-in classes: one table drives the limiter, `sealauth config
 * --rate-limits` and the table in docs/configuration.md (a test keeps the
 * two equal). "default" applies to routes naming no class.
 */
static const struct rl_default {
	const char *name;
	int64_t count;
	int64_t window_s;
	const char *per; /* what the count is kept for */
	const char *what;
} defaults[] = {
    {"initiate", 10, 60, "IP", "`POST /auth/initiate`"},
    {"push", 3, 600, "token id",
     "logins started for a token id by browsers it has not approved before "
     "(pushes its owner did not ask for); the owner's recognised browser is "
     "exempt"},
    {"pending", 3, 120, "token id",
     "logins open at once for a token id from browsers it has not approved "
     "before (the seconds are not used: a login holds its place until it "
     "ends or expires)"},
    {"pending_owner", 5, 120, "token id",
     "logins open at once for a token id from its owner's recognised "
     "browsers, a pool strangers cannot fill"},
    {"enroll", 5, 3600, "IP", "`POST /enroll`"},
    /* High: many phones share one carrier address (CGNAT); attempts that
     * count are capped at 3 a session anyway. */
    {"verify", 600, 60, "IP", "`POST /auth/verify`"},
    {"verify_unsigned", 10, 60, "IP",
     "answers to `POST /auth/verify` whose signature does not verify "
     "(answered 429 instead of 401 over the limit)"},
    {"admin", 60, 60, "IP and admin",
     "`/v1/admin/*` per admin, and passkey sign-in per IP"},
    {"install", 10, 600, "IP", "`/v1/install/claim/*` and `/v1/invite/*`"},
    {"trust_refresh", 2, 60, "server",
     "`POST /v1/admin/trust/refresh`, whichever admin asks"},
    {"ws", 60, 60, "IP", "WebSocket upgrades"},
    {"authorize", 60, 60, "IP and client",
     "the OpenID Connect authorization and logout endpoints"},
    {"token", 120, 60, "IP and client",
     "the OpenID Connect token, UserInfo, revocation and introspection "
     "endpoints"},
    {"default", 600, 60, "IP", "every other route except `/health`"},
};

static struct rl_class *
find_class(struct ratelimit *rl, const char *name)
{
	for (size_t i = 0; i < rl->n; i++)
		if (strcmp(rl->classes[i].name, name) == 0)
			return &rl->classes[i];
	return NULL;
}

static enum sa_err
parse_spec(struct ratelimit *rl, const char *spec, char *why, size_t whylen)
{
	const char *p = spec;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char item[96], name[32];
		long long count, window;
		int used = 0;
		struct rl_class *c;

		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		if (n == 0 || n >= sizeof(item))
			goto bad;
		memcpy(item, p, n);
		item[n] = '\0';
		if (sscanf(item, "%31[a-z0-9_-]=%lld/%lld%n", name, &count,
			   &window, &used) != 3 ||
		    item[used] != '\0' || count < 0 || count > 1000000000LL ||
		    window < 1 || window > 86400 * 31)
			goto bad;
		c = find_class(rl, name);
		if (c == NULL) {
			if (rl->n >= RATELIMIT_CLASSES_MAX)
				goto bad;
			c = &rl->classes[rl->n++];
			snprintf(c->name, sizeof(c->name), "%s", name);
		}
		c->count = count;
		c->window_s = window;
		if (end == NULL)
			break;
		p = end + 1;
		continue;
	bad:
		snprintf(
		    why, whylen,
		    "SEALAUTH_RATE_LIMITS: \"%.*s\" is not CLASS=COUNT/SECONDS",
		    (int)(n > 64 ? 64 : n), p);
		return SA_ERR_CONFIG;
	}
	return SA_OK;
}

enum sa_err
ratelimit_new(struct estore *es, const char *spec, struct ratelimit **out,
	      char *why, size_t whylen)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	enum sa_err rc;

	if (rl == NULL)
		return SA_ERR_NOMEM;
	rl->es = es;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		struct rl_class *c = &rl->classes[rl->n++];
		snprintf(c->name, sizeof(c->name), "%s", defaults[i].name);
		c->count = defaults[i].count;
		c->window_s = defaults[i].window_s;
	}
	if (spec != NULL && (rc = parse_spec(rl, spec, why, whylen)) != SA_OK) {
		free(rl);
		return rc;
	}
	*out = rl;
	return SA_OK;
}

void
ratelimit_print_markdown(FILE *out)
{
	fprintf(out, "| class | default | counted per | what it limits |\n");
	fprintf(out, "|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		fprintf(out, "| `%s` | %lld/%lld | %s | %s |\n",
			defaults[i].name, (long long)defaults[i].count,
			(long long)defaults[i].window_s, defaults[i].per,
			defaults[i].what);
}

void
ratelimit_free(struct ratelimit *rl)
{
	free(rl);
}

void
ratelimit_limit(const struct ratelimit *rl, const char *cls, int64_t *count,
		int64_t *window_s)
{
	*count = 0;
	*window_s = 0;
	for (size_t i = 0; i < rl->n; i++) {
		if (strcmp(rl->classes[i].name, cls) == 0) {
			*count = rl->classes[i].count;
			*window_s = rl->classes[i].window_s;
		}
	}
}

enum sa_err
ratelimit_hit(struct ratelimit *rl, const char *cls, const char *kind,
	      const char *key, int64_t *retry_after, int *first_refusal)
{
	struct rl_class *c = find_class(rl, cls);
	char k[ESTORE_KEY_MAX];
	int64_t count = 0, ttl = 0;
	enum sa_err rc;

	if (first_refusal != NULL)
		*first_refusal = 0;
	if (c == NULL || c->count == 0) /* a count of 0 disables the class */
		return SA_OK;
	/* The key is hashed when long so any handler-chosen value fits. */
	if (strlen(key) > 128) {
		unsigned char d[32];
		char *hex;
		sha256(key, strlen(key), d);
		hex = hex_encode(d, 16);
		if (hex == NULL)
			return SA_OK;
		snprintf(k, sizeof(k), "rl:%s:%s:%s", cls, kind, hex);
		free(hex);
	} else {
		snprintf(k, sizeof(k), "rl:%s:%s:%s", cls, kind, key);
	}
	rc =
	    estore_incr(rl->es, k, (uint64_t)c->window_s * 1000u, &count, &ttl);
	if (rc != SA_OK) {
		log_warn("ratelimit.store", "rate-limit counter failed: %s",
			 sa_err_str(rc));
		return SA_OK;
	}
	if (count <= c->count)
		return SA_OK;
	if (retry_after != NULL)
		*retry_after = ttl > 0 ? (ttl + 999) / 1000 : 1;
	if (first_refusal != NULL)
		*first_refusal = count == c->count + 1;
	return SA_ERR_RATE_LIMITED;
}
