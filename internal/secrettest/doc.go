// Package secrettest plants known secrets in the inputs of a test and finds
// them again in its outputs: errors, logs, JSON results, HTML reports,
// timelines and database rows.
//
// A secret leaks in many forms: as written, URL-escaped in a DSN that is
// quoted back, JSON-escaped in a result, base64-encoded in a header. Every
// planted secret holds the [Marker], a run of characters that no escaping
// changes, so that a search for the marker finds the secret in any of
// those forms except base64, which [Find] looks for on its own.
//
// The package is for startline's own tests; it is internal.
package secrettest
