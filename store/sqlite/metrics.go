package sqlite

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's own: how well group commit batches and how long
// a transaction takes. The Store is a prometheus.Collector of them.
type metrics struct {
	writes  prometheus.Histogram
	logins  prometheus.Counter
	took    prometheus.Histogram
	failed  prometheus.Counter
	replays prometheus.Counter
	commits prometheus.Counter

	syncs, syncFailures prometheus.Counter
	syncTook            prometheus.Histogram

	checkpoints, checkpointFailures prometheus.Counter
	walPages                        prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		writes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "radmfa_store_commit_writes",
			Help:    "Writes (logins, admin changes) committed together in one SQLite transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "radmfa_store_commit_duration_seconds",
			Help:    "Time of one SQLite write transaction, begin to commit (the sync of the WAL after it is radmfa_store_wal_sync_duration_seconds).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_commits_total",
			Help: "SQLite write transactions committed.",
		}),
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_logins_recorded_total",
			Help: "Login outcomes (accepts, refusals) recorded.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_write_failures_total",
			Help: "Writes whose transaction failed (a duplicate name, a full disk); the caller has the error.",
		}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_wal_syncs_total",
			Help: "Syncs (fdatasync) of the WAL with synchronous FULL, one per transaction: each makes the transaction durable before its writes are answered.",
		}),
		syncFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_wal_sync_failures_total",
			Help: "Syncs of the WAL that failed; the writes of their transactions were refused.",
		}),
		syncTook: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "radmfa_store_wal_sync_duration_seconds",
			Help:    "Time of one sync of the WAL.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
		}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_checkpoints_total",
			Help: "PASSIVE WAL checkpoints run (every 250 ms, beside the writer).",
		}),
		checkpointFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_checkpoint_failures_total",
			Help: "WAL checkpoints that failed (logged).",
		}),
		walPages: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "radmfa_store_wal_frames",
			Help: "Pages in the WAL at the last checkpoint; 0 after the WAL restarts.",
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_batch_replays_total",
			Help: "Transactions of several writes that failed and were committed again one write each.",
		}),
	}
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.writes, m.took, m.commits, m.logins, m.failed, m.replays, m.syncs, m.syncFailures, m.syncTook, m.checkpoints, m.checkpointFailures, m.walPages}
}

// observe records a committed batch.
func (m *metrics) observe(batch []writeOp, took time.Duration) {
	m.commits.Inc()
	m.writes.Observe(float64(len(batch)))
	m.took.Observe(took.Seconds())
	n := 0
	for _, op := range batch {
		if op.login != nil {
			n++
		}
	}
	m.logins.Add(float64(n))
}

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.metrics.all() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.metrics.all() {
		c.Collect(ch)
	}
}
