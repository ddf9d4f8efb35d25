package commitlog

// Entry is one record of the write-ahead log as the engine and the primitives see it: the
// envelope fields without the framing (length and CRC), which belong to the on-disk encoding.
//
// Payload conventions every primitive follows (so that the engine can route an entry without
// knowing its primitive): a transactional entry's payload starts with the 16-byte RunID of the
// transaction's run. The rest of the payload is the owning primitive's business, versioned by
// Version.
type Entry struct {
	Type    uint8  // entry type; the owning primitive is found by range (see Registry)
	Version uint8  // payload format version of this entry type (1 for every type today)
	TxID    uint64 // commit version of the transaction; 0 = not part of a transaction
	Payload []byte // owned by the entry once it is handed to the log: never modified afterwards

	// Decoded is in memory only, never logged: what the primitive that built the entry decoded
	// its payload to, so that its Apply need not decode the payload again on the commit path.
	// Nil in every entry read back from a log or a snapshot; Apply decodes those.
	Decoded any
	// LSN is in memory only too: where the entry starts in the log, set once it is logged (by
	// the log stage, or by recovery as it reads). Meaningless without a log (InMemory mode) and
	// in entries read from a snapshot.
	LSN uint64
}

// Core entry types (range 0x00–0x0F, owned by the engine).
const (
	TypeTransactionCommit uint8 = 0x00 // commit marker; payload: the 16 tx_id bytes
	TypeTransactionAbort  uint8 = 0x01
	TypeSnapshotMarker    uint8 = 0x02

	CoreTypesLow  uint8 = 0x00
	CoreTypesHigh uint8 = 0x0F
)

// RunIDSize is the size of the run id that starts every transactional payload.
const RunIDSize = 16
