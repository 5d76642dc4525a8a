package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// AdminPrefix is the path under which Handler serves the admin API.
const AdminPrefix = "/admin/push/"

// maxAdminBody bounds an admin request body.
const maxAdminBody = 64 << 10

// Handler serves the JSON admin API of m under AdminPrefix:
//
//	GET    /admin/push/              list subscriptions with their state
//	GET    /admin/push/{queue}       one subscription with its state
//	PUT    /admin/push/{queue}       create or replace (body: a Subscription; queue from the path)
//	DELETE /admin/push/{queue}       remove
//	POST   /admin/push/{queue}/pause, /admin/push/{queue}/resume
//
// Errors are {"error": "..."} with 400 (bad input), 404 (no such queue or subscription), 405,
// or 500 (the cause is logged, not sent).
func Handler(m *Manager, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &admin{m: m, log: log}
}

type admin struct {
	m   *Manager
	log *slog.Logger
}

func (a *admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, AdminPrefix)
	if !ok {
		if r.URL.Path+"/" == AdminPrefix {
			rest = ""
		} else {
			writeErr(w, http.StatusNotFound, "not found")
			return
		}
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case rest == "" || rest == "/":
		if r.Method != http.MethodGet {
			writeErr(w, http.StatusMethodNotAllowed, "use GET to list subscriptions")
			return
		}
		list := a.m.List()
		if list == nil {
			list = []Status{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"subscriptions": list})
	case len(parts) == 1:
		a.one(w, r, parts[0])
	case len(parts) == 2 && (parts[1] == "pause" || parts[1] == "resume"):
		if r.Method != http.MethodPost {
			writeErr(w, http.StatusMethodNotAllowed, "use POST to "+parts[1])
			return
		}
		sub, err := a.m.SetPaused(r.Context(), parts[0], parts[1] == "pause")
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, sub)
	default:
		writeErr(w, http.StatusNotFound, "not found")
	}
}

func (a *admin) one(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodGet:
		st, err := a.m.Get(r.Context(), name)
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case http.MethodPut:
		var sub Subscription
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sub); err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("bad JSON body: %v", err))
			return
		}
		if sub.Queue != "" && sub.Queue != name {
			writeErr(w, http.StatusBadRequest, "queue in the body differs from the queue in the path")
			return
		}
		sub.Queue = name
		out, err := a.m.Put(r.Context(), sub)
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodDelete:
		if err := a.m.Delete(r.Context(), name); err != nil {
			a.fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErr(w, http.StatusMethodNotAllowed, "use GET, PUT or DELETE")
	}
}

func (a *admin) fail(w http.ResponseWriter, err error) {
	var verr *ValidationError
	switch {
	case errors.As(err, &verr):
		writeErr(w, http.StatusBadRequest, verr.Error())
	case errors.Is(err, ErrQueueNotFound), errors.Is(err, ErrNotFound):
		writeErr(w, http.StatusNotFound, err.Error())
	default:
		a.log.Error("push admin", "err", err)
		writeErr(w, http.StatusInternalServerError, "internal error (see the server log)")
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
