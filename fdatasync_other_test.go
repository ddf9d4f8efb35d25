//go:build !linux

package inmem_test

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
