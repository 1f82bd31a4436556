package main

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/autocontain/autocontain/internal/testenv"
)

// TestRulesDeliverExactlyWhatThePlaybookActsOn puts the synthesized
// template's event patterns into the emulator's EventBridge, sends every
// sample event, and checks that each reaches the function exactly when the
// playbook acts on it. moto does not implement TestEventPattern (it answers
// with an empty body, docs/moto-notes.md), so the check goes through
// moto's real rule matching: PutEvents, and an SQS queue as the rules' target.
//
// One case is broader than "acts", by design: GuardDuty sample findings.
// Their marker may sit inside a JSON string (additionalInfo.value), which no
// pattern can read, so they reach the function and it skips them.
// accountRef is how the template spells the stack's account.
const accountRef = `{"Ref":"AWS::AccountId"}`

func TestRulesDeliverExactlyWhatThePlaybookActsOn(t *testing.T) {
	s := defaultStack(t)
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	ctx := context.Background()
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("function")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	for id, r := range s.resources("AWS::Events::Rule") {
		pattern, ok := props(r)["EventPattern"]
		if !ok {
			continue // the schedule
		}
		raw, _ := json.Marshal(pattern)
		// The stack's account is a CloudFormation reference until deployed;
		// the emulator's account is 123456789012.
		if !strings.Contains(string(raw), accountRef) {
			t.Fatalf("rule %s does not match on the stack's account: %s", id, raw)
		}
		raw = []byte(strings.ReplaceAll(string(raw), accountRef, `"123456789012"`))
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(id), EventPattern: aws.String(string(raw))}); err != nil {
			t.Fatalf("put rule %s: %v", id, err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(id), Targets: []ebtypes.Target{{Id: aws.String("function"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
			t.Fatal(err)
		}
		rules++
	}
	if rules != 2 {
		t.Fatalf("%d rules with patterns, want 2 (GuardDuty, CloudTrail)", rules)
	}
	// The samples, a member account's finding (a GuardDuty administrator's
	// bus also receives its members' findings: it must not reach the
	// function), and a finding whose service.archived is null or missing.
	events := sampleEvents(t, DefaultConfig())
	for _, name := range slices.Sorted(maps.Keys(events)) {
		t.Run(name, func(t *testing.T) {
			raw, want := []byte(events[name].Event), events[name].Want
			var env struct {
				Source     string          `json:"source"`
				DetailType string          `json:"detail-type"`
				Detail     json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatal(err)
			}
			out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
				Source: aws.String(env.Source), DetailType: aws.String(env.DetailType), Detail: aws.String(string(env.Detail)),
			}}})
			if err != nil || out.FailedEntryCount != 0 {
				t.Fatalf("put event: %v %+v", err, out)
			}
			got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got.Messages {
				q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle})
			}
			if delivered := len(got.Messages) > 0; delivered != want {
				t.Errorf("delivered %v, want %v", delivered, want)
			}
			if len(got.Messages) > 1 {
				t.Errorf("delivered %d times: two rules match it", len(got.Messages))
			}
		})
	}
	_ = time.Second
}
