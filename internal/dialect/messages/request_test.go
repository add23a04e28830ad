package messages

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/testutil"
	"github.com/jmanhype/runestone/internal/usage"
	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
)

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestToChat(t *testing.T) {
	cases := []struct {
		name, in, want string
		dropped        []string
	}{
		{
			name: "plain",
			in:   `{"model":"claude-x","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			want: `{"model":"claude-x","messages":[{"role":"user","content":"hi"}],"max_tokens":100}`,
		},
		{
			name: "system blocks, params, stream",
			in: `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"You are terse."},{"type":"text","text":"Answer in French.","cache_control":{"type":"ephemeral"}}],
				"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":""}]}],
				"temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END"],"metadata":{"user_id":"u-1"},"stream":true,"service_tier":"auto"}`,
			want: `{"model":"m","messages":[{"role":"system","content":"You are terse.\n\nAnswer in French."},{"role":"user","content":"a"}],
				"max_tokens":5,"temperature":0.5,"top_p":0.9,"stop":["END"],"user":"u-1","stream":true,"stream_options":{"include_usage":true}}`,
			dropped: []string{"top_k", "service_tier", "system[1].cache_control"},
		},
		{
			name: "tool loop",
			in: `{"model":"m","max_tokens":5,"messages":[
				{"role":"user","content":"weather?"},
				{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"Checking."},
					{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{ "location" : "SF" }},
					{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}]},
				{"role":"user","content":[{"type":"text","text":"also this"},
					{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"},{"type":"text","text":"20C"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]},
					{"type":"tool_result","tool_use_id":"toolu_2","content":"boom","is_error":true}]}],
				"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}},"cache_control":{"type":"ephemeral"}},
					{"name":"get_time","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
			want: `{"model":"m","messages":[
				{"role":"user","content":"weather?"},
				{"role":"assistant","content":"Checking.","tool_calls":[
					{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"SF\"}"}},
					{"id":"toolu_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"toolu_1","content":"sunny\n20C"},
				{"role":"tool","tool_call_id":"toolu_2","content":"Error: boom"},
				{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}},{"type":"text","text":"also this"}]}],
				"max_tokens":5,
				"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}},
					{"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}],
				"tool_choice":"required","parallel_tool_calls":false}`,
			dropped: []string{"messages[1].content[0] (thinking)", "messages[2].content[2].is_error (sent as an \"Error: \" prefix)",
				"tools[0].cache_control", "tools[2] (web_search_20250305)"},
		},
		{
			name: "images and documents",
			in: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
				{"type":"image","source":{"type":"url","url":"https://x/y.png"}},
				{"type":"image","source":{"type":"file","file_id":"file_1"}},
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBER"},"title":"spec.pdf"},
				{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain doc"},"citations":{"enabled":true}},
				{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}},
				{"type":"text","text":"summarize","cache_control":{"type":"ephemeral"}}]}]}`,
			want: `{"model":"m","messages":[{"role":"user","content":[
				{"type":"image_url","image_url":{"url":"https://x/y.png"}},
				{"type":"file","file":{"filename":"spec.pdf","file_data":"data:application/pdf;base64,JVBER"}},
				{"type":"text","text":"plain doc"},
				{"type":"text","text":"summarize"}]}],"max_tokens":5}`,
			dropped: []string{"messages[0].content[1] (image source \"file\")", "messages[0].content[3].citations",
				"messages[0].content[4] (document source \"url\")", "messages[0].content[5].cache_control"},
		},
		{
			name: "tool choice named, thinking budget",
			in: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],
				"tool_choice":{"type":"tool","name":"f"},"thinking":{"type":"enabled","budget_tokens":8000}}`,
			want: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":5,
				"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
				"tool_choice":{"type":"function","function":{"name":"f"}},"reasoning_effort":"medium"}`,
			dropped: []string{"thinking.budget_tokens (sent as reasoning_effort \"medium\")"},
		},
		{
			name: "adaptive thinking, none choice, prefill",
			in: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"The answer is"}],
				"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"none","disable_parallel_tool_use":true},"thinking":{"type":"adaptive"},"stream":false}`,
			want: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"The answer is"}],"max_tokens":5,
				"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
				"tool_choice":"none","reasoning_effort":"medium","stream":false}`,
			dropped: []string{"thinking.type adaptive (sent as reasoning_effort \"medium\")"},
		},
		{
			name: "budget levels and output_config",
			in: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":20000},
				"output_config":{"effort":"max","format":{"type":"json_schema","schema":{"type":"object"}}}}`,
			want: `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":5,
				"response_format":{"type":"json_schema","json_schema":{"name":"output","schema":{"type":"object"}}},"reasoning_effort":"high"}`,
			dropped: []string{"thinking.budget_tokens (sent as reasoning_effort \"high\")", "output_config.effort \"max\" (sent as reasoning_effort \"high\")"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, dropped, err := ToChat([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, tc.want)
			slices.Sort(dropped)
			slices.Sort(tc.dropped)
			if !slices.Equal(dropped, tc.dropped) {
				t.Errorf("dropped\n got %q\nwant %q", dropped, tc.dropped)
			}
			// The chat body decodes into the official OpenAI SDK's request type.
			var p openai.ChatCompletionNewParams
			if err := json.Unmarshal(got, &p); err != nil {
				t.Errorf("openai-go cannot decode: %v", err)
			}
		})
	}
}

