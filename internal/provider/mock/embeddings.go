package mock

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"strconv"

	"github.com/jmanhype/runestone/internal/apierr"
	"github.com/jmanhype/runestone/internal/jsonx"
	"github.com/jmanhype/runestone/internal/provider"
	"github.com/tidwall/gjson"
)

const defaultDims = 1536

func (p *Provider) embeddings(call *provider.Call) (*provider.Response, error) {
	in := gjson.GetBytes(call.Body, "input")
	var inputs []string
	switch {
	case in.Type == gjson.String:
		inputs = []string{in.String()}
	case in.IsArray():
		for _, x := range in.Array() {
			inputs = append(inputs, x.Raw) // strings and token arrays alike: hash the raw form
		}
	}
	if len(inputs) == 0 || (len(inputs) == 1 && inputs[0] == "") {
		return nil, apierr.BadRequest("input", "'input' must be a non-empty string or array")
	}
	dims := defaultDims
	if d := gjson.GetBytes(call.Body, "dimensions"); d.Exists() {
		if d.Int() < 1 || d.Int() > 8192 {
			return nil, apierr.BadRequest("dimensions", "'dimensions' must be between 1 and 8192")
		}
		dims = int(d.Int())
	}
	b64 := gjson.GetBytes(call.Body, "encoding_format").String() == "base64"
	tokens := 0
	b := append(make([]byte, 0, 64+len(inputs)*dims*10), `{"object":"list","data":[`...)
	for i, s := range inputs {
		tokens += p.o.Tokens(s)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = jsonx.AppendInt(b, int64(i))
		b = append(b, `,"embedding":`...)
		vec := Vector(s, dims)
		if b64 {
			raw := make([]byte, 4*len(vec))
			for j, v := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(v))
			}
			b = jsonx.AppendString(b, base64.StdEncoding.EncodeToString(raw))
		} else {
			b = append(b, '[')
			for j, v := range vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendFloat(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = jsonx.AppendString(b, call.ClientModel)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = jsonx.AppendInt(b, int64(tokens))
	b = append(b, `,"total_tokens":`...)
	b = jsonx.AppendInt(b, int64(tokens))
	b = append(b, `}}`...)
	return &provider.Response{Body: b, Usage: provider.Usage{PromptTokens: tokens, Reported: true}}, nil
}

// Vector derives a stable unit vector from the text's hash.
func Vector(text string, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(text))
	state := h.Sum64()
	vec := make([]float32, dims)
	var norm float64
	for i := range vec {
		// splitmix64: cheap, well-distributed and deterministic.
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		v := float64(z>>11)/float64(1<<53)*2 - 1
		vec[i] = float32(v)
		norm += v * v
	}
	norm = math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(float64(vec[i]) / norm)
	}
	return vec
}

func appendFloat(b []byte, v float32) []byte { return strconv.AppendFloat(b, float64(v), 'g', 8, 32) }
