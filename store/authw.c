// The authentication writer; see authw.go for why it is in C.
#define _GNU_SOURCE // SCHED_IDLE
//
// It calls the SQLite compiled into the binary (sqliteapi.h).

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authw.h"
#include "sqliteapi.h"

enum { S_BEGIN, S_COMMIT, S_ROLLBACK, S_ACCEPT, S_ACTIVATE, S_FAIL, S_AUDIT, S_JOURNALED, S_JPOS, S_N };

// apply_job is a span of the journal for the applier thread
// (radmfa_authw_apply_ring's arguments).
typedef struct {
	const unsigned char *ring;
	long long size, from, to, seq;
	int max;
} apply_job;

struct radmfa_authw {
	sqlite3 *db;
	sqlite3_stmt *st[S_N];
	pthread_mutex_t *gate; // held for each commit, if set

	// The applier thread, when started: it takes job (have_job) under mu
	// and, done, sets result and writes a byte to done_fd.
	int applier;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	apply_job job;
	int have_job, stop, result, done_fd;
	long long end, end_seq; // of the last job
	int applied;
};

void radmfa_authw_set_gate(radmfa_authw *w, pthread_mutex_t *gate) {
	w->gate = gate;
}

int radmfa_authw_close(radmfa_authw *w) {
	if (w->applier) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
	}
	for (int i = 0; i < S_N; i++) {
		sqlite3_finalize(w->st[i]); // a no-op on NULL
	}
	int rc = sqlite3_close(w->db);
	free(w);
	return rc;
}

int radmfa_authw_open(const char *path, const char *synchronous, int ckpt_pages,
		const char *const sql[6], radmfa_authw **out) {
	radmfa_authw *w = calloc(1, sizeof *w);
	if (w == NULL) {
		return RS_SQLITE_NOMEM;
	}
	// Only the store's writer goroutine uses the connection, one call at
	// a time: SQLite's own mutexes would be pure cost.
	int rc = sqlite3_open_v2(path, &w->db, RS_SQLITE_OPEN_READWRITE | RS_SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == RS_SQLITE_OK) {
		rc = sqlite3_busy_timeout(w->db, 10000);
	}
	char pragmas[160];
	snprintf(pragmas, sizeof pragmas,
		"PRAGMA foreign_keys = ON; PRAGMA synchronous = %s; PRAGMA wal_autocheckpoint = %d",
		synchronous, ckpt_pages);
	if (rc == RS_SQLITE_OK) {
		rc = sqlite3_exec(w->db, pragmas, NULL, NULL, NULL);
	}
	const char *all[S_N] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", sql[0], sql[1], sql[2], sql[3], sql[4], sql[5]};
	for (int i = 0; i < S_N && rc == RS_SQLITE_OK; i++) {
		rc = sqlite3_prepare_v2(w->db, all[i], -1, &w->st[i], NULL);
	}
	if (rc != RS_SQLITE_OK) {
		radmfa_authw_close(w);
		return rc;
	}
	*out = w;
	return RS_SQLITE_OK;
}

// step runs s to completion and resets it; it returns 0 or an SQLite code.
static int step(sqlite3_stmt *s) {
	int rc = sqlite3_step(s);
	int rc2 = sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == RS_SQLITE_DONE) {
		return RS_SQLITE_OK;
	}
	return rc2 != RS_SQLITE_OK ? rc2 : (rc != RS_SQLITE_OK ? rc : RS_SQLITE_ERROR);
}

static int token(radmfa_authw *w, const radmfa_authw_tok *t) {
	sqlite3_stmt *s;
	int n;
	switch (t->kind) {
	case RADMFA_AUTHW_ACCEPT:
		s = w->st[S_ACCEPT];
		n = 7;
		break;
	case RADMFA_AUTHW_ACTIVATE:
		s = w->st[S_ACTIVATE];
		n = 7;
		break;
	case RADMFA_AUTHW_FAIL:
		s = w->st[S_FAIL];
		n = 3;
		break;
	default:
		return RS_SQLITE_ERROR;
	}
	for (int i = 0; i < n; i++) {
		sqlite3_bind_int64(s, i + 1, t->p[i]);
	}
	return step(s);
}

static int audit(radmfa_authw *w, const radmfa_authw_audit *a, const char *blob) {
	sqlite3_stmt *s = w->st[S_AUDIT];
	sqlite3_bind_int64(s, 1, a->at_ms);
	for (int i = 0; i < RADMFA_AUTHW_TEXTS; i++) {
		sqlite3_bind_text(s, i + 2, blob + a->off[i], a->len[i], RS_SQLITE_STATIC);
	}
	return step(s);
}

