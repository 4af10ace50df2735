//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/failover-dns/failover/fleet"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// memberSpace is where the fleet's members keep their keys and verdicts
// (the default prefix): PREFIX/LAYOUT/m/MEMBER/v/TARGET for a verdict.
const memberSpace = "/failover/" + fleet.Layout + "/m/"

// changeLog watches the verdicts and sorts every write by what it
// changed, to say why the steady state writes when it does.
type changeLog struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	counts map[string]int // new, state, since, rtt, same, delete
	rtts   []string       // a few RTT-only changes, old -> new
}

// storedVerdict is a verdict as the fleet stores it.
type storedVerdict struct {
	State string `json:"state"`
	Since string `json:"since"`
	RTT   int64  `json:"rtt_ns"`
}

func watchChanges(client *clientv3.Client) *changeLog {
	ctx, cancel := context.WithCancel(context.Background())
	l := &changeLog{cancel: cancel, counts: map[string]int{}}
	ch := client.Watch(ctx, memberSpace, clientv3.WithPrefix(), clientv3.WithPrevKV())
	l.wg.Go(func() {
		for resp := range ch {
			for _, ev := range resp.Events {
				if !strings.Contains(string(ev.Kv.Key), "/v/") {
					continue // a member key
				}
				l.note(ev)
			}
		}
	})
	return l
}

func (l *changeLog) note(ev *clientv3.Event) {
	kind := "delete"
	var now, before storedVerdict
	if ev.Type == mvccpb.PUT {
		json.Unmarshal(ev.Kv.Value, &now)
		switch {
		case ev.PrevKv == nil:
			kind = "new"
		case json.Unmarshal(ev.PrevKv.Value, &before) != nil:
			kind = "new"
		case now.State != before.State:
			kind = "state"
		case now.Since != before.Since:
			kind = "since"
		case now.RTT != before.RTT:
			kind = "rtt"
		default:
			kind = "same"
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[kind]++
	if kind == "rtt" && len(l.rtts) < 5 {
		l.rtts = append(l.rtts, fmt.Sprintf("%s -> %s", time.Duration(before.RTT).Round(time.Microsecond), time.Duration(now.RTT).Round(time.Microsecond)))
	}
}

// stop ends the watch and describes what it saw.
func (l *changeLog) stop() string {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.counts) == 0 {
		return "no verdict written"
	}
	var parts []string
	for _, k := range []string{"new", "state", "since", "rtt", "same", "delete"} {
		if n := l.counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", changeNames[k], n))
		}
	}
	s := strings.Join(parts, ", ")
	if len(l.rtts) > 0 {
		s += " (RTT-only, e.g. " + strings.Join(l.rtts, ", ") + ")"
	}
	return s
}

var changeNames = map[string]string{
	"new": "new keys", "state": "state changed", "since": "since changed (same state)",
	"rtt": "RTT only", "same": "unchanged", "delete": "deleted",
}

// verdictsByMember counts the verdicts in etcd by member: the targets each
// member probes.
func verdictsByMember(client *clientv3.Client) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Get(ctx, memberSpace, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, kv := range resp.Kvs {
		if member, _, isVerdict := strings.Cut(strings.TrimPrefix(string(kv.Key), memberSpace), "/v/"); isVerdict {
			out[member]++
		}
	}
	return out, nil
}
