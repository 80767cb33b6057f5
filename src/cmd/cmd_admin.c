/*
 * cmd_admin.c - `sealauth admin recover`: open a new install window when
 * every admin lost every passkey. It needs local access to the server's
 * data directory and database (the same options as `sealauth serve`); the
 * next claim adds an admin beside the existing ones.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "app/app.h"
#include "audit/audit.h"
#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

static void
cmd_admin_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sealauth admin recover [OPTIONS]\n\n"
	    "recover  opens a new install window on the server's database "
	    "for an\n         admin whose passkeys are all lost; prints the "
	    "install token and\n         writes it to DATA_DIR/install-token "
	    "(audited as\n         admin.recover_opened)\n\n"
	    "OPTIONS are the server's configuration options, such as\n"
	    "  --data-dir DIR       the server's data directory\n"
	    "  --database-url URL   its database\n");
}

int
cmd_admin(int argc, char **argv)
{
	struct cli cli;
	struct app app;
	char token[64] = "";
	int status, level;
	enum sa_err rc;

	memset(&app, 0, sizeof(app));
	if ((status = cli_parse(&cli, argc, argv)) != 0)
		return status;
	if (cli.help) {
		cmd_admin_usage(stdout);
		goto out;
	}
	if ((level = log_parse_level(cli.cfg.log_level)) >= 0)
		log_set_level((enum log_level)level);
	if (cli.argc != 1 || strcmp(cli.argv[0], "recover") != 0) {
		cmd_admin_usage(stderr);
		status = 2;
		goto out;
	}
	/* Recovery acts on an existing server: never create a database. */
	if (!cli_database_exists(&cli)) {
		status = 1;
		goto out;
	}
	app.cfg = cli.cfg;
	if (dstore_open(app.cfg.database_url, &app.ds) != SA_OK ||
	    audit_open(app.ds, 16, &app.audit) != SA_OK) {
		fprintf(stderr, "sealauth: cannot open the database\n");
		status = 1;
		goto out;
	}
	if ((rc = admin_recover(&app, token, sizeof(token))) != SA_OK) {
		fprintf(stderr, "sealauth: cannot open a recovery window: %s\n",
			sa_err_str(rc));
		status = 1;
		goto out;
	}
	printf("recovery install token: %s\n(also in %s/install-token; claim "
	       "it at %s/admin)\n",
	       token, app.cfg.data_dir, app.cfg.public_url);
	status = 0;
out:
	OPENSSL_cleanse(token, sizeof(token));
	audit_close(app.audit);
	dstore_close(app.ds);
	cli_free(&cli);
	return status;
}
