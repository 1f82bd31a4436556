package contain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
)

const (
	aliceKey = "AKIA5EXAMPLEALICE7Q2"
	testUndo = "AWS_REGION=us-east-1 autocontain undo -function autocontain-fn"
)

// chatRecord is the record of a GuardDuty finding about alice's key whose
// steps ended with statuses (one per step, in order: deactivate-key,
// revoke-sessions, isolate-instance, block-ip, notify); mutate changes the
// finding first.
func chatRecord(statuses []string, mutate func(*plan.Plan)) audit.Record {
	p := plan.Plan{
		Finding: finding.Finding{Source: finding.SourceGuardDuty, ID: "6ab5e1f0c0ffee", Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
			Severity: 7.5, Account: "123456789012", Region: "us-east-1", UpdatedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
			Addresses: []netip.Addr{netip.MustParseAddr("185.220.101.42")},
			Principal: finding.Principal{Kind: finding.KindIAMUserKey, ARN: "arn:aws:iam::123456789012:user/alice", UserName: "alice", AccessKeyID: aliceKey}},
		Rule: "known-bad-caller",
		Steps: []plan.Step{
			{Action: playbook.ActionDeactivateKey, Target: plan.Target{Kind: plan.TargetAccessKey, UserName: "alice", AccessKeyID: aliceKey}, Reason: "set the long-term access key to Inactive"},
			{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: "alice"}, Reason: "deny every temporary credential the user minted before now"},
			// An action the notification code knows nothing of: it is
			// rendered like every other.
			{Action: playbook.ActionIsolateInstance, Target: plan.Target{Kind: plan.TargetInstance, InstanceID: "i-0123456789abcdef0"}, Reason: "move the instance to the isolation security group"},
			{Action: playbook.ActionBlockIP, Target: plan.Target{Kind: plan.TargetIPSet, ARN: "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-v4/1111", Addresses: []netip.Prefix{netip.MustParsePrefix("185.220.101.42/32")}}, Reason: "block 1 attacker IPv4 address"},
			{Action: playbook.ActionNotify, Target: plan.Target{Kind: plan.TargetTopic, ARN: "arn:aws:sns:us-east-1:123456789012:t"}, Reason: "publish the decision and its outcome"},
		},
	}
	if mutate != nil {
		mutate(&p)
	}
	rec := audit.New(p, time.Date(2026, 11, 25, 12, 0, 1, 0, time.UTC))
	for i, st := range statuses {
		rec.Steps[i].Status = st
		if st == audit.StatusFailed {
			rec.Steps[i].Error = "AccessDenied: not authorized to act on access key " + aliceKey
		}
	}
	if !p.DryRun {
		rec.Steps[0].Detail = "Active -> Inactive"
	}
	rec.Finish()
	return rec
}

// decodeChat decodes msg as a custom notification, refusing any field the
// schema does not have, and checks what every message must be.
func decodeChat(t *testing.T, msg string) chatMessage {
	t.Helper()
	if !utf8.ValidString(msg) || len(msg) > maxMessage {
		t.Fatalf("message: valid UTF-8 %v, %d bytes (limit %d)", utf8.ValidString(msg), len(msg), maxMessage)
	}
	dec := json.NewDecoder(strings.NewReader(msg))
	dec.DisallowUnknownFields()
	var m chatMessage
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a custom notification: %v\n%.2000s", err, msg)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value:\n%.2000s", msg)
	}
	if m.Version != "1.0" || m.Source != "custom" || m.Content.TextType != "client-markdown" {
		t.Errorf("version %q, source %q, textType %q: want 1.0, custom, client-markdown", m.Version, m.Source, m.Content.TextType)
	}
	if strings.ContainsAny(m.Content.Title, "\r\n\u2028\u2029") {
		t.Errorf("title of more than one line: %q", m.Content.Title)
	}
	if n := units(m.Content.Title); n > chatTitleMax || n == 0 {
		t.Errorf("title of %d units (limit %d): %s", n, chatTitleMax, m.Content.Title)
	}
	if n := units(m.Content.Description); n > chatDescriptionMax || n == 0 {
		t.Errorf("description of %d units (limit %d)", n, chatDescriptionMax)
	}
	for _, s := range append(append([]string{m.Metadata.ThreadID, m.Metadata.Summary}, m.Content.NextSteps...), m.Content.Keywords...) {
		if units(s) > chatItemMax {
			t.Errorf("item of %d units (limit %d): %.100s…", units(s), chatItemMax, s)
		}
	}
	// Every code span is closed: text from the event or from AWS cannot
	// format the rest of the line.
	for _, l := range strings.Split(m.Content.Description, "\n") {
		if strings.Count(l, "`")%2 != 0 {
			t.Errorf("unbalanced code span in %q", l)
		}
	}
	if key := regexp.MustCompile(`A[KS]IA[A-Z0-9]{16}`).FindString(msg); key != "" {
		t.Errorf("message shows the whole key id %s", key)
	}
	return m
}

