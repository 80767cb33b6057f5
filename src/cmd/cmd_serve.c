/*
 * cmd_serve.c - `sealauth serve`: build the shared state, start the HTTP
 * server and the WebSocket loop, and stop cleanly on SIGTERM or SIGINT.
 *
 * Start-up order: the session store's subscriber is attached to the
 * WebSocket loop once that loop runs, and session events are subscribed
 * after that. Shutdown order matters: stop accepting, detach the
 * subscriber from the WebSocket loop, close WebSockets (MHD needs every
 * upgraded socket released before it stops), let running handlers finish
 * (their audit rows are durable before they answer), then drain the audit
 * queue and close the stores. Nothing accepted is lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "saml/saml.h"
#include "saml/saml_sp.h"
#include "api/api.h"
#include "app/app.h"
#include "audit/audit.h"
#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "cmd/sandbox.h"
#include "net/http.h"
#include "net/listener.h"
#include "crypto/keycache.h"
#include "crypto/keys.h"
#include "core/log.h"
#include "core/metrics.h"
#include "crypto/otp.h"
#include "push/push.h"
#include "store/ratelimit.h"
#include "core/schema.h"
#include "login/services.h"
#include "login/session_ws.h"
#include "store/store.h"
#include "trust/trust.h"
#include "core/util.h"
#include "net/netaddr.h"
#include "net/ws.h"
#include "oidc/oidc.h"

#define OTP_SECRET_FILE "otp-secret"
#define OTP_SECRET_GENERATED 32

static void
serve_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sealauth serve [OPTIONS]\n\n"
	    "Runs the server. With no settings it uses the embedded default: "
	    "SQLite and\nkeys in --data-dir, in-process sessions, listening "
	    "on 127.0.0.1:8080.\n\nEvery setting can be given as an option "
	    "(where it has one), an environment\nvariable, or a line in the "
	    "config file:\n\n");
	config_print_help(out);
}

/* split_list turns "a, b,c" into a NULL-terminated array of copies. */
static char **
split_list(const char *text)
{
	size_t n = 1;
	char **out;
	const char *p = text;

	for (const char *c = text; *c; c++)
		n += *c == ',';
	out = calloc(n + 1, sizeof(*out));
	if (out == NULL)
		return NULL;
	n = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const char *s = p, *e = p + len;
		while (s < e && *s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			e--;
		if (e > s && (out[n] = strndup(s, (size_t)(e - s))) != NULL)
			n++;
		p += len;
		if (*p == ',')
			p++;
	}
	return out;
}