func TestToChatBudgetLevels(t *testing.T) {
	for budget, want := range map[string]string{"1024": "low", "4096": "low", "4097": "medium", "16384": "medium", "16385": "high"} {
		got, _, err := ToChat([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":` + budget + `}}`))
		if err != nil {
			t.Fatal(err)
		}
		if e := gjson.GetBytes(got, "reasoning_effort").Str; e != want {
			t.Errorf("budget %s: %q, want %q", budget, e, want)
		}
	}
}

// TestToChatDuplicateKeys: the model that Inspect routed (the first) is the one sent.
func TestToChatDuplicateKeys(t *testing.T) {
	body := []byte(`{"model":"allowed","max_tokens":5,"messages":[{"role":"user","content":"x"}],"model":"other","stream":false,"stream":true}`)
	model, stream, _ := Inspect(body)
	chat, _, err := ToChat(body)
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(chat, "model").Str != model || model != "allowed" || gjson.GetBytes(chat, "stream").Bool() != stream || stream {
		t.Errorf("inspect %q %v, chat %s", model, stream, chat)
	}
}

func TestToChatDroppedCap(t *testing.T) {
	var msgs []string
	for range 40 {
		msgs = append(msgs, `{"role":"user","content":"q"}`, `{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"a"}]}`)
	}
	_, dropped, err := ToChat([]byte(`{"model":"m","max_tokens":5,"messages":[` + strings.Join(msgs, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != maxDropped+1 || dropped[maxDropped] != "(8 more)" || dropped[0] != "messages[1].content[0] (thinking)" {
		t.Errorf("%d entries, last %q", len(dropped), dropped[len(dropped)-1])
	}
}

// TestToChatSystemEntries: Claude Code (2.1.33x) sends its environment block as a
// role "system" entry of messages; it goes to chat as a system message in place, and
// what a chat system message cannot hold is recorded, never refused.
func TestToChatSystemEntries(t *testing.T) {
	got, dropped, err := ToChat([]byte(`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"top"}],"messages":[
		{"role":"user","content":"first"},
		{"role":"system","content":[{"type":"text","text":"env a","cache_control":{"type":"ephemeral"}},{"type":"image","source":{}},{"type":"text","text":"env b"}]},
		{"role":"system","content":"plain"},
		{"role":"assistant","content":"ok"},
		{"role":"narrator","content":"?"},
		{"role":"user","content":"second"}],
		"tool_choice":{"type":"someday"},"thinking":{"type":"sometimes"}}`))
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"model":"m","messages":[{"role":"system","content":"top"},{"role":"user","content":"first"},
		{"role":"system","content":"env a\n\nenv b"},{"role":"system","content":"plain"},{"role":"assistant","content":"ok"},
		{"role":"user","content":"second"}],"max_tokens":5}`)
	want := []string{`messages[1].content[0].cache_control`, `messages[1].content[1] (image)`, `messages[4] (role "narrator")`,
		`tool_choice (no tools carried)`, `thinking.type "sometimes"`}
	if strings.Join(dropped, "|") != strings.Join(want, "|") {
		t.Errorf("dropped %q\nwant    %q", dropped, want)
	}
	// Unknown system blocks at the top level are dropped too, not refused.
	if _, dropped, err = ToChat([]byte(`{"model":"m","max_tokens":5,"system":[{"type":"future","x":1}],"messages":[{"role":"user","content":"x"}]}`)); err != nil ||
		len(dropped) != 1 || dropped[0] != "system[0] (future)" {
		t.Errorf("%v %q", err, dropped)
	}
}

func TestToChatErrors(t *testing.T) {
	for _, tc := range []struct{ in, param string }{
		{`not json`, ""},
		{`[]`, ""},
		{`{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":"","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":"m","max_tokens":5,"messages":[]}`, "messages"},
		{`{"model":"m","max_tokens":5,"messages":{}}`, "messages"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{`{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{`{"model":"m","max_tokens":5,"stream":"yes","messages":[{"role":"user","content":"x"}]}`, "stream"},
		{`{"model":"m","max_tokens":5,"messages":[{"content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":5,"content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"system","content":[5]}]}`, "messages[0].content[0]"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0].text"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]}`, "messages[0].content[0].tool_use_id"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f"}]}]}`, "messages[0].content[0].id"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"system":5}`, "system"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop_sequences":[1]}`, "stop_sequences"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"input_schema":{}}]}`, "tools[0].name"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}],"tool_choice":{"type":5}}`, "tool_choice.type"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled"}}`, "thinking.budget_tokens"},
	} {
		_, _, err := ToChat([]byte(tc.in))
		e := apierr.As(err)
		if e == nil || e.Status != 400 || e.Param != tc.param || e.Type != apierr.TypeInvalidRequest {
			t.Errorf("%s: err = %#v, want 400 param %q", tc.in, err, tc.param)
		}
	}
}

// TestToChatCaptures converts the recorded Anthropic request bodies.
func TestToChatCaptures(t *testing.T) {
	ex := testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-nonstream-thinking-parallel-tool-use.httprr")[0]
	got, dropped, err := ToChat(ex.RequestBody)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"What's the weather and time in Boston?"}],
		"max_tokens":4096,"temperature":1,"tools":[
		{"type":"function","function":{"name":"get_weather","description":"Get weather for a location","parameters":{"properties":{"location":{"type":"string"}},"required":["location"],"type":"object"}}},
		{"type":"function","function":{"name":"get_time","description":"Get current time for a location","parameters":{"properties":{"location":{"type":"string"}},"required":["location"],"type":"object"}}}],
		"reasoning_effort":"low"}`)
	if len(dropped) != 1 || !strings.HasPrefix(dropped[0], "thinking.budget_tokens") {
		t.Errorf("dropped %q", dropped)
	}
	ex = testutil.ReadHTTPRR(t, "anthropic", "captures", "messages-stream-two-tool-use.httprr")[0]
	got, _, err = ToChat(ex.RequestBody)
	if err != nil {
		t.Fatal(err)
	}
	if !gjson.GetBytes(got, "stream").Bool() || !gjson.GetBytes(got, "stream_options.include_usage").Bool() ||
		gjson.GetBytes(got, "tools.#").Int() != 2 || gjson.GetBytes(got, "tools.1.function.parameters").Raw != `{"properties":{},"type":"object"}` {
		t.Errorf("%s", got)
	}
}

func TestInspect(t *testing.T) {
	model, stream, err := Inspect([]byte(`{"model":"claude-x","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil || model != "claude-x" || !stream {
		t.Fatalf("%q %v %v", model, stream, err)
	}
	_, stream, err = Inspect([]byte(`{"model":"claude-x","max_tokens":1,"stream":null,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil || stream {
		t.Fatalf("%v %v", stream, err)
	}
}

func TestEstimateInputTokens(t *testing.T) {
	est := usage.NewEstimator()
	small, err := EstimateInputTokens(est, []byte(`{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	big, err := EstimateInputTokens(est, []byte(`{"model":"claude-x","system":"You are a helpful assistant who answers in French.",
		"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// "hi" and "user" are a token each, plus the chat framing (3 per message, 3 for the reply).
	if small != 8 || big <= small+10 {
		t.Errorf("small %d big %d", small, big)
	}
	if _, err := EstimateInputTokens(est, []byte(`{"messages":[]}`)); err == nil {
		t.Error("no model: want an error")
	}
}

func FuzzToChat(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s"}],"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":{"x":[1,"\u00e9"]}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":"r"},{"type":"image","source":{"type":"url","url":"u"}}],"is_error":true}]}],"tools":[{"name":"b","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"b"}}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[{"type":"text","text":"d"}]}},{"type":"search_result","title":"t","source":"s","content":[{"type":"text","text":"c"}]}]}],"thinking":{"type":"enabled","budget_tokens":1},"output_config":{"format":{"type":"json_schema","schema":{}}}}`))
	f.Add([]byte(`{"model":"a","model":"b","max_tokens":1,"messages":[{"role":"user","content":"x"}],"stream":true,"stream":false}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		chat, _, err := ToChat(body)
		if err != nil {
			if apierr.As(err) == nil {
				t.Fatalf("error is not an *apierr.Error: %v", err)
			}
			return
		}
		if !json.Valid(chat) {
			t.Fatalf("invalid JSON out of %q:\n%s", body, chat)
		}
		model, stream, ierr := Inspect(body)
		if ierr != nil {
			t.Fatalf("ToChat accepted what Inspect refuses: %v", ierr)
		}
		if gjson.GetBytes(chat, "model").Str != model || gjson.GetBytes(chat, "stream").Bool() != stream {
			t.Fatalf("model/stream differ from Inspect's %q %v:\n%s", model, stream, chat)
		}
	})
}

func BenchmarkToChat(b *testing.B) {
	body := testutil.ReadHTTPRR(b, "anthropic", "captures", "messages-nonstream-thinking-parallel-tool-use.httprr")[0].RequestBody
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := ToChat(body); err != nil {
			b.Fatal(err)
		}
	}
}