// TestChatNotification renders records of each outcome in the chat format
// and reads back what each field says.
func TestChatNotification(t *testing.T) {
	done, failed, planned := audit.StatusDone, audit.StatusFailed, audit.StatusPlanned
	masked := finding.MaskKey(aliceKey)
	undo := "Undo: `" + testUndo + " 6ab5e1f0c0ffee`"
	for _, tc := range []struct {
		name      string
		rec       audit.Record
		title     string
		describes []string
		nextSteps []string
		keywords  []string
	}{
		{"contained", chatRecord([]string{done, done, done, done, planned}, nil),
			"🛡️ autocontain contained user alice (key " + masked + ") in 123456789012: deactivate-key, revoke-sessions, isolate-instance, block-ip",
			[]string{"Finding: `guardduty` `UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom`, severity 7.5 (high)",
				"Principal: iam-user-key `arn:aws:iam::123456789012:user/alice` `alice` `" + masked + "`",
				"1. ✅ done deactivate-key `key " + masked + " of user alice`: set the long-term access key to Inactive (`Active -> Inactive`)",
				"3. ✅ done isolate-instance `instance i-0123456789abcdef0`: move the instance",
				"4. ✅ done block-ip `IP set autocontain-v4 += 185.220.101.42/32`",
				"Addresses: `185.220.101.42`", "Rule: `known-bad-caller`"},
			[]string{undo},
			[]string{"UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", "severity high", "123456789012", "us-east-1", "contained"}},
		{"a step failed after another changed the account", chatRecord([]string{done, failed, done, done, planned}, nil),
			"❌ autocontain failed on user alice (key " + masked + ") in 123456789012: revoke-sessions failed",
			[]string{"2. ❌ failed revoke-sessions `user alice`", "error: `AccessDenied: not authorized to act on access key " + masked + "`"},
			[]string{undo, "Read the failed steps' errors."},
			[]string{"failed"}},
		{"nothing done: no undo", chatRecord([]string{failed, failed, failed, failed, planned}, nil),
			"❌ autocontain failed on user alice (key " + masked + ") in 123456789012: deactivate-key, revoke-sessions, isolate-instance, block-ip failed",
			nil, []string{"Read the failed steps' errors."}, nil},
		{"root reported", chatRecord(nil, func(p *plan.Plan) {
			p.Finding.Type, p.Finding.Principal = "Policy:IAMUser/RootCredentialUsage", finding.Principal{Kind: finding.KindRoot, ARN: "arn:aws:iam::123456789012:root"}
			p.Steps = []plan.Step{{Action: plan.ActionReport, Target: plan.Target{Kind: plan.TargetPrincipal, ARN: "arn:aws:iam::123456789012:root"}, Reason: "IAM cannot restrict root"}, p.Steps[4]}
		}),
			"⚠️ autocontain reported the root user in 123456789012: a person must act",
			[]string{"1. ⚠️ reported report `principal arn:aws:iam::123456789012:root`: IAM cannot restrict root"},
			[]string{"autocontain contained nothing here: a person must secure what was reported."}, nil},
		{"dry run", chatRecord(nil, func(p *plan.Plan) { p.DryRun = true }),
			"📝 autocontain dry run for user alice (key " + masked + ") in 123456789012: would run deactivate-key, revoke-sessions, isolate-instance, block-ip",
			[]string{"Dry run: nothing was changed.", "1. 📝 planned deactivate-key"},
			[]string{"Nothing was changed: the deployment is a dry run (dryRun). Deploy with dryRun=false to contain."}, nil},
		{"no principal: the addresses", chatRecord([]string{done}, func(p *plan.Plan) {
			p.Finding.Type, p.Finding.Principal = "Recon:EC2/PortProbeUnprotectedPort", finding.Principal{Kind: finding.KindNone}
			p.Steps = p.Steps[3:]
		}),
			"🛡️ autocontain contained address 185.220.101.42 in 123456789012: block-ip",
			[]string{"1. ✅ done block-ip"}, []string{undo}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := chatNotification(tc.rec, testUndo)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeChat(t, msg)
			if m.Content.Title != tc.title {
				t.Errorf("title\n %s\nwant\n %s", m.Content.Title, tc.title)
			}
			for _, w := range tc.describes {
				if !strings.Contains(m.Content.Description, w) {
					t.Errorf("description lacks %q:\n%s", w, m.Content.Description)
				}
			}
			if len(m.Content.NextSteps) != len(tc.nextSteps) {
				t.Errorf("next steps %q, want %d beginning %q", m.Content.NextSteps, len(tc.nextSteps), tc.nextSteps)
			}
			for i, w := range tc.nextSteps {
				if i < len(m.Content.NextSteps) && !strings.HasPrefix(m.Content.NextSteps[i], w) {
					t.Errorf("next step %d %q, want %q", i, m.Content.NextSteps[i], w)
				}
			}
			for _, w := range tc.keywords {
				if !strings.Contains(strings.Join(m.Content.Keywords, "|"), w) {
					t.Errorf("keywords %q lack %q", m.Content.Keywords, w)
				}
			}
			if m.Metadata.ThreadID != "autocontain-6ab5e1f0c0ffee" || m.Metadata.EventType != "autocontain-"+tc.rec.Outcome ||
				m.Metadata.AdditionalContext["findingId"] != "6ab5e1f0c0ffee" {
				t.Errorf("metadata %+v", m.Metadata)
			}
		})
	}
}

