/*
 * config.c - the settings table and its loaders.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

enum setting_type { SET_STR, SET_SECRET, SET_LONG };

struct setting {
	const char *name;   /* environment variable and config-file key */
	const char *option; /* long option of `sealauth serve`, or NULL */
	enum setting_type type;
	size_t offset;
	const char *def;
	long min, max; /* for SET_LONG */
	const char *help;
};

#define S(n, o, f, d, h)                                                       \
	{                                                                      \
		n, o, SET_STR, offsetof(struct config, f), d, 0, 0, h          \
	}
#define K(n, o, f, h)                                                          \
	{                                                                      \
		n, o, SET_SECRET, offsetof(struct config, f), "", 0, 0, h      \
	}
#define L(n, o, f, d, lo, hi, h)                                               \
	{                                                                      \
		n, o, SET_LONG, offsetof(struct config, f), d, lo, hi, h       \
	}

static const struct setting settings[] = {
    S("SEALAUTH_LISTEN", "listen", listen, "127.0.0.1:8080",
      "address and port to listen on (IPv6 as [::1]:8080)"),
    S("SEALAUTH_DATA_DIR", "data-dir", data_dir, "./sealauth-data",
      "directory for everything the embedded default writes"),
    S("SEALAUTH_CONFIG", "config", config_file, "",
      "optional config file of KEY = value lines"),
    S("SEALAUTH_PUBLIC_URL", "public-url", public_url, "",
      "external base URL (JWT issuer); empty: http://LISTEN"),
    S("DATABASE_URL", "database-url", database_url, "",
      "durable store: sqlite:///path or postgres://...; empty: "
      "DATA_DIR/sealauth.db"),
    S("REDIS_URL", "redis-url", redis_url, "",
      "ephemeral store: redis://[:password@]host[:port][/db][?prefix=P]; "
      "empty: in-process"),
    S("SERVER_PRIVATE_KEY_PATH", "key", server_private_key_path, "",
      "ECDSA P-256 signing key (PEM); empty: DATA_DIR/keys, generated"),
    K("OTP_SECRET_MASTER", NULL, otp_secret_master,
      "OTP master secret (>= 16 bytes); empty: generated into DATA_DIR"),
    S("FCM_SERVICE_ACCOUNT_PATH", NULL, fcm_service_account_path, "",
      "Firebase service-account JSON for FCM HTTP v1 push"),
    S("SEALAUTH_METRICS_LISTEN", NULL, metrics_listen, "",
      "host:port of a second listener that serves only GET /metrics "
      "(Prometheus); empty: none"),
    K("SEALAUTH_METRICS_TOKEN", NULL, metrics_token,
      "bearer token that unlocks GET /metrics on the main listener; "
      "empty: /metrics is not served there"),
    S("SEALAUTH_CORS_ORIGINS", "cors-origins", cors_origins, "",
      "comma-separated origins allowed by CORS (never *)"),
    S("SEALAUTH_WS_ORIGINS", NULL, ws_origins, "",
      "comma-separated origins allowed to open WebSockets; empty: the "
      "public URL and the CORS origins"),
    S("SEALAUTH_TRUSTED_PROXIES", "trusted-proxies", trusted_proxies, "",
      "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is used"),
    S("SEALAUTH_RATE_LIMITS", "rate-limits", rate_limits, "",
      "per-class limits, e.g. initiate=10/60,enroll=5/3600 (count/seconds)"),
    S("SEALAUTH_LOG_LEVEL", "log-level", log_level, "info",
      "debug, info, warn, error or off"),
    S("SEALAUTH_TRUST_DIR", "trust-dir", trust_dir, "",
      "trust environment directory; empty: DATA_DIR/trust"),
    S("SEALAUTH_SERVICES_FILE", "services", services_file, "",
      "relying parties, a JSON file (docs/api.md); empty: the demo service"),
    S("SEALAUTH_PUSH_MODE", "push-mode", push_mode, "auto",
      "auto (FCM and UnifiedPush), log (print, send nothing) or none "
      "(benchmarks)"),
    S("SEALAUTH_FCM_TOKEN_URL", NULL, fcm_token_url, "",
      "OAuth2 token URL; empty: the service account's token_uri"),
    S("SEALAUTH_FCM_SEND_URL", NULL, fcm_send_url, "https://fcm.googleapis.com",
      "FCM HTTP v1 API base URL"),
    L("SEALAUTH_PUSH_ALLOW_PRIVATE", NULL, push_allow_private, "-1", -1, 1,
      "1 lets devices use loopback and private push endpoints (plain http "
      "on loopback too; development only), 0 refuses them, -1: allowed "
      "only while the demo trust environment is in use"),
    L("SEALAUTH_PUSH_WORKERS", NULL, push_workers, "2", 1, 64,
      "threads sending push messages"),
    S("SEALAUTH_TRUST_GOVERNANCE_URL", "trust-governance-url",
      trust_governance_url, "",
      "governance list URL (https:// or file://); empty: the demo "
      "environment in the trust directory"),
    S("SEALAUTH_TRUST_GOVERNANCE_CERT", "trust-governance-cert",
      trust_governance_cert, "",
      "pinned governance certificate (PEM path); required with a "
      "governance URL"),
    S("SEALAUTH_TRUST_CA_FILE", NULL, trust_ca_file, "",
      "PEM bundle of the CAs trusted for https:// trust list URLs; empty: "
      "the system store"),
    S("SEALAUTH_WEB_DIR", "web-dir", web_dir, "",
      "directory of the login page's files (index.html, app.js, style.css), "
      "read once at start; empty: the web/ directory of the source tree "
      "the binary was built from"),
    S("SEALAUTH_SEAL_QUIRKS", NULL, seal_quirks, "accept",
      "accept or refuse, at enrollment, seals that need an issuer quirk "
      "or a legacy header to decode (docs/seals.md); vds inspect always "
      "decodes them"),
    L("SEALAUTH_TRUST_TTL", NULL, trust_ttl, "3600", 60, 86400,
      "seconds between trust list refreshes"),
    L("SEALAUTH_TRUST_MAX_LIST_BYTES", NULL, trust_max_list_bytes, "4194304",
      4096, 4194304, "largest trust list, VRL or CRL fetched, bytes"),
    L("SEALAUTH_TRUST_FETCH_TIMEOUT", NULL, trust_fetch_timeout_ms, "10000",
      100, 120000, "timeout of one trust list fetch, milliseconds"),
    S("SEALAUTH_USER", "user", user, "",
      "user to run as once the listening socket is bound, when started as "
      "root; the data directory must be that user's (created for it if "
      "missing)"),
    L("SEALAUTH_SECCOMP", NULL, seccomp, "-1", -1, 1,
      "restrict system calls to an allow-list once started (Linux "
      "seccomp): 1 on, 0 off (debugging), -1 on except in sanitizer "
      "builds, whose leak check at exit needs ptrace"),
    L("SEALAUTH_DATABASE_WAIT", NULL, database_wait, "60", 0, 3600,
      "seconds serve waits at start for a database that is not available "
      "yet (not up, or its disk full), retrying with backoff; 0: no wait"),
    L("SEALAUTH_TRUST_MAX_AGE_GOVERNANCE", NULL, trust_max_age[0], "31622400",
      0, 315360000,
      "seconds after its issue time a governance list is refused even "
      "before its NextUpdate (0: no limit)"),
    L("SEALAUTH_TRUST_MAX_AGE_SCHEME", NULL, trust_max_age[1], "31622400", 0,
      315360000, "the same for a scheme list"),
    L("SEALAUTH_TRUST_MAX_AGE_TSL", NULL, trust_max_age[2], "31622400", 0,
      315360000, "the same for a TSL"),
    L("SEALAUTH_TRUST_MAX_AGE_VRL", NULL, trust_max_age[3], "2678400", 0,
      315360000, "the same for a seal revocation list (VRL)"),
    L("SEALAUTH_TRUST_MAX_AGE_CRL", NULL, trust_max_age[4], "2678400", 0,
      315360000, "the same for a CA's CRL (its thisUpdate)"),
    L("SEALAUTH_THREADS", "threads", threads, "0", 0, 256,
      "HTTP worker threads; 0: four per core (writes other than logins wait "
      "for their audit commit)"),
    L("SEALAUTH_CONNECTION_LIMIT", NULL, connection_limit, "0", 0, 1000000,
      "maximum concurrent connections, HTTP and WebSocket together; 0: "
      "what the descriptor limit allows (raised to its hard limit at "
      "start) less a reserve for files and the stores"),
    L("SEALAUTH_PER_IP_CONNECTION_LIMIT", NULL, per_ip_connection_limit, "-1",
      -1, 1000000,
      "concurrent connections (HTTP and WebSocket) from one peer address; "
      "-1: 256, or no cap when SEALAUTH_TRUSTED_PROXIES is set (every "
      "client then comes from the proxy); 0: no cap"),
    L("SEALAUTH_HEADER_TIMEOUT", NULL, header_timeout, "10", 0, 3600,
      "seconds a connection has to send a complete request header, from "
      "its opening or its previous answer (slow clients); 0: none"),
    L("SEALAUTH_CONNECTION_MEMORY", NULL, connection_memory, "8192", 4096,
      1048576,
      "bytes of header memory per HTTP connection (a WebSocket gives it "
      "back after its handshake); 4096 refuses header blocks over about "
      "3 KB"),
    L("SEALAUTH_CONNECTION_TIMEOUT", NULL, connection_timeout, "30", 1, 3600,
      "seconds an idle HTTP connection is kept"),
    L("SEALAUTH_BODY_LIMIT", NULL, body_limit, "65536", 1024, 16777216,
      "maximum request body in bytes"),
    L("SEALAUTH_WS_IDLE_TIMEOUT", NULL, ws_idle_timeout, "60", 5, 86400,
      "seconds of WebSocket silence before a ping, twice that before close"),
    L("SEALAUTH_WS_MAX_MESSAGE", NULL, ws_max_message, "4096", 128, 1048576,
      "largest WebSocket message accepted from a client, bytes"),
    L("SEALAUTH_WS_MAX_CONNECTIONS", NULL, ws_max_connections, "100000", 1,
      10000000, "maximum concurrent WebSocket connections"),
    L("SEALAUTH_AUDIT_BATCH_MAX", NULL, audit_batch_max, "512", 1, 65536,
      "audit rows written per group commit at most"),
    L("SEALAUTH_AUDIT_COMMIT_GAP_US", NULL, audit_commit_gap_us, "1000", 0,
      100000,
      "least microseconds between audit commits under load; events of the "
      "gap share one fsync (0: commit at once)"),
    L("SEALAUTH_AUDIT_COMMIT_GAP_BUSY_US", NULL, audit_commit_gap_busy_us,
      "2500", 0, 100000,
      "least microseconds between audit commits after one of 16 events or "
      "more, when longer than SEALAUTH_AUDIT_COMMIT_GAP_US (0: no longer "
      "gap)"),
    L("SEALAUTH_TAKEOVER_DELAY", NULL, takeover_delay, "259200", 1, 2592000,
      "seconds a new device waits before it replaces the device a token id "
      "is bound to, unless the old device approves first (the old device "
      "is told and may cancel)"),
    L("SEALAUTH_SESSION_TTL", NULL, session_ttl, "120", 10, 3600,
      "login session and OTP lifetime, seconds"),
    L("SEALAUTH_SSO_TTL", NULL, sso_ttl, "28800", 60, 2592000,
      "lifetime of the provider session cookie that gives single sign-on "
      "across OpenID Connect and SAML relying parties, seconds"),
    L("SEALAUTH_ADMIN_CHALLENGE_TTL", NULL, admin_challenge_ttl, "300", 1, 600,
      "lifetime of an admin passkey ceremony (single use), seconds"),
    L("SEALAUTH_ADMIN_SESSION_TTL", NULL, admin_session_ttl, "1800", 60, 43200,
      "lifetime of an admin sign-in, seconds"),
    L("SEALAUTH_ADMIN_INVITE_TTL", NULL, admin_invite_ttl, "86400", 2, 604800,
      "lifetime of an invitation link for a new admin (used once), "
      "seconds"),
    L("SEALAUTH_OIDC_CODE_TTL", NULL, oidc_code_ttl, "60", 5, 600,
      "lifetime of an OpenID Connect authorization code, seconds"),
    L("SEALAUTH_JWT_TTL", NULL, jwt_ttl, "300", 30, 86400,
      "lifetime of issued JWTs, seconds"),
    L("SEALAUTH_KEY_PUBLISH_DELAY", "publish-delay", key_publish_delay, "600",
      0, 2592000,
      "seconds a rotated-in signing key is published before it signs "
      "(longer than the JWKS cache time, 300 s)"),
    L("SEALAUTH_HSTS_MAX_AGE", NULL, hsts_max_age, "63072000", 0, 126144000,
      "Strict-Transport-Security max-age; 0 leaves the header out"),
    S("SEALAUTH_SAML_ENTITY_ID", NULL, saml_entity_id, "",
      "SAML IdP entity id; empty: PUBLIC_URL/saml/metadata"),
    S("SEALAUTH_SAML_KEY_PATH", NULL, saml_key_path, "",
      "dedicated SAML ECDSA P-256 key (PEM); empty: the token key ring, "
      "with self-signed certificates in DATA_DIR/saml"),
    S("SEALAUTH_SAML_CERT_PATH", NULL, saml_cert_path, "",
      "certificate of SEALAUTH_SAML_KEY_PATH (PEM); more than one block "
      "publishes the others too (rotation)"),
    S("SEALAUTH_SAML_RSA_KEY_PATH", NULL, saml_rsa_key_path, "",
      "RSA key for SPs that need rsa-sha256 (PEM); empty: DATA_DIR/saml, "
      "generated"),
    S("SEALAUTH_SAML_RSA_CERT_PATH", NULL, saml_rsa_cert_path, "",
      "certificate of SEALAUTH_SAML_RSA_KEY_PATH (PEM)"),
    L("SEALAUTH_SAML_ASSERTION_TTL", NULL, saml_assertion_ttl, "300", 30, 3600,
      "seconds a SAML assertion and its subject confirmation are "
      "valid"),
    L("SEALAUTH_SAML_REQUEST_MAX_AGE", NULL, saml_request_max_age, "300", 30,
      3600,
      "seconds a SAML request's IssueInstant may lie in the past (60 s of "
      "clock skew are allowed into the future)"),
    L("SEALAUTH_SAML_SLO_TIMEOUT", NULL, saml_slo_timeout, "10", 1, 120,
      "seconds each SP gets to answer a propagated single logout"),
    L("SEALAUTH_TEST_ROUTES", NULL, test_routes, "0", 0, 1,
      "1 enables /test/* routes used by the test suite; never in production"),
};

