package fleet

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxOpsPerTxn stays under etcd's default --max-txn-ops (128).
const maxOpsPerTxn = 128

// publishLoop writes this member's verdicts that etcd does not have yet
// (and removes those it took back), many to a transaction, off every other
// goroutine: probing and deciding never wait for etcd.
func (f *Fleet) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
		for f.publishBatch(ctx) {
		}
	}
}

// publishBatch writes one transaction's worth of verdicts and reports
// whether there may be more. A failed write keeps them queued: it is tried
// again a moment later, and a new session queues every verdict anyway.
func (f *Fleet) publishBatch(ctx context.Context) bool {
	client, ids, ops, puts := f.takeBatch()
	if len(ops) == 0 {
		return false
	}
	op, cancel := context.WithTimeout(ctx, opTimeout)
	_, err := client.Txn(op).Then(ops...).Commit()
	cancel()
	if err != nil {
		f.mu.Lock()
		for _, id := range ids {
			f.dirty[id] = true
		}
		f.mu.Unlock()
		time.AfterFunc(retryEvery, func() { f.markDirtyWake() })
		return false
	}
	countWrites(len(ops), puts)
	return true
}

// takeBatch takes up to maxOpsPerTxn queued verdicts as etcd operations:
// a put under the lease for a verdict held, a delete for one taken back.
// puts counts the verdicts among them. Nothing while there is no session (the next one queues everything).
func (f *Fleet) takeBatch() (client *clientv3.Client, ids []string, ops []clientv3.Op, puts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lease == 0 || f.client == nil {
		return nil, nil, nil, 0
	}
	for id := range f.dirty {
		if len(ops) == maxOpsPerTxn {
			break
		}
		delete(f.dirty, id)
		ids = append(ids, id)
		key := f.keys.verdict(id, f.cfg.Member)
		if t := f.targets[id]; t != nil && t.own != nil {
			ops = append(ops, clientv3.OpPut(key, t.own.encode(), clientv3.WithLease(f.lease)))
			puts++
		} else {
			ops = append(ops, clientv3.OpDelete(key))
		}
	}
	return f.client, ids, ops, puts
}

// markDirtyWake wakes the publisher for what is queued.
func (f *Fleet) markDirtyWake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}
