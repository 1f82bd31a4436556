package finding

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// instanceResource is an Instance finding's resource with the given
// instanceDetails.
func instanceResource(details any) map[string]any {
	return map[string]any{"resourceType": "Instance", "instanceDetails": details}
}

func fullInstance() map[string]any {
	return map[string]any{
		"instanceId": "i-0c4e6a8b2d1f39570", "instanceState": "running", "launchTime": 1497058274000,
		"iamInstanceProfile": map[string]any{"arn": "arn:aws:iam::123456789012:instance-profile/web/app-profile", "id": "AIPA5EXAMPLEWEBAPP2QZ"},
		"networkInterfaces": []any{map[string]any{
			"networkInterfaceId": "eni-0b1c2d3e4f5a6b7c8", "vpcId": "vpc-0c3f8e2a7b91d4e56", "subnetId": "subnet-0e3b5d7f9a1c2e468",
			"privateIpAddress": "10.0.1.25", "publicIp": "44.201.87.13", "ipv6Addresses": []any{},
			"securityGroups": []any{map[string]any{"groupId": "sg-06e1a3c5d7f9b2e48", "groupName": "web"}},
		}},
		"tags": []any{map[string]any{"key": "Name", "value": "web-1"}, map[string]any{"key": "aws:autoscaling:groupName", "value": "web-asg"}},
	}
}

