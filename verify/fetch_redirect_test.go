package verify

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCheckRedirect: the redirect policy of HTTPFetcher's own client.
func TestCheckRedirect(t *testing.T) {
	t.Parallel()
	req := func(u string) *http.Request {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: p}
	}
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"https://cdn.example.com/m/", "https://bucket.example.net/m/x", true},
		{"http://cdn.example.com/m/", "https://cdn.example.com/m/x", true},
		{"https://cdn.example.com/m/", "http://cdn.example.com/m/x", false},
		{"https://cdn.example.com/m/", "ftp://cdn.example.com/x", false},
		{"https://cdn.example.com/m/", "http://127.0.0.1:8080/admin", false},
		{"https://cdn.example.com/m/", "https://10.0.0.1/admin", false},
		{"https://cdn.example.com/m/", "https://192.168.1.1/", false},
		{"https://cdn.example.com/m/", "https://169.254.169.254/latest/meta-data", false},
		{"https://cdn.example.com/m/", "https://[::1]/", false},
		{"https://cdn.example.com/m/", "https://localhost/", false},
		{"http://127.0.0.1:9000/m/", "http://127.0.0.1:9001/m/x", true},
		{"http://10.1.2.3/m/", "http://10.1.2.4/m/x", true},
	} {
		err := checkRedirect(req(tc.to), []*http.Request{req(tc.from)})
		assert.Equal(t, tc.ok, err == nil, "%s -> %s: %v", tc.from, tc.to, err)
	}
	var via []*http.Request
	for range 5 {
		via = append(via, req("https://cdn.example.com/"))
	}
	assert.Error(t, checkRedirect(req("https://cdn.example.com/x"), via), "a sixth redirect")
}
