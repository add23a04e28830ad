package gateway

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/dialect/messages"
	"github.com/jmanhype/runestone/internal/dialect/responses"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
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

// FuzzCheckedInspect: on every body checkBody lets through, the inspectors that
// skip their own validation (the request path's) answer exactly as the full ones.
func FuzzCheckedInspect(f *testing.F) {
	for _, s := range []string{benchReq, benchMessagesReq, benchResponsesReq, `{"model":"m","input":[1e400]}`,
		`{"model":"m","messages":[{"role":"user","content":"\ud800"}],"max_tokens":1}`, `[]`, `{"model":"x\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkBody(body) != nil {
			return
		}
		if !gjson.ValidBytes(body) {
			t.Fatalf("checkBody passed what gjson calls invalid: %q", body)
		}
		for _, ep := range []provider.Endpoint{provider.Chat, provider.Completions, provider.Embeddings} {
			a, ea := inspect(body, ep)
			b, eb := inspectChecked(body, ep)
			if a != b || !reflect.DeepEqual(ea, eb) {
				t.Fatalf("%v: inspect %+v %v, inspectChecked %+v %v", ep, a, ea, b, eb)
			}
		}
		for name, pair := range map[string][2]func([]byte) (string, bool, *apierr.Error){
			"messages":  {messages.Inspect, messages.InspectChecked},
			"responses": {responses.Inspect, responses.InspectChecked},
		} {
			m1, s1, e1 := pair[0](body)
			m2, s2, e2 := pair[1](body)
			if m1 != m2 || s1 != s2 || !reflect.DeepEqual(e1, e2) {
				t.Fatalf("%s: full %q %v %v, checked %q %v %v", name, m1, s1, e1, m2, s2, e2)
			}
		}
	})
}
