// Package readme holds the tests that keep README.md true: its code snippets
// are the code of examples that are compiled and run by their own tests, its
// attack table is the one the attack matrix test performs, and its test
// command is the one CI runs.
package readme

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const root = "../.."

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	require.NoError(t, err)
	return string(b)
}

var snippetRE = regexp.MustCompile("(?s)<!-- snippet: (\\S+) (\\S+) -->\n```go\n(.*?)```\n")

// TestSnippets checks that every Go snippet in the README is, line for line,
// the region of an example program between "// README-begin NAME" and
// "// README-end NAME".
func TestSnippets(t *testing.T) {
	t.Parallel()
	readme := read(t, "README.md")
	matches := snippetRE.FindAllStringSubmatch(readme, -1)
	require.GreaterOrEqual(t, len(matches), 2, "the README shows a pipeline and a device snippet")
	for _, m := range matches {
		file, name, snippet := m[1], m[2], m[3]
		src := read(t, file)
		begin := "// README-begin " + name + "\n"
		i := strings.Index(src, begin)
		require.GreaterOrEqual(t, i, 0, "%s has no %q", file, begin)
		j := strings.Index(src[i:], "// README-end "+name)
		require.Greater(t, j, 0, "%s: region %s has no end", file, name)
		region := src[i+len(begin) : i+j]
		require.Equal(t, dedent(region), snippet, "README snippet %s differs from %s", name, file)
	}
}

// dedent removes the indentation common to the non-empty lines of s, and
// the indentation of a trailing marker line.
func dedent(s string) string {
	lines := strings.Split(strings.TrimRight(s, " \t"), "\n")
	min := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if min < 0 || n < min {
			min = n
		}
	}
	for i, l := range lines {
		if len(l) >= min && min > 0 {
			lines[i] = l[min:]
		}
	}
	return strings.Join(lines, "\n")
}

// TestAttackTable checks that the README's threat-model table is the attack
// matrix that verify's tests perform (fuzz/ATTACKS.md is generated from them).
//
// With PATCHTRUST_WRITE_ATTACKS=1 it first rewrites the README's table from
// fuzz/ATTACKS.md.
func TestAttackTable(t *testing.T) {
	readme := read(t, "README.md")
	if os.Getenv("PATCHTRUST_WRITE_ATTACKS") != "" {
		readme = replaceTable(t, readme, read(t, "fuzz/ATTACKS.md"))
		require.NoError(t, os.WriteFile(filepath.Join(root, "README.md"), []byte(readme), 0o644))
	}
	var rows int
	for _, l := range strings.Split(read(t, "fuzz/ATTACKS.md"), "\n") {
		if strings.HasPrefix(l, "|") {
			require.Contains(t, readme, l+"\n", "README lacks the attack row %q", l)
			rows++
		}
	}
	require.Greater(t, rows, 20)
}

// replaceTable returns readme with its attack table (the lines from the
// "| Attack |" header to the first line that is not a table row) replaced
// by the table in attacks.
func replaceTable(t *testing.T, readme, attacks string) string {
	t.Helper()
	const header = "| Attack |"
	rows := func(s string) (start, end int) {
		start = strings.Index(s, header)
		require.GreaterOrEqual(t, start, 0, "no attack table")
		end = start
		for end < len(s) && s[end] == '|' {
			nl := strings.IndexByte(s[end:], '\n')
			require.GreaterOrEqual(t, nl, 0)
			end += nl + 1
		}
		return start, end
	}
	as, ae := rows(attacks)
	rs, re := rows(readme)
	return readme[:rs] + attacks[as:ae] + readme[re:]
}

// TestQuickStart checks the README's two commands and that CI runs the same
// test command.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	readme := read(t, "README.md")
	require.Contains(t, readme, "go run ./examples/quickstart")
	require.Contains(t, readme, "go test -race ./...")
	require.Contains(t, read(t, ".ci/run"), "go test -race ./...")
}
