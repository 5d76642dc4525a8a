package loadgen

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDwellSplit records sends, acknowledgements and receives on a dwellLog at fixed times and
// checks each dwell's parts: the values expected, none negative, and their sum the dwell
// exactly.
func TestDwellSplit(t *testing.T) {
	start := time.Now()
	at := func(ms float64) time.Time { return start.Add(time.Duration(ms * float64(time.Millisecond))) }
	d := &dwellLog{start: start}
	// Message 1..5: tenant 1 (quiet), 6: tenant 0 (noisy), 7: refused by its send, 8: never acked.
	d.acked([]uint64{1, 2, 3, 7}, []error{nil, nil, nil, errors.New("refused")}, at(12))
	d.acked([]uint64{4, 6}, nil, at(25))
	d.acked([]uint64{5}, nil, at(300)) // recorded after the receive returned
	type want struct{ send, wait, recv float64 }
	cases := []struct {
		id                     uint64
		tenant                 int
		sent, called, returned float64
		want                   want
		skipped                bool
	}{
		// A receive already in flight picks it up: no wait.
		{id: 1, tenant: 1, sent: 10, called: 0, returned: 14, want: want{2, 0, 2}},
		// A receive started after the send returned: wait from the return to its start.
		{id: 2, tenant: 1, sent: 10, called: 40, returned: 43, want: want{2, 28, 3}},
		// A receive started during the send call: no wait.
		{id: 3, tenant: 1, sent: 10, called: 11, returned: 15, want: want{2, 0, 3}},
		{id: 4, tenant: 1, sent: 20, called: 100, returned: 101.5, want: want{5, 75, 1.5}},
		// The receive returned before the producer saw its send return: send is the dwell.
		{id: 5, tenant: 1, sent: 200, called: 150, returned: 250, want: want{50, 0, 0}},
		{id: 6, tenant: 0, sent: 20, called: 30, returned: 31, want: want{5, 5, 1}},
		{id: 7, tenant: 1, sent: 10, called: 20, returned: 21, skipped: true},
		{id: 8, tenant: 1, sent: 10, called: 20, returned: 21, skipped: true},
	}
	for _, c := range cases {
		d.add(c.tenant, c.id, at(c.sent), at(c.called), at(c.returned))
		d.call(at(c.called), 1)
	}
	d.call(at(500), 0)

	splits := d.splits()
	var i int
	for _, c := range cases {
		if c.skipped {
			continue
		}
		require.Less(t, i, len(splits))
		s := splits[i]
		i++
		require.Equal(t, c.tenant, s.tenant, "id %d", c.id)
		require.GreaterOrEqual(t, s.send, time.Duration(0), "id %d", c.id)
		require.GreaterOrEqual(t, s.wait, time.Duration(0), "id %d", c.id)
		require.GreaterOrEqual(t, s.recv, time.Duration(0), "id %d", c.id)
		require.Equal(t, s.dwell, s.send+s.wait+s.recv, "id %d", c.id)
		require.Equal(t, at(c.returned).Sub(at(c.sent)), s.dwell, "id %d", c.id)
		require.InDelta(t, c.want.send, ms(s.send), 1e-6, "id %d send", c.id)
		require.InDelta(t, c.want.wait, ms(s.wait), 1e-6, "id %d wait", c.id)
		require.InDelta(t, c.want.recv, ms(s.recv), 1e-6, "id %d recv", c.id)
	}
	require.Len(t, splits, i, "messages without a recorded send return have no parts")

	by, quiet := d.partsByTenant()
	require.NotNil(t, quiet)
	require.Equal(t, 5, quiet.Send.N)
	require.Equal(t, 5, quiet.Wait.N)
	require.Equal(t, 5, quiet.Receive.N)
	require.Equal(t, 1, by[0].Send.N)
	require.Equal(t, 5, by[1].Receive.N)
	require.InDelta(t, 75, quiet.Wait.Max, 1e-6)

	// Call starts 0, 11, 20, 20, 30, 40, 100, 150, 500: 9 calls, 8 returned messages.
	c := d.cadence()
	require.Equal(t, int64(9), c.Calls)
	require.Equal(t, int64(8), c.WithMessages)
	require.InDelta(t, 500.0/8, c.MeanMs, 1e-6)
	require.Equal(t, 8, c.Interval.N)
	require.InDelta(t, 350, c.Interval.Max, 1e-6)
}

// TestSplitDwellSums checks splitDwell over a grid of orderings: the parts are never negative
// and always add up to the dwell.
func TestSplitDwellSums(t *testing.T) {
	vals := []time.Duration{-7, 0, 3, 10, 25, 100}
	for _, sent := range vals {
		for _, ack := range vals {
			for _, called := range vals {
				for _, dwell := range vals[1:] {
					send, wait, recv := splitDwell(sent, ack, called, dwell)
					require.GreaterOrEqual(t, send, time.Duration(0))
					require.GreaterOrEqual(t, wait, time.Duration(0))
					require.GreaterOrEqual(t, recv, time.Duration(0))
					require.Equal(t, dwell, send+wait+recv)
				}
			}
		}
	}
}
