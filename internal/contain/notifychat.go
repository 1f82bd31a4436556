package contain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// The chat format is the custom notification of Amazon Q Developer in chat
// applications (formerly AWS Chatbot), which posts an SNS message to the
// Slack channels and Microsoft Teams channels the topic is mapped to. What
// this relies on, from "Custom notifications using Amazon Q Developer in
// chat applications",
// https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html
// (read 2026-11-26):
//   - the SNS message body is one JSON object: "version" (required, "Must
//     be 1.0"), "source" (required, "Must be custom"), optional "id",
//     "content" {"textType", "title", "description", "nextSteps": [],
//     "keywords": []} and "metadata" {"threadId", "summary", "eventType",
//     "relatedResources": [], "additionalContext": {string: string}};
//   - "Only client-markdown textType is currently supported": the text is
//     rendered in the chat platform's own markdown;
//   - notifications with the same threadId are threaded when the channel's
//     preferences allow it.
//
// AWS documents no length limit for these fields. The one hard limit is
// SNS's (maxMessage). Chatbot renders into Slack's blocks, whose limits are
// 150 characters for a header and 3,000 for a section's text
// (https://api.slack.com/reference/block-kit/blocks); whether Chatbot cuts
// or drops a longer text is not documented, so the budgets below keep each
// field within them, and cut what is longer with a marker. Chatbot reads
// the SNS envelope, so the subscription must not use raw message delivery
// (AWS Chatbot Administrator Guide, "Troubleshooting",
// https://github.com/awsdocs/aws-chatbot-admin-guide/blob/main/doc_source/chatbot-troubleshooting.md).
const (
	chatTitleMax       = 150  // UTF-16 code units, as Slack counts
	chatDescriptionMax = 3000 // UTF-16 code units
	chatLineMax        = 400  // of one line of the description
	chatItemMax        = 300  // of a next step, a keyword, a related resource or a context value
	chatListedAddrs    = 10   // addresses named in the description
	chatListedActors   = 5    // attack sequence actors named in the description
	chatResources      = 10   // related resources in the metadata
)

// chatMessage is a custom notification (see above).
type chatMessage struct {
	Version  string       `json:"version"`
	Source   string       `json:"source"`
	Content  chatContent  `json:"content"`
	Metadata chatMetadata `json:"metadata"`
}

