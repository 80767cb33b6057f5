/*
 * api_static.c - the login page and the console: GET / answers index.html,
 * GET /admin admin.html and GET /static/{file} the other files of the web
 * directory (SEALAUTH_WEB_DIR).
 *
 * The directory is read once, when the server starts (api_static_load from
 * cmd_serve.c, the set kept in struct app), into memory: at most
 * API_STATIC_FILES_MAX files of at most API_STATIC_FILE_MAX bytes each, only
 * names that pass api_static_name_ok and have a known content type. A file
 * added or changed later is seen after a restart. Nothing outside that set
 * can ever be answered, so a request path never reaches the file system.
 * Every answer carries Cache-Control: no-cache and a strong ETag (SHA-256 of
 * the content), and a matching If-None-Match gets 304 without a body.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"

struct api_static_file {
	char name[API_STATIC_NAME_MAX + 1];
	const char *ctype;
	unsigned char *data;
	size_t len;
	char etag[2 + 64 + 1]; /* "hex" with its quotes */
};

struct api_static_set {
	struct api_static_file files[API_STATIC_FILES_MAX];
	size_t n;
};

static const struct {
	const char *ext;
	const char *ctype;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

int
api_static_name_ok(const char *name)
{
	size_t n;

	if (name == NULL || name[0] == '\0' || name[0] == '.')
		return 0;
	for (n = 0; name[n] != '\0'; n++) {
		unsigned char c = (unsigned char)name[n];
		if (n >= API_STATIC_NAME_MAX)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	/* No leading dot already rules out "..", but not "a..b": refuse any
	 * ".." so a name can never be read as a parent reference. */
	return strstr(name, "..") == NULL;
}

const char *
api_static_content_type(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	for (size_t i = 0; i < ARRAY_LEN(types); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].ctype;
	}
	return NULL;
}

void
api_static_free(struct api_static_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		free(set->files[i].data);
	free(set);
}

/* cmp_name orders files by name, for bsearch in api_static_get. */
static int
cmp_name(const void *a, const void *b)
{
	const struct api_static_file *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/*
 * load_one reads dir/name into f. Returns SA_ERR_NOT_FOUND for an entry
 * that is not a regular file (skipped silently), another error for a file
 * that cannot be read or is too large.
 */
static enum sa_err
load_one(const char *dir, const char *name, const char *ctype,
	 struct api_static_file *f)
{
	char path[4096];
	unsigned char digest[32];
	char *hex = NULL;
	struct stat st;
	enum sa_err rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return SA_ERR_CONFIG;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return SA_ERR_NOT_FOUND;
	rc = read_file(path, API_STATIC_FILE_MAX, &f->data, &f->len);
	if (rc != SA_OK)
		return rc;
	sha256(f->data, f->len, digest);
	if ((hex = hex_encode(digest, sizeof(digest))) == NULL) {
		free(f->data);
		f->data = NULL;
		return SA_ERR_NOMEM;
	}
	snprintf(f->etag, sizeof(f->etag), "\"%s\"", hex);
	free(hex);
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->ctype = ctype;
	return SA_OK;
}

enum sa_err
api_static_load(const char *dir, struct api_static_set **out)
{
	struct api_static_set *set = NULL;
	struct dirent *de;
	DIR *d = NULL;
	enum sa_err rc;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return SA_ERR_NOMEM;
	if ((d = opendir(dir)) == NULL) {
		log_warn("web_dir", "cannot open the web directory %s", dir);
		rc = SA_ERR_IO;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		const char *ctype;
		if (!api_static_name_ok(de->d_name) ||
		    (ctype = api_static_content_type(de->d_name)) == NULL)
			continue;
		if (set->n == API_STATIC_FILES_MAX) {
			log_warn("web_dir",
				 "more than %d files in %s, %s and "
				 "later ones are not served",
				 API_STATIC_FILES_MAX, dir, de->d_name);
			break;
		}
		rc = load_one(dir, de->d_name, ctype, &set->files[set->n]);
		if (rc == SA_ERR_NOT_FOUND)
			continue;
		if (rc != SA_OK) {
			log_warn("web_dir",
				 "cannot load %s/%s (%s; at most %d "
				 "bytes), not served",
				 dir, de->d_name, sa_err_str(rc),
				 API_STATIC_FILE_MAX);
			continue;
		}
		set->n++;
	}
	qsort(set->files, set->n, sizeof(set->files[0]), cmp_name);
	*out = set;
	set = NULL;
	rc = SA_OK;
out:
	if (d != NULL)
		closedir(d);
	api_static_free(set);
	return rc;
}

enum sa_err
api_static_get(const struct api_static_set *set, const char *name,
	       const unsigned char **data, size_t *len, const char **ctype,
	       const char **etag)
{
	struct api_static_file key;
	const struct api_static_file *f;

	if (set == NULL || !api_static_name_ok(name))
		return SA_ERR_NOT_FOUND;
	snprintf(key.name, sizeof(key.name), "%s", name);
	f = bsearch(&key, set->files, set->n, sizeof(set->files[0]), cmp_name);
	if (f == NULL)
		return SA_ERR_NOT_FOUND;
	*data = f->data;
	*len = f->len;
	*ctype = f->ctype;
	*etag = f->etag;
	return SA_OK;
}

int
api_static_etag_match(const char *if_none_match, const char *etag)
{
	const char *p = if_none_match;
	size_t elen = strlen(etag);

	if (p == NULL)
		return 0;
	/* A comma-separated list of entity tags or "*"; If-None-Match uses
	 * the weak comparison, so a W/ prefix is ignored (RFC 9110 13.1.2). */
	while (*p != '\0') {
		size_t n;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 1 && p[0] == '*')
			return 1;
		if (n > 2 && p[0] == 'W' && p[1] == '/') {
			p += 2;
			n -= 2;
		}
		if (n == elen && memcmp(p, etag, n) == 0)
			return 1;
		p += n;
		p += strcspn(p, ",");
	}
	return 0;
}

/* ---- Handlers ----------------------------------------------------------- */

/* serve answers one file of the set, or 304, or 404 JSON. */
static enum sa_err
serve(struct http_request *req, struct http_response *res, const char *name)
{
	/* NULL when the directory could not be read at start: every name is
	 * then not found. */
	const struct api_static_set *set = http_req_app(req)->web_files;
	const unsigned char *data;
	const char *ctype, *etag;
	size_t len;

	if (api_static_get(set, name, &data, &len, &ctype, &etag) != SA_OK)
		return http_res_error(res, SA_ERR_NOT_FOUND, NULL, NULL);
	if (api_static_etag_match(http_req_header(req, "If-None-Match"), etag))
		http_res_bytes(res, 304, NULL, "", 0);
	else
		http_res_bytes(res, 200, ctype, data, len);
	/* no-cache, not no-store: the browser keeps the file but asks with
	 * the ETag each time, so a new release is picked up at once. */
	http_res_header(res, "Cache-Control", "no-cache");
	http_res_header(res, "ETag", etag);
	return SA_OK;
}

enum sa_err
api_index(struct http_request *req, struct http_response *res)
{
	return serve(req, res, "index.html");
}

enum sa_err
api_admin_console(struct http_request *req, struct http_response *res)
{
	return serve(req, res, "admin.html");
}

enum sa_err
api_static_file(struct http_request *req, struct http_response *res)
{
	return serve(req, res, http_req_param(req, 0));
}
