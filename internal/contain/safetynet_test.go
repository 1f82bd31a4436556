package contain

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
)

// TestSafetyNetNotification: a finding only the safety net took reaches
// the topic, and the message (read back from the emulator's SNS) says its
// type, its resource and why nothing was contained; its subject says it
// was reported, not "no-change".
func TestSafetyNetNotification(t *testing.T) {
	emu := testenv.Moto(t)
	ctx := context.Background()
	client := sns.NewFromConfig(emu.Config(t))
	topic, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("autocontain-notifications")})
	if err != nil {
		t.Fatal(err)
	}
	pb := playbook.Default()
	pb.Settings.TopicARN = aws.ToString(topic.TopicArn)
	n := &Notifier{SNS: client}
	for i, tc := range []struct {
		event string
		want  []string
	}{
		{"guardduty-ec2-torrelay.json", []string{
			// The README's example, line by line.
			"Finding: 1d3f5a7c9e0b2d4f6a8c0e2b4d6f8a0c, account 123456789012, region us-east-1, updated 2026-11-18T23:53:40Z\nResource: Instance i-07c1e5a9d3b2f6480\nPrincipal: none\nAddresses: 185.220.100.253\nRule: safety-net\n",
			"[reported] report finding: nothing contained: no playbook rule matches guardduty UnauthorizedAccess:EC2/TorRelay",
			"the safety net (rule safety-net, severity 4 or more) tells a human about resource Instance i-07c1e5a9d3b2f6480",
			`"resource": "i-07c1e5a9d3b2f6480"`,
		}},
		{"guardduty-runtime-newbinaryexecuted.json", []string{"Resource: EKSCluster prod-eks", "Execution:Runtime/NewBinaryExecuted"}},
		{"guardduty-malware-ec2-maliciousfile.json", []string{"Resource: Instance i-0b5e8d2a4c6f81937", "Execution:EC2/MaliciousFile"}},
	} {
		t.Run(tc.event, func(t *testing.T) {
			f, err := finding.Parse(testenv.Event(t, tc.event))
			if err != nil {
				t.Fatal(err)
			}
			p := plan.BuildWith(f, pb, plan.Facts{Home: account.Account{Partition: "aws", ID: "123456789012"}})
			if p.Rule != "safety-net" || len(p.Steps) != 2 || p.Steps[1].Action != playbook.ActionNotify {
				t.Fatalf("plan %s with %+v, want the safety net's report and notify", p.Rule, p.Steps)
			}
			rec := audit.New(p, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
			if _, err := n.Execute(ctx, Request{Step: p.Steps[1], Record: &rec}); err != nil {
				t.Fatalf("notify: %v", err)
			}
			msgs := emu.Published(t, aws.ToString(topic.TopicArn))
			if len(msgs) != i+1 {
				t.Fatalf("%d messages published, want %d", len(msgs), i+1)
			}
			m := msgs[i]
			if want := "autocontain reported: " + f.Type; m.Subject != want {
				t.Errorf("subject %q, want %q", m.Subject, want)
			}
			for _, w := range append(tc.want, "autocontain: reported for guardduty finding "+f.Type, "Rule: safety-net") {
				if !strings.Contains(m.Message, w) {
					t.Errorf("message lacks %q:\n%.3000s", w, m.Message)
				}
			}
		})
	}
}
