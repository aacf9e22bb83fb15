package natscoord_test

import (
	"context"
	"fmt"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
)

// An orchestrator and one member of a run on an in-process server: the
// member waits for the start published with a lead, without polling any
// database.
func Example() {
	srv, err := natsembed.Start(natsembed.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	ctx := context.Background()

	// The orchestrator's Backend serves the run's reference clock.
	ob, err := natscoord.New(natscoord.Options{URL: srv.ClientURL(), RunID: "example-1", ServeClock: true})
	if err != nil {
		panic(err)
	}
	defer ob.Close()
	o, err := coordinate.NewRun(ctx, ob, coordinate.Options{})
	if err != nil {
		panic(err)
	}

	// A member, on a host of its own in a fleet: its own connection.
	mb, err := natscoord.New(natscoord.Options{URL: srv.ClientURL(), RunID: "example-1"})
	if err != nil {
		panic(err)
	}
	defer mb.Close()
	c, err := coordinate.NewClient(mb, coordinate.Options{})
	if err != nil {
		panic(err)
	}
	m, err := c.Join(ctx, coordinate.Node{ID: "node-1", Concurrency: 4})
	if err != nil {
		panic(err)
	}
	defer m.Leave(ctx, nil)

	waited := make(chan coordinate.Signal, 1)
	go func() {
		sig, err := m.Wait(ctx)
		if err != nil {
			panic(err)
		}
		waited <- sig
	}()
	sig, err := o.StartWhenReady(ctx, coordinate.Readiness{Expect: []string{"node-1"}}, 200*time.Millisecond)
	if err != nil {
		panic(err)
	}
	got := <-waited
	_, bound := m.(coordinate.Clocked).ClockOffset()
	d := got.At.Sub(sig.At)
	fmt.Println("backend:", mb.Name())
	fmt.Println("the member's T is the orchestrator's within the clock bound:", d <= bound && d >= -bound)
	// Output:
	// backend: nats
	// the member's T is the orchestrator's within the clock bound: true
}
