package cassette

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tidwall/gjson"
)

// Summary describes one valid cassette.
type Summary struct {
	File     string `json:"file"`
	Endpoint string `json:"endpoint"`
	Model    string `json:"model"`
	Seq      int    `json:"seq"`
	Status   int    `json:"status"`
	Provider string `json:"provider,omitempty"` // the provider that answered ("mock" for the offline mock)
	Stream   bool   `json:"stream"`
	Events   int    `json:"events"`
	Answer   string `json:"answer"` // the answer's text, tool calls and stop reason, shortened
	Session  string `json:"session,omitempty"`
	At       string `json:"at,omitempty"`
}

// ReadOptions bound what reading a folder may cost.
type ReadOptions struct {
	// MaxFileBytes caps one cassette file (0 = DefaultMaxFileBytes).
	MaxFileBytes int64
	// Normalize are rules on top of the built-in agent rules, as replay applies them.
	Normalize []NormalizeRule
}

// Check validates every cassette of dir and summarizes them in file order. The error
// lists every invalid file (the summaries of the valid ones still come back), what a
// file holds that replay would not send (headers outside the allow-list, say), and
// two files that claim the same request and seq.
func Check(dir string, o ReadOptions) ([]Summary, error) {
	n, err := newNormalizer(o.Normalize)
	if err != nil {
		return nil, err
	}
	fo, err := openFolder(dir, o.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	files, err := fo.files()
	if err != nil {
		return nil, err
	}
	var out []Summary
	var errs []error
	seen := map[string]string{}
	for _, f := range files {
		rec, err := fo.read(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name := filepath.Base(f)
		for _, p := range rec.unsafeParts() {
			errs = append(errs, fmt.Errorf("%s: %s", name, p))
		}
		k := makeKey(rec.Request.Endpoint, rec.Request.Headers, rec.Request.BodyBytes(), nil, n)
		id := fmt.Sprintf("%s\x00%d", k.text, rec.Seq)
		if other, dup := seen[id]; dup {
			errs = append(errs, fmt.Errorf("%s: same request and seq %d as %s", name, rec.Seq, other))
		}
		seen[id] = name
		a := answerOf(rec)
		out = append(out, Summary{File: name, Endpoint: rec.Request.Endpoint,
			Model: gjson.GetBytes(rec.Request.BodyBytes(), "model").String(), Seq: rec.Seq,
			Status: rec.Response.Status, Provider: rec.Provider, Stream: rec.Response.Stream, Events: len(rec.Response.Events), Answer: a.String(),
			Session: rec.Session, At: rec.At})
	}
	sortTurns(out)
	return out, errors.Join(errs...)
}

// sortTurns orders summaries as sessions of turns: cassettes without a session first
// in file order, then each session (by its first turn's time) with its turns in the
// order they were recorded (At, then seq).
func sortTurns(s []Summary) {
	first := map[string]string{}
	for _, x := range s {
		if x.Session != "" && (first[x.Session] == "" || x.At < first[x.Session]) {
			first[x.Session] = x.At
		}
	}
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if (a.Session == "") != (b.Session == "") {
			return a.Session == ""
		}
		if a.Session == "" {
			return false // file order, kept by the stable sort
		}
		if a.Session != b.Session {
			if first[a.Session] != first[b.Session] {
				return first[a.Session] < first[b.Session]
			}
			return a.Session < b.Session
		}
		if a.At != b.At {
			return a.At < b.At
		}
		return a.Seq < b.Seq
	})
}

// Change is one difference between two recordings.
type Change struct {
	Kind    string   `json:"kind"` // added | removed | changed
	File    string   `json:"file"` // in the second folder (added, changed) or the first (removed)
	Old     string   `json:"old,omitempty"`
	Details []string `json:"details,omitempty"` // "text: "Paris" → "Lyon"", "tool calls: …", "stop: …", "status: …"
}

func (c Change) String() string {
	switch c.Kind {
	case "added":
		return "+ " + c.File
	case "removed":
		return "- " + c.File
	}
	head := "~ " + c.File
	if c.Old != "" && c.Old != c.File {
		head += " (was " + c.Old + ")"
	}
	return head + "\n    " + strings.Join(c.Details, "\n    ")
}