static char **
str_field(struct config *cfg, const struct setting *s)
{
	return (char **)((char *)cfg + s->offset);
}

static long *
long_field(struct config *cfg, const struct setting *s)
{
	return (long *)((char *)cfg + s->offset);
}

static const struct setting *
setting_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(settings); i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

static void
free_str(const struct setting *s, char **p)
{
	if (*p != NULL && s->type == SET_SECRET)
		OPENSSL_cleanse(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

static enum sa_err
apply(struct config *cfg, const struct setting *s, const char *value, FILE *err)
{
	char *end = NULL;
	long v;

	if (s->type == SET_LONG) {
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v < s->min ||
		    v > s->max) {
			if (err != NULL)
				fprintf(err,
					"sealauth: %s: \"%s\" is not a whole "
					"number from %ld to %ld\n",
					s->name, value, s->min, s->max);
			return SA_ERR_CONFIG;
		}
		*long_field(cfg, s) = v;
		return SA_OK;
	}
	char *copy = strdup(value);
	if (copy == NULL)
		return SA_ERR_NOMEM;
	free_str(s, str_field(cfg, s));
	*str_field(cfg, s) = copy;
	return SA_OK;
}

enum sa_err
config_defaults(struct config *cfg)
{
	enum sa_err rc;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < ARRAY_LEN(settings); i++)
		if ((rc = apply(cfg, &settings[i], settings[i].def, NULL)) !=
		    SA_OK)
			return rc;
	return SA_OK;
}

