// Package reload keeps the books of a plugin's generations: the handlers of
// one load of the Corefile each. During a reload two generations run at
// once (the new one starts before the old one stops), and a reload that
// fails may leave one started that nothing will stop. The books say which
// generations run, which is the newest (its handlers speak: events, the
// status page), which handler a new one replaces, and which started ones
// their server dropped. What a generation is to the server (caddy's
// instances) stays with the caller, as a function that says whether the
// server still lists it.
package reload

import "sync"

// Generation is the handlers of one load.
type Generation[H comparable] struct {
	// Handlers are the generation's handlers, one per server block; the
	// caller appends them while it sets the load up, before any starts.
	Handlers []H
	seq      uint64 // orders generations: the newest load is the highest
	// listed: the server listed the generation when one of its handlers
	// started; one never listed (a test's) is never swept.
	listed  bool
	running int // its started handlers
}

// Books are the generations of one plugin. The zero value is ready.
type Books[H comparable] struct {
	mu      sync.Mutex
	seq     uint64
	started map[*Generation[H]]bool
}

// New makes the generation of a new load, newer than every one before.
func (b *Books[H]) New() *Generation[H] {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return &Generation[H]{seq: b.seq}
}

// Enter records that a handler of g started; listed says whether the server
// lists g now (a generation listed once can be swept when it no longer is).
func (b *Books[H]) Enter(g *Generation[H], listed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started == nil {
		b.started = map[*Generation[H]]bool{}
	}
	g.listed = g.listed || listed
	b.started[g] = true
	g.running++
}

// Leave records that a handler of g stopped; once none runs, g is no longer
// started.
func (b *Books[H]) Leave(g *Generation[H]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started[g] {
		return
	}
	if g.running--; g.running == 0 {
		delete(b.started, g)
	}
}

// Sweep forgets the started generations that were listed and no longer are
// (listed says which are now): the server dropped them without stopping
// them, and the caller stops their handlers. It returns them, and the
// handlers of the started generations that remain.
func (b *Books[H]) Sweep(listed func(*Generation[H]) bool) (dead []*Generation[H], live []H) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for g := range b.started {
		if g.listed && !listed(g) {
			dead = append(dead, g)
			delete(b.started, g)
		}
	}
	for g := range b.started {
		live = append(live, g.Handlers...)
	}
	return dead, live
}

// Newest returns the newest started generation (nil: none) and every
// started one.
func (b *Books[H]) Newest() (*Generation[H], []*Generation[H]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var newest *Generation[H]
	all := make([]*Generation[H], 0, len(b.started))
	for g := range b.started {
		all = append(all, g)
		if newest == nil || g.seq > newest.seq {
			newest = g
		}
	}
	return newest, all
}

// Others returns the handlers of the started generations other than g
// that same accepts: the candidates a handler of g replaces.
func (b *Books[H]) Others(g *Generation[H], same func(H) bool) []H {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []H
	for o := range b.started {
		if o == g {
			continue
		}
		for _, h := range o.Handlers {
			if same(h) {
				out = append(out, h)
			}
		}
	}
	return out
}
