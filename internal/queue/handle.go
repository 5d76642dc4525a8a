package queue

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"

	"sluice/internal/engine"
)

// Receipt handles are opaque to clients: base64url (no padding) of a version byte, the queue's
// internal id and the message's sequence as uvarints, the 8-byte receive token, and a CRC-32C
// of all that, so that a mangled or invented handle is told apart from a stale one.

const handleVersion = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errBadHandle = errors.New("malformed receipt handle")

// EncodeReceipt turns a receipt into a ReceiptHandle.
func EncodeReceipt(r engine.Receipt) string {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+8+4)
	b = append(b, handleVersion)
	b = binary.AppendUvarint(b, r.QueueID)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, r.Token)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeReceipt parses a ReceiptHandle made by EncodeReceipt.
func DecodeReceipt(h string) (engine.Receipt, error) {
	if len(h) == 0 || len(h) > 64 {
		return engine.Receipt{}, errBadHandle
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil || len(b) < 1+1+1+8+4 || b[0] != handleVersion {
		return engine.Receipt{}, errBadHandle
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return engine.Receipt{}, errBadHandle
	}
	rest := body[1:]
	qid, n := binary.Uvarint(rest)
	if n <= 0 {
		return engine.Receipt{}, errBadHandle
	}
	rest = rest[n:]
	seq, n := binary.Uvarint(rest)
	if n <= 0 {
		return engine.Receipt{}, errBadHandle
	}
	rest = rest[n:]
	if len(rest) != 8 {
		return engine.Receipt{}, errBadHandle
	}
	r := engine.Receipt{QueueID: qid, Seq: seq, Token: binary.BigEndian.Uint64(rest)}
	// Only the canonical spelling is valid (base64 ignores line breaks; varints have
	// non-minimal forms).
	if EncodeReceipt(r) != h {
		return engine.Receipt{}, errBadHandle
	}
	return r, nil
}
