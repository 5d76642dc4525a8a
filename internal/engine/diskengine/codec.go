package diskengine

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"sluice/internal/engine"
	"sluice/internal/engine/msgindex"
)

// Key layout. Every key starts with a one-byte prefix naming its kind; numbers are big-endian so
// that keys sort numerically and all records of one queue are contiguous:
//
//	0x00 <name>                  metadata; "\x00sluice-format" holds the format version ("1")
//	0x01 <queue id:8>            queue record: JSON (queueRecord), rare and small
//	0x02 <queue id:8> <seq:8>    message record: immutable, compact binary (appendMessage)
//	0x03 <queue id:8> <seq:8>    state record: msgindex.State, fixed 45 bytes (appendState)
//	0x04 <queue id:8>            the queue's next message sequence (8 bytes)
//	0x05 <account> 0x00 <name>   tombstone of a deleted queue: deletion time, Unix ms (8 bytes)
//	0x06 <queue id:8> <key>      deduplication key: seq (8), expiry Unix ms (8), message id
//	0x07 <task handle>           message move task: JSON (moveTaskRecord), rare and small
//
// "\x00next-queue-id" holds the next queue id (8 bytes), so that ids are never reused.
//
// Messages and their states live under separate prefixes so that Load reads queue and state
// records only and never a body: start-up cost grows with the number of messages, not with
// their size. A message and its state are written and deleted together; a queue's messages are
// removed with one range deletion per prefix.
const (
	prefixMeta    byte = 0x00
	prefixQueue   byte = 0x01
	prefixMessage byte = 0x02
	prefixState   byte = 0x03
	prefixNextSeq byte = 0x04
	prefixTomb    byte = 0x05
	prefixDedup   byte = 0x06
	prefixTask    byte = 0x07
)

// dedupKey returns the key of a deduplication record.
func dedupKey(qid uint64, key string) []byte {
	k := make([]byte, 9, 9+len(key))
	k[0] = prefixDedup
	binary.BigEndian.PutUint64(k[1:], qid)
	return append(k, key...)
}

func appendDedup(dst []byte, seq uint64, until int64, messageID string) []byte {
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(until))
	return append(dst, messageID...)
}

func decodeDedup(k, v []byte) (qid uint64, key string, seq uint64, until int64, messageID string, err error) {
	if len(k) < 9 || len(v) < 16 {
		return 0, "", 0, 0, "", corruptf("deduplication record %x", k)
	}
	return binary.BigEndian.Uint64(k[1:]), string(k[9:]), binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:])), string(v[16:]), nil
}

// nextQueueIDKey is the metadata key of the next queue id.
var nextQueueIDKey = []byte("\x00next-queue-id")

// nextSeqKey returns the key of a queue's next sequence.
func nextSeqKey(qid uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixNextSeq
	binary.BigEndian.PutUint64(k[1:], qid)
	return k
}

// tombKey returns the key of a tombstone.
func tombKey(k engine.QueueKey) []byte {
	b := make([]byte, 0, 2+len(k.Account)+len(k.Name))
	b = append(b, prefixTomb)
	b = append(b, k.Account...)
	b = append(b, 0)
	return append(b, k.Name...)
}

// parseTombKey is the inverse of tombKey.
func parseTombKey(b []byte) (engine.QueueKey, error) {
	if len(b) < 2 || b[0] != prefixTomb {
		return engine.QueueKey{}, corruptf("tombstone key %x", b)
	}
	acct, name, ok := bytesCut(b[1:], 0)
	if !ok {
		return engine.QueueKey{}, corruptf("tombstone key %x", b)
	}
	return engine.QueueKey{Account: string(acct), Name: string(name)}, nil
}

func bytesCut(b []byte, sep byte) (before, after []byte, ok bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

func uint64Value(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, corruptf("%d-byte number", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// formatKey is the metadata key of the format marker, and formatVersion the only format this
// code reads and writes.
var formatKey = []byte("\x00sluice-format")

const formatVersion = "1"

// ErrCorrupt is wrapped by every error about a stored record that cannot be decoded.
var ErrCorrupt = errors.New("corrupt record")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// queueKey returns the key of a queue record.
func queueKey(qid uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixQueue
	binary.BigEndian.PutUint64(k[1:], qid)
	return k
}

// msgKey returns the key of a message record (prefixMessage) or state record (prefixState).
func msgKey(prefix byte, qid, seq uint64) []byte {
	k := make([]byte, 17)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], qid)
	binary.BigEndian.PutUint64(k[9:], seq)
	return k
}

// parseMsgKey splits a message or state key into queue id and seq.
func parseMsgKey(k []byte) (qid, seq uint64, err error) {
	if len(k) != 17 {
		return 0, 0, corruptf("message key of %d bytes", len(k))
	}
	return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:]), nil
}

