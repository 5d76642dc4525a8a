package queue

import (
	"testing"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func TestReceiptRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range []engine.Receipt{
		{QueueID: 1, Seq: 1, Token: 0},
		{QueueID: 1<<64 - 1, Seq: 1<<64 - 1, Token: 1<<64 - 1},
		{QueueID: 300, Seq: 123456789, Token: 0xdeadbeef},
	} {
		h := EncodeReceipt(r)
		got, err := DecodeReceipt(h)
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
}

func TestDecodeReceiptRejectsGarbage(t *testing.T) {
	t.Parallel()
	good := EncodeReceipt(engine.Receipt{QueueID: 7, Seq: 9, Token: 11})
	for _, h := range []string{"", "garbage", "AAAA", good[:len(good)-1], good + "A", "!" + good[1:],
		string(make([]byte, 100))} {
		_, err := DecodeReceipt(h)
		require.Error(t, err, "%q", h)
	}
	// Flipping any character breaks the checksum.
	for i := range good {
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		_, err := DecodeReceipt(string(b))
		require.Error(t, err, "flip at %d", i)
	}
}

func FuzzDecodeReceipt(f *testing.F) {
	f.Add(EncodeReceipt(engine.Receipt{QueueID: 1, Seq: 2, Token: 3}))
	f.Add("garbage")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		r, err := DecodeReceipt(h)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same handle.
		if EncodeReceipt(r) != h {
			t.Fatalf("decoded %q to %+v which encodes differently", h, r)
		}
	})
}
