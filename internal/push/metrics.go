package push

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a Prometheus collector of the subscriptions' state, labelled by queue:
// sluice_push_delivered_total, sluice_push_failed_total (counts since the server started),
// sluice_push_in_flight, sluice_push_rate (the effective rate now) and sluice_push_paused.
func (m *Manager) Collector() prometheus.Collector { return &collector{m: m} }

var (
	descDelivered = prometheus.NewDesc("sluice_push_delivered_total", "Messages delivered by push (2xx, then deleted).", []string{"queue"}, nil)
	descFailed    = prometheus.NewDesc("sluice_push_failed_total", "Push delivery attempts that failed (non-2xx, error or timeout).", []string{"queue"}, nil)
	descInFlight  = prometheus.NewDesc("sluice_push_in_flight", "Push delivery requests in flight.", []string{"queue"}, nil)
	descRate      = prometheus.NewDesc("sluice_push_rate", "Effective push rate now, in deliveries per second (0 when paused).", []string{"queue"}, nil)
	descPaused    = prometheus.NewDesc("sluice_push_paused", "1 if the push subscription is paused.", []string{"queue"}, nil)
)

type collector struct{ m *Manager }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDelivered, descFailed, descInFlight, descRate, descPaused} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.m.List() {
		paused := 0.0
		if st.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(st.Delivered), st.Queue)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(st.Failed), st.Queue)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(st.InFlight), st.Queue)
		ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, st.CurrentRate, st.Queue)
		ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, paused, st.Queue)
	}
}
