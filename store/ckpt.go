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
type checkpointer struct {
	c *C.radmfa_ckpt
}

// CheckpointStats is what the checkpointer has done since the store opened.
type CheckpointStats struct {
	Runs, Failed, Busy int64 // checkpoints attempted; failed; found another running
	LastCode           int   // SQLite result code of the last attempt
	LogFrames          int   // WAL frames after the last attempt (-1 unknown)
	CheckpointedFrames int   // of which copied into the database (-1 unknown)
}

// startCheckpointer starts checkpointing the database at path every interval.
func startCheckpointer(path string, interval time.Duration) (*checkpointer, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var c *C.radmfa_ckpt
	if rc := C.radmfa_ckpt_start(cpath, C.long(interval.Milliseconds()), &c); rc != 0 {
		return nil, fmt.Errorf("store: checkpointer: open %s: SQLite error %d", path, int(rc))
	}
	return &checkpointer{c: c}, nil
}

// stats reads the statistics.
func (k *checkpointer) stats() CheckpointStats {
	var st C.radmfa_ckpt_stats
	C.radmfa_ckpt_get(k.c, &st)
	return CheckpointStats{
		Runs: int64(st.runs), Failed: int64(st.failed), Busy: int64(st.busy),
		LastCode: int(st.last_rc), LogFrames: int(st.log_frames), CheckpointedFrames: int(st.ckpt_frames),
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
