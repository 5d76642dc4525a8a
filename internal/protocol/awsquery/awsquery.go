// Package awsquery is the AWS query codec of the SQS API: requests carry the action in the
// Action parameter and its input as flattened form parameters (QueueUrl=...,
// Attribute.1.Name=..., SendMessageBatchRequestEntry.2.Id=...), in a form body, the URL query
// string, or both; responses and errors are XML in the 2012-11-05 namespace.
//
// The flattened names come from the `query` struct tags of the queue package's input and output
// types (see the grammar at the top of queue/types.go): decode.go reads them into inputs and
// encode.go writes outputs as XML elements, both by reflection, so a new member needs only a tag.
package awsquery

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"sluice/internal/protocol"
	"sluice/internal/queue"
)

// ContentType is the media type of responses.
const ContentType = "text/xml"

// Namespace is the XML namespace of responses.
const Namespace = "http://queue.amazonaws.com/doc/2012-11-05/"

const (
	xmlDecl = `<?xml version="1.0"?>`
	// nonExistentQueueMessage is the query protocol's wording of QueueDoesNotExist (the JSON
	// protocol says "The specified queue does not exist.").
	nonExistentQueueMessage = "The specified queue does not exist for this wsdl version."
	// unknownOperationBody is what SQS answers, with HTTP 404, to a GET of a queue URL that
	// names no action.
	unknownOperationBody = "<UnknownOperationException/>"
	// maxParams bounds the parameters of one request. The largest legal requests (a batch of
	// ten entries with ten attributes each, or many tags) have a few hundred; the bound keeps a
	// body of "a&a&a..." from costing many times its size in memory.
	maxParams = 100_000
)

// errNoAction is the kind of a GET of a queue URL without an Action. It wraps
// protocol.ErrUnknownOperation so that protocol.Lookup (and so the server's logging) treats it as
// a client error; EncodeError writes it in SQS's special 404 form.
var errNoAction = fmt.Errorf("%w: no Action on a queue URL", protocol.ErrUnknownOperation)

// Codec implements protocol.Codec.
type Codec struct{}

var _ protocol.Codec = Codec{}

// Matches reports whether r looks like a query request: a form body or an Action in the URL.
func Matches(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") ||
		(r.URL != nil && strings.Contains(r.URL.RawQuery, "Action="))
}

// Decode implements protocol.Codec.
func (Codec) Decode(r *http.Request, body []byte, pathURL string) (*protocol.Action, any, error) {
	ps, err := readParams(r, body)
	if err != nil {
		return nil, nil, err
	}
	name := ""
	for _, p := range ps {
		if p.key == "Action" {
			name = p.value
			break
		}
	}
	if name == "" {
		if pathURL != "" && r.Method == http.MethodGet {
			return nil, nil, &protocol.Error{Kind: errNoAction, Message: "The request names no action."}
		}
		return nil, nil, &protocol.Error{Kind: protocol.ErrInvalidAction, Message: "The request must contain the parameter Action."}
	}
	a := protocol.Actions[name]
	if a == nil {
		if protocol.NotYetActions[name] {
			return nil, nil, protocol.Unsupported(name)
		}
		return nil, nil, invalidAction(name)
	}
	if pathURL != "" && !a.QueueScoped {
		return a, nil, invalidAction(name)
	}
	in := a.NewInput()
	var d decoder
	if err := d.decodeStruct(reflect.ValueOf(in).Elem(), ps); err != nil {
		if ve, ok := err.(*valueError); ok {
			return a, nil, ve.wire()
		}
		return a, nil, err
	}
	protocol.SetQueueURL(in, pathURL)
	return a, in, nil
}

func invalidAction(name string) error {
	return &protocol.Error{Kind: protocol.ErrInvalidAction, Message: "The action " + name + " is not valid for this endpoint."}
}

