/*
 * cmd_admin.c - `sealauth admin recover`: open a new install window when
 * every admin lost every passkey. It needs local access to the server's
 * data directory and database (the same options as `sealauth serve`); the
 * next claim adds an admin beside the existing ones.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "app/app.h"
#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "core/util.h"

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
	int status;
	enum sa_err rc;

	memset(&app, 0, sizeof(app));
	if ((status = cli_begin(&cli, argc, argv, cmd_admin_usage)) >= 0)
		return status;
	if (cli.argc != 1 || strcmp(cli.argv[0], "recover") != 0) {
		cmd_admin_usage(stderr);
		status = 2;
		goto out;
	}
	if (!cli_open_existing(&cli, &app)) {
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
	cli_close_existing(&app);
	cli_free(&cli);
	return status;
}
