// The part of SQLite's C API that ckpt.c and authw.c call. The functions are
// those of the SQLite amalgamation github.com/mattn/go-sqlite3 compiles into
// the binary (one library, so file locks and the WAL index are shared with
// the Go side's connections); its header is not on our include path, so the
// few declarations and constants needed are repeated here, once.
#ifndef RADMFA_SQLITEAPI_H
#define RADMFA_SQLITEAPI_H

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

extern int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs);
extern int sqlite3_close(sqlite3 *db);
extern int sqlite3_exec(sqlite3 *db, const char *sql, void *callback, void *arg, char **errmsg);
extern int sqlite3_wal_checkpoint_v2(sqlite3 *db, const char *schema, int mode, int *log, int *ckpt);
extern int sqlite3_busy_timeout(sqlite3 *db, int ms);
extern int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail);
extern int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, long long v);
extern int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *v, int n, void (*destructor)(void *));
extern int sqlite3_step(sqlite3_stmt *stmt);
extern int sqlite3_reset(sqlite3_stmt *stmt);
extern int sqlite3_clear_bindings(sqlite3_stmt *stmt);
extern int sqlite3_finalize(sqlite3_stmt *stmt);
extern int sqlite3_changes(sqlite3 *db);
extern int sqlite3_file_control(sqlite3 *db, const char *schema, int op, void *arg);

// sqlite3_file and the head of sqlite3_io_methods, as far as xSync: the
// layout of SQLite's own structures, which only ever reach us by pointer.
typedef struct sqlite3_file sqlite3_file;
typedef struct {
	int iVersion;
	int (*xClose)(sqlite3_file *);
	int (*xRead)(sqlite3_file *, void *, int, long long);
	int (*xWrite)(sqlite3_file *, const void *, int, long long);
	int (*xTruncate)(sqlite3_file *, long long);
	int (*xSync)(sqlite3_file *, int flags);
} rs_sqlite3_io_methods_head;
struct sqlite3_file {
	const rs_sqlite3_io_methods_head *pMethods;
};

#define RS_SQLITE_OK 0
#define RS_SQLITE_ERROR 1
#define RS_SQLITE_BUSY 5
#define RS_SQLITE_NOMEM 7
#define RS_SQLITE_CORRUPT 11
#define RS_SQLITE_DONE 101
#define RS_SQLITE_OPEN_READWRITE 0x00000002
#define RS_SQLITE_OPEN_NOMUTEX 0x00008000
#define RS_SQLITE_OPEN_FULLMUTEX 0x00010000
#define RS_SQLITE_CHECKPOINT_PASSIVE 0
#define RS_SQLITE_FCNTL_FILE_POINTER 7
#define RS_SQLITE_FCNTL_JOURNAL_POINTER 28
#define RS_SQLITE_SYNC_NORMAL 0x00002
// SQLITE_STATIC: the bound text stays put until the statement is reset.
#define RS_SQLITE_STATIC ((void (*)(void *))0)

#endif