// readParams returns the form body's parameters followed by the URL's: where a name repeats,
// the first occurrence counts, so the body wins over the URL.
func readParams(r *http.Request, body []byte) ([]param, error) {
	var ps []param
	var err error
	if len(body) > 0 {
		if ps, err = parseQuery(ps, string(body)); err != nil {
			return nil, &protocol.Error{Kind: protocol.ErrMalformedQueryString, Message: "The request body is not a valid form-encoded query string: " + err.Error()}
		}
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		if ps, err = parseQuery(ps, r.URL.RawQuery); err != nil {
			return nil, &protocol.Error{Kind: protocol.ErrMalformedQueryString, Message: "The query string of the request URL is malformed: " + err.Error()}
		}
	}
	return ps, nil
}

// parseQuery appends the parameters of a form-encoded string to ps, in order, with the rules of
// url.ParseQuery (without its map): pairs are separated by &, a semicolon or a bad escape
// is an error, and empty pairs are skipped. More than maxParams parameters is an error too.
func parseQuery(ps []param, s string) ([]param, error) {
	if ps == nil {
		ps = make([]param, 0, min(strings.Count(s, "&")+1, 256))
	}
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if strings.Contains(pair, ";") {
			return nil, errors.New("a semicolon is not a valid separator")
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		if len(ps) == maxParams {
			return nil, fmt.Errorf("more than %d parameters", maxParams)
		}
		ps = append(ps, param{key: k, value: v})
	}
	return ps, nil
}

// Encode implements protocol.Codec.
func (Codec) Encode(w http.ResponseWriter, requestID string, a *protocol.Action, out any) {
	if a == nil {
		Codec{}.EncodeError(w, requestID, errors.New("awsquery: Encode called without an action"))
		return
	}
	var b bytes.Buffer
	b.WriteString(xmlDecl)
	b.WriteString("<" + a.Name + `Response xmlns="` + Namespace + `">`)
	if v, ok := resultValue(out); ok {
		b.WriteString("<" + a.Name + "Result>")
		mark := b.Len()
		e := encoder{b: &b}
		e.encodeStruct(v)
		if b.Len() == mark {
			// An empty result: <ReceiveMessageResult/>, as SQS writes it.
			b.Truncate(mark - 1)
			b.WriteString("/>")
		} else {
			b.WriteString("</" + a.Name + "Result>")
		}
	}
	b.WriteString("<ResponseMetadata><RequestId>")
	escapeText(&b, requestID)
	b.WriteString("</RequestId></ResponseMetadata></" + a.Name + "Response>")
	write(w, requestID, http.StatusOK, b.Bytes())
}

// resultValue returns the struct to write as the Result element, and false for actions without
// a result (queue.Empty).
func resultValue(out any) (reflect.Value, bool) {
	v := reflect.ValueOf(out)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type() == reflect.TypeFor[queue.Empty]() {
		return reflect.Value{}, false
	}
	return v, true
}

// EncodeError implements protocol.Codec.
func (Codec) EncodeError(w http.ResponseWriter, requestID string, err error) {
	if errors.Is(err, errNoAction) {
		write(w, requestID, http.StatusNotFound, []byte(unknownOperationBody))
		return
	}
	spec, msg := protocol.Lookup(err)
	if spec.Kind == queue.ErrQueueDoesNotExist {
		msg = nonExistentQueueMessage
	}
	fault := "Sender"
	if !spec.Sender {
		fault = "Receiver"
	}
	var b bytes.Buffer
	b.WriteString(xmlDecl)
	b.WriteString(`<ErrorResponse xmlns="` + Namespace + `"><Error><Type>` + fault + "</Type><Code>")
	escapeText(&b, spec.QueryCode)
	b.WriteString("</Code><Message>")
	escapeText(&b, msg)
	b.WriteString("</Message><Detail/></Error><RequestId>")
	escapeText(&b, requestID)
	b.WriteString("</RequestId></ErrorResponse>")
	w.Header().Set("x-amzn-query-error", spec.QueryCode+";"+fault)
	write(w, requestID, spec.Status, b.Bytes())
}

func write(w http.ResponseWriter, requestID string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
