package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeResult decodes arbitrary bytes as a JSON result. It must never
// panic; a rejected input gets a *DecodeError matching ErrBadResult; an
// accepted one re-encodes to JSON that decodes to the same result (the same
// encoding from the first round on).
func FuzzDecodeResult(f *testing.F) {
	good, err := json.Marshal(sampleResult(&testing.T{}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(bytes.Replace(good, []byte(`"ops":11`), []byte(`"ops":-1`), 1))
	f.Add(bytes.Replace(good, []byte(`"r1"`), []byte(`""`), 1))
	f.Add(append(append([]byte{}, good...), good...))
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"run_id":"r","started_at":"2026-01-01T00:00:00Z"}`,
		`{"run_id":"r","started_at":"2026-01-01T00:00:00Z","timeline":[{"phase":"pool.init","worker":-1,"start_ns":5,"end_ns":1}]}`,
		`{"run_id":"r","started_at":"2026-01-01T00:00:00Z","phases":{"measure":{"ops":1,"errors":2}}}`,
		`{"run_id":"r","started_at":"2026-01-01T00:00:00Z","phases":{"measure":{"ops":1,"histogram":"!!"}}}`,
		`{"run_id":"r","started_at":"2026-01-01T00:00:00Z","operations":{"q":{"ops":9223372036854775807}}}`,
		`{"run_id":"r","started_at":"2026-01-01T00:00:00Z","workers":[{"timeline":[{}]}],"start":{"longest":{}}}`,
		`{"run_id":1e999}`, "{\"run_id\":\"\xff\"}", `{"run_id":"r","started_at":"0000-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := DecodeResult(bytes.NewReader(data))
		if err != nil {
			if res != nil {
				t.Fatalf("DecodeResult returned a result and an error: %v", err)
			}
			de, ok := errors.AsType[*DecodeError](err)
			if !ok || !errors.Is(err, ErrBadResult) {
				t.Fatalf("error %v is not a *DecodeError matching ErrBadResult", err)
			}
			if de.Line < 0 || de.Column < 0 || !strings.HasPrefix(err.Error(), "loadtest: bad result: ") {
				t.Fatalf("error %q: line %d column %d", err, de.Line, de.Column)
			}
			return
		}
		once, err := json.Marshal(res)
		if err != nil {
			// A value that decodes but cannot be encoded (a time beyond
			// year 9999) would make a result that cannot be saved again.
			t.Fatalf("accepted result does not encode: %v", err)
		}
		res2, err := DecodeResult(bytes.NewReader(once))
		if err != nil {
			t.Fatalf("accepted result re-encodes to JSON that does not decode: %v\n%s", err, once)
		}
		twice, err := json.Marshal(res2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("round trip changed the result:\n%s\n%s", once, twice)
		}
	})
}

// TestDecodeResultEmptyKey is the input FuzzDecodeResult found panicking:
// an object member whose key is "" made the path finder take the member's
// value for its key.
func TestDecodeResultEmptyKey(t *testing.T) {
	for in, field := range map[string]string{
		`{"":0`:                    "",
		`{"":0,"run_id":5}`:        "run_id",
		`{"":{"":[1,{"":2}]},"x":`: "",
		`{"":{"":[1]},"run_id":5}`: "run_id",
	} {
		res, err := DecodeResult(strings.NewReader(in))
		if res != nil || !errors.Is(err, ErrBadResult) {
			t.Fatalf("%s: got %v, %v; want a *DecodeError", in, res, err)
		}
		if de, _ := errors.AsType[*DecodeError](err); field != "" && de.Field != field {
			t.Errorf("%s: field %q, want %q (%v)", in, de.Field, field, err)
		}
	}
}
