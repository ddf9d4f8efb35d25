package mvcc

// Run is what a run id must offer to key Tables: equality, a seeded hash for the maps of runs,
// and the shard that owns it.
type Run interface {
	comparable
	Hash(seed uint64) uint64
	Shard(n int) int
}

// Tables is the state of a keyed primitive — KV pairs, JSON documents, state cells: one Table
// per shard, a run's names in the table of the shard that owns the run. It is the scaffolding
// those primitives share; each wraps the tables it adds (Add) in its own shard type, which
// applies its entries and writes its snapshot section.
type Tables[R Run, V any] struct {
	shards   []*Table[R, V]
	keepDead bool
}

// NewTables returns the tables of n shards, made by Add; keepDead is the tables' (see Table).
func NewTables[R Run, V any](n int, keepDead bool) Tables[R, V] {
	return Tables[R, V]{shards: make([]*Table[R, V], n), keepDead: keepDead}
}

// Add makes shard id's table. The engine makes each shard once, before it starts.
func (t *Tables[R, V]) Add(id int) *Table[R, V] {
	t.shards[id] = NewTable[R, V](t.keepDead, R.Hash)
	return t.shards[id]
}

// Shard returns shard i's table; Len how many shards there are.
func (t *Tables[R, V]) Shard(i int) *Table[R, V] { return t.shards[i] }
func (t *Tables[R, V]) Len() int                 { return len(t.shards) }

// Of returns the table of run's shard.
func (t *Tables[R, V]) Of(run R) *Table[R, V] { return t.shards[run.Shard(len(t.shards))] }

// Chain returns the chain of run's name as a reader at snapshot finds it (see Table.Chain).
func (t *Tables[R, V]) Chain(run R, name string, snapshot uint64) *Chain[V] {
	return t.Of(run).Chain(run, name, snapshot)
}

// Newest returns the newest version of run's name, applied or not; nil if it has none.
// Validation reads it: a version newer than a transaction's snapshot is a conflict.
func (t *Tables[R, V]) Newest(run R, name string) *Version[V] {
	if c := t.Chain(run, name, Latest); c != nil {
		return c.Latest()
	}
	return nil
}

// NewestCommit returns the commit version of Newest; 0 if the name has none.
func (t *Tables[R, V]) NewestCommit(run R, name string) uint64 {
	if v := t.Newest(run, name); v != nil {
		return v.Commit
	}
	return 0
}
