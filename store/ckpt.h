// A WAL checkpointer on a C thread of its own; see ckpt.go.
#ifndef RADMFA_CKPT_H
#define RADMFA_CKPT_H

typedef struct radmfa_ckpt radmfa_ckpt;

// radmfa_ckpt_stats is what the checkpointer has done so far.
typedef struct {
	long long runs;   // checkpoints attempted
	long long failed; // of which returned an error other than SQLITE_BUSY
	long long busy;   // of which found another checkpoint running
	int last_rc;      // result code of the last attempt
	int log_frames;   // WAL frames after the last attempt (-1 if unknown)
	int ckpt_frames;  // of which copied into the database (-1 if unknown)
} radmfa_ckpt_stats;

// radmfa_ckpt_start opens its own connection to the database at path and
// starts a thread that runs a PASSIVE checkpoint every interval_ms. It
// returns an SQLite result code; on success *out is the checkpointer.
int radmfa_ckpt_start(const char *path, long interval_ms, radmfa_ckpt **out);

// radmfa_ckpt_get copies the statistics.
void radmfa_ckpt_get(radmfa_ckpt *c, radmfa_ckpt_stats *st);

// radmfa_ckpt_stop ends the thread (waiting for a checkpoint under way),
// closes the connection and frees c. It returns the close's result code.
int radmfa_ckpt_stop(radmfa_ckpt *c);

#endif