enum sa_err
config_set(struct config *cfg, const char *name, const char *value, FILE *err)
{
	const struct setting *s = setting_by_name(name);

	if (s == NULL) {
		if (err != NULL)
			fprintf(err, "sealauth: unknown setting %s\n", name);
		return SA_ERR_CONFIG;
	}
	return apply(cfg, s, value, err);
}

enum sa_err
config_set_option(struct config *cfg, const char *opt, const char *value,
		  FILE *err)
{
	for (size_t i = 0; i < ARRAY_LEN(settings); i++)
		if (settings[i].option != NULL &&
		    strcmp(settings[i].option, opt) == 0)
			return apply(cfg, &settings[i], value, err);
	return SA_ERR_NOT_FOUND;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * load_file reads KEY = value lines. Values may be wrapped in double quotes.
 * An unknown key is an error, so a typo never silently falls back to a
 * default.
 */
static enum sa_err
load_file(struct config *cfg, const char *path, FILE *err)
{
	unsigned char *text = NULL;
	size_t len;
	enum sa_err rc;
	char *line, *next;
	int lineno = 0;

	rc = read_file(path, 1 << 20, &text, &len);
	if (rc != SA_OK) {
		if (err != NULL)
			fprintf(err, "sealauth: cannot read config file %s\n",
				path);
		return SA_ERR_CONFIG;
	}
	/* Every line counts, blank ones too, so errors name the right one. */
	for (line = (char *)text; line != NULL; line = next) {
		char *eq, *key, *val;

		next = memchr(line, '\n', len - (size_t)(line - (char *)text));
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			if (err != NULL)
				fprintf(
				    err,
				    "sealauth: %s:%d: expected KEY = value\n",
				    path, lineno);
			rc = SA_ERR_CONFIG;
			goto out;
		}
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
			val[vl - 1] = '\0';
			val++;
		}
		if (strcmp(key, "SEALAUTH_CONFIG") == 0)
			continue;
		if ((rc = config_set(cfg, key, val, err)) != SA_OK) {
			if (err != NULL)
				fprintf(err, "sealauth: in %s line %d\n", path,
					lineno);
			goto out;
		}
	}
	rc = SA_OK;
