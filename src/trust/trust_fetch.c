/*
 * trust_fetch.c - fetch trust documents over https:// (libcurl) or from
 * file:// URLs, with a size cap enforced while reading.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include <sys/socket.h>

#include <curl/curl.h>

#include "trust/trust.h"
#include "core/curl_lib.h"
#include "core/ipaddr.h"
#include "core/util.h"

/* What every fetch of one process shares: set up at start, read-only but
 * for the cancellation flag. */
struct trust_fetcher {
	atomic_int cancelled; /* set by trust_fetcher_cancel */
	char ca_file[];	      /* "": the system store */
};

enum sa_err
trust_fetcher_new(const char *ca_file, struct trust_fetcher **out)
{
	size_t len = ca_file != NULL ? strlen(ca_file) : 0;

	*out = NULL;
	if (len >= TRUST_MAX_CA_FILE)
		return SA_ERR_CONFIG;
	/* The name is kept right behind the struct, NUL included. */
	*out = calloc(1, sizeof(**out) + len + 1);
	if (*out == NULL)
		return SA_ERR_NOMEM;
	atomic_init(&(*out)->cancelled, 0);
	if (len > 0)
		memcpy((*out)->ca_file, ca_file, len);
	return SA_OK;
}

void
trust_fetcher_free(struct trust_fetcher *f)
{
	free(f);
}

void
trust_fetcher_cancel(struct trust_fetcher *f)
{
	if (f != NULL)
		atomic_store(&f->cancelled, 1);
}

/* cancelled tells whether f's fetches must end (never for no fetcher). */
static int
cancelled(struct trust_fetcher *f)
{
	return f != NULL && atomic_load(&f->cancelled) != 0;
}

/* url_ok_chars refuses control characters, spaces and backslashes. */
static int
url_ok_chars(const char *u)
{
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '\\')
			return 0;
	return 1;
}

/* http_host_is_loopback tells whether an http:// URL names a loopback host. */
static int
http_host_is_loopback(const char *rest)
{
	static const char *const hosts[] = {"127.0.0.1", "[::1]", "localhost"};

	for (size_t i = 0; i < ARRAY_LEN(hosts); i++) {
		size_t n = strlen(hosts[i]);

		if (strncmp(rest, hosts[i], n) == 0 &&
		    (rest[n] == '/' || rest[n] == ':' || rest[n] == '\0'))
			return 1;
	}
	return 0;
}

enum sa_err
trust_url_check(const char *url, int allow_http_loopback)
{
	if (url == NULL || strlen(url) > TRUST_MAX_URL || !url_ok_chars(url))
		return SA_ERR_CONFIG;
	if (str_has_prefix(url, "https://"))
		return url[8] != '\0' && url[8] != '/' ? SA_OK : SA_ERR_CONFIG;
	if (str_has_prefix(url, "file://"))
		return url[7] == '/' ? SA_OK : SA_ERR_CONFIG;
	if (allow_http_loopback && str_has_prefix(url, "http://") &&
	    http_host_is_loopback(url + 7))
		return SA_OK;
	return SA_ERR_CONFIG;
}

enum sa_err
trust_url_resolve(const char *base, const char *ref, char **out)
{
	const char *slash, *colon;
	char *r;
	size_t blen;

	if (ref == NULL || ref[0] == '\0' || strlen(ref) > TRUST_MAX_URL)
		return SA_ERR_CONFIG;
	colon = strstr(ref, "://");
	if (colon != NULL) {
		r = strdup(ref);
		if (r == NULL)
			return SA_ERR_NOMEM;
		*out = r;
		return SA_OK;
	}
	/* a relative location stays below its list's directory */
	if (ref[0] == '/' || strcmp(ref, "..") == 0 ||
	    str_has_prefix(ref, "../") || strstr(ref, "/../") != NULL ||
	    (strlen(ref) >= 3 && strcmp(ref + strlen(ref) - 3, "/..") == 0) ||
	    strchr(ref, ':') != NULL || strchr(ref, '?') != NULL ||
	    strchr(ref, '#') != NULL)
		return SA_ERR_CONFIG;
	slash = base != NULL ? strrchr(base, '/') : NULL;
	if (slash == NULL || strstr(base, "://") == NULL)
		return SA_ERR_CONFIG;
	blen = (size_t)(slash - base) + 1;
	if (blen + strlen(ref) > TRUST_MAX_URL)
		return SA_ERR_CONFIG;
	r = malloc(blen + strlen(ref) + 1);
	if (r == NULL)
		return SA_ERR_NOMEM;
	memcpy(r, base, blen);
	strcpy(r + blen, ref);
	*out = r;
	return SA_OK;
}

struct sink {
	struct buf b;
	int too_large;
	unsigned flags;	     /* TRUST_FETCH_* */
	const char *refused; /* why the address rules refused, or NULL */
};

/*
 * on_opensocket applies the address rules of TRUST_FETCH_PUBLIC_ONLY: curl
 * calls it after name resolution with the address it is about to connect
 * to, so a name that resolves to an internal address is caught whatever
 * the name. Loopback passes only where loopback http:// is allowed (a
 * development setting), and an environment proxy is switched off for such
 * fetches so the address seen here is the one connected to.
 */
