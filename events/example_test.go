package events_test

import (
	"fmt"

	"github.com/failover-dns/failover/events"
)

// A reader that resumes after the last ID it saw (an SSE client's
// Last-Event-ID) subscribes first, then reads the history, then the live
// events, skipping those the history gave it already. A gap in the IDs
// means the subscription dropped events: Since fetches them, if the Log
// still holds them.
func ExampleLog_Subscribe() {
	log := events.NewLog(100, nil)
	log.Append(events.Event{Type: events.TypeTargetDown, Pool: "web", Target: "192.0.2.1", Reason: "timeout"})
	log.Append(events.Event{Type: events.TypeTargetUp, Pool: "web", Target: "192.0.2.1"})

	lastSeen := uint64(1)
	sub := log.Subscribe(0)
	defer sub.Close()
	backlog, oldest := log.Since(lastSeen, 0)
	if oldest > lastSeen+1 {
		fmt.Println("missed", oldest-lastSeen-1, "events")
	}
	show := func(e events.Event) {
		fmt.Println(e.ID, e.Type, e.Pool)
		lastSeen = e.ID
	}
	for _, e := range backlog {
		show(e)
	}

	log.Append(events.Event{Type: events.TypeAnswerChanged, Pool: "web", Family: "A",
		Old: []string{"192.0.2.2"}, New: []string{"192.0.2.1", "192.0.2.2"}})
	log.Close() // ends the loop below, for the example
	for e := range sub.C() {
		switch {
		case e.ID <= lastSeen: // the backlog had it
			continue
		case e.ID > lastSeen+1: // dropped: fill the gap from the history
			missed, _ := log.Since(lastSeen, int(e.ID-lastSeen-1))
			for _, m := range missed {
				show(m)
			}
		}
		show(e)
	}
	// Output:
	// 2 target_up web
	// 3 answer_changed web
}
