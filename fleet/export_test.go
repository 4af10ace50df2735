package fleet

import "slices"

// Accessors only tests need.

// Members returns the live members as this one sees them.
func (f *Fleet) Members() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}
