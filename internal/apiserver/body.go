package apiserver

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Request bodies are decoded with encoding/json/v2 (this module aliases the standard library's
// package from Go 1.27 on): it matches field names exactly, as the original service did, refuses
// duplicate names and invalid UTF-8, and decodes from a pooled buffer without the per-request
// decoder and read buffer encoding/json's Decoder allocates, a quarter of the bytes a cache hit
// used to allocate. Only the original service's routes take bodies, and like it they ignore fields
// they do not know (its front end sends some, like "market" to routes that had no use for it).

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 1 << 20

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decodeBody reads one JSON object into dst, refusing an empty body, trailing data and large bodies.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	return decode(w, r, dst, false)
}

// decodeOptionalBody is decodeBody for routes where no body means an empty object.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, dst any) error {
	return decode(w, r, dst, true)
}

func decode(w http.ResponseWriter, r *http.Request, dst any, emptyOK bool) error {
	buf := bodyPool.Get().(*bytes.Buffer) // empty: buffers are reset before they go back
	defer func() {
		if buf.Cap() <= 64<<10 { // do not keep a rare large body's buffer alive
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBodyBytes)
		}
		return errorf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	body := buf.Bytes()
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return errorf(http.StatusBadRequest, "request body is empty; send a JSON object")
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return bodyError(body, err)
	}
	return nil
}

// bodyError turns a decoding error into a 400 that names the field and says what was expected.
func bodyError(body []byte, err error) error {
	var semantic *json.SemanticError
	var syntactic *jsontext.SyntacticError
	switch {
	case errors.As(err, &semantic):
		field := fieldName(semantic.JSONPointer)
		switch {
		case field == "":
			return errorf(http.StatusBadRequest, "request body must be a JSON object, not a JSON %s", kindName(semantic.JSONKind))
		case semantic.Err != nil: // a number out of range, say
			return errorf(http.StatusBadRequest, "field %q: %s: %v", field, semantic.JSONValue, semantic.Err)
		default:
			return errorf(http.StatusBadRequest, "field %q must be a JSON %s, not a JSON %s", field, jsonKindOf(semantic.GoType), kindName(semantic.JSONKind))
		}
	case errors.As(err, &syntactic):
		off := syntactic.ByteOffset
		switch {
		case errors.Is(err, jsontext.ErrDuplicateName):
			return errorf(http.StatusBadRequest, "field %q appears twice", fieldName(syntactic.JSONPointer))
		case off > 0 && off <= int64(len(body)) && jsontext.Value(body[:off]).IsValid():
			// Everything before the error is one whole value: the rest is extra.
			return errorf(http.StatusBadRequest, "request body must hold one JSON value; more follows at byte %d", off)
		}
		return errorf(http.StatusBadRequest, "malformed JSON at byte %d: %v", off, syntactic.Err)
	}
	return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
}

// fieldName is the field an error points at, as clients write it: "/symbols/0" → "symbols/0", "" for the body.
func fieldName(p jsontext.Pointer) string { return strings.TrimPrefix(string(p), "/") }

// kindName names a JSON kind in words (jsontext prints objects and arrays as "{" and "[").
func kindName(k jsontext.Kind) string {
	switch k {
	case 't', 'f':
		return "boolean"
	case '{':
		return "object"
	case '[':
		return "array"
	case 'n', '"', '0':
		return k.String()
	}
	return "value"
}

// jsonKindOf names the JSON kind a Go type decodes from, for messages to clients that never see Go.
func jsonKindOf(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}
