package delta

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMESnippet keeps the README's example identical to the body of
// Example, which go test compiles and runs.
func TestREADMESnippet(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	snippet := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, snippet, "README has no Go snippet")
	body := regexp.MustCompile(`(?s)\nfunc Example\(\) \{\n(.*?)\t// Output:`).FindSubmatch(src)
	require.NotNil(t, body, "example_test.go has no Example")
	require.Equal(t, strings.TrimSpace(string(body[1])), strings.TrimSpace(string(snippet[1])))
}
