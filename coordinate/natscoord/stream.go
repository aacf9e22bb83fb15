package natscoord

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The nodes' streamed intervals (loadtest.StreamStore and StreamSource) are
// the messages of one JetStream stream per run, named after the run id as
// its bucket is, one message per record: the record as its payload, the
// node and the node's seq in headers, and a message id of the two, so that
// a record sent again after a lost acknowledgement is stored once (within
// the stream's duplicate window, two minutes by default). A record larger
// than the server's largest message is refused, and the node counts it
// unsent.

// Headers of a streamed record.
const (
	headerNode = "Startline-Node"
	headerSeq  = "Startline-Seq"
)

// records is the reading side of one run's stream: an ordered consumer
// that reads each message once, and what it read whose seq a caller may
// still ask for.
type records struct {
	mu        sync.Mutex
	stream    jetstream.Stream
	cons      jetstream.Consumer
	delivered uint64 // the stream sequence cons has delivered up to
	kept      []record
	pruned    int64 // records with a seq below it were given up
}

type record struct {
	seq  int64
	data []byte
}

func recordsStream(n names) (name, subject string) {
	return "startline_rec_" + n.token, "startline." + n.token + ".records"
}

// PutRecord stores node's record seq of run runID (loadtest.StreamStore).
func (r *Results) PutRecord(ctx context.Context, runID, node string, seq int64, record []byte) error {
	if node == "" {
		return fmt.Errorf("%w: PutRecord: the node id is empty", ErrInvalid)
	}
	n, err := namesFor(runID)
	if err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	name, subject := recordsStream(n)
	if err := r.recordStream(ctx, runID, name, subject); err != nil {
		return err
	}
	id := base64.RawURLEncoding.EncodeToString([]byte(node))
	m := nats.NewMsg(subject)
	m.Data = record
	m.Header.Set(headerNode, node)
	m.Header.Set(headerSeq, strconv.FormatInt(seq, 10))
	m.Header.Set(nats.MsgIdHdr, id+"."+strconv.FormatInt(seq, 10))
	if _, err := r.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("natscoord: streaming interval %d of node %q of run %q: %w", seq, node, runID, err)
	}
	return nil
}

// recordStream creates run's stream of records once per Results.
func (r *Results) recordStream(ctx context.Context, runID, name, subject string) error {
	r.mu.Lock()
	done := r.streams[runID]
	r.mu.Unlock()
	if done {
		return nil
	}
	_, err := r.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject},
		Description: "startline run " + runID + ": the nodes' streamed intervals", Storage: jetstream.FileStorage, Replicas: r.replicas})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		_, err = r.js.Stream(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("natscoord: the stream of run %q: %w", runID, err)
	}
	r.mu.Lock()
	r.streams[runID] = true
	r.mu.Unlock()
	return nil
}

// recordsBatch is how many messages one fetch of Records asks for.
const recordsBatch = 256

// Records returns the records of run runID whose seq is at least from
// (loadtest.StreamSource), every record stored before the call among them:
// each message is read from the server once, and kept here until a call
// asks only for later seqs. Before any node streamed, it returns none.
func (r *Results) Records(ctx context.Context, runID string, from int64) ([][]byte, error) {
	n, err := namesFor(runID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	rd, err := r.reader(ctx, runID, n)
	if err != nil || rd == nil {
		return nil, err
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if from < rd.pruned {
		// Asked again for records given up: read the whole stream once
		// more, on a consumer of its own, keeping nothing.
		again, err := r.open(ctx, runID, n, oneOff)
		if err != nil || again == nil {
			return nil, err
		}
		if err := again.catchUp(ctx); err != nil {
			return nil, fmt.Errorf("natscoord: reading the stream of run %q: %w", runID, err)
		}
		return since(again.kept, from), nil
	}
	if err := rd.catchUp(ctx); err != nil {
		return nil, fmt.Errorf("natscoord: reading the stream of run %q: %w", runID, err)
	}
	out := since(rd.kept, from)
	rd.kept = slices.DeleteFunc(rd.kept, func(rec record) bool { return rec.seq < from })
	rd.pruned = max(rd.pruned, from)
	return out, nil
}

// since returns the data of the records whose seq is at least from.
func since(recs []record, from int64) [][]byte {
	var out [][]byte
	for _, rec := range recs {
		if rec.seq >= from {
			out = append(out, rec.data)
		}
	}
	return out
}

// catchUp reads every message the stream held when it was called, so that
// what a node stored before Records began is in what Records returns.
func (rd *records) catchUp(ctx context.Context) error {
	info, err := rd.stream.Info(ctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	for rd.delivered < last {
		wait := time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = max(min(wait, time.Until(dl)), time.Millisecond)
		}
		batch, err := rd.cons.Fetch(int(min(last-rd.delivered, recordsBatch)), jetstream.FetchMaxWait(wait))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			if md, err := m.Metadata(); err == nil {
				rd.delivered = max(rd.delivered, md.Sequence.Stream)
			}
			seq, err := strconv.ParseInt(m.Headers().Get(headerSeq), 10, 64)
			if err != nil || seq < 0 || m.Headers().Get(headerNode) == "" {
				continue // not a record of ours: the merge would refuse it too
			}
			rd.kept = append(rd.kept, record{seq, m.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// oneOff is how long the server keeps a consumer read once and left.
const oneOff = 10 * time.Second

// open returns a reading side of run's stream from its first message, or
// nil while the stream does not exist; the server drops its consumer once
// it has been idle for inactive (0: the client's default).
func (r *Results) open(ctx context.Context, runID string, n names, inactive time.Duration) (*records, error) {
	name, _ := recordsStream(n)
	s, err := r.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natscoord: the stream of run %q: %w", runID, err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: inactive})
	if err != nil {
		return nil, fmt.Errorf("natscoord: reading the stream of run %q: %w", runID, err)
	}
	return &records{stream: s, cons: cons}, nil
}

// reader returns run's reading side, or nil while its stream does not
// exist.
func (r *Results) reader(ctx context.Context, runID string, n names) (*records, error) {
	r.mu.Lock()
	rd := r.readers[runID]
	r.mu.Unlock()
	if rd != nil {
		return rd, nil
	}
	rd, err := r.open(ctx, runID, n, 0)
	if err != nil || rd == nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if other := r.readers[runID]; other != nil {
		return other, nil // another call's, made meanwhile
	}
	r.readers[runID] = rd
	return rd, nil
}
