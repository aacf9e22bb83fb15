package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/startline/startline/timing"
)

// Every display class of timing's registry has a colour of its own, and
// the style sheet has a rule for it: a phase added to the registry is drawn
// without an edit here, and a class added there fails this test until it
// has a colour.
func TestEveryRegistryClassIsStyled(t *testing.T) {
	css := string(phaseCSS)
	for _, info := range timing.Phases() {
		_, ok := fills[info.Class]
		assert.True(t, ok, "class %q of %s has a fill", info.Class, info.Phase)
		assert.Contains(t, css, ".wf-bar."+phaseClass(info.Phase)+" {", "%s", info.Phase)
	}
	assert.Contains(t, css, ".wf-bar.ph-other {")
	assert.Equal(t, len(fills), strings.Count(css, ".wf-bar."), "one rule per class, no colour unused")
}

func TestPhaseClassAndRankFollowTheRegistry(t *testing.T) {
	assert.Equal(t, "ph-pool", phaseClass(timing.PoolInit))
	assert.Equal(t, "ph-fault", phaseClass(timing.CoordUnreachable))
	assert.Equal(t, "ph-other", phaseClass("warehouse.resume"), "an unknown phase")
	assert.Less(t, rank(timing.PoolInit), rank(timing.Teardown))
	assert.Less(t, rank(timing.Teardown), rank("warehouse.resume"))
	for _, p := range []timing.Phase{timing.Warmup, timing.Measure, timing.Teardown} {
		assert.True(t, longRunning(p), "%s", p)
	}
	assert.False(t, longRunning(timing.PoolInit))
	assert.False(t, longRunning("warehouse.resume"))
}
