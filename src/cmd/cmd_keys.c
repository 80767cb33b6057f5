/*
 * cmd_keys.c - `sealauth keys`: list, rotate and publish the token signing
 * keys of the ring in DATA_DIR/keys (or show the SERVER_PRIVATE_KEY_PATH
 * key). A running server picks up a rotation by re-reading ring.json.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "crypto/keys.h"
#include "core/util.h"

static void
keys_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sealauth keys list [--json]\n"
	    "       sealauth keys rotate [--publish-delay SECONDS]\n"
	    "       sealauth keys jwks\n"
	    "\n"
	    "list    every published key: kid, state, created, activates,\n"
	    "        retires and leaves the JWKS (--json: as JSON)\n"
	    "rotate  add a new key; it is published at once and signs after\n"
	    "        the publish delay (SEALAUTH_KEY_PUBLISH_DELAY, default\n"
	    "        600 s, longer than the 300 s JWKS cache); the active key\n"
	    "        then retires and stays published until the last token\n"
	    "        it signed has expired (JWT TTL + %d s)\n"
	    "jwks    print the JWKS the server publishes at /jwks\n"
	    "\n"
	    "With SERVER_PRIVATE_KEY_PATH set the key is managed outside "
	    "sealauth\nand rotate refuses. Configuration options "
	    "(--data-dir ...) apply.\n",
	    KEYS_RETIRE_SLACK);
}

/* when writes an ISO 8601 time, or "-" for JSON null. */
static void
when(json_t *v, char out[21])
{
	if (json_is_integer(v))
		iso8601_utc((int64_t)json_integer_value(v), out);
	else
		snprintf(out, 21, "-");
}

static int
keys_list(struct keys *k, int as_json, int64_t now)
{
	json_t *arr = keys_list_json(k, now), *e;
	size_t i;

	if (arr == NULL) {
		fprintf(stderr, "sealauth: out of memory\n");
		return 1;
	}
	if (as_json) {
		json_t *root = json_pack("{s:O}", "keys", arr);
		if (root == NULL ||
		    json_dumpf(root, stdout, JSON_INDENT(2)) != 0) {
			json_decref(root);
			json_decref(arr);
			return 1;
		}
		putchar('\n');
		json_decref(root);
		json_decref(arr);
		return 0;
	}
	printf("%-43s  %-7s  %-20s  %-20s  %-20s  %s\n", "KID", "STATE",
	       "CREATED", "ACTIVATES", "RETIRES", "UNPUBLISHED");
	json_array_foreach(arr, i, e)
	{
		char c[21], a[21], r[21], u[21];
		when(json_object_get(e, "created_at"), c);
		when(json_object_get(e, "activate_at"), a);
		when(json_object_get(e, "retired_at"), r);
		when(json_object_get(e, "unpublish_at"), u);
		printf("%-43s  %-7s  %-20s  %-20s  %-20s  %s\n",
		       json_string_value(json_object_get(e, "kid")),
		       json_string_value(json_object_get(e, "state")), c, a, r,
		       u);
	}
	json_decref(arr);
	return 0;
}

static int
keys_jwks(struct keys *k, int64_t now)
{
	json_t *jwks = keys_jwks_json(k, now);
	int rc = 1;

	if (jwks != NULL && json_dumpf(jwks, stdout, JSON_INDENT(2)) == 0) {
		putchar('\n');
		rc = 0;
	}
	json_decref(jwks);
	return rc;
}

static int
keys_do_rotate(struct keys *k, int64_t now)
{
	char kid[JWK_KID_LEN];
	json_t *arr;
	enum sa_err rc;

	if ((rc = keys_rotate(k, now, kid)) != SA_OK) {
		/* Refusals were explained by keys_rotate itself. */
		if (rc != SA_ERR_FORBIDDEN && rc != SA_ERR_CONFLICT)
			fprintf(stderr, "sealauth: keys rotate: %s\n",
				sa_err_str(rc));
		return 1;
	}
	printf("new key %s is published\n", kid);
	/* Say what happens when, from the ring as it now stands. */
	if ((arr = keys_list_json(k, now)) != NULL) {
		json_t *e;
		size_t i;
		json_array_foreach(arr, i, e)
		{
			const char *ekid =
			    json_string_value(json_object_get(e, "kid"));
			const char *st =
			    json_string_value(json_object_get(e, "state"));
			char a[21], r[21], u[21];
			when(json_object_get(e, "activate_at"), a);
			when(json_object_get(e, "retired_at"), r);
			when(json_object_get(e, "unpublish_at"), u);
			if (strcmp(ekid, kid) == 0)
				printf("  %s signs from %s\n", ekid, a);
			else if (json_is_integer(
				     json_object_get(e, "retired_at")))
				printf("  %s (%s) retires %s, published "
				       "until %s\n",
				       ekid, st, r, u);
		}
		json_decref(arr);
	}
	return 0;
}

int
cmd_keys(int argc, char **argv)
{
	struct cli cli;
	struct keys_config kc;
	struct keys *k = NULL;
	const char *sub;
	int as_json, rc = 2;

	if ((rc = cli_begin(&cli, argc, argv, keys_usage)) >= 0)
		return rc;
	rc = 2;
	as_json = cli_flag(&cli, "json");
	if (cli_leftover(&cli, "keys", 1,
			 "the action (list, rotate or jwks)") != 0)
		goto out;
	sub = cli.argv[0];
	if (strcmp(sub, "list") != 0 && strcmp(sub, "rotate") != 0 &&
	    strcmp(sub, "jwks") != 0) {
		cli_usage_error("keys",
				"unknown action \"%s\" (list, rotate or jwks)",
				sub);
		goto out;
	}
	if (as_json && strcmp(sub, "list") != 0) {
		cli_usage_error("keys", "--json goes with list only");
		goto out;
	}
	/* --publish-delay is the SEALAUTH_KEY_PUBLISH_DELAY setting. */
	memset(&kc, 0, sizeof(kc));
	kc.data_dir = cli.cfg.data_dir;
	kc.private_key_path = cli.cfg.server_private_key_path;
	kc.jwt_ttl = cli.cfg.jwt_ttl;
	kc.publish_delay = cli.cfg.key_publish_delay;
	kc.err = stderr;
	rc = 1;
	if (keys_open(&kc, &k) != SA_OK)
		goto out;
	if (strcmp(sub, "list") == 0)
		rc = keys_list(k, as_json, now_unix());
	else if (strcmp(sub, "jwks") == 0)
		rc = keys_jwks(k, now_unix());
	else
		rc = keys_do_rotate(k, now_unix());
out:
	keys_close(k);
	cli_free(&cli);
	return rc;
}
