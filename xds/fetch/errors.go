package fetch

import (
	"errors"
	"fmt"
)

// Reason classifies a fetch failure; it labels the failure metric.
type Reason string

// Failure reasons.
const (
	ReasonURL         Reason = "bad_url"            // the URL cannot be parsed or has an unknown scheme
	ReasonSecret      Reason = "pull_secret"        // the pull secret is missing or malformed
	ReasonUnreachable Reason = "unreachable"        // the registry or server cannot be reached (after retries)
	ReasonAuth        Reason = "unauthorized"       // 401/403 from the registry or server
	ReasonNotFound    Reason = "not_found"          // 404: no such image, tag or file
	ReasonDownload    Reason = "download"           // any other download failure
	ReasonChecksum    Reason = "checksum_mismatch"  // sha256 differs from the expected one
	ReasonLayout      Reason = "unsupported_layout" // an OCI image that holds no module Istio would find
	ReasonInvalid     Reason = "invalid_module"     // the bytes are not a Wasm binary
	ReasonTooLarge    Reason = "too_large"          // over the module size limit or the cache bound
	ReasonCache       Reason = "cache"              // the cache directory cannot be written
	ReasonStart       Reason = "does_not_start"     // fetched, but the module does not start (Resolver's StartChecker)
)

// Error is a failed fetch. Its text names the URL, the registry (or HTTP host) and the cause.
type Error struct {
	URL      string
	Registry string
	Reason   Reason
	Err      error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Reason == ReasonStart {
		return fmt.Sprintf("module does not start: %v", e.Err)
	}
	where := e.URL
	if e.Registry != "" && e.Registry != "local file" {
		where = fmt.Sprintf("%s (registry %s)", e.URL, e.Registry)
	}
	return fmt.Sprintf("fetching Wasm module %s: %s: %v", where, e.Reason, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason of a fetch error, or "" when err is not one.
func ReasonOf(err error) Reason {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ""
}
