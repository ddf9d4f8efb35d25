package snapshotter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/vfs"
)

// Files: <dir>/snapshot_<timestamp µs, 20 digits>.dat, written as .tmp first.
const (
	filePrefix = "snapshot_"
	fileSuffix = ".dat"
	tmpSuffix  = ".tmp"
)

// recycledName is the file of a snapshot retention let go, kept to be written over by the next
// snapshot instead of removed. Removing a file the size of the state, and allocating the next
// one, stalled the WAL's syncs for tens of milliseconds on ext4 (freeing and allocating ~200 MB
// of blocks goes through the filesystem's journal, which the log's fdatasync waits for);
// writing over blocks a file already has needs neither. The price is disk space: one more
// snapshot-sized file. Nothing reads it; it may be deleted while the database is closed.
const recycledName = "recycled.old"

// Info describes a snapshot file.
type Info struct {
	Path string
	Header
}

// Time returns the snapshot's timestamp.
func (i Info) Time() time.Time { return time.UnixMicro(i.Timestamp) }

func fileName(ts int64, suffix string) string {
	return fmt.Sprintf("%s%020d%s", filePrefix, ts, suffix)
}

// parseName returns the timestamp of a snapshot file name with the given suffix.
func parseName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, filePrefix)
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, suffix); !ok || len(digits) != 20 {
		return 0, false
	}
	ts, err := strconv.ParseInt(digits, 10, 64)
	return ts, err == nil
}

// List returns the snapshots in dir, newest first, from their names and headers. A file whose
// header does not read is listed with its name's timestamp and zero offsets: recovery validates
// every file whole and skips it. A missing dir is an empty list.
func List(fs vfs.FS, dir string) ([]Info, error) {
	names, err := fs.List(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snapshotter: list %s: %w", dir, err)
	}
	var out []Info
	for _, name := range names {
		ts, ok := parseName(name, fileSuffix)
		if !ok {
			continue
		}
		info := Info{Path: filepath.Join(dir, name), Header: Header{Timestamp: ts}}
		if h, err := readHeaderOf(fs, info.Path); err == nil {
			info.Header = h
			info.Timestamp = ts // the name orders snapshots, whatever a damaged header says
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Timestamp > out[j].Timestamp })
	return out, nil
}

func readHeaderOf(fs vfs.FS, path string) (Header, error) {
	f, err := fs.Open(path)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	return ReadHeader(f)
}

// RemoveTemporary deletes the .tmp files a crash left behind mid-snapshot. Their names were
// never durable as .dat, so nothing refers to them.
func RemoveTemporary(fs vfs.FS, dir string) (removed int, err error) {
	names, err := fs.List(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for _, name := range names {
		if strings.HasPrefix(name, filePrefix) && strings.HasSuffix(name, tmpSuffix) { // whatever its digits
			if err := fs.Remove(filepath.Join(dir, name)); err != nil {
				return removed, err
			}
			removed++
		}
	}
	if removed > 0 {
		err = fs.SyncDir(dir)
	}
	return removed, err
}

// ReadFile reads and validates a whole snapshot file.
func ReadFile(fs vfs.FS, path string) (Header, []Section, error) {
	size, err := fs.Stat(path)
	if err != nil {
		return Header{}, nil, err
	}
	if size < HeaderSize+trailerSize {
		return Header{}, nil, fmt.Errorf("%w: %s is %d bytes", ErrInvalid, path, size)
	}
	f, err := fs.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil {
		return Header{}, nil, fmt.Errorf("snapshotter: read %s: %w", path, err)
	}
	return Decode(data)
}

// Verify validates a whole snapshot file as Decode does, streaming it: memory stays bounded
// whatever the file's size. It returns the header. A file that is not a valid snapshot is an
// error wrapping ErrInvalid; any other error is one of reading it.
func Verify(fs vfs.FS, path string) (Header, error) {
	size, err := fs.Stat(path)
	if err != nil {
		return Header{}, err
	}
	f, err := fs.Open(path)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	var head [HeaderSize]byte
	if size >= HeaderSize {
		if _, err := f.ReadAt(head[:], 0); err != nil {
			return Header{}, fmt.Errorf("snapshotter: read %s: %w", path, err)
		}
	}
	h, err := checkHeader(head[:], size)
	if err != nil {
		return Header{}, fmt.Errorf("%s: %w", path, err)
	}
	body := size - trailerSize
	crc := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(crc, io.NewSectionReader(f, 0, body), make([]byte, 1<<20)); err != nil {
		return Header{}, fmt.Errorf("snapshotter: read %s: %w", path, err)
	}
	var tail [trailerSize]byte
	if _, err := f.ReadAt(tail[:], body); err != nil {
		return Header{}, fmt.Errorf("snapshotter: read %s: %w", path, err)
	}
	if got, want := crc.Sum32(), binary.LittleEndian.Uint32(tail[:]); got != want {
		return Header{}, fmt.Errorf("%w: %s: CRC %#08x, file says %#08x", ErrInvalid, path, got, want)
	}
	if err := walkSections(f, head[38], body, nil); err != nil {
		return Header{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// RetireSegments takes the WAL segments in walDir that lie wholly below the LSN below — those
// whose successor starts at or below it — out of the log, keeping of them only what the ranges
// in history still read (commitlog.RetireBelow). The last segment is never retired: the log
// appends to it.
//
// This is the one place the log is retired, so the rule that protects it is asserted here:
// below may not exceed newest, the cut of the newest valid snapshot (replay from it must find
// its segment); the caller passes both from snapshots that validated whole.
func RetireSegments(fs vfs.FS, walDir string, below, newest uint64, history []commitlog.Range) (commitlog.Retired, error) {
	if below > newest {
		return commitlog.Retired{}, fmt.Errorf("snapshotter: refusing to retire the log below LSN %d, above the newest "+
			"valid snapshot's cut %d", below, newest)
	}
	done, err := commitlog.RetireBelow(fs, walDir, below, history)
	if err != nil {
		err = fmt.Errorf("snapshotter: retire the log below LSN %d: %w", below, err)
	}
	return done, err
}

// SectionSizes returns the size of each section of the snapshot file at path, by section id,
// reading only the header and the sections' headers (not a validation: Verify is).
func SectionSizes(fs vfs.FS, path string) (map[uint8]int64, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := fs.Stat(path)
	if err != nil {
		return nil, err
	}
	var head [HeaderSize]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("snapshotter: read %s: %w", path, err)
	}
	if _, err := checkHeader(head[:], size); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[uint8]int64{}
	err = walkSections(f, head[38], size-trailerSize, func(id uint8, _, n int64) { out[id] += n })
	return out, err
}
