package messages

import (
	"fmt"
	"strings"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/tidwall/gjson"
)

// ToChat converts a /v1/messages body into a Chat Completions body for a provider
// that does not speak Messages. The chat body's model is the inbound model unchanged;
// stream mirrors the inbound flag, with stream_options.include_usage when streaming so
// the usage for message_delta arrives. dropped lists what could not be carried, as
// JSON-ish paths ("top_k", "messages[2].content[0].cache_control"). err is an
// *apierr.Error 400 naming the field for a body that is malformed as a Messages request.
func ToChat(body []byte) (chat []byte, dropped []string, err error) {
	if _, _, e := inspect(body, true); e != nil {
		return nil, nil, e
	}
	chat, dropped, e := toChat(body)
	if e != nil {
		return nil, dropped, e
	}
	return chat, dropped, nil
}

// converter writes the chat body; every helper appends to out.
type converter struct {
	out      []byte
	dropped  []string
	nmsg     int // chat messages written so far
	ndropped int // drops seen, including those past maxDropped
	scratch  []byte
}

// partList is a chat content-part array being built.
type partList struct {
	buf      []byte // comma-separated parts
	n        int
	lastText string // the last part's text if it is a text part; with n == 1, the whole content
}

func (p *partList) addText(s string) {
	p.add(appendTextPart(nil, s))
	p.lastText = s
}

func (p *partList) add(part []byte) {
	if p.n > 0 {
		p.buf = append(p.buf, ',')
	}
	p.buf = append(p.buf, part...)
	p.n++
	p.lastText = ""
}

func appendTextPart(dst []byte, s string) []byte {
	dst = append(dst, `{"type":"text","text":`...)
	return append(jsonx.AppendString(dst, s), '}')
}

// maxDropped bounds the dropped list: a long agent session drops a thinking block per
// assistant turn, and the list is for a log row, not a transcript.
const maxDropped = 32

func (c *converter) drop(format string, args ...any) {
	c.ndropped++
	if c.ndropped <= maxDropped {
		c.dropped = append(c.dropped, fmt.Sprintf(format, args...))
	}
}

// droppedList is the dropped list, with a final "(N more)" when it was cut.
func (c *converter) droppedList() []string {
	if c.ndropped > maxDropped {
		return append(c.dropped, fmt.Sprintf("(%d more)", c.ndropped-maxDropped))
	}
	return c.dropped
}

// toChat is ToChat for a body that inspect accepted (valid JSON, an object, with a
// model and a messages array).
func toChat(body []byte) ([]byte, []string, *apierr.Error) {
	c := &converter{out: make([]byte, 0, len(body)+256)}
	root := gjson.ParseBytes(body)
	var f struct {
		model, system, messages, maxTokens, temperature, topP, stops, stream,
		tools, toolChoice, metadata, thinking, outputConfig gjson.Result
	}
	var err *apierr.Error
	// The first of duplicate keys wins, as in Inspect (gjson.Get): the model that was
	// routed and authorized is the model that is sent.
	first := func(r *gjson.Result, v gjson.Result) {
		if !r.Exists() {
			*r = v
		}
	}
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			first(&f.model, v)
		case "system":
			first(&f.system, v)
		case "messages":
			first(&f.messages, v)
		case "max_tokens":
			first(&f.maxTokens, v)
		case "temperature":
			first(&f.temperature, v)
		case "top_p":
			first(&f.topP, v)
		case "stop_sequences":
			first(&f.stops, v)
		case "stream":
			first(&f.stream, v)
		case "tools":
			first(&f.tools, v)
		case "tool_choice":
			first(&f.toolChoice, v)
		case "metadata":
			first(&f.metadata, v)
		case "thinking":
			first(&f.thinking, v)
		case "output_config":
			first(&f.outputConfig, v)
		default:
			// top_k, service_tier, container, mcp_servers, context_management,
			// inference_geo and anything newer: chat has no counterpart.
			if v.Type != gjson.Null {
				c.drop("%s", k.Str)
			}
		}
		return true
	})

	c.out = append(c.out, `{"model":`...)
	c.out = jsonx.AppendString(c.out, f.model.Str)
	c.out = append(c.out, `,"messages":[`...)
	if err = c.system(f.system); err != nil {
		return nil, c.droppedList(), err
	}
	i := 0
	f.messages.ForEach(func(_, m gjson.Result) bool {
		err = c.message(i, m)
		i++
		return err == nil
	})
	if err != nil {
		return nil, c.droppedList(), err
	}
	c.out = append(c.out, ']')
	if f.maxTokens.Exists() && f.maxTokens.Type != gjson.Null {
		c.out = append(c.out, `,"max_tokens":`...)
		c.out = append(c.out, f.maxTokens.Raw...)
	}
	for _, n := range []struct {
		name string
		v    gjson.Result
	}{{"temperature", f.temperature}, {"top_p", f.topP}} {
		switch n.v.Type {
		case gjson.Null:
		case gjson.Number:
			c.out = append(c.out, ',', '"')
			c.out = append(c.out, n.name...)
			c.out = append(c.out, '"', ':')
			c.out = append(c.out, n.v.Raw...)
		default:
			return nil, c.droppedList(), apierr.BadRequest(n.name, "%s: Input should be a valid number.", n.name)
		}
	}
	if err = c.stops(f.stops); err != nil {
		return nil, c.droppedList(), err
	}
	if err = c.tools(f.tools, f.toolChoice); err != nil {
		return nil, c.droppedList(), err
	}
	if err = c.metadata(f.metadata); err != nil {
		return nil, c.droppedList(), err
	}
	if err = c.reasoning(f.thinking, f.outputConfig); err != nil {
		return nil, c.droppedList(), err
	}
	switch f.stream.Type {
	case gjson.True:
		c.out = append(c.out, `,"stream":true,"stream_options":{"include_usage":true}`...)
	case gjson.False:
		c.out = append(c.out, `,"stream":false`...)
	}
	c.out = append(c.out, '}')
	return c.out, c.droppedList(), nil
}

