package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"patchtrust": func() {
			os.Exit(run(context.Background(), os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}))
		},
	})
}

// TestScripts runs the end-to-end CLI scripts in testdata/script, each a
// txtar archive of files and commands typed as a user would.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		// [cloud] holds in builds with -tags cloud (KMS keys, bucket URLs).
		Condition: func(cond string) (bool, error) {
			if cond == "cloud" {
				return cloudBuild, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonhas": cmdJSONHas,
			"exits":   cmdExits,
		},
	})
}

// cmdJSONHas is the script command
//
//	jsonhas FILE PATH [REGEXP]
//
// FILE (stdout, stderr or a file) must hold exactly one JSON object, with a
// value at PATH (".patch.size", ".roles.0.name"; "." is the object), which
// matches REGEXP if given: a string as is, anything else as compact JSON.
// With "!", the object must have no such value.
func cmdJSONHas(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: jsonhas FILE PATH [REGEXP]")
	}
	v, err := oneJSONObject(ts.ReadFile(args[0]))
	if err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
	got, found := jsonPath(v, args[1])
	if found && len(args) == 3 {
		s, ok := got.(string)
		if !ok {
			b, _ := json.Marshal(got)
			s = string(b)
		}
		found = regexp.MustCompile(args[2]).MatchString(s)
		if !found && !neg {
			ts.Fatalf("%s %s is %s, does not match %q", args[0], args[1], s, args[2])
		}
	}
	switch {
	case !found && !neg:
		ts.Fatalf("%s has no %s", args[0], args[1])
	case found && neg:
		ts.Fatalf("%s has %s", args[0], args[1])
	}
}

// oneJSONObject decodes s, which must be exactly one JSON object and
// whitespace.
func oneJSONObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not one JSON object: %v", err)
	}
	if v == nil {
		return nil, errors.New("null, not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// jsonPath returns the value at a path such as ".a.b.0.c" in v.
func jsonPath(v any, path string) (any, bool) {
	if path == "." {
		return v, true
	}
	for _, k := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// cmdExits is the script command
//
//	exits STATUS COMMAND [ARGS...]
//
// which runs COMMAND like exec and fails unless it exits with STATUS.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// TestHelpEveryCommand checks that each command's help has its usage line,
// description, flags, --json output, example and exit statuses, on stdout,
// the same for "help CMD", "CMD -h" and "CMD --help".
func TestHelpEveryCommand(t *testing.T) {
	t.Parallel()
	for name, c := range commands {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var first string
			for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "--help"}, {name, "--json", "-help"}} {
				var stdout, stderr bytes.Buffer
				status := run(context.Background(), args, &env{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader("")})
				if status != 0 || stderr.Len() != 0 {
					t.Fatalf("%q: exit status %d, stderr %q", args, status, stderr.String())
				}
				out := stdout.String()
				for _, want := range []string{
					"usage: " + c.synopsis() + "\n\n",
					strings.TrimSpace(c.description)[:20],
					"\nflags:\n  -", "\n  -json\n",
					"\nwith --json, stdout is one JSON object:\n  {",
					"\nexample:\n  patchtrust " + name + " ",
					"exit status: 0 success",
				} {
					if !strings.Contains(out, want) {
						t.Errorf("%q: help lacks %q:\n%s", args, want, out)
					}
				}
				if first == "" {
					first = out
				} else if out != first {
					t.Errorf("%q: help differs from 'help %s'", args, name)
				}
			}
		})
	}
}
