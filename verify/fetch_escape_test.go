package verify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPFetcherKeepsEscapes: a mirror whose base path holds escapes
// ("%2F" is not a path separator, "%5B" and a space stay escaped) is
// fetched at exactly that path, and a role's escaped file name
// ("1.a%2Fb.json" for role "a/b") is sent as it is, as TUF clients send
// it; a byte that may not appear in a path is escaped.
func TestHTTPFetcherKeepsEscapes(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.EscapedPath()
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	f, err := HTTPFetcher([]string{srv.URL + "/repo%2Fone%5Bx%5D%20y/metadata"}, nil)
	require.NoError(t, err)
	for _, tc := range []struct{ path, want string }{
		{"timestamp.json", "/repo%2Fone%5Bx%5D%20y/metadata/timestamp.json"},
		{"1.a%2Fb.json", "/repo%2Fone%5Bx%5D%20y/metadata/1.a%2Fb.json"},
		{"targets/file with space", "/repo%2Fone%5Bx%5D%20y/metadata/targets/file%20with%20space"},
		{"targets/100%", "/repo%2Fone%5Bx%5D%20y/metadata/targets/100%25"},
	} {
		rc, err := f.Fetch(context.Background(), tc.path)
		require.NoError(t, err, tc.path)
		io.Copy(io.Discard, rc)
		rc.Close()
		assert.Equal(t, tc.want, <-got, tc.path)
	}
}
