// The authentication writer: a connection of its own that commits a batch
// of authentications in one C call; see authw.go.
#ifndef RADMFA_AUTHW_H
#define RADMFA_AUTHW_H

#include <pthread.h>

typedef struct radmfa_authw radmfa_authw;

// radmfa_authw_tok is one token change of an authentication.
typedef struct {
	int auth; // index of the authentication it belongs to
	int kind; // RADMFA_AUTHW_ACCEPT, _ACTIVATE or _FAIL
	// The statement's parameters in order: accept and activate take
	// counter, last_step, drift, last_used, id, version, user_id; fail
	// takes lock_after, locked_until, id.
	long long p[7];
} radmfa_authw_tok;

#define RADMFA_AUTHW_ACCEPT 0
#define RADMFA_AUTHW_ACTIVATE 1
#define RADMFA_AUTHW_FAIL 2
#define RADMFA_AUTHW_TEXTS 7

// radmfa_authw_audit is an authentication's audit row. Its texts (actor,
// action, user, serial, client, result, detail) are [off, off+len) of the
// batch's blob.
typedef struct {
	long long at_ms;
	int off[RADMFA_AUTHW_TEXTS];
	int len[RADMFA_AUTHW_TEXTS];
} radmfa_authw_audit;

// radmfa_authw_open opens a connection to the database at path and
// prepares sql[0..5] (accept, activate, fail, one audit row, a journaled
// accept, the journal position). synchronous
// is "FULL" or "NORMAL"; ckpt_pages the WAL size at which a commit
// checkpoints. It returns an SQLite result code; on success *out is the
// writer.
int radmfa_authw_open(const char *path, const char *synchronous, int ckpt_pages,
		const char *const sql[6], radmfa_authw **out);

// radmfa_authw_commit runs nauth authentications in one transaction, in
// order (toks grouped by authentication, in ascending order): each
// one's accepts (compare-and-set: a token that no longer matches is a
// conflict, and the authentication writes nothing more), then its fails,
// then its audit row. conflict[i] is -1 for an authentication written, or
// the index in toks of the accept that found the token changed. A result
// other than 0 is the SQLite code of a failure; the transaction is then
// rolled back and nothing is written.
int radmfa_authw_commit(radmfa_authw *w, int nauth, const radmfa_authw_tok *toks, int ntoks,
		const radmfa_authw_audit *audits, const char *blob, int *conflict);

// radmfa_authw_apply_ring applies the accept journal's records from
// position from (the ring of size bytes, its first record numbered seq+1)
// up to to or max records, in one transaction with the position reached,
// which it returns in *end, *end_seq, with the records applied in *n. A
// token that is gone is skipped. It returns 0 or the SQLite code of a
// failure (SQLITE_CORRUPT for a record that does not follow on), after
// which nothing is written.
int radmfa_authw_apply_ring(radmfa_authw *w, const unsigned char *ring, long long size, long long from,
		long long to, long long seq, int max, long long *end, long long *end_seq, int *n);

// radmfa_authw_start_applier starts a thread that runs the spans given to
// radmfa_authw_submit with radmfa_authw_apply_ring, writing one byte to
// done_fd after each. It returns 0 or an errno.
int radmfa_authw_start_applier(radmfa_authw *w, int done_fd);

// radmfa_authw_submit hands the applier thread a span of the journal
// (radmfa_authw_apply_ring's arguments; the ring is not Go memory) and
// returns at once. Nothing else may use w until the done byte.
void radmfa_authw_submit(radmfa_authw *w, const unsigned char *ring, long long size, long long from,
		long long to, long long seq, int max);

// radmfa_authw_applied is the result of the span the last done byte
// announced, with what radmfa_authw_apply_ring returns through pointers.
int radmfa_authw_applied(radmfa_authw *w, long long *end, long long *end_seq, int *n);

// radmfa_authw_set_gate makes every later commit hold gate (NULL: none)
// from its BEGIN to its COMMIT; see radmfa_ckpt_gate.
void radmfa_authw_set_gate(radmfa_authw *w, pthread_mutex_t *gate);

// radmfa_authw_close stops the applier thread, finalizes the statements,
// closes the connection and frees w. It returns the close's result code.
int radmfa_authw_close(radmfa_authw *w);

#endif
