package etcdtest

import (
	"context"
	"maps"
	"path"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// rpcCounter counts the requests one server receives, by gRPC method, and
// ends the long-lived streams when the server stops.
type rpcCounter struct {
	mu      sync.Mutex
	counts  map[string]int64
	streams map[*streamCancel]struct{}
}

type streamCancel struct{ cancel context.CancelFunc }

func newRPCCounter() *rpcCounter {
	return &rpcCounter{counts: map[string]int64{}, streams: map[*streamCancel]struct{}{}}
}

func (r *rpcCounter) add(method string) {
	r.mu.Lock()
	r.counts[path.Base(method)]++
	r.mu.Unlock()
}

func (r *rpcCounter) serverOptions() []grpc.ServerOption {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		r.add(info.FullMethod)
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		// etcd's stream handlers (Watch, LeaseKeepAlive) return when
		// their stream's context ends: cancelling it lets the server's
		// graceful stop finish at once.
		ctx, cancel := context.WithCancel(ss.Context())
		sc := &streamCancel{cancel}
		r.mu.Lock()
		r.streams[sc] = struct{}{}
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			delete(r.streams, sc)
			r.mu.Unlock()
			cancel()
		}()
		return handler(srv, &countedStream{ServerStream: ss, ctx: ctx, r: r, method: info.FullMethod})
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}

func (r *rpcCounter) endStreams() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for sc := range r.streams {
		sc.cancel()
	}
}

func (r *rpcCounter) snapshot() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}

// countedStream counts each message a client sends on a stream (each
// lease keep-alive, each watch request).
type countedStream struct {
	grpc.ServerStream
	ctx    context.Context
	r      *rpcCounter
	method string
}

func (s *countedStream) Context() context.Context { return s.ctx }

func (s *countedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.r.add(s.method)
	}
	return err
}

// RPCs counts the requests this server has received since Start, across
// restarts, by gRPC method name ("Put", "Txn", "DeleteRange", "Range",
// "LeaseGrant", "LeaseRevoke"; for the streams "LeaseKeepAlive" and
// "Watch", each message the client sent). Unlike Writes it counts this
// server only, and what clients asked rather than what etcd applied.
func (s *Server) RPCs() map[string]int64 { return s.rpcs.snapshot() }

// Writes is what etcd's own metrics count: what the benchmark of the
// fleet's load on etcd reports. Subtract a snapshot taken before (Sub).
type Writes struct {
	Puts          float64 // etcd_mvcc_put_total: keys written (a Txn's puts included)
	Deletes       float64 // etcd_mvcc_delete_total: delete operations (not keys)
	Txns          float64 // etcd_mvcc_txn_total: transactions of more than one operation
	Proposals     float64 // etcd_server_proposals_committed_total: raft entries committed (writes, lease grants and revokes, auth changes)
	LeaseGrants   float64 // etcd_debugging_lease_granted_total
	LeaseRenewals float64 // etcd_debugging_lease_renewed_total: keep-alives that renewed a lease (not raft entries)
	LeaseRevokes  float64 // etcd_debugging_lease_revoked_total (expiries included)
}

// Sub is w minus an earlier snapshot.
func (w Writes) Sub(before Writes) Writes {
	return Writes{
		Puts: w.Puts - before.Puts, Deletes: w.Deletes - before.Deletes, Txns: w.Txns - before.Txns,
		Proposals: w.Proposals - before.Proposals, LeaseGrants: w.LeaseGrants - before.LeaseGrants,
		LeaseRenewals: w.LeaseRenewals - before.LeaseRenewals, LeaseRevokes: w.LeaseRevokes - before.LeaseRevokes,
	}
}

// ReadWrites reads etcd's metrics from the process's default Prometheus
// registry, where etcd registers them (and which its /metrics endpoint
// serves). They are the process's: two servers in one process add up
// into the same counters (Proposals, a gauge, is the last one's), so a
// benchmark runs one server per process or uses RPCs.
func ReadWrites() (Writes, error) {
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return Writes{}, err
	}
	var w Writes
	fields := map[string]*float64{
		"etcd_mvcc_put_total":                   &w.Puts,
		"etcd_mvcc_delete_total":                &w.Deletes,
		"etcd_mvcc_txn_total":                   &w.Txns,
		"etcd_server_proposals_committed_total": &w.Proposals,
		"etcd_debugging_lease_granted_total":    &w.LeaseGrants,
		"etcd_debugging_lease_renewed_total":    &w.LeaseRenewals,
		"etcd_debugging_lease_revoked_total":    &w.LeaseRevokes,
	}
	for _, f := range families {
		field, ok := fields[f.GetName()]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				*field += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				*field += m.GetGauge().GetValue()
			}
		}
	}
	return w, nil
}