out:
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

/* edit_distance is the Levenshtein distance of two short names, capped. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[65], cur[65];

	if (la > 64 || lb > 64)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins)
					   : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

extern char **environ;

size_t
config_warn_unknown_env(FILE *err)
{
	size_t n = 0;

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		char name[72];
		const char *best = NULL;
		size_t best_d = 99, len;

		if (strncmp(*e, "SEALAUTH_", 9) != 0 || eq == NULL)
			continue;
		len = (size_t)(eq - *e);
		if (len >= sizeof(name))
			len = sizeof(name) - 1;
		memcpy(name, *e, len);
		name[len] = '\0';
		for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
			size_t d = edit_distance(name, settings[i].name);

			if (d < best_d) {
				best_d = d;
				best = settings[i].name;
			}
		}
		if (best_d == 0)
			continue;
		n++;
		if (best_d <= 3)
			fprintf(err,
				"sealauth: warning: %s is not a setting "
				"(did you mean %s?); it is ignored\n",
				name, best);
		else
			fprintf(err,
				"sealauth: warning: %s is not a setting; it "
				"is ignored (`sealauth config` lists them)\n",
				name);
	}
	return n;
}

enum sa_err
config_load(struct config *cfg, FILE *err)
{
	const char *file = getenv("SEALAUTH_CONFIG");
	enum sa_err rc;

	if (file == NULL || *file == '\0')
		file = cfg->config_file;
	if (file != NULL && *file != '\0') {
		char *copy = strdup(file);
		if (copy == NULL)
			return SA_ERR_NOMEM;
		rc = load_file(cfg, copy, err);
		free(copy);
		if (rc != SA_OK)
			return rc;
	}
	for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
		const char *v = getenv(settings[i].name);
		if (v != NULL &&
		    (rc = apply(cfg, &settings[i], v, err)) != SA_OK)
			return rc;
	}
	if (strcmp(cfg->seal_quirks, "accept") != 0 &&
	    strcmp(cfg->seal_quirks, "refuse") != 0) {
		if (err != NULL)
			fprintf(err,
				"sealauth: SEALAUTH_SEAL_QUIRKS: \"%s\" is not "
				"accept or refuse\n",
				cfg->seal_quirks);
		return SA_ERR_CONFIG;
	}
	if (log_parse_level(cfg->log_level) < 0) {
		if (err != NULL)
			fprintf(err,
				"sealauth: SEALAUTH_LOG_LEVEL: \"%s\" is not "
				"debug, info, warn, error or off\n",
				cfg->log_level);
		return SA_ERR_CONFIG;
	}
	return SA_OK;
}

/* derive sets an empty field to prefix ‖ a ‖ suffix. */
static enum sa_err
derive(char **field, const char *prefix, const char *a, const char *suffix)
{
	char *v = NULL;

	if (*field != NULL && **field != '\0')
		return SA_OK;
	if (asprintf(&v, "%s%s%s", prefix, a, suffix) < 0)
		return SA_ERR_NOMEM;
	free(*field);
	*field = v;
	return SA_OK;
}

