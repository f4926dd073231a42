package store

/*
#include <stdlib.h>
#include "ckpt.h"
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// checkpointer copies the WAL back into the database file on a C thread of
// its own, from a connection of its own, with PASSIVE checkpoints (which
// never block the writer or readers).
//
// Why C: a checkpoint syncs the WAL and the database file, which on a
// virtual disk takes milliseconds to tens of milliseconds. A cgo call keeps
// its goroutine's P for as long as it runs, until sysmon hands the P on,
// and sysmon checks only every 10 ms once it finds nothing to do. With
// `serve --procs 1` every request waited for the checkpoint: an execution
// trace showed the only P held 11 ms by the checkpoint while 25 request
// goroutines were runnable, and the load tool saw 15-25 ms stalls every
// 250 ms, one per checkpoint. On a thread the Go scheduler does not know
// of, the checkpoint costs the server nothing but the I/O.
//
// Catching up: while commits keep coming, a PASSIVE checkpoint never copies
// the whole WAL (more was committed while it copied), so it never syncs
// the database file and the WAL never restarts. Only the writer's own
// checkpoint, when the WAL reaches writerCheckpointPages, finished one,
// inside a commit: at 10,000 logins/s, one commit of 10-25 ms every 2 s
// (strace: the database's sync 11.5 ms, the WAL header's on restart 6.6
// ms), holding back every login that arrived meanwhile. So once the WAL
// holds catchUpPages, the checkpointer syncs the database and the WAL
// itself, beside the commits, then takes the gate that the
// authentication writer holds for each commit and checkpoints once more:
// that copies only what was committed since and syncs little, and the
// WAL restarts at the next commit.
type checkpointer struct {
	c *C.radmfa_ckpt
}

// CheckpointStats is what the checkpointer has done since the store opened.
type CheckpointStats struct {
	Runs, Failed, Busy int64         // checkpoints attempted; failed; found another running
	LastCode           int           // SQLite result code of the last attempt
	LogFrames          int           // WAL frames after the last attempt (-1 unknown)
	CheckpointedFrames int           // of which copied into the database (-1 unknown)
	CatchUps           int64         // catch-ups run (each also counts in Runs)
	CaughtUp           int64         // of which copied every frame it found: the WAL restarts
	GateHeld           time.Duration // commits held back by catch-ups, in all
	GateHeldMax        time.Duration // by the longest
}

// startCheckpointer starts checkpointing the database at path every
// interval, catching up (see catchUpPages) when a checkpoint leaves
// catchUp pages or more in the WAL (0: never).
func startCheckpointer(path string, interval time.Duration, catchUp int) (*checkpointer, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var c *C.radmfa_ckpt
	if rc := C.radmfa_ckpt_start(cpath, C.long(interval.Milliseconds()), C.int(catchUp), &c); rc != 0 {
		return nil, fmt.Errorf("store: checkpointer: open %s: SQLite error %d", path, int(rc))
	}
	return &checkpointer{c: c}, nil
}

// gate is the mutex the authentication writer holds for each commit.
func (k *checkpointer) gate() *C.pthread_mutex_t { return C.radmfa_ckpt_gate(k.c) }

// stats reads the statistics.
func (k *checkpointer) stats() CheckpointStats {
	var st C.radmfa_ckpt_stats
	C.radmfa_ckpt_get(k.c, &st)
	return CheckpointStats{
		Runs: int64(st.runs), Failed: int64(st.failed), Busy: int64(st.busy),
		LastCode: int(st.last_rc), LogFrames: int(st.log_frames), CheckpointedFrames: int(st.ckpt_frames),
		CatchUps: int64(st.catch_ups), CaughtUp: int64(st.caught_up),
		GateHeld:    time.Duration(st.gate_held_us) * time.Microsecond,
		GateHeldMax: time.Duration(st.gate_held_max_us) * time.Microsecond,
	}
}

// stop waits for a checkpoint under way, ends the thread and closes its
// connection.
func (k *checkpointer) stop() error {
	if rc := C.radmfa_ckpt_stop(k.c); rc != 0 {
		return fmt.Errorf("store: checkpointer: close: SQLite error %d", int(rc))
	}
	return nil
}