static void
free_list(char **l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

/*
 * origin_of reduces a URL to scheme://host[:port]; for a loopback URL it
 * returns every loopback name of it, comma-separated (127.0.0.1, localhost
 * and [::1]), so the demo works whichever name a person types.
 */
static char *
origin_of(const char *url)
{
	const char *s = strstr(url, "://");
	char *one, all[512];
	size_t n;

	if (s == NULL)
		return NULL;
	n = (size_t)(s + 3 - url) + strcspn(s + 3, "/?#");
	if ((one = strndup(url, n)) == NULL)
		return NULL;
	if (netaddr_loopback_origins(one, all, sizeof(all)) != SA_OK)
		return one;
	free(one);
	return strdup(all);
}

static enum sa_err
build_origins(struct app *app)
{
	size_t bad = 0;
	char *joined = NULL, *pub;

	if (cidr_list_parse(app->cfg.trusted_proxies, &app->trusted_proxies,
			    &bad) != SA_OK) {
		fprintf(
		    stderr,
		    "sealauth: SEALAUTH_TRUSTED_PROXIES: entry %zu is not an "
		    "IP address or CIDR\n",
		    bad + 1);
		return SA_ERR_CONFIG;
	}
	for (const char *c = app->cfg.cors_origins; *c; c++) {
		if (*c == '*') {
			fprintf(stderr,
				"sealauth: SEALAUTH_CORS_ORIGINS: \"*\" is "
				"not allowed; list the origins\n");
			return SA_ERR_CONFIG;
		}
	}
	app->cors_origins = split_list(app->cfg.cors_origins);
	if (app->cfg.ws_origins[0] != '\0') {
		app->ws_origins = split_list(app->cfg.ws_origins);
	} else {
		pub = origin_of(app->cfg.public_url);
		if (asprintf(&joined, "%s,%s", pub ? pub : "",
			     app->cfg.cors_origins) < 0)
			joined = NULL;
		free(pub);
		app->ws_origins = joined ? split_list(joined) : NULL;
		free(joined);
	}
	if (app->cors_origins == NULL || app->ws_origins == NULL)
		return SA_ERR_NOMEM;
	return SA_OK;
}

/*
 * load_otp_secret takes OTP_SECRET_MASTER as its bytes, or on the embedded
 * default reads DATA_DIR/otp-secret, generating 32 random bytes into it
 * (mode 0600) on first start.
 */
static enum sa_err
load_otp_secret(struct app *app)
{
	char path[4096];
	unsigned char fresh[OTP_SECRET_GENERATED], *data = NULL;
	size_t n = 0, given = strlen(app->cfg.otp_secret_master);
	struct stat st;
	enum sa_err rc;

	if (given > 0) {
		if (given < OTP_SECRET_MIN || given > OTP_SECRET_MAX) {
			fprintf(stderr,
				"sealauth: OTP_SECRET_MASTER must be %d to %d "
				"bytes (32 recommended)\n",
				OTP_SECRET_MIN, OTP_SECRET_MAX);
			return SA_ERR_CONFIG;
		}
		app->otp_secret = malloc(given);
		if (app->otp_secret == NULL)
			return SA_ERR_NOMEM;
		memcpy(app->otp_secret, app->cfg.otp_secret_master, given);
		app->otp_secret_len = given;
		/* Held once: the copy in the configuration is wiped now. */
		OPENSSL_cleanse(app->cfg.otp_secret_master, given);
		return SA_OK;
	}
	snprintf(path, sizeof(path), "%s/%s", app->cfg.data_dir,
		 OTP_SECRET_FILE);
	if (stat(path, &st) != 0) {
		if ((rc = rand_bytes(fresh, sizeof(fresh))) != SA_OK ||
		    (rc = write_file_atomic(path, fresh, sizeof(fresh),
					    0600)) != SA_OK) {
			log_error("serve.otp_secret", "cannot create %s", path);
			OPENSSL_cleanse(fresh, sizeof(fresh));
			return rc ? rc : SA_ERR_IO;
		}
		OPENSSL_cleanse(fresh, sizeof(fresh));
		log_info("serve.otp_secret",
			 "generated the OTP master secret in %s", path);
	} else if ((st.st_mode & 077) != 0) {
		fprintf(stderr,
			"sealauth: %s is readable by others (mode %03o); "
			"run chmod 600 on it\n",
			path, (unsigned int)(st.st_mode & 0777));
		return SA_ERR_CONFIG;
	}
	if ((rc = read_file(path, OTP_SECRET_MAX, &data, &n)) != SA_OK)
		return rc;
	if (n < OTP_SECRET_MIN) {
		OPENSSL_cleanse(data, n);
		free(data);
		fprintf(stderr, "sealauth: %s holds fewer than %d bytes\n",
			path, OTP_SECRET_MIN);
		return SA_ERR_CONFIG;
	}
	app->otp_secret = data;
	app->otp_secret_len = n;
	return SA_OK;
}

/*
 * open_trust loads the trust chain: the configured governance list, or on
 * the embedded default the demo environment in the trust directory,
 * created on first start.
 */
static enum sa_err
open_trust(struct app *app)
{
	struct trust_config tc;
	struct trust_result tr;
	char *storage = NULL;
	int created = 0;
	enum sa_err rc;

	if (app->cfg.trust_governance_url[0] == '\0') {
		if ((rc = trust_demo_ensure(app->cfg.trust_dir, &created)) !=
		    SA_OK) {
			log_error("serve.trust",
				  "cannot create the demo trust "
				  "environment in %s",
				  app->cfg.trust_dir);
			return rc;
		}
		if (created)
			log_warn(
			    "serve.trust",
			    "created a DEMO trust environment in %s: seals "
			    "from `sealauth trust issue --dir %s` are trusted, "
			    "no real ones",
			    app->cfg.trust_dir, app->cfg.trust_dir);
	}
	if ((rc = trust_fetcher_new(app->cfg.trust_ca_file, &app->fetcher)) !=
	    SA_OK) {
		if (rc == SA_ERR_CONFIG)
			fprintf(stderr, "sealauth: SEALAUTH_TRUST_CA_FILE is "
					"too long\n");
		return rc;
	}
	memset(&tc, 0, sizeof(tc));
	if ((rc = trust_config_from(&app->cfg, &tc, &storage,
				    &app->trust_demo)) != SA_OK) {
		log_error("serve.trust",
			  "the trust settings are incomplete: %s "
			  "(a governance URL needs "
			  "SEALAUTH_TRUST_GOVERNANCE_CERT)",
			  sa_err_str(rc));
		goto out;
	}
	/* sequence numbers are shared through the database: no instance may
	 * accept a list older than one another instance accepted */
	tc.seq_raise = app_trust_seq_raise;
	tc.seq_arg = app->ds;
	tc.fetcher = app->fetcher;
	memset(&tr, 0, sizeof(tr));
	if ((rc = trust_new(&tc, &app->trust)) != SA_OK) {
		log_error("serve.trust",
			  "the trust configuration is unusable: %s "
			  "(check SEALAUTH_TRUST_GOVERNANCE_URL and "
			  "SEALAUTH_TRUST_GOVERNANCE_CERT)",
			  sa_err_str(rc));
		goto out;
	}
	if (trust_refresh(app->trust, now_unix(), 1, &tr) != SA_OK) {
		/* Serve anyway: /health says degraded, enrollment says why, and
		 * the next refresh may succeed. */
		log_error("serve.trust",
			  "the trust chain did not load: %s (step %s)",
			  tr.reason, tr.step);
		app_audit(app, NULL, "trust.refresh_failed", "",
			  trust_result_json(&tr));
	}
	rc = SA_OK;
	if (app->trust_demo)
		log_warn("serve.trust", "trusting the DEMO environment only");
out:
	free(storage);
	return rc;
}

/* periodic runs once a second on the main thread: local files only, so
 * signals are never kept waiting (trust refreshes run in refresh.c). */
static void
periodic(struct app *app)
{
	keys_reload(app->keys);
}

/*
 * fit_connections raises the descriptor limit to its hard limit (the
 * common soft limit of 1,024 let one address exhaust it with slow
 * connections, and accept then failed for everyone) and fits the HTTP
 * connection limit below it, keeping a reserve for the database, the
 * session store, push and trust fetches, and the workers' own descriptors.
 */
#define FD_RESERVE_MIN 128

static void
fit_connections(struct app *app)
{
	struct rlimit rl;
	long fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("serve.limits",
				 "cannot raise the descriptor limit from %llu: "
				 "%s",
				 (unsigned long long)was, strerror(errno));
			rl.rlim_cur = was;
		}
	}
	fit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 10000000
		  ? 1000000
		  : (long)rl.rlim_cur - FD_RESERVE_MIN - (long)rl.rlim_cur / 16;
	if (fit < 16)
		fit = 16;
	if (app->cfg.connection_limit == 0) {
		app->cfg.connection_limit = fit;
	} else if (app->cfg.connection_limit > fit) {
		log_warn("serve.limits",
			 "SEALAUTH_CONNECTION_LIMIT %ld does not fit the "
			 "descriptor limit %llu: using %ld",
			 app->cfg.connection_limit,
			 (unsigned long long)rl.rlim_cur, fit);
		app->cfg.connection_limit = fit;
	}
	log_info("serve.limits",
		 "descriptor limit %llu, at most %ld HTTP connections",
		 (unsigned long long)rl.rlim_cur, app->cfg.connection_limit);
}

