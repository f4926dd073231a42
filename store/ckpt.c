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
	int catch_up_frames;
	// The WAL's size when a catch-up last copied all of it: until a
	// commit restarts the WAL there is nothing more to catch up. The
	// thread alone uses it.
	int caught_up_at;
	// Held by the authentication writer for each commit, and by the
	// checkpointer for a catch-up (see ckpt.go).
	pthread_mutex_t gate;
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

static long long now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

// sync_file syncs the database file (op RS_SQLITE_FCNTL_FILE_POINTER) or the
// WAL (RS_SQLITE_FCNTL_JOURNAL_POINTER) through the checkpointer's own
// connection's file handle, as SQLite would. It returns an SQLite code.
static int sync_file(radmfa_ckpt *c, int op) {
	sqlite3_file *f = NULL;
	int rc = sqlite3_file_control(c->db, "main", op, &f);
	if (rc != RS_SQLITE_OK) {
		return rc;
	}
	if (f == NULL || f->pMethods == NULL) {
		return RS_SQLITE_OK; // not open yet: nothing of ours to sync
	}
	return f->pMethods->xSync(f, RS_SQLITE_SYNC_NORMAL);
}

// checkpoint runs a PASSIVE checkpoint and records it; mu is not held.
static int checkpoint(radmfa_ckpt *c, int *log, int *ckpt) {
	*log = -1;
	*ckpt = -1;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, RS_SQLITE_CHECKPOINT_PASSIVE, log, ckpt);
	pthread_mutex_lock(&c->mu);
	c->st.runs++;
	if (rc == RS_SQLITE_BUSY) {
		c->st.busy++;
	} else if (rc != RS_SQLITE_OK) {
		c->st.failed++;
	}
	c->st.last_rc = rc;
	c->st.log_frames = *log;
	c->st.ckpt_frames = *ckpt;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

// catch_up finishes a checkpoint the writer's commits kept from finishing.
// log is the WAL's size in frames that the last checkpoint copied up to.
// Beside the commits, it copies what they committed meanwhile, until little
// is left, and syncs what the checkpoints left to the operating system.
// Then it holds the gate, so that no commit runs, while a last checkpoint
// copies the few pages committed since and syncs the database. The WAL
// restarts at the next commit.
static void catch_up(radmfa_ckpt *c, int log) {
	for (int pass = 0; pass < 3; pass++) {
		int prev = log, ckpt;
		if (checkpoint(c, &log, &ckpt) != RS_SQLITE_OK || log < prev) {
			return; // failed (counted), or the WAL restarted meanwhile
		}
		if (log - prev <= c->catch_up_frames / 16) {
			break;
		}
	}
	int rc = sync_file(c, RS_SQLITE_FCNTL_FILE_POINTER);
	if (rc == RS_SQLITE_OK) {
		rc = sync_file(c, RS_SQLITE_FCNTL_JOURNAL_POINTER);
	}
	if (rc != RS_SQLITE_OK) {
		pthread_mutex_lock(&c->mu);
		c->st.failed++;
		c->st.last_rc = rc;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	pthread_mutex_lock(&c->gate);
	long long t0 = now_us();
	int ckpt;
	rc = checkpoint(c, &log, &ckpt);
	long long held = now_us() - t0;
	pthread_mutex_unlock(&c->gate);
	pthread_mutex_lock(&c->mu);
	c->st.catch_ups++;
	if (rc == RS_SQLITE_OK && log >= 0 && log == ckpt) {
		c->st.caught_up++;
		c->caught_up_at = log;
	}
	c->st.gate_held_us += held;
	if (held > c->st.gate_held_max_us) {
		c->st.gate_held_max_us = held;
	}
	pthread_mutex_unlock(&c->mu);
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
		int log, ckpt;
		int rc = checkpoint(c, &log, &ckpt);
		if (rc == RS_SQLITE_OK && c->catch_up_frames > 0 && log >= c->catch_up_frames &&
				log != c->caught_up_at) {
			catch_up(c, log);
		}
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int radmfa_ckpt_start(const char *path, long interval_ms, int catch_up_frames, radmfa_ckpt **out) {
	radmfa_ckpt *c = calloc(1, sizeof *c);
	if (c == NULL) {
		return RS_SQLITE_NOMEM;
	}
	c->interval_ms = interval_ms;
	c->catch_up_frames = catch_up_frames;
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
	pthread_mutex_init(&c->gate, NULL);
	if (pthread_create(&c->thread, NULL, run, c) != 0) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		pthread_mutex_destroy(&c->gate);
		sqlite3_close(c->db);
		free(c);
		return RS_SQLITE_NOMEM;
	}
	*out = c;
	return RS_SQLITE_OK;
}

pthread_mutex_t *radmfa_ckpt_gate(radmfa_ckpt *c) {
	return &c->gate;
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
	pthread_mutex_destroy(&c->gate);
	free(c);
	return rc;
}
