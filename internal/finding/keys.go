package finding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkRaw refuses what encoding/json would silently smooth over, so that
// nothing in the event can steer a decision unseen:
//   - bytes that are not UTF-8 (encoding/json replaces them with U+FFFD, so
//     two different user names could decode to the same string);
//   - a key repeated in one object (encoding/json keeps the last);
//   - two keys of one object that differ only in case (encoding/json matches
//     struct fields case-insensitively, so "userName" and "USERNAME" would
//     both fill one field, the later winning), except in the objects of
//     dataMaps, whose keys are data read into a Go map, which keeps each
//     key as written.
//
// It looks at every object at any depth. Syntax errors are left to the
// decoder that follows, which names them better.
func checkRaw(raw []byte) error {
	if !utf8.Valid(raw) {
		i := 0
		for i < len(raw) {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return fmt.Errorf("event is not valid UTF-8 (byte %d): refused, as its strings would be altered when read", i)
	}
	type frame struct {
		object  bool
		wantKey bool
		key     string
		index   int
		keys    map[string]string // folded key (the key itself in a data map) -> key as written
		// at is the container's path as dataMaps writes it while it can
		// still lead to one of them; dead once it cannot.
		at   string
		dead bool
		data bool // one of dataMaps: its keys are not folded
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []*frame
	// valueDone moves the enclosing container past one value.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
	// childPath is the path, as dataMaps writes it, of a container opening
	// inside the innermost open one, and whether it is dead: no data map
	// lies at or under it. It looks at the innermost frame only, so a deep
	// nesting costs no more per value than a shallow one.
	childPath := func() (string, bool) {
		if len(stack) == 0 {
			return "", false
		}
		top := stack[len(stack)-1]
		if top.dead || top.object && strings.ContainsAny(top.key, ".[") {
			return "", true // a key such as "findings[].Tags" names no field
		}
		at := top.at + "[]"
		if top.object {
			at = top.key
			if top.at != "" {
				at = top.at + "." + top.key
			}
		}
		for _, m := range dataMaps {
			if m == at || strings.HasPrefix(m, at+".") || strings.HasPrefix(m, at+"[") {
				return at, false
			}
		}
		return "", true
	}
	// pathOf names the innermost open value by its JSON path. It is built
	// only for an error: building it per value would cost time quadratic in
	// the nesting depth.
	pathOf := func() string {
		var b strings.Builder
		for _, f := range stack[:len(stack)-1] {
			if f.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			}
		}
		return b.String()
	}

	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // the decoder reports it
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := stack[n-1]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, _ := tok.(string)
			folded := key
			if !top.data {
				folded = foldKey(key)
			}
			if prev, dup := top.keys[folded]; dup {
				where := "the event"
				if p := pathOf(); p != "" {
					where = p
				}
				if prev == key {
					return fmt.Errorf("key %q appears twice in %s: refused, as only one of them would be read", key, where)
				}
				return fmt.Errorf("keys %q and %q in %s differ only in case: refused, as either could be read for the other", prev, key, where)
			}
			top.keys[folded] = key
			top.key, top.wantKey = key, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			f := &frame{object: true, wantKey: true, keys: map[string]string{}}
			f.at, f.dead = childPath()
			f.data = !f.dead && slices.Contains(dataMaps, f.at)
			stack = append(stack, f)
		case json.Delim('['):
			f := &frame{}
			f.at, f.dead = childPath()
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// dataMaps are the objects, by path (an array's elements as "[]"), whose
// keys are data rather than field names: ASFF's free-form maps, read into
// a Go map or not at all. Two of their keys may differ only in case, as
// EC2 tag keys do ("env" and "Env" are two tags: EC2 User Guide, "Tag your
// Amazon EC2 resources", tag keys are case sensitive); refusing them would
// refuse every finding about an instance so tagged, and let whoever can
// tag it keep it from being isolated. A key repeated exactly is still
// refused.
var dataMaps = []string{
	"detail.findings[].ProductFields",
	"detail.findings[].UserDefinedFields",
	"detail.findings[].Resources[].Tags",
	"detail.findings[].Resources[].Details.Other",
}

// foldKey maps s to one representative of its case-folding class, the way
// encoding/json compares field names (Unicode simple folding, so "K" and
// the Kelvin sign are one key).
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// checkText refuses a decoded identity field that holds U+FFFD: either the
// event carried it, or a lone surrogate escape was replaced by it. No IAM
// name, ARN, key id or account id can contain it.
func checkText(fields ...[2]string) error {
	for _, f := range fields {
		if strings.ContainsRune(f[1], utf8.RuneError) {
			return fmt.Errorf("%s %q holds an invalid character (U+FFFD, or a lone surrogate escape): refused", f[0], f[1])
		}
	}
	return nil
}
