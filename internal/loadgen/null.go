package loadgen

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// NullServer answers the SQS JSON protocol with valid canned responses and stores nothing: what
// a run against it costs is the client and HTTP alone, the ceiling of this machine for the same
// calls. MD5s are real, so the SDK's checksum validation passes.
type NullServer struct {
	log      *slog.Logger
	body     string // canned received message body
	bodyMD5  string
	account  string
	messages []byte // the canned ReceiveMessage response, prebuilt
}

// NewNullServer returns a null server whose received messages have a body of size bytes.
func NewNullServer(size int, log *slog.Logger) *NullServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	body := strings.Repeat("n", max(size, 1))
	sum := md5.Sum([]byte(body))
	s := &NullServer{log: log, body: body, bodyMD5: hex.EncodeToString(sum[:]), account: "000000000000"}
	type msg struct {
		MessageId, ReceiptHandle, MD5OfBody, Body string
	}
	msgs := make([]msg, 10)
	for i := range msgs {
		msgs[i] = msg{MessageId: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), ReceiptHandle: "null-" + strconv.Itoa(i), MD5OfBody: s.bodyMD5, Body: body}
	}
	s.messages, _ = json.Marshal(map[string]any{"Messages": msgs})
	return s
}

const nullContentType = "application/x-amz-json-1.0"

// ServeHTTP implements http.Handler.
func (s *NullServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if r.Method != http.MethodPost || !ok {
		s.fail(w, http.StatusBadRequest, "com.amazonaws.sqs#UnsupportedOperation", "the null server speaks the SQS JSON protocol only")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	var in struct {
		QueueName   string
		QueueUrl    string
		MessageBody string
		Entries     []struct {
			Id          string
			MessageBody string
		}
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		s.fail(w, http.StatusBadRequest, "com.amazonaws.sqs#SerializationException", "bad JSON")
		return
	}
	var out any
	switch action {
	case "CreateQueue", "GetQueueUrl":
		out = map[string]string{"QueueUrl": "http://" + r.Host + "/" + s.account + "/" + in.QueueName}
	case "SendMessage":
		out = map[string]string{"MessageId": newNullID(0), "MD5OfMessageBody": md5Hex(in.MessageBody)}
	case "SendMessageBatch":
		type ok struct{ Id, MessageId, MD5OfMessageBody string }
		succ := make([]ok, len(in.Entries))
		for i, e := range in.Entries {
			succ[i] = ok{Id: e.Id, MessageId: newNullID(i), MD5OfMessageBody: md5Hex(e.MessageBody)}
		}
		out = map[string]any{"Successful": succ, "Failed": []any{}}
	case "ReceiveMessage":
		w.Header().Set("Content-Type", nullContentType)
		_, _ = w.Write(s.messages)
		return
	case "DeleteMessageBatch":
		type ok struct{ Id string }
		succ := make([]ok, len(in.Entries))
		for i, e := range in.Entries {
			succ[i] = ok{Id: e.Id}
		}
		out = map[string]any{"Successful": succ, "Failed": []any{}}
	case "GetQueueAttributes":
		out = map[string]any{"Attributes": map[string]string{"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}}
	case "DeleteMessage", "DeleteQueue":
		out = struct{}{}
	default:
		s.fail(w, http.StatusBadRequest, "com.amazonaws.sqs#UnsupportedOperation", action+" is not served by the null server")
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.log.Error("encoding", "err", err)
		return
	}
	w.Header().Set("Content-Type", nullContentType)
	_, _ = w.Write(b)
}

func (s *NullServer) fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", nullContentType)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	_, _ = w.Write(b)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newNullID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// ServeNull serves a null server on ln until ctx is cancelled.
func ServeNull(ctx context.Context, ln net.Listener, size int, log *slog.Logger) error {
	srv := &http.Server{Handler: NewNullServer(size, log), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("null server: %w", err)
	case <-ctx.Done():
	}
	// Nothing is stored, so there is nothing to finish: give requests in progress a moment,
	// then close every connection (Shutdown would wait 5 s for fresh idle ones).
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("null server: %w", err)
	}
	return nil
}

// startInProcessNull starts a null server on 127.0.0.1 in this process and returns a target
// for it; closing the target stops the server. (Its CPU is then part of the client's.)
func startInProcessNull(size int) (*SQSTarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("null server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeNull(ctx, ln, size, nil) }()
	t := NewSQSTarget("http://"+ln.Addr().String(), true)
	t.closeFn = func() error {
		cancel()
		return <-done
	}
	return t, nil
}
