/*
 * cmd_device.c - `sealauth device`: a phone simulator speaking the public
 * API, for demos, tests and scripts.
 *
 *   sealauth device init --dir DIR [--device-id ID] [--force]
 *   sealauth device enroll --dir DIR --server URL SEAL
 *                          [--push-endpoint URL | --fcm-token TOKEN]
 *   sealauth device listen --dir DIR [--listen-port PORT] ...
 *   sealauth device approve|reject --dir DIR --session ID --otp CODE
 *   sealauth device show --dir DIR
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "cmd/device.h"
#include "seal/seal_codec.h"
#include "core/util.h"

static volatile sig_atomic_t device_stop;

static void
device_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sealauth device init --dir DIR [--device-id ID] [--force]\n"
	    "       sealauth device enroll --dir DIR --server URL SEAL\n"
	    "                  [--push-endpoint URL | --fcm-token TOKEN]\n"
	    "                  [--listen-port PORT]\n"
	    "       sealauth device listen --dir DIR [--listen-port PORT]\n"
	    "                  [--approve | --reject | --not-me | --ask]\n"
	    "                  [--scopes a,b]\n"
	    "                  [--count N] [--timeout SECONDS]\n"
	    "                  [--type-otp CODE] [--server URL] [--json]\n"
	    "       sealauth device approve --dir DIR --session ID --otp CODE\n"
	    "                  [--scopes a,b] [--server URL]\n"
	    "       sealauth device reject --dir DIR --session ID --otp CODE\n"
	    "                  [--not-me] [--server URL]\n"
	    "       sealauth device show --dir DIR\n"
	    "\n"
	    "init    create DIR (0700) with a new P-256 device key "
	    "(device-key.pem,\n"
	    "        0600) and device.json; an existing key is kept unless "
	    "--force\n"
	    "enroll  bind a seal to this device: POST /enroll. SEAL is the "
	    "seal text,\n"
	    "        \"-\" for standard input or @FILE. Without --push-endpoint"
	    " or\n"
	    "        --fcm-token the push endpoint is "
	    "http://127.0.0.1:PORT/push\n"
	    "        (PORT from --listen-port, default %d), which `listen` "
	    "serves; the\n"
	    "        server accepts a loopback http:// endpoint only with its\n"
	    "        development setting, otherwise it wants HTTPS\n"
	    "listen  serve that endpoint and answer each login push: "
	    "--approve,\n"
	    "        --reject, --not-me (reject, signed as \"this wasn't me\":"
	    " the\n"
	    "        server then blocks the address the login came from), or"
	    " --ask\n"
	    "        (the default on a terminal). --scopes grants\n"
	    "        only those of the requested scopes (default: all). A push"
	    " without\n"
	    "        a code (type mode) is answered with --type-otp CODE or a"
	    " code\n"
	    "        typed on the terminal. --count N stops after N pushes; "
	    "--timeout S\n"
	    "        exits 1 when no push arrives for S seconds; --json "
	    "prints one\n"
	    "        JSON line per event on stdout (the readable text then "
	    "goes to\n"
	    "        stderr). Exit status 0 when every answer got 200\n"
	    "approve/reject  answer one session by hand with the code the "
	    "browser\n"
	    "        shows: POST /auth/verify\n"
	    "show    print device.json (never the private key)\n",
	    DEVICE_DEFAULT_PORT);
}

static void
on_signal(int sig)
{
	(void)sig;
	device_stop = 1;
}

/*
 * read_seal reads the SEAL argument as text: itself, "-" for standard input
 * or @FILE. Surrounding whitespace is trimmed; bytes that are not printable
 * text (a raw seal file) are sent as base64, which the server detects.
 * *out is a new string the caller frees.
 */