// Diff pairs the cassettes of two folders by request (match key and seq) and reports
// requests only in one of them, and, for pairs, changes in what matters to a test:
// status, text, tool calls (names and arguments), stop reason. Ids, timings and usage
// are not compared.
func Diff(dir1, dir2 string, o ReadOptions) ([]Change, error) {
	a, err := loadByKey(dir1, o)
	if err != nil {
		return nil, err
	}
	b, err := loadByKey(dir2, o)
	if err != nil {
		return nil, err
	}
	var out []Change
	for id, ra := range a {
		rb, ok := b[id]
		if !ok {
			out = append(out, Change{Kind: "removed", File: ra.name})
			continue
		}
		if d := compareAnswers(answerOf(ra.rec), answerOf(rb.rec)); len(d) > 0 {
			out = append(out, Change{Kind: "changed", File: rb.name, Old: ra.name, Details: d})
		}
	}
	for id, rb := range b {
		if _, ok := a[id]; !ok {
			out = append(out, Change{Kind: "added", File: rb.name})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Kind < out[j].Kind
	})
	return out, nil
}

type named struct {
	name string
	rec  *Record
}

func loadByKey(dir string, o ReadOptions) (map[string]named, error) {
	n, err := newNormalizer(o.Normalize)
	if err != nil {
		return nil, err
	}
	fo, err := openFolder(dir, o.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	files, err := fo.files()
	if err != nil {
		return nil, err
	}
	out := map[string]named{}
	var errs []error
	for _, f := range files {
		rec, err := fo.read(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k := makeKey(rec.Request.Endpoint, rec.Request.Headers, rec.Request.BodyBytes(), nil, n)
		out[fmt.Sprintf("%s\x00%d", k.text, rec.Seq)] = named{filepath.Base(f), rec}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", dir, errors.Join(errs...))
	}
	return out, nil
}

// answer is what a test cares about in a response.
type answer struct {
	status int
	text   string
	tools  []string // "name(arguments)"
	stop   string
	err    string
}

func (a answer) String() string {
	var parts []string
	if a.text != "" {
		parts = append(parts, short(fmt.Sprintf("%q", a.text)))
	}
	parts = append(parts, a.tools...)
	if a.stop != "" {
		parts = append(parts, "stop="+a.stop)
	}
	if a.err != "" {
		parts = append(parts, "error="+short(a.err))
	}
	return strings.Join(parts, " ")
}

func compareAnswers(x, y answer) []string {
	var d []string
	if x.status != y.status {
		d = append(d, fmt.Sprintf("status: %d → %d", x.status, y.status))
	}
	if x.text != y.text {
		d = append(d, fmt.Sprintf("text: %s → %s", short(fmt.Sprintf("%q", x.text)), short(fmt.Sprintf("%q", y.text))))
	}
	if strings.Join(x.tools, "\n") != strings.Join(y.tools, "\n") {
		d = append(d, fmt.Sprintf("tool calls: %s → %s", listOrNone(x.tools), listOrNone(y.tools)))
	}
	if x.stop != y.stop {
		d = append(d, fmt.Sprintf("stop reason: %s → %s", orNone(x.stop), orNone(y.stop)))
	}
	if x.err != y.err {
		d = append(d, fmt.Sprintf("error: %s → %s", orNone(short(x.err)), orNone(short(y.err))))
	}
	return d
}

func listOrNone(ss []string) string {
	if len(ss) == 0 {
		return "(none)"
	}
	return short(strings.Join(ss, ", "))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// answerOf reads text, tool calls and stop reason from a recorded response in any of
// the dialects: OpenAI chat and completions, Anthropic Messages, OpenAI Responses,
// streamed or not.
func answerOf(rec *Record) answer {
	a := answer{status: rec.Response.Status}
	if !rec.Response.Stream {
		body := string(rec.Response.BodyBytes())
		if gjson.Valid(body) {
			fromBody(gjson.Parse(body), &a)
		}
		return a
	}
	type tool struct{ name, args string }
	var tools []*tool
	toolAt := map[int64]*tool{}
	var text strings.Builder
	for _, e := range rec.Response.Events {
		if !gjson.Valid(e.Data) {
			continue
		}
		d := gjson.Parse(e.Data)
		if m := d.Get("error.message"); m.Exists() {
			a.err = m.String()
		}
		switch typ := d.Get("type").String(); {
		case d.Get("choices").Exists(): // OpenAI chat / completions chunk
			c := d.Get("choices.0")
			text.WriteString(c.Get("delta.content").String())
			text.WriteString(c.Get("text").String())
			c.Get("delta.tool_calls").ForEach(func(_, tc gjson.Result) bool {
				i := tc.Get("index").Int()
				t := toolAt[i]
				if t == nil {
					t = &tool{}
					toolAt[i] = t
					tools = append(tools, t)
				}
				t.name += tc.Get("function.name").String()
				t.args += tc.Get("function.arguments").String()
				return true
			})
			if f := c.Get("finish_reason").String(); f != "" {
				a.stop = f
			}
		case typ == "content_block_start": // Anthropic
			if cb := d.Get("content_block"); cb.Get("type").String() == "tool_use" {
				t := &tool{name: cb.Get("name").String()}
				toolAt[d.Get("index").Int()] = t
				tools = append(tools, t)
			}
		case typ == "content_block_delta":
			switch dl := d.Get("delta"); dl.Get("type").String() {
			case "text_delta":
				text.WriteString(dl.Get("text").String())
			case "input_json_delta":
				if t := toolAt[d.Get("index").Int()]; t != nil {
					t.args += dl.Get("partial_json").String()
				}
			}
		case typ == "message_delta":
			if s := d.Get("delta.stop_reason").String(); s != "" {
				a.stop = s
			}
		case typ == "response.output_text.delta": // OpenAI Responses
			text.WriteString(d.Get("delta").String())
		case typ == "response.completed" || typ == "response.incomplete" || typ == "response.failed":
			var r answer
			fromBody(d.Get("response"), &r)
			for _, t := range r.tools {
				name, args, _ := strings.Cut(strings.TrimSuffix(t, ")"), "(")
				tools = append(tools, &tool{name: name, args: args})
			}
			a.stop = r.stop
		}
	}
	a.text = text.String()
	for _, t := range tools {
		a.tools = append(a.tools, t.name+"("+t.args+")")
	}
	return a
}

func fromBody(b gjson.Result, a *answer) {
	if m := b.Get("error.message"); m.Exists() {
		a.err = m.String()
	}
	if c := b.Get("choices.0"); c.Exists() {
		a.text = c.Get("message.content").String() + c.Get("text").String()
		c.Get("message.tool_calls").ForEach(func(_, tc gjson.Result) bool {
			a.tools = append(a.tools, tc.Get("function.name").String()+"("+tc.Get("function.arguments").String()+")")
			return true
		})
		a.stop = c.Get("finish_reason").String()
		return
	}
	if b.Get("type").String() == "message" { // Anthropic
		b.Get("content").ForEach(func(_, blk gjson.Result) bool {
			switch blk.Get("type").String() {
			case "text":
				a.text += blk.Get("text").String()
			case "tool_use":
				a.tools = append(a.tools, blk.Get("name").String()+"("+blk.Get("input").Raw+")")
			}
			return true
		})
		a.stop = b.Get("stop_reason").String()
		return
	}
	if b.Get("object").String() == "response" { // OpenAI Responses
		b.Get("output").ForEach(func(_, item gjson.Result) bool {
			switch item.Get("type").String() {
			case "message":
				item.Get("content").ForEach(func(_, c gjson.Result) bool {
					a.text += c.Get("text").String()
					return true
				})
			case "function_call":
				a.tools = append(a.tools, item.Get("name").String()+"("+item.Get("arguments").String()+")")
			}
			return true
		})
		a.stop = b.Get("status").String()
		return
	}
	if d := b.Get("data"); d.IsArray() { // embeddings: compare the vectors as text
		a.text = fmt.Sprintf("%d embedding(s) %.40s", len(d.Array()), d.Get("0.embedding").Raw)
	}
}