// run writes the batch inside the open transaction, one authentication
// after another in batch order, as the Go path does.
static int run(radmfa_authw *w, int nauth, const radmfa_authw_tok *toks, int ntoks,
		const radmfa_authw_audit *audits, const char *blob, int *conflict) {
	int k = 0;
	for (int i = 0; i < nauth; i++) {
		conflict[i] = -1;
		int end = k;
		while (end < ntoks && toks[end].auth == i) {
			end++;
		}
		// Accepts first, so an authentication that loses its
		// compare-and-set has written nothing.
		for (int j = k; j < end && conflict[i] < 0; j++) {
			if (toks[j].kind == RADMFA_AUTHW_FAIL) {
				continue;
			}
			int rc = token(w, &toks[j]);
			if (rc != RS_SQLITE_OK) {
				return rc;
			}
			if (sqlite3_changes(w->db) != 1) {
				conflict[i] = j;
			}
		}
		for (int j = k; j < end && conflict[i] < 0; j++) {
			if (toks[j].kind != RADMFA_AUTHW_FAIL) {
				continue;
			}
			int rc = token(w, &toks[j]);
			if (rc != RS_SQLITE_OK) {
				return rc;
			}
		}
		if (conflict[i] < 0) {
			int rc = audit(w, &audits[i], blob);
			if (rc != RS_SQLITE_OK) {
				return rc;
			}
		}
		k = end;
	}
	// Tokens out of order or of no authentication: a caller's bug.
	return k == ntoks ? RS_SQLITE_OK : RS_SQLITE_ERROR;
}

// commit is radmfa_authw_commit without the gate.
static int commit(radmfa_authw *w, int nauth, const radmfa_authw_tok *toks, int ntoks,
		const radmfa_authw_audit *audits, const char *blob, int *conflict) {
	int rc = step(w->st[S_BEGIN]);
	if (rc != RS_SQLITE_OK) {
		return rc;
	}
	rc = run(w, nauth, toks, ntoks, audits, blob, conflict);
	if (rc == RS_SQLITE_OK) {
		rc = step(w->st[S_COMMIT]);
	}
	if (rc != RS_SQLITE_OK) {
		// A failed COMMIT may leave the transaction open; ROLLBACK
		// fails harmlessly when it did not.
		step(w->st[S_ROLLBACK]);
	}
	return rc;
}

int radmfa_authw_commit(radmfa_authw *w, int nauth, const radmfa_authw_tok *toks, int ntoks,
		const radmfa_authw_audit *audits, const char *blob, int *conflict) {
	if (w->gate == NULL) {
		return commit(w, nauth, toks, ntoks, audits, blob, conflict);
	}
	pthread_mutex_lock(w->gate);
	int rc = commit(w, nauth, toks, ntoks, audits, blob, conflict);
	pthread_mutex_unlock(w->gate);
	return rc;
}

// The journal's record layout (journal.go): a header of the payload's
// length (uint32), its CRC (uint32) and its sequence number (uint64),
// then the payload, padded to 8 bytes. The payload: format (1 byte),
// flags (1), 6 bytes unused, then at_ms, token id, user id, counter,
// last_step, drift (int64 each), then 7 texts of a uint16 length each.
// All little-endian, as the machines it runs on.
enum { REC_HDR = 16, REC_FIXED = 56, REC_TEXTS = 7, REC_FORMAT = 1, REC_ACTIVATE = 1 };
#define REC_SKIP 0xffffffffu

static long long le64(const unsigned char *p) {
	long long v;
	memcpy(&v, p, 8);
	return v;
}

// apply_one binds and runs one record's token update and audit row. Its
// texts are bound from the ring, which stays as it is until applied.
static int apply_one(radmfa_authw *w, const unsigned char *p, unsigned len) {
	if (len < REC_FIXED || p[0] != REC_FORMAT) {
		return RS_SQLITE_CORRUPT;
	}
	const unsigned char *t[REC_TEXTS];
	int tl[REC_TEXTS];
	unsigned o = REC_FIXED;
	for (int i = 0; i < REC_TEXTS; i++) {
		if (o + 2 > len) {
			return RS_SQLITE_CORRUPT;
		}
		tl[i] = p[o] | p[o + 1] << 8;
		o += 2;
		if (o + tl[i] > len) {
			return RS_SQLITE_CORRUPT;
		}
		t[i] = p + o;
		o += tl[i];
	}
	long long at = le64(p + 8);
	sqlite3_stmt *s = w->st[S_JOURNALED];
	sqlite3_bind_int64(s, 1, le64(p + 32));      // counter
	sqlite3_bind_int64(s, 2, le64(p + 40));      // last_step
	sqlite3_bind_int64(s, 3, le64(p + 48));      // drift
	sqlite3_bind_int64(s, 4, at / 1000);         // last_used
	sqlite3_bind_int64(s, 5, (p[1] & REC_ACTIVATE) != 0);
	sqlite3_bind_int64(s, 6, le64(p + 16));      // token id
	sqlite3_bind_text(s, 7, (const char *)t[3], tl[3], RS_SQLITE_STATIC); // serial
	int rc = step(s);
	if (rc != RS_SQLITE_OK) {
		return rc;
	}
	s = w->st[S_AUDIT];
	sqlite3_bind_int64(s, 1, at);
	for (int i = 0; i < REC_TEXTS; i++) {
		sqlite3_bind_text(s, i + 2, (const char *)t[i], tl[i], RS_SQLITE_STATIC);
	}
	return step(s);
}

