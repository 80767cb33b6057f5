/*
 * cmd_audit.c - `sealauth audit`: verify the audit chain, print recent
 * events.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <jansson.h>

#include "audit/audit.h"
#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "store/store.h"
#include "core/util.h"

#define AUDIT_TAIL_DEFAULT 20
#define AUDIT_TAIL_MAX 100000

static void
cmd_audit_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sealauth audit verify [OPTIONS]\n"
	    "       sealauth audit tail [-n N] [--json] [OPTIONS]\n"
	    "\n"
	    "verify  walks the whole hash chain of the audit log and checks "
	    "that every\n"
	    "        row follows the previous one (seq, prev_hash) and "
	    "that its hash\n"
	    "        matches its contents. Exit 0 and \"audit chain intact: "
	    "N rows\", or\n"
	    "        exit 1 naming the first broken seq and why.\n"
	    "tail    prints the last N events (default %d), oldest first, in "
	    "columns,\n"
	    "        or one JSON object per line with --json.\n"
	    "\n"
	    "OPTIONS are the server's configuration options; the ones that "
	    "matter here:\n"
	    "  --data-dir DIR       the data directory (database "
	    "DIR/sealauth.db)\n"
	    "  --database-url URL   the durable store (sqlite://PATH or "
	    "postgres://...)\n"
	    "  --config FILE        a config file\n"
	    "Run `sealauth config` for all of them.\n",
	    AUDIT_TAIL_DEFAULT);
}

/* cmd_audit_time formats unix milliseconds as ISO 8601 UTC with ms. */
static void
cmd_audit_time(int64_t ts_ms, char out[32])
{
	time_t t = (time_t)(ts_ms / 1000);
	struct tm tm;

	if (ts_ms < 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, 32, "@%" PRId64, ts_ms);
		return;
	}
	snprintf(out + 19, 32 - 19, ".%03dZ", (int)(ts_ms % 1000));
}

/*
 * cmd_audit_put prints a stored string for a terminal: control bytes (a
 * user agent may carry escape sequences) are shown as \xNN, and the text is
 * padded to width columns of bytes when width > 0.
 */
static void
cmd_audit_put(const char *s, int width)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\') {
			n += printf("\\x%02x", *p);
		} else {
			putchar(*p);
			n++;
		}
	}
	for (; n < width; n++)
		putchar(' ');
}

/* cmd_audit_print_json prints one row as a JSON line. */
static int
cmd_audit_print_json(const struct audit_row *row, void *arg)
{
	char when[32], *text = NULL, *prev = NULL, *hash = NULL;
	json_t *o = NULL, *detail;

	(void)arg;
	cmd_audit_time(row->ts_ms, when);
	detail = json_loads(row->detail, JSON_REJECT_DUPLICATES, NULL);
	if (detail == NULL)
		detail = audit_text_json(row->detail);
	prev = hex_encode(row->prev_hash, 32);
	hash = hex_encode(row->hash, 32);
	o = json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o*, s:s?, s:s?}",
		      "seq", (json_int_t)row->seq, "ts", when, "ts_ms",
		      (json_int_t)row->ts_ms, "event",
		      audit_text_json(row->event), "ip",
		      audit_text_json(row->ip), "ua", audit_text_json(row->ua),
		      "subject", audit_text_json(row->subject), "detail",
		      detail, "prev_hash", prev, "hash", hash);
	if (o != NULL)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text != NULL)
		printf("%s\n", text);
	else
		fprintf(stderr,
			"sealauth: cannot format audit row %" PRId64 "\n",
			row->seq);
	free(text);
	free(prev);
	free(hash);
	json_decref(o);
	return 0;
}

/* cmd_audit_print_row prints one row in columns. */
static int
cmd_audit_print_row(const struct audit_row *row, void *arg)
{
	char when[32];

	(void)arg;
	cmd_audit_time(row->ts_ms, when);
	printf("%8" PRId64 "  %-24s  ", row->seq, when);
	cmd_audit_put(row->event, 22);
	printf("  ");
	cmd_audit_put(row->ip[0] ? row->ip : "-", 15);
	printf("  ");
	cmd_audit_put(row->subject[0] ? row->subject : "-", 20);
	printf("  ");
	cmd_audit_put(row->detail, 0);
	if (row->ua[0] != '\0') {
		printf("  ua=");
		cmd_audit_put(row->ua, 0);
	}
	putchar('\n');
	return 0;
}

