/*
 * refresh.c - the trust refresher: the thread that refreshes the trust
 * lists and applies their revocation lists.
 *
 * A refresh fetches documents over the network and may take as long as the
 * fetch timeout; run on the thread that waits for signals, it made SIGTERM
 * wait behind it. Here it runs on its own thread, once a second (the trust
 * module decides whether anything is due), at once when kicked (SIGHUP) or
 * when another instance announces that an admin asked for a refresh there,
 * and stops promptly: app_refresh_stop cancels a running fetch.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "trust/trust.h"

/* An admin's refresh is announced to every instance sharing the ephemeral
 * store on this channel: "refresh " and the announcing instance's id. */
#define REFRESH_CHANNEL "trust:refresh"
#define REFRESH_MSG "refresh "
#define REFRESH_MSG_LEN (sizeof(REFRESH_MSG) - 1 + APP_INSTANCE_LEN)

struct app_refresh {
	struct app *app;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;	  /* under mu */
	int force;	  /* under mu: refresh now, whatever is due */
	int64_t renew_at; /* the refresher's own: next demo renewal check */
};

/* What the audit row of a revocation by a seal revocation list holds. */
struct revoked_audit {
	struct app_rows rows;
	const char *fingerprint;
};

/* revoked_rows makes that row (a struct dstore_audit fill), with how many
 * enrollments the revocation marked. */
static size_t
revoked_rows(const struct dstore_found *found, struct audit_row *rows,
	     void *arg)
{
	struct revoked_audit *ra = arg;

	app_rows_add(&ra->rows, "enroll.revoked", "",
		     json_pack("{s:s, s:I, s:s}", "sealFingerprint",
			       ra->fingerprint, "enrollments",
			       (json_int_t)found->count, "reason",
			       "seal on the revocation list"));
	return app_rows_out(&ra->rows, rows);
}

void
app_apply_vrls(struct app *app)
{
	unsigned char(*fps)[32] = NULL;
	uint64_t gen = 0;
	size_t n = 0;
	int64_t now = now_unix();

	/* Once a second: copy the fingerprints only when the set changed. */
	if (app->trust == NULL ||
	    trust_generation(app->trust) == app->trust_generation ||
	    trust_revoked_seals(app->trust, &gen, &fps, &n) != SA_OK)
		return;
	if (gen == app->trust_generation) {
		free(fps);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char *hex = hex_encode(fps[i], 32);
		int count = 0;
		if (hex == NULL)
			break;
		struct revoked_audit ra = {.fingerprint = hex};
		const struct dstore_audit au = {revoked_rows, &ra};

		app_rows_init(&ra.rows, app, NULL);
		/* The revocation and its audit row commit together. */
		app_rows_done(&ra.rows,
			      dstore_enroll_revoke_fingerprint_audited(
				  app->ds, hex, now, &count, &au));
		free(hex);
	}
	free(fps);
	app->trust_generation = gen;
}

/*
 * demo_renew keeps the demo trust environment's lists young while the
 * server runs: a few times per shortest maximum age (at most once a
 * minute) it re-signs those past half their age, and a re-signed set is
 * loaded at once. Returns 1 when something was re-signed.
 */
static int
demo_renew(struct app_refresh *r, int64_t now)
{
	struct app *app = r->app;
	long shortest = 60;
	int renewed = 0;
	enum sa_err rc;

	if (!app->trust_demo || now < r->renew_at)
		return 0;
	for (size_t k = 0; k < 5; k++)
		if (app->cfg.trust_max_age[k] > 0 &&
		    app->cfg.trust_max_age[k] / 4 < shortest)
			shortest = app->cfg.trust_max_age[k] / 4;
	r->renew_at = now + (shortest < 1 ? 1 : shortest);
	rc = trust_demo_renew(app->cfg.trust_dir, now, app->cfg.trust_max_age,
			      &renewed);
	if (rc != SA_OK) {
		log_warn("trust.demo_renew",
			 "the demo trust lists could not be re-signed: %s",
			 sa_err_str(rc));
		return 0;
	}
	if (renewed > 0)
		log_info("trust.demo_renew", "re-signed %d demo trust lists",
			 renewed);
	return renewed > 0;
}

