package coordtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
)

// Fleet is one fresh run of a backend for [FleetStart]: an orchestrator
// and many members, each member on a backend value (a connection) of its
// own, as the hosts of a fleet are.
type Fleet struct {
	// Orchestrator returns the backend the orchestrator uses.
	Orchestrator func(tb testing.TB) coordinate.Backend
	// Member returns the backend of member i (0 <= i < members), and a
	// function that releases it (nil if nothing to release), which
	// FleetStart calls once the member has left. FleetStart calls it from
	// several goroutines at once.
	Member func(tb testing.TB, i int) (coordinate.Backend, func())
	// Options, if set, changes the kit options (by default the kit's own
	// defaults, with a wait timeout of a minute).
	Options func(*coordinate.Options)
	// Lead is the lead asked for; the orchestrator raises it to what it
	// measured the fleet to need (coordinate.Run.MinLead). Zero: MinLead.
	Lead time.Duration
	// Hold, if positive, is how long the fleet waits, every member ready,
	// before the start is published: the window in which Meter measures
	// what waiting costs.
	Hold time.Duration
	// Meter, if set, is called when every member is ready, before Hold; the
	// function it returns is called when Hold has passed and returns
	// metrics to report (name to value, a unit in the name as
	// testing.B.ReportMetric wants: "db-stmts/s"), averaged over the
	// iterations.
	Meter func(tb testing.TB) func() map[string]float64
	// Floors, if set, are the most each metric should be (name to value,
	// as reported): FleetStart logs, after the iterations, every metric
	// whose average is above its floor, and which met theirs. It never
	// fails on one: how fast the machine is decides, not the code.
	Floors map[string]float64
}

// fleetOpen bounds how many member backends FleetStart opens at once.
const fleetOpen = 32

// FleetStart is the fleet-start benchmark: in each iteration, a fresh run
// of f's backend with members members, each on a backend of its own,
// joining at once; the orchestrator waits until all are ready (after Hold,
// if set) and publishes T with a lead. Every member waits with
// Member.Wait and coordinate.SleepUntil(T), as a Runner does. It reports,
// averaged over the iterations:
//
//   - ready-ns: from the first Join to the orchestrator's AwaitReady
//     returning with all members ready;
//   - seen-p50-ns, seen-p99-ns, seen-max-ns: from the publication of the
//     start to a member seeing it (its NodeRecord.Seen, read by the
//     orchestrator on its own clock), the median, 99th percentile and
//     largest over the members;
//   - skew-ns: the spread of the instants at which the members return
//     from SleepUntil(T): the last one's less the first one's; and
//     first-after-t-ns and last-after-t-ns, how long after T (on the
//     orchestrator's clock, which is this host's) the first and the last
//     returned (negative: before T, by an offset's error);
//   - wake-p99-ns and wake-max-ns: how long after its own T (the
//     Signal's At, on its clock as its offset has it) a member returned
//     from SleepUntil, the 99th percentile and largest: the part of the
//     skew that is the wake-up's, not the offsets';
//   - lead-ns: the lead published (Lead raised to the run's MinLead), and
//     late: how many members saw the start after T;
//   - offset-max-ns, offset-err-p99-ns, bound-p50-ns and bound-max-ns:
//     the largest measured clock offset (in absolute value) and its 99th
//     percentile, and the median and largest bound of the members, as
//     they stand after the start. They all run on this host's clock, so
//     every offset is an error of the measurement, and part of the skew;
//   - what Meter returns.
//
// The backends are opened before the first Join, and closed after the
// members leave, outside what the metrics measure (not outside ns/op).
// Errors fail the benchmark: a member that cannot join or wait is a bug,
// not a figure.
func FleetStart(b *testing.B, members int, newFleet func(b *testing.B) Fleet) {
	if members < 1 {
		b.Fatalf("coordtest: FleetStart with %d members", members)
	}
	sums := map[string]float64{}
	iters := 0
	var floors map[string]float64
	for b.Loop() {
		f := newFleet(b)
		floors = f.Floors
		for k, v := range fleetOnce(b, members, f) {
			sums[k] += v
		}
		iters++
	}
	for k, v := range sums {
		b.ReportMetric(v/float64(iters), k)
	}
	names := make([]string, 0, len(floors))
	for k := range floors {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		got, ok := sums[k]
		switch avg := got / float64(iters); {
		case !ok:
			b.Logf("floor of %s: no such metric", k)
		case avg > floors[k]:
			b.Logf("floor missed: %s %.0f, above its floor %.0f", k, avg, floors[k])
		default:
			b.Logf("floor met: %s %.0f, floor %.0f", k, avg, floors[k])
		}
	}
}

