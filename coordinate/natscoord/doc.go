// Package natscoord is a coordinate.Backend over NATS JetStream
// (github.com/nats-io/nats.go and its jetstream package), for fleets of
// load generators that must not coordinate through the database under test.
// Over the same server, [Results] carries each node's result to the
// orchestrator, and [Stream] each interval as it closes (the method sets
// of loadtest's result and stream stores, without importing loadtest).
package natscoord
