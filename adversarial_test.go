package inmem_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/require"
)

// An adversarial directory: between reopens, one file of the database is damaged or planted —
// a junk file with a snapshot's name, a flipped bit in a snapshot's header or body, a
// truncated snapshot, a damaged segment header — and the database goes on: it recovers,
// commits, snapshots, retires its log, crashes (a power loss whose pages land in any order)
// and is reopened, round after round.
//
// Until a segment is damaged every acknowledged commit is present after every reopen: any one
// damaged snapshot is survivable. A damaged segment may lose commits, but only when recovery
// says so (something set aside, or damage counted), or when Open refuses with ErrCorruption
// naming the file; never a silent gap. One committer writes numbered keys, so what recovery
// keeps must be exactly a prefix of them.

// advSetting reads a positive count from the environment (make stress sets more), or def.
func advSetting(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func advRounds() int { return advSetting("INMEM_ADVERSARIAL_ROUNDS", 40) }

func TestAdversarialDirectory(t *testing.T) {
	for seed := range advSetting("INMEM_ADVERSARIAL_SEEDS", 3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			advRun(t, uint64(seed), advRounds())
		})
	}
}

// advState is what the test knows of the database between rounds.
type advState struct {
	t      *testing.T
	rng    *rand.Rand
	fs     *vfs.CrashFS
	run    inmem.RunID
	acked  int  // keys k0 … k(acked-1) were acknowledged
	lossOK bool // a segment was damaged: recovery may report a loss
}

func advOptions(o *inmem.Options) {
	smallSegments(o)
	snapshotOften(o)
	o.Snapshot.OnClose = false
}

func advRun(t *testing.T, seed uint64, rounds int) {
	s := &advState{t: t, rng: rand.New(rand.NewPCG(seed, 0xadd)), fs: cfsNewFS(t)}
	db := cfsOpen(t, s.fs, advOptions)
	s.run = newRun(t, db)
	for round := range rounds {
		s.commit(db)
		_, err := db.Snapshot()
		require.NoError(t, err, "round %d", round)
		s.commit(db)
		img := s.fs.CrashPages(s.rng)
		_ = db.Close()
		s.fs = img
		what := s.damage()
		var ok bool
		if db, ok = s.reopen(what); !ok {
			return // refused, as allowed: the test ends with the directory it cannot open
		}
		t.Logf("round %d: %s; %d keys", round, what, s.acked)
	}
	require.NoError(t, db.Close())
}

// commit acknowledges a random number of keys, continuing the prefix.
func (s *advState) commit(db *inmem.DB) {
	for range s.rng.IntN(60) {
		key := fmt.Sprintf("k%06d", s.acked)
		require.NoError(s.t, db.KV().Put(ctx, s.run, key, make([]byte, 64+s.rng.IntN(200))))
		s.acked++
	}
}

// reopen recovers the damaged image and checks what it holds against the rules above. It
// returns false when Open refused, which only a damaged segment allows.
func (s *advState) reopen(what string) (*inmem.DB, bool) {
	t := s.t
	db, err := inmem.Open(cfsDir, cfsOptions(s.fs, advOptions))
	if err != nil {
		require.True(t, s.lossOK, "after %s, Open failed with no segment damaged: %v", what, err)
		require.ErrorIs(t, err, inmem.ErrCorruption, "after %s", what)
		require.Contains(t, err.Error(), cfsDir, "the error names the file")
		return nil, false
	}
	rec := db.LastRecovery()
	keys, err := db.KV().List(s.run, "k")
	require.NoError(t, err)
	for i, k := range keys {
		require.Equal(t, fmt.Sprintf("k%06d", i), k, "after %s: a gap in the commit order", what)
	}
	if len(keys) < s.acked {
		require.True(t, s.lossOK, "after %s: %d of %d acknowledged commits, no segment damaged", what, len(keys), s.acked)
		require.True(t, len(rec.Quarantined) > 0 || rec.CorruptEntries > 0,
			"after %s: %d acknowledged commits lost and recovery did not say so", what, s.acked-len(keys))
		s.acked = len(keys)
	}
	require.Len(t, keys, s.acked, "after %s: commits that were never made", what)
	if db.RunStatus(s.run) == inmem.RunOrphaned {
		require.NoError(t, db.ResumeRun(ctx, s.run))
	}
	return db, true
}

