// A WAL checkpointer on a C thread of its own; see ckpt.go.
#ifndef RADMFA_CKPT_H
#define RADMFA_CKPT_H

#include <pthread.h>

typedef struct radmfa_ckpt radmfa_ckpt;

// radmfa_ckpt_stats is what the checkpointer has done so far.
typedef struct {
	long long runs;   // checkpoints attempted
	long long failed; // of which returned an error other than SQLITE_BUSY
	long long busy;   // of which found another checkpoint running
	int last_rc;      // result code of the last attempt
	int log_frames;   // WAL frames after the last attempt (-1 if unknown)
	int ckpt_frames;  // of which copied into the database (-1 if unknown)
	long long catch_ups;        // catch-ups run (each also counts in runs)
	long long caught_up;        // of which copied every frame it found
	long long gate_held_us;     // time catch-ups held the gate, in all
	long long gate_held_max_us; // the longest
} radmfa_ckpt_stats;

// radmfa_ckpt_start opens its own connection to the database at path and
// starts a thread that runs a PASSIVE checkpoint every interval_ms. When
// one leaves catch_up_frames or more in the WAL (0: never), it syncs the
// database and the WAL, then checkpoints once more holding the gate. It
// returns an SQLite result code; on success *out is the checkpointer.
int radmfa_ckpt_start(const char *path, long interval_ms, int catch_up_frames, radmfa_ckpt **out);

// radmfa_ckpt_gate is the mutex the authentication writer holds for each
// commit; it lives as long as c.
pthread_mutex_t *radmfa_ckpt_gate(radmfa_ckpt *c);

// radmfa_ckpt_get copies the statistics.
void radmfa_ckpt_get(radmfa_ckpt *c, radmfa_ckpt_stats *st);

// radmfa_ckpt_stop ends the thread (waiting for a checkpoint under way),
// closes the connection and frees c. It returns the close's result code.
int radmfa_ckpt_stop(radmfa_ckpt *c);

#endif
