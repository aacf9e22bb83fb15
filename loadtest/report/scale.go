package report

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// linear maps a domain [d0, d1] onto a range [r0, r1] of SVG user units.
type linear struct{ d0, d1, r0, r1 float64 }

func (s linear) at(v float64) float64 {
	if s.d1 == s.d0 {
		return s.r0
	}
	return s.r0 + (v-s.d0)/(s.d1-s.d0)*(s.r1-s.r0)
}

// niceTicks returns about n round values covering [0, max] (or [lo, hi]):
// steps of 1, 2 or 5 times a power of ten.
func niceTicks(lo, hi float64, n int) (ticks []float64, top float64) {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	start := math.Floor(lo/step) * step
	for v := start; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, v)
	}
	top = ticks[len(ticks)-1]
	if top < hi {
		top += step
		ticks = append(ticks, top)
	}
	return ticks, top
}

// num formats an SVG coordinate with one decimal, which is finer than a
// pixel and keeps big charts small.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// pathBuilder builds an SVG path's d attribute, breaking the line where
// there is no value.
type pathBuilder struct {
	b    strings.Builder
	open bool
}

func (p *pathBuilder) point(x, y float64) {
	if p.open {
		p.b.WriteByte('L')
	} else {
		p.b.WriteByte('M')
		p.open = true
	}
	p.b.WriteString(num(x))
	p.b.WriteByte(',')
	p.b.WriteString(num(y))
}

func (p *pathBuilder) gap() { p.open = false }

func (p *pathBuilder) String() string { return p.b.String() }

// seconds formats an offset on a time axis: "0s", "90s", "15m", "1h".
func seconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case v == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && d >= 10*time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + "s"
}
