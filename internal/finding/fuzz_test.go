package finding

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/autocontain/autocontain/internal/testenv"
)

// FuzzParse checks that no input makes Parse or ParseAll panic, that they
// agree, and that what they accept is internally consistent. The seed
// corpus is every sample event, Security Hub's included.
func FuzzParse(f *testing.F) {
	for _, ev := range testenv.SampleEvents(f) {
		f.Add(ev.Raw)
	}
	f.Add([]byte(`{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"additionalInfo":{"value":"{\"value\":\"{}\"}"}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"source":"aws.cloudtrail","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventTime":"2026-11-20t11:00:00.5z","eventID":"e","errorCode":"AccessDenied","sourceIPAddress":"cloudformation.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/r/s","invokedBy":"cloudformation.amazonaws.com"}}}`))
	f.Add([]byte(`{"source":"aws.guardduty","source":"x","detail-type":"GuardDuty Finding","detail":{}}`))
	f.Add([]byte(`{"source":"aws.iam","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"iam.amazonaws.com","eventName":"X","eventTime":"2026-11-20T11:00:00Z","eventID":"e","userIdentity":{"type":"IAMUser","userName":"a\ud800","UserName":"b"}}}`))
	f.Add([]byte(`{"source":"aws.securityhub","detail-type":"Security Hub Findings - Imported","detail":{"findings":[{"Id":"arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/f","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty","AwsAccountId":"123456789012","UpdatedAt":"2026-11-20T04:24:51Z","Severity":{"Product":5},"FindingProviderFields":{"Types":["TTPs/PenTest:IAMUser/KaliLinux"],"Severity":{"Label":"MEDIUM"}},"ProductFields":{"aws/guardduty/service/action/portProbeAction/portProbeDetails/1/remoteIpDetails/ipAddressV6":"::1"},"Resources":[{"Type":"AwsIamAccessKey","Id":"AWS::IAM::AccessKey:ASIA1","Details":{"AwsIamAccessKey":{"PrincipalType":"AssumedRole","PrincipalId":"AROA:s","SessionContext":{"SessionIssuer":{"Arn":"arn:aws:iam::123456789012:role/r"}}}}}],"Network":{"SourceIpV4":"1.2.3.4"}},{}]}}`))
	f.Add([]byte(`{"source":"aws.securityhub","detail-type":"Security Hub Findings - Imported","detail":{"findings":[{"Id":"arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/f","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty","AwsAccountId":"123456789012","UpdatedAt":"2026-11-20T04:24:51Z","FindingProviderFields":{"Types":["TTPs/AttackSequence:IAM-CompromisedCredentials"],"Severity":{"Original":"9"}},"Resources":[{"Type":"Other","Id":"x"}],"Detection":{"Sequence":{"Actors":[{"Id":"a","User":{"Name":"alice","Uid":"AIDA","Type":"IAMUser","CredentialUid":"AKIA1","Account":{"Uid":"123456789012"}}},{"Id":"b","User":{"Type":"AssumedRole","CredentialUid":"ASIA2"},"Session":{"Issuer":"arn:aws:iam::123456789012:role/r"}}],"Endpoints":[{"Id":"e","Ip":"2001:db8::1"}]}}}]}}`))
	f.Add([]byte(`{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"x","type":"Backdoor:EC2/C&CActivity.B","severity":8,"updatedAt":"2026-11-20T11:00:00Z","resource":{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0abcdef1234567890","launchTime":1497058274000,"iamInstanceProfile":{"arn":"arn:aws:iam::123456789012:instance-profile/p","id":"AIPA"},"networkInterfaces":[{"networkInterfaceId":"eni-1","securityGroups":[{"groupId":"sg-1"}]}],"tags":[{"key":"autocontain:protected","value":"true"}]}},"service":{"resourceRole":"ACTOR"}}}`))
	// Keys differing only in case where they are data (tags, product fields).
	f.Add([]byte(`{"source":"aws.securityhub","detail-type":"Security Hub Findings - Imported","detail":{"findings":[{"Id":"arn:aws:guardduty:us-east-1:123456789012:detector/d/finding/f","ProductArn":"arn:aws:securityhub:us-east-1::product/aws/guardduty","AwsAccountId":"123456789012","UpdatedAt":"2026-11-20T04:24:51Z","Severity":{"Product":8},"FindingProviderFields":{"Types":["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B"],"Severity":{"Label":"HIGH"}},"ProductFields":{"aws/guardduty/service/archived":"false","aws/guardduty/service/Archived":"true"},"UserDefinedFields":{"a":"1","A":"2"},"Resources":[{"Type":"AwsEc2Instance","Id":"arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f67890","Tags":{"env":"a","Env":"b","autocontain:protected":"false","Autocontain:Protected":"true"},"Details":{"AwsEc2Instance":{"VpcId":"vpc-1"},"Other":{"k":"1","K":"2"}}}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		all, err := ParseAll(data)
		one, oneErr := Parse(data)
		switch {
		case (err == nil) != (oneErr == nil) && len(all) <= 1:
			t.Fatalf("Parse and ParseAll disagree: %v, %v", oneErr, err)
		case err == nil && len(all) == 0:
			t.Fatal("ParseAll accepted an event of no finding")
		case oneErr == nil && !reflect.DeepEqual(one, all[0]):
			t.Fatalf("Parse and ParseAll read the finding differently:\n%+v\n%+v", one, all[0])
		}
		for _, got := range all {
			checkFuzzed(t, got)
		}
	})
}

// checkFuzzed checks that a finding the parser accepted is internally
// consistent.
func checkFuzzed(t *testing.T, got Finding) {
	t.Helper()
	if got.ID == "" || got.Type == "" {
		t.Fatalf("accepted a finding without id or type: %+v", got)
	}
	if got.Source != SourceGuardDuty && got.Source != SourceCloudTrail {
		t.Fatalf("accepted source %q", got.Source)
	}
	if got.Severity < 0 || got.Severity > 10 {
		t.Fatalf("accepted severity %g", got.Severity)
	}
	seen := map[string]bool{}
	for _, a := range got.Addresses {
		if !a.IsValid() || a.Is4In6() || seen[a.String()] {
			t.Fatalf("bad or duplicate address %v in %v", a, got.Addresses)
		}
		seen[a.String()] = true
	}
	if got.Principal.Kind == "" {
		t.Fatal("principal has no kind")
	}
	ids := map[string]bool{}
	for _, pr := range got.Principals() {
		if pr.Kind == "" || (pr.Kind == KindNone && len(got.Actors) > 0) {
			t.Fatalf("principal %+v has no kind among actors %+v", pr, got.Actors)
		}
		if ids[pr.identity()] {
			t.Fatalf("principal %+v named twice", pr)
		}
		ids[pr.identity()] = true
		if pr.Impact != (Impact{}) {
			t.Fatalf("the parser set the impact %s: only the engine reads it, from IAM", pr.Impact)
		}
		for _, s := range []string{pr.UserName, pr.RoleName, pr.ARN, pr.RoleARN, pr.AccessKeyID, pr.PrincipalID, pr.Account, got.Account} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("accepted an identity field %q that is not clean UTF-8", s)
			}
		}
	}
	if got.ErrorCode != "" && !got.Failed {
		t.Fatalf("a call with errorCode %q is not marked failed", got.ErrorCode)
	}
	if got.Source == SourceGuardDuty && (got.Failed || got.ViaService != "") {
		t.Fatalf("a GuardDuty finding has a CloudTrail call's outcome or service: %+v", got)
	}
	if got.Source == SourceCloudTrail && EventBridgeSource(got.EventSource) == "" {
		t.Fatalf("accepted a CloudTrail record from event source %q", got.EventSource)
	}
	if in := got.Instance; in != nil {
		if got.ResourceType != ResourceInstance || !IsInstanceID(in.ID) || (in.ProfileARN != "" && !IsInstanceProfileARN(in.ProfileARN)) {
			t.Fatalf("accepted instance %+v of a %q finding", in, got.ResourceType)
		}
		texts := []string{in.ID, in.ProfileARN, in.ProfileID}
		for _, n := range in.Interfaces {
			texts = append(texts, n.ID, n.VPC, n.Subnet)
			for _, g := range n.SecurityGroups {
				texts = append(texts, g.ID, g.Name)
			}
		}
		for _, tg := range in.Tags {
			texts = append(texts, tg.Key, tg.Value)
		}
		for _, s := range texts {
			if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("accepted an instance field %q that is not clean UTF-8", s)
			}
		}
	}
	if got.Via != "" && (got.Via != ViaSecurityHub || got.Source != SourceGuardDuty) {
		t.Fatalf("accepted a %s finding via %q", got.Source, got.Via)
	}
}
