// Package actors runs the engine: actor goroutines with their lifecycle and supervision, the
// request/reply helper, and the commit pipeline built from them.
//
//	Tx.Commit ─▶ Sequencer ─▶ LogStage ─▶ shard actors ─▶ Publisher ─▶ reply
//	             validate,    (durable)   apply their     advance
//	             version                  entries         visible
//
// The Sequencer is one goroutine: it drains every commit waiting in its mailbox, validates each
// against the newest state (published state read from the primitives, plus the writes it has
// sequenced but not yet seen published, which it keeps in a staged table), assigns dense commit
// versions and forwards the survivors as one Batch. The log stage makes a batch durable (a no-op
// in InMemory mode) and hands it on. The Applier sends a batch to the shard actors of its commits'
// runs (actor i owns shard i of every primitive), each applying every primitive's share of its
// runs; the last actor to finish a batch hands it to the Publisher, which publishes batches strictly in order and only then replies to their
// commits. So a commit is acknowledged only when it and every commit before it are visible.
//
// A lone commit (InMemory mode, nothing else in flight, the sequencer and its shard actor idle)
// runs the same steps on its committer's goroutine instead (Pipeline.Submit): it sequences
// under the sequencer's mutex, applies under its shard actor's mutex, and is published. Each
// state still has one owner at a time — the actor goroutine takes the same mutex for every
// drain of its mailbox — and a commit is never inline while another is in the pipeline, so
// the order of versions and publications is the pipeline's. It saves the three goroutine
// hand-offs a commit otherwise costs (~40 % of a one-key put); with concurrent committers
// there is always a commit in flight, and commits take the pipeline and are batched.
//
// # Follow one commit
//
// The functions a commit passes through, in order (root package first):
//
//  1. Tx.CommitWith (tx.go) builds an actors.Commit from the transaction's parts;
//     DB.submit (db.go) checks the context and hands it over.
//  2. Pipeline.Submit (pipeline.go) puts it in the sequencer's mailbox.
//  3. Sequencer.Run → sequence → validate (sequencer.go): checked against published and staged
//     state, given a version and a timestamp, its entries built; forward sends the Batch on.
//  4. LogStage.Submit (logstage.go) → commitlog.Writer.Run → handle, write, sync
//     (commitlog/writer.go): the batch encoded (Batch.AppendEncoded, commit.go), written,
//     fdatasynced; Batch.Logged moves it on.
//  5. Applier.Submit (applier.go) → shardActor.run → apply: each actor applies its runs'
//     entries, primitive by primitive (extension.Shard.Apply); Applier.done hands the batch on.
//  6. Publisher.Complete (publisher.go): published in version order (Clock.Publish), then
//     every commit finished; Commit.Await (commit.go) returns in DB.submit.
//
// Inline path (InMemory, nothing else in flight): Pipeline.Submit → commitInline →
// Sequencer.Inline → sequence → Applier.applyClaimed → Publisher.Complete, all on the
// committer's goroutine, under the sequencer's and the actor's mutexes.
//
// Failure: an actor whose Apply fails (malformed input: a bug or corruption, since everything
// that can fail is validated before logging) stops the engine. The batch is never published, every
// waiting and later commit fails with the cause, and Stop returns it.
//
// Shutdown is in dependency order: closing the sequencer's mailbox lets it drain and forward what
// it accepted, then it closes the next stage, and so on down the pipeline, so nothing accepted is
// dropped and no goroutine outlives Stop.
package actors
