package contain

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Publisher is the part of the SNS API that notify needs.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ Publisher = (*sns.Client)(nil)

// SNS limits: a subject is at most 100 printable ASCII characters; a message
// at most 256 KB (SNS API Reference, Publish).
const (
	maxSubject = 100
	maxMessage = 256 * 1024
)

// Notifier publishes the decision and the outcome of the steps before it:
// readable text first, the audit record as JSON after.
type Notifier struct{ SNS Publisher }

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
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return Outcome{}, fmt.Errorf("notify: encode record: %w", err)
	}
	msg := rec.Text() + "\n" + string(js) + "\n"
	if len(msg) > maxMessage {
		msg = rec.Text()
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
