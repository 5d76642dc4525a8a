package crash

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// kind is the type of one of the harness's two queues.
type kind int

const (
	std kind = iota
	fifo
)

func (k kind) String() string {
	if k == fifo {
		return "FIFO"
	}
	return "standard"
}

// Bodies are "<id>:<padding>", the padding (0-767 bytes) a function of the id, so that a body
// is checked byte for byte. Ids are "s<producer>-<n>" (standard) or "f<group>-<n>" (FIFO; n is
// the per-group counter, and the id is also the MessageDeduplicationId).
func body(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	v := h.Sum32()
	n := int(v % 768)
	var b strings.Builder
	b.Grow(len(id) + 1 + n)
	b.WriteString(id)
	b.WriteByte(':')
	for i := range n {
		b.WriteByte(byte('a' + (uint32(i)*7+v)%26))
	}
	return b.String()
}

// send is one unique id handed to a producer.
type send struct {
	id       string
	kind     kind
	group    string // FIFO only
	counter  int    // FIFO only: position in the group's send order
	attempts int    // SendMessage(Batch) calls that carried it
	acked    bool
	ackAt    time.Time
	msgID    string   // MessageId of the acknowledged send
	seqNo    string   // FIFO: SequenceNumber of the acknowledged send
	msgIDs   []string // every MessageId seen for this id, in acknowledgements and receives
	ackLife  int      // server incarnation (1 = first start) when the ack arrived
	tries    []string // FIFO: when each attempt began, and in which incarnation
}

// delivery is one receive of a message.
type delivery struct {
	call       int64     // receive call number
	start, end time.Time // when the receive call began and returned
	lives      [2]int    // server incarnations at start and end
	pos, n     int       // position in the response, and the response's length
	// busyUntil: until then the message was certainly in flight under this delivery's handle:
	// the receive's start plus the visibility timeout (less a margin), or earlier, when the
	// consumer began a delete or visibility change with the handle.
	busyUntil time.Time
	seqNo     string // FIFO: the SequenceNumber the receive reported
	drain     bool
}

// message is one MessageId the server handed out.
type message struct {
	msgID     string
	send      *send
	recvs     []*delivery
	minStart  time.Time // earliest start of a receive that returned it
	minEnd    time.Time // earliest return of a receive that returned it
	deleted   bool      // an effective delete was acknowledged
	deletedAt time.Time // when the first effective delete was acknowledged
}

// held is a received message a consumer holds: its receipt handle and the moment before which
// that handle is certainly the current one (the receive's start plus the visibility timeout,
// less a margin). A delete acknowledged before then removed the message.
type held struct {
	msgID, handle string
	valid         time.Time
	d             *delivery // nil for a body that matched no send
}

// ledger records what the clients were told. All methods are safe for concurrent use.
type ledger struct {
	mu        sync.Mutex
	life      int // server incarnation: 1 for the first start, +1 per restart
	sends     map[string]*send
	msgs      map[string]*message
	calls     int64
	acked     [2]int
	effective [2]int // first effective deletes per queue
	counts    map[string]int
	errSample map[string]string
	// violations found while recording
	inResponse []string // FIFO messages of one group out of order inside one response
	badBodies  []string
	refusals   []string // handles refused while certainly current
}

func newLedger() *ledger {
	return &ledger{sends: map[string]*send{}, msgs: map[string]*message{},
		counts: map[string]int{}, errSample: map[string]string{}}
}

func (l *ledger) count(name string, n int) {
	l.mu.Lock()
	l.counts[name] += n
	l.mu.Unlock()
}

// opError records a failed call (never one cut short by the end of the run).
func (l *ledger) opError(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	key := op + " " + errClass(err)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts["error: "+key]++
	if _, ok := l.errSample[key]; !ok {
		l.errSample[key] = err.Error()
	}
}

// entryError records a failed entry of a batch call.
func (l *ledger) entryError(op string, e types.BatchResultErrorEntry) {
	code := ""
	if e.Code != nil {
		code = *e.Code
	}
	key := op + " entry " + code
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts["error: "+key]++
	if _, ok := l.errSample[key]; !ok && e.Message != nil {
		l.errSample[key] = *e.Message
	}
}