/* say_listen_failed tells why the listening socket could not be had,
 * with what to do when another server holds the address. */
static void
say_listen_failed(const struct app *app, enum sa_err err)
{
	int e = errno;

	fprintf(stderr, "sealauth serve: cannot listen on %s: %s%s\n",
		app->cfg.listen, e ? strerror(e) : sa_err_str(err),
		e == EADDRINUSE ? " (another server is running there: stop it, "
				  "or choose another address with --listen "
				  "HOST:PORT)"
				: "");
}

/* seccomp_wanted reads SEALAUTH_SECCOMP: -1 is on, except in sanitizer
 * builds (LeakSanitizer stops the threads with ptrace at exit). */
static int
seccomp_wanted(const struct app *app)
{
	if (app->cfg.seccomp >= 0)
		return app->cfg.seccomp == 1;
#if defined(__SANITIZE_ADDRESS__)
	log_warn("serve.seccomp",
		 "system calls are not restricted in this sanitizer build "
		 "(SEALAUTH_SECCOMP=1 forces it; the leak check then fails)");
	return 0;
#else
	return 1;
#endif
}

/*
 * open_database opens the durable store. While it is unavailable (a
 * database container still starting beside ours, a full disk) it retries
 * with a doubling delay of at most DB_RETRY_MAX_MS, logging each attempt,
 * for SEALAUTH_DATABASE_WAIT seconds at most; SIGTERM or SIGINT (blocked
 * and taken here synchronously) end the wait. Other errors end it at once.
 */
