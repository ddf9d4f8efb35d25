package actors

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Every entry of a logged batch carries the LSN it was written at, whatever came before the
// batch in the log's buffer: the run journal finds its steps in the log by these LSNs.
func TestLoggedBatchStampsLSNs(t *testing.T) {
	b := &Batch{}
	for v, payloads := range [][]string{{"a", "bcd"}, {}, {"efghij"}} {
		c := NewCommit(extension.RunID{1}, 0)
		c.Version = uint64(v + 1)
		for _, p := range payloads {
			c.Entries = append(c.Entries, commitlog.Entry{Type: 0x20, Version: 1, TxID: c.Version, Payload: []byte(p)})
		}
		b.Commits = append(b.Commits, c)
	}
	prefix := []byte("bytes of the batches written before this one")
	buf, err := b.AppendEncoded(append([]byte(nil), prefix...))
	require.NoError(t, err)
	const logStart = 1000 // the LSN of the buffer's first byte
	b.EndLSN = logStart + uint64(len(buf))
	b.stampLSNs()

	var want []uint64 // every non-marker entry's LSN, decoded back from the buffer
	for off := len(prefix); off < len(buf); {
		e, n, err := commitlog.DecodeEntry(buf[off:])
		require.NoError(t, err)
		if e.Type != commitlog.TypeTransactionCommit {
			want = append(want, logStart+uint64(off))
		}
		off += n
	}
	var got []uint64
	for _, c := range b.Commits {
		for _, e := range c.Entries {
			got = append(got, e.LSN)
		}
	}
	require.Equal(t, want, got)
}
