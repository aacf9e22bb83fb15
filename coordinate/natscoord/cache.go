package natscoord

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/unixns"
)

// cache is the orchestrator's copy of the nodes' records and beats, kept
// by an ordered consumer of the bucket's stream (the last message of each
// key first, then every write). Its handler runs in nats.go's delivery
// goroutine: the cache runs no goroutine of its own.
type cache struct {
	stream jetstream.Stream
	prefix string // "$KV.<bucket>."
	cc     jetstream.ConsumeContext

	mu      sync.Mutex
	last    uint64                           // the highest stream sequence applied
	changed chan struct{}                    // closed and replaced at each apply
	nodes   map[string]coordinate.NodeRecord // by id
	beats   map[string]time.Time             // by id
	badBeat map[string]error                 // by id: a beat that is not a number
}

func startCache(ctx context.Context, js jetstream.JetStream, bucket string) (*cache, error) {
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	c := &cache{stream: s, prefix: "$KV." + bucket + ".", changed: make(chan struct{}),
		nodes: map[string]coordinate.NodeRecord{}, beats: map[string]time.Time{}, badBeat: map[string]error{}}
	cons, err := js.OrderedConsumer(ctx, "KV_"+bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, err
	}
	c.cc, err = cons.Consume(c.apply)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cache) stop() { c.cc.Stop() }

// apply takes one message of the bucket's stream into the copy.
func (c *cache) apply(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	key := strings.TrimPrefix(m.Subject(), c.prefix)
	op := m.Headers().Get("KV-Operation") // DEL or PURGE for a deletion
	c.mu.Lock()
	defer c.mu.Unlock()
	if kind, enc, ok := strings.Cut(key, "."); ok && (kind == "node" || kind == "beat") {
		id, err := idOf(enc)
		switch {
		case err != nil:
			// A key natscoord never writes: a node whose id cannot be
			// told. Shown as a bad record under the raw key.
			if kind == "node" && op == "" {
				c.nodes[key] = coordinate.NodeRecord{ID: key, Bad: err}
			}
		case op != "":
			if kind == "node" {
				delete(c.nodes, id)
			} else {
				delete(c.beats, id)
				delete(c.badBeat, id)
			}
		case kind == "node":
			c.nodes[id] = decodeNode(id, m.Data())
		default:
			v, err := strconv.ParseInt(string(m.Data()), 10, 64)
			if err != nil {
				c.badBeat[id] = fmt.Errorf("beat: %q is not a time", clipRaw(m.Data()))
				delete(c.beats, id)
			} else {
				delete(c.badBeat, id)
				c.beats[id] = unixns.Time(v)
			}
		}
	}
	if seq := md.Sequence.Stream; seq > c.last {
		c.last = seq
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// await waits until the copy holds stream sequence seq, or ctx ends.
func (c *cache) await(ctx context.Context, seq uint64) error {
	for {
		c.mu.Lock()
		last, ch := c.last, c.changed
		c.mu.Unlock()
		if last >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("the watched copy holds revision %d, the bucket %d: %w", last, seq, context.Cause(ctx))
		}
	}
}

// snapshot returns the records, each with the later of its own Beat and its
// beat key's.
func (c *cache) snapshot() []coordinate.NodeRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]coordinate.NodeRecord, 0, len(c.nodes))
	for id, n := range c.nodes {
		if b, ok := c.beats[id]; ok && b.After(n.Beat) {
			n.Beat = b
		}
		if err := c.badBeat[id]; err != nil && n.Bad == nil {
			n.Bad = err
		}
		out = append(out, n)
	}
	return out
}
