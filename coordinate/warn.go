package coordinate

import (
	"log/slog"
	"sync"
	"unicode/utf8"
)

// maxWarned bounds the records a warnOnce remembers: a backend flooded with
// bad records costs at most this much memory, and its excess is not logged.
const maxWarned = 1024

// warnOnce logs a warning about a record once, however often the record is
// read again: a bad record stays where it is and is read on every poll.
// The zero value is ready to use; it is safe for concurrent use.
type warnOnce struct {
	mu   sync.Mutex
	seen map[string]bool
	full bool
}

// first reports whether key is new (and should be logged), and whether the
// bound was just reached (and the caller should say that further bad
// records go unlogged).
func (w *warnOnce) first(key string) (log, nowFull bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[key] || w.full {
		return false, false
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	if len(w.seen) >= maxWarned {
		w.full = true
		return false, true
	}
	w.seen[key] = true
	return true, false
}

// warn logs msg with args on log, once per key; what is logged about the
// record (its key, its values) is clipped, so that a hostile record of
// megabytes does not become a log line of megabytes.
func (w *warnOnce) warn(log *slog.Logger, what, key, msg string, args ...any) {
	key = clip(key)
	logIt, full := w.first(key)
	switch {
	case logIt:
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = clip(s)
			}
		}
		log.Warn("coordinate: "+msg, args...)
	case full:
		log.Warn("coordinate: too many bad "+what+"; no longer logging them", "logged", maxWarned)
	}
}

// maxClip is the most of a value a warning quotes, in bytes.
const maxClip = 64

// clip shortens s for a log line, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxClip {
		return s
	}
	cut := maxClip
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