static enum sa_err
read_seal(const char *arg, char **out)
{
	unsigned char *raw = NULL;
	size_t n = 0, start = 0;
	char *s = NULL;
	int text = 1;
	enum sa_err rc;

	if ((rc = cli_read_arg(arg, SEAL_MAX_TEXT, &raw, &n)) != SA_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((raw[i] < 0x20 && !isspace(raw[i])) || raw[i] >= 0x7f)
			text = 0;
	if (text) {
		while (start < n && isspace(raw[start]))
			start++;
		while (n > start && isspace(raw[n - 1]))
			n--;
		if ((s = strndup((const char *)raw + start, n - start)) == NULL)
			rc = SA_ERR_NOMEM;
	} else if ((s = b64_encode(raw, n)) == NULL) {
		/* Raw seal bytes go as they are, base64-encoded. */
		rc = SA_ERR_NOMEM;
	}
	if (rc == SA_OK && s[0] == '\0') {
		free(s);
		rc = SA_ERR_VALIDATION;
		goto out;
	}
	if (rc == SA_OK)
		*out = s;
out:
	free(raw);
	return rc;
}

/* print_json writes a JSON value indented on stdout. */
static void
print_json(FILE *f, const json_t *v)
{
	json_dumpf(v, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
}

/*
 * print_error tells why the server refused, from its error body (error,
 * message, field) when it sent one.
 */
static void
print_error(const char *what, const struct device_reply *r)
{
	const char *e = json_string_value(json_object_get(r->json, "error"));
	const char *m = json_string_value(json_object_get(r->json, "message"));
	const char *f = json_string_value(json_object_get(r->json, "field"));

	fprintf(stderr, "sealauth: %s refused: HTTP %ld", what, r->status);
	if (e != NULL)
		fprintf(stderr, " %s", e);
	if (m != NULL)
		fprintf(stderr, ": %s", m);
	if (f != NULL)
		fprintf(stderr, " (field %s)", f);
	fputc('\n', stderr);
	if (r->json != NULL)
		print_json(stderr, r->json);
	else if (r->text != NULL && r->text[0] != '\0')
		fprintf(stderr, "%.512s\n", r->text);
}

/* transport_error tells why a request got no answer at all. */
static void
transport_error(const char *what, const char *server, enum sa_err err)
{
	const char *why;

	switch (err) {
	case SA_ERR_VALIDATION:
		why = "arguments refused (URLs must be http:// or https://; "
		      "session ids hold no '|', scopes no ',')";
		break;
	case SA_ERR_UNAVAILABLE:
		why = "cannot reach the server";
		break;
	case SA_ERR_TIMEOUT:
		why = "the server did not answer in time";
		break;
	case SA_ERR_BODY_TOO_LARGE:
		why = "the answer is too large";
		break;
	default:
		why = sa_err_str(err);
		break;
	}
	fprintf(stderr, "sealauth: %s: %s%s%s\n", what, why,
		server ? " at " : "", server ? server : "");
}

static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return 0;
	*out = v;
	return 1;
}

/*
 * url_option_ok checks an option that must be a URL, saying what is wrong
 * and what it should look like; NULL (absent) is fine here.
 */
static int
url_option_ok(const char *cmd, const char *name, const char *v)
{
	if (v == NULL || str_has_prefix(v, "http://") ||
	    str_has_prefix(v, "https://"))
		return 1;
	cli_usage_error(cmd,
			"--%s must be a URL starting with http:// or "
			"https:// (got \"%s\"; for example http://%s)",
			name, v, v);
	return 0;
}

/* split_scopes splits a comma list into v (pointing into s, modified). */
static int
split_scopes(char *s, const char *v[DEVICE_SCOPES_MAX], size_t *n)
{
	char *save = NULL, *t;

	*n = 0;
	for (t = strtok_r(s, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		if (*n >= DEVICE_SCOPES_MAX)
			return 0;
		v[(*n)++] = t;
	}
	return 1;
}

static int
do_init(const char *dir, struct cli *cli)
{
	int bad = 0, force = cli_flag(cli, "force");
	const char *id = cli_value(cli, "device-id", &bad);
	unsigned char *text = NULL;
	size_t n;
	char path[4096];
	int rc;

	if (bad || cli_leftover(cli, "device init", 0, NULL) != 0)
		return 2;
	if (device_init(dir, id, force, stderr) != SA_OK)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, DEVICE_INFO_FILE);
	rc = read_file(path, DEVICE_INFO_MAX, &text, &n) == SA_OK ? 0 : 1;
	if (rc == 0)
		fwrite(text, 1, n, stdout);
	free(text);
	return rc;
}

static int
do_enroll(const char *dir, struct cli *cli)
{
	int bad = 0, rc = 1;
	const char *server = cli_value(cli, "server", &bad);
	const char *push = cli_value(cli, "push-endpoint", &bad);
	const char *fcm = cli_value(cli, "fcm-token", &bad);
	const char *port_s = cli_value(cli, "listen-port", &bad);
	unsigned long port = DEVICE_DEFAULT_PORT;
	char deflt[64], *seal = NULL;
	struct device *d = NULL;
	struct device_reply r = {0};
	enum sa_err err;

	rc = 2;
	if (bad || cli_leftover(cli, "device enroll", 1,
				"the seal (its text, - for standard input, or "
				"@FILE)") != 0)
		goto out;
	if (server == NULL) {
		cli_usage_error("device enroll",
				"missing --server URL (the sealauth server, "
				"for example http://127.0.0.1:8080)");
		goto out;
	}
	if (!url_option_ok("device enroll", "server", server) ||
	    !url_option_ok("device enroll", "push-endpoint", push))
		goto out;
	if (push != NULL && fcm != NULL) {
		cli_usage_error("device enroll", "give --push-endpoint or "
						 "--fcm-token, not both");
		goto out;
	}
	if ((port_s != NULL && !parse_uint(port_s, 65535, &port)) ||
	    port == 0) {
		cli_usage_error("device enroll",
				"--listen-port must be a port number from 1 "
				"to 65535 (got \"%s\")",
				port_s);
		goto out;
	}
	rc = 1;
	if (push == NULL && fcm == NULL) {
		snprintf(deflt, sizeof(deflt), "http://127.0.0.1:%lu/push",
			 port);
		push = deflt;
	}
	if ((err = read_seal(cli->argv[0], &seal)) != SA_OK) {
		fprintf(stderr, "sealauth: cannot read the seal: %s\n",
			sa_err_str(err));
		goto out;
	}
	if (device_open(dir, stderr, &d) != SA_OK)
		goto out;
	if ((err = device_enroll(d, server, seal, push, fcm, &r)) != SA_OK) {
		transport_error("enroll", server, err);
		goto out;
	}
	if (r.status != 200) {
		print_error("enroll", &r);
		goto out;
	}
	if (r.json != NULL)
		print_json(stdout, r.json);
	else
		printf("%s\n", r.text);
	if (json_object_get(device_info(d), "tokenId") == NULL) {
		fprintf(stderr, "sealauth: the answer carries no tokenId\n");
		goto out;
	}
	rc = 0;
out:
	device_reply_free(&r);
	device_close(d);
	free(seal);
	return rc;
}

static int
do_answer(const char *dir, struct cli *cli, const char *decision)
{
	int bad = 0, rc = 1, not_me = 0;
	const char *session = cli_value(cli, "session", &bad);
	const char *otp = cli_value(cli, "otp", &bad);
	const char *server = cli_value(cli, "server", &bad);
	const char *scopes_s = NULL;
	const char *v[DEVICE_SCOPES_MAX];
	char *scopes = NULL;
	size_t n = 0;
	struct device *d = NULL;
	struct device_reply r = {0};
	enum sa_err err;
	const char *cmd = strcmp(decision, "approve") == 0 ? "device approve"
							   : "device reject";

	if (strcmp(decision, "approve") == 0)
		scopes_s = cli_value(cli, "scopes", &bad);
	else
		not_me = cli_flag(cli, "not-me");
	rc = 2;
	if (bad || cli_leftover(cli, cmd, 0, NULL) != 0)
		goto out;
	if (session == NULL || otp == NULL) {
		cli_usage_error(cmd,
				"missing %s (the session id and the six-digit "
				"code the browser shows)",
				session == NULL ? "--session ID"
						: "--otp CODE");
		goto out;
	}
	if (!url_option_ok(cmd, "server", server))
		goto out;
	if (scopes_s != NULL && ((scopes = strdup(scopes_s)) == NULL ||
				 !split_scopes(scopes, v, &n))) {
		cli_usage_error(cmd, "--scopes lists more than %d scopes",
				DEVICE_SCOPES_MAX);
		goto out;
	}
	rc = 1;
	if (device_open(dir, stderr, &d) != SA_OK)
		goto out;
	err = device_answer(d, server, session, otp, decision, v, n,
			    not_me ? "not_me" : NULL, now_unix(), &r);
	if (err != SA_OK) {
		if (err == SA_ERR_NOT_ENROLLED)
			fprintf(stderr,
				"sealauth: %s: this device is not "
				"enrolled (run `sealauth device "
				"enroll` first)\n",
				decision);
		else
			transport_error(decision, server, err);
		goto out;
	}
	if (r.status != 200) {
		print_error(decision, &r);
		goto out;
	}
	if (r.json != NULL)
		print_json(stdout, r.json);
	else
		printf("%s\n", r.text);
	rc = 0;
out:
	device_reply_free(&r);
	device_close(d);
	free(scopes);
	return rc;
}

static int
do_listen(const char *dir, struct cli *cli)
{
	int bad = 0, rc = 1;
	int approve = cli_flag(cli, "approve"),
	    reject = cli_flag(cli, "reject"), not_me = cli_flag(cli, "not-me");
	int ask = cli_flag(cli, "ask"), as_json = cli_flag(cli, "json");
	const char *port_s = cli_value(cli, "listen-port", &bad);
	const char *count_s = cli_value(cli, "count", &bad);
	const char *timeout_s = cli_value(cli, "timeout", &bad);
	unsigned long port = DEVICE_DEFAULT_PORT, count = 0, timeout = 0;
	struct device_listen_opts o;
	struct device_listener *l = NULL;
	struct device *d = NULL;
	struct sigaction sa;
	FILE *tty = NULL;
	enum sa_err err;

	memset(&o, 0, sizeof(o));
	o.scopes = cli_value(cli, "scopes", &bad);
	o.type_otp = cli_value(cli, "type-otp", &bad);
	o.server = cli_value(cli, "server", &bad);
	rc = 2;
	if (bad || cli_leftover(cli, "device listen", 0, NULL) != 0)
		goto out;
	if (approve + reject + ask + not_me > 1) {
		cli_usage_error("device listen",
				"choose one of --approve, --reject, --not-me "
				"and --ask");
		goto out;
	}
	if ((port_s != NULL && !parse_uint(port_s, 65535, &port)) ||
	    (count_s != NULL && !parse_uint(count_s, 1000000, &count)) ||
	    (timeout_s != NULL && !parse_uint(timeout_s, 86400, &timeout))) {
		cli_usage_error("device listen",
				"--listen-port, --count and --timeout take "
				"whole numbers (a port up to 65535, up to "
				"1000000 pushes, up to 86400 seconds)");
		goto out;
	}
	if (!url_option_ok("device listen", "server", o.server))
		goto out;
	rc = 1;
	if (isatty(STDIN_FILENO)) {
		o.tty_in = stdin;
		o.tty_out = stderr;
	} else if ((tty = fopen("/dev/tty", "r+")) != NULL) {
		o.tty_in = tty;
		o.tty_out = tty;
	}
	if (approve)
		o.mode = DEVICE_MODE_APPROVE;
	else if (reject)
		o.mode = DEVICE_MODE_REJECT;
	else if (not_me)
		o.mode = DEVICE_MODE_NOT_ME;
	else if (ask || isatty(STDIN_FILENO))
		o.mode = DEVICE_MODE_ASK;
	if (o.mode == 0 || (o.mode == DEVICE_MODE_ASK && o.tty_in == NULL)) {
		fprintf(stderr, "sealauth device listen: no terminal to ask "
				"on: choose --approve or --reject\n");
		rc = 2;
		goto out;
	}
	o.count = (unsigned int)count;
	o.timeout = (unsigned int)timeout;
	o.out = as_json ? stderr : stdout;
	o.json = as_json ? stdout : NULL;
	o.stop = &device_stop;
	if (device_open(dir, stderr, &d) != SA_OK)
		goto out;
	if (json_object_get(device_info(d), "tokenId") == NULL) {
		fprintf(stderr, "sealauth: this device is not enrolled (run "
				"`sealauth device enroll` first)\n");
		goto out;
	}
	if ((err = device_listener_start((unsigned int)port, &l)) != SA_OK) {
		int e = errno;

		fprintf(stderr,
			"sealauth device listen: cannot listen on "
			"127.0.0.1:%lu: %s%s\n",
			port, e ? strerror(e) : sa_err_str(err),
			e == EADDRINUSE ? " (is another `sealauth device "
					  "listen` running? stop it, or use "
					  "--listen-port and enroll with the "
					  "same port)"
					: "");
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(o.out, "listening for pushes on http://127.0.0.1:%u/push\n",
		device_listener_port(l));
	fflush(o.out);
	rc = device_listen_run(d, l, &o) == SA_OK ? 0 : 1;
out:
	device_listener_stop(l);
	device_close(d);
	if (tty != NULL)
		fclose(tty);
	return rc;
}

static int
do_show(const char *dir, struct cli *cli)
{
	struct device *d = NULL;

	if (cli_leftover(cli, "device show", 0, NULL) != 0)
		return 2;
	if (device_open(dir, stderr, &d) != SA_OK)
		return 1;
	print_json(stdout, device_info(d));
	device_close(d);
	return 0;
}

int
cmd_device(int argc, char **argv)
{
	struct cli cli;
	const char *dir, *sub;
	int bad = 0, rc;

	if ((rc = cli_begin(&cli, argc, argv, device_usage)) >= 0)
		return rc;
	rc = 2;
	if (cli.argc < 1) {
		cli_usage_error("device", "missing the action (init, enroll, "
					  "listen, approve, reject or show)");
		goto out;
	}
	sub = cli.argv[0];
	/* Drop the action; the rest are its options and operands. */
	memmove(&cli.argv[0], &cli.argv[1],
		(size_t)(cli.argc - 1) * sizeof(cli.argv[0]));
	cli.argc--;
	dir = cli_value(&cli, "dir", &bad);
	if (bad || dir == NULL || dir[0] == '\0') {
		cli_usage_error("device",
				"missing --dir DIR (the phone's directory, "
				"made by `sealauth device init --dir DIR`)");
		goto out;
	}
	if (strcmp(sub, "init") == 0)
		rc = do_init(dir, &cli);
	else if (strcmp(sub, "enroll") == 0)
		rc = do_enroll(dir, &cli);
	else if (strcmp(sub, "listen") == 0)
		rc = do_listen(dir, &cli);
	else if (strcmp(sub, "approve") == 0 || strcmp(sub, "reject") == 0)
		rc = do_answer(dir, &cli, sub);
	else if (strcmp(sub, "show") == 0)
		rc = do_show(dir, &cli);
	else
		cli_usage_error("device",
				"unknown action \"%s\" (init, enroll, listen, "
				"approve, reject or show)",
				sub);
out:
	cli_free(&cli);
	return rc;
}
