package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// opTimeout bounds every single request to etcd.
const opTimeout = 5 * time.Second

// retryEvery separates attempts to reach etcd again.
const retryEvery = time.Second

// run keeps a session with etcd for as long as the fleet runs: it makes one,
// serves it until it ends, and tries again. Losing etcd for longer than
// the lease is noticed by tick (see watchdog), not here.
func (f *Fleet) run(ctx context.Context) {
	var warned string
	for ctx.Err() == nil {
		err := f.session(ctx)
		f.mu.Lock()
		f.lease = 0
		f.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if msg := err.Error(); msg != warned {
			log.Warningf("Fleet: member %s: etcd session: %v; trying again every %s", f.cfg.Member, err, retryEvery)
			warned = msg
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryEvery):
		}
	}
}

// session joins the fleet (a lease, the member key under it, the current
// view) and follows it (keep-alives, the watch) until the session ends.
func (f *Fleet) session(ctx context.Context) error {
	client, err := f.dial(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lease, err := f.register(ctx, client)
	if err != nil {
		return err
	}
	alive, err := client.KeepAlive(clientv3.WithRequireLeader(ctx), lease)
	if err != nil {
		return fmt.Errorf("keep-alive: %v", err)
	}
	rev, err := f.join(ctx, client, lease)
	if err != nil {
		return err
	}
	watch := client.Watch(clientv3.WithRequireLeader(ctx), f.keys.root, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-alive:
			if !ok {
				return errors.New("the lease's keep-alive ended (lease expired, or etcd unreachable)")
			}
			f.mu.Lock()
			f.contact = time.Now()
			f.mu.Unlock()
		case w, ok := <-watch:
			if !ok {
				return errors.New("the watch ended")
			}
			if err := w.Err(); err != nil {
				return fmt.Errorf("watch: %v", err)
			}
			if f.apply(w.Events) {
				return errors.New("this member's key was deleted from etcd")
			}
		}
	}
}

// dial makes the etcd client once; it reconnects by itself afterwards.
func (f *Fleet) dial(ctx context.Context) (*clientv3.Client, error) {
	f.mu.Lock()
	client := f.client
	f.mu.Unlock()
	if client != nil {
		return client, nil
	}
	client, err := clientv3.New(f.clientConfig(ctx, opTimeout))
	if err != nil {
		if why := diagnose(ctx, f.cfg); why != nil {
			err = why // the client only says that time ran out
		}
		return nil, fmt.Errorf("connect to %v: %v", f.cfg.Endpoints, err)
	}
	f.mu.Lock()
	f.client = client
	f.mu.Unlock()
	return client, nil
}

// clientConfig is how the fleet's etcd clients connect: within ctx,
// waiting at most dial for a connection (and a token, with credentials).
func (f *Fleet) clientConfig(ctx context.Context, dial time.Duration) clientv3.Config {
	return clientv3.Config{
		Endpoints:            f.cfg.Endpoints,
		Username:             f.cfg.Username,
		Password:             f.cfg.Password,
		TLS:                  f.cfg.TLS,
		DialTimeout:          dial,
		DialKeepAliveTime:    f.cfg.Lease / 3,
		DialKeepAliveTimeout: f.cfg.Lease / 3,
		Logger:               zap.NewNop(),
		Context:              ctx,
	}
}