func errClass(err error) string {
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		return ae.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "transport"
	}
}

// started records that the server was (re)started.
func (l *ledger) started() {
	l.mu.Lock()
	l.life++
	l.mu.Unlock()
}

func (l *ledger) currentLife() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.life
}

// attempt records that a send carrying id is about to be made.
func (l *ledger) attempt(k kind, id, group string, counter int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sends[id]
	if s == nil {
		s = &send{id: id, kind: k, group: group, counter: counter}
		l.sends[id] = s
	}
	s.attempts++
	if k == fifo {
		s.tries = append(s.tries, fmt.Sprintf("%s (life %d)", stamp(time.Now()), l.life))
	}
}

// sendAcked records a successful send (or batch entry) of id.
func (l *ledger) sendAcked(id, msgID, seqNo string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sends[id]
	if s.acked {
		// A FIFO producer resent an acknowledged id (a batch whose other entries failed):
		// the MessageId is checked by the duplicate check through msgIDs.
		addID(s, msgID)
		return
	}
	s.acked, s.ackAt, s.msgID, s.seqNo, s.ackLife = true, at, msgID, seqNo, l.life
	addID(s, msgID)
	l.acked[s.kind]++
}

func addID(s *send, msgID string) {
	for _, m := range s.msgIDs {
		if m == msgID {
			return
		}
	}
	s.msgIDs = append(s.msgIDs, msgID)
}

// received records the messages of one receive call that began at start and returned at end,
// in response order, and returns them as held messages valid until start+vis-margin.
func (l *ledger) received(k kind, start time.Time, startLife int, end time.Time, vis time.Duration, msgs []types.Message, drain bool) []held {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	call := l.calls
	out := make([]held, 0, len(msgs))
	lastInGroup := map[string]int{}
	for pos, m := range msgs {
		msgID, handle, b := deref(m.MessageId), deref(m.ReceiptHandle), deref(m.Body)
		id, _, _ := strings.Cut(b, ":")
		s := l.sends[id]
		if s == nil || b != body(id) || s.kind != k {
			if len(l.badBodies) < 20 {
				l.badBodies = append(l.badBodies, fmt.Sprintf("%s queue: MessageId %s: body %.60q matches no send", k, msgID, b))
			}
			l.counts["bad bodies"]++
			out = append(out, held{msgID: msgID, handle: handle, valid: start.Add(vis - handleMargin)})
			continue
		}
		if k == fifo {
			if last, ok := lastInGroup[s.group]; ok && s.counter <= last {
				l.inResponse = append(l.inResponse, fmt.Sprintf("receive call %d (%s–%s): group %s counter %d after %d in one response",
					call, stamp(start), stamp(end), s.group, s.counter, last))
			}
			lastInGroup[s.group] = s.counter
		}
		msg := l.msgs[msgID]
		if msg == nil {
			msg = &message{msgID: msgID, send: s, minStart: start, minEnd: end}
			l.msgs[msgID] = msg
		}
		if msg.send != s {
			l.badBodies = append(l.badBodies, fmt.Sprintf("MessageId %s carried %s and %s", msgID, msg.send.id, s.id))
		}
		addID(s, msgID)
		d := &delivery{call: call, start: start, end: end, lives: [2]int{startLife, l.life}, pos: pos, n: len(msgs),
			seqNo: m.Attributes[string(types.MessageSystemAttributeNameSequenceNumber)], drain: drain,
			busyUntil: start.Add(vis - handleMargin)}
		msg.recvs = append(msg.recvs, d)
		if start.Before(msg.minStart) {
			msg.minStart = start
		}
		if end.Before(msg.minEnd) {
			msg.minEnd = end
		}
		out = append(out, held{msgID: msgID, handle: handle, valid: start.Add(vis - handleMargin), d: d})
	}
	if drain {
		l.counts[k.String()+" drain receives"]++
	} else {
		l.counts[k.String()+" receive calls"]++
	}
	return out
}