// TestParseInstance: an Instance finding's instanceDetails become
// Finding.Instance (a numeric launchTime, as old findings have, is not
// read and never fails), its profile's account is one the event names,
// and what is not an instance id or an instance profile ARN is refused
// with the JSON path; other findings' (dummy) instance details are not read.
func TestParseInstance(t *testing.T) {
	t.Run("full", func(t *testing.T) {
		f, err := Parse(gdEvent(t, gdDetail("CryptoCurrency:EC2/BitcoinTool.B!DNS", instanceResource(fullInstance()), nil)))
		if err != nil {
			t.Fatal(err)
		}
		want := &Instance{
			ID: "i-0c4e6a8b2d1f39570", State: "running",
			ProfileARN: "arn:aws:iam::123456789012:instance-profile/web/app-profile", ProfileID: "AIPA5EXAMPLEWEBAPP2QZ",
			Interfaces: []Interface{{ID: "eni-0b1c2d3e4f5a6b7c8", VPC: "vpc-0c3f8e2a7b91d4e56", Subnet: "subnet-0e3b5d7f9a1c2e468",
				PrivateIP: "10.0.1.25", PublicIP: "44.201.87.13", IPv6: []string{},
				SecurityGroups: []SecurityGroup{{ID: "sg-06e1a3c5d7f9b2e48", Name: "web"}}}},
			Tags: []Tag{{"Name", "web-1"}, {"aws:autoscaling:groupName", "web-asg"}},
		}
		if !reflect.DeepEqual(f.Instance, want) {
			t.Errorf("instance\n got %+v\nwant %+v", f.Instance, want)
		}
		if g := f.Instance.AutoScalingGroup(); g != "web-asg" {
			t.Errorf("Auto Scaling group %q", g)
		}
		if f.Instance.Protected() {
			t.Error("protected without the tag")
		}
		if n := f.Instance.ProfileName(); n != "app-profile" {
			t.Errorf("profile name %q", n)
		}
		last := f.Accounts[len(f.Accounts)-1]
		if last != (AccountRef{Field: "detail.resource.instanceDetails.iamInstanceProfile.arn", Account: "123456789012", Partition: "aws"}) {
			t.Errorf("the profile's account is not listed: %+v", f.Accounts)
		}
	})

	ok := []struct {
		name    string
		details any
		want    *Instance
	}{
		{"terminated_no_details", nil, nil},
		{"no_instance_id", map[string]any{"instanceState": "terminated"}, nil},
		{"no_profile", map[string]any{"instanceId": "i-0abcdef12", "iamInstanceProfile": nil, "tags": nil}, &Instance{ID: "i-0abcdef12"}},
		{"protect_tag", map[string]any{"instanceId": "i-12345678", "tags": []any{map[string]any{"key": "autocontain:protected", "value": " TRUE "}}},
			&Instance{ID: "i-12345678", Tags: []Tag{{"autocontain:protected", " TRUE "}}}},
		// GuardDuty's tags are a list, which may repeat a key: no copy of
		// the protect tag that says false hides one that says true.
		{"protect_tag_repeated", map[string]any{"instanceId": "i-12345678", "tags": []any{map[string]any{"key": "autocontain:protected", "value": "false"},
			map[string]any{"key": "autocontain:protected", "value": "true"}}},
			&Instance{ID: "i-12345678", Tags: []Tag{{"autocontain:protected", "false"}, {"autocontain:protected", "true"}}}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(gdEvent(t, gdDetail("Backdoor:EC2/C&CActivity.B", instanceResource(tt.details), nil)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Instance, tt.want) {
				t.Errorf("got %+v, want %+v", f.Instance, tt.want)
			}
			if strings.HasPrefix(tt.name, "protect_tag") && !f.Instance.Protected() {
				t.Error("the protect tag is not seen")
			}
		})
	}

	bad := []struct {
		name    string
		details any
		want    string
	}{
		{"upper_case_id", map[string]any{"instanceId": "i-0ABCDEF12"}, `detail.resource.instanceDetails.instanceId "i-0ABCDEF12" is not an EC2 instance id`},
		{"short_id", map[string]any{"instanceId": "i-1234567"}, "instanceId \"i-1234567\" is not"},
		{"long_id", map[string]any{"instanceId": "i-0123456789abcdef01"}, "is not an EC2 instance id"},
		{"not_an_instance", map[string]any{"instanceId": "vol-0123456789abcdef0"}, "is not an EC2 instance id"},
		{"role_arn_as_profile", map[string]any{"instanceId": "i-12345678", "iamInstanceProfile": map[string]any{"arn": "arn:aws:iam::123456789012:role/web"}},
			`detail.resource.instanceDetails.iamInstanceProfile.arn "arn:aws:iam::123456789012:role/web" is not an instance profile's ARN`},
		{"profile_without_account", map[string]any{"instanceId": "i-12345678", "iamInstanceProfile": map[string]any{"arn": "arn:aws:iam:::instance-profile/web"}},
			"is not an instance profile's ARN"},
		{"lone_surrogate_in_tag", map[string]any{"instanceId": "i-12345678", "tags": []any{map[string]any{"key": "autocontain:protected", "value": "trSURROGATEue"}}},
			"detail.resource.instanceDetails.tags[0].value"},
		{"wrong_type", map[string]any{"instanceId": "i-12345678", "tags": "Name=web"}, `"detail.resource.instanceDetails.tags" is a JSON string, want an array`},
		{"not_an_object", "i-12345678", "detail.resource.instanceDetails is not an object"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			raw := gdEvent(t, gdDetail("Backdoor:EC2/C&CActivity.B", instanceResource(tt.details), nil))
			_, err := Parse(bytes.ReplaceAll(raw, []byte("SURROGATE"), []byte(`\ud800`)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}

	t.Run("other_resource_types_ignore_instance_details", func(t *testing.T) {
		r := accessKey("AKIA5EXAMPLEALICE7Q2", "AIDA5EXAMPLEALICE3XQ7", "alice", "IAMUser")
		r["instanceDetails"] = map[string]any{"instanceId": "GeneratedFindingInstanceId", "tags": "x"}
		f, err := Parse(gdEvent(t, gdDetail("UnauthorizedAccess:IAMUser/MaliciousIPCaller", r, nil)))
		if err != nil || f.Instance != nil {
			t.Errorf("got %+v, %v; want no instance and no error", f.Instance, err)
		}
	})

	t.Run("sample_placeholders_are_not_an_error", func(t *testing.T) {
		details := map[string]any{"instanceId": "i-99999999",
			"iamInstanceProfile": map[string]any{"arn": "arn:aws:iam::123456789012:example/instance/profile", "id": "GeneratedFindingInstanceProfileId"}}
		service := map[string]any{"additionalInfo": map[string]any{"sample": true}}
		f, err := Parse(gdEvent(t, gdDetail("Backdoor:EC2/C&CActivity.B", instanceResource(details), service)))
		if err != nil || f.Instance != nil || !f.Sample {
			t.Errorf("got %+v, sample %v, %v; want a sample with no instance and no error", f.Instance, f.Sample, err)
		}
	})
}