// manyPrincipals is an attack sequence's record: actors principals, each
// with a key deactivated and its sessions revoked, addrs addresses blocked,
// and long texts from AWS in every step.
func manyPrincipals(actors, addrs int) audit.Record {
	return chatRecord(nil, func(p *plan.Plan) {
		p.Finding.Type = "AttackSequence:IAM/CompromisedCredentials"
		prefixes := make([]netip.Prefix, addrs)
		p.Finding.Addresses = make([]netip.Addr, addrs)
		for i := range addrs {
			p.Finding.Addresses[i] = netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)})
			prefixes[i] = netip.PrefixFrom(p.Finding.Addresses[i], 32)
		}
		steps := []plan.Step{}
		for i := range actors {
			key := fmt.Sprintf("AKIA%016d", i)
			user := fmt.Sprintf("user-%03d", i)
			p.Finding.Actors = append(p.Finding.Actors, finding.Principal{Kind: finding.KindIAMUserKey, UserName: user, AccessKeyID: key,
				ARN: "arn:aws:iam::123456789012:user/" + user})
			steps = append(steps,
				plan.Step{Action: playbook.ActionDeactivateKey, Target: plan.Target{Kind: plan.TargetAccessKey, UserName: user, AccessKeyID: key}, Reason: strings.Repeat("set the key to Inactive ", 30)},
				plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: user}, Reason: "deny older tokens"})
		}
		steps = append(steps, plan.Step{Action: playbook.ActionBlockIP, Target: plan.Target{Kind: plan.TargetIPSet, ARN: "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/v4/1", Addresses: prefixes}, Reason: "block"})
		p.Steps = append(steps, p.Steps[4])
	})
}

