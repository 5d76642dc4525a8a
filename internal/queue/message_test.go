package queue

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func TestMD5OfAttributesVectors(t *testing.T) {
	t.Parallel()
	s := func(dt, v string) engine.MessageAttribute {
		return engine.MessageAttribute{DataType: dt, StringValue: v}
	}
	for _, tc := range []struct {
		attrs map[string]engine.MessageAttribute
		want  string
	}{
		{map[string]engine.MessageAttribute{"Foo": s("String", "Bar")}, "ae7155c6026991b6d54b11589678bf9c"},
		{map[string]engine.MessageAttribute{"timestamp": s("Number", "1493147359900")}, "235c5c510d26fb653d073faed50ae77c"},
		{map[string]engine.MessageAttribute{"attr1": {DataType: "Binary", IsBinary: true,
			BinaryValue: []byte("traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01")}}, "8cbe4db156db8a94db8b801b7addb984"},
		{map[string]engine.MessageAttribute{"General": s("String", "Kenobi"), "Hello": s("String", "There"), "Help.Me": s("String", "Me")},
			"4c360f3fdafd970e05fae2f149d997f5"},
		{map[string]engine.MessageAttribute{"AWSTraceHeader": s("String", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")},
			"5ae4d5d7636402d80f4eb6d213245a88"},
		{nil, ""},
	} {
		require.Equal(t, tc.want, MD5OfAttributes(tc.attrs))
	}
	require.Equal(t, "6e2baaf3b97dbeef01c0043275f9a0e7", MD5OfBody("msg"))
}

func TestValidChars(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"plain": true, "\t\n\r": true, "\u00e9\u4e2d": true, "\U0001F600": true, "\ufffd": true,
		" ~\x7f": true, "a\x1fb": false, "\x00": false, "\x08": false, "\x13": false, "\uffff": false, "\ufffe": false, "bad\xffutf8": false,
	} {
		require.Equal(t, want, validChars(s), "%q", s)
	}
}

// TestValidCharsAgreesWithRuneRule checks the fast paths against the rule applied rune by rune,
// on strings built from the bytes around every boundary, at every alignment.
func TestValidCharsAgreesWithRuneRule(t *testing.T) {
	t.Parallel()
	slow := func(s string) bool {
		for _, r := range s { // an invalid byte decodes to U+FFFD of width 1
			switch {
			case r == 0x9 || r == 0xA || r == 0xD, r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000:
			default:
				return false
			}
		}
		return utf8.ValidString(s)
	}
	pieces := []string{"a", " ", "~", "\x7f", "\x1f", "\x00", "\t", "\n", "\r", "\x80", "\xff", "\u00e9", "\ufffd", "\uffff", "\U0001F600", "0123456789"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		require.Equal(t, slow(s), validChars(s), "%q", s)
	}
}

func TestValidNumber(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"0": true, "-1": true, "1.5": true, "1e10": true, ".5": true, "+3": true, "1e126": true, "-1e128": true,
		"1e127": false, "-1e129": false, "abc": false, "": false, "1.2.3": false, "0x10": false, "NaN": false,
	} {
		require.Equal(t, want, validNumber(s), "%q", s)
	}
}

func TestFilterMessageAttributes(t *testing.T) {
	t.Parallel()
	attrs := map[string]engine.MessageAttribute{"General": {}, "Hello": {}, "Help.Me": {}}
	keys := func(m map[string]engine.MessageAttribute) []string { return sortedKeys(m) }
	require.Equal(t, []string{"Hello", "Help.Me"}, keys(filterMessageAttributes(attrs, []string{"Hel.*"})))
	require.Equal(t, []string{"General", "Hello", "Help.Me"}, keys(filterMessageAttributes(attrs, []string{"*"})))
	require.Equal(t, []string{"General", "Hello", "Help.Me"}, keys(filterMessageAttributes(attrs, []string{"All"})))
	require.Empty(t, filterMessageAttributes(attrs, []string{"AWS.", "..foo"}))
	require.Empty(t, filterMessageAttributes(attrs, nil))
}