// using records that a delete or visibility change with the handles of hs is about to be sent.
func (l *ledger) using(hs []held) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range hs {
		if h.d != nil && now.Before(h.d.busyUntil) {
			h.d.busyUntil = now
		}
	}
}

// refused records a delete or visibility change of hs that failed with err. If the server
// answered with an error before a handle's validity ended, it refused a handle that was
// certainly the current one: the receive that issued it was forgotten.
func (l *ledger) refused(ctx context.Context, op string, hs []held, err error) {
	var ae smithy.APIError
	if ctx.Err() != nil || !errors.As(err, &ae) {
		return // no answer from the server
	}
	if retryableCodes[ae.ErrorCode()] {
		return // a temporary failure (PostgreSQL down), not a refusal of the handle
	}
	at := time.Now()
	for _, h := range hs {
		l.refuse(op, h, at, ae.ErrorCode()+": "+ae.ErrorMessage())
	}
}

// entryRefused is refused for a failed batch entry (Id: the index in hs).
func (l *ledger) entryRefused(op string, hs []held, e types.BatchResultErrorEntry, at time.Time) {
	i, err := strconv.Atoi(deref(e.Id))
	if err != nil || i < 0 || i >= len(hs) || retryableCodes[deref(e.Code)] {
		return
	}
	l.refuse(op, hs[i], at, deref(e.Code)+": "+deref(e.Message))
}

func (l *ledger) refuse(op string, h held, at time.Time, why string) {
	if !at.Before(h.valid) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := l.msgs[h.msgID]
	if msg == nil {
		return
	}
	l.refusals = append(l.refusals, fmt.Sprintf("%s of %s refused at %s (%s), its handle valid until %s\n  - %s",
		op, msg.send.id, stamp(at), why, stamp(h.valid), l.history(msg)))
}

// deleted records a delete of h acknowledged at ackAt. It is effective (the message must never be
// received again) if it was acknowledged while h was certainly the current handle.
func (l *ledger) deleted(h held, ackAt time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := l.msgs[h.msgID]
	if msg == nil {
		return
	}
	k := msg.send.kind.String()
	if !ackAt.Before(h.valid) {
		l.counts[k+" late deletes acked"]++
		return
	}
	l.counts[k+" effective deletes acked"]++
	if !msg.deleted {
		msg.deleted, msg.deletedAt = true, ackAt
		l.effective[msg.send.kind]++
	}
}

// ackedSends returns the number of acknowledged sends to a queue.
func (l *ledger) ackedSends(k kind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked[k]
}