// TestChatNotificationTruncates: a plan of many principals and addresses,
// with long texts, is cut to the budgets, with a marker that counts the
// steps left out by status, and stays valid JSON.
func TestChatNotificationTruncates(t *testing.T) {
	for _, tc := range []struct {
		name          string
		actors, addrs int
		failEvery     int
	}{
		{"60 principals, 5,000 addresses", 60, 5000, 0},
		{"300 principals, 100,000 addresses, every seventh step failed", 300, 100000, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := manyPrincipals(tc.actors, tc.addrs)
			failed := 0
			for i := range rec.Steps[:len(rec.Steps)-1] {
				rec.Steps[i].Status, rec.Steps[i].Detail = audit.StatusDone, strings.Repeat("→ detail ", 100)
				if tc.failEvery > 0 && i%tc.failEvery == tc.failEvery-1 {
					rec.Steps[i].Status, rec.Steps[i].Error = audit.StatusFailed, "Throttling: "+strings.Repeat("é", 1000)
					failed++
				}
			}
			rec.Finish()
			msg, err := chatNotification(rec, testUndo)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeChat(t, msg)
			d := m.Content.Description
			if !strings.Contains(d, "more steps left out (") || !strings.HasSuffix(d, "the full record is in the function's log]") {
				t.Errorf("description lacks the marker:\n%s", d)
			}
			if failed > 0 && !strings.Contains(d, " failed") {
				t.Errorf("the marker does not count the failed steps left out:\n%s", d[len(d)-300:])
			}
			if !strings.Contains(d, fmt.Sprintf("(%d in all)", tc.addrs)) || !strings.Contains(d, "… and ") {
				t.Errorf("description does not count the addresses and actors:\n%s", d)
			}
			if !strings.Contains(m.Content.Title, fmt.Sprintf("and %d more", tc.actors)) {
				t.Errorf("title %q", m.Content.Title)
			}
			t.Logf("%d bytes, description %d units", len(msg), units(d))
		})
	}
}

// TestChatCodeSpans: text from an event cannot break out of its code span,
// however it is cut.
func TestChatCodeSpans(t *testing.T) {
	rec := chatRecord([]string{audit.StatusFailed}, nil)
	rec.Steps[0].Error = "bad `input` [click](https://evil.example) " + strings.Repeat("`x", 500)
	msg, err := chatNotification(rec, "")
	if err != nil {
		t.Fatal(err)
	}
	m := decodeChat(t, msg)
	if !strings.Contains(m.Content.Description, "error: `bad 'input' [click](https://evil.example)") {
		t.Errorf("the error is not one code span:\n%s", m.Content.Description)
	}
	if got := cutUnits("ab`cdefgh", 6); got != "ab`c`…" {
		t.Errorf("cutUnits left a span open: %q", got)
	}
	if got := cutUnits("a😀b", 3); got != "a…" {
		t.Errorf("cutUnits split a character or miscounted UTF-16: %q", got)
	}
}

