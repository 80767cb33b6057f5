/*
 * main.c - the sealauth binary: one program, several subcommands.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cmd/cmd.h"
#include "core/util.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
    {"serve", cmd_serve, "run the authentication server"},
    {"config", cmd_config, "print every setting (help or markdown)"},
    {"keys", cmd_keys, "list, rotate and publish the token signing keys"},
    {"audit", cmd_audit, "verify the audit chain and print recent events"},
    {"admin", cmd_admin, "open a recovery install window for lost passkeys"},
    {"services", cmd_services,
     "list, show or delete relying parties in the registry"},
    {"vds", cmd_vds, "inspect a seal or check its signature"},
    {"device", cmd_device,
     "simulate a phone: enroll, receive pushes, approve or reject"},
    {"trust", cmd_trust, "build the demo trust environment, check the chain"},
    {"oidc", cmd_oidc, "OpenID Connect client tools (hash a client secret)"},
    {"saml", cmd_saml, "turn an SP's SAML metadata into its settings"},
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: sealauth COMMAND [OPTIONS]\n"
		"\n"
		"sealauth is a passwordless authentication server: a person "
		"enrolls once\nwith a Visible Digital Seal, then logs in by "
		"comparing a code on screen\nwith the code pushed to their "
		"phone (ITU-T X.1280).\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name,
			commands[i].help);
	fprintf(out, "  %-10s %s\n", "version", "print the version");
	fprintf(out,
		"\nRun `sealauth COMMAND --help` for a command's options.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* Only a missing command shows the whole list; a mistyped one gets
	 * one line that stays on the screen. */
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("sealauth %s\n", SEALAUTH_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr,
		"sealauth: unknown command \"%s\"\nrun 'sealauth --help' for "
		"the commands\n",
		argv[1]);
	return 2;
}