#define DB_RETRY_FIRST_MS 250
#define DB_RETRY_MAX_MS 5000

static enum sa_err
open_database(struct app *app, const sigset_t *sigs)
{
	uint64_t deadline =
	    now_mono_ms() + (uint64_t)app->cfg.database_wait * 1000u;
	uint64_t delay = DB_RETRY_FIRST_MS, now;
	unsigned int attempt = 1;
	enum sa_err rc;

	for (;; attempt++) {
		rc = dstore_open(app->cfg.database_url, &app->ds);
		if (rc == SA_OK) {
			if (attempt > 1)
				log_info("serve.database",
					 "the database is available after %u "
					 "attempts",
					 attempt);
			return SA_OK;
		}
		now = now_mono_ms();
		if ((rc != SA_ERR_UNAVAILABLE && rc != SA_ERR_DISK_FULL &&
		     rc != SA_ERR_TIMEOUT) ||
		    now >= deadline) {
			if (attempt > 1)
				log_error("serve.database",
					  "gave up waiting for the database "
					  "after %u attempts",
					  attempt);
			return rc;
		}
		if (delay > deadline - now)
			delay = deadline - now;
		log_warn("serve.database",
			 "the database is not available (%s); attempt %u, "
			 "retrying in %llu ms, giving up in %llu s",
			 sa_err_str(rc), attempt, (unsigned long long)delay,
			 (unsigned long long)((deadline - now) / 1000));
		struct timespec ts = {(time_t)(delay / 1000),
				      (long)(delay % 1000) * 1000000L};
		int sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			return SA_ERR_SHUTTING_DOWN;
		delay =
		    delay * 2 > DB_RETRY_MAX_MS ? DB_RETRY_MAX_MS : delay * 2;
	}
}

/*
 * start_metrics_listener serves GET /metrics alone on
 * SEALAUTH_METRICS_LISTEN, with the main listener's settings otherwise:
 * meant for a private address the monitoring system reaches, so it asks for
 * no token.
 */
static enum sa_err
start_metrics_listener(struct app *app, const struct http_config *main_hc)
{
	struct http_config mc = *main_hc;
	const struct route *routes;
	size_t n;
	enum sa_err rc;

	static char *const no_origins[] = {NULL};

	mc.listen = app->cfg.metrics_listen;
	mc.bound = NULL; /* the main listener's; this one binds its own */
	mc.cors_origins = no_origins;
	mc.ws_origins = no_origins;
	mc.ws = NULL;
	mc.observe = NULL;
	mc.limit = NULL;
	routes = api_metrics_routes(&n);
	if ((rc = http_server_start(&mc, routes, n, &app->metrics_http)) !=
	    SA_OK) {
		log_error("serve.metrics", "cannot serve metrics on %s",
			  app->cfg.metrics_listen);
		return rc;
	}
	log_info("serve.metrics", "metrics on http://%s/metrics",
		 app->cfg.metrics_listen);
	return SA_OK;
}

