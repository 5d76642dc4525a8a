package awsquery

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sluice/internal/queue"
)

// param is one request parameter, its name relative to the value being decoded: at the top
// "SendMessageBatchRequestEntry.2.MessageAttribute.1.Name", two levels down "MessageAttribute.1.Name".
type param struct {
	key, value string
}

// alias returns another flattened name accepted for a member on input, or "". TagQueue's tags
// are Tags.N.Key per the API model, but AWS's documentation examples send Tag.N.Key.
func alias(name string) string {
	if name == "Tags" {
		return "Tag"
	}
	return ""
}

// cut splits a parameter name at its first dot. ok is false for a name with an empty
// component after the dot ("Attribute.1."), which names nothing.
func cut(key string) (head, rest string, ok bool) {
	head, rest, found := strings.Cut(key, ".")
	return head, rest, !found || rest != ""
}

// valueError is a parameter whose value does not parse. Its name is built while the error
// unwinds (see within), so that decoding builds no names when all is well.
type valueError struct {
	name, value, reason string
	// binary values are not quoted back (they can be large).
	binary bool
}

func (e *valueError) Error() string { return e.wire().Error() }

// wire returns the error the client sees.
func (e *valueError) wire() *queue.Error {
	if e.binary {
		return &queue.Error{Kind: queue.ErrInvalidParameterValue,
			Message: fmt.Sprintf("The value of parameter %s is invalid. Reason: %s", e.name, e.reason)}
	}
	return &queue.Error{Kind: queue.ErrInvalidParameterValue,
		Message: fmt.Sprintf("Value %s for parameter %s is invalid. Reason: %s", e.value, e.name, e.reason)}
}

// within prefixes the name of a valueError with the name of the value that holds it.
func within(err error, name string) error {
	if ve, ok := err.(*valueError); ok {
		if ve.name == "" {
			ve.name = name
		} else {
			ve.name = name + "." + ve.name
		}
	}
	return err
}

// decoder decodes parameters into an input struct. It is used for one request.
type decoder struct {
	fields map[reflect.Type][]field
}

func (d *decoder) fieldsOf(t reflect.Type) []field {
	fs, ok := d.fields[t]
	if !ok {
		if d.fields == nil {
			d.fields = make(map[reflect.Type][]field, 4)
		}
		fs = fields(t)
		d.fields[t] = fs
	}
	return fs
}

// decodeStruct fills the struct v from ps, the parameters under v's name (relative to it).
// The decode functions may reorder and rewrite the ps they are given: each is its caller's own.
func (d *decoder) decodeStruct(v reflect.Value, ps []param) error {
	fs := d.fieldsOf(v.Type())
	// Group the parameters by member; an aliased member's group comes first so that the
	// model's name wins on conflict.
	type group struct {
		f     field
		name  string
		start int
		n     int
	}
	groups := make([]group, 0, len(fs)+1)
	for _, f := range fs {
		if a := alias(f.name); a != "" {
			groups = append(groups, group{f: f, name: a})
		}
		groups = append(groups, group{f: f, name: f.name})
	}
	find := func(key string) (int, string) {
		head, rest, ok := cut(key)
		if ok {
			for i := range groups {
				if groups[i].name == head {
					return i, rest
				}
			}
		}
		return -1, ""
	}
	total := 0
	for _, p := range ps {
		if i, _ := find(p.key); i >= 0 {
			groups[i].n++
			total++
		}
	}
	if total == 0 {
		return nil
	}
	for i, off := 0, 0; i < len(groups); i++ {
		groups[i].start = off
		off += groups[i].n
		groups[i].n = 0
	}
	grouped := make([]param, total)
	for _, p := range ps {
		if i, rest := find(p.key); i >= 0 {
			g := &groups[i]
			grouped[g.start+g.n] = param{key: rest, value: p.value}
			g.n++
		}
	}
	for _, g := range groups {
		if g.n > 0 {
			gp := grouped[g.start : g.start+g.n]
			if err := d.decodeValue(v.Field(g.f.index), g.f, gp); err != nil {
				return within(err, g.name)
			}
		}
	}
	return nil
}

// decodeValue fills v, the member f, from ps, the parameters under its name.
func (d *decoder) decodeValue(v reflect.Value, f field, ps []param) error {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Map:
		return d.decodeMap(v, f, ps)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		return d.decodeList(v, ps)
	case t.Kind() == reflect.Struct:
		return d.decodeStruct(v, ps)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		nv := reflect.New(t.Elem())
		if err := d.decodeStruct(nv.Elem(), ps); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	if s, ok := exact(ps); ok {
		return setScalar(v, s)
	}
	return nil
}

