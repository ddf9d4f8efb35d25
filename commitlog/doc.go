// Package commitlog is the write-ahead log: its on-disk format, segment files, the reader that
// recovery streams, and the group-commit writer the log actor drives (writer.go).
//
// This file is the one place the on-disk format is written down. Every other file of the
// package implements a piece of it and refers back here:
//
//   - envelope.go: AppendEntry / DecodeEntry, the entry codec, and CommitMarker.
//   - segment.go: segment headers and names, ListSegments, and SegmentFile, the append side.
//   - reader.go: Reader, which streams the log from an LSN and classifies damage.
//   - fetch.go: Fetcher, which reads a range [lsn, lsn+n) of whole entries back by LSN, the
//     store behind run history (a run's journal keeps only each step's LSN and length). It maps
//     an LSN to the segment (in the log or the history directory) or history file that holds
//     it, reads with ReadAt from a read-only file per file while the writer appends, lists the
//     directories again when a range is not where it looked, and keeps an optional LRU cache
//     of ranges. There is no torn tail here: the journal recorded the range after the log
//     acknowledged it, so a range no file holds whole (missing, short, damaged, not ending on
//     an entry boundary) is corruption (dberr.ErrCorruption); I/O failures are returned as
//     they are.
//   - history.go: the history directory and the history file format: the part of the log below
//     the snapshots that run history still reads.
//   - retire.go: RetireBelow, which takes segments out of the log and keeps of them, as a value
//     log does, only what the history still reads.
//
// All file I/O goes through the vfs seam (internal/vfs), so tests can crash or fail it.
//
// # Entry envelope (frozen; little-endian)
//
//	offset  size  field
//	0       4     length   u32 = bytes after this field = 1 + 1 + 16 + P + 4 = 22 + P
//	4       1     type     u8 (entry-type registry; see Registry)
//	5       1     version  u8, payload format version of the type (1 for every type today)
//	6       16    tx_id    bytes 0–7: commit version u64 LE; bytes 8–15: zero.
//	                       All 16 zero = not part of a transaction.
//	22      P     payload  owned by the entry type's primitive
//	22+P    4     crc      CRC-32C (Castagnoli) of bytes [4, 22+P)
//
// An encoded entry is EncodedSize(P) = 26 + P bytes and at most MaxEntrySize (64 MiB) bytes:
// AppendEntry refuses larger entries (ErrEntryTooLarge) and DecodeEntry treats a length field
// above the limit as damage (ErrBadLength) without allocating from it. The length field is
// checked before anything else is read, so a damaged length can never cause an allocation or a
// read past the bytes given.
//
// The checksum does not cover the length field: a damaged length shows up as a checksum failure
// over the wrong range, or as an entry that runs past the end of the segment.
//
// The commit marker (type TransactionCommit, 0x00) is the one payload the log itself defines:
// its payload is exactly the 16 tx_id bytes and its tx_id is not zero (CommitMarker builds one).
// AppendEntry refuses a marker that breaks this rule (ErrInvalidMarker); the decoder reports one
// as damage (ErrBadMarker), and a tx_id whose bytes 8–15 are not zero as ErrBadTxID.
//
// # Framing
//
// A transaction is its entries, each stamped with its tx_id, followed by one commit marker.
// Entries of one transaction are contiguous and a write batch never splits a transaction.
// Recovery applies a transaction only when it reads the marker; entries without a marker are
// discarded. Entries with the zero tx_id are applied as they are read. This package only frames
// and checks entries; grouping by tx_id is the recovery engine's job.
//
// # Segments
//
// The log is a directory of segment files named after their base LSN, as 20 decimal digits:
// 00000000000000000000.wal, 00000000000067108890.wal, ... Other names in the directory (for
// example the quarantine/ subdirectory) are ignored. Each segment starts with a 24-byte header:
//
//	offset  size  field
//	0       8     magic    "INMEMWAL"
//	8       4     format   u32 = 1
//	12      8     base     u64, the LSN of the first entry byte in this segment
//	20      4     crc      CRC-32C of bytes [0, 20)
//
// followed by whole entries, back to back, with no padding. A segment is created by: create the
// file, write the header, fsync the file, fsync the directory — all before any commit in it is
// acknowledged (CreateSegment). Only the newest segment is ever appended to; every older segment
// is sealed.
//
// # LSNs
//
// An LSN is a logical byte position in the endless log: it counts entry bytes only, never segment
// headers, and never restarts. The entry at file offset off of the segment with base B has LSN
// B + (off − 24), and the segment's end LSN is B + (file size − 24). Segments are contiguous:
// each segment's base equals the previous segment's end LSN. A gap or an overlap between two
// segments is corruption of the later one (ErrSegmentGap). A snapshot's wal_offset is an LSN,
// and the reader can start at any LSN that is an entry boundary inside the log.
//
// # Torn tails and corruption
//
// When an entry at offset off fails to decode, the Reader classifies the damage:
//
//   - Torn tail: the damage is in the last segment and no valid entry (one that decodes with a good
//     checksum and passes every check above) starts at any offset after off in that segment. A short
//     read, a bad checksum, zeros (a preallocated tail) or garbage to EOF all qualify. This is the
//     normal result of a crash during a write: the reader reports a *TornTailError with the valid
//     end (the offset to truncate the segment to) and the number of bytes dropped, and then ends
//     cleanly (io.EOF). OpenSegmentForAppend truncates the segment to the valid end before new
//     appends, so nothing is ever appended behind garbage.
//   - Torn tail with stranded entries: the damage is in the last segment and valid entries follow
//     it, but the damaged bytes hold a lost write: a sector of zeros (or zeros from the damage to
//     its sector's end). A disk writes a file's unsynced pages back in any order, and segments
//     are preallocated with zeros, so after a power loss an unsynced batch can read as zeros
//     while a later one survived. No completed sync covered the entries after the zeros (a sync
//     would have made the zeros' page durable too), so no commit among them was acknowledged as
//     durable: the log ends at the damage, as for any torn tail. The reader says so
//     (TornTailError.Stranded) so that the caller sets those bytes aside instead of deleting
//     them: genuine damage that zeroed a sector of the last segment looks the same, and is then
//     reported, not silently dropped.
//   - Corruption: damage followed by a valid entry in the same segment, any damage in a sealed
//     segment, a segment gap or overlap, or an entry whose checksum is good but whose content
//     breaks a rule (ErrBadTxID, ErrBadMarker — no crash writes such an entry, so it is corruption
//     wherever it is). The reader reports a *CorruptionError naming the segment, the offset and the
//     LSN of the damage; it never drops or moves anything itself. Reader.Resync skips to the next
//     valid entry for callers that choose to continue past damage.
//
// A segment header is damaged when it is short, fails its checksum, has the wrong magic or names
// a base other than the file name's. A short or checksum-failing header in the last segment with
// no valid entry after it is a torn tail with valid end 0 (the crash came while the segment was
// being created: OpenSegmentForAppend with validEnd 0 writes the header again); every other
// damaged header is corruption at the segment's first byte. A well-formed header with a format
// other than 1 is not damage but ErrUnsupportedFormat: the log was written by a newer version and
// must not be quarantined.
//
// The scan for a valid entry after the damage starts at off+1, not at the end the damaged length
// field claims, because a damaged length must never hide the valid entries after it (that would
// turn corruption into a torn tail and silently truncate acknowledged commits). The price is that
// a torn last entry whose payload happens to contain a complete, correctly checksummed entry is
// reported as corruption: the safe direction, since corruption is set aside, never deleted.
//
// The scan costs a few instructions per byte and computes a checksum only at offsets where an
// entry could start (a length field in range, the entry inside the segment, the high bytes of
// tx_id zero), which random bytes almost never offer: 16 MiB of garbage is scanned in ~60 ms.
// Bytes crafted to offer many such offsets (the payloads of logged entries are the user's)
// would make it checksum up to the rest of the segment at each; so a scan checksums at most a
// few times the segment's size and then gives up, and damage whose scan gave up is
// corruption (a valid entry may follow), never a torn tail: nothing is truncated on a guess.
package commitlog
