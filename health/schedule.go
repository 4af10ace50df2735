package health

import (
	"container/heap"
	"sync"
	"time"
)

// The scheduler runs every monitor's probe rounds: one goroutine keeps the
// monitors in a heap ordered by when their next round is due and hands the
// due ones to a bounded set of workers. A goroutine per target would cost
// its stack (8 KB and more once a probe grew it) and a timer for every
// target, which at tens of thousands of targets is most of the prober's
// memory; workers exist only while rounds are due, so an idle estate costs
// one goroutine. A monitor that no reference asks to probe (see Standby)
// is not in the heap at all: a fleet member's many standby targets cost
// the dispatcher nothing.
type scheduler struct {
	mu      sync.Mutex
	waiting dueHeap    // monitors whose next round is not due yet
	ready   []*Monitor // due, in the order they fell due, waiting for a worker from head on
	head    int
	workers int // running
	busy    int // workers running a round; the others are about to take one from the queue
	max     int // bound on workers
	poke    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	idle    sync.WaitGroup // workers
}

// Where a monitor is, guarded by scheduler.mu.
const (
	monitorIdle    = iota // not scheduled: no reference asks for probing (see Standby)
	monitorWaiting        // in the heap
	monitorReady          // in the ready queue
	monitorRunning        // a worker runs its round
	monitorStopped        // released: it will not run again
)

func newScheduler(workers int) *scheduler {
	s := &scheduler{max: workers, poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go s.dispatch()
	return s
}

// raiseDemand records one more reference asking m to probe. The first
// one, for a new monitor or an idle one, schedules its first round (see
// resume).
func (s *scheduler) raiseDemand(m *Monitor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.demand++; m.demand == 1 && m.where != monitorStopped {
		s.resume(m)
	}
}

// lowerDemand records one reference fewer asking m to probe. After the
// last one m is idle (see pause) and lowerDemand reports it, so that the
// caller closes m's watch (quietIfIdle): that takes the poller's lock,
// which is not to be taken with s.mu held.
func (s *scheduler) lowerDemand(m *Monitor) (idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.demand--; m.demand > 0 || m.where == monitorStopped {
		return false
	}
	s.pause(m)
	return true
}

// pause takes m out of the schedule until resume, so that an idle monitor
// costs the dispatcher nothing. A round already queued or under way is
// left to its worker: a queued one is dropped, one under way finishes and
// its update is delivered, and either way the worker leaves m idle (see
// letGo). Called with s.mu held.
func (s *scheduler) pause(m *Monitor) {
	m.probing.Store(false)
	m.woken = false // a closed watch connection says nothing once the monitor resumes
	if m.where == monitorWaiting {
		heap.Remove(&s.waiting, m.index)
		m.where = monitorIdle
	}
}

// resume starts m probing again, or for the first time. What the tracker
// knew may be any age by now, so the monitor starts afresh (see
// Monitor.forgetIfResumed), and its first round comes after startDelay, as
// a new monitor's does: many targets resuming together (a fleet member
// taking over another's share) spread their rounds. A monitor whose worker
// still has it (paused and resumed during a round) keeps the schedule that
// round sets. Called with s.mu held.
func (s *scheduler) resume(m *Monitor) {
	m.resumes.Add(1)
	if m.where != monitorIdle {
		m.probing.Store(true)
		return
	}
	due := time.Now().Add(startDelay(m.spec.Interval))
	m.scheduleFirst(due)
	m.probing.Store(true) // after scheduleFirst: NextProbe never shows the time from before the pause
	s.push(m, due)
}

// push puts m in the heap, its next round due at due. Called with s.mu held.
func (s *scheduler) push(m *Monitor, due time.Time) {
	m.due = due
	m.where = monitorWaiting
	heap.Push(&s.waiting, m)
	if m.index == 0 {
		s.wake()
	}
}

// wake makes the dispatcher look at the heap again. Called with s.mu held.
func (s *scheduler) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// now brings m's next round forward to now, because its watched connection
// ended. A round already under way or queued runs anyway; the one after it
// is then due at once and counts as woken (see Monitor.round).
func (s *scheduler) now(m *Monitor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.where == monitorStopped || m.demand == 0 {
		return
	}
	m.woken = true
	if m.where == monitorWaiting {
		m.due = time.Now()
		heap.Fix(&s.waiting, m.index)
		if m.index == 0 {
			s.wake()
		}
	}
}

// remove stops scheduling m and waits until no worker runs its round.
// The caller has cancelled the monitor's context, so a round under way ends
// as soon as its probes see it.
func (s *scheduler) remove(m *Monitor) {
	s.mu.Lock()
	where := m.where
	m.where = monitorStopped
	switch where {
	case monitorWaiting:
		heap.Remove(&s.waiting, m.index)
		close(m.done)
	case monitorIdle:
		close(m.done)
	case monitorReady:
		// The worker that takes it from the queue drops it (see work).
	case monitorStopped:
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	<-m.done
}

// close stops the dispatcher and waits for every worker; it is called
// once no monitor is left.
func (s *scheduler) close() {
	close(s.stop)
	<-s.done
	s.idle.Wait()
}

// dispatch moves the monitors whose round is due to the ready queue, in the
// order they fell due, and starts workers for them up to the bound. When
// every worker is busy the queue waits: overload shows as lateness (a round
// starting after it was due), never as a shorter timeout.
func (s *scheduler) dispatch() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		for len(s.waiting) > 0 && !s.waiting[0].due.After(now) {
			m := heap.Pop(&s.waiting).(*Monitor)
			m.where = monitorReady
			s.ready = append(s.ready, m)
		}
		for s.workers < s.max && s.workers-s.busy < len(s.ready)-s.head {
			s.workers++
			s.idle.Add(1)
			go s.work()
		}
		wait := time.Hour
		if len(s.waiting) > 0 {
			wait = s.waiting[0].due.Sub(now)
		}
		s.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-s.stop:
			return
		case <-s.poke:
		case <-timer.C:
		}
	}
}

// work runs the rounds of ready monitors until the queue is empty.
func (s *scheduler) work() {
	defer s.idle.Done()
	s.mu.Lock()
	for s.head < len(s.ready) {
		m := s.ready[s.head]
		s.ready[s.head] = nil
		s.head++
		if s.letGo(m) {
			continue
		}
		m.where = monitorRunning
		woke, due := m.woken, m.due
		m.woken = false
		s.busy++
		s.mu.Unlock()

		next := m.round(woke, due)

		s.mu.Lock()
		s.busy--
		if s.letGo(m) {
			continue
		}
		if m.woken {
			next = time.Now()
		}
		s.push(m, next)
	}
	s.ready, s.head = s.ready[:0], 0
	if cap(s.ready) > maxKeptQueue {
		s.ready = nil // let a burst's large queue go
	}
	s.workers--
	s.mu.Unlock()
}

// letGo reports whether m, just taken from the ready queue or back from
// its round, must not run now, and lets it go: a stopped monitor to
// remove, which waits for that, and one without demand to the idle place
// (see pause). Called with s.mu held.
func (s *scheduler) letGo(m *Monitor) bool {
	switch {
	case m.where == monitorStopped:
		close(m.done)
	case m.demand == 0:
		m.where = monitorIdle
	default:
		return false
	}
	return true
}

// maxKeptQueue is the ready queue capacity kept once it is empty.
const maxKeptQueue = 1024

// dueHeap orders monitors by when their next round is due.
type dueHeap []*Monitor

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *dueHeap) Push(x any) {
	m := x.(*Monitor)
	m.index = len(*h)
	*h = append(*h, m)
}

func (h *dueHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.index = -1
	return m
}
