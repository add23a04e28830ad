package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
)

// convertMessages hoists system/developer messages into system and builds the turns.
func convertMessages(msgs []message, out *aRequest) *apierr.Error {
	if len(msgs) == 0 {
		return apierr.BadRequest("messages", "messages must contain at least one message")
	}
	out.Messages = make([]aMessage, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		var (
			role   string
			blocks []aBlock
			err    *apierr.Error
		)
		switch m.Role {
		case "system", "developer":
			// The position of a mid-conversation system message is lost: Anthropic has
			// one top-level system prompt.
			for j, p := range m.Content.parts {
				if p.Type != "text" {
					return apierr.BadRequest(fmt.Sprintf("messages[%d].content[%d].type", i, j),
						"%s messages may only contain text parts", m.Role)
				}
				if p.Text != "" {
					out.System = append(out.System, aBlock{Type: "text", Text: p.Text})
				}
			}
			continue
		case "user":
			role = "user"
			blocks, err = userBlocks(i, m.Content.parts)
		case "assistant":
			role = "assistant"
			blocks, err = assistantBlocks(i, m)
		case "tool":
			role = "user"
			blocks, err = toolResult(i, m)
		default:
			return apierr.BadRequest(fmt.Sprintf("messages[%d].role", i), "unsupported role %q", m.Role)
		}
		if err != nil {
			return err
		}
		if len(blocks) == 0 {
			continue // an empty turn would be rejected; dropping it loses nothing
		}
		// Consecutive same-role turns merge. This is also what puts a run of tool
		// results, and the user text after them, into one user turn, results first.
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, aMessage{Role: role, Content: blocks})
	}
	if len(out.Messages) == 0 {
		return apierr.BadRequest("messages", "messages must contain at least one non-empty user or assistant message")
	}
	return nil
}

func userBlocks(i int, parts []part) ([]aBlock, *apierr.Error) {
	blocks := make([]aBlock, 0, len(parts))
	for j, p := range parts {
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, aBlock{Type: "text", Text: p.Text})
			}
		case "image_url":
			param := fmt.Sprintf("messages[%d].content[%d].image_url", i, j)
			if p.ImageURL == nil {
				return nil, apierr.BadRequest(param, "image_url is missing")
			}
			src, err := imageSource(param, p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, aBlock{Type: "image", Source: src})
		default:
			return nil, apierr.BadRequest(fmt.Sprintf("messages[%d].content[%d].type", i, j),
				"content part type %q is not supported by anthropic models", p.Type)
		}
	}
	return blocks, nil
}

var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

func imageSource(param, url string) (*aSource, *apierr.Error) {
	switch {
	case strings.HasPrefix(url, "data:"):
		meta, data, ok := strings.Cut(url[len("data:"):], ",")
		mt, enc, _ := strings.Cut(meta, ";")
		mt = strings.ToLower(mt)
		if !ok || enc != "base64" {
			return nil, apierr.BadRequest(param, "image data URLs must be base64 encoded (data:<media type>;base64,<data>)")
		}
		if mt == "image/jpg" {
			mt = "image/jpeg"
		}
		if !imageTypes[mt] {
			return nil, apierr.BadRequest(param, "image type %q is not supported by anthropic models; use jpeg, png, gif or webp", mt)
		}
		return &aSource{Type: "base64", MediaType: mt, Data: data}, nil
	case strings.HasPrefix(url, "https://"), strings.HasPrefix(url, "http://"):
		return &aSource{Type: "url", URL: url}, nil
	}
	return nil, apierr.BadRequest(param, "image_url.url must be an http(s) URL or a base64 data URL")
}

func assistantBlocks(i int, m *message) ([]aBlock, *apierr.Error) {
	blocks := make([]aBlock, 0, len(m.Content.parts)+len(m.ToolCalls))
	for _, p := range m.Content.parts {
		// Refusal parts have no Anthropic counterpart; they carry no answer to continue.
		if p.Type == "text" && p.Text != "" {
			blocks = append(blocks, aBlock{Type: "text", Text: p.Text})
		}
	}
	for j, tc := range m.ToolCalls {
		args := strings.TrimSpace(tc.Function.Arguments)
		input := json.RawMessage(`{}`)
		if args != "" {
			if !json.Valid([]byte(args)) || args[0] != '{' {
				return nil, apierr.BadRequest(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, j),
					"tool call arguments must be a JSON object")
			}
			input = json.RawMessage(args)
		}
		blocks = append(blocks, aBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

func toolResult(i int, m *message) ([]aBlock, *apierr.Error) {
	if m.ToolCallID == "" {
		return nil, apierr.BadRequest(fmt.Sprintf("messages[%d].tool_call_id", i), "tool messages need a tool_call_id")
	}
	res := aBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
	for _, p := range m.Content.parts {
		if p.Text != "" {
			res.Content = append(res.Content, aBlock{Type: "text", Text: p.Text})
		}
	}
	return []aBlock{res}, nil
}

func convertTools(in *chatRequest, out *aRequest) *apierr.Error {
	for i, t := range in.Tools {
		if t.Type != "function" && t.Type != "" {
			return apierr.BadRequest(fmt.Sprintf("tools[%d].type", i), "tool type %q is not supported by anthropic models", t.Type)
		}
		if t.Function.Name == "" {
			return apierr.BadRequest(fmt.Sprintf("tools[%d].function.name", i), "tools need a function name")
		}
		schema := bytes.TrimSpace(t.Function.Parameters)
		if len(schema) == 0 || string(schema) == "null" || string(schema) == "{}" {
			schema = emptySchema
		}
		out.Tools = append(out.Tools, aTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(out.Tools) == 0 {
		// Anthropic rejects tool_use/tool_result blocks when no tools are declared, which
		// agents do on their final, tool-less turn. Declaring the used tools and forbidding
		// new calls keeps the request meaning what the client meant.
		out.Tools = stubTools(out.Messages)
		if len(out.Tools) > 0 {
			out.ToolChoice = &aToolChoice{Type: "none"}
		}
		return nil
	}
	var tc *aToolChoice
	if in.ToolChoice != nil {
		switch in.ToolChoice.mode {
		case "auto", "":
			tc = &aToolChoice{Type: "auto"}
		case "none":
			tc = &aToolChoice{Type: "none"}
		case "required":
			tc = &aToolChoice{Type: "any"}
		case "function":
			if in.ToolChoice.name == "" {
				return apierr.BadRequest("tool_choice.function.name", "tool_choice needs a function name")
			}
			tc = &aToolChoice{Type: "tool", Name: in.ToolChoice.name}
		default:
			return apierr.BadRequest("tool_choice", "tool_choice %q is not supported by anthropic models", in.ToolChoice.mode)
		}
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if tc == nil {
			tc = &aToolChoice{Type: "auto"}
		}
		// "none" takes no parallel flag (the API rejects it).
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	out.ToolChoice = tc
	return nil
}

func stubTools(msgs []aMessage) []aTool {
	var tools []aTool
	seen := map[string]bool{}
	for _, m := range msgs {
		for _, b := range m.Content {
			if b.Type == "tool_use" && !seen[b.Name] {
				seen[b.Name] = true
				tools = append(tools, aTool{Name: b.Name, InputSchema: emptySchema})
			}
		}
	}
	return tools
}
