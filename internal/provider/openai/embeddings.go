package openai

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// ensureBase64 re-encodes float embeddings as base64 when the client asked for base64
// and the upstream ignored it (Ollama and others do): the official SDKs ask for base64
// by default and would decode floats into garbage.
func ensureBase64(reqBody, respBody []byte) []byte {
	if gjson.GetBytes(reqBody, "encoding_format").String() != "base64" {
		return respBody
	}
	data := gjson.GetBytes(respBody, "data")
	if !data.IsArray() {
		return respBody
	}
	out := respBody
	for i, item := range data.Array() {
		emb := item.Get("embedding")
		if !emb.IsArray() {
			continue
		}
		var err error
		out, err = sjson.SetBytes(out, "data."+strconv.Itoa(i)+".embedding", EncodeFloats(emb.Array()))
		if err != nil {
			return respBody
		}
	}
	return out
}

// EncodeFloats is OpenAI's base64 form: little-endian float32 bytes.
func EncodeFloats(vals []gjson.Result) string {
	buf := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(v.Float())))
	}
	return base64.StdEncoding.EncodeToString(buf)
}
