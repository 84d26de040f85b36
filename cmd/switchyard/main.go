// Command switchyard is the split gateway for outbound-call platforms: one
// binary that serves (serve), simulates FreeSWITCH for demos, tests and
// benchmarks (sim-fs), and drives the admin API for SREs (ctl). See SPEC §6
// and README.md.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set by the linker in release builds.
var version = "dev"

const usage = `switchyard: a programmable traffic-split gateway for outbound calls.

Usage:
  switchyard serve [--config FILE] [--listen ADDR] [--admin-listen ADDR] [--redis ADDR] [--instance-id ID]
  switchyard sim-fs --listen ADDR --password PW [flags]    (a FreeSWITCH ESL simulator)
  switchyard ctl [--admin URL] [--token T] COMMAND ...    (the admin API client; ctl help)
  switchyard version

Run "switchyard COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serveMain(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "switchyard", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if cmd, ok := subcommands[args[0]]; ok {
		return cmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "switchyard: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// subcommands are the commands other packages provide (sim-fs, ctl); each
// registers itself from its own file here so that main stays small.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{}
