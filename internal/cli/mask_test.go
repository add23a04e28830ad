package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsMaskedInConfigAndProviders: base_url userinfo and credential query
// values, cookies and any header named like a credential never print in clear.
func TestSecretsMaskedInConfigAndProviders(t *testing.T) {
	home := t.TempDir()
	cfg := `
[[providers]]
name = "p"
kind = "openai"
base_url = "https://alice:hunter2-password@llm.example/v1?api_key=qwertyuiop123456&region=eu"
api_key = "sk-provider-key-0123456789"
models = ["m"]
[providers.headers]
Cookie = "session=cookie-secret-123456"
Set-Cookie = "id=setcookie-secret-123456"
Proxy-Authorization = "Basic proxy-secret-123456"
X-Custom-Token = "token-secret-123456"
X-Visible = "plain-value"
`
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"hunter2-password", "qwertyuiop123456", "sk-provider-key-0123456789", "cookie-secret-123456",
		"setcookie-secret-123456", "proxy-secret-123456", "token-secret-123456"}
	for _, args := range [][]string{{"config", "check"}, {"config", "check", "--json"}, {"providers", "list"}, {"providers", "list", "--json"}} {
		code, out, errOut := runCLI(t, home, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s %s", args, code, out, errOut)
		}
		for _, s := range secrets {
			if strings.Contains(out+errOut, s) {
				t.Errorf("%v prints %q:\n%s", args, s, out)
			}
		}
		if args[0] == "config" && !strings.Contains(out, "plain-value") {
			t.Errorf("%v hides a plain header:\n%s", args, out)
		}
	}
}
