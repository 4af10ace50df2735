package status

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/failover-dns/failover/events"
)

// Defaults of the event endpoints; README.md documents them.
const (
	DefaultEventsLimit = 1000
	DefaultMaxStreams  = 16
	heartbeat          = 15 * time.Second
	streamWriteTimeout = 10 * time.Second
)

// handleEvents serves GET /api/v1/events?since=ID&limit=N: the events after
// ID, oldest first, with the oldest ID still held and the newest, so that a
// client can tell when it missed some.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	since, err1 := uintParam(r, "since", 0)
	limit, err2 := uintParam(r, "limit", DefaultEventsLimit)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "since and limit are whole numbers: write e.g. /api/v1/events?since=120&limit=50")
		return
	}
	log := (*s.source.Load()).Events()
	list, oldest := log.Since(since, int(min(limit, 1<<20)))
	if list == nil {
		list = []events.Event{}
	}
	writeJSON(w, http.StatusOK, struct {
		Events []events.Event `json:"events"`
		Oldest uint64         `json:"oldest"`
		Last   uint64         `json:"last"`
	}{list, oldest, log.Last()})
}

func uintParam(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	return strconv.ParseUint(v, 10, 64)
}

// handleStream serves GET /api/v1/events/stream: the events as
// Server-Sent Events, from the one after Last-Event-ID (or ?since=ID) when
// given, else from now on, with a comment every 15 s to keep proxies from
// closing an idle stream.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if !s.streams.acquire(s.cfg.Load().MaxStreams) {
		writeError(w, http.StatusServiceUnavailable, "too many event streams are open: try again later")
		return
	}
	defer s.streams.release()
	log := (*s.source.Load()).Events()
	sub := log.Subscribe(0)
	defer sub.Close()
	sent := log.Last()
	if v := r.Header.Get("Last-Event-ID"); v != "" || r.URL.Query().Has("since") {
		if v == "" {
			v = r.URL.Query().Get("since")
		}
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Last-Event-ID and since are event IDs: whole numbers")
			return
		}
		sent = id
		if sent > log.Last() {
			// IDs the client saw came from an earlier process: the history
			// here starts again at 1, so send all of it.
			sent = 0
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w)}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		// Catch up from the history: what came before the subscription, and
		// whatever a slow reader's subscription dropped.
		backlog, _ := log.Since(sent, 0)
		for _, e := range backlog {
			if st.event(e) != nil {
				return
			}
			sent = e.ID
		}
		if st.flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-tick.C:
			if st.comment("keep-alive") != nil {
				return
			}
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			if e.ID == sent+1 {
				if st.event(e) != nil {
					return
				}
				sent = e.ID
			}
		}
	}
}

// stream writes Server-Sent Events, each write bounded in time so that a
// stuck client cannot hold its stream forever.
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (st *stream) event(e events.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return st.write("id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, data)
}

func (st *stream) comment(text string) error {
	if err := st.write(": %s\n\n", text); err != nil {
		return err
	}
	return st.flush()
}

func (st *stream) write(format string, args ...any) error {
	st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	_, err := fmt.Fprintf(st.w, format, args...)
	return err
}

func (st *stream) flush() error { return st.rc.Flush() }

// streamCount caps the event streams open at once.
type streamCount struct {
	mu sync.Mutex
	n  int
}

func (c *streamCount) acquire(limit int) bool {
	if limit <= 0 {
		limit = DefaultMaxStreams
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= limit {
		return false
	}
	c.n++
	return true
}

func (c *streamCount) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
}
