// A WAL checkpointer on a C thread of its own; see ckpt.go for why.
//
// It calls the SQLite compiled into the binary (sqliteapi.h).

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ckpt.h"
#include "sqliteapi.h"

struct radmfa_ckpt {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond; // on CLOCK_MONOTONIC
	long interval_ms;
	int stop; // under mu
	radmfa_ckpt_stats st; // under mu
};

static void deadline(struct timespec *ts, long ms) {
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *run(void *arg) {
	radmfa_ckpt *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		struct timespec ts;
		deadline(&ts, c->interval_ms);
		while (!c->stop) {
			if (pthread_cond_timedwait(&c->cond, &c->mu, &ts) == ETIMEDOUT) {
				break;
			}
		}
		if (c->stop) {
			break;
		}
		pthread_mutex_unlock(&c->mu);
		int log = -1, ckpt = -1;
		int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, RS_SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
		pthread_mutex_lock(&c->mu);
		c->st.runs++;
		if (rc == RS_SQLITE_BUSY) {
			c->st.busy++;
		} else if (rc != RS_SQLITE_OK) {
			c->st.failed++;
		}
		c->st.last_rc = rc;
		c->st.log_frames = log;
		c->st.ckpt_frames = ckpt;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int radmfa_ckpt_start(const char *path, long interval_ms, radmfa_ckpt **out) {
	radmfa_ckpt *c = calloc(1, sizeof *c);
	if (c == NULL) {
		return RS_SQLITE_NOMEM;
	}
	c->interval_ms = interval_ms;
	c->st.log_frames = -1;
	c->st.ckpt_frames = -1;
	int rc = sqlite3_open_v2(path, &c->db, RS_SQLITE_OPEN_READWRITE | RS_SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc == RS_SQLITE_OK) {
		// FULL and NORMAL both sync the WAL before a checkpoint and the
		// database after it; say so rather than rely on a build default.
		rc = sqlite3_exec(c->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	}
	if (rc != RS_SQLITE_OK) {
		sqlite3_close(c->db);
		free(c);
		return rc;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->mu, NULL);
	if (pthread_create(&c->thread, NULL, run, c) != 0) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		sqlite3_close(c->db);
		free(c);
		return RS_SQLITE_NOMEM;
	}
	*out = c;
	return RS_SQLITE_OK;
}

void radmfa_ckpt_get(radmfa_ckpt *c, radmfa_ckpt_stats *st) {
	pthread_mutex_lock(&c->mu);
	*st = c->st;
	pthread_mutex_unlock(&c->mu);
}

int radmfa_ckpt_stop(radmfa_ckpt *c) {
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	int rc = sqlite3_close(c->db);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return rc;
}
