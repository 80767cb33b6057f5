/*
 * cmd_serve.c - `sealauth serve`: build the shared state, start the HTTP
 * server and the WebSocket loop, and stop cleanly on SIGTERM or SIGINT.
 *
 * Shutdown order matters: stop accepting, close WebSockets (MHD needs every
 * upgraded socket released before it stops), let running handlers finish
 * (their audit rows are durable before they answer), then drain the audit
 * queue and close the stores. Nothing accepted is lost.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "app.h"
#include "audit.h"
#include "cli.h"
#include "cmd.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "ratelimit.h"
#include "store/store.h"
#include "util.h"
#include "ws.h"

static void
serve_usage(FILE *out)
{
	fprintf(out,
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

/* origin_of reduces a URL to scheme://host[:port]. */
static char *
origin_of(const char *url)
{
	const char *s = strstr(url, "://");
	size_t n;

	if (s == NULL)
		return NULL;
	n = (size_t)(s + 3 - url) + strcspn(s + 3, "/?#");
	return strndup(url, n);
}

static enum sa_err
build_origins(struct app *app)
{
	size_t bad = 0;
	char *joined = NULL, *pub;

	if (cidr_list_parse(app->cfg.trusted_proxies, &app->trusted_proxies,
			    &bad) != SA_OK) {
		fprintf(stderr,
			"sealauth: SEALAUTH_TRUSTED_PROXIES: entry %zu is not an "
			"IP address or CIDR\n",
			bad + 1);
		return SA_ERR_CONFIG;
	}
	for (const char *c = app->cfg.cors_origins; *c; c++) {
		if (*c == '*') {
			fprintf(stderr, "sealauth: SEALAUTH_CORS_ORIGINS: \"*\" is "
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

/* periodic runs once a second on the main thread. */
static void
periodic(struct app *app)
{
	keys_reload(app->keys);
}

static void
app_close(struct app *app)
{
	if (app->http != NULL)
		http_server_quiesce(app->http);
	if (app->ws != NULL)
		ws_server_stop(app->ws);
	app->ws = NULL;
	http_server_stop(app->http);
	app->http = NULL;
	if (app->audit != NULL)
		audit_close(app->audit);
	app->audit = NULL;
	ratelimit_free(app->rl);
	keys_close(app->keys);
	if (app->es != NULL)
		estore_close(app->es);
	if (app->ds != NULL)
		dstore_close(app->ds);
	free_list(app->cors_origins);
	free_list(app->ws_origins);
}

int
cmd_serve(int argc, char **argv)
{
	struct cli cli;
	struct app app;
	struct keys_config kc;
	struct ws_config wc;
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
	if (cli.argc > 0) {
		fprintf(stderr, "sealauth serve: unknown argument \"%s\"\n\n",
			cli.argv[0]);
		serve_usage(stderr);
		cli_free(&cli);
		return 2;
	}
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
	umask(077);
	if (mkdir_p(app.cfg.data_dir, 0700) != SA_OK) {
		log_error("serve.data_dir", "cannot create data directory %s: %s",
			  app.cfg.data_dir, strerror(errno));
		goto out;
	}
	if ((err = dstore_open(app.cfg.database_url, &app.ds)) != SA_OK) {
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
	if ((err = ratelimit_new(app.es, app.cfg.rate_limits, &app.rl, why,
				 sizeof(why))) != SA_OK) {
		fprintf(stderr, "sealauth: %s\n", why);
		goto out;
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
	routes = api_routes((int)app.cfg.test_routes, &nroutes);
	if ((err = http_server_start(&app, routes, nroutes, &app.http)) != SA_OK)
		goto out;
	if (app.cfg.test_routes)
		log_warn("serve.test_routes",
			 "test-only routes are enabled; never use this in production");
	log_json(SA_LOG_INFO, "serve.ready",
		 json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "msg",
			   "sealauth is ready", "listen", app.cfg.listen, "port",
			   (int)http_server_port(app.http), "database",
			   dstore_name(app.ds), "sessions", estore_name(app.es),
			   "version", SEALAUTH_VERSION, "startupMs",
			   (json_int_t)(now_mono_ms() - t0)));
	app_audit(&app, NULL, "server.start", "",
		  json_pack("{s:s, s:s}", "version", SEALAUTH_VERSION, "listen",
			    app.cfg.listen));

	for (;;) {
		struct timespec ts = {1, 0};
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		periodic(&app);
	}
	log_info("serve.stop", "stopping on signal %d", sig);
	app_audit(&app, NULL, "server.stop", "", json_pack("{s:i}", "signal", sig));
	rc = 0;
out:
	app_close(&app);
	config_free(&app.cfg);
	cli_free(&cli);
	return rc;
}