// register grants a lease and puts the member key under it, unless
// another live process holds the name (then the name is refused until its
// lease ends). A key left by this process's previous session is taken
// over, and so is one without a lease (no member's: someone else wrote it).
func (f *Fleet) register(ctx context.Context, client *clientv3.Client) (clientv3.LeaseID, error) {
	op, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	grant, err := client.Grant(op, int64(math.Ceil(f.cfg.Lease.Seconds())))
	if err != nil {
		return 0, fmt.Errorf("grant a lease: %v", err)
	}
	f.mu.Lock()
	previous := f.previousLease
	f.granted = grant.ID // until settled: Release revokes it if the session ends first
	f.mu.Unlock()
	key := f.keys.member(f.cfg.Member)
	value := encodeMember(time.Now(), f.cfg.secretMark())
	free := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	ours := clientv3.Compare(clientv3.LeaseValue(key), "=", previous)
	unleased := clientv3.Compare(clientv3.LeaseValue(key), "=", 0)
	put := clientv3.OpPut(key, value, clientv3.WithLease(grant.ID))
	orUnleased := clientv3.OpTxn([]clientv3.Cmp{unleased}, []clientv3.Op{put}, nil)
	resp, err := client.Txn(op).If(free).Then(put).
		Else(clientv3.OpTxn([]clientv3.Cmp{ours}, []clientv3.Op{put}, []clientv3.Op{orUnleased})).Commit()
	if err == nil && !registered(resp) {
		err = fmt.Errorf("member name %q is held by another live process: give each replica its own 'member NAME'", f.cfg.Member)
	}
	if err != nil {
		client.Revoke(op, grant.ID)
		return 0, fmt.Errorf("register: %v", err)
	}
	if previous != 0 {
		client.Revoke(op, previous) // its verdicts are published again under the new lease
	}
	f.mu.Lock()
	f.previousLease, f.ttl, f.granted, f.memberValue = grant.ID, time.Duration(grant.TTL)*time.Second, 0, value
	f.mu.Unlock()
	return grant.ID, nil
}

// registered reports whether one of register's nested transactions put
// the member key.
func registered(resp *clientv3.TxnResponse) bool {
	if resp.Succeeded {
		return true
	}
	ours := resp.Responses[0].GetResponseTxn()
	return ours.Succeeded || ours.Responses[0].GetResponseTxn().Succeeded
}