// exact returns the value of the parameter named exactly by the current path (relative key "").
func exact(ps []param) (string, bool) {
	for _, p := range ps {
		if p.key == "" {
			return p.value, true
		}
	}
	return "", false
}

// entry is the parameters of one list or map entry, Name.N.*, relative to Name.N.
type entry struct {
	n  int
	ps []param
}

// entries groups ps ("N", "N.rest") by their index N, ordered by N (and otherwise keeping
// their order), reordering ps in place.
// Parameters whose first component is not an index from 1 are ignored; gaps are allowed.
func entries(ps []param) []entry {
	type indexed struct {
		n int
		p param
	}
	ips := make([]indexed, 0, len(ps))
	for _, p := range ps {
		head, rest, ok := cut(p.key)
		if !ok {
			continue
		}
		if n, ok := parseIndex(head); ok {
			ips = append(ips, indexed{n: n, p: param{key: rest, value: p.value}})
		}
	}
	slices.SortStableFunc(ips, func(a, b indexed) int { return a.n - b.n })
	var es []entry
	for i, ip := range ips {
		ps[i] = ip.p
		if len(es) == 0 || es[len(es)-1].n != ip.n {
			es = append(es, entry{n: ip.n, ps: ps[i : i+1]})
		} else {
			es[len(es)-1].ps = ps[i-len(es[len(es)-1].ps) : i+1]
		}
	}
	return es
}

// parseIndex parses a list index: a decimal integer from 1, without sign or leading zeros.
func parseIndex(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// decodeList fills the slice v from Name.N (scalars) or Name.N.<member> (structs).
func (d *decoder) decodeList(v reflect.Value, ps []param) error {
	es := entries(ps)
	t := v.Type()
	elem := t.Elem()
	isStruct := elem.Kind() == reflect.Struct || (elem.Kind() == reflect.Pointer && elem.Elem().Kind() == reflect.Struct)
	list := reflect.MakeSlice(t, len(es), len(es))
	n := 0
	for _, e := range es {
		ev := list.Index(n)
		if isStruct {
			if err := d.decodeValue(ev, field{}, e.ps); err != nil {
				return within(err, strconv.Itoa(e.n))
			}
		} else {
			s, ok := exact(e.ps)
			if !ok {
				continue
			}
			if err := setScalar(ev, s); err != nil {
				return within(err, strconv.Itoa(e.n))
			}
		}
		n++
	}
	v.Set(list.Slice(0, n))
	return nil
}

// decodeMap adds to the map v the entries Name.N.<key> and Name.N.<value> (scalar values) or
// Name.N.<value>.<member> (struct values). An entry without a key is ignored; on a repeated key
// the highest N wins.
func (d *decoder) decodeMap(v reflect.Value, f field, ps []param) error {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		return fmt.Errorf("awsquery: map of %s has non-string keys", t)
	}
	es := entries(ps)
	if len(es) == 0 {
		return nil
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(es)))
	}
	ev := reflect.New(t.Elem()).Elem()
	for _, e := range es {
		// Move the value's parameters, relative to it, to the front of e.ps.
		var key string
		hasKey := false
		nv := 0
		for _, p := range e.ps {
			head, rest, ok := cut(p.key)
			switch {
			case !ok:
			case head == f.key && rest == "" && !hasKey:
				key, hasKey = p.value, true
			case head == f.value:
				e.ps[nv] = param{key: rest, value: p.value}
				nv++
			}
		}
		if !hasKey {
			continue
		}
		ev.SetZero()
		if nv > 0 {
			if err := d.decodeValue(ev, field{}, e.ps[:nv]); err != nil {
				return within(within(err, f.value), strconv.Itoa(e.n))
			}
		}
		v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), ev)
	}
	return nil
}

// setScalar parses s into v.
func setScalar(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if err := setScalar(nv.Elem(), s); err != nil {
			return err
		}
		v.Set(nv)
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			reason := "Must be an integer."
			if errors.Is(err, strconv.ErrRange) {
				reason = fmt.Sprintf("Must be an integer between %d and %d.", int64(-1)<<(v.Type().Bits()-1), int64(1)<<(v.Type().Bits()-1)-1)
			}
			return &valueError{value: s, reason: reason}
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return &valueError{value: s, reason: "Must be true or false."}
		}
		v.SetBool(b)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			return fmt.Errorf("awsquery: cannot decode a parameter into %s", v.Type())
		}
		b, err := decodeBase64(s)
		if err != nil {
			return &valueError{reason: "Must be base64-encoded binary data.", binary: true}
		}
		v.SetBytes(b)
	default:
		return fmt.Errorf("awsquery: cannot decode a parameter into %s", v.Type())
	}
	return nil
}

// decodeBase64 decodes standard base64, padded or not. The result is non-nil even when empty,
// as with JSON, so that the domain can tell a present empty value from an absent one.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}
