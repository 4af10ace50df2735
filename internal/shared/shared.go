// Package shared holds what outlives a reload: a keyed, reference-counted
// registry in which the first user of a key makes its value, later users
// share it, and the last one to let go destroys it. A reload that keeps a
// configuration thus keeps what runs for it (a fleet session, a notifier's
// queue), and one that drops it stops it once the old configuration is
// released. Caddy's UsagePool and the metrics plugin's getOrSet are the
// same idea.
package shared

import "sync"

// Registry holds values by key, each with a count of its users. Its zero
// value is ready to use.
type Registry[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]*entry[V]
}

type entry[V any] struct {
	value V
	refs  int
}

// View is the registry as a hook sees it while it holds the registry's
// lock: valid only during that call.
type View[K comparable, V any] struct{ r *Registry[K, V] }

// Find returns a held value that match accepts, if any (say, the value a
// new one takes over from).
func (v View[K, V]) Find(match func(K, V) bool) (V, bool) {
	for k, e := range v.r.entries {
		if match(k, e.value) {
			return e.value, true
		}
	}
	var zero V
	return zero, false
}

// Len returns how many values are held.
func (v View[K, V]) Len() int { return len(v.r.entries) }

// Acquire returns the value held under key, with one more user; without
// one, create makes it, and it is held with one user. create runs with the
// registry locked (it may look at the others through its View, but must
// not wait for anything that uses the registry); an error from it leaves
// nothing held. Every Acquire that succeeds needs a Release.
func (r *Registry[K, V]) Acquire(key K, create func(View[K, V]) (V, error)) (V, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entries[key]; e != nil {
		e.refs++
		return e.value, nil
	}
	v, err := create(View[K, V]{r})
	if err != nil {
		return v, err
	}
	if r.entries == nil {
		r.entries = map[K]*entry[V]{}
	}
	r.entries[key] = &entry[V]{value: v, refs: 1}
	return v, nil
}

// Release drops a user of key's value; the last one removes it and then,
// with the registry unlocked (destroying may wait), calls destroy with it.
// It reports whether that happened. A key not held is a no-op.
func (r *Registry[K, V]) Release(key K, destroy func(V)) bool {
	r.mu.Lock()
	e := r.entries[key]
	if e == nil {
		r.mu.Unlock()
		return false
	}
	e.refs--
	last := e.refs == 0
	if last {
		delete(r.entries, key)
	}
	r.mu.Unlock()
	if last && destroy != nil {
		destroy(e.value)
	}
	return last
}

// ReleaseLocked is Release with destroy called before the registry is
// unlocked: for a destroy that is quick and must not interleave with the
// next Acquire of the same key (deleting metric series that a new user
// would otherwise see deleted after it made them again).
func (r *Registry[K, V]) ReleaseLocked(key K, destroy func(V)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[key]
	if e == nil {
		return false
	}
	e.refs--
	if e.refs > 0 {
		return false
	}
	delete(r.entries, key)
	if destroy != nil {
		destroy(e.value)
	}
	return true
}

// Do calls fn with the registry locked, for a decision that must not
// interleave with Acquire (say, forgetting what the last value exported).
func (r *Registry[K, V]) Do(fn func(View[K, V])) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(View[K, V]{r})
}

// Len returns how many values are held.
func (r *Registry[K, V]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}