// backlog returns acknowledged sends less effective deletes of a queue.
func (l *ledger) backlog(k kind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked[k] - l.effective[k]
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// result is the harness's verdict.
type result struct {
	lost        []string // acknowledged sends never received
	resurrected []string // received again after an effective delete was acknowledged
	fifoOrder   []string // acknowledged FIFO messages first received out of group order
	fifoBlock   []string // a FIFO group delivered while one of its messages was in flight
	stdInFlight []string // a standard message delivered again while certainly in flight
	refused     []string // a delete or visibility change refused while its handle was current
	fifoDups    []string // one deduplication id under two MessageIds
	badBodies   []string
	counts      map[string]int
	errSample   map[string]string
	perQueue    [2]queueNumbers
}

type queueNumbers struct {
	ids, acked, unackedSeen, unackedUnseen       int
	msgs, receives, redelivered, extraDeliveries int
	deleted, storedTwice                         int
}

// verdict computes the result; call it once the run is over.
func (l *ledger) verdict() *result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &result{counts: map[string]int{}, errSample: map[string]string{}}
	for k, v := range l.counts {
		r.counts[k] = v
	}
	for k, v := range l.errSample {
		r.errSample[k] = v
	}
	r.fifoOrder = append(r.fifoOrder, l.inResponse...)
	r.badBodies = append(r.badBodies, l.badBodies...)

	ids := make([]string, 0, len(l.sends))
	for id := range l.sends {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	groups := map[string][]*send{}
	for _, id := range ids {
		s := l.sends[id]
		q := &r.perQueue[s.kind]
		q.ids++
		seen := false
		for _, m := range s.msgIDs {
			if msg := l.msgs[m]; msg != nil && len(msg.recvs) > 0 {
				seen = true
			}
		}
		switch {
		case s.acked:
			q.acked++
			if msg := l.msgs[s.msgID]; msg == nil || len(msg.recvs) == 0 {
				r.lost = append(r.lost, fmt.Sprintf("%s %s: acknowledged at %s as MessageId %s after %d attempt(s), never received",
					s.kind, s.id, stamp(s.ackAt), s.msgID, s.attempts))
			}
		case seen:
			q.unackedSeen++
		default:
			q.unackedUnseen++
		}
		if s.kind == std && len(s.msgIDs) > 1 {
			q.storedTwice++
		}
		if s.kind == fifo {
			if len(s.msgIDs) > 1 {
				r.fifoDups = append(r.fifoDups, fmt.Sprintf("deduplication id %s (group %s) has MessageIds %s",
					s.id, s.group, strings.Join(s.msgIDs, ", ")))
			}
			if s.acked {
				groups[s.group] = append(groups[s.group], s)
			}
		}
	}
	for _, m := range l.msgs {
		q := &r.perQueue[m.send.kind]
		q.msgs++
		q.receives += len(m.recvs)
		if len(m.recvs) > 1 {
			q.redelivered++
			q.extraDeliveries += len(m.recvs) - 1
		}
		if m.deleted {
			q.deleted++
			for _, d := range m.recvs {
				if d.start.After(m.deletedAt) {
					r.resurrected = append(r.resurrected, fmt.Sprintf("%s %s (MessageId %s): delete acknowledged at %s, received again by call %d started %s%s",
						m.send.kind, m.send.id, m.msgID, stamp(m.deletedAt), d.call, stamp(d.start), drainNote(d.drain)))
				}
			}
		}
	}
	// Group order: for acknowledged a sent before b, a receive that returned b must not have
	// returned before every receive that returned a had even started.
	gnames := make([]string, 0, len(groups))
	for g := range groups {
		gnames = append(gnames, g)
	}
	sort.Strings(gnames)
	for _, g := range gnames {
		ss := groups[g]
		sort.Slice(ss, func(i, j int) bool { return ss[i].counter < ss[j].counter })
		var latest *message // the earlier message whose first receive started last
		for _, s := range ss {
			m := l.msgs[s.msgID]
			if m == nil || len(m.recvs) == 0 {
				continue // lost: reported above
			}
			if latest != nil && latest.minStart.After(m.minEnd) {
				r.fifoOrder = append(r.fifoOrder, fmt.Sprintf("group %s: %s first received by a call that returned %s, before %s was first received (call started %s)\n  - %s\n  - %s",
					g, s.id, stamp(m.minEnd), latest.send.id, stamp(latest.minStart), l.history(latest), l.history(m)))
			}
			if latest == nil || m.minStart.After(latest.minStart) {
				latest = m
			}
		}
	}
	r.fifoBlock = l.blockingViolations(fifo)
	r.stdInFlight = l.blockingViolations(std)
	r.refused = append(r.refused, l.refusals...)
	sort.Strings(r.lost)
	sort.Strings(r.resurrected)
	return r
}

// blockingViolations finds deliveries made while another delivery was certainly still in
// flight: receive b started after receive a had returned, and returned before a's busyUntil
// (a's handle had not been used to delete or release the message, and its visibility timeout
// had not passed). For FIFO, a and b are of the same group (which must deliver nothing then);
// for standard, of the same message (which must not be delivered twice then).
func (l *ledger) blockingViolations(k kind) []string {
	type dv struct {
		m *message
		d *delivery
	}
	groups := map[string][]dv{}
	for _, m := range l.msgs {
		if m.send.kind != k {
			continue
		}
		key := "group " + m.send.group
		if k == std {
			key = "message " + m.msgID
		}
		for _, d := range m.recvs {
			groups[key] = append(groups[key], dv{m, d})
		}
	}
	var out []string
	for g, ds := range groups {
		byStart := slices.Clone(ds)
		sort.Slice(byStart, func(i, j int) bool { return byStart[i].d.start.Before(byStart[j].d.start) })
		byEnd := ds
		sort.Slice(byEnd, func(i, j int) bool { return byEnd[i].d.end.Before(byEnd[j].d.end) })
		var busiest *dv // of the deliveries returned so far, the one in flight the longest
		i := 0
		for _, b := range byStart {
			for ; i < len(byEnd) && byEnd[i].d.end.Before(b.d.start); i++ {
				if busiest == nil || byEnd[i].d.busyUntil.After(busiest.d.busyUntil) {
					busiest = &byEnd[i]
				}
			}
			if busiest != nil && b.d.end.Before(busiest.d.busyUntil) {
				out = append(out, fmt.Sprintf("%s: %s delivered by call %d (%s–%s) while %s was in flight since call %d (returned %s, in flight at least until %s)\n  - %s\n  - %s",
					g, b.m.send.id, b.d.call, stamp(b.d.start), stamp(b.d.end), busiest.m.send.id, busiest.d.call,
					stamp(busiest.d.end), stamp(busiest.d.busyUntil), l.history(busiest.m), l.history(b.m)))
			}
		}
	}
	sort.Strings(out)
	return out
}

// dump writes every FIFO id's history, group by group in send order, for debugging.
func (l *ledger) dump(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ss []*send
	for _, s := range l.sends {
		if s.kind == fifo {
			ss = append(ss, s)
		}
	}
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].group != ss[j].group {
			return ss[i].group < ss[j].group
		}
		return ss[i].counter < ss[j].counter
	})
	for _, s := range ss {
		if len(s.msgIDs) == 0 {
			fmt.Fprintf(w, "%s: attempts at %s, not acknowledged, never received\n", s.id, strings.Join(s.tries, ", "))
		}
		for _, id := range s.msgIDs {
			m := l.msgs[id]
			if m == nil {
				m = &message{msgID: id, send: s}
			}
			fmt.Fprintf(w, "%s\n", l.history(m))
		}
	}
}

