package awsquery

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// encoder writes an output as XML. It is used for one response.
type encoder struct {
	b      *bytes.Buffer
	fields map[reflect.Type][]field
}

func (e *encoder) fieldsOf(t reflect.Type) []field {
	fs, ok := e.fields[t]
	if !ok {
		if e.fields == nil {
			e.fields = make(map[reflect.Type][]field, 4)
		}
		fs = fields(t)
		e.fields[t] = fs
	}
	return fs
}

func (e *encoder) open(name string) {
	e.b.WriteByte('<')
	e.b.WriteString(name)
	e.b.WriteByte('>')
}

func (e *encoder) close(name string) {
	e.b.WriteString("</")
	e.b.WriteString(name)
	e.b.WriteByte('>')
}

// encodeStruct writes the tagged members of the struct v as XML elements. Lists and maps are
// flattened: one element per item or entry, named by the tag, without a wrapper. Empty strings,
// nil pointers and empty byte slices are omitted; booleans and numbers are always written.
func (e *encoder) encodeStruct(v reflect.Value) {
	for _, f := range e.fieldsOf(v.Type()) {
		e.encodeMember(f, v.Field(f.index))
	}
}

func (e *encoder) encodeMember(f field, v reflect.Value) {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Map:
		if t.Key().Kind() != reflect.String || v.Len() == 0 {
			return
		}
		keys := make([]string, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			keys = append(keys, it.Key().String())
		}
		slices.Sort(keys)
		for _, k := range keys {
			e.open(f.name)
			e.open(f.key)
			escapeText(e.b, k)
			e.close(f.key)
			e.encodeElement(f.value, v.MapIndex(reflect.ValueOf(k).Convert(t.Key())), false)
			e.close(f.name)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		for i := range v.Len() {
			e.encodeElement(f.name, v.Index(i), false)
		}
	default:
		e.encodeElement(f.name, v, true)
	}
}

// encodeElement writes <name>v</name>: a struct's members or a scalar's text. With omitEmpty,
// an empty string, nil pointer or empty byte slice writes nothing.
func (e *encoder) encodeElement(name string, v reflect.Value, omitEmpty bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			if !omitEmpty {
				e.b.WriteString("<" + name + "/>")
			}
			return
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		e.open(name)
		e.encodeStruct(v)
		e.close(name)
		return
	}
	var text string
	switch v.Kind() {
	case reflect.String:
		text = v.String()
	case reflect.Bool:
		text = strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		text = strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		text = strconv.FormatUint(v.Uint(), 10)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			return
		}
		text = base64.StdEncoding.EncodeToString(v.Bytes())
	default:
		return
	}
	if text == "" && omitEmpty && (v.Kind() == reflect.String || v.Kind() == reflect.Slice) {
		return
	}
	e.open(name)
	escapeText(e.b, text)
	e.close(name)
}

// escapeText writes s as XML character data the way SQS does: &, < and > as usual, and also "
// as &quot; and CR as &#xD; (so that a body's CR survives XML line-end normalisation). Newlines
// and tabs stay raw. Invalid UTF-8 and characters XML cannot carry become U+FFFD.
func escapeText(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '"':
			esc = "&quot;"
		case r == '\r':
			esc = "&#xD;"
		case r == utf8.RuneError && width == 1, !isXMLChar(r):
			esc = "\uFFFD"
		default:
			i += width
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += width
		last = i
	}
	b.WriteString(s[last:])
}

// isXMLChar reports whether r is in XML 1.0's Char production.
func isXMLChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}
