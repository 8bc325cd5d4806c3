package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"
)

// A command is one subcommand of the CLI.
type command struct {
	name    string
	args    string // synopsis after the flags, e.g. "OLD NEW PATCH"
	summary string // one line, for the command list
	// description is one paragraph for "patchtrust help NAME", wrapped at
	// 76 columns.
	description string
	// output describes what --json prints: the fields of the one object.
	output string
	// example is a worked example, one or more command lines.
	example string
	// run executes the command. fs has been created for it, with --json
	// defined; run defines its other flags and calls parse before anything
	// else (help runs it with -h), and returns an error that run reports
	// with a stable code and exit status (see errors.go).
	run func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
}

// synopsis returns the command's usage line, such as
// "patchtrust diff [flags] OLD NEW PATCH".
func (c *command) synopsis() string {
	return strings.TrimSpace("patchtrust " + c.name + " [flags] " + c.args)
}

// env is what a command may touch of the outside world.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	// terminal reports whether stderr is an interactive terminal, for progress output.
	terminal bool
	// now is the clock of progress output; nil means time.Now.
	now func() time.Time
	// json is the command's --json flag, set by run.
	json *bool
}

// asJSON reports whether the command was given --json.
func (e *env) asJSON() bool { return e.json != nil && *e.json }

// report prints a command's result: v as one JSON object with --json,
// otherwise what text writes.
func (e *env) report(v any, text func(w io.Writer)) error {
	if e.asJSON() {
		return writeJSON(e.stdout, v)
	}
	if text != nil {
		text(e.stdout)
	}
	return nil
}

// writeJSON writes v as one indented JSON object and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// commands is filled by the register calls in this package's files.
var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage wraps a command's misuse: run prints the error and the
// command's usage, and exits with status 2.
var errUsage = errors.New("usage")

// Exit statuses.
const (
	exitOK       = 0
	exitError    = 1 // any other failure: I/O, network, repository state
	exitUsage    = 2
	exitSecurity = 3 // a signature, hash or format check failed
)

const exitText = `exit status: 0 success, 1 failure (I/O, network, repository state),
2 usage error, 3 security refusal (a signature, hash or format check failed).`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, terminal: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return runHelp(ctx, e, args[1:])
	}
	c, ok := commands[args[0]]
	if !ok {
		return fail(e, nil, nil, fmt.Errorf("%w: unknown command %q", errUsage, args[0]), wantsJSON(args[1:]))
	}
	fs := flag.NewFlagSet("patchtrust "+c.name, flag.ContinueOnError)
	// parse reports flag errors; help is printed by printHelp.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	ce := *e
	ce.json = fs.Bool("json", false, "print the result as one JSON object on stdout, and errors as one on stderr")
	err := c.run(ctx, &ce, fs, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		printHelp(e.stdout, c, fs)
		return exitOK
	}
	return fail(e, c, fs, err, ce.asJSON() || wantsJSON(args[1:]))
}

// runHelp prints the general usage, or with one argument that command's help.
func runHelp(ctx context.Context, e *env, args []string) int {
	switch {
	case len(args) == 0:
		usage(e.stdout)
		return exitOK
	case len(args) > 1:
		return fail(e, nil, nil, fmt.Errorf("%w: help takes at most one command, %d given", errUsage, len(args)), false)
	}
	if _, ok := commands[args[0]]; !ok {
		return fail(e, nil, nil, fmt.Errorf("%w: unknown command %q", errUsage, args[0]), false)
	}
	// Every command defines its flags and parses before doing anything, so
	// -h prints its help and runs nothing.
	return run(ctx, []string{args[0], "-h"}, e)
}

// fail reports err on stderr, as text or as one JSON object, and returns the
// exit status for it. c and fs are nil when no command was found.
func fail(e *env, c *command, fs *flag.FlagSet, err error, asJSON bool) int {
	code, status := classify(err)
	if asJSON {
		writeError(e.stderr, code, err)
		return status
	}
	if c == nil {
		fmt.Fprintf(e.stderr, "patchtrust: %s\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		if status == exitUsage {
			fmt.Fprintln(e.stderr)
			usage(e.stderr)
		}
		return status
	}
	fmt.Fprintf(e.stderr, "patchtrust %s: %v\n", c.name, err)
	if status == exitUsage {
		// Say what is wrong, then how to call the command.
		fmt.Fprintf(e.stderr, "usage: %s\n\n%s\n", c.synopsis(), c.summary)
		fmt.Fprintf(e.stderr, "\nflags:\n")
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
		fmt.Fprintf(e.stderr, "\nRun 'patchtrust help %s' for details and an example.\n", c.name)
	}
	return status
}

// writeError writes the JSON error object {"error":{"code":…,"message":…}}.
func writeError(w io.Writer, code string, err error) {
	b, _ := json.Marshal(struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{Error: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, err.Error()}})
	fmt.Fprintf(w, "%s\n", b)
}

// wantsJSON reports whether args hold --json before any "--", for errors
// that happen before the flags are parsed.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-json", "--json", "-json=true", "--json=true", "-json=1", "--json=1":
			return true
		}
	}
	return false
}

// printHelp prints a command's usage line, description, flags, JSON output
// and example.
func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n\nflags:\n", c.synopsis(), strings.TrimSpace(c.description))
	fs.SetOutput(w)
	fs.PrintDefaults()
	if c.output != "" {
		fmt.Fprintf(w, "\nwith --json, stdout is one JSON object:\n%s\n", indent(c.output))
	}
	fmt.Fprintf(w, "\nerrors with --json are one object on stderr:\n  {\"error\": {\"code\": CODE, \"message\": TEXT}}\n")
	fmt.Fprintf(w, "(codes: go doc github.com/patchtrust/patchtrust/cmd/patchtrust)\n")
	fmt.Fprintf(w, "\nexample:\n%s\n\n%s\n", indent(c.example), exitText)
}

// indent indents each line of s by two spaces.
func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// parse parses args with fs and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if n := fs.NArg(); n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		want := fmt.Sprintf("%d to %d", minArgs, maxArgs)
		switch {
		case minArgs == maxArgs:
			want = fmt.Sprint(minArgs)
		case maxArgs < 0:
			want = fmt.Sprintf("at least %d", minArgs)
		}
		return fmt.Errorf("%w: %s arguments expected, %d given", errUsage, want, n)
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "patchtrust makes, signs and publishes signed background security patches.\n\nusage: patchtrust <command> [flags] [args]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'patchtrust help <command>' (or 'patchtrust <command> -h') for a command's\n")
	fmt.Fprintf(w, "flags, its --json output and an example. Every command takes --json: one\n")
	fmt.Fprintf(w, "JSON object on stdout, errors as {\"error\": {\"code\": …, \"message\": …}} on stderr.\n\n%s\n", exitText)
}

// isTerminal reports whether f is an interactive terminal that can rewrite
// a line (not /dev/null, a pipe or a file, and TERM is not "dumb").
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// stringList is a repeatable or comma-separated flag value.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
