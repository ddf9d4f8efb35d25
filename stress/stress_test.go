package stress_test

import (
	"os"
	"testing"
	"time"

	"github.com/inmemdb/inmem/stress"
	"github.com/stretchr/testify/require"
)

// duration is how long each mode runs: a smoke of a second or two in make test, longer under
// make stress (INMEM_STRESS_DURATION, a Go duration).
func duration(t *testing.T, smoke time.Duration) time.Duration {
	if v := os.Getenv("INMEM_STRESS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "INMEM_STRESS_DURATION")
		return d
	}
	return smoke
}

func config(t *testing.T, smoke time.Duration) stress.Config {
	return stress.Config{Duration: duration(t, smoke), Round: 300 * time.Millisecond, Agents: 8,
		Seed: uint64(time.Now().UnixNano()), Dir: t.TempDir()}
}

// finish prints the report and fails the test on any violation.
func finish(t *testing.T, cfg stress.Config, rep *stress.Report) {
	t.Helper()
	t.Logf("seed %d\n%s", cfg.Seed, rep)
	require.Empty(t, rep.Violations(), "seed %d", cfg.Seed)
	require.Positive(t, rep.Operations.Load())
}

func TestInProcess(t *testing.T) {
	cfg := config(t, 2*time.Second)
	finish(t, cfg, stress.InProcess(cfg))
}

func TestInMemory(t *testing.T) {
	cfg := config(t, 2*time.Second)
	finish(t, cfg, stress.InMemory(cfg))
}

func TestCrashFS(t *testing.T) {
	cfg := config(t, 2*time.Second)
	rep := stress.CrashFS(cfg)
	finish(t, cfg, rep)
	require.Positive(t, rep.Crashes.Load())
}

func TestFaults(t *testing.T) {
	cfg := config(t, 2*time.Second)
	finish(t, cfg, stress.Faults(cfg))
}

func TestCrashLoop(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	cfg := config(t, 3*time.Second)
	rep := stress.CrashLoop(cfg, exe)
	finish(t, cfg, rep)
	require.Positive(t, rep.Crashes.Load())
}
