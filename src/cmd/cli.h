/*
 * cli.h - shared command-line handling for subcommands.
 *
 * Every subcommand accepts the configuration options of the settings table
 * (`--data-dir DIR`, `--listen=ADDR`, ...) on top of its own flags, so a
 * command always sees the same configuration the server would.
 */
#ifndef SEALAUTH_CLI_H
#define SEALAUTH_CLI_H

#include <stdio.h>

#include "core/config.h"

#define CLI_MAX_ARGS 32

struct cli {
	struct config cfg;
	/* Arguments that are not configuration options, in order. Flags of
	 * the subcommand itself ("--json", "-n") stay here for it to read. */
	int argc;
	char *argv[CLI_MAX_ARGS];
	int help; /* --help or -h was given */
};

/*
 * cli_parse loads defaults, the config file and the environment, then the
 * configuration options found in argv[1..]; everything else is kept in
 * cli->argv. It resolves derived defaults (config_resolve). On error it
 * prints why to stderr, frees what it loaded and returns 2 (the usage exit
 * status); on success it returns 0 and the caller calls cli_free.
 */
int cli_parse(struct cli *cli, int argc, char **argv);

/* cli_flag removes "--name" from the kept arguments and tells whether it was
 * there. */
int cli_flag(struct cli *cli, const char *name);

/* cli_value removes "--name VALUE" or "--name=VALUE" and returns VALUE, or
 * NULL if absent. A flag without its value is reported to stderr and sets
 * *bad to 1. */
const char *cli_value(struct cli *cli, const char *name, int *bad);

/*
 * cli_usage_error prints one line, "sealauth CMD: MESSAGE", then where the
 * usage is ("run 'sealauth CMD --help'"), never the usage itself, so the
 * message stays on the screen. Returns 2, the usage exit status.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * cli_leftover checks that exactly n operands are left once a subcommand has
 * taken its options, naming the first unknown option, the extra argument or
 * the missing operand (what) through cli_usage_error. Returns 0 or 2.
 */
int cli_leftover(const struct cli *cli, const char *cmd, int n,
		 const char *what);

/*
 * cli_read_arg reads an operand that may be given inline: the argument's own
 * text, "-" for standard input, or @FILE for a file's contents, at most max
 * bytes (SA_ERR_BODY_TOO_LARGE past that, SA_ERR_IO when standard input
 * fails). *out is a new buffer with a NUL after its *outlen bytes; the
 * caller frees it.
 */
enum sa_err cli_read_arg(const char *arg, size_t max, unsigned char **out,
			 size_t *outlen);

/*
 * cli_database_exists tells whether the configured database can be opened
 * without creating one: a SQLite file must be there already (a command that
 * reads or repairs an existing server must never make an empty one), any
 * other URL is taken as it is. It prints the missing path and returns 0, or
 * returns 1.
 */
int cli_database_exists(const struct cli *cli);

/*
 * cli_begin starts a subcommand: cli_parse, then for --help the usage on
 * standard output, then the configured log level. It returns -1 when the
 * command goes on (the caller calls cli_free at its end), else the exit
 * status to return at once (nothing left to free).
 */
int cli_begin(struct cli *cli, int argc, char **argv, void (*usage)(FILE *out));

/*
 * cli_open_existing opens, for a command that acts on a server's data, the
 * configured database (which must exist: cli_database_exists) and its
 * audit log into app, whose cfg it sets from cli. On failure it says why
 * on standard error and returns 0. cli_close_existing closes both (also
 * after a failure part-way).
 */
struct app;
int cli_open_existing(const struct cli *cli, struct app *app);
void cli_close_existing(struct app *app);

/* cli_free frees the configuration; calling it twice is harmless. */
void cli_free(struct cli *cli);

#endif