// system hoists the system prompt into one leading system message; text blocks are
// joined with a blank line, which is how they read to the model.
func (c *converter) system(v gjson.Result) *apierr.Error {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		return nil
	case v.Type == gjson.String:
		if v.Str != "" {
			c.simpleMessage("system", v.Str)
		}
		return nil
	case !v.IsArray():
		return apierr.BadRequest("system", "system: Input should be a string or an array of text blocks.")
	}
	text, err := c.textBlocks("system", v)
	if err != nil {
		return err
	}
	if text != "" {
		c.simpleMessage("system", text)
	}
	return nil
}

// dropExtras records every field of block b other than the carried ones. Empty
// values (null, "", false, {}, []) carry nothing and are not recorded: SDKs that
// re-send a response's blocks fill every union field with them.
func (c *converter) dropExtras(path string, b gjson.Result, carried ...string) {
	b.ForEach(func(k, v gjson.Result) bool {
		for _, name := range carried {
			if k.Str == name {
				return true
			}
		}
		if !isEmpty(v) {
			c.drop("%s.%s", path, k.Str)
		}
		return true
	})
}

func isEmpty(v gjson.Result) bool {
	switch v.Type {
	case gjson.Null, gjson.False:
		return true
	case gjson.String:
		return v.Str == ""
	case gjson.JSON:
		empty := true
		v.ForEach(func(_, _ gjson.Result) bool {
			empty = false
			return false
		})
		return empty
	}
	return false
}

func (c *converter) openMessage(role string) {
	if c.nmsg > 0 {
		c.out = append(c.out, ',')
	}
	c.nmsg++
	c.out = append(c.out, `{"role":"`...)
	c.out = append(c.out, role...)
	c.out = append(c.out, '"')
}

func (c *converter) simpleMessage(role, content string) {
	c.openMessage(role)
	c.out = append(c.out, `,"content":`...)
	c.out = jsonx.AppendString(c.out, content)
	c.out = append(c.out, '}')
}