static void
app_close(struct app *app)
{
	struct session_conns *session_conns;

	app_refresh_stop(app);
	if (app->metrics_http != NULL)
		http_server_stop(app->metrics_http);
	app->metrics_http = NULL;
	if (app->http != NULL)
		http_server_quiesce(app->http);
	/* The store's subscriber lives on the WebSocket loop: close it while
	 * that loop still runs, before ws_server_halt ends the loop. Events
	 * published from here on are not delivered; final ones stay stored
	 * with their session. The server itself stays allocated until every
	 * thread that may still publish (HTTP handlers and parked requests,
	 * push callbacks) has stopped. */
	if (app->es != NULL)
		estore_detach_loop(app->es);
	ws_server_halt(app->ws);
	http_server_stop(app->http);
	app->http = NULL;
	api_static_free(app->web_files);
	app->web_files = NULL;
	/* A login answered at once is pushed from its audit row's callback
	 * (api_auth.c): those have all run before push closes. Push
	 * callbacks write audit rows in turn: close push before the audit
	 * log. */
	if (app->audit != NULL)
		audit_flush(app->audit);
	push_close(app->push);
	app->push = NULL;
	ws_server_stop(app->ws);
	app->ws = NULL;
	session_conns = app->session_conns;
	app->session_conns = NULL;
	session_conns_free(session_conns);
	if (app->audit != NULL) {
		uint64_t batches = 0, rows = 0;
		audit_close_stats(app->audit, &batches, &rows);
		/* A start that failed wrote nothing worth a line. */
		if (rows > 0)
			log_info("serve.audit",
				 "%" PRIu64 " audit rows written in %" PRIu64
				 " commits",
				 rows, batches);
	}
	app->audit = NULL;
	ratelimit_free(app->rl);
	keys_close(app->keys);
	trust_close(app->trust);
	trust_fetcher_free(app->fetcher); /* after the handle that used it */
	app->fetcher = NULL;
	keycache_free(app->keycache);
	app->keycache = NULL;
	admin_close(app->admin);
	saml_idp_close(app->saml);
	oidc_secrets_free(app->oidc_secrets);
	app->oidc_secrets = NULL;
	services_close(app->services);
	if (app->otp_secret != NULL)
		OPENSSL_cleanse(app->otp_secret, app->otp_secret_len);
	free(app->otp_secret);
	OPENSSL_cleanse(app->code_key, sizeof(app->code_key));
	OPENSSL_cleanse(app->device_key, sizeof(app->device_key));
	if (app->es != NULL)
		estore_close(app->es);
	if (app->ds != NULL)
		dstore_close(app->ds);
	free_list(app->cors_origins);
	free_list(app->ws_origins);
	metrics_free(app->metrics);
	app->metrics = NULL;
}

