package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAdminAllowed sends arbitrary Authorization headers (pre + admin key + post, or
// without the key) and peer addresses to the operations guard of a gateway with an
// admin key: only exactly "Bearer <admin key>" (any case, spaces or tabs around) may
// pass, from any peer, loopback included; forwarded-for headers never count.
func FuzzAdminAllowed(f *testing.F) {
	const adminKey = "admin-fuzz-key-0123456789"
	g := New(Options{AdminKey: adminKey})
	for _, s := range []struct {
		pre      string
		withKey  bool
		post     string
		remote   string
		xff      string
		twoAuths bool
	}{
		{"Bearer ", true, "", "203.0.113.1:1", "", false},
		{"bearer  ", true, " ", "203.0.113.1:1", "", false},
		{"Bearer ", true, "\n", "203.0.113.1:1", "127.0.0.1", false},
		{"Bearer ", true, "x", "203.0.113.1:1", "", false},
		{"Bearer ", false, "", "127.0.0.1:5", "", false},
		{"Bearer ", false, "", "[::1]:5", "", false},
		{"Bearer ", false, "", "127.0.0.1", "", false},
		{"", false, "", "[::ffff:127.0.0.1]:5", "", false},
		{"Bearer ", true, "", "10.0.0.1:1", "", true},
		{"Basic ", true, "", "203.0.113.1:1", "127.0.0.1", false},
		{"Bearer\t", true, "", "203.0.113.1:1", "", false},
	} {
		f.Add(s.pre, s.withKey, s.post, s.remote, s.xff, s.twoAuths)
	}
	f.Fuzz(func(t *testing.T, pre string, withKey bool, post, remote, xff string, twoAuths bool) {
		h := pre + post
		if withKey {
			h = pre + adminKey + post
		}
		r := httptest.NewRequest("GET", "/admin/state", nil)
		r.RemoteAddr = remote
		r.Header["Authorization"] = []string{h}
		if twoAuths {
			r.Header["Authorization"] = append(r.Header["Authorization"], "Bearer "+adminKey)
		}
		r.Header["X-Forwarded-For"] = []string{xff}
		got := g.adminAllowed(r)
		// An admin key is set: from then on a loopback peer alone no longer counts.
		want := false
		if !twoAuths {
			trimmed := strings.Trim(h, " \t")
			scheme, tok, ok := strings.Cut(trimmed, " ")
			if ok && strings.EqualFold(scheme, "Bearer") && strings.Trim(tok, " \t") == adminKey {
				want = true
			}
		}
		if got && !want {
			t.Fatalf("admin allowed: Authorization %q (two: %v) from %q, X-Forwarded-For %q", h, twoAuths, remote, xff)
		}
		if !got && want {
			t.Fatalf("admin refused: Authorization %q from %q", h, remote)
		}
	})
}
