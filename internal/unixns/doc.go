// Package unixns converts between time.Time and the Unix nanoseconds that
// the coordinators store (in SQL columns and in NATS records), with the
// zero time stored as 0 so that "not set" survives the round trip.
package unixns
