package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's own: how logins batch into transactions, and
// the connection pool. The Store is a prometheus.Collector of them.
type metrics struct {
	logins   prometheus.Histogram
	failures prometheus.Counter
	pool     *pgxpool.Pool

	conns    *prometheus.Desc
	acquires *prometheus.Desc
	waits    *prometheus.Desc
}

func newMetrics(pool *pgxpool.Pool) *metrics {
	return &metrics{
		logins: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "radmfa_store_commit_logins",
			Help:    "Logins committed together in one PostgreSQL transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "radmfa_store_batch_failures_total",
			Help: "Transactions of several logins that failed, whose logins were then committed one by one.",
		}),
		pool: pool,
		conns: prometheus.NewDesc("radmfa_store_pg_connections", "PostgreSQL connections of the pool, by state.",
			[]string{"state"}, nil),
		acquires: prometheus.NewDesc("radmfa_store_pg_acquires_total", "Connections taken from the pool.", nil, nil),
		waits: prometheus.NewDesc("radmfa_store_pg_acquire_waits_total",
			"Connections taken from the pool after waiting for one (the pool was busy).", nil, nil),
	}
}

// batch observes one transaction of n logins (err: it failed).
func (m *metrics) batch(n int, err error) {
	m.logins.Observe(float64(n))
	if err != nil {
		m.failures.Inc()
	}
}

// Describe implements prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	m := s.metrics
	m.logins.Describe(ch)
	m.failures.Describe(ch)
	ch <- m.conns
	ch <- m.acquires
	ch <- m.waits
}

// Collect implements prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	m := s.metrics
	m.logins.Collect(ch)
	m.failures.Collect(ch)
	st := m.pool.Stat()
	ch <- prometheus.MustNewConstMetric(m.conns, prometheus.GaugeValue, float64(st.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(m.conns, prometheus.GaugeValue, float64(st.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(m.conns, prometheus.GaugeValue, float64(st.TotalConns()), "total")
	ch <- prometheus.MustNewConstMetric(m.acquires, prometheus.CounterValue, float64(st.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(m.waits, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
}
