package awsquery

import (
	"reflect"
	"strings"
)

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