func (c *converter) message(i int, m gjson.Result) *apierr.Error {
	path := fmt.Sprintf("messages[%d]", i)
	if !m.IsObject() {
		return apierr.BadRequest(path, "%s: Input should be an object.", path)
	}
	r := m.Get("role")
	role := r.Str
	content := m.Get("content")
	if r.Type != gjson.String || role == "" {
		return apierr.BadRequest(path+".role", "%s.role: Field required ('user' or 'assistant').", path)
	}
	if content.Type != gjson.String && !content.IsArray() {
		return apierr.BadRequest(path+".content", "%s.content: Input should be a string or an array of content blocks.", path)
	}
	switch role {
	case "user":
		if content.Type == gjson.String {
			c.simpleMessage(role, content.Str)
			return nil
		}
		return c.userTurn(path, content)
	case "assistant":
		if content.Type == gjson.String {
			c.simpleMessage(role, content.Str)
			return nil
		}
		return c.assistantTurn(path, content)
	case "system", "developer":
		// Claude Code (2.1.33x) puts its environment block in messages as a system
		// entry. Chat has the same role, so it goes in place, where the client put it.
		return c.systemTurn(path, content)
	}
	// A role this translation does not know (a newer API's): Anthropic itself
	// judges it on a native relay; a chat provider could not read it.
	c.drop("%s (role %q)", path, role)
	return nil
}

// systemTurn writes a system entry of messages as a chat system message, in place.
// Its text blocks are joined with a blank line, as the top-level system is; other
// blocks have no place in a chat system message and are recorded as dropped.
func (c *converter) systemTurn(path string, content gjson.Result) *apierr.Error {
	if content.Type == gjson.String {
		if content.Str != "" {
			c.simpleMessage("system", content.Str)
		}
		return nil
	}
	text, err := c.textBlocks(path+".content", content)
	if err != nil {
		return err
	}
	if text != "" {
		c.simpleMessage("system", text)
	}
	return nil
}

// textBlocks joins the text blocks of an array with a blank line (how they read to
// the model); blocks of other types are recorded as dropped.
func (c *converter) textBlocks(path string, v gjson.Result) (string, *apierr.Error) {
	var sb strings.Builder
	j := 0
	var err *apierr.Error
	v.ForEach(func(_, b gjson.Result) bool {
		bp := fmt.Sprintf("%s[%d]", path, j)
		j++
		if !b.IsObject() {
			err = apierr.BadRequest(bp, "%s: Input should be a content block object.", bp)
			return false
		}
		if typ := b.Get("type").Str; typ != "text" {
			c.drop("%s (%s)", bp, typ)
			return true
		}
		var t string
		if t, err = c.textBlock(bp, b); err != nil {
			return false
		}
		joinText(&sb, t)
		return true
	})
	return sb.String(), err
}

