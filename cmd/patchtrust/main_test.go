package main

import (
	"context"
	"fmt"
	"os"
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
	})
}
