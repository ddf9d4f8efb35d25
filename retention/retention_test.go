package retention

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/inmemdb/inmem/extension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

func ended(ages ...time.Duration) []Ended {
	out := make([]Ended, len(ages))
	for i, age := range ages {
		out[i] = Ended{Run: extension.RunID{byte(i + 1)}, EndedAt: t0.Add(-age)}
	}
	return out
}

func ids(bytes ...byte) []extension.RunID {
	out := make([]extension.RunID, len(bytes))
	for i, b := range bytes {
		out[i] = extension.RunID{b}
	}
	return out
}

func TestDoomed(t *testing.T) {
	runs := ended(5*time.Minute, time.Hour, time.Second, 2*time.Hour) // runs 1…4
	assert.Empty(t, Policy{}.Doomed(runs, t0), "the zero policy keeps everything")
	assert.Equal(t, ids(4, 2), Policy{TTL: 30 * time.Minute}.Doomed(runs, t0), "oldest first")
	assert.Equal(t, ids(4, 2, 1), Policy{MaxEnded: 1}.Doomed(runs, t0), "all but the newest")
	assert.Equal(t, ids(4, 2), Policy{TTL: 30 * time.Minute, MaxEnded: 3}.Doomed(runs, t0), "the TTL dooms more")
	assert.Equal(t, ids(4, 2, 1), Policy{TTL: 30 * time.Minute, MaxEnded: 1}.Doomed(runs, t0), "the count dooms more")
	assert.Empty(t, Policy{MaxEnded: 4}.Doomed(runs, t0))

	tied := []Ended{{Run: extension.RunID{9}, EndedAt: t0}, {Run: extension.RunID{3}, EndedAt: t0}}
	assert.Equal(t, ids(3), Policy{MaxEnded: 1}.Doomed(tied, t0), "ties go by id")
}

func TestInterval(t *testing.T) {
	assert.Equal(t, 5*time.Second, Policy{TTL: 10 * time.Second}.Interval())
	assert.Equal(t, time.Minute, Policy{TTL: 24 * time.Hour}.Interval())
	assert.Equal(t, time.Minute, Policy{MaxEnded: 10}.Interval())
	assert.Equal(t, minInterval, Policy{TTL: time.Nanosecond}.Interval(), "never a ticker of 0")
}

// fakeDB is the actor's view of a database: ended runs with their end times, deletions.
type fakeDB struct {
	mu      sync.Mutex
	runs    map[extension.RunID]time.Time
	deleted []extension.RunID
	fail    error
}

func (f *fakeDB) end(run byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[extension.RunID{run}] = time.Now()
}

func (f *fakeDB) config(p Policy) Config {
	return Config{Policy: p, Now: time.Now,
		Ended: func() []Ended {
			f.mu.Lock()
			defer f.mu.Unlock()
			var out []Ended
			for id, at := range f.runs {
				out = append(out, Ended{Run: id, EndedAt: at})
			}
			return out
		},
		Delete: func(_ context.Context, run extension.RunID) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.fail != nil {
				return f.fail
			}
			delete(f.runs, run)
			return nil
		},
		Deleted: func(run extension.RunID) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.deleted = append(f.deleted, run)
		},
		Failed: func(extension.RunID, error) {},
	}
}

func (f *fakeDB) gone() []extension.RunID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]extension.RunID(nil), f.deleted...)
}

func TestActorDeletesByAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDB{runs: map[extension.RunID]time.Time{}}
		a := Start(f.config(Policy{TTL: 10 * time.Second}))
		defer a.Stop()
		f.end(1)
		time.Sleep(6 * time.Second)
		f.end(2)
		time.Sleep(4*time.Second + time.Millisecond) // the pass at 10 s: run 1 is exactly 10 s old
		synctest.Wait()
		assert.Empty(t, f.gone(), "not older than the TTL yet")
		time.Sleep(5 * time.Second) // the pass at 15 s
		synctest.Wait()
		assert.Equal(t, ids(1), f.gone())
		time.Sleep(5 * time.Second) // 20 s: run 2 is 14 s old
		synctest.Wait()
		assert.Equal(t, ids(1, 2), f.gone())
	})
}

func TestActorKeepsACountSoonAfterARunEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDB{runs: map[extension.RunID]time.Time{}}
		a := Start(f.config(Policy{MaxEnded: 2}))
		defer a.Stop()
		for run := byte(1); run <= 3; run++ {
			f.end(run)
			time.Sleep(time.Millisecond)
		}
		a.Kick()
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, ids(1), f.gone(), "well before the minute's pass")
	})
}

func TestActorFailedDeletionIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDB{runs: map[extension.RunID]time.Time{}, fail: errors.New("disk full")}
		f.end(1)
		a := Start(f.config(Policy{TTL: time.Second}))
		defer a.Stop()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Empty(t, f.gone())
		f.mu.Lock()
		f.fail = nil
		f.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, ids(1), f.gone())
	})
}

func TestActorStopsBetweenDeletions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeDB{runs: map[extension.RunID]time.Time{}}
		for run := byte(1); run <= 5; run++ {
			f.end(run)
		}
		var a *Actor
		cfg := f.config(Policy{MaxEnded: 1})
		deleted := cfg.Deleted
		cfg.Deleted = func(run extension.RunID) {
			deleted(run)
			go a.Stop() // stop arrives while the pass is under way
			time.Sleep(time.Millisecond)
		}
		a = Start(cfg)
		a.Kick()
		time.Sleep(time.Second)
		synctest.Wait()
		require.NotEmpty(t, f.gone())
		assert.Less(t, len(f.gone()), 4, "the pass stopped before deleting every doomed run")
		a.Stop()
	})
}
