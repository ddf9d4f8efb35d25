package commitlog

import (
	"errors"
	"fmt"
)

// ErrRangeTaken is returned when an entry-type range overlaps one already registered.
var ErrRangeTaken = errors.New("commitlog: entry-type range already taken")

// Registry maps every entry type to the owner of the range it falls in. Owners are
// small integers chosen by the caller (the engine uses the primitive's registration index). The
// core range 0x00–0x0F belongs to the log itself and cannot be registered.
//
// A Registry is filled before the database starts and only read afterwards, so lookups take no
// lock.
type Registry struct {
	owner [256]int16 // owner+1; 0 = unowned
}

// Register gives owner the inclusive range [lo, hi].
func (r *Registry) Register(owner int, lo, hi uint8) error {
	if lo > hi {
		return fmt.Errorf("commitlog: empty entry-type range %#02x–%#02x", lo, hi)
	}
	if owner < 0 || owner >= 1<<15-1 {
		return fmt.Errorf("commitlog: owner %d out of range", owner)
	}
	if lo <= CoreTypesHigh {
		return fmt.Errorf("%w: %#02x–%#02x overlaps the core range", ErrRangeTaken, lo, hi)
	}
	for t := int(lo); t <= int(hi); t++ {
		if r.owner[t] != 0 {
			return fmt.Errorf("%w: %#02x–%#02x overlaps owner %d at %#02x",
				ErrRangeTaken, lo, hi, r.owner[t]-1, t)
		}
	}
	for t := int(lo); t <= int(hi); t++ {
		r.owner[t] = int16(owner + 1)
	}
	return nil
}

// Owner returns the owner of entry type t, or false if no range contains it (an unknown type:
// skipped and counted by readers, for forward compatibility).
func (r *Registry) Owner(t uint8) (int, bool) {
	o := r.owner[t]
	return int(o) - 1, o != 0
}
