// Package impact computes the privilege class of an IAM user or role from
// its identity-based policies (attached managed, inline, and for users
// those of their groups): admin, escalation, list-all or scoped (the
// classes of finding.ImpactClass). It reads IAM through a narrow,
// read-only interface and makes no change.
//
// What counts, and how conservatively:
//   - Only Allow statements raise the class. A Deny never lowers it: a deny
//     may be conditional or narrower than it looks, and evaluating it
//     exactly needs the request's context. The class says what the
//     policies grant; ignoring denies can only over-state it.
//   - A Condition on an Allow is ignored: the statement counts as if it
//     always applied (again over-stating, never under-stating).
//   - NotAction allows every action it does not name; NotResource counts
//     as every resource.
//   - Permission boundaries, SCPs, session policies and resource policies
//     are not read.
//   - A document that cannot be read or parsed makes the class unknown,
//     never scoped, unless another policy already makes it admin (nothing
//     can raise it further, and denies do not lower it).
package impact

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
)

// statement is one statement of an identity-based policy, as autocontain
// reads it.
type statement struct {
	index       int
	sid         string
	allow       bool
	actions     []string
	notAction   bool
	resources   []string
	notResource bool
}

// elements of a policy and of a statement (IAM User Guide, "IAM JSON policy
// element reference"). Any other name is an error: a document autocontain
// does not understand is unknown, never scoped.
var (
	policyElements    = map[string]bool{"Version": true, "Id": true, "Statement": true}
	statementElements = map[string]bool{
		"Sid": true, "Effect": true, "Principal": true, "NotPrincipal": true, "Action": true, "NotAction": true,
		"Resource": true, "NotResource": true, "Condition": true,
	}
)

