/*
 * cmd_services.c - `sealauth services list|show|delete`: the relying-party
 * registry from the server's own host, for deployments run without admins
 * (where the services file is the way to add and change services, and the
 * only way to remove a record a file no longer lists) and for operators
 * who want to look without signing in. It needs local access to the
 * server's database (the same options as `sealauth serve`); running
 * servers see a deletion within a second, as they poll the registry's
 * version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app/app.h"
#include "cmd/cli.h"
#include "cmd/cmd.h"
#include "login/services.h"

static void
cmd_services_usage(FILE *out)
{
	fprintf(out,
		"usage: sealauth services list [--json] [OPTIONS]\n"
		"       sealauth services show SERVICE_ID [OPTIONS]\n"
		"       sealauth services delete SERVICE_ID [OPTIONS]\n\n"
		"list    every record of the relying-party registry: id, "
		"state, match\n        mode, protocols and name (--json: the "
		"records as the admin API\n        shows them)\n"
		"show    one record as JSON\n"
		"delete  removes a record (audited as admin.service_deleted); "
		"a record the\n        services file lists comes back at the "
		"server's next start, so\n        remove it from the file "
		"too\n\n"
		"OPTIONS are the server's configuration options, such as\n"
		"  --data-dir DIR       the server's data directory\n"
		"  --database-url URL   its database\n");
}

/* print_list writes one line per record, or the records as JSON. */
static int
print_list(const struct services *snap, int as_json)
{
	json_t *all = as_json ? json_array() : NULL;
	json_t *doc = NULL;
	size_t n = services_count(snap);
	int status = 1;

	if (as_json && all == NULL)
		goto out;
	if (!as_json)
		printf("%-24s %-9s %-8s %-10s %s\n", "SERVICE", "STATE", "MODE",
		       "PROTOCOLS", "NAME");
	for (size_t i = 0; i < n; i++) {
		const struct service *svc = services_at(snap, i);
		char proto[32];

		if (as_json) {
			if (json_array_append_new(all, service_to_json(svc)) !=
			    0)
				goto out;
			continue;
		}
		snprintf(proto, sizeof(proto), "jwt%s%s",
			 svc->oidc != NULL ? ",oidc" : "",
			 svc->saml != NULL ? ",saml" : "");
		printf("%-24s %-9s %-8s %-10s %s\n", svc->id,
		       svc->enabled ? "enabled" : "disabled",
		       service_mode_name(svc->mode), proto, svc->name);
	}
	if (as_json) {
		char *text;

		/* The packed document takes the array, even when it fails. */
		doc = json_pack("{s:o}", "services", all);
		all = NULL;
		text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS)
			   : NULL;
		if (text == NULL)
			goto out;
		printf("%s\n", text);
		free(text);
	}
	status = 0;
out:
	json_decref(doc);
	json_decref(all);
	if (status != 0)
		fprintf(stderr, "sealauth services: out of memory\n");
	return status;
}

/* print_one writes a record as JSON; 1 when there is none by that id. */
static int
print_one(const struct services *snap, const char *id)
{
	const struct service *svc = services_find_any(snap, id);
	json_t *doc;
	char *text;

	if (svc == NULL) {
		fprintf(stderr,
			"sealauth services: no service %s in the registry "
			"(`sealauth services list` shows them)\n",
			id);
		return 1;
	}
	doc = service_to_json(svc);
	text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (text == NULL) {
		fprintf(stderr, "sealauth services: out of memory\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

/* delete_one removes a record and audits it as a local action. */
static int
delete_one(struct app *app, const char *id)
{
	enum sa_err rc = services_remove(app->services, id);

	if (rc == SA_ERR_NOT_FOUND) {
		fprintf(stderr,
			"sealauth services: no service %s in the registry; "
			"nothing deleted\n",
			id);
		return 1;
	}
	if (rc != SA_OK) {
		fprintf(stderr, "sealauth services: cannot delete %s: %s\n", id,
			sa_err_str(rc));
		return 1;
	}
	if ((rc = app_audit(app, NULL, "admin.service_deleted", "",
			    json_pack("{s:s, s:s}", "serviceId", id, "by",
				      "sealauth services delete (local "
				      "access)"))) != SA_OK) {
		/* The record is gone; say so, and that the row is missing. */
		fprintf(stderr,
			"sealauth services: %s was deleted, but its audit row "
			"could not be written: %s\n",
			id, sa_err_str(rc));
		return 1;
	}
	printf("deleted service %s; servers sharing this database drop it "
	       "within a second\n",
	       id);
	if (app->cfg.services_file != NULL && app->cfg.services_file[0] != '\0')
		printf("if %s lists it, remove it there too: the file is read "
		       "again at the next start\n",
		       app->cfg.services_file);
	return 0;
}

int
cmd_services(int argc, char **argv)
{
	struct cli cli;
	struct app app;
	struct services *snap = NULL;
	const char *verb;
	int status, as_json;

	memset(&app, 0, sizeof(app));
	if ((status = cli_begin(&cli, argc, argv, cmd_services_usage)) >= 0)
		return status;
	as_json = cli_flag(&cli, "json");
	verb = cli.argc > 0 ? cli.argv[0] : "";
	if (strcmp(verb, "list") == 0) {
		status = cli_leftover(&cli, "services", 1, NULL);
	} else if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0) {
		status =
		    as_json
			? cli_usage_error("services", "--json goes with list")
			: cli_leftover(&cli, "services", 2, "SERVICE_ID");
	} else {
		status = cli_usage_error("services",
					 verb[0] ? "unknown action %s"
						 : "list, show or delete?%s",
					 verb);
	}
	if (status != 0)
		goto out;
	if (!cli_open_existing(&cli, &app)) {
		status = 1;
		goto out;
	}
	if (services_open(app.ds, &app.services) != SA_OK) {
		fprintf(stderr, "sealauth: cannot read the service registry\n");
		status = 1;
		goto out;
	}
	if (strcmp(verb, "delete") == 0) {
		status = delete_one(&app, cli.argv[1]);
		goto out;
	}
	snap = services_get(app.services);
	status = strcmp(verb, "list") == 0 ? print_list(snap, as_json)
					   : print_one(snap, cli.argv[1]);
out:
	if (snap != NULL)
		services_put(snap);
	services_close(app.services);
	cli_close_existing(&app);
	cli_free(&cli);
	return status;
}
