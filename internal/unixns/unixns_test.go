package unixns

import (
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	if got := Of(time.Time{}); got != 0 {
		t.Errorf("Of(zero) = %d, want 0", got)
	}
	if got := Time(0); !got.IsZero() {
		t.Errorf("Time(0) = %v, want the zero time", got)
	}
	for _, v := range []time.Time{time.Unix(0, 1), time.Unix(1_700_000_000, 123_456_789), time.Unix(-5, 0)} {
		if got := Time(Of(v)); !got.Equal(v) {
			t.Errorf("Time(Of(%v)) = %v", v, got)
		}
	}
}
