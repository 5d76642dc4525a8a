// Package console is Sluice's web console: server-rendered pages (html/template) over
// queue.Service — the queue list with depths, age and rates; a queue page with a live chart of
// depth and throughput (from package history), attributes, tags, redrive policy and message
// move tasks; peeking at messages without changing their visibility; sending a test message,
// purging, and starting or cancelling a dead-letter queue redrive. Its CSS and JavaScript are
// embedded (go:embed); nothing is fetched from the network at run time.
//
// Requests from the loopback interface are trusted; others must authenticate with HTTP Basic
// auth (the console token as password, or an access key id and its secret). Every action that
// changes state is a POST carrying a CSRF token that must match the one in the console's cookie.
package console

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sluice/internal/clock"
	"sluice/internal/engine"
	"sluice/internal/history"
	"sluice/internal/queue"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path under which the console is served.
const Prefix = "/console"

const (
	csrfCookie = "sluice_csrf"
	csrfField  = "csrf"
	// maxForm bounds a POSTed form: a 1 MiB message form-encoded, and a little more.
	maxForm = 4 << 20
)

// Options configure the console.
type Options struct {
	Service *queue.Service
	// History, when set, gives the charts and rates.
	History *history.History
	// Account is the account shown by default; Region is the region of queue ARNs.
	Account, Region string
	// Token is the password off the loopback interface (any user name). Empty: only
	// Credentials are accepted there.
	Token string
	// Credentials maps access key ids to their secrets; each pair is also accepted as a Basic
	// auth user name and password.
	Credentials map[string]string
	Clock       clock.Clock
	Logger      *slog.Logger
}

// Console is the console's http.Handler.
type Console struct {
	o     Options
	tmpl  *template.Template
	mux   *http.ServeMux
	flash map[string]string
}

// New returns the console.
func New(o Options) (*Console, error) {
	if o.Service == nil {
		return nil, errors.New("console: Service is required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"age":    formatAge,
		"rate":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"time":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
		"millis": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05Z") },
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	c := &Console{o: o, tmpl: tmpl, mux: http.NewServeMux(), flash: map[string]string{
		"sent": "Message sent.", "purged": "Queue purged.", "redrive": "Redrive started.", "cancelled": "Redrive cancelled.",
	}}
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET "+Prefix+"/{$}", c.list)
	c.mux.HandleFunc("GET "+Prefix+"/queues/{account}/{name}", c.queuePage)
	c.mux.HandleFunc("GET "+Prefix+"/queues/{account}/{name}/state.json", c.stateJSON)
	c.mux.HandleFunc("POST "+Prefix+"/queues/{account}/{name}/send", c.send)
	c.mux.HandleFunc("POST "+Prefix+"/queues/{account}/{name}/purge", c.purge)
	c.mux.HandleFunc("POST "+Prefix+"/queues/{account}/{name}/redrive", c.redrive)
	c.mux.HandleFunc("POST "+Prefix+"/queues/{account}/{name}/cancel", c.cancel)
	c.mux.HandleFunc("GET "+Prefix+"/api/queues", c.apiQueues)
	c.mux.HandleFunc("GET "+Prefix+"/api/queues/{account}/{name}/peek", c.apiPeek)
	c.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "No such page.")
	})
	return c, nil
}

// NewToken returns a random console token.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if !c.authorized(r) {
		h.Set("WWW-Authenticate", `Basic realm="sluice console", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if !c.csrfOK(r) {
			c.fail(w, r, http.StatusForbidden, "The form's CSRF token is missing or does not match: reload the page and try again.")
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// authorized tells whether a request may use the console.
func (c *Console) authorized(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if c.o.Token != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(c.o.Token)) == 1 {
		return true
	}
	secret, known := c.o.Credentials[user]
	return known && subtle.ConstantTimeCompare([]byte(pass), []byte(secret)) == 1
}

// csrfToken returns the request's CSRF token, setting the cookie when it has none.
func (c *Console) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 32 {
		return ck.Value
	}
	tok := NewToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return tok
}

func (c *Console) csrfOK(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || len(ck.Value) != 32 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get(csrfField))) == 1
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// caller is who the console acts as: the account named, unrestricted (the console is an
// operator's tool; it is protected by its own authentication).
func (c *Console) caller(r *http.Request, account string) *queue.Caller {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &queue.Caller{Account: account, Region: c.o.Region, BaseURL: scheme + "://" + r.Host, SenderID: "sluice-console"}
}

// target is the queue a request names in its path.
type target struct {
	Account, Name string
}

func (t target) url() string          { return "/" + t.Account + "/" + t.Name }
func (t target) Path() string         { return Prefix + "/queues/" + t.Account + "/" + url.PathEscape(t.Name) }
func (t target) key() engine.QueueKey { return engine.QueueKey{Account: t.Account, Name: t.Name} }

func (c *Console) target(w http.ResponseWriter, r *http.Request) (target, bool) {
	t := target{Account: r.PathValue("account"), Name: r.PathValue("name")}
	if !accountRE.MatchString(t.Account) || t.Name == "" || len(t.Name) > 80 {
		c.fail(w, r, http.StatusNotFound, "No such queue.")
		return t, false
	}
	return t, true
}

func (c *Console) arn(t target) string {
	return "arn:aws:sqs:" + c.o.Region + ":" + t.Account + ":" + t.Name
}

// errorStatus maps a Service error to an HTTP status and a message fit for the user.
func errorStatus(err error) (int, string) {
	var qe *queue.Error
	switch {
	case errors.Is(err, queue.ErrQueueDoesNotExist):
		return http.StatusNotFound, "The queue does not exist."
	case errors.Is(err, queue.ErrServiceUnavailable):
		return http.StatusServiceUnavailable, "The storage engine is unavailable; try again."
	case errors.As(err, &qe):
		return http.StatusBadRequest, qe.Message
	}
	return http.StatusInternalServerError, "Internal error."
}

func (c *Console) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := errorStatus(err)
	if status >= 500 {
		c.o.Logger.Error("console", "path", r.URL.Path, "err", err)
	}
	c.fail(w, r, status, msg)
}

// fail answers with an error page, or JSON under /console/api and for .json paths.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, Prefix+"/api/") || strings.HasSuffix(r.URL.Path, ".json") {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = c.tmpl.ExecuteTemplate(w, "error.html", map[string]any{"Status": status, "Message": msg, "Title": http.StatusText(status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Console) render(w http.ResponseWriter, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.tmpl.ExecuteTemplate(w, name, data); err != nil {
		c.o.Logger.Error("console: rendering", "template", name, "err", err)
	}
}

// QueueRow is one queue as the list shows it (and the CLI reads it).
type QueueRow struct {
	Account   string  `json:"account"`
	Name      string  `json:"name"`
	FIFO      bool    `json:"fifo"`
	Visible   int64   `json:"visible"`
	InFlight  int64   `json:"inFlight"`
	Delayed   int64   `json:"delayed"`
	OldestAge float64 `json:"oldestAgeSeconds"`
	SentRate  float64 `json:"sentPerSecond"`
	RecvRate  float64 `json:"receivedPerSecond"`
	DLQ       string  `json:"deadLetterQueue,omitempty"`
	Path      string  `json:"-"`
}

func (c *Console) rows(r *http.Request, account string) ([]QueueRow, error) {
	ctx := r.Context()
	cl := c.caller(r, account)
	out, err := c.o.Service.ListQueues(ctx, cl, &queue.ListQueuesInput{})
	if err != nil {
		return nil, err
	}
	now := c.o.Clock.Now()
	var rows []QueueRow
	for _, u := range out.QueueUrls {
		name := u[strings.LastIndex(u, "/")+1:]
		t := target{Account: account, Name: name}
		attrs, err := c.o.Service.GetQueueAttributes(ctx, cl, &queue.GetQueueAttributesInput{QueueUrl: t.url(), AttributeNames: []string{"All"}})
		if errors.Is(err, queue.ErrQueueDoesNotExist) {
			continue // deleted since the list
		}
		if err != nil {
			return nil, err
		}
		a := attrs.Attributes
		row := QueueRow{Account: account, Name: name, FIFO: a["FifoQueue"] == "true", Path: t.Path(),
			Visible: atoi(a["ApproximateNumberOfMessages"]), InFlight: atoi(a["ApproximateNumberOfMessagesNotVisible"]),
			Delayed: atoi(a["ApproximateNumberOfMessagesDelayed"])}
		if rp := a["RedrivePolicy"]; rp != "" {
			var p struct{ DeadLetterTargetArn string }
			if json.Unmarshal([]byte(rp), &p) == nil {
				row.DLQ = p.DeadLetterTargetArn[strings.LastIndex(p.DeadLetterTargetArn, ":")+1:]
			}
		}
		if row.Visible > 0 {
			if ms, err := c.o.Service.PeekMessages(ctx, cl, t.url(), 1); err == nil && len(ms) == 1 {
				row.OldestAge = max(now.Sub(ms[0].SentTimestamp).Seconds(), 0)
			}
		}
		if c.o.History != nil {
			rate := c.o.History.Rates(t.key(), time.Minute)
			row.SentRate, row.RecvRate = rate.Sent, rate.Received
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func (c *Console) account(r *http.Request) (string, bool) {
	a := r.URL.Query().Get("account")
	if a == "" {
		return c.o.Account, true
	}
	return a, accountRE.MatchString(a)
}

// accountRows lists the queues of the request's account. On a bad account
// or a service error it writes the error response and returns false.
func (c *Console) accountRows(w http.ResponseWriter, r *http.Request) (string, []QueueRow, bool) {
	account, ok := c.account(r)
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "The account must be 12 digits.")
		return "", nil, false
	}
	rows, err := c.rows(r, account)
	if err != nil {
		c.serviceError(w, r, err)
		return "", nil, false
	}
	return account, rows, true
}

func (c *Console) list(w http.ResponseWriter, r *http.Request) {
	account, rows, ok := c.accountRows(w, r)
	if !ok {
		return
	}
	c.render(w, "list.html", map[string]any{"Title": "Queues", "Account": account, "Rows": rows, "CSRF": c.csrfToken(w, r)})
}

func (c *Console) apiQueues(w http.ResponseWriter, r *http.Request) {
	_, rows, ok := c.accountRows(w, r)
	if !ok {
		return
	}
	if rows == nil {
		rows = []QueueRow{}
	}
	writeJSON(w, http.StatusOK, rows)
}

// PeekedMessage is a message as the peek API returns it.
type PeekedMessage struct {
	MessageID    string            `json:"messageId"`
	Body         string            `json:"body"`
	SentAt       time.Time         `json:"sentAt"`
	ReceiveCount int               `json:"receiveCount"`
	GroupID      string            `json:"messageGroupId,omitempty"`
	SourceArn    string            `json:"deadLetterQueueSourceArn,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// peek reads up to the request's "max" (default 10) messages of t without
// receiving them. On a bad max or a service error it writes the error
// response and returns false.
func (c *Console) peek(w http.ResponseWriter, r *http.Request, t target) ([]PeekedMessage, bool) {
	max, ok := peekMax(r, 10)
	if !ok {
		c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("max must be between 1 and %d.", queue.MaxPeek))
		return nil, false
	}
	ms, err := c.o.Service.PeekMessages(r.Context(), c.caller(r, t.Account), t.url(), max)
	if err != nil {
		c.serviceError(w, r, err)
		return nil, false
	}
	out := make([]PeekedMessage, len(ms))
	for i, m := range ms {
		out[i] = PeekedMessage{MessageID: m.MessageId, Body: m.Body, SentAt: m.SentTimestamp, ReceiveCount: m.ReceiveCount,
			GroupID: m.MessageGroupId, SourceArn: m.DeadLetterQueueSourceArn}
		for k, v := range m.MessageAttributes {
			if out[i].Attributes == nil {
				out[i].Attributes = map[string]string{}
			}
			if v.StringValue != nil {
				out[i].Attributes[k] = *v.StringValue
			} else {
				out[i].Attributes[k] = fmt.Sprintf("(%s, %d bytes)", v.DataType, len(v.BinaryValue))
			}
		}
	}
	return out, true
}

func peekMax(r *http.Request, def int) (int, bool) {
	s := r.URL.Query().Get("max")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= queue.MaxPeek
}

func (c *Console) apiPeek(w http.ResponseWriter, r *http.Request) {
	t, ok := c.target(w, r)
	if !ok {
		return
	}
	ms, ok := c.peek(w, r, t)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, ms)
}

// attr is one queue attribute (or tag) for display.
type attr struct{ Name, Value string }

// sortedAttrs lists m by name.
func sortedAttrs(m map[string]string) []attr {
	var list []attr
	for k, v := range m {
		list = append(list, attr{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

func (c *Console) queuePage(w http.ResponseWriter, r *http.Request) {
	t, ok := c.target(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	cl := c.caller(r, t.Account)
	attrs, err := c.o.Service.GetQueueAttributes(ctx, cl, &queue.GetQueueAttributesInput{QueueUrl: t.url(), AttributeNames: []string{"All"}})
	if err != nil {
		c.serviceError(w, r, err)
		return
	}
	tags, err := c.o.Service.ListQueueTags(ctx, cl, &queue.QueueUrlInput{QueueUrl: t.url()})
	if err != nil {
		c.serviceError(w, r, err)
		return
	}
	sources, err := c.o.Service.ListDeadLetterSourceQueues(ctx, cl, &queue.ListDeadLetterSourceQueuesInput{QueueUrl: t.url()})
	if err != nil {
		c.serviceError(w, r, err)
		return
	}
	var sourceNames []string
	for _, u := range sources.QueueUrls {
		sourceNames = append(sourceNames, u[strings.LastIndex(u, "/")+1:])
	}
	tasks, err := c.o.Service.ListMessageMoveTasks(ctx, cl, &queue.ListMessageMoveTasksInput{SourceArn: c.arn(t)})
	if err != nil {
		tasks = &queue.ListMessageMoveTasksOutput{} // not a dead-letter queue
	}
	data := map[string]any{
		"Title": t.Name, "Q": t, "Attrs": sortedAttrs(attrs.Attributes), "Tags": sortedAttrs(tags.Tags), "Sources": sourceNames, "Tasks": tasks.Results,
		"FIFO": attrs.Attributes["FifoQueue"] == "true", "Redrive": attrs.Attributes["RedrivePolicy"],
		"CSRF": c.csrfToken(w, r), "Flash": c.flash[r.URL.Query().Get("done")],
		"Interval": 5000,
	}
	if c.o.History != nil {
		data["Interval"] = c.o.History.Interval().Milliseconds()
	}
	if r.URL.Query().Has("peek") {
		ms, ok := c.peek(w, r, t)
		if !ok {
			return
		}
		data["Peeked"] = ms
		data["PeekDone"] = true
	}
	c.render(w, "queue.html", data)
}

// state is what the queue page's script polls: the history and the move tasks.
type state struct {
	Visible, InFlight, Delayed int64
	Samples                    []sampleJSON `json:"samples"`
	Tasks                      []taskJSON   `json:"tasks"`
}

type sampleJSON struct {
	At       int64   `json:"t"`
	Visible  int64   `json:"visible"`
	InFlight int64   `json:"inFlight"`
	Delayed  int64   `json:"delayed"`
	Sent     float64 `json:"sent"`
	Received float64 `json:"received"`
	Deleted  float64 `json:"deleted"`
}

type taskJSON struct {
	Status  string `json:"status"`
	Moved   int64  `json:"moved"`
	ToMove  *int64 `json:"toMove,omitempty"`
	Failure string `json:"failure,omitempty"`
}

func (c *Console) stateJSON(w http.ResponseWriter, r *http.Request) {
	t, ok := c.target(w, r)
	if !ok {
		return
	}
	cl := c.caller(r, t.Account)
	attrs, err := c.o.Service.GetQueueAttributes(r.Context(), cl, &queue.GetQueueAttributesInput{QueueUrl: t.url(), AttributeNames: []string{"All"}})
	if err != nil {
		c.serviceError(w, r, err)
		return
	}
	a := attrs.Attributes
	st := state{Visible: atoi(a["ApproximateNumberOfMessages"]), InFlight: atoi(a["ApproximateNumberOfMessagesNotVisible"]),
		Delayed: atoi(a["ApproximateNumberOfMessagesDelayed"]), Samples: []sampleJSON{}, Tasks: []taskJSON{}}
	if c.o.History != nil {
		secs := c.o.History.Interval().Seconds()
		for _, s := range c.o.History.Samples(t.key()) {
			st.Samples = append(st.Samples, sampleJSON{At: s.At.UnixMilli(), Visible: s.Visible, InFlight: s.InFlight, Delayed: s.Delayed,
				Sent: float64(s.Sent) / secs, Received: float64(s.Received) / secs, Deleted: float64(s.Deleted) / secs})
		}
	}
	if tasks, err := c.o.Service.ListMessageMoveTasks(r.Context(), cl, &queue.ListMessageMoveTasksInput{SourceArn: c.arn(t)}); err == nil {
		for _, e := range tasks.Results {
			st.Tasks = append(st.Tasks, taskJSON{Status: e.Status, Moved: e.ApproximateNumberOfMessagesMoved,
				ToMove: e.ApproximateNumberOfMessagesToMove, Failure: e.FailureReason})
		}
	}
	writeJSON(w, http.StatusOK, st)
}

func (c *Console) done(w http.ResponseWriter, r *http.Request, t target, what string) {
	http.Redirect(w, r, t.Path()+"?done="+what, http.StatusSeeOther)
}

func optionalInt32(form url.Values, name string) (*int32, bool) {
	s := strings.TrimSpace(form.Get(name))
	if s == "" {
		return nil, true
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return nil, false
	}
	v := int32(n)
	return &v, true
}

func optionalString(form url.Values, name string) *string {
	if s := form.Get(name); s != "" {
		return &s
	}
	return nil
}

func (c *Console) send(w http.ResponseWriter, r *http.Request) {
	t, ok := c.target(w, r)
	if !ok {
		return
	}
	delay, ok := optionalInt32(r.PostForm, "delay")
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "The delay must be a number of seconds.")
		return
	}
	body := r.PostForm.Get("body")
	_, err := c.o.Service.SendMessage(r.Context(), c.caller(r, t.Account), &queue.SendMessageInput{
		QueueUrl: t.url(), MessageBody: &body, DelaySeconds: delay,
		MessageGroupId: optionalString(r.PostForm, "group"), MessageDeduplicationId: optionalString(r.PostForm, "dedup"),
	})
	if err != nil {
		c.serviceError(w, r, err)
		return
	}
	c.done(w, r, t, "sent")
}

func (c *Console) purge(w http.ResponseWriter, r *http.Request) {
	t, ok := c.target(w, r)
	if !ok {
		return
	}
	if _, err := c.o.Service.PurgeQueue(r.Context(), c.caller(r, t.Account), &queue.QueueUrlInput{QueueUrl: t.url()}); err != nil {
		c.serviceError(w, r, err)
		return
	}
	c.done(w, r, t, "purged")
}

func (c *Console) redrive(w http.ResponseWriter, r *http.Request) {
	t, ok := c.target(w, r)
	if !ok {
		return
	}
	rate, ok := optionalInt32(r.PostForm, "rate")
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "The rate must be a number of messages per second.")
		return
	}
	in := &queue.StartMessageMoveTaskInput{SourceArn: c.arn(t), MaxNumberOfMessagesPerSecond: rate}
	if d := strings.TrimSpace(r.PostForm.Get("destination")); d != "" {
		in.DestinationArn = "arn:aws:sqs:" + c.o.Region + ":" + t.Account + ":" + d
	}
	if _, err := c.o.Service.StartMessageMoveTask(r.Context(), c.caller(r, t.Account), in); err != nil {
		c.serviceError(w, r, err)
		return
	}
	c.done(w, r, t, "redrive")
}

func (c *Console) cancel(w http.ResponseWriter, r *http.Request) {
	t, ok := c.target(w, r)
	if !ok {
		return
	}
	_, err := c.o.Service.CancelMessageMoveTask(r.Context(), c.caller(r, t.Account), &queue.CancelMessageMoveTaskInput{TaskHandle: r.PostForm.Get("task")})
	if err != nil {
		c.serviceError(w, r, err)
		return
	}
	c.done(w, r, t, "cancelled")
}

// formatAge writes a duration in seconds the way people read it.
func formatAge(secs float64) string {
	d := time.Duration(secs * float64(time.Second)).Round(time.Second)
	switch {
	case secs <= 0:
		return "–"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}