// damage harms or plants one file of the image and says what it did.
func (s *advState) damage() string {
	snaps := s.files(filepath.Join(cfsDir, "snapshots"), ".dat")
	segs := s.files(filepath.Join(cfsDir, "wal"), ".wal")
	switch op := s.rng.IntN(8); {
	case op == 0:
		return s.plantJunk()
	case op <= 2 && len(snaps) > 0:
		p := snaps[s.rng.IntN(len(snaps))]
		at := s.rng.IntN(39)
		s.edit(p, func(b []byte) []byte { b[at] ^= 1 << s.rng.IntN(8); return b })
		return fmt.Sprintf("a bit flipped in the header of %s at %d", filepath.Base(p), at)
	case op == 3 && len(snaps) > 0:
		p := snaps[s.rng.IntN(len(snaps))]
		s.edit(p, func(b []byte) []byte { b[39+s.rng.IntN(len(b)-39)] ^= 0x10; return b })
		return "a bit flipped in the body of " + filepath.Base(p)
	case op == 4 && len(snaps) > 0:
		p := snaps[s.rng.IntN(len(snaps))]
		s.edit(p, func(b []byte) []byte { return b[:s.rng.IntN(len(b))] })
		return "truncated " + filepath.Base(p)
	case op == 5 && len(segs) > 0:
		p := segs[s.rng.IntN(len(segs))]
		at := s.rng.IntN(24)
		s.edit(p, func(b []byte) []byte {
			if at < len(b) {
				b[at] ^= 0x20
			}
			return b
		})
		s.lossOK = true
		return fmt.Sprintf("segment header %s damaged at %d", filepath.Base(p), at)
	}
	return "nothing damaged"
}

// plantJunk writes a file with a snapshot's name: a plausible header with a bogus offset and
// no valid CRC, or garbage; dated before, among or after the real snapshots.
func (s *advState) plantJunk() string {
	digits := fmt.Sprintf("%020d", s.rng.Uint64N(1<<63))
	b := []byte("INMEM_SNAP")
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint64(b, s.rng.Uint64())
	b = binary.LittleEndian.AppendUint64(b, s.rng.Uint64()) // wal_offset
	b = binary.LittleEndian.AppendUint64(b, s.rng.Uint64())
	b = append(b, 1, 1, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0)
	if s.rng.IntN(2) == 0 {
		b = []byte("garbage, not a snapshot")
	}
	path := filepath.Join(cfsDir, "snapshots", "snapshot_"+digits+".dat")
	f, err := s.fs.Create(path)
	if errors.Is(err, os.ErrNotExist) {
		return "nothing planted (no snapshot directory yet)"
	}
	require.NoError(s.t, err)
	_, err = f.Write(b)
	require.NoError(s.t, err)
	require.NoError(s.t, errors.Join(f.Sync(), f.Close()))
	return "junk planted as " + filepath.Base(path)
}

func (s *advState) files(dir, suffix string) []string {
	names, err := s.fs.List(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// edit rewrites the file at path with fn's result.
func (s *advState) edit(path string, fn func([]byte) []byte) {
	size, err := s.fs.Stat(path)
	require.NoError(s.t, err)
	f, err := s.fs.OpenReadWrite(path)
	require.NoError(s.t, err)
	b := make([]byte, size)
	_, err = f.ReadAt(b, 0)
	require.NoError(s.t, err)
	b = fn(b)
	require.NoError(s.t, f.Truncate(0))
	_, err = f.Seek(0, 0)
	require.NoError(s.t, err)
	_, err = f.Write(b)
	require.NoError(s.t, err)
	require.NoError(s.t, errors.Join(f.Sync(), f.Close()))
}
