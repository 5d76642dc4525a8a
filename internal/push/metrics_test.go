package push_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"sluice/internal/push"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	url := b.createQueue(t, "jobs", nil)
	srv, _ := worker(t, ok)
	_, err := b.mgr.Put(context.Background(), push.Subscription{Queue: "jobs", Endpoint: srv.URL, Rate: 7})
	require.NoError(t, err)
	b.send(t, url, "x", "")
	b.settled(t, "jobs", 1, 0)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(b.mgr.Collector()))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			require.Equal(t, "jobs", m.GetLabel()[0].GetValue())
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[mf.GetName()] = v
		}
	}
	require.Equal(t, map[string]float64{"sluice_push_delivered_total": 1, "sluice_push_failed_total": 0,
		"sluice_push_in_flight": 0, "sluice_push_rate": 7, "sluice_push_paused": 0}, got)
}
