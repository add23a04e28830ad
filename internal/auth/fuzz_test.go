package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/store"
)

// FuzzAuthenticate sends arbitrary Authorization headers, built as pre + key + post
// around one of the known secrets (or none), through Authenticate. It must never
// panic and must authenticate only when the header is the Bearer scheme (any case),
// optional spaces or tabs, and then exactly a live key: not a revoked one, not a
// prefix or extension of one, not one with a stray byte around it.
func FuzzAuthenticate(f *testing.F) {
	const static = "sk-static-fuzz-key-0123456789abcdef"
	s := openStore(f, "")
	ctx := context.Background()
	live, liveSecret := createKey(f, s, store.NewKey{Name: "live"})
	revoked, revokedSecret := createKey(f, s, store.NewKey{Name: "revoked"})
	if err := s.RevokeKey(ctx, revoked.ID); err != nil {
		f.Fatal(err)
	}
	// A static key that shares the stored key's display prefix ("sk-rs-" and more).
	lookalike := liveSecret[:len(liveSecret)-1] + "Z"
	if lookalike == liveSecret {
		lookalike = liveSecret[:len(liveSecret)-1] + "Y"
	}
	a := newAuth(f, Options{Store: s, StaticKeys: []string{static, lookalike}})
	secrets := []string{"", static, liveSecret, revokedSecret, lookalike}
	owner := map[string]string{static: "static", liveSecret: live.ID, lookalike: "static"}

	for _, sd := range []struct {
		pre   string
		which uint8
		post  string
	}{
		{"Bearer ", 1, ""}, {"Bearer ", 2, ""}, {"Bearer ", 3, ""}, {"Bearer ", 4, ""},
		{"bearer ", 2, ""}, {"BEARER\t", 2, ""}, {"  Bearer    ", 2, "  "}, {"Bearer", 2, ""},
		{"Bearer ", 2, "\n"}, {"Bearer ", 2, "\r\n"}, {"Bearer ", 2, "\x00"}, {"Bearer ", 2, "\u00a0"},
		{"Bearer ", 2, "\u0085"}, {"Bearer\u00a0", 2, ""}, {"Bearer ", 2, ", Bearer x"}, {"Bearer x, Bearer ", 2, ""},
		{"Basic ", 2, ""}, {"Bearer Bearer ", 2, ""}, {"Bearer ", 2, "x"}, {"Bearer x", 2, ""}, {"", 2, ""},
		{"Token ", 1, ""}, {"Bearer ", 0, ""}, {"", 0, ""}, {"Bearer\v", 2, ""}, {"\nBearer ", 2, ""},
	} {
		f.Add(sd.pre, sd.which, sd.post)
	}
	f.Fuzz(func(t *testing.T, pre string, which uint8, post string) {
		key := secrets[int(which)%len(secrets)]
		h := pre + key + post
		p, e := a.Authenticate(h)
		if (p == nil) == (e == nil) {
			t.Fatalf("Authenticate(%q) = %v, %v: want exactly one", h, p, e)
		}
		tok, form := bearerForm(h)
		id, known := owner[tok]
		if p != nil {
			if !form || !known {
				t.Fatalf("Authenticate(%q) let in %s with token %q", h, p.KeyID, tok)
			}
			if id == "static" && !p.Static || id != "static" && p.KeyID != id {
				t.Fatalf("Authenticate(%q) = %s, want key %s", h, p.KeyID, id)
			}
			return
		}
		if e.Status != 401 || strings.ContainsAny(e.Message, "\r\n") {
			t.Fatalf("Authenticate(%q): %d %q", h, e.Status, e.Message)
		}
		if form && known {
			t.Fatalf("Authenticate(%q) refused a live key: %s", h, e.Message)
		}
		for _, sec := range secrets[1:] {
			if strings.Contains(e.Message, sec) {
				t.Fatalf("the 401 for %q echoes a whole secret: %s", h, e.Message)
			}
		}
	})
}

// bearerForm is the reference reading of a header: HTTP optional whitespace (space,
// tab) around it, "Bearer" in any case, at least one space or tab, then the token.
func bearerForm(h string) (string, bool) {
	h = strings.Trim(h, " \t")
	i := strings.IndexAny(h, " \t")
	if i < 0 || !strings.EqualFold(h[:i], "Bearer") {
		return "", false
	}
	tok := strings.TrimLeft(h[i:], " \t")
	return tok, tok != ""
}
