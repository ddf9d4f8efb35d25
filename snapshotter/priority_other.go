//go:build !linux

package snapshotter

// atLowPriority runs f. Only Linux lowers the priority of one thread (priority_linux.go).
func atLowPriority(f func() error) error { return f() }
