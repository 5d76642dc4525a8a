package awsquery

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"sluice/internal/protocol"
	"sluice/internal/queue"
)

// fuzzActions returns the action names FuzzDecode picks from: every action of the table, the
// not-yet-supported ones, and a few that are not actions.
func fuzzActions() []string {
	names := make([]string, 0, len(protocol.Actions)+len(protocol.NotYetActions)+3)
	for name := range protocol.Actions {
		names = append(names, name)
	}
	for name := range protocol.NotYetActions {
		names = append(names, name)
	}
	slices.Sort(names)
	return append(names, "", "FooBar", "sendmessage")
}

// FuzzDecode decodes random parameters for a random action, in the body or the URL, on / or a
// queue URL. Decode must never panic, and its errors must be ones the codecs can describe.
func FuzzDecode(f *testing.F) {
	actions := fuzzActions()
	for _, tc := range decodeCases() {
		i := slices.Index(actions, tc.action)
		_, rest, _ := strings.Cut(tc.body, "&")
		query := ""
		if _, q, ok := strings.Cut(tc.target, "?"); ok {
			query = q
		}
		f.Add(uint8(i), query, rest, tc.pathURL != "", tc.method == http.MethodGet)
	}
	f.Add(uint8(0), "", "%zz", false, false)
	f.Add(uint8(3), "a=%", "b=;", true, true)
	f.Add(uint8(5), "", "Attribute.1.Name=&Attribute.1.Value.x=1&Attribute.999999999.Name=a", false, false)
	f.Fuzz(func(t *testing.T, action uint8, query, body string, onQueueURL, get bool) {
		name := actions[int(action)%len(actions)]
		body = "Action=" + url.QueryEscape(name) + "&" + body
		method := http.MethodPost
		if get {
			method = http.MethodGet
		}
		r := httptest.NewRequest(method, "/", nil)
		r.URL.RawQuery = query
		pathURL := ""
		if onQueueURL {
			r.URL.Path = "/000000000000/q1"
			pathURL = testQueueURL
		}
		a, in, err := Codec{}.Decode(r, []byte(body), pathURL)
		if err != nil {
			requireWireError(t, err)
			require.Nil(t, in)
			// Every decode error encodes without panicking.
			Codec{}.EncodeError(httptest.NewRecorder(), "id", err)
			return
		}
		require.NotNil(t, a)
		require.NotNil(t, in)
		// Decoding is deterministic.
		_, in2, err := Codec{}.Decode(r, []byte(body), pathURL)
		require.NoError(t, err)
		require.Equal(t, in, in2)
	})
}

// FuzzEncodeBody encodes a received message with a random body: the response is always
// well-formed XML, and a body of valid XML characters (all SQS accepts) reads back unchanged.
func FuzzEncodeBody(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\rc<d>&e\nf", "\r\n\r", "😀", "\x00", "\xff\xfe", "]]>", "\uFFFE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := encode(t, "ReceiveMessage", &queue.ReceiveMessageOutput{Messages: []queue.Message{{MessageId: "m", Body: body}}})
		got := receivedBody(t, w.Body.Bytes())
		if validXMLText(body) {
			require.Equal(t, body, got)
		}
	})
}

func validXMLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !isXMLChar(r) {
			return false
		}
	}
	return true
}