// history describes a message's send and deliveries, for a violation's evidence.
func (l *ledger) history(m *message) string {
	s := m.send
	var b strings.Builder
	fmt.Fprintf(&b, "%s: MessageId %s, attempts at %s, acknowledged %s (life %d, SequenceNumber %s); deliveries:",
		s.id, m.msgID, strings.Join(s.tries, ", "), stamp(s.ackAt), s.ackLife, s.seqNo)
	for _, d := range m.recvs {
		fmt.Fprintf(&b, " [call %d %s–%s lives %d–%d, %d/%d, seq %s%s]", d.call, stamp(d.start), stamp(d.end),
			d.lives[0], d.lives[1], d.pos+1, d.n, d.seqNo, drainNote(d.drain))
	}
	return b.String()
}

func drainNote(drain bool) string {
	if drain {
		return " (drain)"
	}
	return ""
}

// markdown renders the report.
func (r *result) markdown(run runInfo) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# Sluice crash harness report")
	p("")
	p("- seed `%d` (rerun: `SLUICE_CRASH_SEED=%d SLUICE_CRASH_CYCLES=%d SLUICE_CRASH_UPTIME=%s SLUICE_CRASH_SYNC=%s go test -run '^%s$' -count=1 -timeout 60m ./tests/crash/`)",
		run.seed, run.seed, run.cycles, run.maxUp, run.sync, run.test)
	p("- cycles: %d kill -9 of a `sluice serve` node (uptime per cycle %s–%s, seeded), then a restart and a drain, then one more kill -9 of every node and restart", run.cycles, run.minUp, run.maxUp)
	p("- server: %s, built with %s, race detector: %v; load generator on the same machine (%d CPUs)",
		run.server, run.goVersion, raceEnabled, runtime.NumCPU())
	p("- load phase %s, drain %s; restart to accepting connections: mean %s, max %s over %d starts",
		run.loadTime.Round(time.Millisecond), run.drainTime.Round(time.Millisecond),
		run.readyMean.Round(time.Millisecond), run.readyMax.Round(time.Millisecond), run.starts)
	p("")
	p("| check | result | must be |")
	p("|---|---|---|")
	p("| acknowledged sends never received | %d | 0 |", len(r.lost))
	p("| acknowledged deletes received again afterwards | %d | 0 |", len(r.resurrected))
	p("| FIFO group order violations | %d | 0 |", len(r.fifoOrder))
	p("| FIFO deliveries while the group had a message in flight | %d | 0 |", len(r.fifoBlock))
	p("| standard messages delivered again while certainly in flight | %d | 0 |", len(r.stdInFlight))
	p("| deletes and visibility changes refused while their handle was certainly current | %d | 0 |", len(r.refused))
	p("| FIFO duplicates (one deduplication id, two MessageIds) | %d | 0 |", len(r.fifoDups))
	p("| bodies not matching a send | %d | 0 |", len(r.badBodies))
	p("| standard messages received more than once (delete not acknowledged in time) | %d | allowed |", r.perQueue[std].redelivered)
	p("| standard ids stored twice (send retried after a lost response) | %d | allowed |", r.perQueue[std].storedTwice)
	p("")
	p("| | standard | FIFO |")
	p("|---|---|---|")
	row := func(name string, f func(q queueNumbers) int) {
		p("| %s | %d | %d |", name, f(r.perQueue[std]), f(r.perQueue[fifo]))
	}
	row("ids sent", func(q queueNumbers) int { return q.ids })
	row("sends acknowledged", func(q queueNumbers) int { return q.acked })
	row("sends not acknowledged, but stored (received)", func(q queueNumbers) int { return q.unackedSeen })
	row("sends not acknowledged, not stored", func(q queueNumbers) int { return q.unackedUnseen })
	row("messages received (distinct MessageIds)", func(q queueNumbers) int { return q.msgs })
	row("deliveries", func(q queueNumbers) int { return q.receives })
	row("messages delivered more than once", func(q queueNumbers) int { return q.redelivered })
	row("messages with an effective delete acknowledged", func(q queueNumbers) int { return q.deleted })
	p("")
	acked := r.perQueue[std].acked + r.perQueue[fifo].acked
	secs := run.loadTime.Seconds()
	p("Throughput over the load phase (server down time included): %.0f acknowledged sends/s, %.0f deliveries/s (%d sends acknowledged in all).",
		float64(acked)/secs, float64(r.perQueue[std].receives+r.perQueue[fifo].receives)/secs, acked)
	p("")
	p("Calls and errors (errors while the server was down or being killed are expected):")
	p("")
	names := make([]string, 0, len(r.counts))
	for k := range r.counts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		line := fmt.Sprintf("- %s: %d", k, r.counts[k])
		if e, ok := r.errSample[strings.TrimPrefix(k, "error: ")]; ok {
			line += fmt.Sprintf(" (e.g. `%.300s`)", strings.ReplaceAll(e, "`", "'"))
		}
		p("%s", line)
	}
	for _, sec := range []struct {
		name string
		list []string
	}{{"Lost acknowledged sends", r.lost}, {"Deliveries after an acknowledged delete", r.resurrected},
		{"FIFO order violations", r.fifoOrder}, {"FIFO group blocking violations", r.fifoBlock},
		{"Standard messages delivered again while in flight", r.stdInFlight}, {"Handles refused while current", r.refused},
		{"FIFO duplicates", r.fifoDups}, {"Bad bodies", r.badBodies}} {
		if len(sec.list) == 0 {
			continue
		}
		p("")
		p("## %s (%d)", sec.name, len(sec.list))
		p("")
		for i, s := range sec.list {
			if i == 50 {
				p("- … %d more", len(sec.list)-50)
				break
			}
			p("- %s", s)
		}
	}
	return b.String()
}

// runInfo describes the run for the report.
type runInfo struct {
	seed                int64
	cycles, starts      int
	minUp, maxUp        time.Duration
	loadTime, drainTime time.Duration
	readyMean, readyMax time.Duration
	goVersion, sync     string
	test                string // the test's name, for the rerun command
	server              string // the servers run, in words
}