// parse reads a policy document as IAM returns it (URL-encoded JSON,
// RFC 3986) or as written (JSON).
func parse(doc string) ([]statement, error) {
	text := strings.TrimSpace(doc)
	if !strings.HasPrefix(text, "{") {
		// IAM returns documents URL-encoded; its guide points to Java's
		// URLDecoder, which QueryUnescape matches ('+' is a space).
		d, err := url.QueryUnescape(text)
		if err != nil {
			return nil, fmt.Errorf("policy document is neither JSON nor URL-encoded JSON: %w", err)
		}
		text = strings.TrimSpace(d)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		return nil, fmt.Errorf("policy document is not a JSON object: %w", err)
	}
	for k := range top {
		if !policyElements[k] {
			return nil, fmt.Errorf("policy element %q is not one IAM knows", k)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, errors.New("policy has no Statement")
	}
	var list []map[string]json.RawMessage
	if isNull(raw) {
		return nil, errors.New("policy element Statement is null")
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil || one == nil {
			return nil, errors.New("policy element Statement is neither an object nor a list of objects")
		}
		list = []map[string]json.RawMessage{one}
	}
	out := make([]statement, 0, len(list))
	for i, m := range list {
		st, err := parseStatement(i+1, m)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func parseStatement(index int, m map[string]json.RawMessage) (statement, error) {
	st := statement{index: index}
	if m == nil {
		return st, errors.New("is not an object")
	}
	for k := range m {
		if !statementElements[k] {
			return st, fmt.Errorf("element %q is not one IAM knows", k)
		}
	}
	if raw, ok := m["Sid"]; ok {
		if json.Unmarshal(raw, &st.sid) != nil {
			return st, errors.New("its Sid is not a string")
		}
	}
	var effect string
	if json.Unmarshal(m["Effect"], &effect) != nil {
		return st, errors.New("its Effect is missing or not a string")
	}
	switch effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		return st, fmt.Errorf("its Effect %q is not Allow or Deny", effect)
	}
	var err error
	if st.actions, st.notAction, err = oneOf(m, "Action", "NotAction"); err != nil {
		return st, err
	}
	if st.resources, st.notResource, err = oneOf(m, "Resource", "NotResource"); err != nil {
		return st, err
	}
	if raw, ok := m["Condition"]; ok {
		var c map[string]json.RawMessage
		if json.Unmarshal(raw, &c) != nil || c == nil {
			return st, errors.New("its Condition is not an object")
		}
	}
	return st, nil
}

// oneOf reads the one of two exclusive elements (Action or NotAction) that
// the statement has, as a list: IAM accepts a string or a list of strings.
func oneOf(m map[string]json.RawMessage, name, notName string) (values []string, not bool, err error) {
	raw, has := m[name]
	notRaw, hasNot := m[notName]
	switch {
	case has && hasNot:
		return nil, false, fmt.Errorf("has both %s and %s", name, notName)
	case !has && !hasNot:
		return nil, false, fmt.Errorf("has neither %s nor %s", name, notName)
	case hasNot:
		raw, name, not = notRaw, notName, true
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil && !isNull(raw) {
		values = []string{one}
	} else if err := json.Unmarshal(raw, &values); err != nil || values == nil {
		return nil, false, fmt.Errorf("%s is neither a string nor a list of strings", name)
	}
	if len(values) == 0 {
		return nil, false, fmt.Errorf("%s is empty", name)
	}
	for _, v := range values {
		if v == "" {
			return nil, false, fmt.Errorf("%s holds an empty string", name)
		}
	}
	return values, not, nil
}

func isNull(raw json.RawMessage) bool { return strings.TrimSpace(string(raw)) == "null" }

// Verdict is the class one policy document (or a set of them) grants,
// with what decided it.
type Verdict struct {
	Class finding.ImpactClass
	// Why names the statement that decided: "statement 2 allows
	// iam:PassRole on arn:aws:iam::*:role/*".
	Why string
}

// rank orders the classes a document can grant; unknown is not among them.
func rank(c finding.ImpactClass) int {
	switch c {
	case finding.ImpactAdmin:
		return 4
	case finding.ImpactEscalation:
		return 3
	case finding.ImpactListAll:
		return 2
	case finding.ImpactScoped:
		return 1
	}
	return 0
}

// ClassifyDocument returns the class one policy document grants. An error
// means the document could not be read: the class is unknown.
func ClassifyDocument(doc string) (Verdict, error) {
	sts, err := parse(doc)
	if err != nil {
		return Verdict{Class: finding.ImpactUnknown}, err
	}
	best := Verdict{Class: finding.ImpactScoped}
	for _, st := range sts {
		if v := st.classify(); rank(v.Class) > rank(best.Class) {
			best = v
		}
	}
	return best, nil
}

// DenyOnly returns an error naming the first statement of a policy
// document that is not a Deny, or that the document cannot be read: a
// policy meant to restrict (quarantine's) must grant nothing.
func DenyOnly(doc string) error {
	sts, err := parse(doc)
	if err != nil {
		return err
	}
	for _, st := range sts {
		if st.allow {
			return fmt.Errorf("%s is an Allow", st.name())
		}
	}
	return nil
}

// escalations are the IAM and STS actions that can raise a principal's
// privileges (the IAM privilege-escalation methods catalogued by Rhino
// Security Labs, and the Wiz guide's list). A write of policies, trust or
// group membership counts on any IAM resource: the caller may aim it at
// itself or at a principal it can use. Passing or assuming a role and
// creating credentials count only on a resource with a wildcard: on one
// named role or user ("${aws:username}", oneself) they give no more than
// that role or user already has.
var escalations = []struct {
	action   string
	wildcard bool
}{
	{"iam:PutUserPolicy", false}, {"iam:PutRolePolicy", false}, {"iam:PutGroupPolicy", false},
	{"iam:AttachUserPolicy", false}, {"iam:AttachRolePolicy", false}, {"iam:AttachGroupPolicy", false},
	{"iam:CreatePolicyVersion", false}, {"iam:SetDefaultPolicyVersion", false},
	{"iam:UpdateAssumeRolePolicy", false}, {"iam:AddUserToGroup", false},
	{"iam:DeleteUserPermissionsBoundary", false}, {"iam:DeleteRolePermissionsBoundary", false},
	{"iam:PassRole", true}, {"iam:CreateAccessKey", true},
	{"iam:CreateLoginProfile", true}, {"iam:UpdateLoginProfile", true},
	{"sts:AssumeRole", true},
}

// listAll are account-wide listings: they name every resource of a kind
// in the account, the reconnaissance a stolen key starts with. They have
// no resource type, so only a statement on every resource ("*") grants them.
var listAll = []string{
	"s3:ListAllMyBuckets", "iam:ListUsers", "iam:ListRoles", "iam:GetAccountAuthorizationDetails",
	"ec2:DescribeInstances", "lambda:ListFunctions", "dynamodb:ListTables", "rds:DescribeDBInstances",
	"secretsmanager:ListSecrets", "ssm:DescribeParameters", "kms:ListKeys", "organizations:ListAccounts",
	"sns:ListTopics", "sqs:ListQueues",
}

// classify returns the class one statement grants.
func (st statement) classify() Verdict {
	if !st.allow {
		return Verdict{Class: finding.ImpactScoped}
	}
	on := func(what string) string {
		if st.notResource {
			return fmt.Sprintf("%s on every resource but %s", what, strings.Join(st.resources, ", "))
		}
		return fmt.Sprintf("%s on %s", what, strings.Join(st.resources, ", "))
	}
	if !st.notAction && anyMatch(st.actions, allActions) && st.onEverything() {
		return Verdict{finding.ImpactAdmin, st.name() + " allows " + on(strings.Join(st.actions, ", "))}
	}
	if st.notAction && st.onEverything() && st.allows("iam:PutUserPolicy") && st.allows("iam:AttachRolePolicy") {
		// Every action but a few, IAM's policy writes among them, on
		// everything: the principal can grant itself * on *.
		return Verdict{finding.ImpactAdmin, st.name() + " allows " + on("every action but "+strings.Join(st.actions, ", "))}
	}
	for _, e := range escalations {
		if st.allows(e.action) && st.onIAM(e.wildcard) {
			return Verdict{finding.ImpactEscalation, st.name() + " allows " + on(e.action)}
		}
	}
	for _, a := range listAll {
		if st.allows(a) && st.onEverything() {
			return Verdict{finding.ImpactListAll, st.name() + " allows " + on(a)}
		}
	}
	return Verdict{Class: finding.ImpactScoped}
}

func (st statement) name() string {
	if st.sid != "" {
		return fmt.Sprintf("statement %d (%s)", st.index, st.sid)
	}
	return fmt.Sprintf("statement %d", st.index)
}

// allActions are probes that only a pattern matching every action matches
// all of: "*" and "*:*" do, "iam:*" or "*s*" do not.
var allActions = []string{"a:b", "iam:PassRole", "s3:GetObject", "ec2:RunInstances"}

// anyMatch reports whether one of patterns matches every probe; action
// names are matched without regard to case, as IAM does.
func anyMatch(patterns, probes []string) bool {
	for _, p := range patterns {
		all := true
		for _, s := range probes {
			if !globMatch(strings.ToLower(p), strings.ToLower(s)) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// allows reports whether the statement's Action (or NotAction) covers action.
func (st statement) allows(action string) bool {
	return anyMatch(st.actions, []string{action}) != st.notAction
}

// partitions are the ones a resource pattern may name; a pattern covers
// every resource when it matches every probe of one of them.
var partitions = []string{"aws", "aws-cn", "aws-us-gov"}

// onEverything reports whether the statement's resources cover every
// resource of some partition ("*", "arn:*", "arn:aws:*"). NotResource
// counts as everything, to be safe.
func (st statement) onEverything() bool {
	if st.notResource {
		return true
	}
	for _, part := range partitions {
		probes := []string{
			"arn:" + part + ":iam::123456789012:role/x", "arn:" + part + ":s3:::bucket/key",
			"arn:" + part + ":ec2:us-east-1:123456789012:instance/i-0", "arn:" + part + ":sqs:us-east-1:123456789012:q",
		}
		for _, r := range st.resources {
			if all(r, probes) {
				return true
			}
		}
	}
	return false
}

func all(pattern string, probes []string) bool {
	for _, s := range probes {
		if !globMatch(pattern, s) {
			return false
		}
	}
	return true
}

// onIAM reports whether the statement's resources can name an IAM
// resource (a user, role, group or policy) and, if wildcard, one pattern
// that can do so has a wildcard, so names several.
func (st statement) onIAM(wildcard bool) bool {
	if st.notResource {
		return true
	}
	for _, r := range st.resources {
		if couldBeIAM(r) && (!wildcard || namesSeveral(r)) {
			return true
		}
	}
	return false
}

// namesSeveral reports whether an ARN pattern has a wildcard in its
// resource part (after the fifth colon, or anywhere when it has fewer):
// "arn:aws:iam::*:user/${aws:username}" names one user, oneself, in any
// account; "arn:aws:iam::123456789012:role/*" names every role.
func namesSeveral(pattern string) bool {
	rest := pattern
	for range 5 {
		_, after, ok := strings.Cut(rest, ":")
		if !ok {
			return strings.ContainsAny(pattern, "*?")
		}
		rest = after
	}
	return strings.ContainsAny(rest, "*?")
}

// couldBeIAM reports whether pattern could match an IAM ARN: its literal
// text before the first wildcard or policy variable agrees with
// "arn:PARTITION:iam:" as far as both go.
func couldBeIAM(pattern string) bool {
	lit := pattern
	if i := strings.IndexAny(lit, "*?$"); i >= 0 {
		lit = lit[:i]
	}
	for _, part := range partitions {
		want := "arn:" + part + ":iam:"
		if strings.HasPrefix(lit, want) || strings.HasPrefix(want, lit) {
			return true
		}
	}
	return false
}

// globMatch matches IAM's wildcards: '*' any run of characters, '?' any
// one. It backtracks only to the last star, so it runs in
// O(len(pattern)·len(s)) at worst.
func globMatch(pattern, s string) bool {
	p, n := []rune(pattern), []rune(s)
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
