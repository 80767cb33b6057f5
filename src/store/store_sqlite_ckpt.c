/*
 * store_sqlite_ckpt.c - WAL checkpoints on a thread of their own, off the
 * commit path.
 *
 * In WAL mode a commit appends to the write-ahead log, and a checkpoint
 * copies what the log holds into the database file and syncs it. SQLite
 * runs that checkpoint itself, by default, inside the commit that takes
 * the log past 1,000 pages: that commit then also writes about 4 MB and
 * waits for a second sync. On the audit log every waiting caller shares
 * that commit, so each checkpoint held up every login answer in flight for
 * as long as the copy took (tens of milliseconds on a slow disk).
 *
 * Here the writer's connection only reports the log's size after each
 * commit (sqlite3_wal_hook, which replaces the automatic checkpoint). Past
 * CKPT_FRAMES pages it wakes the checkpointer, which runs a PASSIVE
 * checkpoint on its own connection: that copies what no reader still needs
 * and waits for no lock, so commits go on meanwhile; the writer starts the
 * log over once a checkpoint has copied all of it. Should the checkpointer
 * fall far behind (CKPT_FRAMES_MAX pages, a disk much slower than the
 * commits), the committing thread checkpoints itself, as SQLite would, so
 * the log stays bounded.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store_sqlite_int.h"

#define CKPT_FRAMES 1000      /* SQLite's own automatic checkpoint point */
#define CKPT_FRAMES_MAX 10000 /* about 40 MB: the writer steps in */
#define CKPT_GAP_MS 50	      /* least time between two checkpoints */

struct sqlite_ckpt {
	sqlite3 *db; /* the checkpointer's own connection */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int wanted;
	int stopping;
	atomic_uint_fast64_t runs; /* checkpoints done here */
	uint64_t warned_ms;	   /* last failure logged; checkpointer only */
};

/*
 * ckpt_hook runs on the committing thread after each commit to the log,
 * with frames the pages it now holds.
 */
static int
ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sqlite_ckpt *c = arg;

	if (frames >= CKPT_FRAMES_MAX) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
					  NULL, NULL);
		return SQLITE_OK;
	}
	if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&c->mu);
		if (!c->wanted) {
			c->wanted = 1;
			pthread_cond_signal(&c->cv);
		}
		pthread_mutex_unlock(&c->mu);
	}
	return SQLITE_OK;
}

static void *
ckpt_main(void *arg)
{
	struct sqlite_ckpt *c = arg;
	const struct timespec gap = {0, CKPT_GAP_MS * 1000000L};

	thread_name("sa-checkpoint");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		int r;
		uint64_t now;

		while (!c->wanted && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stopping)
			break;
		c->wanted = 0;
		pthread_mutex_unlock(&c->mu);
		r = sqlite3_wal_checkpoint_v2(
		    c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		/* Busy: another checkpoint runs (a command beside the
		 * server); the next commit past the mark asks again. */
		if (r == SQLITE_OK)
			atomic_fetch_add(&c->runs, 1);
		now = now_mono_ms();
		if (r != SQLITE_OK && r != SQLITE_BUSY &&
		    (c->warned_ms == 0 || now - c->warned_ms >= 60000)) {
			c->warned_ms = now;
			log_warn("store.sqlite", "checkpoint: %s",
				 sqlite3_errmsg(c->db));
		}
		/* A log that could not start over yet (a reader still on it)
		 * asks again at every commit: checkpoint at most this often. */
		nanosleep(&gap, NULL);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

enum sa_err
sqlite_ckpt_start(struct sqlite_store *ds)
{
	struct sqlite_ckpt *c = calloc(1, sizeof(*c));
	enum sa_err rc = SA_ERR_NOMEM;
	int r;

	if (c == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	r = sqlite3_open_v2(ds->path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				SQLITE_OPEN_NOFOLLOW,
			    NULL);
	if (r == SQLITE_OK)
		r = sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL,
				 NULL);
	if (r != SQLITE_OK) {
		log_warn("store.sqlite",
			 "checkpointer: %s; commits checkpoint themselves",
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		rc = SA_ERR_IO;
		goto fail;
	}
	if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
		log_warn("store.sqlite", "checkpointer: no thread; commits "
					 "checkpoint themselves");
		rc = SA_ERR_INTERNAL;
		goto fail;
	}
	/* From here the writer's commits only report to the checkpointer. */
	sqlite3_wal_hook(ds->db, ckpt_hook, c);
	ds->ckpt = c;
	return SA_OK;
fail:
	sqlite3_close_v2(c->db);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return rc;
}

uint64_t
sqlite_ckpt_runs(struct dstore *store)
{
	const struct sqlite_store *ds = sqlite_of(store);

	return ds->ckpt != NULL ? atomic_load(&ds->ckpt->runs) : 0;
}

void
sqlite_ckpt_stop(struct sqlite_store *ds)
{
	struct sqlite_ckpt *c = ds->ckpt;

	if (c == NULL)
		return;
	/* Back to SQLite's own checkpoints for whatever the writer still
	 * commits, before the hook's argument goes. */
	sqlite3_wal_autocheckpoint(ds->db, CKPT_FRAMES);
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	sqlite3_close_v2(c->db);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	ds->ckpt = NULL;
}
