package impact

import (
	"net/url"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
)

func TestClassifyDocument(t *testing.T) {
	doc := func(statements string) string { return `{"Version":"2012-10-17","Statement":` + statements + `}` }
	tests := []struct {
		name string
		doc  string
		want finding.ImpactClass
		why  string // a part of Why
	}{
		{"star_on_star", doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`), finding.ImpactAdmin, "allows * on *"},
		{"star_on_star_in_a_list", doc(`[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]},{"Sid":"All","Effect":"Allow","Action":["*"],"Resource":["*"]}]`), finding.ImpactAdmin, `statement 2 (All)`},
		{"star_colon_star_on_arn_star", doc(`{"Effect":"Allow","Action":"*:*","Resource":"arn:*"}`), finding.ImpactAdmin, ""},
		{"star_on_every_resource_of_the_partition", doc(`{"Effect":"Allow","Action":"*","Resource":"arn:aws-us-gov:*"}`), finding.ImpactAdmin, ""},
		{"conditional_admin_counts", doc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}`), finding.ImpactAdmin, ""},
		{"star_on_not_resource_counts_as_everything", doc(`{"Effect":"Allow","Action":"*","NotResource":"arn:aws:s3:::secret/*"}`), finding.ImpactAdmin, "every resource but"},
		{"star_on_one_bucket_is_scoped", doc(`{"Effect":"Allow","Action":"*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}`), finding.ImpactScoped, ""},
		{"deny_star_is_not_admin", doc(`{"Effect":"Deny","Action":"*","Resource":"*"}`), finding.ImpactScoped, ""},
		{"a_deny_does_not_lower", doc(`[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iam:*","Resource":"*"}]`), finding.ImpactAdmin, ""},
		{"iam_star_is_escalation", doc(`{"Effect":"Allow","Action":"iam:*","Resource":"*"}`), finding.ImpactEscalation, "iam:PutUserPolicy"},
		{"pass_role_on_star", doc(`{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}`), finding.ImpactEscalation, "iam:PassRole on *"},
		{"pass_role_on_a_role_wildcard", doc(`{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::123456789012:role/*"}`), finding.ImpactEscalation, ""},
		{"pass_one_named_role_is_scoped", doc(`{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::123456789012:role/deploy"}`), finding.ImpactScoped, ""},
		{"own_access_keys_are_scoped", doc(`{"Effect":"Allow","Action":["iam:CreateAccessKey","iam:ListAccessKeys"],"Resource":"arn:aws:iam::*:user/${aws:username}"}`), finding.ImpactScoped, ""},
		{"keys_of_every_user", doc(`{"Effect":"Allow","Action":"iam:CreateAccessKey","Resource":"arn:aws:iam::123456789012:user/*"}`), finding.ImpactEscalation, "iam:CreateAccessKey"},
		{"put_policy_on_oneself", doc(`{"Effect":"Allow","Action":"iam:PutUserPolicy","Resource":"arn:aws:iam::*:user/${aws:username}"}`), finding.ImpactEscalation, "iam:PutUserPolicy"},
		{"attach_glob_action", doc(`{"Effect":"Allow","Action":"iam:Attach*Policy","Resource":"arn:aws:iam::123456789012:role/app"}`), finding.ImpactEscalation, "iam:AttachUserPolicy"},
		{"action_case_does_not_matter", doc(`{"Effect":"Allow","Action":"IAM:putrolepolicy","Resource":"*"}`), finding.ImpactEscalation, ""},
		{"question_mark_wildcard", doc(`{"Effect":"Allow","Action":"iam:Put?serPolicy","Resource":"*"}`), finding.ImpactEscalation, ""},
		{"login_profile", doc(`{"Effect":"Allow","Action":"iam:UpdateLoginProfile","Resource":"*"}`), finding.ImpactEscalation, ""},
		{"trust_policy", doc(`{"Effect":"Allow","Action":"iam:UpdateAssumeRolePolicy","Resource":"arn:aws:iam::123456789012:role/x"}`), finding.ImpactEscalation, ""},
		{"assume_any_role", doc(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}`), finding.ImpactEscalation, "sts:AssumeRole"},
		{"assume_one_role_is_scoped", doc(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::123456789012:role/reader"}`), finding.ImpactScoped, ""},
		{"iam_star_on_a_bucket_is_scoped", doc(`{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}`), finding.ImpactScoped, ""},
		{"not_action_allows_the_rest", doc(`{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}`), finding.ImpactEscalation, "sts:AssumeRole"},
		{"not_action_without_iam_is_not_admin", doc(`{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`), finding.ImpactEscalation, ""},
		{"all_but_one_action_is_admin", doc(`{"Effect":"Allow","NotAction":"s3:GetObject","Resource":"*"}`), finding.ImpactAdmin, "every action but s3:GetObject"},
		{"all_but_one_action_on_one_bucket_is_scoped", doc(`{"Effect":"Allow","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`), finding.ImpactScoped, ""},
		{"list_all_my_buckets", doc(`{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}`), finding.ImpactListAll, "s3:ListAllMyBuckets on *"},
		{"describe_star", doc(`{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}`), finding.ImpactListAll, "ec2:DescribeInstances"},
		{"s3_star_on_one_bucket_is_scoped", doc(`{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}`), finding.ImpactScoped, ""},
		{"read_one_bucket", doc(`{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/*"}`), finding.ImpactScoped, ""},
		{"escalation_beats_list_all", doc(`[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"},{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]`), finding.ImpactEscalation, "statement 2"},
		{"empty_statement_list", doc(`[]`), finding.ImpactScoped, ""},
		{"url_encoded", url.QueryEscape(doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`)), finding.ImpactAdmin, ""},
		{"url_encoded_percent20", url.PathEscape(doc(`{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}`)), finding.ImpactEscalation, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ClassifyDocument(tt.doc)
			if err != nil {
				t.Fatalf("ClassifyDocument: %v", err)
			}
			if v.Class != tt.want || !strings.Contains(v.Why, tt.why) {
				t.Errorf("got %s (%s), want %s (…%s…)", v.Class, v.Why, tt.want, tt.why)
			}
		})
	}
}

// TestClassifyDocumentErrors: what cannot be read is unknown, never scoped.
func TestClassifyDocumentErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not_json":                `not json`,
		"bad_escape":              `%7B%ZZ`,
		"not_an_object":           `[1,2]`,
		"no_statement":            `{"Version":"2012-10-17"}`,
		"unknown_policy_element":  `{"Version":"2012-10-17","Statment":[]}`,
		"statement_a_string":      `{"Statement":"Allow *"}`,
		"statement_null":          `{"Statement":null}`,
		"element_in_lower_case":   `{"Statement":{"Effect":"Allow","action":"*","Resource":"*"}}`,
		"effect_in_lower_case":    `{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}`,
		"no_effect":               `{"Statement":{"Action":"*","Resource":"*"}}`,
		"action_and_not_action":   `{"Statement":{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}}`,
		"no_action":               `{"Statement":{"Effect":"Allow","Resource":"*"}}`,
		"no_resource":             `{"Statement":{"Effect":"Allow","Action":"*"}}`,
		"action_a_number":         `{"Statement":{"Effect":"Allow","Action":7,"Resource":"*"}}`,
		"action_null":             `{"Statement":{"Effect":"Allow","Action":null,"Resource":"*"}}`,
		"action_empty_list":       `{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}`,
		"action_list_with_null":   `{"Statement":{"Effect":"Allow","Action":["s3:GetObject",null],"Resource":"*"}}`,
		"resource_list_of_lists":  `{"Statement":{"Effect":"Allow","Action":"*","Resource":[["*"]]}}`,
		"condition_a_string":      `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":"x"}}`,
		"deny_with_a_bad_action":  `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},{"Effect":"Deny","Action":{},"Resource":"*"}]}`,
		"statement_list_with_nil": `{"Statement":[null]}`,
	} {
		t.Run(name, func(t *testing.T) {
			v, err := ClassifyDocument(doc)
			if err == nil || v.Class != finding.ImpactUnknown {
				t.Errorf("got %s, %v; want unknown and an error", v.Class, err)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"a*c", "abbbc", true}, {"a*c", "abbbd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*:*", "iam:PassRole", true}, {"*:*", "nocolon", false},
		{"iam:Put*Policy", "iam:PutUserPolicy", true}, {"iam:Put*Policy", "iam:PutUserPermissionsBoundary", false},
		{"a*b*c", "aXbYbZc", true}, {"", "", true}, {"", "a", false},
	} {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}
