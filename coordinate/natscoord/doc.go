// Package natscoord is a coordinate.Backend over NATS JetStream
// (github.com/nats-io/nats.go and its jetstream package), for fleets of
// load generators that must not coordinate through the database under test.
package natscoord
