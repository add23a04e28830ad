package anthropic

import (
	"strconv"
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// samplingRemovedIn is the first API version that refuses temperature, top_p and
// top_k (a 400 even at their defaults).
const samplingRemovedIn = "2026-10-21"

// refusesSampling reports whether API version v refuses the sampling parameters.
// Versions are dates, so they order as strings.
func refusesSampling(v string) bool { return strings.TrimSpace(v) >= samplingRemovedIn }

// stripSampling removes the sampling parameters from a translated Messages body for
// a version that refuses them, and names what it removed for the request log.
func stripSampling(body []byte, version string) ([]byte, []string) {
	var dropped []string
	for _, k := range [...]string{"temperature", "top_p", "top_k"} {
		if !gjson.GetBytes(body, k).Exists() {
			continue
		}
		if b, err := sjson.DeleteBytes(body, k); err == nil {
			body = b
			dropped = append(dropped, k+" (anthropic-version "+version+" refuses it)")
		}
	}
	return body, dropped
}

func applySampling(out *aRequest, maxTok *int, temp, topP *float64, stop stopList, user string, defMax int) *apierr.Error {
	if maxTok != nil {
		if *maxTok < 1 {
			return apierr.BadRequest("max_tokens", "max_tokens must be at least 1")
		}
		out.MaxTokens = *maxTok
	} else {
		out.MaxTokens = defMax
	}
	if temp != nil {
		// Anthropic's range is [0,1]; OpenAI's is [0,2]. Clamping is what Anthropic's own
		// compatibility layer does.
		t := min(max(*temp, 0), 1)
		out.Temperature = &t
	}
	if topP != nil {
		p := *topP
		out.TopP = &p
	}
	if out.Temperature != nil && out.TopP != nil && rejectsTempWithTopP(out.Model) {
		out.TopP = nil // these models answer 400 when both are set; temperature wins
	}
	for _, s := range stop {
		if strings.TrimSpace(s) != "" { // whitespace-only sequences are rejected
			out.StopSequences = append(out.StopSequences, s)
		}
	}
	if user != "" && !looksPersonal(user) {
		out.Metadata = &aMetadata{UserID: user}
	}
	return nil
}

// looksPersonal reports an email address or phone number, which Anthropic rejects as
// metadata.user_id (it must be an opaque id).
func looksPersonal(s string) bool {
	if strings.Contains(s, "@") {
		return true
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == '-' || r == ' ' || r == '(' || r == ')' || r == '.':
		default:
			return false
		}
	}
	return digits >= 7
}

// defaultMaxTokens is the per-model max_tokens when the client sets none. It is well
// below the newer models' ceilings on purpose: Anthropic reserves output-token rate
// limit from max_tokens up front, so a huge default would throttle every caller.
func defaultMaxTokens(model string) int {
	if isClaude3(model) {
		return 4096 // the claude-3 opus/sonnet/haiku output ceiling
	}
	return 8192
}

// isClaude3 matches the original claude-3 models (not 3.5 / 3.7).
func isClaude3(model string) bool {
	rest, ok := strings.CutPrefix(model, "claude-3-")
	if !ok {
		return false
	}
	return strings.HasPrefix(rest, "opus") || strings.HasPrefix(rest, "sonnet") || strings.HasPrefix(rest, "haiku")
}

// rejectsTempWithTopP matches claude-<family>-<major>-<minor> with a generation of 4.1
// or later (claude-opus-4-1, claude-sonnet-4-5, ...): those reject temperature and
// top_p together. Dated ids like claude-sonnet-4-20250514 are 4.0 and accept both.
func rejectsTempWithTopP(model string) bool {
	f := strings.Split(model, "-")
	if len(f) < 4 || f[0] != "claude" {
		return false
	}
	if _, err := strconv.Atoi(f[1]); err == nil {
		return false // claude-3-5-sonnet style: every such model predates the rule
	}
	major, err1 := strconv.Atoi(f[2])
	minor, err2 := strconv.Atoi(f[3])
	if err1 != nil {
		return false
	}
	if err2 != nil || len(f[3]) > 2 { // no minor, or a date
		return major > 4
	}
	return major > 4 || (major == 4 && minor >= 1)
}
