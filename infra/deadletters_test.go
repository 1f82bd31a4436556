package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestFailedDeliveriesReachAlarmedDeadLetters: an event the function
// refuses (a time that is not RFC 3339: engine
// TestBadTimestampFailsTheDelivery) makes its invocation fail; Lambda
// retries it, then the function's on-failure destination takes it. That
// destination, and every rule's dead-letter queue, must be the one queue
// the dead-letters alarm watches, the role must be able to send to it,
// and the alarm must notify the topic at the first message, so nothing
// refused is lost or silent.
func TestFailedDeliveriesReachAlarmedDeadLetters(t *testing.T) {
	s := defaultStack(t)
	var queue string
	for id := range s.resources("AWS::SQS::Queue") {
		if strings.HasPrefix(id, "DeadLetters") {
			queue = id
		}
	}
	if queue == "" {
		t.Fatal("no dead-letter queue")
	}
	arn := map[string]any{"Fn::GetAtt": []any{queue, "Arn"}}

	configs := s.resources("AWS::Lambda::EventInvokeConfig")
	if len(configs) != 1 {
		t.Fatalf("%d asynchronous invocation configs, want 1", len(configs))
	}
	for id, c := range configs {
		dest, _ := props(c)["DestinationConfig"].(map[string]any)
		onFailure, _ := dest["OnFailure"].(map[string]any)
		if !reflect.DeepEqual(onFailure["Destination"], arn) {
			t.Errorf("%s: the function's failed invocations go to %v, not the dead-letter queue %s", id, onFailure["Destination"], queue)
		}
		if n, _ := props(c)["MaximumRetryAttempts"].(float64); n < 1 {
			t.Errorf("%s: failed invocations are not retried (MaximumRetryAttempts %v)", id, props(c)["MaximumRetryAttempts"])
		}
	}
	for id, r := range s.resources("AWS::Events::Rule") {
		for _, tg := range asList(props(r)["Targets"]) {
			dl, _ := tg.(map[string]any)["DeadLetterConfig"].(map[string]any)
			if !reflect.DeepEqual(dl["Arn"], arn) {
				t.Errorf("rule %s: undeliverable events go to %v, not the dead-letter queue %s", id, dl["Arn"], queue)
			}
		}
	}

	// The role may send the failed invocation to the queue (Lambda sends
	// it as the function's role: Lambda Developer Guide, "Adding a destination").
	allow, _ := policyStatements(t, s)
	if !slices.ContainsFunc(allow, func(st map[string]any) bool {
		return slices.Contains(asList(st["Action"]), any("sqs:SendMessage")) && slices.ContainsFunc(asList(st["Resource"]), func(r any) bool { return reflect.DeepEqual(r, arn) })
	}) {
		t.Errorf("the role may not sqs:SendMessage to the dead-letter queue %s", queue)
	}

	alarmed := false
	for id, a := range s.resources("AWS::CloudWatch::Alarm") {
		p := props(a)
		if p["Namespace"] != "AWS/SQS" || p["MetricName"] != "ApproximateNumberOfMessagesVisible" {
			continue
		}
		dims := asList(p["Dimensions"])
		want := []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{queue, "QueueName"}}}}
		if !reflect.DeepEqual(dims, want) {
			continue
		}
		alarmed = true
		if p["Threshold"] != float64(1) || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || len(asList(p["AlarmActions"])) != 1 {
			t.Errorf("alarm %s on the dead-letter queue does not notify at the first message: %v", id, p)
		}
	}
	if !alarmed {
		t.Errorf("no alarm watches the dead-letter queue %s's visible messages", queue)
	}
}
