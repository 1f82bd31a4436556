package impact

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
)

// FuzzClassifyDocument: any document gets a class without a panic; an
// error is always unknown and a class is never unknown without one; the
// URL-encoded form (as IAM returns it) reads the same; and adding another
// policy's statements never lowers the class (denies do not lower it).
func FuzzClassifyDocument(f *testing.F) {
	for _, s := range []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
		`{"Statement":[{"Effect":"Allow","Action":["iam:PassRole"],"Resource":"arn:aws:iam::1:role/*"}]}`,
		`{"Statement":[{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::b"}]}`,
		`{"Statement":[{"Sid":"x","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`,
		`{"Statement":{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}}`,
		`%7B%22Statement%22%3A%5B%5D%7D`, `{}`, `[]`, `null`, `{"Statement":null}`,
	} {
		f.Add(s, `{"Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}`)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, err := ClassifyDocument(a)
		if (err != nil) != (va.Class == finding.ImpactUnknown) {
			t.Fatalf("class %s with error %v", va.Class, err)
		}
		if rank(va.Class) == 0 && err == nil {
			t.Fatalf("class %q is not one a document grants", va.Class)
		}
		if err != nil {
			return
		}
		if json.Valid([]byte(a)) {
			enc, _ := ClassifyDocument(url.QueryEscape(a))
			if enc.Class != va.Class {
				t.Fatalf("URL-encoded: %s, raw: %s", enc.Class, va.Class)
			}
		}
		vb, err := ClassifyDocument(b)
		if err != nil {
			return
		}
		both := `{"Statement":` + concat(t, a, b) + `}`
		vc, err := ClassifyDocument(both)
		if err != nil {
			t.Fatalf("the statements of two valid documents do not make one: %v\n%s", err, both)
		}
		if rank(vc.Class) < max(rank(va.Class), rank(vb.Class)) {
			t.Fatalf("together %s, apart %s and %s", vc.Class, va.Class, vb.Class)
		}
	})
}

// concat returns the statements of two parsed documents as one JSON list.
func concat(t *testing.T, docs ...string) string {
	var all []json.RawMessage
	for _, d := range docs {
		text := d
		if u, err := url.QueryUnescape(d); err == nil && !json.Valid([]byte(d)) {
			text = u
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(text), &top); err != nil {
			t.Fatal(err)
		}
		var list []json.RawMessage
		if json.Unmarshal(top["Statement"], &list) != nil {
			list = []json.RawMessage{top["Statement"]}
		}
		all = append(all, list...)
	}
	out, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
