// Package ctl is `switchyard ctl`, the SRE's command-line client for the
// admin API (SPEC §3, §6): push or fetch the policy table, flip an
// appkey's kill-switch, list and roll back versions, read and write Lua
// scripts, read the audit log, drain FreeSWITCH nodes and read pools and
// statistics.
//
// It is a plain net/http client. Global flags come before or after the
// command; --admin and --token default to $SWITCHYARD_ADMIN and
// $SWITCHYARD_TOKEN. Exit codes: 0 done, 1 the server refused or could not
// be reached, 2 bad usage.
package ctl

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Exit codes of Main.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
)

// Defaults of the global flags.
const (
	defaultAdmin   = "http://127.0.0.1:9090"
	defaultTimeout = 60 * time.Second
)

// globals are the flags every command takes.
type globals struct {
	admin   string
	token   string
	timeout time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	admin := os.Getenv("SWITCHYARD_ADMIN")
	if admin == "" {
		admin = defaultAdmin
	}
	fs.StringVar(&g.admin, "admin", admin, "admin API base `URL` (env SWITCHYARD_ADMIN)")
	fs.StringVar(&g.token, "token", os.Getenv("SWITCHYARD_TOKEN"), "bearer `token` (env SWITCHYARD_TOKEN)")
	fs.DurationVar(&g.timeout, "timeout", defaultTimeout, "time limit of each request")
}

// command is one `switchyard ctl` command.
type command struct {
	args  string // synopsis of the arguments
	opts  string // synopsis of the command's own flags
	help  string // one line
	flags func(fs *flag.FlagSet) any
	// nargs is how many positional arguments it takes: [min, max].
	nargs [2]int
	run   func(e *env, args []string, opts any) int
}

// env is what a running command needs.
type env struct {
	c              *client
	stdout, stderr io.Writer
}

// Main runs `switchyard ctl` with args (the words after "ctl") and returns
// the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	var g globals
	fs := flag.NewFlagSet("switchyard ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "switchyard ctl: %v\n\n", err)
		usage(stderr)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := rest[0]
	if name == "help" {
		usage(stdout)
		return exitOK
	}
	// "script get" and "script put" are two-word commands.
	if name == "script" && len(rest) > 1 {
		name, rest = "script "+rest[1], rest[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "switchyard ctl: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}

	// The command's own flags, and the global ones again so that they
	// may follow the command.
	cfs := flag.NewFlagSet("switchyard ctl "+name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	cfs.StringVar(&g.admin, "admin", g.admin, "")
	cfs.StringVar(&g.token, "token", g.token, "")
	cfs.DurationVar(&g.timeout, "timeout", g.timeout, "")
	var opts any
	if cmd.flags != nil {
		opts = cmd.flags(cfs)
	}
	pos, err := parseInterleaved(cfs, rest[1:])
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(stdout, name, cmd, cfs)
		return exitOK
	}
	if err == nil && (len(pos) < cmd.nargs[0] || len(pos) > cmd.nargs[1]) {
		err = fmt.Errorf("got %d argument(s); want %s", len(pos), cmd.args)
		if cmd.args == "" {
			err = fmt.Errorf("got %d argument(s); want none", len(pos))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "switchyard ctl %s: %v\n", name, err)
		commandUsage(stderr, name, cmd, cfs)
		return exitUsage
	}
	c, err := newClient(g)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard ctl: %v\n", err)
		return exitUsage
	}
	return cmd.run(&env{c: c, stdout: stdout, stderr: stderr}, pos, opts)
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments, which it returns; after "--" every word is
// positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `switchyard ctl: the command-line client of the switchyard admin API

Usage: switchyard ctl [--admin URL] [--token TOKEN] [--timeout D] COMMAND [ARGS]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return commandOrder[names[i]] < commandOrder[names[j]] })
	for _, n := range names {
		c := commands[n]
		syn := strings.Join(strings.Fields(n+" "+c.args+" "+c.opts), " ")
		fmt.Fprintf(w, "  %-38s %s\n", syn, c.help)
	}
	fmt.Fprintf(w, `
Global flags (before or after the command):
  --admin URL      admin API base URL (default %s; env SWITCHYARD_ADMIN)
  --token TOKEN    bearer token (env SWITCHYARD_TOKEN)
  --timeout D      time limit of each request (default %v)

Exit codes: 0 done, 1 the server refused or could not be reached, 2 bad usage.
Run "switchyard ctl COMMAND --help" for a command's flags.
`, defaultAdmin, defaultTimeout)
}

func commandUsage(w io.Writer, name string, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: switchyard ctl %s\n  %s\n", strings.TrimSpace(name+" [flags] "+c.args), c.help)
	var own []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage == "" { // the repeated global flags
			return
		}
		n, u := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if n != "" {
			line += " " + n
		}
		own = append(own, fmt.Sprintf("%-22s %s", line, u))
	})
	if len(own) > 0 {
		fmt.Fprintf(w, "Flags:\n%s\n", strings.Join(own, "\n"))
	}
}
