package contain

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Publisher is the part of the SNS API that notify needs.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ Publisher = (*sns.Client)(nil)

// SNS limits: a subject is at most 100 printable ASCII characters; a
// message "must be UTF-8 encoded strings and at most 256 KB in size
// (262,144 bytes, not 262,144 characters)" (SNS API Reference, Publish).
// A larger message is refused (InvalidParameter: Message too long) and
// nobody is told anything.
const (
	maxSubject = 100
	maxMessage = 262144
)

// What a notification that would not fit keeps of the record; the logged
// record is always the whole one.
const (
	listedAddresses = 25   // of the finding's addresses
	maxField        = 2048 // bytes of a step's target, reason, detail or error, and of the record's error
)

// Notifier publishes the decision and the outcome of the steps before it,
// in the playbook's notification format: readable text first and the
// audit record as JSON after (playbook.FormatText, for e-mail), or a
// custom notification of Amazon Q Developer in chat applications
// (playbook.FormatChat, notifychat.go).
type Notifier struct {
	SNS Publisher
	// Format is settings.notificationFormat; empty is FormatText.
	Format string
	// Undo is the command line that undoes a finding's containment, but
	// for the finding's id ("autocontain undo -function NAME"); the
	// notification of a finding whose steps changed something shows it.
	// Empty when there is no ledger to undo from.
	Undo string
}

// Name implements Action.
func (*Notifier) Name() string { return playbook.ActionNotify }

// Permissions implements Action.
func (*Notifier) Permissions() []string { return []string{"sns:Publish"} }

// Execute implements Action.
func (a *Notifier) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	if t.Kind != plan.TargetTopic || t.ARN == "" {
		return Outcome{}, fmt.Errorf("notify needs a topic, got %s", t)
	}
	if req.Record == nil {
		return Outcome{}, fmt.Errorf("notify: no record to publish")
	}
	rec := *req.Record
	rec.Finish()
	var (
		msg string
		err error
	)
	switch a.Format {
	case "", playbook.FormatText:
		msg, err = notification(rec, a.Undo)
	case playbook.FormatChat:
		msg, err = chatNotification(rec, a.Undo)
	default:
		err = fmt.Errorf("notify: unknown notification format %q (want %s or %s)", a.Format, playbook.FormatText, playbook.FormatChat)
	}
	if err != nil {
		return Outcome{}, err
	}
	subject := asciiSubject(fmt.Sprintf("autocontain %s: %s", rec.Outcome, rec.Finding.Type))
	out, err := a.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(t.ARN), Subject: aws.String(subject), Message: aws.String(msg)})
	if err != nil {
		return Outcome{}, fmt.Errorf("notify: publish to %s: %w", t.ARN, err)
	}
	return Outcome{Changed: true, Detail: "message " + aws.ToString(out.MessageId)}, nil
}

// asciiSubject keeps what SNS accepts in a subject: printable ASCII, no
// line breaks, at most 100 characters.
func asciiSubject(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
		if b.Len() == maxSubject {
			break
		}
	}
	return b.String()
}

// notification renders rec for a person: its text, the undo command (undo,
// when the steps changed something), then the record as JSON.
// It always fits SNS's limit: a record too large for it (a finding with
// thousands of addresses, a long error) is summarized (the first addresses
// and their count, long texts cut with the count of what was left out),
// and, should even that not fit, cut at the limit. The message says so.
func notification(rec audit.Record, undo string) (string, error) {
	if cmd := undoLine(rec, undo); cmd != "" {
		undo = "Undo: " + cmd + "\n"
	} else {
		undo = ""
	}
	msg, err := render(rec, "", undo)
	if err != nil || len(msg) <= maxMessage {
		return msg, err
	}
	msg, err = render(summarize(rec.Masked()), "This notification is a summary: the record was too large for SNS. The full record is in the function's log.\n\n", undo)
	if err != nil || len(msg) <= maxMessage {
		return msg, err
	}
	const cut = "\n[cut at SNS's 256 KB limit; the full record is in the function's log]\n"
	return truncateUTF8(msg, maxMessage-len(cut)) + cut, nil
}

func render(rec audit.Record, note, undo string) (string, error) {
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("notify: encode record: %w", err)
	}
	// SNS takes only UTF-8 (maxMessage); a text of the record with bytes
	// that are not (JSON's encoding replaces them already) would be refused.
	return strings.ToValidUTF8(note+rec.Text()+undo, "\uFFFD") + "\n" + string(js) + "\n", nil
}

// undoLine is the command line that undoes what rec's steps changed: undo
// and the finding's id, quoted for a POSIX shell when it needs to be; ""
// when no step changed anything (a report, a dry run) or there is no undo.
func undoLine(rec audit.Record, undo string) string {
	if undo == "" || rec.Finding.ID == "" {
		return ""
	}
	for _, s := range rec.Steps {
		if s.Status == audit.StatusDone && playbook.CategoryOf(s.Action) != playbook.OnTopic {
			return undo + " " + shellWord(finding.MaskKeys(rec.Finding.ID))
		}
	}
	return ""
}

// shellWord is s as one word of a POSIX shell command line: as it is when
// it holds only characters no shell treats specially (GuardDuty's hex ids,
// CloudTrail's UUIDs), else in single quotes.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// summarize returns a copy of rec with its long lists and texts shortened,
// each saying how much was left out.
func summarize(rec audit.Record) audit.Record {
	if n := len(rec.Finding.Addresses); n > listedAddresses {
		rec.Finding.Addresses = rec.Finding.Addresses[:listedAddresses:listedAddresses]
		rec.Finding.AddressesOmitted = n - listedAddresses
	}
	rec.Error = shorten(rec.Error)
	steps := make([]audit.Step, len(rec.Steps))
	for i, s := range rec.Steps {
		s.Target, s.Reason, s.Detail, s.Error = shorten(s.Target), shorten(s.Reason), shorten(s.Detail), shorten(s.Error)
		steps[i] = s
	}
	rec.Steps = steps
	return rec
}

// shorten keeps the head and the tail of a text longer than maxField bytes,
// with the count of the words (addresses, in a block-ip target) and bytes
// left out between them.
func shorten(s string) string {
	if len(s) <= maxField {
		return s
	}
	const tailBytes = 256
	head := truncateUTF8(s, maxField-tailBytes)
	if i := strings.LastIndexByte(head, ' '); i > len(head)/2 {
		head = head[:i]
	}
	tail := s[len(s)-tailBytes:]
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	if i := strings.IndexByte(tail, ' '); i >= 0 && i < len(tail)/2 {
		tail = tail[i+1:]
	}
	mid := s[len(head) : len(s)-len(tail)]
	return fmt.Sprintf("%s … [%d more words, %d bytes, left out; the full record is in the log] … %s", head, len(strings.Fields(mid)), len(mid), tail)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