type chatContent struct {
	TextType    string   `json:"textType"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	NextSteps   []string `json:"nextSteps,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

type chatMetadata struct {
	ThreadID          string            `json:"threadId,omitempty"`
	Summary           string            `json:"summary,omitempty"`
	EventType         string            `json:"eventType,omitempty"`
	RelatedResources  []string          `json:"relatedResources,omitempty"`
	AdditionalContext map[string]string `json:"additionalContext,omitempty"`
}

// chatNotification renders rec as a custom notification; undo is the
// command line that undoes the finding's containment ("" when there is
// none). Every field is cut to its budget, so the message is always valid
// JSON far below SNS's limit, whatever the record holds.
func chatNotification(rec audit.Record, undo string) (string, error) {
	rec = rec.Masked()
	f := rec.Finding
	m := chatMessage{
		Version: "1.0",
		Source:  "custom",
		Content: chatContent{
			TextType:    "client-markdown",
			Title:       cutUnits(oneLine.Replace(chatTitle(rec)), chatTitleMax),
			Description: chatDescription(rec),
			NextSteps:   cutAll(chatNextSteps(rec, undo), chatItemMax),
			Keywords:    cutAll(chatKeywords(rec), chatItemMax),
		},
		Metadata: chatMetadata{
			// Later notifications of the same finding (a re-delivery, an
			// updated finding) join its thread.
			ThreadID:         cutUnits("autocontain-"+f.ID, chatItemMax),
			Summary:          cutUnits(fmt.Sprintf("autocontain %s: %s", rec.Outcome, f.Type), chatItemMax),
			EventType:        "autocontain-" + rec.Outcome,
			RelatedResources: cutAll(relatedResources(rec), chatItemMax),
			AdditionalContext: map[string]string{
				"findingId": cutUnits(f.ID, chatItemMax), "findingType": cutUnits(f.Type, chatItemMax),
				"source": cutUnits(f.Source, chatItemMax), "account": cutUnits(f.Account, chatItemMax), "region": cutUnits(f.Region, chatItemMax),
				"rule": cutUnits(rec.Rule, chatItemMax), "outcome": rec.Outcome,
			},
		},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" and "&" stay readable; JSON needs no escape for them
	if err := enc.Encode(m); err != nil {
		return "", fmt.Errorf("notify: encode chat notification: %w", err)
	}
	if b.Len() > maxMessage {
		// Unreachable: every field is cut to its budget, about 11,300
		// UTF-16 code units in all, and JSON writes a code unit in at most
		// 6 bytes (\u001f); kept so that no change to the budgets can send
		// a message SNS refuses.
		return "", fmt.Errorf("notify: chat notification of %d bytes exceeds SNS's %d", b.Len(), maxMessage)
	}
	return b.String(), nil
}

// chatTitle says in one line what autocontain did, to whom, where: "🛡️
// autocontain contained user alice (key AKIA…R5VR) in 123456789012:
// deactivate-key, revoke-sessions, block-ip".
func chatTitle(rec audit.Record) string {
	who := subject(rec)
	where := rec.Finding.Account
	if where == "" {
		where = "(unknown account)"
	}
	with := func(status string) string { return strings.Join(actionsWith(rec, status), ", ") }
	switch rec.Outcome {
	case audit.OutcomeContained:
		return fmt.Sprintf("🛡️ autocontain contained %s in %s: %s", who, where, with(audit.StatusDone))
	case audit.OutcomeFailed:
		if failed := with(audit.StatusFailed); failed != "" {
			return fmt.Sprintf("❌ autocontain failed on %s in %s: %s failed", who, where, failed)
		}
		return fmt.Sprintf("❌ autocontain failed on %s in %s", who, where)
	case audit.OutcomeReported:
		return fmt.Sprintf("⚠️ autocontain reported %s in %s: a person must act", who, where)
	case audit.OutcomeDryRun:
		return fmt.Sprintf("📝 autocontain dry run for %s in %s: would run %s", who, where, with(audit.StatusPlanned))
	case audit.OutcomeNoChange:
		return fmt.Sprintf("autocontain: nothing to change for %s in %s", who, where)
	}
	return fmt.Sprintf("autocontain %s: %s in %s", rec.Outcome, who, where)
}

// subject names what the finding is about: its principal (and key), else
// its resource, else its addresses, else its type.
func subject(rec audit.Record) string {
	p, f := rec.Principal, rec.Finding
	var who string
	switch {
	case p.UserName != "":
		who = "user " + p.UserName
	case p.RoleName != "":
		who = "role " + p.RoleName
	case p.Kind == string(finding.KindRoot):
		who = "the root user"
	case p.ARN != "":
		who = p.ARN
	case f.Resource != "":
		who = strings.TrimSpace(f.ResourceType + " " + f.Resource)
	case len(f.Addresses) == 1 && f.AddressesOmitted == 0:
		who = "address " + f.Addresses[0]
	case len(f.Addresses)+f.AddressesOmitted > 1:
		who = fmt.Sprintf("%d addresses", len(f.Addresses)+f.AddressesOmitted)
	default:
		who = "finding " + f.Type
	}
	if p.AccessKey != "" {
		who += " (key " + p.AccessKey + ")"
	}
	if n := len(rec.Actors); n > 0 {
		who += fmt.Sprintf(" and %d more", n)
	}
	return who
}

// actionsWith lists, once each and in plan order, the actions of rec's
// steps with status, but notify (the message being written).
func actionsWith(rec audit.Record, status string) []string {
	var out []string
	for _, s := range rec.Steps {
		if s.Status == status && playbook.CategoryOf(s.Action) != playbook.OnTopic && !slices.Contains(out, s.Action) {
			out = append(out, s.Action)
		}
	}
	return out
}

// statusMark makes a step's status stand out in a list.
var statusMark = map[string]string{
	audit.StatusDone: "✅", audit.StatusFailed: "❌", audit.StatusReported: "⚠️",
	audit.StatusSkipped: "⏭️", audit.StatusUnchanged: "➖", audit.StatusPlanned: "📝",
}

// chatDescription is the finding, the principal and every step with its
// outcome, in markdown, cut to chatDescriptionMax with a marker that
// counts, by status, the steps left out. Texts that come from the event
// or from AWS (names, targets, details, errors) are code spans, so that
// they cannot format or link the message.
func chatDescription(rec audit.Record) string {
	f := rec.Finding
	var head []string
	add := func(format string, args ...any) { head = append(head, fmt.Sprintf(format, args...)) }
	add("Finding: %s %s, %s", code(f.Source), code(f.Type), severity(f))
	add("Finding id: %s · account %s · %s", code(f.ID), code(f.Account), code(f.Region))
	if f.Call != "" {
		add("Call: %s", code(f.Call))
	}
	if f.Resource != "" {
		add("Resource: %s %s", code(f.ResourceType), code(f.Resource))
	}
	for i, p := range append([]audit.Principal{rec.Principal}, rec.Actors...) {
		label := "Principal"
		if i > 0 {
			label = "Actor"
		}
		if i > chatListedActors {
			add("… and %d more actors", len(rec.Actors)-chatListedActors)
			break
		}
		if p.Kind == "" || p.Kind == string(finding.KindNone) {
			continue
		}
		parts := []string{p.Kind}
		for _, v := range []string{p.ARN, p.UserName, p.RoleName, p.AccessKey} {
			if v != "" {
				parts = append(parts, code(v))
			}
		}
		if p.Account != "" {
			parts = append(parts, "(account "+code(p.Account)+")")
		}
		add("%s: %s", label, strings.Join(parts, " "))
		if p.Impact.Class != "" {
			add("Impact: %s", code(p.Impact.String()))
		}
	}
	if all := len(f.Addresses) + f.AddressesOmitted; all > 0 {
		listed := f.Addresses[:min(len(f.Addresses), chatListedAddrs)]
		line := "Addresses: " + strings.Join(codes(listed), " ")
		if all > len(listed) {
			line += fmt.Sprintf(" (%d in all)", all)
		}
		head = append(head, line)
	}
	if rec.Rule != "" {
		add("Rule: %s", code(rec.Rule))
	}
	if rec.ActsIn != "" {
		add("Acts in: %s", code(rec.ActsIn))
	}
	if rec.DryRun {
		head = append(head, "Dry run: nothing was changed.")
	}
	if rec.Error != "" {
		add("Error: %s", code(rec.Error))
	}
	head = append(head, "Steps:")
	steps := make([]string, len(rec.Steps))
	for i, s := range rec.Steps {
		action := s.Action
		if s.Skipped != "" {
			action += " " + s.Skipped
		}
		line := fmt.Sprintf("%d. %s %s %s: %s", i+1, strings.TrimSpace(statusMark[s.Status]+" "+s.Status), action, code(s.Target), s.Reason)
		if s.Detail != "" {
			line += " (" + code(s.Detail) + ")"
		}
		if s.Error != "" {
			line += " error: " + code(s.Error)
		}
		steps[i] = line
	}
	return fitLines(head, steps, rec.Steps)
}

// fitLines joins head and steps, each line cut to chatLineMax, within
// chatDescriptionMax: when they do not all fit, the lines past the room
// left for a marker are left out, and the marker counts the steps among
// them by status.
func fitLines(head, steps []string, recSteps []audit.Step) string {
	lines := make([]string, 0, len(head)+len(steps))
	total := 0
	for _, l := range slices.Concat(head, steps) {
		l = cutUnits(oneLine.Replace(l), chatLineMax)
		lines = append(lines, l)
		total += units(l) + 1
	}
	if total-1 <= chatDescriptionMax {
		return strings.Join(lines, "\n")
	}
	// Room kept for the marker: its text, and a count for each status.
	const reserve = 200
	var b strings.Builder
	used := 0
	for i, l := range lines {
		if used+units(l)+1 > chatDescriptionMax-reserve {
			b.WriteString(omitted(recSteps[max(0, i-len(head)):]))
			break
		}
		b.WriteString(l)
		b.WriteByte('\n')
		used += units(l) + 1
	}
	return b.String()
}

// omitted is the marker for steps left out of a description.
func omitted(steps []audit.Step) string {
	counts := map[string]int{}
	var order []string
	for _, s := range steps {
		if counts[s.Status] == 0 {
			order = append(order, s.Status)
		}
		counts[s.Status]++
	}
	parts := make([]string, len(order))
	for i, st := range order {
		parts[i] = fmt.Sprintf("%d %s", counts[st], st)
	}
	return fmt.Sprintf("… [%d more steps left out (%s); the full record is in the function's log]", len(steps), strings.Join(parts, ", "))
}

// chatNextSteps are what a person can do now: undo what was done, and what
// the outcome asks of them.
func chatNextSteps(rec audit.Record, undo string) []string {
	var out []string
	if cmd := undoLine(rec, undo); cmd != "" {
		out = append(out, "Undo: "+code(cmd))
	}
	switch rec.Outcome {
	case audit.OutcomeFailed:
		out = append(out, "Read the failed steps' errors. A failure that retrying can mend is retried with the delivery; a permanent one (the step says so in the log) is not.")
	case audit.OutcomeReported:
		out = append(out, "autocontain contained nothing here: a person must secure what was reported.")
	case audit.OutcomeDryRun:
		out = append(out, "Nothing was changed: the deployment is a dry run (dryRun). Deploy with dryRun=false to contain.")
	}
	return out
}

// chatKeywords are the finding's type, severity, account and Region, and
// the outcome.
func chatKeywords(rec audit.Record) []string {
	f := rec.Finding
	out := []string{f.Type}
	if f.Source == string(finding.SourceGuardDuty) {
		out = append(out, "severity "+f.SeverityLabel)
	}
	return slices.DeleteFunc(append(out, f.Account, f.Region, rec.Outcome), func(s string) bool { return s == "" })
}

// relatedResources are the ARNs of the principals, at most chatResources.
func relatedResources(rec audit.Record) []string {
	var out []string
	for _, p := range append([]audit.Principal{rec.Principal}, rec.Actors...) {
		if p.ARN != "" && !slices.Contains(out, p.ARN) && len(out) < chatResources {
			out = append(out, p.ARN)
		}
	}
	return out
}

// severity is a GuardDuty finding's severity for people, "n/a" for
// CloudTrail's.
func severity(f audit.Finding) string {
	if f.Source != string(finding.SourceGuardDuty) {
		return "severity n/a"
	}
	return fmt.Sprintf("severity %g (%s)", f.Severity, f.SeverityLabel)
}

// code is s as a markdown code span: shown as it is, never formatted or
// linked. A backtick in s would end the span, so it becomes a quote; a
// span ends at a line's end, so line breaks become spaces.
func code(s string) string {
	if s == "" {
		return "``"
	}
	return "`" + strings.ReplaceAll(oneLine.Replace(s), "`", "'") + "`"
}

// oneLine replaces line breaks with spaces.
var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\u2028", " ", "\u2029", " ")

func codes(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = code(s)
	}
	return out
}

// units is the length of s in UTF-16 code units, as Slack counts.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// cutUnits cuts s to at most n UTF-16 code units, ending it with "…" when
// it was cut; it never splits a character. A code span cut in the middle
// is closed again.
func cutUnits(s string, n int) string {
	if units(s) <= n {
		return s
	}
	const mark = "…"
	used := units(mark) + 1 // the mark, and a backtick to close a span
	var b strings.Builder
	ticks := 0
	for _, r := range s {
		if used+utf16.RuneLen(r) > n {
			break
		}
		used += utf16.RuneLen(r)
		b.WriteRune(r)
		if r == '`' {
			ticks++
		}
	}
	if ticks%2 == 1 {
		b.WriteByte('`')
	}
	return b.String() + mark
}

func cutAll(ss []string, n int) []string {
	for i, s := range ss {
		ss[i] = cutUnits(s, n)
	}
	return ss
}
