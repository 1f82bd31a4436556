// Package patterns derives the EventBridge event patterns of the stack's
// rules from the playbook, so the rules deliver to the function exactly the
// events the playbook handles and cannot drift from it.
package patterns

import (
	"slices"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Pattern is an EventBridge event pattern, ready to marshal as JSON.
type Pattern = map[string]any

// GuardDuty returns the pattern of the GuardDuty rule: one branch per
// GuardDuty rule of the playbook, each with its finding types (exact, prefix
// or wildcard), its minimum severity and its principal types. Archived
// findings are left out unless the playbook acts on them. Sample findings
// cannot be told apart by a pattern (the marker may sit inside a JSON
// string), so the function skips them itself. It returns nil when the
// playbook has no GuardDuty rule.
//
// When account is set, only that account's findings match: the envelope's
// account and detail.accountId, since a GuardDuty administrator's bus also
// receives its members' findings, with the member in detail.accountId
// (GuardDuty User Guide, "Creating custom responses to GuardDuty findings":
// "You can identify the member account the GuardDuty finding originated from
// with the accountId field").
func GuardDuty(pb *playbook.Playbook, account string) Pattern {
	var branches []map[string]any
	for _, r := range pb.Rules {
		if r.Source != finding.SourceGuardDuty {
			continue
		}
		b := map[string]any{"type": matchers(r.Types)}
		if min := max(r.MinSeverity, pb.Settings.MinSeverity); min > 0 {
			b["severity"] = []any{map[string]any{"numeric": []any{">=", min}}}
		}
		if types := userTypes(r.Principals); types != nil {
			b["resource"] = map[string]any{"accessKeyDetails": map[string]any{"userType": types}}
		}
		branches = append(branches, b)
	}
	if len(branches) == 0 {
		return nil
	}
	detail := or(branches)
	if !pb.Settings.ActOnArchived {
		detail["service"] = map[string]any{"archived": []any{false}}
	}
	p := Pattern{"source": []any{finding.SourceGuardDutyEvents}, "detail-type": []any{finding.DetailTypeGuardDuty}, "detail": detail}
	if account != "" {
		p["account"] = []any{account}
		detail["accountId"] = []any{account}
	}
	return p
}

// CloudTrail returns the pattern of the CloudTrail rule: one branch per
// CloudTrail rule of the playbook (event source, event names, principal
// types). The event's source is the service's (cloudtrail.amazonaws.com
// arrives as aws.cloudtrail); console sign-ins have their own detail-type.
// It returns nil when the playbook has no CloudTrail rule. When account is
// set, only events of that account match (the envelope's account: CloudTrail
// delivers an event to the bus of the account that recorded it).
func CloudTrail(pb *playbook.Playbook, account string) Pattern {
	var branches []map[string]any
	var sources, detailTypes []any
	for _, r := range pb.Rules {
		if r.Source != finding.SourceCloudTrail {
			continue
		}
		b := map[string]any{"eventSource": []any{r.EventSource}, "eventName": matchers(r.Types)}
		if types := userTypes(r.Principals); types != nil {
			b["userIdentity"] = map[string]any{"type": types}
		}
		branches = append(branches, b)
		sources = appendNew(sources, EventBridgeSource(r.EventSource))
		dt := finding.DetailTypeAPICall
		if r.EventSource == "signin.amazonaws.com" {
			dt = finding.DetailTypeConsoleSignIn
		}
		detailTypes = appendNew(detailTypes, dt)
	}
	if len(branches) == 0 {
		return nil
	}
	p := Pattern{"source": sources, "detail-type": detailTypes, "detail": or(branches)}
	if account != "" {
		p["account"] = []any{account}
	}
	return p
}

// EventBridgeSource is the source EventBridge gives a service's CloudTrail
// events (see finding.EventBridgeSource, which the function checks).
func EventBridgeSource(eventSource string) string {
	return finding.EventBridgeSource(eventSource)
}

// or joins branches with $or, which EventBridge wants with two or more.
func or(branches []map[string]any) map[string]any {
	if len(branches) == 1 {
		return branches[0]
	}
	list := make([]any, len(branches))
	for i, b := range branches {
		list[i] = b
	}
	return map[string]any{"$or": list}
}

// matchers turns playbook patterns into EventBridge value matchers.
func matchers(ps []playbook.Pattern) []any {
	var out []any
	for _, p := range ps {
		switch p.Kind() {
		case playbook.Exact:
			out = append(out, string(p))
		case playbook.Prefix:
			out = append(out, map[string]any{"prefix": p.Literal()})
		default:
			out = append(out, map[string]any{"wildcard": string(p)})
		}
	}
	return out
}

// userTypes maps principal kinds to the user types events carry
// (GuardDuty's accessKeyDetails.userType, CloudTrail's userIdentity.type).
// It returns nil, no filter, when a kind cannot be expressed as a type.
func userTypes(kinds []finding.Kind) []any {
	if len(kinds) == 0 {
		return nil
	}
	var out []any
	for _, k := range kinds {
		var t string
		switch k {
		case finding.KindIAMUserKey, finding.KindIAMUserSession:
			t = "IAMUser"
		case finding.KindAssumedRole:
			t = "AssumedRole"
		case finding.KindFederated:
			t = "FederatedUser"
		case finding.KindRoot:
			t = "Root"
		case finding.KindService:
			t = "AWSService"
		default:
			return nil
		}
		out = appendNew(out, t)
	}
	return out
}

func appendNew(list []any, v any) []any {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}
