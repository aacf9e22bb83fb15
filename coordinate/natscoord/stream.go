package natscoord

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream carries the intervals that nodes stream as they close to the
// orchestrator over NATS: one JetStream stream per run (named after the run
// id, as the run's bucket is), one message per interval, in the order the
// nodes stored them. It has the method sets of loadtest.StreamStore
// (PutRecord, on the nodes) and loadtest.StreamSource (Records, on the
// orchestrator) without importing loadtest.
//
// A record's node and seq travel in its headers, and its message id is
// both, so that a store retried after a lost answer is stored once (within
// the stream's duplicate window). Records reads the messages it has not
// read yet with an ordered consumer per run and keeps those whose seq may
// still be asked for; a read from seq 0 reads the stream whole again.
//
// A Stream is safe for concurrent use. It does not own the connection.
type Stream struct {
	js       jetstream.JetStream
	timeout  time.Duration
	replicas int

	mu   sync.Mutex
	runs map[string]*runStream
}

// runStream is one run's stream as a Stream reads it.
type runStream struct {
	mu     sync.Mutex // one read at a time
	s      jetstream.Stream
	cons   jetstream.Consumer // the ordered consumer of incremental reads
	kept   []streamed         // read, with a seq of at least floor
	floor  int64
	pruned bool // records below floor were let go
}

type streamed struct {
	seq  int64
	data []byte
}

// Header names of a record's message.
const (
	hdrNode = "Startline-Node"
	hdrSeq  = "Startline-Seq"
)

// recordsBatch is how many messages one fetch asks for.
const recordsBatch = 1000

// NewStream returns a Stream over nc. A request whose context has no
// deadline is bounded by DefaultTimeout.
func NewStream(nc *nats.Conn) (*Stream, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: NewStream: a connection is required", ErrInvalid)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natscoord: %w", err)
	}
	return &Stream{js: js, timeout: DefaultTimeout, replicas: 1, runs: map[string]*runStream{}}, nil
}

func (s *Stream) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// run returns runID's stream, creating it if create is set; nil without an
// error when it does not exist and create is not set.
func (s *Stream) run(ctx context.Context, runID string, create bool) (*runStream, names, error) {
	n, err := namesFor(runID)
	if err != nil {
		return nil, n, err
	}
	s.mu.Lock()
	rs := s.runs[runID]
	s.mu.Unlock()
	if rs != nil {
		return rs, n, nil
	}
	st, err := s.js.Stream(ctx, n.records)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !create {
			return nil, n, nil
		}
		st, err = s.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: n.records, Description: "startline run " + runID + ": the nodes' intervals as they close",
			Subjects: []string{n.recSubj}, Storage: jetstream.FileStorage, Replicas: s.replicas,
			Duplicates: 2 * time.Minute,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = s.js.Stream(ctx, n.records)
		}
	}
	if err != nil {
		return nil, n, fmt.Errorf("natscoord: the interval stream of run %q: %w", runID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs = s.runs[runID]; rs == nil {
		rs = &runStream{s: st}
		s.runs[runID] = rs
	}
	return rs, n, nil
}

// PutRecord stores node's record seq of run runID (loadtest.StreamStore).
func (s *Stream) PutRecord(ctx context.Context, runID, node string, seq int64, record []byte) error {
	if node == "" || seq < 0 {
		return fmt.Errorf("%w: PutRecord: node %q, seq %d: want a node id and a seq from 0", ErrInvalid, node, seq)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, n, err := s.run(ctx, runID, true)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(n.recSubj)
	msg.Data = record
	msg.Header.Set(hdrNode, node)
	msg.Header.Set(hdrSeq, strconv.FormatInt(seq, 10))
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(strconv.FormatInt(seq, 10)+"/"+node)); err != nil {
		return fmt.Errorf("natscoord: streaming interval %d of node %q of run %q: %w", seq, node, runID, err)
	}
	return nil
}

// Records returns every record of run runID whose seq is at least from
// (loadtest.StreamSource); a run without a stream has none.
func (s *Stream) Records(ctx context.Context, runID string, from int64) ([][]byte, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rs, _, err := s.run(ctx, runID, false)
	if err != nil || rs == nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if from < rs.floor && rs.pruned {
		// Records let go are asked for again: read the stream whole.
		all, err := readAll(ctx, rs.s, nil)
		if err != nil {
			return nil, fmt.Errorf("natscoord: reading the interval stream of run %q: %w", runID, err)
		}
		return since(all, from), nil
	}
	if rs.cons == nil {
		if rs.cons, err = rs.s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{}); err != nil {
			return nil, fmt.Errorf("natscoord: reading the interval stream of run %q: %w", runID, err)
		}
	}
	if rs.kept, err = readAll(ctx, rs.cons, rs.kept); err != nil {
		return nil, fmt.Errorf("natscoord: reading the interval stream of run %q: %w", runID, err)
	}
	out := since(rs.kept, from)
	if from > rs.floor {
		// What is below from now is not asked for again but by a whole
		// read (from 0, at the end of a run).
		keep := rs.kept[:0]
		for _, r := range rs.kept {
			if r.seq >= from {
				keep = append(keep, r)
			}
		}
		clear(rs.kept[len(keep):])
		rs.kept, rs.floor, rs.pruned = keep, from, true
	}
	return out, nil
}

// since returns the data of the records of rs with a seq of at least from.
func since(rs []streamed, from int64) [][]byte {
	var out [][]byte
	for _, r := range rs {
		if r.seq >= from {
			out = append(out, r.data)
		}
	}
	return out
}

// consumer is what readAll reads: an ordered consumer, or a stream (a
// consumer of its own, from the start).
type consumer interface {
	FetchNoWait(batch int) (jetstream.MessageBatch, error)
}

// readAll appends to into every message c has not delivered yet.
func readAll(ctx context.Context, c any, into []streamed) ([]streamed, error) {
	var cons consumer
	switch c := c.(type) {
	case jetstream.Stream:
		oc, err := c.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			return into, err
		}
		cons = oc
	case consumer:
		cons = c
	}
	for {
		batch, err := cons.FetchNoWait(recordsBatch)
		if err != nil {
			return into, err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			seq, err := strconv.ParseInt(msg.Headers().Get(hdrSeq), 10, 64)
			if err != nil {
				continue // not a record: nothing of ours publishes it
			}
			into = append(into, streamed{seq: seq, data: msg.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return into, err
		}
		if n < recordsBatch || ctx.Err() != nil {
			return into, ctx.Err()
		}
	}
}
