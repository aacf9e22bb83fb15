package natscoord

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/startline/startline/coordinate"
)

// TestNames: every valid run id makes valid, distinct NATS names; invalid
// ones are refused naming the field.
func TestNames(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	token := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	seen := map[string]string{}
	for _, run := range []string{"a", "run-1", "run_1", "run.1", "run__1", "run_d1", "r.d1", "r_.x", "A9._-z", strings.Repeat("x", 64), strings.Repeat("._", 32)[1:] + "a"} {
		if coordinate.ValidRunID(run) != nil {
			continue
		}
		n, err := namesFor(run)
		if err != nil {
			t.Fatalf("%q: %v", run, err)
		}
		for _, name := range []string{n.bucket, n.stream, n.results} {
			if !valid.MatchString(name) {
				t.Errorf("%q: %q is not a valid bucket or stream name", run, name)
			}
		}
		for _, subj := range []string{n.events, n.clock} {
			parts := strings.Split(subj, ".")
			if len(parts) != 3 || parts[0] != "startline" || !token.MatchString(parts[1]) {
				t.Errorf("%q: subject %q does not hold the run as one token", run, subj)
			}
		}
		if other, dup := seen[n.token]; dup {
			t.Errorf("runs %q and %q share the token %q", run, other, n.token)
		}
		seen[n.token] = run
	}
	for _, run := range []string{"", "a b", "a.*", "a.>", "-a", ".a", "a/b", "ü", strings.Repeat("x", 65), "a\nb"} {
		_, err := namesFor(run)
		if !errors.Is(err, coordinate.ErrInvalid) || !strings.Contains(err.Error(), "Options.RunID") {
			t.Errorf("run id %q: error %v, want ErrInvalid naming Options.RunID", run, err)
		}
	}
}

// TestNodeKeys: any node id makes a valid key, and comes back from it.
func TestNodeKeys(t *testing.T) {
	key := regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)
	for _, id := range []string{"n00", "a.b", "a b", "*", ">", "ü", "x/y", strings.Repeat("z", 200)} {
		k := nodeKey(id)
		if !key.MatchString(k) {
			t.Errorf("node %q: key %q is not valid", id, k)
		}
		got, err := idOf(strings.TrimPrefix(k, "node."))
		if err != nil || got != id {
			t.Errorf("node %q: key %q decodes to %q, %v", id, k, got, err)
		}
	}
	if _, err := idOf("!!"); err == nil {
		t.Error("a key that is not base64url decodes")
	}
}

// TestDecodeHostile: values natscoord never writes decode with Bad set (or,
// for the run's record whose core fields are unreadable, an error), never
// with a panic, and the errors stay short.
func TestDecodeHostile(t *testing.T) {
	huge := `"` + strings.Repeat("x", 1<<20) + `"`
	for _, data := range []string{`{"want":"many","concurrency":"lots","expect":"n00"}`, `{"want":-3}`, `{"expect":[1,2]}`, `{"want":` + huge + `}`} {
		r, err := decodeRun([]byte(data))
		if err != nil || r.Bad == nil {
			t.Errorf("run %.60s: Bad %v, err %v: want Bad set", data, r.Bad, err)
		}
		if len(r.Bad.Error()) > 1000 {
			t.Errorf("run %.60s: Bad is %d bytes long", data, len(r.Bad.Error()))
		}
	}
	for _, data := range []string{`[]`, `not json`, `{"status":7}`, `{"at_ns":"soon"}`, huge} {
		if _, err := decodeRun([]byte(data)); err == nil || len(err.Error()) > 1000 {
			t.Errorf("run %.60s: err %.100v: want a short error", data, err)
		}
	}
	for _, data := range []string{`{"kind":"scale","concurrency":"many"}`, `{"kind":7}`, `junk`, `{"concurrency":1e30}`, huge} {
		e := decodeEvent(42, []byte(data))
		if e.Bad == nil || e.Raw != "42" || e.Seq != 42 {
			t.Errorf("event %.60s: %+v: want Bad with Raw 42", data, e)
		}
	}
	if e := decodeEvent(3, []byte(`{"kind":"explode","seq":9223372036854775807}`)); e.Bad != nil || e.Seq != 3 || e.Kind != "explode" {
		t.Errorf("an event of unknown kind: %+v: want it decoded (the kit judges kinds), at the stream's seq", e)
	}
	for _, data := range []string{`{"id":"x","concurrency":"lots"}`, `{"id":"x","ready_ns":"yesterday"}`, `{"id":"other"}`, `[1]`} {
		if n := decodeNode("x", []byte(data)); n.Bad == nil || n.ID != "x" {
			t.Errorf("node %s: %+v: want Bad set under ID x", data, n)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://user:hunter2@host:4222":              "nats://user:xxxxx@host:4222",
		"nats://tok3n@host:4222":                     "nats://xxxxx@host:4222",
		"nats://a:pw1@h1:4222, nats://b:pw2@h2:4222": "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222",
		"nats://127.0.0.1:4222":                      "nats://127.0.0.1:4222",
		"nats://u:p%40ss@host":                       "nats://u:xxxxx@host",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := scrub("dial nats://u:hunter2@h: hunter2 refused", "nats://u:hunter2@h"); strings.Contains(got, "hunter2") {
		t.Errorf("scrub left the password: %q", got)
	}
}
