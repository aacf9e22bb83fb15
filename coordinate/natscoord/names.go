package natscoord

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/startline/startline/coordinate"
)

// ErrInvalid marks an option or argument that this package refuses; it
// wraps coordinate.ErrInvalid.
var ErrInvalid = fmt.Errorf("natscoord: %w", coordinate.ErrInvalid)

// names are the NATS names one run uses, all derived from its id.
type names struct {
	run     string // the run id as given
	token   string // the id as one subject token and bucket-name part
	bucket  string // the key-value bucket: run and node records, beats
	stream  string // the JetStream stream of the control events
	events  string // the events' subject
	clock   string // the subject of the orchestrator's clock
	runRec  string // the subject the bucket's stream republishes the run's record on
	results string // the object store of the nodes' results
	records string // the stream of the nodes' streamed intervals (Stream)
	recSubj string // its subject
}

// token escapes a valid run id into one subject token that is also valid in
// a bucket or stream name ([A-Za-z0-9_-]): '_' becomes "__" and '.' becomes
// "_d", so that two run ids never share a token.
func token(run string) string {
	var b strings.Builder
	for _, r := range run {
		switch r {
		case '_':
			b.WriteString("__")
		case '.':
			b.WriteString("_d")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// namesFor validates run (coordinate.ValidRunID) and derives its names.
func namesFor(run string) (names, error) {
	if err := coordinate.ValidRunID(run); err != nil {
		return names{}, fmt.Errorf("%w: Options.RunID: %v", ErrInvalid, err)
	}
	t := token(run)
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			// Unreachable for a valid run id; kept so that a change of
			// the run id rule cannot make an invalid subject.
			return names{}, fmt.Errorf("%w: Options.RunID: %q makes no valid NATS name", ErrInvalid, run)
		}
	}
	return names{
		run:     run,
		token:   t,
		bucket:  "startline_" + t,
		stream:  "startline_ev_" + t,
		events:  "startline." + t + ".events",
		clock:   "startline." + t + ".clock",
		runRec:  "startline." + t + ".run",
		results: "startline_res_" + t,
		records: "startline_iv_" + t,
		recSubj: "startline." + t + ".intervals",
	}, nil
}

// nodeKey is the key of node id's record, beatKey that of its heartbeat:
// the id in base64url, which key names accept whatever the id holds.
func nodeKey(id string) string { return "node." + base64.RawURLEncoding.EncodeToString([]byte(id)) }
func beatKey(id string) string { return "beat." + base64.RawURLEncoding.EncodeToString([]byte(id)) }

const runKey = "run"

// idOf decodes the node id of a key's base64url part.
func idOf(enc string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", errors.New("key is not base64url")
	}
	return string(b), nil
}