static curl_socket_t
on_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct sink *s = clientp;
	const char *why = NULL;

	if (purpose != CURLSOCKTYPE_IPCXN)
		why = "not a plain TCP connection";
	else if (s->flags & TRUST_FETCH_PUBLIC_ONLY) {
		why = ipaddr_refused(&addr->addr, addr->addrlen);
		if (why != NULL && (s->flags & TRUST_FETCH_HTTP_LOOPBACK) &&
		    ipaddr_is_loopback(&addr->addr, addr->addrlen))
			why = NULL;
	}
	if (why != NULL) {
		s->refused = why;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC,
		      addr->protocol);
}

/* on_progress ends a transfer once fetches are cancelled (shutdown); arg
 * is the fetcher. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
	    curl_off_t ulnow)
{
	return cancelled(arg);
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	enum sa_err rc = buf_append(&s->b, ptr, n);

	if (rc == SA_ERR_BODY_TOO_LARGE)
		s->too_large = 1;
	return rc == SA_OK ? n : 0; /* 0 aborts the transfer */
}

/* fetch_curl fetches an https:// (or loopback http://) URL. */
static enum sa_err
fetch_curl(struct trust_fetcher *f, const char *url, size_t max,
	   long timeout_ms, unsigned flags, int allow_http, unsigned char **out,
	   size_t *outlen, char *why, size_t whylen)
{
	CURL *c = NULL;
	struct sink s;
	CURLcode cc;
	long status = 0;
	char errbuf[CURL_ERROR_SIZE] = "";
	enum sa_err rc = SA_ERR_UNAVAILABLE;

	memset(&s, 0, sizeof(s));
	buf_init(&s.b, max);
	s.flags = flags;
	c = curl_easy_init();
	if (c == NULL && !curl_lib_usable()) {
		why_set(why, whylen,
			"%s: libcurl (%s) could not be loaded; install the "
			"libcurl4 package",
			url, CURL_LIB_SONAME);
		goto out;
	}
	if (c == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* only the scheme we asked for, and no redirects: a list's location
	 * is what the signed level above says, nothing else */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
			 allow_http ? "http" : "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f != NULL && f->ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, (const char *)f->ca_file);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sealauth/" SEALAUTH_VERSION);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &s);
	if (flags & TRUST_FETCH_PUBLIC_ONLY)
		curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (cancelled(f)) {
		why_set(why, whylen, "%s: the server is stopping", url);
		rc = SA_ERR_SHUTTING_DOWN;
		goto out;
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		why_set(why, whylen, "%s: the server is stopping", url);
		rc = SA_ERR_SHUTTING_DOWN;
		goto out;
	}
	if (s.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		why_set(why, whylen, "%s: larger than %zu bytes", url, max);
		rc = SA_ERR_BODY_TOO_LARGE;
		goto out;
	}
	if (s.refused != NULL) {
		why_set(why, whylen, "%s: the host's address is %s, not public",
			url, s.refused);
		rc = SA_ERR_FORBIDDEN;
		goto out;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		why_set(why, whylen, "%s: timed out", url);
		rc = SA_ERR_TIMEOUT;
		goto out;
	}
	if (cc != CURLE_OK) {
		why_set(why, whylen, "%s: %s", url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		why_set(why, whylen, "%s: HTTP status %ld", url, status);
		goto out;
	}
	if (s.b.data == NULL && (rc = buf_append(&s.b, "", 0)) != SA_OK)
		goto out;
	*out = s.b.data;
	*outlen = s.b.len;
	s.b.data = NULL;
	rc = SA_OK;
out:
	buf_free(&s.b);
	if (c != NULL)
		curl_easy_cleanup(c);
	return rc;
}

enum sa_err
trust_fetch(struct trust_fetcher *f, const char *url, size_t max,
	    long timeout_ms, unsigned flags, unsigned char **out,
	    size_t *outlen, char *why, size_t whylen)
{
	int allow_http_loopback = (flags & TRUST_FETCH_HTTP_LOOPBACK) != 0;
	enum sa_err rc;

	if (trust_url_check(url, allow_http_loopback) != SA_OK) {
		why_set(why, whylen,
			"URL \"%.200s\" is not https:// or file://",
			url != NULL ? url : "");
		return SA_ERR_CONFIG;
	}
	if (str_has_prefix(url, "file://")) {
		rc = read_file(url + 7, max, out, outlen);
		if (rc == SA_ERR_BODY_TOO_LARGE)
			why_set(why, whylen, "%s: larger than %zu bytes", url,
				max);
		else if (rc != SA_OK)
			why_set(why, whylen, "%s: cannot read the file", url);
		if (rc != SA_OK && rc != SA_ERR_BODY_TOO_LARGE &&
		    rc != SA_ERR_NOMEM)
			rc = SA_ERR_UNAVAILABLE;
		return rc;
	}
	return fetch_curl(f, url, max, timeout_ms, flags,
			  allow_http_loopback && str_has_prefix(url, "http://"),
			  out, outlen, why, whylen);
}