// queueSpan returns the key range [start, end) that holds every key under prefix of queue qid.
func queueSpan(prefix byte, qid uint64) (start, end []byte) {
	start = make([]byte, 9)
	start[0] = prefix
	binary.BigEndian.PutUint64(start[1:], qid)
	if qid == ^uint64(0) {
		return start, []byte{prefix + 1}
	}
	end = make([]byte, 9)
	end[0] = prefix
	binary.BigEndian.PutUint64(end[1:], qid+1)
	return start, end
}

// prefixSpan returns the key range [start, end) of every key under prefix.
func prefixSpan(prefix byte) (start, end []byte) {
	return []byte{prefix}, []byte{prefix + 1}
}

// queueRecord is the stored form of an engine.Queue.
type queueRecord struct {
	V          int               `json:"v"`
	ID         uint64            `json:"id"`
	Account    string            `json:"account"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	ModifiedAt time.Time         `json:"modified_at"`
	FIFO       bool              `json:"fifo,omitempty"`
}

const queueRecordVersion = 1

func encodeQueue(q *engine.Queue) ([]byte, error) {
	return json.Marshal(queueRecord{
		V:          queueRecordVersion,
		ID:         q.ID,
		Account:    q.Key.Account,
		Name:       q.Key.Name,
		Attributes: q.Attributes,
		Tags:       q.Tags,
		CreatedAt:  q.CreatedAt,
		ModifiedAt: q.ModifiedAt,
		FIFO:       q.FIFO,
	})
}

func decodeQueue(v []byte) (*engine.Queue, error) {
	var r queueRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: queue record: %v", ErrCorrupt, err)
	}
	if r.V != queueRecordVersion {
		return nil, corruptf("queue record version %d (this sluice reads %d)", r.V, queueRecordVersion)
	}
	return &engine.Queue{
		ID:         r.ID,
		Key:        engine.QueueKey{Account: r.Account, Name: r.Name},
		Attributes: r.Attributes,
		Tags:       r.Tags,
		CreatedAt:  r.CreatedAt,
		ModifiedAt: r.ModifiedAt,
		FIFO:       r.FIFO,
	}, nil
}

// moveTaskKey returns the key of a message move task record.
func moveTaskKey(handle string) []byte {
	k := make([]byte, 1, 1+len(handle))
	k[0] = prefixTask
	return append(k, handle...)
}

// moveTaskRecord is the stored form of an engine.MoveTask.
type moveTaskRecord struct {
	V              int    `json:"v"`
	Handle         string `json:"handle"`
	SourceQueueID  uint64 `json:"source_queue_id"`
	SourceArn      string `json:"source_arn"`
	DestinationArn string `json:"destination_arn,omitempty"`
	MaxPerSecond   int32  `json:"max_per_second,omitempty"`
	Status         string `json:"status"`
	Moved          int64  `json:"moved"`
	ToMove         int64  `json:"to_move"`
	FailureReason  string `json:"failure_reason,omitempty"`
	// StartedAt is in Unix milliseconds (0: the zero time).
	StartedAt int64 `json:"started_at"`
}

const moveTaskRecordVersion = 1

func encodeMoveTask(t *engine.MoveTask) ([]byte, error) {
	var started int64
	if !t.StartedAt.IsZero() {
		started = t.StartedAt.UnixMilli()
	}
	return json.Marshal(moveTaskRecord{
		V:              moveTaskRecordVersion,
		Handle:         t.Handle,
		SourceQueueID:  t.SourceQueueID,
		SourceArn:      t.SourceArn,
		DestinationArn: t.DestinationArn,
		MaxPerSecond:   t.MaxPerSecond,
		Status:         t.Status,
		Moved:          t.Moved,
		ToMove:         t.ToMove,
		FailureReason:  t.FailureReason,
		StartedAt:      started,
	})
}

func decodeMoveTask(v []byte) (*engine.MoveTask, error) {
	var r moveTaskRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: move task record: %v", ErrCorrupt, err)
	}
	if r.V != moveTaskRecordVersion {
		return nil, corruptf("move task record version %d (this sluice reads %d)", r.V, moveTaskRecordVersion)
	}
	t := &engine.MoveTask{
		Handle:         r.Handle,
		SourceQueueID:  r.SourceQueueID,
		SourceArn:      r.SourceArn,
		DestinationArn: r.DestinationArn,
		MaxPerSecond:   r.MaxPerSecond,
		Status:         r.Status,
		Moved:          r.Moved,
		ToMove:         r.ToMove,
		FailureReason:  r.FailureReason,
	}
	if r.StartedAt != 0 {
		t.StartedAt = time.UnixMilli(r.StartedAt)
	}
	return t, nil
}

// State records: a version byte, then the fields of msgindex.State except Seq (which is in the
// key), big-endian: SentAt, VisibleAt, ReceivedAt, FirstReceiveAt (int64 Unix ms), Token
// (uint64), ReceiveCount (uint32), then Group as a uvarint length and its bytes.
const (
	stateVersion = 1
	stateLen     = 1 + 5*8 + 4
)

func appendState(dst []byte, st *msgindex.State) []byte {
	dst = append(dst, stateVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(st.SentAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(st.VisibleAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(st.ReceivedAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(st.FirstReceiveAt))
	dst = binary.BigEndian.AppendUint64(dst, st.Token)
	dst = binary.BigEndian.AppendUint32(dst, st.ReceiveCount)
	return appendString(dst, st.Group)
}

func decodeState(seq uint64, v []byte) (msgindex.State, error) {
	if len(v) < stateLen+1 {
		return msgindex.State{}, corruptf("state record of %d bytes, want at least %d", len(v), stateLen+1)
	}
	if v[0] != stateVersion {
		return msgindex.State{}, corruptf("state record version %d (this sluice reads %d)", v[0], stateVersion)
	}
	be := binary.BigEndian
	d := decoder{buf: v[stateLen:]}
	group := d.string("group")
	if d.err == nil && len(d.buf) > 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return msgindex.State{}, fmt.Errorf("state record: %w", d.err)
	}
	return msgindex.State{
		Group:          group,
		Seq:            seq,
		SentAt:         int64(be.Uint64(v[1:])),
		VisibleAt:      int64(be.Uint64(v[9:])),
		ReceivedAt:     int64(be.Uint64(v[17:])),
		FirstReceiveAt: int64(be.Uint64(v[25:])),
		Token:          be.Uint64(v[33:]),
		ReceiveCount:   be.Uint32(v[41:]),
	}, nil
}

// Message records, version 2 (version 1, still read, ends after SystemAttrs):
//
//	version       byte (2)
//	ID            string
//	Body          string
//	SenderID      string
//	GroupID       string
//	DedupID       string
//	DLQSourceArn  string
//	SentAt        time
//	Attributes    attrs
//	SystemAttrs   attrs
//	BodyMD5       string: the body's 16-byte MD5, or empty
//
// where string is a uvarint length and the bytes; time is a byte 0 (the zero time) or 1
// followed by a varint of Unix seconds and a uvarint of nanoseconds (< 1e9); attrs is a uvarint
// n, 0 for a nil map or the number of entries plus one, then the entries sorted by name, each:
// name string, DataType string, a flags byte (bit 0: IsBinary, bit 1: BinaryValue non-nil),
// StringValue string, and, if bit 1 is set, BinaryValue as a string.
const messageVersion = 2

const (
	attrIsBinary  = 1 << 0
	attrHasBinary = 1 << 1
	attrFlagsMask = attrIsBinary | attrHasBinary
)

// appendMessage appends the encoding of m to dst.
func appendMessage(dst []byte, m *engine.Message) []byte {
	dst = append(dst, messageVersion)
	dst = appendString(dst, m.ID)
	dst = appendString(dst, m.Body)
	dst = appendString(dst, m.SenderID)
	dst = appendString(dst, m.GroupID)
	dst = appendString(dst, m.DeduplicationID)
	dst = appendString(dst, m.DeadLetterSourceArn)
	dst = appendTime(dst, m.SentAt)
	dst = appendAttrs(dst, m.Attributes)
	dst = appendAttrs(dst, m.SystemAttributes)
	var sum [md5.Size]byte
	if n, err := hex.Decode(sum[:], []byte(m.BodyMD5)); err == nil && n == md5.Size {
		dst = appendString(dst, string(sum[:]))
	} else {
		dst = appendString(dst, "") // none (a malformed one is dropped: receives compute it)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendAttrs(dst []byte, attrs map[string]engine.MessageAttribute) []byte {
	if attrs == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(attrs))+1)
	// Sorted, so that one message always encodes to the same bytes.
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a := attrs[name]
		dst = appendString(dst, name)
		dst = appendString(dst, a.DataType)
		var flags byte
		if a.IsBinary {
			flags |= attrIsBinary
		}
		if a.BinaryValue != nil {
			flags |= attrHasBinary
		}
		dst = append(dst, flags)
		dst = appendString(dst, a.StringValue)
		if a.BinaryValue != nil {
			dst = binary.AppendUvarint(dst, uint64(len(a.BinaryValue)))
			dst = append(dst, a.BinaryValue...)
		}
	}
	return dst
}

// decoder reads a message record. The first error sticks; later reads return zero values.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corruptf(format, args...)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail("truncated at %s", what)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint at %s", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint at %s", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// bytes returns the next length-prefixed byte string, aliasing the input.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail("%s of %d bytes with %d left", what, n, len(d.buf))
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

func (d *decoder) time(what string) time.Time {
	switch d.byte(what) {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint(what)
		nsec := d.uvarint(what)
		if d.err != nil {
			return time.Time{}
		}
		if nsec >= uint64(time.Second) {
			d.fail("%s with %d nanoseconds", what, nsec)
			return time.Time{}
		}
		t := time.Unix(sec, int64(nsec))
		if t.IsZero() {
			d.fail("%s: the zero time must use tag 0", what)
			return time.Time{}
		}
		return t
	default:
		d.fail("bad time tag at %s", what)
		return time.Time{}
	}
}

// minAttrLen is the fewest bytes one encoded attribute takes (four empty fields), which bounds
// how many entries a record of a given length can hold.
const minAttrLen = 4

func (d *decoder) attrs(what string) map[string]engine.MessageAttribute {
	n := d.uvarint(what)
	if d.err != nil || n == 0 {
		return nil
	}
	n--
	if n > uint64(len(d.buf)/minAttrLen) {
		d.fail("%d %s in %d bytes", n, what, len(d.buf))
		return nil
	}
	attrs := make(map[string]engine.MessageAttribute, n)
	prev := ""
	for i := uint64(0); i < n && d.err == nil; i++ {
		name := d.string(what)
		var a engine.MessageAttribute
		a.DataType = d.string(what)
		flags := d.byte(what)
		if flags&^attrFlagsMask != 0 {
			d.fail("unknown attribute flags %#x in %s", flags, what)
		}
		a.IsBinary = flags&attrIsBinary != 0
		a.StringValue = d.string(what)
		if flags&attrHasBinary != 0 {
			b := d.bytes(what)
			a.BinaryValue = append(make([]byte, 0, len(b)), b...) // copy: input is borrowed
		}
		if d.err != nil {
			return nil
		}
		if i > 0 && name <= prev {
			d.fail("%s not sorted or repeated at %q", what, name)
			return nil
		}
		prev = name
		attrs[name] = a
	}
	return attrs
}

// decodeMessage decodes a message record. It copies what it keeps, so v may be reused after it
// returns. Errors wrap ErrCorrupt; it never panics.
func decodeMessage(v []byte) (*engine.Message, error) {
	d := decoder{buf: v}
	ver := d.byte("version")
	if d.err == nil && ver != messageVersion && ver != 1 {
		return nil, corruptf("message record version %d (this sluice reads 1 and %d)", ver, messageVersion)
	}
	m := &engine.Message{}
	m.ID = d.string("id")
	m.Body = d.string("body")
	m.SenderID = d.string("sender id")
	m.GroupID = d.string("group id")
	m.DeduplicationID = d.string("deduplication id")
	m.DeadLetterSourceArn = d.string("dead-letter source arn")
	m.SentAt = d.time("sent time")
	m.Attributes = d.attrs("attributes")
	m.SystemAttributes = d.attrs("system attributes")
	if ver >= 2 {
		switch sum := d.string("body md5"); len(sum) {
		case 0:
		case md5.Size:
			m.BodyMD5 = hex.EncodeToString([]byte(sum))
		default:
			d.fail("body md5 of %d bytes", len(sum))
		}
	}
	if d.err == nil && len(d.buf) > 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return nil, fmt.Errorf("message record: %w", d.err)
	}
	return m, nil
}
