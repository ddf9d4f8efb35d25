// Package search is the full-text search the database offers over its primitives: a tokenizer,
// BM25 scoring, an inverted index that one writer maintains while many readers search it at
// different snapshot versions, a scan that searches documents no index holds, and the fusion
// of several rankings into one.
//
// # Tokens and scores
//
// A token is a maximal run of Unicode letters and digits, lower-cased rune by rune. A query is
// tokenized the same way and its distinct tokens are its terms. A document's score is the sum,
// over the terms it holds, in the order of their first occurrence in the query, of what the
// Scorer gives each; the default is BM25 with k1 = 1.2 and b = 0.75 (see BM25). Scorer and Fuser
// are interfaces so that the database's options can replace them; RRF (reciprocal-rank fusion,
// k = 60) is the default Fuser.
//
// # Documents
//
// The index is generic over the caller's document reference D (the engine's DocRef: a
// comparable struct) and a Compare function that orders references; ties in score go to the
// smaller reference. Inside, every document version (each Put) gets a docnum, a uint32 given
// out in increasing order, so that a posting is 8 bytes (docnum, term frequency) and a
// reference is stored once per version, in a table by docnum. Only the writer maps references
// to their current docnum. Mapping references to dense ids on the caller's side instead would
// make the engine keep that map per (run, primitive) and translate every hit back.
//
// # Data structure
//
// A generation, which readers load with one atomic load and keep for a whole search, holds:
//
//   - the dictionary: token → term, an xsync map that readers look up without locking (the
//     writer has its own map of the same terms, keyed by value for short tokens, which avoids a
//     cache miss per token on the put path);
//   - per term, its postings in increasing docnum order, in an array the writer appends to in
//     place and, when full, copies into one twice as large;
//   - the document table: per docnum, the version the document version was born at, the
//     version it died at (replaced or deleted; "alive" until then) and its length in tokens;
//   - the reference table: per docnum, the D;
//   - the statistics log: after each version's changes, the number of documents visible and
//     the sum of their lengths.
//
// Tables grow in blocks that never move (16 elements, doubling to 4096), so the writer never
// copies a table while the shard's other commits wait for it.
//
// # The MVCC rule
//
// A reader at version v sees the document version with docnum d if born(d) ≤ v < died(d).
// Its collection statistics are the log's entry for the newest version ≤ v, and a term's
// document frequency is the number of its postings visible at v, counted while the search
// walks them. Everything a BM25 score depends on is therefore that of the documents visible at
// v, and a search at v returns what a brute-force BM25 over them returns, to the bit: the scan
// path, given the same documents, computes the same numbers in the same order.
//
// Only versions the writer has finished applying are searched (the engine publishes a version
// after applying it), so entries the writer is adding, all born after any searched version, are
// never used. Memory safety under concurrent appends comes from publication order: the writer
// fills a slot, then stores the new count with an atomic store; a reader loads the count, then
// the array, and reads below the count. The died version is the one field written after
// publication, atomically. A posting whose docnum is beyond the document table a reader loaded
// was born after the reader's version, and so are all the term's later postings.
//
// # Trim
//
// Trim(oldest) promises that no reader below oldest will come. Document versions that died at
// or before oldest are then dead for every reader; once they are half of the generation (and
// at least defaultMinDead), Trim rebuilds the generation without them, renumbering the others
// in their order (so enumeration order and ties do not change), and publishes it. Readers
// still on the old generation finish on it. A rebuild costs time proportional to what stays,
// so each document version pays for a bounded amount of it; but it is done on the writer and
// stalls it for that time: BenchmarkRebuild100K measures 0.25 to 0.5 s for 100 K documents
// of 1 KiB (8.4 M postings, 150 K terms), most of it per-term work (a map entry, an array).
//
// # Search
//
// A search walks each term's postings once to keep those visible at v (their count is the
// document frequency the scorer needs before scoring anything), then scores term at a time,
// one window of 16 K docnums after the other, into per-docnum accumulators that fit in the
// processor's cache, and offers each window's documents to a top-K heap in docnum order.
// Pruning such as WAND or MaxScore would skip scoring documents that cannot enter the top K,
// but the exact per-version document frequency already requires the walk over every posting,
// and scoring from a cache-resident window costs about as much as that walk: pruning would
// save less than half of a search, at the price of bounds every Scorer would have to provide.
//
// A Request's budget is deterministic where it can be: MaxCandidates bounds the documents
// scored, and candidates are taken in docnum order (the index) or input order (the scan), so
// the same state and request truncate to the same hits. A Deadline is checked every 1024 steps
// and, when past, returns what was found with Truncated set.
package search