enum sa_err
config_resolve(struct config *cfg, FILE *err)
{
	enum sa_err rc;
	const char *colon = strrchr(cfg->listen, ':');

	if (colon == NULL || colon == cfg->listen || colon[1] == '\0') {
		if (err != NULL)
			fprintf(err,
				"sealauth: SEALAUTH_LISTEN: \"%s\" is not "
				"HOST:PORT\n",
				cfg->listen);
		return SA_ERR_CONFIG;
	}
	if (cfg->data_dir[0] == '\0') {
		if (err != NULL)
			fprintf(err, "sealauth: SEALAUTH_DATA_DIR is empty\n");
		return SA_ERR_CONFIG;
	}
	cfg->public_url_given =
	    cfg->public_url != NULL && cfg->public_url[0] != '\0';
	if ((rc = derive(&cfg->database_url, "sqlite://", cfg->data_dir,
			 "/sealauth.db")) != SA_OK ||
	    (rc = derive(&cfg->trust_dir, "", cfg->data_dir, "/trust")) !=
		SA_OK ||
	    (rc = derive(&cfg->public_url, "http://", cfg->listen, "")) !=
		SA_OK ||
	    (rc = derive(&cfg->web_dir, "", SEALAUTH_SOURCE_DIR, "/web")) !=
		SA_OK)
		return rc;
	return SA_OK;
}

void
config_print_help(FILE *out)
{
	for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
		const struct setting *s = &settings[i];
		char opt[64] = "";
		if (s->option != NULL)
			snprintf(opt, sizeof(opt), "--%s", s->option);
		fprintf(out, "  %-22s %-28s %s", opt, s->name, s->help);
		if (s->type != SET_SECRET && s->def[0] != '\0')
			fprintf(out, " [%s]", s->def);
		fputc('\n', out);
	}
}

void
config_print_markdown(FILE *out)
{
	fprintf(out, "| variable / file key | option | default | meaning |\n");
	fprintf(out, "|---|---|---|---|\n");
	for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
		const struct setting *s = &settings[i];
		fprintf(out, "| `%s` | %s%s%s | %s%s%s | %s |\n", s->name,
			s->option ? "`--" : "", s->option ? s->option : "",
			s->option ? "`" : "", s->def[0] ? "`" : "",
			s->def[0] ? s->def : "(empty)", s->def[0] ? "`" : "",
			s->help);
	}
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < ARRAY_LEN(settings); i++)
		if (settings[i].type != SET_LONG)
			free_str(&settings[i], str_field(cfg, &settings[i]));
}