// FuzzNotification: whatever the record holds, both formats fit SNS's
// limit as valid UTF-8; the chat format is a valid custom notification
// within its budgets, with no whole key id in it.
func FuzzNotification(f *testing.F) {
	f.Add("alice", "AccessDenied", "6ab5e1f0c0ffee", 3, 2, uint8(0))
	f.Add("a`b", strings.Repeat("é`", 3000), "id with 'quotes'", 2000, 90, uint8(5))
	f.Add("\xff\xfe", "\x00\x01\u2028", "", 0, 0, uint8(3))
	f.Fuzz(func(t *testing.T, name, errText, id string, addrs, actors int, status uint8) {
		addrs, actors = abs(addrs)%3000, abs(actors)%100
		rec := manyPrincipals(actors, addrs)
		rec.Finding.ID, rec.Principal.UserName = id, name
		statuses := []string{audit.StatusDone, audit.StatusFailed, audit.StatusSkipped, audit.StatusReported, audit.StatusUnchanged, audit.StatusPlanned, "in-progress"}
		for i := range rec.Steps {
			rec.Steps[i].Status = statuses[(int(status)+i)%len(statuses)]
			rec.Steps[i].Error = errText + " " + aliceKey
			rec.Steps[i].Target += name
		}
		rec.Finish()
		text, err := notification(rec, testUndo)
		if err != nil {
			t.Fatal(err)
		}
		if len(text) > maxMessage || !utf8.ValidString(text) || strings.Contains(text, aliceKey) {
			t.Fatalf("text: %d bytes, valid UTF-8 %v, key shown %v", len(text), utf8.ValidString(text), strings.Contains(text, aliceKey))
		}
		msg, err := chatNotification(rec, testUndo)
		if err != nil {
			t.Fatal(err)
		}
		decodeChat(t, msg)
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// TestChatNotificationThroughSNS publishes chat notifications through SNS
// (moto) to an SQS queue subscribed as Chatbot is, without raw message
// delivery, and reads the SNS envelope back: its Message is the custom
// notification, whole and valid.
func TestChatNotificationThroughSNS(t *testing.T) {
	emu := testenv.Moto(t)
	ctx := context.Background()
	cfg := emu.Config(t)
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("autocontain-chat")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("chatbot-stand-in")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatal(err)
	}
	n := &Notifier{SNS: snsc, Format: playbook.FormatChat, Undo: testUndo}
	step := plan.Step{Action: playbook.ActionNotify, Target: plan.Target{Kind: plan.TargetTopic, ARN: aws.ToString(topic.TopicArn)}}
	big := manyPrincipals(100, 17000)
	for i := range big.Steps[:len(big.Steps)-1] {
		big.Steps[i].Status = audit.StatusDone
	}
	big.Finish()
	for _, tc := range []struct {
		name  string
		rec   audit.Record
		title string
	}{
		{"one user", chatRecord([]string{audit.StatusDone, audit.StatusDone, audit.StatusDone, audit.StatusDone}, nil), "🛡️ autocontain contained user alice"},
		{"100 principals, 17,000 addresses", big, "🛡️ autocontain contained user alice (key AKIA…E7Q2) and 100 more in 123456789012"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			if _, err := n.Execute(ctx, Request{Step: step, Record: &rec}); err != nil {
				t.Fatalf("notify: %v", err)
			}
			out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) != 1 {
				t.Fatalf("%d messages in the queue, want 1", len(out.Messages))
			}
			var envelope struct{ Type, TopicArn, Subject, Message string }
			if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &envelope); err != nil {
				t.Fatalf("the queue's message is not an SNS envelope: %v", err)
			}
			if envelope.Type != "Notification" || envelope.TopicArn != aws.ToString(topic.TopicArn) {
				t.Errorf("envelope %+v", envelope)
			}
			m := decodeChat(t, envelope.Message)
			if !strings.HasPrefix(m.Content.Title, tc.title) {
				t.Errorf("title %q, want it to begin %q", m.Content.Title, tc.title)
			}
			if len(m.Content.NextSteps) == 0 || m.Content.NextSteps[0] != "Undo: `"+testUndo+" 6ab5e1f0c0ffee`" {
				t.Errorf("next steps %q", m.Content.NextSteps)
			}
			if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTextNotificationUndo: the e-mail form shows the undo command after
// the steps when a step changed the account, and only then.
func TestTextNotificationUndo(t *testing.T) {
	done, failed := audit.StatusDone, audit.StatusFailed
	for _, tc := range []struct {
		name string
		rec  audit.Record
		undo string
		want bool
	}{
		{"contained", chatRecord([]string{done, done}, nil), testUndo, true},
		{"nothing changed", chatRecord([]string{failed, failed}, nil), testUndo, false},
		{"dry run", chatRecord(nil, func(p *plan.Plan) { p.DryRun = true }), testUndo, false},
		{"no ledger", chatRecord([]string{done, done}, nil), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := notification(tc.rec, tc.undo)
			if err != nil {
				t.Fatal(err)
			}
			line := "\nUndo: " + testUndo + " 6ab5e1f0c0ffee\n\n{"
			if got := strings.Contains(msg, line); got != tc.want {
				t.Errorf("undo line shown: %v, want %v:\n%s", got, tc.want, msg)
			}
			if !strings.HasPrefix(msg, "autocontain: ") || strings.Contains(msg, "Undo:") != tc.want {
				t.Errorf("message:\n%s", msg)
			}
		})
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"6ab5e1f0c0ffee":                       "6ab5e1f0c0ffee",
		"3f2a9d1c-1b2c-4d5e-8f90-123456789abc": "3f2a9d1c-1b2c-4d5e-8f90-123456789abc",
		"id; rm -rf /":                         "'id; rm -rf /'",
		"it's":                                 `'it'\''s'`,
		"":                                     "''",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %s, want %s", in, got, want)
		}
	}
}
