// Command patchtrust makes, signs, publishes and inspects signed background
// security patches.
//
// Usage:
//
//	patchtrust <command> [flags] [args]
//
// Run "patchtrust help" for the list of commands, and
// "patchtrust <command> -h" for the flags of one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// A command is one subcommand of the CLI.
type command struct {
	name    string
	args    string // synopsis after the flags, e.g. "OLD NEW PATCH"
	summary string // one line
	// run executes the command. fs has been created for it; run defines its
	// flags, parses args with it, and returns an error to print and exit 1.
	run func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
}

// env is what a command may touch of the outside world.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	// terminal reports whether stderr is an interactive terminal, for progress output.
	terminal bool
}

// commands is filled by the register calls in this package's files.
var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage makes run print the command's usage and exit with status 2.
// errUsage wraps a command's misuse: main prints the error and the
// command's usage. errUsageShown is misuse the flag package already
// reported, usage included.
var (
	errUsage      = errors.New("usage")
	errUsageShown = errors.New("usage shown")
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, terminal: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "patchtrust: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return 2
	}
	fs := flag.NewFlagSet("patchtrust "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: patchtrust %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
		if hasFlags(fs) {
			fmt.Fprintf(e.stderr, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	err := c.run(ctx, e, fs, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsageShown):
		return 2
	case errors.Is(err, errUsage):
		// Say what is wrong, then how to call the command.
		fmt.Fprintf(e.stderr, "patchtrust %s: %v\n", c.name, err)
		fs.Usage()
		return 2
	default:
		fmt.Fprintf(e.stderr, "patchtrust %s: %v\n", c.name, err)
		return 1
	}
}

// parse parses args with fs and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsageShown // the flag package printed the error and the usage
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

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
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
	fmt.Fprintf(w, "\nRun 'patchtrust <command> -h' for a command's flags.\n")
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
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