int
cmd_serve(int argc, char **argv)
{
	struct cli cli;
	struct app app;
	struct keys_config kc;
	struct ws_config wc;
	struct push_config pc;
	struct http_config hc;
	struct listener *bound = NULL;
	unsigned int bound_port = 0;
	char *demo_origin = NULL;
	int allow_private;
	const struct route *routes;
	size_t nroutes;
	sigset_t sigs;
	char why[256] = "";
	int rc = 1, sig;
	enum sa_err err;
	uint64_t t0 = now_mono_ms();

	memset(&app, 0, sizeof(app));
	if (cli_parse(&cli, argc, argv) != 0)
		return 2;
	if (cli.help) {
		serve_usage(stdout);
		cli_free(&cli);
		return 0;
	}
	if (cli_leftover(&cli, "serve", 0, NULL) != 0) {
		cli_free(&cli);
		return 2;
	}
	config_warn_unknown_env(stderr);
	app.cfg = cli.cfg; /* the app owns the configuration from here on */
	memset(&cli.cfg, 0, sizeof(cli.cfg));
	log_set_level((enum log_level)log_parse_level(app.cfg.log_level));
	app.started_mono_ms = t0;
	app.started_unix = now_unix();

	/* Signals are taken synchronously by this thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (build_origins(&app) != SA_OK)
		goto out;
	fit_connections(&app);
	umask(077);
	/* Bound first, so that a process started as root can take a low
	 * port and then run as SEALAUTH_USER from here on. */
	if ((err = http_listen(app.cfg.listen, &bound, &bound_port)) != SA_OK) {
		say_listen_failed(&app, err);
		goto out;
	}
	if (sandbox_drop_to(app.cfg.user, app.cfg.data_dir) != SA_OK)
		goto out;
	if (mkdir_p(app.cfg.data_dir, 0700) != SA_OK) {
		log_error("serve.data_dir",
			  "cannot create data directory %s: %s",
			  app.cfg.data_dir, strerror(errno));
		goto out;
	}
	if ((err = open_database(&app, &sigs)) != SA_OK) {
		log_error("serve.database", "cannot open the database: %s",
			  sa_err_str(err));
		goto out;
	}
	if ((err = estore_open(app.cfg.redis_url, &app.es)) != SA_OK) {
		log_error("serve.sessions", "cannot open the session store: %s",
			  sa_err_str(err));
		goto out;
	}
	if ((err = audit_open(app.ds, (size_t)app.cfg.audit_batch_max,
			      &app.audit)) != SA_OK) {
		log_error("serve.audit", "cannot start the audit log: %s",
			  sa_err_str(err));
		goto out;
	}
	audit_set_commit_gap(app.audit,
			     (unsigned int)app.cfg.audit_commit_gap_us);
	audit_set_busy_gap(app.audit,
			   (unsigned int)app.cfg.audit_commit_gap_busy_us);
	if ((err = metrics_new(&app.metrics)) != SA_OK)
		goto out;
	audit_set_metrics(app.audit, app.metrics);
	memset(&kc, 0, sizeof(kc));
	kc.data_dir = app.cfg.data_dir;
	kc.private_key_path = app.cfg.server_private_key_path;
	kc.jwt_ttl = app.cfg.jwt_ttl;
	kc.publish_delay = app.cfg.key_publish_delay;
	if ((err = keys_open(&kc, &app.keys)) != SA_OK) {
		log_error("serve.keys", "cannot load the signing keys: %s",
			  sa_err_str(err));
		goto out;
	}
	if ((err = keycache_new(&app.keycache)) != SA_OK)
		goto out;
	if ((err = ratelimit_new(app.es, app.cfg.rate_limits, &app.rl, why,
				 sizeof(why))) != SA_OK) {
		fprintf(stderr, "sealauth: %s\n", why);
		goto out;
	}
	if (load_otp_secret(&app) != SA_OK ||
	    otp_derive_key(app.otp_secret, app.otp_secret_len, "code",
			   app.code_key) != SA_OK ||
	    otp_derive_key(app.otp_secret, app.otp_secret_len, "device",
			   app.device_key) != SA_OK)
		goto out;
	demo_origin = origin_of(app.cfg.public_url);
	if ((err = services_open(app.ds, &app.services)) != SA_OK) {
		log_error("serve.services",
			  "cannot read the service registry: %s",
			  sa_err_str(err));
		goto out;
	}
	/* Modules that keep settings in service records install their checks
	 * here, before the file is seeded. */
	if ((err = services_set_checker(app.services, "oidc",
					oidc_service_checker)) != SA_OK) {
		log_error("serve.services", "cannot install the OIDC check: %s",
			  sa_err_str(err));
		goto out;
	}
	if ((err = services_set_checker(app.services, "saml",
					saml_sp_checker)) != SA_OK)
		goto out;
	if (services_seed(app.services, app.cfg.services_file, demo_origin, why,
			  sizeof(why)) != SA_OK) {
		fprintf(stderr, "sealauth: %s\n", why);
		goto out;
	}
	if ((err = services_watch(app.services)) != SA_OK) {
		log_error("serve.services",
			  "cannot watch the service registry: %s",
			  sa_err_str(err));
		goto out;
	}
	if (open_trust(&app) != SA_OK)
		goto out;
	if ((err = admin_open(&app, &app.admin)) != SA_OK) {
		log_error("serve.admin", "cannot set administration up: %s",
			  sa_err_str(err));
		goto out;
	}
	app_apply_vrls(&app);
	memset(&pc, 0, sizeof(pc));
	pc.mode = app.cfg.push_mode;
	pc.fcm_service_account_path = app.cfg.fcm_service_account_path;
	pc.fcm_token_url =
	    app.cfg.fcm_token_url[0] ? app.cfg.fcm_token_url : NULL;
	pc.fcm_send_url = app.cfg.fcm_send_url;
	/* Loopback push endpoints (the phone simulator) are a development
	 * convenience: by default only with the demo trust environment. */
	allow_private = app.cfg.push_allow_private == 1 ||
			(app.cfg.push_allow_private == -1 && app.trust_demo);
	pc.allow_private_targets = allow_private;
	pc.workers = (int)app.cfg.push_workers;
	pc.metrics = app.metrics;
	if ((err = push_open(&pc, &app.push)) != SA_OK) {
		log_error("serve.push", "cannot start push delivery: %s",
			  sa_err_str(err));
		goto out;
	}
	if (allow_private) {
		app.schema_flags |= SCHEMA_LOOPBACK_HTTP;
		log_warn("serve.push",
			 "loopback and private push endpoints are "
			 "allowed; development only");
	}

	memset(&wc, 0, sizeof(wc));
	wc.idle_timeout_s = app.cfg.ws_idle_timeout;
	wc.max_message = app.cfg.ws_max_message;
	wc.max_connections = app.cfg.ws_max_connections;
	if ((err = ws_server_start(&wc, &app.ws)) != SA_OK) {
		log_error("serve.ws", "cannot start the WebSocket loop: %s",
			  sa_err_str(err));
		goto out;
	}
	/* The Redis subscriber runs on the WebSocket loop, where the events
	 * it delivers are written; subscribe only once it is attached. */
	if ((err = estore_attach_loop(app.es, ws_event_base(app.ws))) !=
	    SA_OK) {
		log_error("serve.events",
			  "cannot attach the session store to the "
			  "WebSocket loop: %s",
			  sa_err_str(err));
		goto out;
	}
	if ((err = session_conns_new(&app.session_conns)) != SA_OK ||
	    (err = session_events_start(&app)) != SA_OK) {
		log_error("serve.events",
			  "cannot subscribe to session events: %s",
			  sa_err_str(err));
		goto out;
	}
	if (saml_idp_open(&app, stderr, &app.saml) != SA_OK)
		goto out;
	/* The login page's files are read once, now. A directory that cannot
	 * be read is said in the log and leaves only the page unanswered. */
	if ((err = api_static_load(app.cfg.web_dir, &app.web_files)) ==
	    SA_ERR_NOMEM)
		goto out;
	if ((app.oidc_secrets = oidc_secrets_new()) == NULL) {
		log_error("serve.oidc",
			  "cannot set up the client secret record");
		goto out;
	}
	app.weblogin_protocols =
	    api_weblogin_protocols((int)app.cfg.test_routes);
	routes = api_routes((int)app.cfg.test_routes, &nroutes);
	app_http_config(&app, &hc);
	hc.bound = bound;
	hc.bound_port = bound_port;
	/* The metrics listener starts first: once the main listener answers,
	 * every listener is up, so a health check that passes means the
	 * monitoring system can scrape too. */
	if (app.cfg.metrics_listen[0] != '\0' &&
	    (err = start_metrics_listener(&app, &hc)) != SA_OK)
		goto out;
	bound = NULL; /* the server's now, started or not */
	if ((err = http_server_start(&hc, routes, nroutes, &app.http)) !=
	    SA_OK) {
		say_listen_failed(&app, err);
		goto out;
	}
	if (app.cfg.test_routes)
		log_warn("serve.test_routes", "test-only routes are enabled; "
					      "never use this in production");
	log_json(SA_LOG_INFO, "serve.ready",
		 json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:b, s:s, s:s, s:I, "
			   "s:I}",
			   "msg", "sealauth is ready", "listen", app.cfg.listen,
			   "port", (int)http_server_port(app.http), "url",
			   app.cfg.public_url, "database", dstore_name(app.ds),
			   "sessions", estore_name(app.es), "trustDemo",
			   app.trust_demo, "push", push_mode(app.push),
			   "version", SEALAUTH_VERSION, "startupMs",
			   (json_int_t)(now_mono_ms() - t0), "connectionLimit",
			   (json_int_t)app.cfg.connection_limit));
	if ((err = app_refresh_start(&app)) != SA_OK) {
		log_error("serve.trust", "cannot start the trust refresher: %s",
			  sa_err_str(err));
		goto out;
	}
	if (seccomp_wanted(&app) && sandbox_seccomp() != SA_OK) {
		log_error(
		    "serve.seccomp",
		    "cannot restrict system calls; set SEALAUTH_SECCOMP=0 "
		    "to run without");
		goto out;
	}
	app_audit(&app, NULL, "server.start", "",
		  json_pack("{s:s, s:s}", "version", SEALAUTH_VERSION, "listen",
			    app.cfg.listen));

	for (;;) {
		struct timespec ts = {1, 0};
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			log_info("serve.reload",
				 "SIGHUP: refreshing the trust lists now");
			app_refresh_kick(&app);
		}
		periodic(&app);
	}
	log_info("serve.stop", "stopping on signal %d", sig);
	app_audit(&app, NULL, "server.stop", "",
		  json_pack("{s:i}", "signal", sig));
	rc = 0;
out:
	free(demo_origin);
	listener_close(bound);
	app_close(&app);
	config_free(&app.cfg);
	cli_free(&cli);
	return rc;
}
