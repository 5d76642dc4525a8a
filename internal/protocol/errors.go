package protocol

import (
	"errors"

	"sluice/internal/auth"
	"sluice/internal/queue"
)

// Protocol-level error kinds (those the domain core never sees).
var (
	// ErrInvalidAction: unknown action, or an action not valid on a queue URL (query protocol).
	ErrInvalidAction = errors.New("InvalidAction")
	// ErrUnknownOperation: unknown X-Amz-Target (JSON protocol).
	ErrUnknownOperation = errors.New("UnknownOperation")
	// ErrSerialization: a JSON body that does not parse or has the wrong types.
	ErrSerialization = errors.New("Serialization")
	// ErrMalformedQueryString: a form body that does not parse.
	ErrMalformedQueryString = errors.New("MalformedQueryString")
	// ErrInternal: anything unexpected. Its cause is logged and never shown.
	ErrInternal = errors.New("InternalError")
)

// ErrorSpec is how one error kind appears on the wire.
type ErrorSpec struct {
	Kind error
	// JSONType is the JSON protocol's __type.
	JSONType string
	// QueryCode is the query protocol's Code and the first half of x-amzn-query-error.
	QueryCode string
	Status    int
	// Sender is true for client faults (Type Sender), false for server faults (Receiver).
	Sender bool
}

const sqsNS = "com.amazonaws.sqs#"

// Registry lists every error kind the protocols can send.
var Registry = []ErrorSpec{
	{queue.ErrQueueDoesNotExist, sqsNS + "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, true},
	{queue.ErrQueueNameExists, sqsNS + "QueueNameExists", "QueueAlreadyExists", 400, true},
	{queue.ErrQueueDeletedRecently, sqsNS + "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", 400, true},
	{queue.ErrPurgeQueueInProgress, sqsNS + "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403, true},
	{queue.ErrOverLimit, sqsNS + "OverLimit", "OverLimit", 403, true},
	{queue.ErrInvalidParameterValue, "InvalidParameterValueException", "InvalidParameterValue", 400, true},
	{queue.ErrMissingParameter, "MissingRequiredParameterException", "MissingParameter", 400, true},
	{queue.ErrInvalidAttributeName, sqsNS + "InvalidAttributeName", "InvalidAttributeName", 400, true},
	{queue.ErrInvalidAttributeValue, sqsNS + "InvalidAttributeValue", "InvalidAttributeValue", 400, true},
	{queue.ErrInvalidMessageContents, sqsNS + "InvalidMessageContents", "InvalidMessageContents", 400, true},
	{queue.ErrReceiptHandleIsInvalid, sqsNS + "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400, true},
	{queue.ErrMessageNotInflight, sqsNS + "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400, true},
	{queue.ErrEmptyBatchRequest, sqsNS + "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400, true},
	{queue.ErrTooManyEntriesInBatchRequest, sqsNS + "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, true},
	{queue.ErrBatchEntryIdsNotDistinct, sqsNS + "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, true},
	{queue.ErrInvalidBatchEntryId, sqsNS + "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400, true},
	{queue.ErrBatchRequestTooLong, sqsNS + "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400, true},
	{queue.ErrUnsupportedOperation, sqsNS + "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400, true},
	{queue.ErrInvalidAddress, sqsNS + "InvalidAddress", "InvalidAddress", 404, true},
	{queue.ErrResourceNotFound, sqsNS + "ResourceNotFoundException", "ResourceNotFoundException", 404, true},
	{queue.ErrServiceUnavailable, "com.amazon.coral.availability#ServiceUnavailableException", "ServiceUnavailable", 503, false},
	{queue.ErrAccessDenied, "com.amazon.coral.service#AccessDeniedException", "AccessDenied", 403, true},
	{queue.ErrRequestThrottled, sqsNS + "RequestThrottled", "RequestThrottled", 400, true},
	// Authentication (package auth). JSON types are those of AWS's JSON services; the query code
	// (also sent in x-amzn-query-error, which SDKs report) is SQS's.
	{auth.ErrMissingAuthenticationToken, "com.amazon.coral.service#MissingAuthenticationTokenException", "MissingAuthenticationToken", 403, true},
	{auth.ErrIncompleteSignature, "com.amazon.coral.service#IncompleteSignatureException", "IncompleteSignature", 400, true},
	{auth.ErrInvalidClientTokenId, "com.amazon.coral.service#UnrecognizedClientException", "InvalidClientTokenId", 403, true},
	{auth.ErrSignatureDoesNotMatch, "com.amazon.coral.service#InvalidSignatureException", "SignatureDoesNotMatch", 403, true},
	{ErrInvalidAction, "com.amazon.coral.service#InvalidAction", "InvalidAction", 400, true},
	{ErrUnknownOperation, "com.amazon.coral.service#UnknownOperationException", "UnknownOperationException", 400, true},
	{ErrSerialization, "com.amazon.coral.service#SerializationException", "SerializationException", 400, true},
	{ErrMalformedQueryString, "com.amazon.coral.service#MalformedQueryString", "MalformedQueryString", 400, true},
	{ErrInternal, "com.amazon.coral.service#InternalFailure", "InternalError", 500, false},
}

// Lookup returns the spec of err's kind, and the message the client may see. Errors that are not
// *queue.Error, *auth.Error or *Error become InternalError with a generic message.
func Lookup(err error) (ErrorSpec, string) {
	msg := "We encountered an internal error. Please try again."
	var qe *queue.Error
	var pe *Error
	var ae *auth.Error
	switch {
	case errors.As(err, &qe):
		msg = qe.Message
	case errors.As(err, &pe):
		msg = pe.Message
	case errors.As(err, &ae):
		msg = ae.Message
	default:
		return Registry[len(Registry)-1], msg
	}
	for _, s := range Registry {
		if errors.Is(err, s.Kind) {
			return s, msg
		}
	}
	return Registry[len(Registry)-1], "We encountered an internal error. Please try again."
}

// Error is a protocol-level error: a kind from this package and the client-visible message.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }
