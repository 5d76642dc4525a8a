package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"sluice/internal/config"
	"sluice/internal/push"
)

const pushUsage = `sluice push: manage push subscriptions (Sluice POSTs a queue's messages to an endpoint)
  sluice push list
  sluice push get QUEUE
  sluice push set -endpoint-url URL -rate N [-burst N] [-concurrency N] [-timeout D]
                  [-min-backoff D] [-max-backoff D] [-max-doublings N] QUEUE
  sluice push delete QUEUE
  sluice push pause|resume QUEUE
They call the admin API under /admin/push/ (see docs/push.md): -admin-url (env SLUICE_ADMIN_URL,
default the endpoint); off the loopback interface they need -console-token (env SLUICE_CONSOLE_TOKEN)
or the access key and secret of a configured credential.
`

// pushAdmin protects the push admin API like the console: requests from the loopback interface
// pass; others need Basic auth with the console token as password, or a configured access key
// id and its secret.
func pushAdmin(h http.Handler, token string, creds map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !pushAuthorized(r, token, creds) {
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"credentials required: the console token or an access key and its secret"}`+"\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func pushAuthorized(r *http.Request, token string, creds map[string]string) bool {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if token != "" && subtle.ConstantTimeCompare([]byte(pass), []byte(token)) == 1 {
		return true
	}
	secret, known := creds[user]
	return known && subtle.ConstantTimeCompare([]byte(pass), []byte(secret)) == 1
}

// pushCommand runs `sluice push ...`.
func pushCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, pushUsage)
		return fmt.Errorf("usage: sluice push list|get|set|delete|pause|resume")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("sluice push "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, pushUsage); fs.PrintDefaults() }
	build := ctlFlags(fs, stdout, getenv)
	adminURL := fs.String("admin-url", getenv("SLUICE_ADMIN_URL"), "base URL of the admin API (default: the endpoint; env SLUICE_ADMIN_URL)")
	var s push.Subscription
	var timeout, minB, maxB time.Duration
	nargs := 1
	switch sub {
	case "list":
		nargs = 0
	case "get", "delete", "pause", "resume":
	case "set":
		fs.StringVar(&s.Endpoint, "endpoint-url", "", "the worker's http(s) URL that messages are POSTed to")
		fs.Float64Var(&s.Rate, "rate", 0, "deliveries started per second (required)")
		fs.IntVar(&s.Burst, "burst", 0, "deliveries that may start at once (default: the rate, at least 1)")
		fs.IntVar(&s.Concurrency, "concurrency", 0, "requests in flight at most (default 10)")
		fs.DurationVar(&timeout, "timeout", 0, "per-attempt timeout (default 30s)")
		fs.DurationVar(&minB, "min-backoff", 0, "first retry delay (default 1s)")
		fs.DurationVar(&maxB, "max-backoff", 0, "longest retry delay (default 5m)")
		fs.IntVar(&s.MaxDoublings, "max-doublings", 0, "times the retry delay doubles (default 16)")
	default:
		fmt.Fprint(stderr, pushUsage)
		return fmt.Errorf("sluice push: unknown subcommand %q", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != nargs {
		return fmt.Errorf("usage: sluice push %s%s (sluice push %s -h for the flags)", sub, map[bool]string{true: " QUEUE"}[nargs == 1], sub)
	}
	c := build()
	base := strings.TrimRight(*adminURL, "/")
	if base == "" {
		base = c.endpoint
	}
	var name string
	if nargs == 1 {
		name = url.PathEscape(fs.Arg(0))
	}
	var (
		method = http.MethodGet
		path   = name
		in     any
	)
	switch sub {
	case "delete":
		method = http.MethodDelete
	case "pause", "resume":
		method, path = http.MethodPost, path+"/"+sub
	case "set":
		s.Timeout, s.MinBackoff, s.MaxBackoff = push.Duration(timeout), push.Duration(minB), push.Duration(maxB)
		method, in = http.MethodPut, s
	}
	client := &push.Client{BaseURL: base, HTTP: c.http, Authorize: c.authorize}
	out, err := client.Do(ctx, method, path, in)
	if err != nil {
		return fmt.Errorf("push %s: %w", sub, err)
	}
	switch sub {
	case "delete":
		fmt.Fprintf(stdout, "push subscription of %s deleted\n", fs.Arg(0))
		return nil
	case "list":
		var l struct{ Subscriptions []push.Status }
		if err := json.Unmarshal(out, &l); err != nil {
			return fmt.Errorf("push list: decoding the answer: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "QUEUE\tENDPOINT\tRATE\tNOW\tCONC\tIN FLIGHT\tDELIVERED\tFAILED\tSTATE")
		for _, st := range l.Subscriptions {
			state := "active"
			switch {
			case st.Paused:
				state = "paused"
			case st.Standby:
				state = "standby" // another node leads and delivers
			}
			fmt.Fprintf(tw, "%s\t%s\t%g\t%.3g\t%d\t%d\t%d\t%d\t%s\n", st.Queue, st.Endpoint, st.Rate, st.CurrentRate,
				st.Concurrency, st.InFlight, st.Delivered, st.Failed, state)
		}
		return tw.Flush()
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, bytes.TrimSpace(out), "", "  ") != nil {
		_, err = stdout.Write(out)
		return err
	}
	pretty.WriteByte('\n')
	_, err = stdout.Write(pretty.Bytes())
	return err
}

// declaredPush returns the push subscriptions of the declared queues, checked.
func declaredPush(decls []config.QueueDecl) ([]push.Subscription, error) {
	var out []push.Subscription
	for _, d := range decls {
		p := d.Push
		if p == nil {
			continue
		}
		s := push.Subscription{Queue: d.Name, Endpoint: p.Endpoint, Rate: p.Rate, Burst: p.Burst, Concurrency: p.Concurrency,
			Timeout: push.Duration(p.Timeout.Duration), MinBackoff: push.Duration(p.MinBackoff.Duration),
			MaxBackoff: push.Duration(p.MaxBackoff.Duration), MaxDoublings: p.MaxDoublings}
		if err := s.Normalize(); err != nil {
			return nil, fmt.Errorf("queues: queue %q: push.%w", d.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}
