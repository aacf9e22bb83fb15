package coordinate_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/startline/startline/coordinate"
)

// Two nodes join an in-process coordinator; the orchestrator starts them
// when both are ready, 20ms ahead, and both wake with the same start instant.
func Example() {
	ctx := context.Background()
	local := coordinate.NewLocal(coordinate.LocalOptions{})

	var wg sync.WaitGroup
	got := make([]coordinate.Signal, 2)
	for i, id := range []string{"a", "b"} {
		m, err := local.Join(ctx, coordinate.Node{ID: id, Concurrency: 4})
		if err != nil {
			fmt.Println(err)
			return
		}
		wg.Go(func() {
			defer m.Leave(ctx, nil)
			m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady, Phase: "coord.wait"})
			sig, err := m.Wait(ctx)
			if err != nil {
				fmt.Println(err)
				return
			}
			coordinate.SleepUntil(ctx, sig.At) // begin at the instant, not on waking
			got[i] = sig
		})
	}

	sig, err := local.StartWhenReady(ctx, coordinate.Readiness{Expect: []string{"a", "b"}}, 20*time.Millisecond)
	if err != nil {
		fmt.Println(err)
		return
	}
	wg.Wait()
	fmt.Println("a and b got the same start instant:", got[0].At.Equal(got[1].At))
	fmt.Println("and it is the one published:", got[0].At.Equal(sig.At))
	for _, s := range local.Members() {
		fmt.Println(s.ID, s.Status)
	}
	// Output:
	// a and b got the same start instant: true
	// and it is the one published: true
	// a DONE
	// b DONE
}
