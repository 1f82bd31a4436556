package playbook

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

//go:embed default.json
var defaultJSON []byte

// DefaultJSON returns the embedded default playbook's text.
func DefaultJSON() []byte { return bytes.Clone(defaultJSON) }

// Default returns the embedded default playbook. It panics if the embedded
// file is invalid, which a test rules out.
func Default() *Playbook {
	p, err := Parse(defaultJSON, "default.json")
	if err != nil {
		panic(fmt.Sprintf("embedded default playbook is invalid: %v", err))
	}
	return p
}

// MaxSize bounds a playbook file; a real one is a few kilobytes.
const MaxSize = 1 << 20

// Load reads and validates a playbook from r; name labels errors.
func Load(r io.Reader, name string) (*Playbook, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read playbook %s: %w", name, err)
	}
	return Parse(data, name)
}

// Parse decodes and validates a playbook. Unknown fields are errors, so a
// misspelt key cannot silently do nothing; errors name the line and column
// or the field path.
func Parse(data []byte, name string) (*Playbook, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("playbook %s: larger than %d bytes", name, MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Playbook
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("playbook %s: %s", name, decodeError(data, dec, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("playbook %s:%s: unexpected data after the playbook object", name, position(data, dec.InputOffset()))
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("playbook %s: %w", name, err)
	}
	return &p, nil
}

// decodeError turns encoding/json's errors into "line:col: what".
func decodeError(data []byte, dec *json.Decoder, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe pathError
	switch {
	case errors.As(err, &pe):
		return pe.Error()
	case errors.As(err, &se):
		return fmt.Sprintf("%s: %v", position(data, se.Offset), se)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: field %q: a JSON %s cannot be %s", position(data, te.Offset), te.Field, te.Value, te.Type)
	case errors.Is(err, io.EOF):
		return "empty: want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// Unknown fields: encoding/json gives no offset, the decoder's position is close.
	return fmt.Sprintf("%s: %v", position(data, dec.InputOffset()), err)
}

// position returns the 1-based line:column of a byte offset.
func position(data []byte, offset int64) string {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:max(offset, 0)]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%d:%d", line, col)
}
