// Package protocol holds what the SQS wire protocols share: the one action table that maps an
// action name to its input type and queue.Service method, the one error registry that maps a
// domain error to its JSON type, query code and HTTP status, and the Codec interface that the
// awsjson and awsquery packages implement.
package protocol

import (
	"context"
	"net/http"
	"reflect"

	"sluice/internal/queue"
)

// Action is one SQS action.
type Action struct {
	Name string
	// QueueScoped actions act on one queue (they take a QueueUrl).
	QueueScoped bool
	// NewInput returns a pointer to a zero input struct.
	NewInput func() any
	// Call runs the action; in is what NewInput returned, filled by a codec.
	Call func(ctx context.Context, s *queue.Service, c *queue.Caller, in any) (any, error)
}

func action[I, O any](name string, scoped bool, fn func(*queue.Service, context.Context, *queue.Caller, *I) (*O, error)) *Action {
	return &Action{
		Name:        name,
		QueueScoped: scoped,
		NewInput:    func() any { return new(I) },
		Call: func(ctx context.Context, s *queue.Service, c *queue.Caller, in any) (any, error) {
			out, err := fn(s, ctx, c, in.(*I))
			if err != nil {
				return nil, err
			}
			return out, nil
		},
	}
}

// Actions is the action table, by name.
var Actions = func() map[string]*Action {
	list := []*Action{
		action("AddPermission", true, (*queue.Service).AddPermission),
		action("CancelMessageMoveTask", false, (*queue.Service).CancelMessageMoveTask),
		action("ChangeMessageVisibility", true, (*queue.Service).ChangeMessageVisibility),
		action("ChangeMessageVisibilityBatch", true, (*queue.Service).ChangeMessageVisibilityBatch),
		action("CreateQueue", false, (*queue.Service).CreateQueue),
		action("DeleteMessage", true, (*queue.Service).DeleteMessage),
		action("DeleteMessageBatch", true, (*queue.Service).DeleteMessageBatch),
		action("DeleteQueue", true, (*queue.Service).DeleteQueue),
		action("GetQueueAttributes", true, (*queue.Service).GetQueueAttributes),
		action("GetQueueUrl", false, (*queue.Service).GetQueueUrl),
		action("ListDeadLetterSourceQueues", true, (*queue.Service).ListDeadLetterSourceQueues),
		action("ListMessageMoveTasks", false, (*queue.Service).ListMessageMoveTasks),
		action("ListQueueTags", true, (*queue.Service).ListQueueTags),
		action("ListQueues", false, (*queue.Service).ListQueues),
		action("PurgeQueue", true, (*queue.Service).PurgeQueue),
		action("ReceiveMessage", true, (*queue.Service).ReceiveMessage),
		action("RemovePermission", true, (*queue.Service).RemovePermission),
		action("SendMessage", true, (*queue.Service).SendMessage),
		action("SendMessageBatch", true, (*queue.Service).SendMessageBatch),
		action("SetQueueAttributes", true, (*queue.Service).SetQueueAttributes),
		action("StartMessageMoveTask", false, (*queue.Service).StartMessageMoveTask),
		action("TagQueue", true, (*queue.Service).TagQueue),
		action("UntagQueue", true, (*queue.Service).UntagQueue),
	}
	m := make(map[string]*Action, len(list))
	for _, a := range list {
		m[a.Name] = a
	}
	return m
}()

// NotYetActions are SQS actions that exist in the API but that Sluice does not implement yet;
// they are answered with UnsupportedOperation rather than as unknown actions.
var NotYetActions = map[string]bool{}

// SetQueueURL fills an input's QueueUrl from the request path when the request targeted a queue
// URL and the input has no explicit QueueUrl (an explicit parameter wins).
func SetQueueURL(in any, pathURL string) {
	if pathURL == "" {
		return
	}
	v := reflect.ValueOf(in)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	f := v.Elem().FieldByName("QueueUrl")
	if f.IsValid() && f.Kind() == reflect.String && f.String() == "" {
		f.SetString(pathURL)
	}
}

// Codec is one wire protocol.
type Codec interface {
	// Decode reads the request's action and input. pathURL is the queue URL the request was
	// sent to, if its path names one. Errors are *queue.Error or one of this package's kinds.
	Decode(r *http.Request, body []byte, pathURL string) (*Action, any, error)
	// Encode writes a successful result.
	Encode(w http.ResponseWriter, requestID string, a *Action, out any)
	// EncodeError writes an error response.
	EncodeError(w http.ResponseWriter, requestID string, err error)
}

// Unsupported returns the error for an SQS action Sluice does not implement yet.
func Unsupported(name string) error {
	return &queue.Error{Kind: queue.ErrUnsupportedOperation, Message: "The action " + name + " is not supported by this version of Sluice."}
}
