package queue

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"sluice/internal/engine"
)

// MaxMessageSize is the largest message SQS accepts, and the default MaximumMessageSize.
const MaxMessageSize = 1048576

const invalidCharsMsg = "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"

// validChars reports whether s holds only the characters SQS allows in a message.
func validChars(s string) bool {
	for i := 0; i < len(s); {
		if i+8 <= len(s) && printable8(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
			i += 8 // eight printable ASCII bytes at once
			continue
		}
		if c := s[i]; c < utf8.RuneSelf { // ASCII, the common case: no rune decoding
			if c < 0x20 && c != 0x9 && c != 0xA && c != 0xD {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		i += size
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

// printable8 reports whether each of the eight bytes of w is in 0x20..0x7F (printable ASCII
// and DEL, all allowed): none has its high bit set, and none is below 0x20 (subtracting 0x20
// from each byte borrows into the high bit exactly for those, as no high bit is set).
func printable8(w uint64) bool {
	const hi, lo = 0x8080808080808080, 0x2020202020202020
	return w&hi == 0 && (w-lo)&hi == 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MD5OfBody returns the lowercase hex MD5 of a message body.
func MD5OfBody(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// MD5OfAttributes returns SQS's MD5 of message attributes: names sorted bytewise; for each,
// length-prefixed name and data type, a transport byte (1 string, 2 binary) and the
// length-prefixed value. It returns "" for no attributes.
func MD5OfAttributes(attrs map[string]engine.MessageAttribute) string {
	if len(attrs) == 0 {
		return ""
	}
	h := md5.New()
	var n [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		put([]byte(name))
		put([]byte(a.DataType))
		if a.IsBinary {
			h.Write([]byte{2})
			put(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

var attrNameRE = regexp.MustCompile(`^[\p{L}\p{N}_.\-]+$`)

func validAttrName(name string) bool {
	if len(name) == 0 || len(name) > 256 || !attrNameRE.MatchString(name) {
		return false
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return false
	}
	return !strings.HasPrefix(name, ".") && !strings.HasSuffix(name, ".") && !strings.Contains(name, "..")
}

// baseType returns String, Number or Binary for a data type, or "" if it is not valid.
func baseType(dt string) string {
	if len(dt) >= 256 {
		return ""
	}
	for _, b := range []string{"String", "Number", "Binary"} {
		if dt == b {
			return b
		}
		if strings.HasPrefix(dt, b+".") && len(dt) > len(b)+1 {
			return b
		}
	}
	return ""
}

var (
	maxNumber, _, _ = big.ParseFloat("1e126", 10, 512, big.ToNearestEven)
	minNumber, _, _ = big.ParseFloat("-1e128", 10, 512, big.ToNearestEven)
)

var numberRE = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

func validNumber(s string) bool {
	s = strings.TrimSpace(s)
	if !numberRE.MatchString(s) {
		return false
	}
	f, _, err := big.ParseFloat(s, 10, 512, big.ToNearestEven)
	if err != nil {
		return false
	}
	// SQS accepts numbers from -10^128 to 10^126.
	return f.Cmp(maxNumber) <= 0 && f.Cmp(minNumber) >= 0
}

// convertAttributes validates user message attributes and converts them to stored form. It
// returns the attributes and their size as SQS counts it (name + type + value bytes).
func convertAttributes(in map[string]MessageAttributeValue) (map[string]engine.MessageAttribute, int, error) {
	if len(in) == 0 {
		return nil, 0, nil
	}
	if len(in) > 10 {
		return nil, 0, newErr(ErrInvalidParameterValue,
			"Number of message attributes [%d] exceeds the allowed maximum [10].", len(in))
	}
	out := make(map[string]engine.MessageAttribute, len(in))
	size := 0
	for _, name := range sortedKeys(in) {
		v := in[name]
		if !validAttrName(name) {
			return nil, 0, newErr(ErrInvalidParameterValue,
				"Message (user) attribute name '%s' is invalid. The attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters. It must not start or end with a period and must not contain successive periods. It must not start with 'AWS.' or 'Amazon.'.", name)
		}
		a, err := convertAttribute("Message (user) attribute", name, v)
		if err != nil {
			return nil, 0, err
		}
		out[name] = a
		size += len(name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	return out, size, nil
}

func convertAttribute(what, name string, v MessageAttributeValue) (engine.MessageAttribute, error) {
	if v.DataType == "" {
		return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
			"The message attribute '%s' must contain non-empty message attribute type.", name)
	}
	if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
		return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
			"%s '%s' uses list values, which are not supported.", what, name)
	}
	base := baseType(v.DataType)
	if !validChars(v.DataType) {
		base = "" // a custom type label with characters SQS does not allow (NUL, invalid UTF-8)
	}
	switch base {
	case "":
		return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
			"The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
	case "Binary":
		if v.StringValue != nil {
			return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
				"%s '%s' with type 'Binary' must use field 'Binary'.", what, name)
		}
		if len(v.BinaryValue) == 0 {
			return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
				"%s '%s' must contain a non-empty value of type 'Binary'.", what, name)
		}
		return engine.MessageAttribute{DataType: v.DataType, BinaryValue: v.BinaryValue, IsBinary: true}, nil
	}
	if v.BinaryValue != nil {
		return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
			"%s '%s' with type '%s' must use field 'String'.", what, name, base)
	}
	if v.StringValue == nil || *v.StringValue == "" {
		return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
			"%s '%s' must contain a non-empty value of type '%s'.", what, name, base)
	}
	s := *v.StringValue
	if !validChars(s) {
		return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
			"%s '%s' contains invalid characters. %s", what, name, invalidCharsMsg)
	}
	if base == "Number" && !validNumber(s) {
		return engine.MessageAttribute{}, newErr(ErrInvalidParameterValue,
			"Can't cast the value of message (user) attribute '%s' to a number.", name)
	}
	return engine.MessageAttribute{DataType: v.DataType, StringValue: s}, nil
}

// convertSystemAttributes validates MessageSystemAttributes (only AWSTraceHeader exists).
func convertSystemAttributes(in map[string]MessageAttributeValue) (map[string]engine.MessageAttribute, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]engine.MessageAttribute, len(in))
	for _, name := range sortedKeys(in) {
		v := in[name]
		if name != "AWSTraceHeader" {
			return nil, newErr(ErrInvalidParameterValue, "Message system attribute name '%s' is invalid.", name)
		}
		if v.DataType != "String" {
			return nil, newErr(ErrInvalidParameterValue,
				"The message system attribute 'AWSTraceHeader' must be of type 'String'.")
		}
		a, err := convertAttribute("Message system attribute", name, v)
		if err != nil {
			return nil, err
		}
		out[name] = a
	}
	return out, nil
}

// outAttributes converts stored attributes to the wire shape.
func outAttributes(in map[string]engine.MessageAttribute) map[string]MessageAttributeValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]MessageAttributeValue, len(in))
	for k, a := range in {
		v := MessageAttributeValue{DataType: a.DataType}
		if a.IsBinary {
			v.BinaryValue = a.BinaryValue
		} else {
			s := a.StringValue
			v.StringValue = &s
		}
		out[k] = v
	}
	return out
}

// filterMessageAttributes applies ReceiveMessage's MessageAttributeNames: All, .* and * select
// everything, "prefix.*" a plain prefix, anything else an exact name.
func filterMessageAttributes(attrs map[string]engine.MessageAttribute, names []string) map[string]engine.MessageAttribute {
	if len(attrs) == 0 || len(names) == 0 {
		return nil
	}
	var out map[string]engine.MessageAttribute
	for k, a := range attrs {
		for _, n := range names {
			match := false
			switch {
			case n == "All" || n == ".*" || n == "*":
				match = true
			case strings.HasSuffix(n, ".*"):
				match = strings.HasPrefix(k, strings.TrimSuffix(n, ".*"))
			default:
				match = k == n
			}
			if match {
				if out == nil {
					out = make(map[string]engine.MessageAttribute)
				}
				out[k] = a
				break
			}
		}
	}
	return out
}
