// Package natscoord is a coordinate.Backend over NATS JetStream
// (github.com/nats-io/nats.go and its jetstream package), for fleets of
// load generators: hundreds of nodes wait for one start without one
// statement on the database under test. Coordination and results travel
// through the NATS server only; the database sees the workload and nothing
// else.
//
// # What is stored where
//
// Every name is derived from the run id (validated by
// coordinate.ValidRunID; '_' is written "__" and '.' "_d", so that the id
// is one subject token and part of a bucket name, and no two ids share
// one):
//
//   - key-value bucket startline_<run>: key "run", the run's record as
//     JSON (written by the orchestrator, compare and set on its revision);
//     key node.<id>, each node's record (its id in base64url, which key
//     names accept whatever the id holds); key beat.<id>, the node's last
//     heartbeat alone, so that a beat never overwrites a state; the
//     bucket's stream republishes every stored write of key "run", with
//     its revision (header Nats-Sequence), on subject startline.<run>.run,
//     which the members watch (RePublish, which server 2.9 has);
//   - stream startline_ev_<run> on subject startline.<run>.events: the
//     control events, one message each, numbered by the stream's sequence
//     (assigned by the server: a hostile publisher can add junk, not
//     choose the numbering); a member that reconnects reads on after the
//     last sequence it applied;
//   - subject startline.<run>.clock: the orchestrator's Backend (with
//     Options.ServeClock) answers each request with its clock in Unix
//     nanoseconds, on a connection of its own when it dials (so that the
//     nodes' writes it watches do not queue the requests); the kit reads it
//     several times at Join and a few times more, spread, in the lead
//     before T, and keeps the reading with the least round trip (bound:
//     half of it plus a microsecond);
//   - object store startline_res_<run> (see Results): each node's encoded
//     result, one object per node, chunked, so that a result may exceed the
//     server's largest message;
//   - stream startline_iv_<run> on subject startline.<run>.intervals (see
//     Results.PutRecord and Records): each interval a node streams as it
//     closes, one message each, its node and seq in headers and both in
//     its message id, so that a record sent again is stored once.
//
// # Conditional writes on nats-server 2.9
//
// The server this package must work with (2.9) has no per-message TTL, no
// batched direct get, and no expected last sequence for another subject.
// Everything here uses what 2.9 offers: kv.Create and kv.Update at a
// revision (the expected last sequence of the key's own subject) for
// creating the run and each node (ErrRunExists, ErrDuplicate), replacing
// the run's record from a status, and NodeLost. A node's ready write must
// succeed only while the run still waits, in the bucket's order of writes:
// it is written first (its revision is a sequence of the bucket's stream,
// which the run's key shares), then the run's record is read; if that is
// WAITING, or a STARTED written after the ready write, the node was ready
// in time; else the write is undone and fails with ErrConflict. Newer
// servers (2.10's multi-subject filters, 2.11's per-message TTLs and
// batched reads, 2.12's cross-subject expectations) would save round trips
// but are not needed.
//
// # Round trips
//
// A member: New dials (one connection per Backend, or Options.Conn).
// Joining reads the run (opening the bucket, one request, then a get),
// reads the clock Options.ClockSamples times (7 by default), creates its
// record, and subscribes to the run's key and the events' subject (one
// flush each). Reporting ready is three requests (read, update, read the
// run). While it waits it is woken by a core subscription on the subject
// the run's writes are republished on, once stored: the wake-up carries the
// record and its revision (coordinate.RunCarrier), so that the start of a
// thousand members is one message to each and no request (a revision not
// above the last one read is not taken: the member reads the key). It
// reads the key itself when it begins to wait and per poll interval, the
// fallback; each heartbeat is one put. Reading events is one
// stream info, then one get per new event.
//
// The orchestrator answers Nodes from a copy of the bucket that an ordered
// consumer keeps (the last value of each key, then every write): one
// stream info per call (the bucket's last revision, so that the copy is
// known to hold every write made before the call), however many nodes
// there are.
//
// # Reconnects
//
// A connection that New dials retries for ever (nats.go's reconnect,
// 8 MiB of writes buffered); every request is bounded by the caller's
// context and Options.Timeout, waits for a reconnecting connection within
// the caller's context, and fails at once if the connection goes away
// while it is in flight (its reply would never come). So a waiting member
// whose server restarts reconnects and sees the start, if it is still
// ahead; one whose server stays away fails when the kit's wait timeout
// ends, with the phase named. Options.OnGap reports each gap (disconnect
// to reconnect), for the member's timeline; the log says it too.
// Credentials in the URL appear in no error and no log line (see Redact).
//
// # Hostile values
//
// A record this package did not write (wrong JSON types, an unknown kind,
// a huge payload, a key that is not base64url) is returned with Bad set,
// and the kit skips it with one warning: nothing written into the bucket or
// the stream by someone else can stop the run or blind the orchestrator to
// the other nodes.
//
// Package natsembed starts an in-process server, for tests, examples and
// single-host runs.
package natscoord
