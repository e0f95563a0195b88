// Package examples holds the default extensions that `trafficext run` serves when no
// --extensions directory is given (and that `make run` serves from this directory, watched).
package examples

import "embed"

// FS holds every example resource file.
//
//go:embed *.yaml
var FS embed.FS
