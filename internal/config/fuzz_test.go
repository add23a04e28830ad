package config

import (
	"regexp"
	"strings"
	"testing"
)

// keyNamed matches the names Validate's messages start from: a dotted key, a
// provider or route reference, or the log format.
var keyNamed = regexp.MustCompile(`(server|limits|router|breaker|auth|log)\.[a-z_]+|providers\[\d+\]|provider "|provider name|two providers|route "|\[\[routes\]\]|log format`)

// fileLine is how a decode error starts: file:line: or file:line:column:.
var fileLine = regexp.MustCompile(`^config\.toml:\d+(:\d+)?: `)

// FuzzConfig feeds arbitrary bytes through the strict decoder and Validate, as
// `runestone serve` does with config.toml: it must never panic, and every error is
// one line that names where the problem is (file:line) or which key it concerns.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(Template))
	for _, s := range []string{
		"",
		"[server]\naddr = \"127.0.0.1:1\"\n",
		"[limits]\nrpmm = 5\n",
		"[router]\npolicy = \"fastest\"\n",
		"[limits]\nrpm = -1\nrph = -2\n",
		"[breaker]\ncooldown = \"soon\"\n",
		"[[providers]]\nname = \"x\"\nkind = \"gemini\"\nbase_url = \"ftp://a\"\n[[providers]]\nname = \"x\"\n",
		"[[providers]]\nname = \"m\"\nkind = \"mock\"\n[[routes]]\nmodel = \"s\"\ntargets = [\"nope:x\"]\n",
		"server = 5\n",
		"[server]\nmax_body_bytes = \"big\"\n",
		"[server]\nmax_body_bytes = 99999999999999999999999\n",
		"[pricing.\"gpt-4o\"]\ninput = 1e400\n",
		"[[providers]]\nheaders = { \"a\\nb\" = 1 }\n",
		"\"a\\nb\" = 1\n",
		"[a.\"\\u0000\"]\n",
		"[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://x\"\ntimeout = \"-5s\"\n",
		"[server]\nread_header_timeout = \"9999999999h\"\n",
		"[auth]\nkeys = [1, \"x\"]\n",
		"[[routes]]\n[[routes]]\nmodel = \"m\"\n",
		"x = \"\"\"\nmulti\nline\n\"\"\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Default()
		err := decodeStrict("config.toml", data, cfg)
		if err == nil {
			cfg.LogFormat = "text"
			for i := range cfg.Providers {
				fillProviderDefaults(&cfg.Providers[i])
			}
			err = cfg.Validate()
			if err != nil && !keyNamed.MatchString(err.Error()) {
				t.Fatalf("validation error names no key: %q", err)
			}
		} else if !fileLine.MatchString(err.Error()) {
			t.Fatalf("decode error does not name file and line: %q", err)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatalf("error is not one line: %q", err)
		}
		if err == nil {
			// A valid configuration renders back (config check) without panicking.
			if _, err := cfg.Redacted().TOML(); err != nil {
				t.Fatalf("valid config does not render: %v", err)
			}
		}
	})
}