/* cmd_audit_lines reads the -n value: "-n N" or "-nN", 1..AUDIT_TAIL_MAX.
 * Returns 0 on success, 2 on a usage error. */
static int
cmd_audit_lines(struct cli *cli, long *lines)
{
	for (int i = 0; i < cli->argc; i++) {
		const char *v;
		char *end;
		int take;
		long n;

		if (strcmp(cli->argv[i], "-n") == 0) {
			if (i + 1 >= cli->argc)
				goto bad;
			v = cli->argv[i + 1];
			take = 2;
		} else if (strncmp(cli->argv[i], "-n", 2) == 0) {
			v = cli->argv[i] + 2;
			take = 1;
		} else {
			continue;
		}
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 1 || n > AUDIT_TAIL_MAX)
			goto bad;
		*lines = n;
		for (int j = i; j + take < cli->argc; j++)
			cli->argv[j] = cli->argv[j + take];
		cli->argc -= take;
		return 0;
	}
	return 0;
bad:
	fprintf(stderr, "sealauth: -n needs a number from 1 to %d\n",
		AUDIT_TAIL_MAX);
	return 2;
}

static int
cmd_audit_verify(struct dstore *ds)
{
	struct audit_verify_result res;
	enum sa_err rc = audit_verify(ds, &res);

	if (rc != SA_OK) {
		fprintf(stderr, "sealauth: cannot read the audit log: %s\n",
			sa_err_str(rc));
		return 1;
	}
	if (res.first_bad_seq != 0) {
		printf("audit chain broken at seq %" PRId64 ": %s\n",
		       res.first_bad_seq, res.reason);
		return 1;
	}
	printf("audit chain intact: %" PRId64 " rows\n", res.rows);
	return 0;
}

static int
cmd_audit_tail(struct dstore *ds, long lines, int json)
{
	int64_t count = 0, from;
	enum sa_err rc;

	if ((rc = dstore_audit_count(ds, &count)) != SA_OK)
		goto fail;
	/* seq runs 1..count in an intact log; in a damaged one this still
	 * shows the newest rows, perhaps fewer than asked. */
	from = count - lines + 1 > 1 ? count - lines + 1 : 1;
	if (!json)
		printf("%8s  %-24s  %-22s  %-15s  %-20s  %s\n", "SEQ",
		       "TIME (UTC)", "EVENT", "IP", "SUBJECT", "DETAIL");
	rc = dstore_audit_iter(
	    ds, from, 0, json ? cmd_audit_print_json : cmd_audit_print_row,
	    NULL);
	if (rc != SA_OK)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "sealauth: cannot read the audit log: %s\n",
		sa_err_str(rc));
	return 1;
}

int
cmd_audit(int argc, char **argv)
{
	struct cli cli;
	struct dstore *ds = NULL;
	long lines = AUDIT_TAIL_DEFAULT;
	int status, json = 0;
	const char *sub;

	if ((status = cli_begin(&cli, argc, argv, cmd_audit_usage)) >= 0)
		return status;
	status = 0;
	if (cli.argc < 1) {
		status = cli_usage_error("audit",
					 "missing the action (tail or verify)");
		goto out;
	}
	sub = cli.argv[0];
	if (strcmp(sub, "tail") == 0) {
		json = cli_flag(&cli, "json");
		if ((status = cmd_audit_lines(&cli, &lines)) != 0)
			goto out;
	} else if (strcmp(sub, "verify") != 0) {
		status = cli_usage_error(
		    "audit", "unknown action \"%s\" (tail or verify)", sub);
		goto out;
	}
	if ((status = cli_leftover(&cli, "audit", 1, NULL)) != 0)
		goto out;
	/* Reading an audit log must not create one: a mistyped --data-dir
	 * would otherwise report an empty, "intact" chain. */
	if (!cli_database_exists(&cli)) {
		status = 1;
		goto out;
	}
	if (dstore_open(cli.cfg.database_url, &ds) != SA_OK) {
		fprintf(stderr, "sealauth: cannot open the database\n");
		status = 1;
		goto out;
	}
	status = strcmp(sub, "verify") == 0 ? cmd_audit_verify(ds)
					    : cmd_audit_tail(ds, lines, json);
out:
	dstore_close(ds);
	cli_free(&cli);
	return status;
}
