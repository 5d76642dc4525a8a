package awsquery

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/<name>, or rewrites that file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run the test with -update")
	require.Equal(t, string(want), string(got))
}

// newRequest returns a request to target (a path with an optional query string) with body as
// a form.
func newRequest(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r
}

// xmlNode is a parsed XML element: its local name, its text and its child elements.
type xmlNode struct {
	name     string
	text     string
	children []*xmlNode
}

// parseXML parses a document with encoding/xml (an independent parser, as a client would) into
// a tree.
func parseXML(data []byte) (*xmlNode, error) {
	d := xml.NewDecoder(strings.NewReader(string(data)))
	root := &xmlNode{}
	stack := []*xmlNode{root}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: tok.Name.Local}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += string(tok)
		}
	}
	if len(root.children) != 1 {
		return nil, errors.New("no single root element")
	}
	return root.children[0], nil
}

func (n *xmlNode) child(name string) *xmlNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// fillFromXML is the inverse of encodeStruct, written independently for tests: it fills the
// struct v from the elements under n, driven by the same `query` tags.
func fillFromXML(t *testing.T, v reflect.Value, n *xmlNode) {
	t.Helper()
	for _, f := range fields(v.Type()) {
		fv := v.Field(f.index)
		ft := fv.Type()
		for _, c := range n.children {
			if c.name != f.name {
				continue
			}
			switch {
			case ft.Kind() == reflect.Map:
				if fv.IsNil() {
					fv.Set(reflect.MakeMap(ft))
				}
				k := c.child(f.key)
				require.NotNil(t, k, "map entry %s without %s", f.name, f.key)
				ev := reflect.New(ft.Elem()).Elem()
				if val := c.child(f.value); val != nil {
					fillNode(t, ev, val)
				}
				fv.SetMapIndex(reflect.ValueOf(k.text), ev)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8:
				ev := reflect.New(ft.Elem()).Elem()
				fillNode(t, ev, c)
				fv.Set(reflect.Append(fv, ev))
			default:
				fillNode(t, fv, c)
			}
		}
	}
}

func fillNode(t *testing.T, v reflect.Value, n *xmlNode) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		fillNode(t, nv.Elem(), n)
		v.Set(nv)
	case reflect.Struct:
		fillFromXML(t, v, n)
	case reflect.String:
		v.SetString(n.text)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.text)
		require.NoError(t, err)
		v.SetBool(b)
	case reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.text, 10, 64)
		require.NoError(t, err)
		v.SetInt(i)
	case reflect.Slice:
		require.Equal(t, reflect.Uint8, v.Type().Elem().Kind())
		b, err := base64.StdEncoding.DecodeString(n.text)
		require.NoError(t, err)
		v.SetBytes(b)
	default:
		t.Fatalf("fillNode: unsupported kind %s", v.Kind())
	}
}
