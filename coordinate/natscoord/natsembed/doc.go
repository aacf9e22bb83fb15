// Package natsembed starts a NATS server with JetStream inside the
// process (github.com/nats-io/nats-server/v2), on 127.0.0.1, so that
// natscoord runs, and its tests exercise it, on a machine with nothing
// installed.
//
// Start picks a free port unless one is given and keeps JetStream's store
// in a given folder or a temporary one. Shutdown stops the server and keeps
// port and store; Restart starts it again on both, as a server that was
// restarted would come back, with its buckets and streams. Stop shuts down
// and removes a temporary store; no goroutine of the server outlives it.
//
// The server listens on loopback only and has no authentication: it is for
// tests, examples and single-host runs. A fleet uses a real server or
// cluster.
package natsembed
