// Package awsjson is the AWS JSON 1.0 codec of the SQS API: requests carry the action in the
// X-Amz-Target header (AmazonSQS.<Action>) and a JSON body with the API model's member names;
// errors carry __type and the x-amzn-query-error header that query-compatible SDKs read.
package awsjson

import (
	"bytes"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"net/http"
	"strconv"
	"strings"

	"sluice/internal/protocol"
)

// ContentType is the media type of requests and responses.
const ContentType = "application/x-amz-json-1.0"

const targetPrefix = "AmazonSQS."

// Codec implements protocol.Codec.
type Codec struct{}

var _ protocol.Codec = Codec{}

// Matches reports whether r speaks this protocol.
func Matches(r *http.Request) bool {
	return r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json")
}

// Decode implements protocol.Codec.
func (Codec) Decode(r *http.Request, body []byte, pathURL string) (*protocol.Action, any, error) {
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, targetPrefix)
	a := protocol.Actions[name]
	if !ok || a == nil {
		if ok && protocol.NotYetActions[name] {
			return nil, nil, protocol.Unsupported(name)
		}
		return nil, nil, &protocol.Error{Kind: protocol.ErrUnknownOperation, Message: fmt.Sprintf("Unknown operation %s", target)}
	}
	in := a.NewInput()
	if len(bytes.TrimSpace(body)) > 0 {
		// Unmarshal, not a Decoder: it decodes from body in place (no stream buffer), and it
		// refuses content after the document as invalid JSON.
		if err := json.Unmarshal(body, in); err != nil {
			return a, nil, serializationError(err)
		}
	}
	protocol.SetQueueURL(in, pathURL)
	return a, in, nil
}

func serializationError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &protocol.Error{Kind: protocol.ErrSerialization,
			Message: fmt.Sprintf("Value of %s has the wrong type: expected %s, got a JSON %s.", te.Field, te.Type, te.Value)}
	}
	return &protocol.Error{Kind: protocol.ErrSerialization, Message: "The request body is not valid JSON."}
}

// Encode implements protocol.Codec.
func (Codec) Encode(w http.ResponseWriter, requestID string, _ *protocol.Action, out any) {
	b, err := json.Marshal(out)
	if err != nil {
		Codec{}.EncodeError(w, requestID, fmt.Errorf("encoding response: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b))) // not chunked, whatever the size
	h.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// EncodeError implements protocol.Codec.
func (Codec) EncodeError(w http.ResponseWriter, requestID string, err error) {
	spec, msg := protocol.Lookup(err)
	fault := "Sender"
	if !spec.Sender {
		fault = "Receiver"
	}
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{spec.JSONType, msg})
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("x-amzn-RequestId", requestID)
	h.Set("x-amzn-query-error", spec.QueryCode+";"+fault)
	w.WriteHeader(spec.Status)
	_, _ = w.Write(b)
}
