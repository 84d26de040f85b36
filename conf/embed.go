// Package conf holds the example configuration and policy table, embedded in
// the binary so that `switchyard serve` with no --config starts the demo on
// these defaults.
package conf

import _ "embed"

// Config is conf/switchyard.yaml: the demo configuration.
//
//go:embed switchyard.yaml
var Config []byte

// Table is conf/table.yaml: the sample policy table.
//
//go:embed table.yaml
var Table []byte