// join reads the whole view, takes it as the fleet's, and queues this
// member's verdicts to be published again under the new lease. It returns
// the revision the view was read at, for the watch to start after.
func (f *Fleet) join(ctx context.Context, client *clientv3.Client, lease clientv3.LeaseID) (int64, error) {
	op, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	resp, err := client.Get(op, f.keys.root, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("read the fleet: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lease, f.contact = lease, time.Now()
	f.members, f.memberLease = f.members[:0], map[string]clientv3.LeaseID{}
	f.verdicts, f.held = map[string]map[string]Verdict{}, 0
	for _, kv := range resp.Kvs {
		if member, target, ok := f.keys.parse(string(kv.Key)); ok && member == f.cfg.Member && target != "" {
			f.markDirty(target) // not this session's (none published yet): rewritten, or deleted
		}
		f.put(kv, true)
	}
	for id, t := range f.targets {
		if t.own != nil {
			f.setVerdict(id, f.cfg.Member, *t.own)
			f.markDirty(id)
		}
	}
	if f.mode == Joined {
		for _, t := range f.targets {
			t.silentSince = time.Time{}
		}
		f.reassign(time.Now())
	} else {
		f.setMode(Joined, fmt.Sprintf("joined a fleet of %d members", len(f.members)))
	}
	return resp.Header.Revision, nil
}

// apply takes watched changes into the view and decides again what they
// touch. This member's own verdicts come from its probing, not from etcd;
// one changed or deleted behind its back is published again. It reports
// whether this member's own key was deleted or overwritten (the session
// must register again).
func (f *Fleet) apply(events []*clientv3.Event) (lost bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	membersChanged := false
	touched := map[string]bool{}
	for _, ev := range events {
		member, target, ok := f.keys.parse(string(ev.Kv.Key))
		switch {
		case !ok:
			f.rejects.warn(time.Now(), ev.Kv.Key, "not a key of this layout")
			continue
		case target == "" && member == f.cfg.Member:
			lost = lost || f.foreignMemberWrite(ev)
			continue
		case target == "":
			membersChanged = true
		case member == f.cfg.Member:
			if f.foreignVerdictWrite(target, ev) {
				f.markDirty(target)
			}
			continue
		default:
			touched[target] = true
		}
		if ev.Type == mvccpb.DELETE {
			f.del(member, target)
		} else {
			f.put(ev.Kv, false)
		}
	}
	now := time.Now()
	if membersChanged {
		f.reassign(now)
		return lost
	}
	for id := range touched {
		if t := f.targets[id]; t != nil {
			f.redecide(t, now)
		}
	}
	return lost
}

// foreignMemberWrite reports whether ev deleted this member's key or
// wrote it as this session did not. Called with f.mu held.
func (f *Fleet) foreignMemberWrite(ev *clientv3.Event) bool {
	if ev.Type == mvccpb.DELETE {
		return true
	}
	if ev.Kv.Lease != int64(f.lease) || string(ev.Kv.Value) != f.memberValue {
		f.rejects.warn(time.Now(), ev.Kv.Key, "this member's key written by someone else: registering again")
		return true
	}
	return false
}

// foreignVerdictWrite reports whether ev left this member's key for
// target other than this member published it (deleted, another value,
// another lease). Called with f.mu held.
func (f *Fleet) foreignVerdictWrite(target string, ev *clientv3.Event) bool {
	t := f.targets[target]
	own := t != nil && t.own != nil
	if ev.Type == mvccpb.DELETE {
		return own
	}
	if ev.Kv.Lease != int64(f.lease) {
		f.rejects.warn(time.Now(), ev.Kv.Key, "this member's verdict written by someone else: writing it again")
		return true
	}
	// Under this session's lease: this member's own write, seen again, is
	// the verdict held or one it held a moment ago (written again then,
	// which costs one write); anything else is someone else's.
	return !own || string(ev.Kv.Value) != t.own.encode()
}

// put takes one key of the view; stale: read at join, not watched.
// Called with f.mu held.
func (f *Fleet) put(kv *mvccpb.KeyValue, stale bool) {
	member, target, ok := f.keys.parse(string(kv.Key))
	switch {
	case !ok:
		f.rejects.warn(time.Now(), kv.Key, "not a key of this layout")
		return
	case target == "":
		f.putMember(member, kv)
		return
	case member == f.cfg.Member:
		return // ours come from our own probing
	}
	v, err := decodeVerdict(kv.Value, f.boundsFor(target))
	if err != nil {
		f.rejects.warn(time.Now(), kv.Key, err.Error())
		f.dropVerdict(target, member) // what it replaced is no longer what the member says
		return
	}
	v.stale, v.lease = stale, clientv3.LeaseID(kv.Lease)
	if lease, live := f.memberLease[member]; live && lease != v.lease {
		// Not its member's write (that comes after its key, under its
		// lease): the verdict it replaced stands until the member writes
		// it back.
		f.rejects.warn(time.Now(), kv.Key, fmt.Sprintf("written under lease %x, not its member's (%x)", kv.Lease, lease))
		return
	}
	if !f.roomFor(target, member) {
		f.rejects.warn(time.Now(), kv.Key, fmt.Sprintf("%d verdicts held already, of targets not watched here or members not live", f.held))
		return
	}
	f.setVerdict(target, member, v)
}

// del removes one key from the view. Called with f.mu held.
func (f *Fleet) del(member, target string) {
	if target == "" {
		delete(f.apart, member)
		f.dropMember(member)
		return
	}
	f.dropVerdict(target, member)
}

// watchdog switches to local mode once etcd has not answered for longer
// than the lease: the peers have lost this member by then, and it must not
// wait for them to decide. Called with f.mu held.
func (f *Fleet) watchdog(now time.Time) {
	lease := max(f.cfg.Lease, f.ttl) // etcd may grant more than asked
	if f.mode != Local && now.Sub(f.contact) > lease {
		f.setMode(Local, fmt.Sprintf("etcd not reached for %s (lease %s): probing every target here and deciding alone",
			now.Sub(f.contact).Round(time.Second), lease))
	}
}

// diagnose finds why no endpoint could be reached, in words an operator
// can act on (connection refused, a certificate etcd's CA did not sign...),
// by connecting to each as the client would: nil if one answers.
func diagnose(ctx context.Context, cfg Config) error {
	var first error
	for _, ep := range cfg.Endpoints {
		err := reach(ctx, ep, cfg.TLS)
		if err == nil {
			return nil
		}
		if first == nil {
			first = fmt.Errorf("%s: %v", ep, err)
		}
	}
	return first
}

// reach connects to an endpoint, with a TLS handshake for https.
func reach(ctx context.Context, endpoint string, tlsConfig *tls.Config) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	if u.Scheme != "https" {
		return nil
	}
	c := &tls.Config{}
	if tlsConfig != nil {
		c = tlsConfig.Clone()
	}
	c.ServerName = u.Hostname()
	c.NextProtos = []string{"h2"}
	return tls.Client(conn, c).HandshakeContext(ctx)
}