// fleetOnce runs one fleet start and returns its metrics.
func fleetOnce(b *testing.B, n int, f Fleet) map[string]float64 {
	if f.Orchestrator == nil || f.Member == nil {
		b.Fatal("coordtest: the Fleet needs Orchestrator and Member")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts := coordinate.Options{WaitTimeout: time.Minute}
	if f.Options != nil {
		f.Options(&opts)
	}
	o, err := coordinate.NewRun(ctx, f.Orchestrator(b), opts)
	if err != nil {
		b.Fatalf("NewRun: %v", err)
	}

	clients := make([]*coordinate.Client, n)
	release := make([]func(), n)
	defer func() {
		var wg sync.WaitGroup
		for _, r := range release {
			if r != nil {
				wg.Go(r)
			}
		}
		wg.Wait()
	}()
	var wg sync.WaitGroup
	sem := make(chan struct{}, fleetOpen)
	errs := make([]error, n)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			be, rel := f.Member(b, i)
			release[i] = rel
			clients[i], errs[i] = coordinate.NewClient(be, opts)
		})
	}
	wg.Wait()
	if err := firstErr(errs); err != nil {
		b.Fatalf("NewClient: %v", err)
	}

	ms := make([]coordinate.Member, n)
	sigs := make([]coordinate.Signal, n)
	began := make([]time.Time, n)
	go1 := make(chan struct{})
	// fatal ends the members (their context, then their goroutines) before
	// failing, so that none outlives the benchmark.
	fatal := func(format string, args ...any) {
		b.Helper()
		cancel()
		wg.Wait()
		b.Fatalf(format, args...)
	}
	for i := range n {
		wg.Go(func() {
			<-go1
			m, err := clients[i].Join(ctx, coordinate.Node{ID: fmt.Sprintf("m%04d", i), Concurrency: 1})
			if err != nil {
				errs[i] = err
				return
			}
			ms[i] = m
			if sigs[i], errs[i] = m.Wait(ctx); errs[i] == nil {
				errs[i] = coordinate.SleepUntil(ctx, sigs[i].At)
				began[i] = time.Now()
			}
		})
	}
	defer func() {
		var lw sync.WaitGroup
		for _, m := range ms {
			if m != nil {
				lw.Go(func() { _ = m.Leave(context.WithoutCancel(ctx), nil) })
			}
		}
		lw.Wait()
	}()
	first := time.Now()
	close(go1)
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	_, err = o.AwaitReady(rctx, coordinate.Readiness{Nodes: n})
	rcancel()
	if err != nil {
		fatal("AwaitReady: %v (members: %v)", err, firstErr(errs))
	}
	out := map[string]float64{"ready-ns": float64(time.Since(first))}
	if f.Meter != nil {
		stop := f.Meter(b)
		time.Sleep(f.Hold)
		for k, v := range stop() {
			out[k] = v
		}
	} else {
		time.Sleep(f.Hold)
	}
	lead := max(f.Lead, o.MinLead())
	sig, err := o.Start(ctx, time.Now().Add(lead))
	if err != nil {
		fatal("Start: %v", err)
	}
	wg.Wait()
	if err := firstErr(errs); err != nil {
		b.Fatalf("a member: %v", err)
	}

	// Every member records its sighting after Wait saw the start; read
	// until all have.
	var seen []time.Duration
	late := 0
	for end := time.Now().Add(guard); ; {
		st, err := o.Nodes(ctx)
		if err != nil {
			b.Fatalf("Nodes: %v", err)
		}
		seen, late = seen[:0], 0
		for _, s := range st {
			if !s.Seen.IsZero() {
				seen = append(seen, s.Seen.Sub(sig.Published))
				if s.Seen.After(sig.At) {
					late++
				}
			}
		}
		if len(seen) == n {
			break
		}
		if time.Now().After(end) {
			b.Fatalf("%d of %d members recorded seeing the start after %s", len(seen), n, guard)
		}
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(seen)
	wake := make([]time.Duration, n)
	for i := range began {
		wake[i] = began[i].Sub(sigs[i].At)
	}
	slices.Sort(wake)
	out["wake-p99-ns"] = float64(quantile(wake, 0.99))
	out["wake-max-ns"] = float64(wake[n-1])
	lo, hi := slices.MinFunc(began, time.Time.Compare), slices.MaxFunc(began, time.Time.Compare)
	out["seen-p50-ns"] = float64(quantile(seen, 0.50))
	out["seen-p99-ns"] = float64(quantile(seen, 0.99))
	out["seen-max-ns"] = float64(seen[len(seen)-1])
	out["skew-ns"] = float64(hi.Sub(lo))
	out["first-after-t-ns"] = float64(lo.Sub(sig.At))
	out["last-after-t-ns"] = float64(hi.Sub(sig.At))
	out["lead-ns"] = float64(sig.At.Sub(sig.Published))
	out["late"] = float64(late)
	var offs, bounds []time.Duration
	for _, m := range ms {
		if c, ok := m.(coordinate.Clocked); ok {
			off, bound := c.ClockOffset()
			offs, bounds = append(offs, off.Abs()), append(bounds, bound)
		}
	}
	if len(bounds) > 0 {
		slices.Sort(offs)
		slices.Sort(bounds)
		out["offset-max-ns"] = float64(offs[len(offs)-1])
		out["offset-err-p99-ns"] = float64(quantile(offs, 0.99))
		out["bound-p50-ns"] = float64(quantile(bounds, 0.5))
		out["bound-max-ns"] = float64(bounds[len(bounds)-1])
	}
	return out
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