/* refresh_once refreshes what is due (everything when forced). */
static void
refresh_once(struct app_refresh *r, int force)
{
	struct app *app = r->app;
	struct trust_result tr;
	enum sa_err rc;

	if (demo_renew(r, now_unix()))
		force = 1;
	memset(&tr, 0, sizeof(tr));
	rc = trust_refresh(app->trust, now_unix(), force, &tr);
	if (rc != SA_OK && rc != SA_ERR_NOT_FOUND &&
	    rc != SA_ERR_SHUTTING_DOWN) {
		log_warn("trust.refresh",
			 "trust refresh failed, keeping the last good lists: "
			 "%s",
			 tr.reason);
		app_audit(app, NULL, "trust.refresh_failed", "",
			  trust_result_json(&tr));
	}
	app_apply_vrls(app);
}

static void *
refresh_main(void *arg)
{
	struct app_refresh *r = arg;
	int force;

	thread_name("sa-trust-fetch");
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		struct timespec until = mono_deadline_ms(1000);
		while (!r->stop && !r->force &&
		       pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
			;
		if (r->stop)
			break;
		force = r->force;
		r->force = 0;
		if (atomic_exchange(&r->app->trust_asked, 0)) {
			log_info("trust.refresh",
				 "another instance was asked for a trust "
				 "refresh: refreshing here too");
			force = 1;
		}
		pthread_mutex_unlock(&r->mu);
		refresh_once(r, force);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/*
 * on_refresh_asked runs on the store's subscriber thread. It only marks the
 * request for the refresher thread: a refresh fetches over the network and
 * must not hold up the delivery of login events. An instance's own
 * announcement is skipped: it refreshed already.
 */
static void
on_refresh_asked(const char *channel, const void *msg, size_t n, void *arg)
{
	struct app *app = arg;
	const char *m = msg;

	(void)channel;
	if (n != REFRESH_MSG_LEN ||
	    memcmp(m, REFRESH_MSG, sizeof(REFRESH_MSG) - 1) != 0 ||
	    memcmp(m + sizeof(REFRESH_MSG) - 1, app->instance,
		   APP_INSTANCE_LEN) == 0)
		return;
	atomic_store(&app->trust_asked, 1);
}

int
app_refresh_announce(struct app *app)
{
	char msg[REFRESH_MSG_LEN];

	/* The in-process store is this server's alone: nobody to tell. */
	if (app_es_in_process(app))
		return 0;
	memcpy(msg, REFRESH_MSG, sizeof(REFRESH_MSG) - 1);
	memcpy(msg + sizeof(REFRESH_MSG) - 1, app->instance, APP_INSTANCE_LEN);
	if (estore_publish(app->es, REFRESH_CHANNEL, msg, sizeof(msg)) !=
	    SA_OK) {
		log_warn("trust.refresh",
			 "the other instances could not be asked to refresh "
			 "their trust lists: the session store cannot publish");
		return 0;
	}
	return 1;
}

/* instance_id names this process among the instances: 16 random bytes in
 * hex, in app->instance. */
static enum sa_err
instance_id(struct app *app)
{
	unsigned char b[APP_INSTANCE_LEN / 2];
	char *h;
	enum sa_err rc;

	if ((rc = rand_bytes(b, sizeof(b))) != SA_OK)
		return rc;
	if ((h = hex_encode(b, sizeof(b))) == NULL)
		return SA_ERR_NOMEM;
	memcpy(app->instance, h, APP_INSTANCE_LEN + 1);
	free(h);
	return SA_OK;
}

enum sa_err
app_refresh_start(struct app *app)
{
	struct app_refresh *r;
	enum sa_err rc;

	if (app->trust == NULL)
		return SA_OK;
	/* The subscription lives as long as the store and reaches only app,
	 * which outlives it: never the refresher, which stops first. */
	atomic_store(&app->trust_asked, 0);
	if ((rc = instance_id(app)) != SA_OK ||
	    (rc = estore_subscribe(app->es, REFRESH_CHANNEL, on_refresh_asked,
				   app)) != SA_OK)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return SA_ERR_NOMEM;
	r->app = app;
	pthread_mutex_init(&r->mu, NULL);
	cond_init_mono(&r->cv);
	if (pthread_create(&r->thread, NULL, refresh_main, r) != 0) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return SA_ERR_INTERNAL;
	}
	app->refresh = r;
	return SA_OK;
}

void
app_refresh_kick(struct app *app)
{
	struct app_refresh *r = app->refresh;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->force = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void
app_refresh_stop(struct app *app)
{
	struct app_refresh *r = app->refresh;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	trust_fetcher_cancel(app->fetcher);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
	app->refresh = NULL;
}