int radmfa_authw_apply_ring(radmfa_authw *w, const unsigned char *ring, long long size, long long from,
		long long to, long long seq, int max, long long *end, long long *end_seq, int *n) {
	*end = from;
	*end_seq = seq;
	*n = 0;
	if (w->gate != NULL) {
		pthread_mutex_lock(w->gate);
	}
	int rc = step(w->st[S_BEGIN]);
	long long pos = from;
	int k = 0;
	while (rc == RS_SQLITE_OK && pos < to && k < max) {
		long long off = pos % size;
		if (size - off < REC_HDR) {
			pos += size - off;
			continue;
		}
		const unsigned char *h = ring + off;
		unsigned len;
		memcpy(&len, h, 4);
		long long s = le64(h + 8);
		if (s != seq + 1) {
			rc = RS_SQLITE_CORRUPT; // our own records: a bug, not a torn write
			break;
		}
		if (len == REC_SKIP) {
			pos += size - off;
		} else if (off + REC_HDR + (long long)len > size) {
			rc = RS_SQLITE_CORRUPT;
			break;
		} else {
			rc = apply_one(w, h + REC_HDR, len);
			pos += (REC_HDR + (long long)len + 7) & ~7LL;
			k++;
		}
		seq = s;
	}
	if (rc == RS_SQLITE_OK) {
		sqlite3_bind_int64(w->st[S_JPOS], 1, pos);
		sqlite3_bind_int64(w->st[S_JPOS], 2, seq);
		rc = step(w->st[S_JPOS]);
	}
	if (rc == RS_SQLITE_OK) {
		rc = step(w->st[S_COMMIT]);
	}
	if (rc != RS_SQLITE_OK) {
		step(w->st[S_ROLLBACK]);
	} else {
		*end = pos;
		*end_seq = seq;
		*n = k;
	}
	if (w->gate != NULL) {
		pthread_mutex_unlock(w->gate);
	}
	return rc;
}

static void *applier(void *arg) {
	radmfa_authw *w = arg;
	// The thread runs only on a CPU nothing else wants: the accepts it
	// applies are safe in the journal already, and an apply is a burst of
	// milliseconds of CPU that, at the normal policy, queued the request
	// thread behind it (alternating runs, 1000 users, 32 in flight: p99
	// 3.4 against 1.7 ms; nice 19: 2.1; SCHED_BATCH: 3.0). When the CPUs
	// stay busy the journal fills, logins wait for it, and the CPU they
	// leave is the applier's. Failing to set it (a seccomp filter) only
	// costs that tail.
	struct sched_param sp = {0};
	(void)sched_setscheduler(0, SCHED_IDLE, &sp);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->have_job && !w->stop) {
			pthread_cond_wait(&w->cond, &w->mu);
		}
		if (w->stop) {
			break;
		}
		apply_job j = w->job;
		pthread_mutex_unlock(&w->mu);
		long long end, end_seq;
		int n;
		int rc = radmfa_authw_apply_ring(w, j.ring, j.size, j.from, j.to, j.seq, j.max, &end, &end_seq, &n);
		pthread_mutex_lock(&w->mu);
		w->result = rc;
		w->end = end;
		w->end_seq = end_seq;
		w->applied = n;
		w->have_job = 0;
		pthread_mutex_unlock(&w->mu);
		char b = 1;
		while (write(w->done_fd, &b, 1) < 0 && errno == EINTR) {
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int radmfa_authw_start_applier(radmfa_authw *w, int done_fd) {
	if (w->applier) {
		return EEXIST;
	}
	int rc = pthread_mutex_init(&w->mu, NULL);
	if (rc != 0) {
		return rc;
	}
	if ((rc = pthread_cond_init(&w->cond, NULL)) != 0) {
		pthread_mutex_destroy(&w->mu);
		return rc;
	}
	w->done_fd = done_fd;
	if ((rc = pthread_create(&w->thread, NULL, applier, w)) != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		return rc;
	}
	w->applier = 1;
	return 0;
}

void radmfa_authw_submit(radmfa_authw *w, const unsigned char *ring, long long size, long long from,
		long long to, long long seq, int max) {
	pthread_mutex_lock(&w->mu);
	w->job = (apply_job){ring, size, from, to, seq, max};
	w->have_job = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

int radmfa_authw_applied(radmfa_authw *w, long long *end, long long *end_seq, int *n) {
	pthread_mutex_lock(&w->mu);
	int rc = w->result;
	*end = w->end;
	*end_seq = w->end_seq;
	*n = w->applied;
	pthread_mutex_unlock(&w->mu);
	return rc;
}
