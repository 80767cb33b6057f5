/*
 * fake_http.c - a loopback HTTP server for tests (fake_http.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_http.h"

struct fake_http {
	struct MHD_Daemon *d;
	unsigned short port;
	struct fake_http_hooks hooks;
};

struct fake_upload {
	char data[FAKE_HTTP_BODY_MAX + 1];
	size_t len;
	int overflow;
};

static enum MHD_Result
fake_http_access(void *cls, struct MHD_Connection *c, const char *url,
		 const char *method, const char *version,
		 const char *upload_data, size_t *upload_data_size,
		 void **con_cls)
{
	struct fake_http *h = cls;
	struct fake_upload *u = *con_cls;
	struct fake_http_req rq;

	if (u == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL)
			return MHD_NO;
		*con_cls = u;
		if (h->hooks.arrive != NULL)
			h->hooks.arrive(h->hooks.arg, url);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (*upload_data_size > FAKE_HTTP_BODY_MAX - u->len) {
			u->overflow = 1;
		} else {
			memcpy(u->data + u->len, upload_data,
			       *upload_data_size);
			u->len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	u->data[u->len] = '\0';
	rq = (struct fake_http_req){c,	     method, url,
				    u->data, u->len, u->overflow};
	return h->hooks.answer(h->hooks.arg, &rq);
}

static void
fake_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

static void
fake_http_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		 enum MHD_ConnectionNotificationCode toe)
{
	struct fake_http *h = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED && h->hooks.connect != NULL)
		h->hooks.connect(h->hooks.arg);
}

struct fake_http *
fake_http_start(const struct fake_http_hooks *hooks)
{
	struct fake_http *h = calloc(1, sizeof(*h));
	struct sockaddr_in sin = {0};
	const union MHD_DaemonInfo *info;

	assert_non_null(h);
	h->hooks = *hooks;
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
	    NULL, NULL, fake_http_access, h, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED,
	    fake_http_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
	    fake_http_notify, h, MHD_OPTION_END);
	assert_non_null(h->d);
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	h->port = info->port;
	assert_true(h->port > 0);
	return h;
}

unsigned short
fake_http_port(const struct fake_http *h)
{
	return h->port;
}

void
fake_http_stop(struct fake_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}

enum MHD_Result
fake_http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
		const char *body, const char *location)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(body ? strlen(body) : 0,
					    (void *)(body ? body : ""),
					    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (ctype != NULL)
		MHD_add_response_header(r, "Content-Type", ctype);
	if (location != NULL)
		MHD_add_response_header(r, "Location", location);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

void
fake_http_header(struct MHD_Connection *c, const char *name, char *out,
		 size_t n)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

	snprintf(out, n, "%s", v ? v : "");
}
