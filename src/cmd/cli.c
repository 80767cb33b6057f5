/*
 * cli.c - configuration options shared by every subcommand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "audit/audit.h"
#include "cmd/cli.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

static int
cli_fail(struct cli *cli)
{
	config_free(&cli->cfg);
	return 2;
}

int
cli_parse(struct cli *cli, int argc, char **argv)
{
	memset(cli, 0, sizeof(*cli));
	if (config_defaults(&cli->cfg) != SA_OK)
		return cli_fail(cli);
	/* The config file may be named on the command line; find it first so
	 * the environment and options still override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_set(&cli->cfg, "SEALAUTH_CONFIG", argv[i + 1],
				   NULL);
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config_set(&cli->cfg, "SEALAUTH_CONFIG", argv[i] + 9,
				   NULL);
	}
	if (config_load(&cli->cfg, stderr) != SA_OK)
		return cli_fail(cli);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli->help = 1;
			continue;
		}
		if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
			char name[64];
			const char *eq = strchr(a, '='), *val = NULL;
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			if (n < sizeof(name)) {
				memcpy(name, a + 2, n);
				name[n] = '\0';
				val = eq ? eq + 1
					 : (i + 1 < argc ? argv[i + 1] : NULL);
				enum sa_err rc =
				    val ? config_set_option(&cli->cfg, name,
							    val, stderr)
					: SA_ERR_NOT_FOUND;
				if (rc == SA_OK) {
					if (eq == NULL)
						i++;
					continue;
				}
				if (rc != SA_ERR_NOT_FOUND)
					return cli_fail(cli);
			}
		}
		if (cli->argc >= CLI_MAX_ARGS) {
			fprintf(stderr,
				"sealauth: too many arguments (at most "
				"%d)\n",
				CLI_MAX_ARGS);
			return cli_fail(cli);
		}
		cli->argv[cli->argc++] = argv[i];
	}
	if (config_resolve(&cli->cfg, stderr) != SA_OK)
		return cli_fail(cli);
	return 0;
}

static void
cli_remove(struct cli *cli, int i, int n)
{
	for (int j = i; j + n < cli->argc; j++)
		cli->argv[j] = cli->argv[j + n];
	cli->argc -= n;
}

int
cli_flag(struct cli *cli, const char *name)
{
	for (int i = 0; i < cli->argc; i++) {
		if (strncmp(cli->argv[i], "--", 2) == 0 &&
		    strcmp(cli->argv[i] + 2, name) == 0) {
			cli_remove(cli, i, 1);
			return 1;
		}
	}
	return 0;
}

const char *
cli_value(struct cli *cli, const char *name, int *bad)
{
	size_t n = strlen(name);

	for (int i = 0; i < cli->argc; i++) {
		const char *a = cli->argv[i];
		if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0)
			continue;
		if (a[2 + n] == '=') {
			cli_remove(cli, i, 1);
			return a + 3 + n;
		}
		if (a[2 + n] != '\0')
			continue;
		if (i + 1 >= cli->argc) {
			fprintf(stderr, "sealauth: --%s needs a value\n", name);
			*bad = 1;
			cli_remove(cli, i, 1);
			return NULL;
		}
		const char *v = cli->argv[i + 1];
		cli_remove(cli, i, 2);
		return v;
	}
	return NULL;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sealauth %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	/* Only the command's first word has a --help of its own. */
	fprintf(stderr, "\nrun 'sealauth %.*s --help' for the usage\n",
		(int)strcspn(cmd, " "), cmd);
	return 2;
}

int
cli_leftover(const struct cli *cli, const char *cmd, int n, const char *what)
{
	for (int i = 0; i < cli->argc; i++)
		if (strncmp(cli->argv[i], "--", 2) == 0 &&
		    cli->argv[i][2] != '\0')
			return cli_usage_error(cmd, "unknown option %s",
					       cli->argv[i]);
	if (cli->argc < n)
		return cli_usage_error(cmd, "missing %s", what);
	if (cli->argc > n)
		return cli_usage_error(cmd, "unexpected argument \"%s\"",
				       cli->argv[n]);
	return 0;
}

enum sa_err
cli_read_arg(const char *arg, size_t max, unsigned char **out, size_t *outlen)
{
	struct buf b;
	unsigned char chunk[4096];
	enum sa_err rc;

	if (arg[0] == '@')
		return read_file(arg + 1, max, out, outlen);
	buf_init(&b, max);
	if (strcmp(arg, "-") == 0) {
		size_t r;

		while ((r = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			if ((rc = buf_append(&b, chunk, r)) != SA_OK)
				goto fail;
		if (ferror(stdin)) {
			rc = SA_ERR_IO;
			goto fail;
		}
	} else if ((rc = buf_append(&b, arg, strlen(arg))) != SA_OK) {
		goto fail;
	}
	if (b.data == NULL && (rc = buf_append(&b, "", 0)) != SA_OK)
		goto fail;
	*out = b.data;
	*outlen = b.len;
	return SA_OK;
fail:
	buf_free(&b);
	return rc;
}

int
cli_database_exists(const struct cli *cli)
{
	const char *url = cli->cfg.database_url;

	if (str_has_prefix(url, "sqlite://") && access(url + 9, F_OK) != 0) {
		fprintf(stderr, "sealauth: no database at %s\n", url + 9);
		return 0;
	}
	return 1;
}

int
cli_begin(struct cli *cli, int argc, char **argv, void (*usage)(FILE *out))
{
	int status, level;

	if ((status = cli_parse(cli, argc, argv)) != 0)
		return status;
	if (cli->help) {
		usage(stdout);
		cli_free(cli);
		return 0;
	}
	if ((level = log_parse_level(cli->cfg.log_level)) >= 0)
		log_set_level((enum log_level)level);
	return -1;
}

int
cli_open_existing(const struct cli *cli, struct app *app)
{
	/* A command acting on a server's data must never create a database.
	 */
	if (!cli_database_exists(cli))
		return 0;
	app->cfg = cli->cfg;
	if (dstore_open(app->cfg.database_url, &app->ds) != SA_OK ||
	    audit_open(app->ds, 16, &app->audit) != SA_OK) {
		fprintf(stderr, "sealauth: cannot open the database %s\n",
			app->cfg.database_url);
		return 0;
	}
	return 1;
}

void
cli_close_existing(struct app *app)
{
	audit_close(app->audit);
	app->audit = NULL;
	dstore_close(app->ds);
	app->ds = NULL;
}

void
cli_free(struct cli *cli)
{
	config_free(&cli->cfg);
}
