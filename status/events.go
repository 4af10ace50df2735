package status

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/failover-dns/failover/events"
)

// Defaults and bounds of the event endpoints; README.md documents them.
const (
	// DefaultEventsLimit is the default of /api/v1/events' limit, and the
	// most events one request returns.
	DefaultEventsLimit = 1000
	DefaultMaxStreams  = 16
	heartbeat          = 15 * time.Second
	// maxEventsPageBytes ends a page of /api/v1/events early (after at
	// least one event), so that a response stays bounded however large its
	// events are.
	maxEventsPageBytes = 1 << 20
)

// handleEvents serves GET /api/v1/events?since=ID&limit=N: the events after
// ID, oldest first, with the oldest ID still held and the newest, so that a
// client can tell when it missed some. A page holds at most
// DefaultEventsLimit events and about maxEventsPageBytes: a client that
// gets fewer than it asked for pages on from the last one it got.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	since, err1 := uintParam(r, "since", 0)
	limit, err2 := uintParam(r, "limit", DefaultEventsLimit)
	if err1 != nil || err2 != nil {
		writeError(w, http.StatusBadRequest, "since and limit are whole numbers: write e.g. /api/v1/events?since=120&limit=50")
		return
	}
	if limit == 0 || limit > DefaultEventsLimit {
		limit = DefaultEventsLimit
	}
	log := (*s.source.Load()).Events()
	list, oldest := log.Since(since, int(limit))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	// One event at a time, never the whole page in memory; a write that
	// fails (the client went, or stopped reading) ends the response.
	if writeEventsPage(w, list) != nil {
		return
	}
	fmt.Fprintf(w, `],"oldest":%d,"last":%d}`+"\n", oldest, log.Last())
}

// writeEventsPage writes the start of the events response: its events, up
// to maxEventsPageBytes of them after the first.
func writeEventsPage(w io.Writer, list []events.Event) error {
	if _, err := io.WriteString(w, `{"events":[`); err != nil {
		return err
	}
	written := 0
	for i, e := range list {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if i > 0 {
			if written+len(data) > maxEventsPageBytes {
				break
			}
			data = append([]byte{','}, data...)
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		written += len(data)
	}
	return nil
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
// closing an idle stream. A stream ends after the stream lifetime: a
// client that never reads cannot keep its slot (the page and EventSource
// reconnect, resuming after the last event they got).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	client := clientOf(r)
	switch s.streams.acquire(client, cfg.maxStreams(), cfg.maxStreamsPerClient()) {
	case slotsFull:
		writeError(w, http.StatusServiceUnavailable, "too many event streams are open: try again later")
		return
	case clientShareFull:
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("this client has %d event streams open, its share of the listener's %d: close one", cfg.maxStreamsPerClient(), cfg.maxStreams()))
		return
	}
	defer s.streams.release(client)
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
	st := &stream{w: w, rc: http.NewResponseController(w), timeout: cfg.writeTimeout()}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	lifetime := time.NewTimer(cfg.streamLifetime())
	defer lifetime.Stop()
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
		case <-lifetime.C:
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
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
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
	st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	_, err := fmt.Fprintf(st.w, format, args...)
	return err
}

func (st *stream) flush() error {
	st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	return st.rc.Flush()
}
