/*
 * cmd_config.c - `sealauth config`: print the settings table, or the
 * built-in rate-limit classes.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/config.h"
#include "store/ratelimit.h"

int
cmd_config(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--markdown") == 0) {
		config_print_markdown(stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--rate-limits") == 0) {
		ratelimit_print_markdown(stdout);
		return 0;
	}
	if (argc == 1 || (argc == 2 && strcmp(argv[1], "--help") == 0)) {
		printf(
		    "usage: sealauth config [--markdown | --rate-limits]\n\n"
		    "Every setting, its option, variable and default. Settings "
		    "come from the\nconfig file, then the environment, then "
		    "options (later wins).\n\n");
		config_print_help(stdout);
		return 0;
	}
	fprintf(stderr,
		"usage: sealauth config [--markdown | --rate-limits]\n");
	return 2;
}
