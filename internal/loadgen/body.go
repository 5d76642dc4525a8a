package loadgen

import (
	"bytes"
	"strconv"
	"time"
)

// A body starts with a header the consumers parse, then padding up to the requested size:
//
//	sl1|<id hex>|<send unix nanos>|<group>|<sequence in group>|xxxx...
//
// The id is unique per run (producer index in the high 32 bits, the producer's sequence in the
// low 32), so a final drain can find lost and duplicated messages.
const bodyMagic = "sl1|"

type header struct {
	id    uint64
	sent  time.Time
	group int
	gseq  uint64
}

// encodeBody appends a message body of at least size bytes to dst.
func encodeBody(dst []byte, size int, h header) []byte {
	start := len(dst)
	dst = append(dst, bodyMagic...)
	dst = strconv.AppendUint(dst, h.id, 16)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, h.sent.UnixNano(), 10)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(h.group), 10)
	dst = append(dst, '|')
	dst = strconv.AppendUint(dst, h.gseq, 10)
	dst = append(dst, '|')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// parseBody reads a body's header; ok is false for a body this tool did not write (a null
// server's canned messages, say).
func parseBody(b []byte) (h header, ok bool) {
	if !bytes.HasPrefix(b, []byte(bodyMagic)) {
		return h, false
	}
	b = b[len(bodyMagic):]
	var f [4][]byte
	for i := range f {
		j := bytes.IndexByte(b, '|')
		if j < 0 {
			return h, false
		}
		f[i], b = b[:j], b[j+1:]
	}
	id, err1 := strconv.ParseUint(string(f[0]), 16, 64)
	ns, err2 := strconv.ParseInt(string(f[1]), 10, 64)
	g, err3 := strconv.Atoi(string(f[2]))
	gs, err4 := strconv.ParseUint(string(f[3]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return h, false
	}
	return header{id: id, sent: time.Unix(0, ns), group: g, gseq: gs}, true
}

func makeID(producer int, seq uint32) uint64 { return uint64(producer)<<32 | uint64(seq) }
