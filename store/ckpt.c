// A WAL checkpointer on a C thread of its own; see ckpt.go for why.
//
// The SQLite functions are those of github.com/mattn/go-sqlite3, which
// compiles the SQLite amalgamation into the same binary: one library, so
// its file locks and shared-memory index are shared with the Go side's
// connections as SQLite requires.

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "ckpt.h"

typedef struct sqlite3 sqlite3;
extern int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
extern int sqlite3_close(sqlite3 *db);
extern int sqlite3_exec(sqlite3 *db, const char *sql, void *callback, void *arg, char **errmsg);
extern int sqlite3_wal_checkpoint_v2(sqlite3 *db, const char *schema, int mode, int *log, int *ckpt);

#define CK_SQLITE_OK 0
#define CK_SQLITE_BUSY 5
#define CK_SQLITE_NOMEM 7
#define CK_SQLITE_OPEN_READWRITE 0x00000002
#define CK_SQLITE_OPEN_FULLMUTEX 0x00010000
#define CK_SQLITE_CHECKPOINT_PASSIVE 0

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
		int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, CK_SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
		pthread_mutex_lock(&c->mu);
		c->st.runs++;
		if (rc == CK_SQLITE_BUSY) {
			c->st.busy++;
		} else if (rc != CK_SQLITE_OK) {
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
		return CK_SQLITE_NOMEM;
	}
	c->interval_ms = interval_ms;
	c->st.log_frames = -1;
	c->st.ckpt_frames = -1;
	int rc = sqlite3_open_v2(path, &c->db, CK_SQLITE_OPEN_READWRITE | CK_SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc == CK_SQLITE_OK) {
		// FULL and NORMAL both sync the WAL before a checkpoint and the
		// database after it; say so rather than rely on a build default.
		rc = sqlite3_exec(c->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	}
	if (rc != CK_SQLITE_OK) {
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
		return CK_SQLITE_NOMEM;
	}
	*out = c;
	return CK_SQLITE_OK;
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
