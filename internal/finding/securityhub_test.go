package finding

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/testenv"
)

// shFinding is a minimal GuardDuty finding in ASFF, as Security Hub
// carries it; change edits it before it is wrapped.
func shFinding(change func(map[string]any)) map[string]any {
	f := map[string]any{
		"SchemaVersion": "2018-10-08",
		"Id":            "arn:aws:guardduty:us-east-1:123456789012:detector/5ac6f3b1e0d24c9a8b7e6d5c4b3a2910/finding/df1db1afefc8cb0e1936524a9ad401f8",
		"ProductArn":    "arn:aws:securityhub:us-east-1::product/aws/guardduty",
		"AwsAccountId":  "123456789012",
		"Region":        "us-east-1",
		"Types":         []any{"TTPs/UnauthorizedAccess:IAMUser-MaliciousIPCaller.Custom"},
		"CreatedAt":     "2026-11-20T04:24:51.117Z",
		"UpdatedAt":     "2026-11-20T04:24:51.117Z",
		"Severity":      map[string]any{"Product": 5, "Label": "MEDIUM", "Normalized": 50},
		"Title":         "API ListUsers was invoked from an IP address on a custom threat list.",
		"ProductFields": map[string]any{
			"aws/guardduty/service/archived": "false", "aws/guardduty/service/count": "3", "aws/guardduty/service/resourceRole": "TARGET",
			"aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4": "185.220.101.42",
		},
		"Resources": []any{map[string]any{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:AKIA5EXAMPLEALICE7Q2", "Partition": "aws", "Region": "us-east-1",
			"Details": map[string]any{"AwsIamAccessKey": map[string]any{"PrincipalId": "AIDA5EXAMPLEALICE3XQ7", "PrincipalType": "IAMUser", "PrincipalName": "alice"}}}},
		"Workflow":    map[string]any{"Status": "NEW"},
		"RecordState": "ACTIVE",
		"Action": map[string]any{"ActionType": "AWS_API_CALL", "AwsApiCallAction": map[string]any{"Api": "ListUsers",
			"RemoteIpDetails": map[string]any{"IpAddressV4": "185.220.101.42"}}},
		"FindingProviderFields": map[string]any{"Severity": map[string]any{"Label": "MEDIUM"},
			"Types": []any{"TTPs/UnauthorizedAccess:IAMUser-MaliciousIPCaller.Custom"}},
		"Sample": false,
	}
	if change != nil {
		change(f)
	}
	return f
}

func shEvent(t *testing.T, findings ...map[string]any) []byte {
	t.Helper()
	list := make([]any, len(findings))
	for i, f := range findings {
		list[i] = f
	}
	return envelopeOf(t, SourceSecurityHubEvents, DetailTypeSecurityHub, map[string]any{"findings": list})
}

// path returns the map at the dotted path inside f.
func path(f map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		f = f[k].(map[string]any)
	}
	return f
}