// userTurn writes a user turn. tool_result blocks become tool messages, written first
// and in order, because a chat tool message must directly follow the assistant message
// with the tool calls; the turn's other blocks follow as one user message, after any
// images the tool results held (chat tool messages carry text only).
func (c *converter) userTurn(path string, content gjson.Result) *apierr.Error {
	var own, images partList
	var err *apierr.Error
	j := 0
	content.ForEach(func(_, b gjson.Result) bool {
		bp := fmt.Sprintf("%s.content[%d]", path, j)
		j++
		if !b.IsObject() {
			err = apierr.BadRequest(bp, "%s: Input should be a content block object.", bp)
			return false
		}
		if b.Get("type").Str == "tool_result" {
			err = c.toolResult(bp, b, &images)
		} else {
			err = c.userBlock(bp, b, &own)
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	switch {
	case images.n == 0 && own.n == 0:
	case images.n == 0 && own.n == 1 && own.lastText != "":
		// One text part is sent as a plain string: the widest-supported chat shape.
		c.simpleMessage("user", own.lastText)
	default:
		c.openMessage("user")
		c.out = append(c.out, `,"content":[`...)
		c.out = append(c.out, images.buf...)
		if images.n > 0 && own.n > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, own.buf...)
		c.out = append(c.out, "]}"...)
	}
	return nil
}

// textBlock reads a text block's text (a non-string is the client's 400, named the
// Anthropic way) and records the block's other fields as dropped.
func (c *converter) textBlock(bp string, b gjson.Result) (string, *apierr.Error) {
	t := b.Get("text")
	if t.Type != gjson.String {
		return "", apierr.BadRequest(bp+".text", "%s.text: Input should be a valid string.", bp)
	}
	c.dropExtras(bp, b, "type", "text")
	return t.Str, nil
}

// joinText appends a non-empty text to sb, a blank line apart from what it holds.
func joinText(sb *strings.Builder, t string) {
	if t == "" {
		return
	}
	if sb.Len() > 0 {
		sb.WriteString("\n\n")
	}
	sb.WriteString(t)
}

// userBlock adds one non-tool-result block of a user turn to parts.
func (c *converter) userBlock(bp string, b gjson.Result, parts *partList) *apierr.Error {
	typ := b.Get("type")
	switch typ.Str {
	case "text":
		t, err := c.textBlock(bp, b)
		if err != nil {
			return err
		}
		if t != "" {
			parts.addText(t)
		}
	case "image":
		c.dropExtras(bp, b, "type", "source")
		if part, ok := c.image(bp, b.Get("source")); ok {
			parts.add(part)
		}
	case "document":
		c.dropExtras(bp, b, "type", "source", "title")
		c.document(bp, b, parts)
	case "search_result":
		c.dropExtras(bp, b, "type", "source", "title", "content")
		if t := searchResultText(b); t != "" {
			parts.addText(t)
		}
	default:
		if typ.Type != gjson.String {
			return apierr.BadRequest(bp+".type", "%s.type: Field required.", bp)
		}
		// thinking, tool_use or server-tool blocks in a user turn, container_upload, ...
		c.drop("%s (%s)", bp, typ.Str)
	}
	return nil
}

// image converts an image source to an image_url part: base64 data becomes a data URL,
// a URL stays a URL; a Files API id means nothing to another provider.
func (c *converter) image(bp string, src gjson.Result) ([]byte, bool) {
	var url string
	switch src.Get("type").Str {
	case "base64":
		url = "data:" + src.Get("media_type").Str + ";base64," + src.Get("data").Str
	case "url":
		url = src.Get("url").Str
	}
	if url == "" {
		c.drop("%s (image source %q)", bp, src.Get("type").Str)
		return nil, false
	}
	part := append([]byte(nil), `{"type":"image_url","image_url":{"url":`...)
	part = jsonx.AppendString(part, url)
	return append(part, "}}"...), true
}

// document carries a PDF as a chat file part and a text document as text. Citations
// settings and context have no chat counterpart (dropped by the caller's dropExtras).
func (c *converter) document(bp string, b gjson.Result, parts *partList) {
	src := b.Get("source")
	title := b.Get("title").Str
	switch st := src.Get("type").Str; {
	case st == "base64" && src.Get("media_type").Str == "application/pdf":
		name := title
		if name == "" {
			name = "document.pdf"
		}
		part := append([]byte(nil), `{"type":"file","file":{"filename":`...)
		part = jsonx.AppendString(part, name)
		part = append(part, `,"file_data":`...)
		part = jsonx.AppendString(part, "data:application/pdf;base64,"+src.Get("data").Str)
		parts.add(append(part, "}}"...))
	case st == "text":
		parts.addText(withTitle(title, src.Get("data").Str))
	case st == "content":
		var sb strings.Builder
		src.Get("content").ForEach(func(_, blk gjson.Result) bool {
			if blk.Get("type").Str == "text" {
				if sb.Len() > 0 {
					sb.WriteString("\n")
				}
				sb.WriteString(blk.Get("text").Str)
			}
			return true
		})
		if sb.Len() > 0 {
			parts.addText(withTitle(title, sb.String()))
		}
	default:
		// A PDF by URL or a Files API id: chat file parts take inline data only.
		c.drop("%s (document source %q)", bp, st)
	}
}

func withTitle(title, text string) string {
	if title == "" {
		return text
	}
	return title + "\n\n" + text
}

// searchResultText flattens a search_result block: title, source, then its text.
func searchResultText(b gjson.Result) string {
	var sb strings.Builder
	for _, k := range []string{"title", "source"} {
		if s := b.Get(k).Str; s != "" {
			sb.WriteString(s)
			sb.WriteString("\n")
		}
	}
	b.Get("content").ForEach(func(_, blk gjson.Result) bool {
		if t := blk.Get("text").Str; t != "" {
			sb.WriteString(t)
			sb.WriteString("\n")
		}
		return true
	})
	return strings.TrimRight(sb.String(), "\n")
}

// toolResult writes one tool message. Text content is joined; images go to the user
// message that follows; is_error has no chat field, so the content says it.
func (c *converter) toolResult(bp string, b gjson.Result, images *partList) *apierr.Error {
	id := b.Get("tool_use_id")
	if id.Type != gjson.String || id.Str == "" {
		return apierr.BadRequest(bp+".tool_use_id", "%s.tool_use_id: Field required.", bp)
	}
	c.dropExtras(bp, b, "type", "tool_use_id", "content", "is_error")
	var sb strings.Builder
	content := b.Get("content")
	switch {
	case content.Type == gjson.String:
		sb.WriteString(content.Str)
	case content.IsArray():
		k := 0
		content.ForEach(func(_, blk gjson.Result) bool {
			kp := fmt.Sprintf("%s.content[%d]", bp, k)
			k++
			var text string
			switch blk.Get("type").Str {
			case "text":
				text = blk.Get("text").Str
				c.dropExtras(kp, blk, "type", "text")
			case "image":
				if part, ok := c.image(kp, blk.Get("source")); ok {
					images.add(part)
				}
			case "document":
				var p partList
				c.document(kp, blk, &p)
				if p.n == 1 && p.lastText != "" {
					text = p.lastText
				} else if p.n > 0 {
					images.add(p.buf) // a PDF: a file part, beside the images
				}
			case "search_result":
				text = searchResultText(blk)
			default:
				c.drop("%s (%s)", kp, blk.Get("type").Str)
			}
			if text != "" {
				if sb.Len() > 0 {
					sb.WriteString("\n")
				}
				sb.WriteString(text)
			}
			return true
		})
	case content.Exists() && content.Type != gjson.Null:
		return apierr.BadRequest(bp+".content", "%s.content: Input should be a string or an array of content blocks.", bp)
	}
	text := sb.String()
	if b.Get("is_error").Type == gjson.True {
		text = "Error: " + text
		c.drop("%s.is_error (sent as an \"Error: \" prefix)", bp)
	}
	c.openMessage("tool")
	c.out = append(c.out, `,"tool_call_id":`...)
	c.out = jsonx.AppendString(c.out, id.Str)
	c.out = append(c.out, `,"content":`...)
	c.out = jsonx.AppendString(c.out, text)
	c.out = append(c.out, '}')
	return nil
}

// assistantTurn writes an assistant message: text blocks joined as its content,
// tool_use blocks as tool_calls. Thinking cannot cross: its signature only verifies
// with Anthropic, and other providers reject or ignore foreign reasoning.
func (c *converter) assistantTurn(path string, content gjson.Result) *apierr.Error {
	var text strings.Builder
	var calls []byte
	ncalls := 0
	var err *apierr.Error
	j := 0
	content.ForEach(func(_, b gjson.Result) bool {
		bp := fmt.Sprintf("%s.content[%d]", path, j)
		j++
		if !b.IsObject() {
			err = apierr.BadRequest(bp, "%s: Input should be a content block object.", bp)
			return false
		}
		switch typ := b.Get("type").Str; typ {
		case "text":
			var t string
			if t, err = c.textBlock(bp, b); err != nil {
				return false
			}
			joinText(&text, t)
		case "tool_use":
			id, name := b.Get("id"), b.Get("name")
			if id.Type != gjson.String || id.Str == "" {
				err = apierr.BadRequest(bp+".id", "%s.id: Field required.", bp)
				return false
			}
			if name.Type != gjson.String || name.Str == "" {
				err = apierr.BadRequest(bp+".name", "%s.name: Field required.", bp)
				return false
			}
			c.dropExtras(bp, b, "type", "id", "name", "input")
			args := "{}"
			if in := b.Get("input"); in.IsObject() {
				c.scratch = appendCompact(c.scratch[:0], in.Raw)
				args = string(c.scratch)
			}
			if ncalls > 0 {
				calls = append(calls, ',')
			}
			ncalls++
			calls = append(calls, `{"id":`...)
			calls = jsonx.AppendString(calls, id.Str)
			calls = append(calls, `,"type":"function","function":{"name":`...)
			calls = jsonx.AppendString(calls, name.Str)
			calls = append(calls, `,"arguments":`...)
			calls = jsonx.AppendString(calls, args)
			calls = append(calls, "}}"...)
		default:
			// thinking, redacted_thinking, server_tool_use and its results, images.
			c.drop("%s (%s)", bp, typ)
		}
		return true
	})
	if err != nil {
		return err
	}
	if text.Len() == 0 && ncalls == 0 {
		return nil // nothing a chat provider could take (e.g. only thinking): the drop says so
	}
	c.openMessage("assistant")
	c.out = append(c.out, `,"content":`...)
	if text.Len() > 0 {
		c.out = jsonx.AppendString(c.out, text.String())
	} else {
		c.out = append(c.out, "null"...)
	}
	if ncalls > 0 {
		c.out = append(c.out, `,"tool_calls":[`...)
		c.out = append(c.out, calls...)
		c.out = append(c.out, ']')
	}
	c.out = append(c.out, '}')
	return nil
}

func (c *converter) stops(v gjson.Result) *apierr.Error {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		return apierr.BadRequest("stop_sequences", "stop_sequences: Input should be a valid list.")
	}
	var err *apierr.Error
	var list []byte
	n := 0
	v.ForEach(func(_, s gjson.Result) bool {
		if s.Type != gjson.String {
			err = apierr.BadRequest("stop_sequences", "stop_sequences: every entry should be a string.")
			return false
		}
		if n > 0 {
			list = append(list, ',')
		}
		n++
		list = jsonx.AppendString(list, s.Str)
		return true
	})
	if err != nil || n == 0 {
		return err
	}
	c.out = append(c.out, `,"stop":[`...)
	c.out = append(c.out, list...)
	c.out = append(c.out, ']')
	return nil
}

// tools writes the client tools as functions. Server tools (web search, code
// execution, computer use: a versioned "type") run inside Anthropic and cannot be
// offered to another provider.
func (c *converter) tools(tools, choice gjson.Result) *apierr.Error {
	if tools.Exists() && tools.Type != gjson.Null && !tools.IsArray() {
		return apierr.BadRequest("tools", "tools: Input should be a valid list.")
	}
	var list []byte
	n, i := 0, 0
	var err *apierr.Error
	tools.ForEach(func(_, t gjson.Result) bool {
		tp := fmt.Sprintf("tools[%d]", i)
		i++
		if !t.IsObject() {
			err = apierr.BadRequest(tp, "%s: Input should be an object.", tp)
			return false
		}
		if typ := t.Get("type").Str; typ != "" && typ != "custom" {
			c.drop("%s (%s)", tp, typ)
			return true
		}
		name := t.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			err = apierr.BadRequest(tp+".name", "%s.name: Field required.", tp)
			return false
		}
		c.dropExtras(tp, t, "type", "name", "description", "input_schema", "strict")
		if n > 0 {
			list = append(list, ',')
		}
		n++
		list = append(list, `{"type":"function","function":{"name":`...)
		list = jsonx.AppendString(list, name.Str)
		if d := t.Get("description"); d.Type == gjson.String && d.Str != "" {
			list = append(list, `,"description":`...)
			list = jsonx.AppendString(list, d.Str)
		}
		list = append(list, `,"parameters":`...)
		if s := t.Get("input_schema"); s.IsObject() {
			list = appendCompact(list, s.Raw)
		} else {
			list = append(list, `{"type":"object","properties":{}}`...)
		}
		if s := t.Get("strict"); s.Type == gjson.True || s.Type == gjson.False {
			list = append(list, `,"strict":`...)
			list = append(list, s.Raw...)
		}
		list = append(list, "}}"...)
		return true
	})
	if err != nil {
		return err
	}
	if n == 0 {
		if choice.Exists() && choice.Type != gjson.Null {
			c.drop("tool_choice (no tools carried)")
		}
		return nil
	}
	c.out = append(c.out, `,"tools":[`...)
	c.out = append(c.out, list...)
	c.out = append(c.out, ']')
	if !choice.Exists() || choice.Type == gjson.Null {
		return nil
	}
	if !choice.IsObject() {
		return apierr.BadRequest("tool_choice", "tool_choice: Input should be an object.")
	}
	c.dropExtras("tool_choice", choice, "type", "name", "disable_parallel_tool_use")
	typ := choice.Get("type").Str
	switch typ {
	case "auto":
		c.out = append(c.out, `,"tool_choice":"auto"`...)
	case "any":
		c.out = append(c.out, `,"tool_choice":"required"`...)
	case "none":
		c.out = append(c.out, `,"tool_choice":"none"`...)
	case "tool":
		name := choice.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			return apierr.BadRequest("tool_choice.name", "tool_choice.name: Field required.")
		}
		c.out = append(c.out, `,"tool_choice":{"type":"function","function":{"name":`...)
		c.out = jsonx.AppendString(c.out, name.Str)
		c.out = append(c.out, "}}"...)
	default:
		if choice.Get("type").Type != gjson.String {
			return apierr.BadRequest("tool_choice.type", "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'.")
		}
		// A newer choice: the chat default (auto) is the nearest meaning.
		c.drop("tool_choice.type %q", typ)
		return nil
	}
	if choice.Get("disable_parallel_tool_use").Type == gjson.True && typ != "none" {
		c.out = append(c.out, `,"parallel_tool_calls":false`...)
	}
	return nil
}

