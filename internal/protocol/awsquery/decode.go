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

// field is one tagged member of an input or output struct.
type field struct {
	index int
	// name is the flattened name from the `query` tag.
	name string
	// key and value are a map's entry member names (Name and Value unless the tag says map=K/V).
	key, value string
}

// fields returns t's tagged exported fields in declaration order.
func fields(t reflect.Type) []field {
	fs := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("query")
		if !sf.IsExported() || tag == "" || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := field{index: i, name: name, key: "Name", value: "Value"}
		for opt := range strings.SplitSeq(opts, ",") {
			if kv, ok := strings.CutPrefix(opt, "map="); ok {
				if k, v, ok := strings.Cut(kv, "/"); ok {
					f.key, f.value = k, v
				}
			}
		}
		fs = append(fs, f)
	}
	return fs
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

// decodeStruct fills the struct v from ps. path is the flattened name of v followed by a dot
// ("" at the top), for error messages.
func decodeStruct(v reflect.Value, ps []param, path string) error {
	fs := fields(v.Type())
	// Group the parameters by member; an aliased member's group comes first so that the
	// model's name wins on conflict.
	type group struct {
		f    field
		name string
		ps   []param
	}
	groups := make([]group, 0, len(fs)+1)
	for _, f := range fs {
		if a := alias(f.name); a != "" {
			groups = append(groups, group{f: f, name: a})
		}
		groups = append(groups, group{f: f, name: f.name})
	}
	for _, p := range ps {
		head, rest, ok := cut(p.key)
		if !ok {
			continue
		}
		for i := range groups {
			if groups[i].name == head {
				groups[i].ps = append(groups[i].ps, param{key: rest, value: p.value})
			}
		}
	}
	for _, g := range groups {
		if len(g.ps) > 0 {
			if err := decodeValue(v.Field(g.f.index), g.f, g.ps, path+g.name); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeValue fills v, the member f, from ps, the parameters under its name.
func decodeValue(v reflect.Value, f field, ps []param, path string) error {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Map:
		return decodeMap(v, f, ps, path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		return decodeList(v, ps, path)
	case t.Kind() == reflect.Struct:
		return decodeStruct(v, ps, path+".")
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		nv := reflect.New(t.Elem())
		if err := decodeStruct(nv.Elem(), ps, path+"."); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
	if s, ok := exact(ps); ok {
		return setScalar(v, s, path)
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

// entry is the parameters of one list or map entry, Name.N.*.
type entry struct {
	n  int
	ps []param
}

// entries groups ps ("N", "N.rest") by their index N, ordered by N. Parameters whose next
// component is not an index from 1 are ignored; gaps are allowed.
func entries(ps []param) []entry {
	var es []entry
	pos := map[int]int{}
	for _, p := range ps {
		head, rest, ok := cut(p.key)
		if !ok {
			continue
		}
		n, ok := parseIndex(head)
		if !ok {
			continue
		}
		i, seen := pos[n]
		if !seen {
			i = len(es)
			pos[n] = i
			es = append(es, entry{n: n})
		}
		es[i].ps = append(es[i].ps, param{key: rest, value: p.value})
	}
	slices.SortFunc(es, func(a, b entry) int { return a.n - b.n })
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
func decodeList(v reflect.Value, ps []param, path string) error {
	es := entries(ps)
	t := v.Type()
	list := reflect.MakeSlice(t, 0, len(es))
	for _, e := range es {
		ev := reflect.New(t.Elem()).Elem()
		ep := path + "." + strconv.Itoa(e.n)
		if k := t.Elem().Kind(); k == reflect.Struct || (k == reflect.Pointer && t.Elem().Elem().Kind() == reflect.Struct) {
			if err := decodeValue(ev, field{}, e.ps, ep); err != nil {
				return err
			}
		} else {
			s, ok := exact(e.ps)
			if !ok {
				continue
			}
			if err := setScalar(ev, s, ep); err != nil {
				return err
			}
		}
		list = reflect.Append(list, ev)
	}
	v.Set(list)
	return nil
}

// decodeMap adds to the map v the entries Name.N.<key> and Name.N.<value> (scalar values) or
// Name.N.<value>.<member> (struct values). An entry without a key is ignored; on a repeated key
// the highest N wins.
func decodeMap(v reflect.Value, f field, ps []param, path string) error {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		return fmt.Errorf("awsquery: map member %s has non-string keys", path)
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, e := range entries(ps) {
		var key string
		hasKey := false
		var vps []param
		for _, p := range e.ps {
			head, rest, ok := cut(p.key)
			switch {
			case !ok:
			case head == f.key && rest == "":
				key, hasKey = p.value, true
			case head == f.value:
				vps = append(vps, param{key: rest, value: p.value})
			}
		}
		if !hasKey {
			continue
		}
		ev := reflect.New(t.Elem()).Elem()
		if len(vps) > 0 {
			if err := decodeValue(ev, field{}, vps, path+"."+strconv.Itoa(e.n)+"."+f.value); err != nil {
				return err
			}
		}
		v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), ev)
	}
	return nil
}

// setScalar parses s into v; path names the parameter in error messages.
func setScalar(v reflect.Value, s, path string) error {
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if err := setScalar(nv.Elem(), s, path); err != nil {
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
			return invalidValue(path, s, reason)
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return invalidValue(path, s, "Must be true or false.")
		}
		v.SetBool(b)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			return fmt.Errorf("awsquery: cannot decode parameter %s into %s", path, v.Type())
		}
		b, err := decodeBase64(s)
		if err != nil {
			return &queue.Error{Kind: queue.ErrInvalidParameterValue,
				Message: fmt.Sprintf("The value of parameter %s is invalid. Reason: Must be base64-encoded binary data.", path)}
		}
		v.SetBytes(b)
	default:
		return fmt.Errorf("awsquery: cannot decode parameter %s into %s", path, v.Type())
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

func invalidValue(param, value, reason string) error {
	return &queue.Error{Kind: queue.ErrInvalidParameterValue,
		Message: fmt.Sprintf("Value %s for parameter %s is invalid. Reason: %s", value, param, reason)}
}