func TestParseSecurityHubGuardDutyFinding(t *testing.T) {
	fs, err := ParseAll(shEvent(t, shFinding(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("%d findings", len(fs))
	}
	f := fs[0]
	want := Finding{Source: SourceGuardDuty, Via: ViaSecurityHub, ID: "df1db1afefc8cb0e1936524a9ad401f8",
		Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", Severity: 5, SeverityFloor: 4, Account: "123456789012", Partition: "aws",
		Accounts: []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.findings[0].AwsAccountId", Account: "123456789012"},
			{Field: "detail.findings[0].Id", Account: "123456789012", Partition: "aws"}},
		Region: "us-east-1", UpdatedAt: f.UpdatedAt, Title: "API ListUsers was invoked from an IP address on a custom threat list.", Count: 3,
		ResourceType: "AccessKey", ResourceRole: "TARGET",
		Principal: Principal{Kind: KindIAMUserKey, Type: "IAMUser", ARN: "arn:aws:iam::123456789012:user/alice", PrincipalID: "AIDA5EXAMPLEALICE3XQ7",
			AccessKeyID: "AKIA5EXAMPLEALICE7Q2", UserName: "alice", Account: "123456789012", Partition: "aws"},
		Addresses: addrs("185.220.101.42"),
	}
	if f.UpdatedAt.Format("2006-01-02T15:04:05.000Z07:00") != "2026-11-20T04:24:51.117Z" {
		t.Errorf("updatedAt %v", f.UpdatedAt)
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
	if one, err := Parse(shEvent(t, shFinding(nil))); err != nil || !reflect.DeepEqual(one, f) {
		t.Errorf("Parse of a one-finding event: %v, %+v", err, one)
	}
}

func TestParseSecurityHubFields(t *testing.T) {
	tests := []struct {
		name   string
		change func(map[string]any)
		check  func(t *testing.T, f Finding)
	}{
		{"record_state_archived", func(f map[string]any) { f["RecordState"] = "ARCHIVED" }, func(t *testing.T, f Finding) {
			if !f.Archived {
				t.Error("not archived")
			}
		}},
		// Workflow is the Security Hub user's (BatchUpdateFindings,
		// automation rules), not GuardDuty's: it decides nothing, or a
		// copy closed there would be decided otherwise than its original,
		// and the ledger, taking them for one finding, would skip the
		// original's delivery.
		{"workflow_suppressed_decides_nothing", func(f map[string]any) { f["Workflow"] = map[string]any{"Status": "SUPPRESSED"} }, func(t *testing.T, f Finding) {
			if f.Archived {
				t.Error("a finding suppressed in Security Hub is archived")
			}
		}},
		{"workflow_resolved_decides_nothing", func(f map[string]any) { f["Workflow"] = map[string]any{"Status": "RESOLVED"} }, func(t *testing.T, f Finding) {
			if f.Archived {
				t.Error("a finding resolved in Security Hub is archived")
			}
		}},
		{"workflow_notified_is_active", func(f map[string]any) { f["Workflow"] = map[string]any{"Status": "NOTIFIED"} }, func(t *testing.T, f Finding) {
			if f.Archived {
				t.Error("archived")
			}
		}},
		{"guardduty_archived_field", func(f map[string]any) { f["ProductFields"].(map[string]any)["aws/guardduty/service/archived"] = "true" }, func(t *testing.T, f Finding) {
			if !f.Archived {
				t.Error("not archived")
			}
		}},
		{"sample_field", func(f map[string]any) { f["Sample"] = true }, func(t *testing.T, f Finding) {
			if !f.Sample {
				t.Error("not a sample")
			}
		}},
		{"sample_in_additional_info", func(f map[string]any) {
			f["ProductFields"].(map[string]any)["aws/guardduty/service/additionalInfo/sample"] = "true"
		}, func(t *testing.T, f Finding) {
			if !f.Sample {
				t.Error("not a sample")
			}
		}},
		{"severity_original_over_product", func(f map[string]any) {
			f["FindingProviderFields"].(map[string]any)["Severity"] = map[string]any{"Label": "HIGH", "Original": "8"}
		}, func(t *testing.T, f Finding) {
			if f.Severity != 8 {
				t.Errorf("severity %g, want FindingProviderFields.Severity.Original's 8", f.Severity)
			}
		}},
		{"severity_normalized_ignored", func(f map[string]any) {
			f["Severity"] = map[string]any{"Product": 2, "Label": "LOW", "Normalized": 40}
			f["FindingProviderFields"].(map[string]any)["Severity"] = map[string]any{"Label": "LOW"}
		}, func(t *testing.T, f Finding) {
			if f.Severity != 2 {
				t.Errorf("severity %g, want 2 (Product), not Normalized's 40", f.Severity)
			}
		}},
		{"pentest_keeps_slash", func(f map[string]any) {
			f["FindingProviderFields"].(map[string]any)["Types"] = []any{"TTPs/PenTest:IAMUser/KaliLinux"}
		}, func(t *testing.T, f Finding) {
			if f.Type != "PenTest:IAMUser/KaliLinux" {
				t.Errorf("type %q", f.Type)
			}
		}},
		{"provider_types_win_over_changed_types", func(f map[string]any) {
			f["Types"] = []any{"TTPs/Policy:IAMUser-RootCredentialUsage"}
		}, func(t *testing.T, f Finding) {
			if f.Type != "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom" {
				t.Errorf("type %q: the top-level Types, which a Security Hub user may change, decided", f.Type)
			}
		}},
		{"ipv6_from_product_fields_and_network", func(f map[string]any) {
			delete(f, "Action")
			pf := f["ProductFields"].(map[string]any)
			delete(pf, "aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4")
			pf["aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV6"] = "2a0b:f4c2:2::1"
			f["Network"] = map[string]any{"Direction": "IN", "SourceIpV4": "198.51.100.7", "SourceIpV6": "2a0b:f4c2:2::1"}
		}, func(t *testing.T, f Finding) {
			if !reflect.DeepEqual(f.Addresses, addrs("2a0b:f4c2:2::1", "198.51.100.7")) {
				t.Errorf("addresses %v", f.Addresses)
			}
		}},
		{"outbound_network_source_is_ours", func(f map[string]any) {
			f["Network"] = map[string]any{"Direction": "OUT", "SourceIpV4": "10.1.2.3"}
		}, func(t *testing.T, f Finding) {
			if !reflect.DeepEqual(f.Addresses, addrs("185.220.101.42")) {
				t.Errorf("addresses %v: an outbound connection's source is the account's own", f.Addresses)
			}
		}},
		{"port_probes_in_order", func(f map[string]any) {
			f["Action"] = map[string]any{"ActionType": "PORT_PROBE", "PortProbeAction": map[string]any{"PortProbeDetails": []any{
				map[string]any{"RemoteIpDetails": map[string]any{"IpAddressV4": "71.6.167.142"}},
				map[string]any{"RemoteIpDetails": map[string]any{"IpAddressV4": "162.142.125.10"}}}}}
			delete(f["ProductFields"].(map[string]any), "aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4")
		}, func(t *testing.T, f Finding) {
			if !reflect.DeepEqual(f.Addresses, addrs("71.6.167.142", "162.142.125.10")) {
				t.Errorf("addresses %v", f.Addresses)
			}
		}},
		{"assumed_role_with_session_issuer", func(f map[string]any) {
			r := f["Resources"].([]any)[0].(map[string]any)
			r["Id"] = "AWS::IAM::AccessKey:ASIA5EXAMPLEWEBAPP7D"
			r["Details"] = map[string]any{"AwsIamAccessKey": map[string]any{"PrincipalId": "AROA5EXAMPLEWEBAPP3KZ:i-0a1b2c3d4e5f67890",
				"PrincipalType": "AssumedRole", "PrincipalName": "web-app-role",
				"SessionContext": map[string]any{"SessionIssuer": map[string]any{"Type": "Role", "Arn": "arn:aws:iam::123456789012:role/app/web-app-role", "UserName": "web-app-role"}}}}
		}, func(t *testing.T, f Finding) {
			p := f.Principal
			if p.Kind != KindAssumedRole || p.RoleName != "web-app-role" || p.RoleARN != "arn:aws:iam::123456789012:role/app/web-app-role" ||
				p.SessionName != "i-0a1b2c3d4e5f67890" || p.AccessKeyID != "ASIA5EXAMPLEWEBAPP7D" {
				t.Errorf("principal %+v", p)
			}
		}},
		{"instance_resource", func(f map[string]any) {
			f["Resources"] = []any{map[string]any{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:123456789012:instance/i-0f9e8d7c6b5a43210"}}
		}, func(t *testing.T, f Finding) {
			if f.ResourceType != "Instance" || f.Resource != "i-0f9e8d7c6b5a43210" || f.Principal.Kind != KindNone {
				t.Errorf("resource %q %q, principal %s", f.ResourceType, f.Resource, f.Principal.Kind)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(shEvent(t, shFinding(tt.change)))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
		})
	}
}

func TestGuardDutyTypeOf(t *testing.T) {
	for in, want := range map[string]string{
		"TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce":                                 "UnauthorizedAccess:EC2/SSHBruteForce",
		"TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
		"TTPs/Policy:IAMUser-RootCredentialUsage":                                                  "Policy:IAMUser/RootCredentialUsage",
		"Effects/Data Exposure/Policy:S3-BucketBlockPublicAccessDisabled":                          "Policy:S3/BucketBlockPublicAccessDisabled",
		"TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS":                                  "Backdoor:EC2/C&CActivity.B!DNS",
		"TTPs/PenTest:IAMUser/KaliLinux":                                                           "PenTest:IAMUser/KaliLinux",
		"Software and Configuration Checks/Vulnerabilities/CVE":                                    "",
		"TTPs/Policy:IAMUser": "",
		"TTPs/a:b/c/d":        "",
		"Unusual Behaviors/User/UnauthorizedAccess:IAMUser-ConsoleLogin":  "UnauthorizedAccess:IAMUser/ConsoleLogin",
		"TTPs/Command and Control/UnauthorizedAccess:IAMUser-TorIPCaller": "UnauthorizedAccess:IAMUser/TorIPCaller",
		"TTPs/Discovery/Recon:IAMUser-MaliciousIPCaller.Custom":           "Recon:IAMUser/MaliciousIPCaller.Custom",
		"TTPs/Command and Control/Trojan:EC2-DGADomainRequest.C!DNS":      "Trojan:EC2/DGADomainRequest.C!DNS",
		"Effects/Resource Consumption/UnauthorizedAccess:EC2-TorRelay":    "UnauthorizedAccess:EC2/TorRelay",
		"TTPs/AttackSequence:IAM-CompromisedCredentials":                  "AttackSequence:IAM/CompromisedCredentials",
		"TTPs/Execution:Runtime-NewBinaryExecuted":                        "Execution:Runtime/NewBinaryExecuted",
		"TTPs/Discovery:S3-MaliciousIPCaller":                             "Discovery:S3/MaliciousIPCaller",
		"":                                                                "",
	} {
		got, ok := guardDutyTypeOf(in)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("guardDutyTypeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseSecurityHubRejects: what cannot be read is refused with an error
// naming its JSON path, and refuses the whole event (nothing of it acted on).
func TestParseSecurityHubRejects(t *testing.T) {
	inspector := shFinding(func(f map[string]any) {
		f["ProductArn"] = "arn:aws:securityhub:us-east-1::product/aws/inspector"
	})
	tests := []struct {
		name        string
		event       []byte
		wantErr     string
		unsupported bool
	}{
		{"no_findings", envelopeOf(t, SourceSecurityHubEvents, DetailTypeSecurityHub, map[string]any{"findings": []any{}}), "detail.findings is missing or empty", false},
		{"findings_not_a_list", envelopeOf(t, SourceSecurityHubEvents, DetailTypeSecurityHub, map[string]any{"findings": "x"}), `"detail.findings"`, false},
		{"finding_not_an_object", envelopeOf(t, SourceSecurityHubEvents, DetailTypeSecurityHub, map[string]any{"findings": []any{1}}), "detail.findings[0]: is not a JSON object", false},
		{"other_product", shEvent(t, inspector), `detail.findings[0].ProductArn "arn:aws:securityhub:us-east-1::product/aws/inspector" is not GuardDuty's`, true},
		{"other_product_beside_guardduty", shEvent(t, shFinding(nil), inspector), "detail.findings[1].ProductArn", true},
		{"malformed_second_finding_refuses_the_first_too", shEvent(t, shFinding(nil), shFinding(func(f map[string]any) { f["UpdatedAt"] = "yesterday" })),
			`detail.findings[1].UpdatedAt "yesterday" is not an RFC 3339 time`, false},
		{"custom_product_arn", shEvent(t, shFinding(func(f map[string]any) {
			f["ProductArn"] = "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
		})), "is not GuardDuty's", true},
		{"id_not_a_guardduty_arn", shEvent(t, shFinding(func(f map[string]any) { f["Id"] = "df1db1afefc8cb0e1936524a9ad401f8" })), "detail.findings[0].Id", false},
		{"instance_id_not_an_instance_id", shEvent(t, shFinding(func(f map[string]any) {
			f["Resources"] = []any{map[string]any{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:123456789012:instance/i-XYZ",
				"Details": map[string]any{"AwsEc2Instance": map[string]any{}}}}
		})), `detail.findings[0].Resources[0].Id "i-XYZ" is not an EC2 instance id`, false},
		{"instance_profile_not_a_profile", shEvent(t, shFinding(func(f map[string]any) {
			f["Resources"] = []any{map[string]any{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f67890",
				"Details": map[string]any{"AwsEc2Instance": map[string]any{"IamInstanceProfileArn": "arn:aws:iam::123456789012:role/web"}}}}
		})), "detail.findings[0].Resources[0].Details.AwsEc2Instance.IamInstanceProfileArn", false},
		{"instance_tag_not_clean_text", shEvent(t, shFinding(func(f map[string]any) {
			f["Resources"] = []any{map[string]any{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f67890",
				"Tags": map[string]any{"autocontain:protected": "tr\xffue"}, "Details": map[string]any{"AwsEc2Instance": map[string]any{}}}}
		})), "detail.findings[0].Resources[0].Tags.autocontain:protected", false},
		{"no_provider_types", shEvent(t, shFinding(func(f map[string]any) { delete(f, "FindingProviderFields") })),
			"detail.findings[0].FindingProviderFields.Types is missing", false},
		{"types_without_guardduty_type", shEvent(t, shFinding(func(f map[string]any) {
			path(f, "FindingProviderFields")["Types"] = []any{"Software and Configuration Checks/Vulnerabilities/CVE"}
		})), "holds no GuardDuty finding type", false},
		{"two_guardduty_types", shEvent(t, shFinding(func(f map[string]any) {
			path(f, "FindingProviderFields")["Types"] = []any{"TTPs/Policy:IAMUser-RootCredentialUsage", "TTPs/UnauthorizedAccess:IAMUser-TorIPCaller"}
		})), "FindingProviderFields.Types[1]", false},
		{"severity_changed_in_security_hub", shEvent(t, shFinding(func(f map[string]any) { f["Severity"] = map[string]any{"Product": 8, "Label": "HIGH"} })),
			"detail.findings[0].Severity says 8 (HIGH) but GuardDuty's label detail.findings[0].FindingProviderFields.Severity.Label is MEDIUM", false},
		{"no_severity", shEvent(t, shFinding(func(f map[string]any) {
			delete(f, "Severity")
			path(f, "FindingProviderFields")["Severity"] = map[string]any{"Label": "MEDIUM"}
		})), "GuardDuty's severity is missing", false},
		{"severity_original_not_a_number", shEvent(t, shFinding(func(f map[string]any) {
			path(f, "FindingProviderFields")["Severity"] = map[string]any{"Original": "high"}
		})), `FindingProviderFields.Severity.Original "high" is not a number`, false},
		{"severity_out_of_range", shEvent(t, shFinding(func(f map[string]any) {
			path(f, "FindingProviderFields")["Severity"] = map[string]any{"Original": "40"}
		})), "outside 0–10", false},
		{"no_account", shEvent(t, shFinding(func(f map[string]any) { delete(f, "AwsAccountId") })), "detail.findings[0].AwsAccountId is missing", false},
		{"bad_count", shEvent(t, shFinding(func(f map[string]any) { path(f, "ProductFields")["aws/guardduty/service/count"] = "many" })),
			`ProductFields["aws/guardduty/service/count"] "many" is not a count`, false},
		{"bad_archived", shEvent(t, shFinding(func(f map[string]any) { path(f, "ProductFields")["aws/guardduty/service/archived"] = "yes" })),
			"is not true or false", false},
		{"product_field_not_a_string", shEvent(t, shFinding(func(f map[string]any) { path(f, "ProductFields")["aws/guardduty/service/count"] = 3 })),
			`detail.findings[0].ProductFields`, false},
		{"bad_address", shEvent(t, shFinding(func(f map[string]any) {
			path(f, "Action", "AwsApiCallAction", "RemoteIpDetails")["IpAddressV4"] = "999.1.1.1"
		})), `detail.findings[0].Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4 "999.1.1.1" is not an IP address`, false},
		{"bad_product_field_address", shEvent(t, shFinding(func(f map[string]any) {
			path(f, "ProductFields")["aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV6"] = "nope"
		})), `ProductFields["aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV6"] "nope" is not an IP address`, false},
		{"two_key_ids", shEvent(t, shFinding(func(f map[string]any) {
			path(f["Resources"].([]any)[0].(map[string]any), "Details", "AwsIamAccessKey")["AccessKeyId"] = "AKIA5EXAMPLEBOB00001"
		})), "name two keys", false},
		{"resource_of_another_partition", shEvent(t, shFinding(func(f map[string]any) { f["Resources"].([]any)[0].(map[string]any)["Partition"] = "aws-cn" })),
			`detail.findings[0].Resources[0].Partition "aws-cn"`, false},
		{"too_many_findings", shEvent(t, func() []map[string]any {
			fs := make([]map[string]any, MaxSecurityHubFindings+1)
			for i := range fs {
				fs[i] = map[string]any{}
			}
			return fs
		}()...), "more than the 100", false},
		{"spoofed_source", envelopeOf(t, "custom.securityhub", DetailTypeSecurityHub, map[string]any{"findings": []any{shFinding(nil)}}),
			`only aws.securityhub sends them`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := ParseAll(tt.event)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseAll error = %v, want one containing %q", err, tt.wantErr)
			}
			if fs != nil {
				t.Errorf("refused, yet returned %d findings", len(fs))
			}
			if errors.Is(err, ErrUnsupported) != tt.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v, want %v", !tt.unsupported, tt.unsupported)
			}
		})
	}
}

// TestParseSecurityHubRefusesAmbiguousInput: the checks of the whole event
// (invalid UTF-8, repeated and case-folded keys) hold in ASFF too.
func TestParseSecurityHubRefusesAmbiguousInput(t *testing.T) {
	valid := string(shEvent(t, shFinding(nil)))
	if _, err := Parse([]byte(valid)); err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("%q not in %s", old, valid)
		}
		return strings.Replace(valid, old, new, 1)
	}
	tests := []struct {
		name, event, wantErr string
	}{
		{"invalid_byte_in_principal", replace(`"PrincipalName":"alice"`, "\"PrincipalName\":\"ali\xffce\""), "not valid UTF-8"},
		{"lone_surrogate_in_principal", replace(`"PrincipalName":"alice"`, `"PrincipalName":"ali\ud800ce"`), "detail.findings[0].Resources[0].Details.AwsIamAccessKey.PrincipalName"},
		{"duplicate_account", replace(`"AwsAccountId":"123456789012"`, `"AwsAccountId":"123456789012","AwsAccountId":"210987654321"`), `key "AwsAccountId" appears twice in detail.findings[0]`},
		{"case_folded_types", replace(`"Types":[`, `"types":["TTPs/Policy:IAMUser-RootCredentialUsage"],"Types":[`), "differ only in case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAll([]byte(tt.event))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseAll error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestParseOneOfSeveral: Parse refuses an event of several findings rather
// than read one of them; ParseAll reads each.
func TestParseOneOfSeveral(t *testing.T) {
	raw := testenv.Event(t, "securityhub-two-findings.json")
	if _, err := Parse(raw); err == nil || !strings.Contains(err.Error(), "carries 2 findings") {
		t.Fatalf("Parse error = %v", err)
	}
	fs, err := ParseAll(raw)
	if err != nil || len(fs) != 2 {
		t.Fatalf("ParseAll: %v, %d findings", err, len(fs))
	}
	for i, name := range []string{"guardduty-maliciousipcaller-custom-akia.json", "guardduty-ipv6-caller.json"} {
		orig, err := Parse(testenv.Event(t, name))
		if err != nil {
			t.Fatal(err)
		}
		got := fs[i]
		if got.SeverityFloor != SeverityFloorOf(got.Severity) || got.SeverityFloor == 0 {
			t.Errorf("finding %d: severity %g, floor %g: the top-level Severity is people's to change, so its band's floor decides", i, got.Severity, got.SeverityFloor)
		}
		got.Via, got.Accounts, orig.Accounts, got.SeverityFloor = "", nil, nil, 0
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(orig)
		if string(a) != string(b) {
			t.Errorf("finding %d:\n%s\nthe original's:\n%s", i, a, b)
		}
	}
}

// pascal writes a GuardDuty sequence in ASFF's names: PascalCase, and a
// user account's name is Name, not account.
func pascal(v any, key string) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			name := strings.ToUpper(k[:1]) + k[1:]
			if key == "account" && k == "account" {
				name = "Name"
			}
			out[name] = pascal(x, k)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = pascal(x, key)
		}
		return out
	}
	return v
}

// TestParseSecurityHubAttackSequence: an attack sequence in ASFF
// (Detection.Sequence, the GuardDuty sequence in PascalCase) names the
// principals, actors and endpoints its GuardDuty original names.
func TestParseSecurityHubAttackSequence(t *testing.T) {
	for _, name := range []string{"guardduty-attacksequence-iam-compromisedcredentials.json", "guardduty-attacksequence-s3-compromiseddata.json",
		"guardduty-attacksequence-eks-compromisedcluster.json", "guardduty-attacksequence-ecs-compromisedcluster.json"} {
		t.Run(name, func(t *testing.T) {
			raw := testenv.Event(t, name)
			orig, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			var ev struct {
				Detail map[string]any `json:"detail"`
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			d := ev.Detail
			seq := d["service"].(map[string]any)["detection"].(map[string]any)["sequence"]
			typ := d["type"].(string)
			asffType := "TTPs/" + strings.Replace(typ, "/", "-", 1)
			f := shFinding(func(f map[string]any) {
				f["Id"], f["UpdatedAt"], f["Title"] = d["arn"], d["updatedAt"], d["title"]
				f["FindingProviderFields"] = map[string]any{"Types": []any{asffType}, "Severity": map[string]any{"Label": "CRITICAL", "Original": "9"}}
				f["Resources"] = []any{map[string]any{"Type": "Other", "Id": d["arn"]}}
				f["ProductFields"] = map[string]any{}
				delete(f, "Action")
				f["Detection"] = map[string]any{"Sequence": pascal(seq, "")}
			})
			got, err := Parse(shEvent(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != orig.Type || got.ResourceType != orig.ResourceType || got.ID != orig.ID {
				t.Errorf("type %q %q id %q, the original's %q %q %q", got.Type, got.ResourceType, got.ID, orig.Type, orig.ResourceType, orig.ID)
			}
			if !reflect.DeepEqual(got.Principals(), orig.Principals()) {
				t.Errorf("principals\n%+v\nthe original's\n%+v", got.Principals(), orig.Principals())
			}
			if !reflect.DeepEqual(got.Addresses, orig.Addresses) {
				t.Errorf("addresses %v, the original's %v", got.Addresses, orig.Addresses)
			}
		})
	}
	bad := shFinding(func(f map[string]any) {
		f["Detection"] = map[string]any{"Sequence": map[string]any{"Endpoints": []any{map[string]any{"Id": "e", "Ip": "300.1.1.1"}}}}
	})
	if _, err := Parse(shEvent(t, bad)); err == nil || !strings.Contains(err.Error(), "detail.findings[0].Detection.Sequence.endpoints[0].ip") {
		t.Errorf("error %v, want one naming the endpoint", err)
	}
}

// shInstance is shFinding about instance i-0a1b2c3d4e5f67890 with the
// given tags (Resources[].Tags, ASFF's map of tag key to value).
func shInstance(tags map[string]any) map[string]any {
	return shFinding(func(f map[string]any) {
		f["Resources"] = []any{map[string]any{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f67890",
			"Tags": tags, "Details": map[string]any{"AwsEc2Instance": map[string]any{}}}}
		f["ProductFields"].(map[string]any)["aws/guardduty/service/Archived"] = "true"
		f["UserDefinedFields"] = map[string]any{"owner": "a", "Owner": "b"}
	})
}

// TestSecurityHubCaseVariantTagsAreRead: EC2 tag keys are case sensitive,
// so an instance may be tagged both env and Env; Security Hub copies them
// as two keys of Resources[].Tags. The finding is read, with both tags
// (and keys of ProductFields and UserDefinedFields that differ only in
// case, which are data too, each read as written); a key repeated
// exactly, and keys differing in case where they are field names, are
// still refused.
func TestSecurityHubCaseVariantTagsAreRead(t *testing.T) {
	raw := shEvent(t, shInstance(map[string]any{"env": "prod", "Env": "dev", "Name": "web-1"}))
	fs, err := ParseAll(raw)
	if err != nil {
		t.Fatalf("an instance tagged env and Env is refused: %v", err)
	}
	f := fs[0]
	if f.Instance == nil {
		t.Fatal("no instance")
	}
	want := []Tag{{Key: "Env", Value: "dev"}, {Key: "Name", Value: "web-1"}, {Key: "env", Value: "prod"}}
	if !reflect.DeepEqual(f.Instance.Tags, want) {
		t.Errorf("tags %+v, want %+v", f.Instance.Tags, want)
	}
	if f.Archived {
		t.Error("ProductFields' aws/guardduty/service/Archived was read for .../archived (false)")
	}

	valid := string(raw)
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("%q not in %s", old, valid)
		}
		return strings.Replace(valid, old, new, 1)
	}
	for _, tt := range []struct{ name, event, wantErr string }{
		{"exact_duplicate_tag", replace(`"Env":"dev"`, `"Env":"dev","Env":"prod"`), `key "Env" appears twice in detail.findings[0].Resources[0].Tags`},
		{"exact_duplicate_product_field", replace(`"aws/guardduty/service/count":"3"`, `"aws/guardduty/service/count":"3","aws/guardduty/service/count":"9"`), "appears twice"},
		{"case_variant_field_name_beside_tags", replace(`"Tags":{`, `"tags":{},"Tags":{`), "differ only in case"},
		{"case_variant_inside_details", replace(`"AwsEc2Instance":{}`, `"AwsEc2Instance":{"VpcId":"vpc-1","VPCID":"vpc-2"}`), "differ only in case"},
		{"a_key_that_spells_the_path_is_no_data_map", replace(`"detail":{`, `"detail":{"findings[].Resources[].Tags":{"a":"1","A":"2"},`), "differ only in case"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseAll([]byte(tt.event)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseAll error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestSecurityHubProtectTagCaseVariants: the protect tag cannot be steered
// by a tag whose key differs from it only in case: the instance is
// protected if any of them says true.
func TestSecurityHubProtectTagCaseVariants(t *testing.T) {
	for _, tt := range []struct {
		name      string
		tags      map[string]any
		protected bool
	}{
		{"exact_true", map[string]any{"autocontain:protected": "true"}, true},
		{"exact_false_variant_true", map[string]any{"autocontain:protected": "false", "Autocontain:Protected": "true"}, true},
		{"exact_true_variant_false", map[string]any{"autocontain:protected": "true", "AUTOCONTAIN:PROTECTED": "false"}, true},
		{"variant_true_alone", map[string]any{"AutoContain:Protected": " TRUE "}, true},
		{"all_false", map[string]any{"autocontain:protected": "false", "Autocontain:Protected": "no"}, false},
		{"other_key", map[string]any{"autocontain:protect": "true"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := ParseAll(shEvent(t, shInstance(tt.tags)))
			if err != nil {
				t.Fatal(err)
			}
			if got := fs[0].Instance.Protected(); got != tt.protected {
				t.Errorf("Protected() = %v with tags %v, want %v", got, tt.tags, tt.protected)
			}
		})
	}
}