func (c *converter) metadata(v gjson.Result) *apierr.Error {
	if !v.Exists() || v.Type == gjson.Null {
		return nil
	}
	if !v.IsObject() {
		return apierr.BadRequest("metadata", "metadata: Input should be an object.")
	}
	c.dropExtras("metadata", v, "user_id")
	if u := v.Get("user_id"); u.Type == gjson.String && u.Str != "" {
		c.out = append(c.out, `,"user":`...)
		c.out = jsonx.AppendString(c.out, u.Str)
	}
	return nil
}

// reasoning maps thinking (and output_config) to chat's reasoning_effort. A budget
// has no chat counterpart, so it picks a level: up to 4096 tokens is low, up to 16384
// medium, above that high; adaptive thinking is medium. output_config.effort, when
// given, is the client's own level and wins.
func (c *converter) reasoning(thinking, oc gjson.Result) *apierr.Error {
	effort := ""
	if thinking.Exists() && thinking.Type != gjson.Null {
		if !thinking.IsObject() {
			return apierr.BadRequest("thinking", "thinking: Input should be an object.")
		}
		switch thinking.Get("type").Str {
		case "enabled":
			b := thinking.Get("budget_tokens")
			if !isInt(b) {
				return apierr.BadRequest("thinking.budget_tokens", "thinking.budget_tokens: Field required (an integer).")
			}
			switch n := b.Int(); {
			case n <= 4096:
				effort = "low"
			case n <= 16384:
				effort = "medium"
			default:
				effort = "high"
			}
			c.drop("thinking.budget_tokens (sent as reasoning_effort %q)", effort)
			c.dropExtras("thinking", thinking, "type", "budget_tokens")
		case "adaptive":
			effort = "medium"
			c.drop("thinking.type adaptive (sent as reasoning_effort %q)", effort)
			c.dropExtras("thinking", thinking, "type")
		case "disabled":
		default:
			if thinking.Get("type").Type != gjson.String {
				return apierr.BadRequest("thinking.type", "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'.")
			}
			c.drop("thinking.type %q", thinking.Get("type").Str)
		}
	}
	if oc.IsObject() {
		c.dropExtras("output_config", oc, "effort", "format")
		switch e := oc.Get("effort").Str; e {
		case "":
		case "low", "medium", "high":
			effort = e
		case "xhigh", "max":
			effort = "high"
			c.drop("output_config.effort %q (sent as reasoning_effort \"high\")", e)
		default:
			c.drop("output_config.effort %q", e)
		}
		if f := oc.Get("format"); f.Exists() && f.Type != gjson.Null {
			if f.Get("type").Str == "json_schema" && f.Get("schema").IsObject() {
				c.out = append(c.out, `,"response_format":{"type":"json_schema","json_schema":{"name":"output","schema":`...)
				c.out = appendCompact(c.out, f.Get("schema").Raw)
				c.out = append(c.out, "}}"...)
			} else {
				c.drop("output_config.format")
			}
		}
	} else if oc.Exists() && oc.Type != gjson.Null {
		c.drop("output_config")
	}
	if effort != "" {
		c.out = append(c.out, `,"reasoning_effort":"`...)
		c.out = append(c.out, effort...)
		c.out = append(c.out, '"')
	}
	return nil
}
