package queue

import (
	"errors"
	"fmt"
)

// Error kinds, one per SQS error shape. A *Error carries one of them; protocol codecs map each
// kind to its JSON type, query code and HTTP status (see package protocol), matching with
// errors.Is.
var (
	ErrQueueDoesNotExist            = errors.New("QueueDoesNotExist")
	ErrQueueNameExists              = errors.New("QueueNameExists")
	ErrQueueDeletedRecently         = errors.New("QueueDeletedRecently")
	ErrPurgeQueueInProgress         = errors.New("PurgeQueueInProgress")
	ErrOverLimit                    = errors.New("OverLimit")
	ErrInvalidParameterValue        = errors.New("InvalidParameterValue")
	ErrMissingParameter             = errors.New("MissingParameter")
	ErrInvalidAttributeName         = errors.New("InvalidAttributeName")
	ErrInvalidAttributeValue        = errors.New("InvalidAttributeValue")
	ErrInvalidMessageContents       = errors.New("InvalidMessageContents")
	ErrReceiptHandleIsInvalid       = errors.New("ReceiptHandleIsInvalid")
	ErrMessageNotInflight           = errors.New("MessageNotInflight")
	ErrEmptyBatchRequest            = errors.New("EmptyBatchRequest")
	ErrTooManyEntriesInBatchRequest = errors.New("TooManyEntriesInBatchRequest")
	ErrBatchEntryIdsNotDistinct     = errors.New("BatchEntryIdsNotDistinct")
	ErrInvalidBatchEntryId          = errors.New("InvalidBatchEntryId")
	ErrBatchRequestTooLong          = errors.New("BatchRequestTooLong")
	ErrUnsupportedOperation         = errors.New("UnsupportedOperation")
	ErrInvalidAddress               = errors.New("InvalidAddress")
	ErrResourceNotFound             = errors.New("ResourceNotFoundException")
	ErrServiceUnavailable           = errors.New("ServiceUnavailable")
	// ErrAccessDenied: a request on another account's queue that its policy does not allow.
	ErrAccessDenied = errors.New("AccessDenied")
	// ErrRequestThrottled: over a configured rate or concurrency limit; SDKs retry it.
	ErrRequestThrottled = errors.New("RequestThrottled")
)

// Error is an SQS error: a kind (one of the Err* values above), the message the client sees,
// and an optional cause that is logged, never shown.
type Error struct {
	Kind    error
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%v: %s: %v", e.Kind, e.Message, e.Cause)
	}
	return fmt.Sprintf("%v: %s", e.Kind, e.Message)
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

func newErr(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func invalidValue(param string, value any, reason string) *Error {
	return newErr(ErrInvalidParameterValue, "Value %v for parameter %s is invalid. Reason: %s", value, param, reason)
}

func missing(param string) *Error {
	return newErr(ErrMissingParameter, "The request must contain the parameter %s.", param)
}

func errNoQueue() *Error {
	return newErr(ErrQueueDoesNotExist, "The specified queue does not exist.")
}
