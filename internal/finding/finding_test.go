package finding

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// gdEvent wraps a GuardDuty finding detail in an EventBridge envelope.
func gdEvent(t *testing.T, detail map[string]any) []byte {
	t.Helper()
	return envelopeOf(t, "aws.guardduty", DetailTypeGuardDuty, detail)
}

func ctEvent(t *testing.T, detailType string, detail map[string]any) []byte {
	t.Helper()
	return envelopeOf(t, "aws.cloudtrail", detailType, detail)
}

func envelopeOf(t *testing.T, source, detailType string, detail map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detailType,
		"source": source, "account": "123456789012", "time": "2026-11-20T10:00:00Z",
		"region": "us-east-1", "resources": []string{}, "detail": detail,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gdDetail returns a minimal valid finding with the given resource and action.
func gdDetail(typ string, resource, service map[string]any) map[string]any {
	if service == nil {
		service = map[string]any{}
	}
	return map[string]any{
		"schemaVersion": "2.0", "accountId": "123456789012", "region": "us-east-1",
		"id": "8ec4112177d98dd3e09397321135caea", "type": typ, "severity": 5,
		"createdAt": "2026-11-20T09:00:00.123Z", "updatedAt": "2026-11-20T09:30:00.456Z",
		"resource": resource, "service": service,
	}
}

func accessKey(id, principal, user, userType string) map[string]any {
	return map[string]any{"resourceType": "AccessKey", "accessKeyDetails": map[string]any{
		"accessKeyId": id, "principalId": principal, "userName": user, "userType": userType,
	}}
}

func apiCall(v4, v6 string) map[string]any {
	r := map[string]any{}
	if v4 != "" {
		r["ipAddressV4"] = v4
	}
	if v6 != "" {
		r["ipAddressV6"] = v6
	}
	return map[string]any{"resourceRole": "TARGET", "action": map[string]any{
		"actionType": "AWS_API_CALL", "awsApiCallAction": map[string]any{"api": "ListBuckets", "remoteIpDetails": r},
	}}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseGuardDutyPrincipals(t *testing.T) {
	tests := []struct {
		name     string
		resource map[string]any
		want     Principal
	}{
		{
			name:     "iam_user_with_long_term_key",
			resource: accessKey("AKIA3EXAMPLEALICE001", "AIDAEXAMPLEALICE0001", "alice", "IAMUser"),
			want: Principal{Kind: KindIAMUserKey, Type: "IAMUser", AccessKeyID: "AKIA3EXAMPLEALICE001", PrincipalID: "AIDAEXAMPLEALICE0001",
				UserName: "alice", ARN: "arn:aws:iam::123456789012:user/alice"},
		},
		{
			name:     "iam_user_with_session_token",
			resource: accessKey("ASIA3EXAMPLEBOB00001", "AIDAEXAMPLEBOB000001", "bob", "IAMUser"),
			want: Principal{Kind: KindIAMUserSession, Type: "IAMUser", AccessKeyID: "ASIA3EXAMPLEBOB00001", PrincipalID: "AIDAEXAMPLEBOB000001",
				UserName: "bob", ARN: "arn:aws:iam::123456789012:user/bob"},
		},
		{
			name:     "assumed_role_session",
			resource: accessKey("ASIA3EXAMPLEWEBAPP01", "AROAEXAMPLEWEBAPP001:i-0a1b2c3d4e5f67890", "web-app-role", "AssumedRole"),
			want: Principal{Kind: KindAssumedRole, Type: "AssumedRole", AccessKeyID: "ASIA3EXAMPLEWEBAPP01",
				PrincipalID: "AROAEXAMPLEWEBAPP001:i-0a1b2c3d4e5f67890", RoleName: "web-app-role", SessionName: "i-0a1b2c3d4e5f67890"},
		},
		{
			name:     "root",
			resource: accessKey("ASIA5X5CZLUQGWWD3ZGU", "123456789012", "Root", "Root"),
			want: Principal{Kind: KindRoot, Type: "Root", AccessKeyID: "ASIA5X5CZLUQGWWD3ZGU", PrincipalID: "123456789012",
				ARN: "arn:aws:iam::123456789012:root"},
		},
		{
			name:     "federated_user_has_no_known_issuer",
			resource: accessKey("ASIA3EXAMPLEFED00001", "123456789012:contractor", "contractor", "FederatedUser"),
			want:     Principal{Kind: KindFederated, Type: "FederatedUser", AccessKeyID: "ASIA3EXAMPLEFED00001", PrincipalID: "123456789012:contractor"},
		},
		{
			name:     "sample_placeholder_key_is_unknown",
			resource: accessKey("GeneratedFindingAccessKeyId", "GeneratedFindingPrincipalId", "GeneratedFindingUserName", "IAMUser"),
			want: Principal{Kind: KindUnknown, Type: "IAMUser", AccessKeyID: "GeneratedFindingAccessKeyId", PrincipalID: "GeneratedFindingPrincipalId",
				UserName: "GeneratedFindingUserName", ARN: "arn:aws:iam::123456789012:user/GeneratedFindingUserName"},
		},
		{
			name:     "assumed_role_with_long_term_key_is_unknown",
			resource: accessKey("AKIA3EXAMPLEODD00001", "AROAEXAMPLE:x", "odd", "AssumedRole"),
			want: Principal{Kind: KindUnknown, Type: "AssumedRole", AccessKeyID: "AKIA3EXAMPLEODD00001", PrincipalID: "AROAEXAMPLE:x",
				RoleName: "odd", SessionName: "x"},
		},
		{
			name:     "generated_user_type_is_unknown",
			resource: accessKey("GeneratedFindingAccessKeyId", "p", "u", "GeneratedFindingUserType"),
			want:     Principal{Kind: KindUnknown, Type: "GeneratedFindingUserType", AccessKeyID: "GeneratedFindingAccessKeyId", PrincipalID: "p"},
		},
		{
			name:     "instance_finding_has_no_principal",
			resource: map[string]any{"resourceType": "Instance", "instanceDetails": map[string]any{"instanceId": "i-0123456789abcdef0", "launchTime": 1497058274000}},
			want:     Principal{Kind: KindNone},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(gdEvent(t, gdDetail("UnauthorizedAccess:IAMUser/MaliciousIPCaller", tt.resource, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.Kind != KindNone {
				// The key is a resource of the finding's account and partition.
				tt.want.Account, tt.want.Partition = "123456789012", "aws"
			}
			if !reflect.DeepEqual(f.Principal, tt.want) {
				t.Errorf("principal\n got %+v\nwant %+v", f.Principal, tt.want)
			}
		})
	}
}

func TestParseGuardDutyFields(t *testing.T) {
	d := gdDetail("Recon:IAMUser/MaliciousIPCaller", accessKey("AKIA3EXAMPLEALICE001", "AIDA1", "alice", "IAMUser"), apiCall("185.220.101.42", ""))
	d["severity"] = 7.5
	d["title"] = "API ListBuckets was invoked from a known malicious IP address."
	svc := d["service"].(map[string]any)
	svc["count"] = 12
	svc["archived"] = true
	f, err := Parse(gdEvent(t, d))
	if err != nil {
		t.Fatal(err)
	}
	want := Finding{
		Source: SourceGuardDuty, ID: "8ec4112177d98dd3e09397321135caea", Type: "Recon:IAMUser/MaliciousIPCaller",
		Severity: 7.5, Account: "123456789012", Partition: "aws", Region: "us-east-1",
		Accounts:  []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.accountId", Account: "123456789012"}},
		UpdatedAt: time.Date(2026, 11, 20, 9, 30, 0, 456e6, time.UTC),
		Title:     "API ListBuckets was invoked from a known malicious IP address.",
		Count:     12, Archived: true, ResourceType: "AccessKey", ResourceRole: "TARGET",
		Principal: f.Principal, Addresses: addrs("185.220.101.42"),
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("finding\n got %+v\nwant %+v", f, want)
	}
}

func TestParseGuardDutyAddresses(t *testing.T) {
	remote := func(v4, v6 string) map[string]any {
		r := map[string]any{"organization": map[string]any{"asn": 17877}}
		if v4 != "" {
			r["ipAddressV4"] = v4
		}
		if v6 != "" {
			r["ipAddressV6"] = v6
		}
		return r
	}
	tests := []struct {
		name   string
		action map[string]any
		want   []netip.Addr
	}{
		{"api_call_v4_and_v6", map[string]any{"awsApiCallAction": map[string]any{"remoteIpDetails": remote("185.220.101.42", "2a0b:f4c2:2::1")}},
			addrs("185.220.101.42", "2a0b:f4c2:2::1")},
		{"api_call_v6_only", map[string]any{"awsApiCallAction": map[string]any{"remoteIpDetails": remote("", "2604:a880:400:d0::2a1:e001")}},
			addrs("2604:a880:400:d0::2a1:e001")},
		{"network_connection", map[string]any{"networkConnectionAction": map[string]any{"connectionDirection": "INBOUND", "remoteIpDetails": remote("45.155.205.233", "")}},
			addrs("45.155.205.233")},
		{"port_probes_deduplicated_in_order", map[string]any{"portProbeAction": map[string]any{"portProbeDetails": []any{
			map[string]any{"remoteIpDetails": remote("221.132.75.236", "")},
			map[string]any{"remoteIpDetails": remote("71.6.167.142", "")},
			map[string]any{"remoteIpDetails": remote("221.132.75.236", "")},
			map[string]any{"localPortDetails": map[string]any{"port": 22}},
			map[string]any{"remoteIpDetails": remote("10.20.30.40", "")},
		}}}, addrs("221.132.75.236", "71.6.167.142", "10.20.30.40")},
		{"kubernetes_remote_and_source_ips", map[string]any{"kubernetesApiCallAction": map[string]any{
			"remoteIpDetails": remote("91.240.118.172", ""), "sourceIPs": []string{"10.0.0.23", "91.240.118.172"}}},
			addrs("91.240.118.172", "10.0.0.23")},
		{"rds_login_attempt", map[string]any{"rdsLoginAttemptAction": map[string]any{"remoteIpDetails": remote("80.82.77.139", "")}},
			addrs("80.82.77.139")},
		{"ipv4_mapped_ipv6_is_ipv4", map[string]any{"awsApiCallAction": map[string]any{"remoteIpDetails": remote("", "::ffff:80.82.77.139")}},
			addrs("80.82.77.139")},
		{"dns_request_has_none", map[string]any{"dnsRequestAction": map[string]any{"domain": "example.com"}}, nil},
		{"empty_runtime_action", map[string]any{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := gdDetail("Recon:EC2/PortProbeUnprotectedPort", map[string]any{"resourceType": "Instance"},
				map[string]any{"action": tt.action})
			f, err := Parse(gdEvent(t, d))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Addresses, tt.want) {
				t.Errorf("addresses = %v, want %v", f.Addresses, tt.want)
			}
		})
	}
}

func TestParseGuardDutySample(t *testing.T) {
	tests := []struct {
		name string
		info any
		want bool
	}{
		{"flag", map[string]any{"sample": true}, true},
		{"flag_as_string", map[string]any{"sample": "true"}, true},
		{"inside_value_string", map[string]any{"value": `{"sample":true}`, "type": "default"}, true},
		{"real_finding_value", map[string]any{"value": "{}", "type": "default"}, false},
		{"false_flag", map[string]any{"sample": false}, false},
		{"absent", nil, false},
		{"not_an_object", "sample", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := gdDetail("Recon:IAMUser/TorIPCaller", accessKey("AKIA3EXAMPLEALICE001", "p", "alice", "IAMUser"),
				map[string]any{"additionalInfo": tt.info})
			f, err := Parse(gdEvent(t, d))
			if err != nil {
				t.Fatal(err)
			}
			if f.Sample != tt.want {
				t.Errorf("Sample = %v, want %v", f.Sample, tt.want)
			}
		})
	}
}

func TestParseCloudTrail(t *testing.T) {
	record := func(identity map[string]any, sourceIP string) map[string]any {
		return map[string]any{
			"eventVersion": "1.09", "userIdentity": identity, "eventTime": "2026-11-20T11:00:00Z",
			"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "awsRegion": "us-east-1",
			"sourceIPAddress": sourceIP, "eventID": "3f5e7c1a-0d63-4c4e-9a57-1e2f3a4b5c6d",
			"recipientAccountId": "123456789012", "requestParameters": map[string]any{"name": "trail"},
		}
	}
	issuer := func(typ, arn, name string) map[string]any {
		return map[string]any{"sessionIssuer": map[string]any{"type": typ, "arn": arn, "userName": name, "principalId": "AROA1"},
			"attributes": map[string]any{"creationDate": "20131102T010628Z", "mfaAuthenticated": "false"}}
	}
	tests := []struct {
		name      string
		identity  map[string]any
		sourceIP  string
		want      Principal
		wantAddrs []netip.Addr
	}{
		{
			name: "iam_user_long_term_key",
			identity: map[string]any{"type": "IAMUser", "principalId": "AIDA1", "arn": "arn:aws:iam::123456789012:user/alice",
				"accountId": "123456789012", "accessKeyId": "AKIA3EXAMPLEALICE001", "userName": "alice"},
			sourceIP: "185.220.101.42",
			want: Principal{Kind: KindIAMUserKey, Type: "IAMUser", ARN: "arn:aws:iam::123456789012:user/alice", PrincipalID: "AIDA1",
				AccessKeyID: "AKIA3EXAMPLEALICE001", UserName: "alice", Account: "123456789012", Partition: "aws"},
			wantAddrs: addrs("185.220.101.42"),
		},
		{
			name: "iam_user_console_session_has_no_key",
			identity: map[string]any{"type": "IAMUser", "principalId": "AIDA1", "arn": "arn:aws:iam::123456789012:user/alice",
				"accessKeyId": "", "userName": "alice"},
			sourceIP: "2a0b:f4c2:2::1",
			want: Principal{Kind: KindIAMUserSession, Type: "IAMUser", ARN: "arn:aws:iam::123456789012:user/alice", PrincipalID: "AIDA1",
				UserName: "alice", Account: "123456789012", Partition: "aws"},
			wantAddrs: addrs("2a0b:f4c2:2::1"),
		},
		{
			name: "assumed_role_from_session_issuer_with_path",
			identity: map[string]any{"type": "AssumedRole", "principalId": "AROA1:etl", "arn": "arn:aws:sts::123456789012:assumed-role/data-pipeline-role/etl",
				"accessKeyId": "ASIA3EXAMPLEPIPE0001", "sessionContext": issuer("Role", "arn:aws:iam::123456789012:role/service/data-pipeline-role", "data-pipeline-role")},
			sourceIP: "AWS Internal",
			want: Principal{Kind: KindAssumedRole, Type: "AssumedRole", ARN: "arn:aws:sts::123456789012:assumed-role/data-pipeline-role/etl",
				PrincipalID: "AROA1:etl", AccessKeyID: "ASIA3EXAMPLEPIPE0001", RoleName: "data-pipeline-role",
				RoleARN: "arn:aws:iam::123456789012:role/service/data-pipeline-role", SessionName: "etl", Account: "123456789012", Partition: "aws"},
		},
		{
			name: "assumed_role_from_arn_only",
			identity: map[string]any{"type": "AssumedRole", "principalId": "AROA1:etl", "arn": "arn:aws:sts::123456789012:assumed-role/data-pipeline-role/etl",
				"accessKeyId": "ASIA3EXAMPLEPIPE0001"},
			sourceIP: "ec2.amazonaws.com",
			want: Principal{Kind: KindAssumedRole, Type: "AssumedRole", ARN: "arn:aws:sts::123456789012:assumed-role/data-pipeline-role/etl",
				PrincipalID: "AROA1:etl", AccessKeyID: "ASIA3EXAMPLEPIPE0001", RoleName: "data-pipeline-role", SessionName: "etl", Account: "123456789012", Partition: "aws"},
		},
		{
			name:     "assumed_role_without_any_role_is_unknown",
			identity: map[string]any{"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/", "accessKeyId": "ASIA3EXAMPLEPIPE0001"},
			want:     Principal{Kind: KindUnknown, Type: "AssumedRole", ARN: "arn:aws:sts::123456789012:assumed-role/", AccessKeyID: "ASIA3EXAMPLEPIPE0001", Account: "123456789012", Partition: "aws"},
		},
		{
			name: "federated_user_issued_by_iam_user",
			identity: map[string]any{"type": "FederatedUser", "principalId": "123456789012:contractor", "arn": "arn:aws:sts::123456789012:federated-user/contractor",
				"accessKeyId": "ASIA3EXAMPLEFED00001", "sessionContext": issuer("IAMUser", "arn:aws:iam::123456789012:user/ci-deployer", "ci-deployer")},
			want: Principal{Kind: KindFederated, Type: "FederatedUser", ARN: "arn:aws:sts::123456789012:federated-user/contractor",
				PrincipalID: "123456789012:contractor", AccessKeyID: "ASIA3EXAMPLEFED00001", UserName: "ci-deployer", Account: "123456789012", Partition: "aws"},
		},
		{
			name: "federated_user_issued_by_root_names_no_user",
			identity: map[string]any{"type": "FederatedUser", "arn": "arn:aws:sts::123456789012:federated-user/x",
				"accessKeyId": "ASIA3EXAMPLEFED00001", "sessionContext": issuer("Root", "arn:aws:iam::123456789012:root", "")},
			want: Principal{Kind: KindFederated, Type: "FederatedUser", ARN: "arn:aws:sts::123456789012:federated-user/x", AccessKeyID: "ASIA3EXAMPLEFED00001", Account: "123456789012", Partition: "aws"},
		},
		{
			name:      "root",
			identity:  map[string]any{"type": "Root", "principalId": "123456789012", "arn": "arn:aws:iam::123456789012:root", "accessKeyId": ""},
			sourceIP:  "80.82.77.139",
			want:      Principal{Kind: KindRoot, Type: "Root", ARN: "arn:aws:iam::123456789012:root", PrincipalID: "123456789012", Account: "123456789012", Partition: "aws"},
			wantAddrs: addrs("80.82.77.139"),
		},
		{
			name:     "aws_service_and_service_name_source",
			identity: map[string]any{"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"},
			sourceIP: "cloudformation.amazonaws.com",
			want:     Principal{Kind: KindService, Type: "AWSService", InvokedBy: "cloudformation.amazonaws.com"},
		},
		{
			name:     "identity_center_user_is_unknown",
			identity: map[string]any{"type": "IdentityCenterUser", "accountId": "123456789012"},
			want:     Principal{Kind: KindUnknown, Type: "IdentityCenterUser", Account: "123456789012"},
		},
		{
			name:     "aws_account_is_unknown",
			identity: map[string]any{"type": "AWSAccount", "principalId": "AIDA2", "accountId": "210987654321"},
			want:     Principal{Kind: KindUnknown, Type: "AWSAccount", PrincipalID: "AIDA2", Account: "210987654321"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(ctEvent(t, DetailTypeAPICall, record(tt.identity, tt.sourceIP)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Principal, tt.want) {
				t.Errorf("principal\n got %+v\nwant %+v", f.Principal, tt.want)
			}
			if !reflect.DeepEqual(f.Addresses, tt.wantAddrs) {
				t.Errorf("addresses = %v, want %v", f.Addresses, tt.wantAddrs)
			}
			if f.Source != SourceCloudTrail || f.Type != "StopLogging" || f.EventSource != "cloudtrail.amazonaws.com" ||
				f.ID != "3f5e7c1a-0d63-4c4e-9a57-1e2f3a4b5c6d" || f.Account != "123456789012" || f.Severity != 0 {
				t.Errorf("record fields wrong: %+v", f)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	valid := gdDetail("Recon:IAMUser/TorIPCaller", accessKey("AKIA3EXAMPLEALICE001", "p", "alice", "IAMUser"), apiCall("185.220.101.42", ""))
	with := func(key string, v any) []byte {
		d := map[string]any{}
		for k, x := range valid {
			d[k] = x
		}
		if v == nil {
			delete(d, key)
		} else {
			d[key] = v
		}
		return gdEvent(t, d)
	}
	tests := []struct {
		name    string
		event   []byte
		wantErr string
	}{
		{"empty", nil, "event is empty"},
		{"not_json", []byte("hello"), "not a JSON object"},
		{"json_array", []byte("[1,2]"), "not a JSON object"},
		{"truncated", gdEvent(t, valid)[:100], "not a valid EventBridge envelope"},
		{"oversize", append([]byte(`{"x":"`), make([]byte, MaxEventSize)...), "more than the"},
		{"no_source", []byte(`{"detail-type":"GuardDuty Finding","detail":{}}`), `no "source"`},
		{"no_detail_type", []byte(`{"source":"aws.guardduty","detail":{}}`), `no "detail-type"`},
		{"detail_not_object", []byte(`{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":"x"}`), `no "detail" object`},
		{"unknown_source", envelopeOf(t, "aws.ec2", "EC2 Instance State-change Notification", map[string]any{"state": "running"}), "unsupported event"},
		{"guardduty_other_detail_type", envelopeOf(t, "aws.guardduty", "GuardDuty Runtime Protection Healthy", map[string]any{}), "unsupported event"},
		{"missing_id", with("id", nil), "detail.id is missing"},
		{"missing_type", with("type", nil), "detail.type is missing"},
		{"missing_severity", with("severity", nil), "detail.severity is missing"},
		{"severity_as_string", with("severity", "high"), `"detail.severity"`},
		{"severity_out_of_range", with("severity", 11), "outside 0–10"},
		{"bad_updated_at", with("updatedAt", "yesterday"), "detail.updatedAt"},
		{"missing_updated_at", with("updatedAt", nil), "detail.updatedAt is missing"},
		{"resource_wrong_type", with("resource", []int{1}), `"detail.resource"`},
		{"bad_address", with("service", apiCall("999.1.1.1", "")), "ipAddressV4 \"999.1.1.1\" is not an IP address"},
		{"address_with_zone", with("service", apiCall("", "fe80::1%eth0")), "is not an IP address"},
		{"cloudtrail_missing_identity", ctEvent(t, DetailTypeAPICall, map[string]any{"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "eventTime": "2026-11-20T11:00:00Z", "eventID": "x"}), "userIdentity is missing"},
		{"cloudtrail_missing_name", ctEvent(t, DetailTypeAPICall, map[string]any{"eventSource": "cloudtrail.amazonaws.com"}), "eventName is missing"},
		{"cloudtrail_bad_time", ctEvent(t, DetailTypeAPICall, map[string]any{"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "eventTime": "11/20/2026", "userIdentity": map[string]any{"type": "Root"}}), "detail.eventTime"},
		{"cloudtrail_identity_not_object", ctEvent(t, DetailTypeAPICall, map[string]any{"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "userIdentity": "root"}), `"detail.userIdentity"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.event)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseUnsupportedIsMarked(t *testing.T) {
	_, err := Parse(envelopeOf(t, "aws.ec2", "EC2 Instance State-change Notification", map[string]any{}))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error %v does not wrap ErrUnsupported", err)
	}
}

func TestSeverityLabel(t *testing.T) {
	tests := []struct {
		sev  float64
		want string
	}{
		{0, "none"}, {0.9, "none"}, {1, "low"}, {3.9, "low"}, {4, "medium"}, {6.9, "medium"},
		{7, "high"}, {8.9, "high"}, {9, "critical"}, {10, "critical"},
	}
	for _, tt := range tests {
		if got := SeverityLabel(tt.sev); got != tt.want {
			t.Errorf("SeverityLabel(%g) = %q, want %q", tt.sev, got, tt.want)
		}
	}
}

func TestMaskKeys(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"aws error quoting a key", "NoSuchEntity: The Access Key with id AKIA3EXAMPLEALICE001 cannot be found.", "NoSuchEntity: The Access Key with id AKIA…E001 cannot be found."},
		{"temporary key", `{"key":"ASIA5EXAMPLEPIPELN6H"}`, `{"key":"ASIA…LN6H"}`},
		{"several, glued to other text", "xAKIAAAAAAAAAAAAAAAAA,ASIABBBBBBBBBBBBBBBB9", "xAKIA…AAAA,ASIA…BBB9"},
		{"longer run masked whole", "AKIA0123456789ABCDEFGHIJ", "AKIA…GHIJ"},
		{"already masked", "key AKIA…E001 of user alice", "key AKIA…E001 of user alice"},
		{"too short to be a key", "AKIA0123456789ABCDE", "AKIA0123456789ABCDE"},
		{"lower case is not a key id", "akia3examplealice001", "akia3examplealice001"},
		{"user and role ids are not secrets", "AIDA3EXAMPLEALICE001 AROA3EXAMPLEROLE0001", "AIDA3EXAMPLEALICE001 AROA3EXAMPLEROLE0001"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaskKeys(tc.in); got != tc.want {
				t.Errorf("MaskKeys(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMaskError(t *testing.T) {
	base := errors.New("UpdateAccessKey AKIA3EXAMPLEALICE001: NoSuchEntity")
	err := MaskError(fmt.Errorf("step: %w", base))
	if got := err.Error(); got != "step: UpdateAccessKey AKIA…E001: NoSuchEntity" {
		t.Errorf("masked error = %q", got)
	}
	if !errors.Is(err, base) {
		t.Error("the masked error no longer wraps its cause")
	}
	if MaskError(nil) != nil {
		t.Error("MaskError(nil) is not nil")
	}
}

func TestMaskKey(t *testing.T) {
	for in, want := range map[string]string{
		"AKIA3EXAMPLEALICE001": "AKIA…E001",
		"ABC":                  "ABC",
		"":                     "",
	} {
		if got := MaskKey(in); got != want {
			t.Errorf("MaskKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseAccounts: every place an event names an account is kept, with
// its partition, and derived ARNs carry the finding's partition.
func TestParseAccounts(t *testing.T) {
	record := func(identity map[string]any) map[string]any {
		return map[string]any{
			"userIdentity": identity, "eventTime": "2026-11-20T11:00:00Z", "eventSource": "cloudtrail.amazonaws.com",
			"eventName": "StopLogging", "awsRegion": "us-east-1", "eventID": "e1", "recipientAccountId": "123456789012",
		}
	}
	gdWith := func(kv ...any) []byte {
		d := gdDetail("Recon:IAMUser/TorIPCaller", accessKey("AKIA3EXAMPLEALICE001", "AIDA1", "alice", "IAMUser"), nil)
		for i := 0; i < len(kv); i += 2 {
			d[kv[i].(string)] = kv[i+1]
		}
		return gdEvent(t, d)
	}
	tests := []struct {
		name          string
		event         []byte
		wantAccount   string
		wantPartition string
		wantPrincipal [2]string // account, partition
		wantARN       string
		wantRefs      []AccountRef
	}{
		{
			name: "guardduty_member_finding_in_administrator_bus", event: gdWith("accountId", "210987654321", "partition", "aws"),
			wantAccount: "210987654321", wantPartition: "aws", wantPrincipal: [2]string{"210987654321", "aws"},
			wantARN:  "arn:aws:iam::210987654321:user/alice",
			wantRefs: []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.accountId", Account: "210987654321", Partition: "aws"}},
		},
		{
			name: "guardduty_govcloud_partition", event: gdWith("partition", "aws-us-gov", "region", "us-gov-west-1"),
			wantAccount: "123456789012", wantPartition: "aws-us-gov", wantPrincipal: [2]string{"123456789012", "aws-us-gov"},
			wantARN:  "arn:aws-us-gov:iam::123456789012:user/alice",
			wantRefs: []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.accountId", Account: "123456789012", Partition: "aws-us-gov"}},
		},
		{
			name: "guardduty_partition_from_china_region", event: envelopeOf(t, "aws.guardduty", DetailTypeGuardDuty, func() map[string]any {
				d := gdDetail("Recon:IAMUser/TorIPCaller", accessKey("AKIA3EXAMPLEALICE001", "AIDA1", "alice", "IAMUser"), nil)
				d["region"] = "cn-north-1"
				return d
			}()),
			// The envelope says us-east-1 and wins for Region; the partition comes from it too.
			wantAccount: "123456789012", wantPartition: "aws", wantPrincipal: [2]string{"123456789012", "aws"},
			wantARN:  "arn:aws:iam::123456789012:user/alice",
			wantRefs: []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.accountId", Account: "123456789012"}},
		},
		{
			name: "cloudtrail_principal_of_another_account",
			event: ctEvent(t, DetailTypeAPICall, record(map[string]any{"type": "IAMUser", "accountId": "210987654321",
				"arn": "arn:aws:iam::210987654321:user/alice", "accessKeyId": "AKIA3EXAMPLEALICE001", "userName": "alice"})),
			wantAccount: "123456789012", wantPartition: "aws", wantPrincipal: [2]string{"210987654321", "aws"},
			wantARN: "arn:aws:iam::210987654321:user/alice",
			wantRefs: []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.recipientAccountId", Account: "123456789012"},
				{Field: "detail.userIdentity.accountId", Account: "210987654321"}, {Field: "detail.userIdentity.arn", Account: "210987654321", Partition: "aws"}},
		},
		{
			name: "cloudtrail_arn_and_account_id_disagree",
			event: ctEvent(t, DetailTypeAPICall, record(map[string]any{"type": "AssumedRole", "accountId": "123456789012",
				"arn": "arn:aws-cn:sts::210987654321:assumed-role/deploy/s", "accessKeyId": "ASIA3EXAMPLEPIPE0001",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws-cn:iam::210987654321:role/deploy", "userName": "deploy"}}})),
			wantAccount: "123456789012", wantPartition: "aws-cn", wantPrincipal: [2]string{"123456789012", "aws-cn"},
			wantARN: "arn:aws-cn:sts::210987654321:assumed-role/deploy/s",
			wantRefs: []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.recipientAccountId", Account: "123456789012"},
				{Field: "detail.userIdentity.accountId", Account: "123456789012"}, {Field: "detail.userIdentity.arn", Account: "210987654321", Partition: "aws-cn"},
				{Field: "detail.userIdentity.sessionContext.sessionIssuer.arn", Account: "210987654321", Partition: "aws-cn"}},
		},
		{
			name: "cloudtrail_unreadable_arn_is_kept_without_account",
			event: ctEvent(t, DetailTypeAPICall, record(map[string]any{"type": "IAMUser",
				"arn": "alice", "accessKeyId": "AKIA3EXAMPLEALICE001", "userName": "alice"})),
			wantAccount: "123456789012", wantPartition: "aws", wantPrincipal: [2]string{"", ""},
			wantARN: "alice",
			wantRefs: []AccountRef{{Field: "account", Account: "123456789012"}, {Field: "detail.recipientAccountId", Account: "123456789012"},
				{Field: "detail.userIdentity.arn"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if f.Account != tt.wantAccount || f.Partition != tt.wantPartition {
				t.Errorf("finding account %q partition %q, want %q %q", f.Account, f.Partition, tt.wantAccount, tt.wantPartition)
			}
			if got := [2]string{f.Principal.Account, f.Principal.Partition}; got != tt.wantPrincipal {
				t.Errorf("principal account, partition = %q, want %q", got, tt.wantPrincipal)
			}
			if f.Principal.ARN != tt.wantARN {
				t.Errorf("principal ARN %q, want %q", f.Principal.ARN, tt.wantARN)
			}
			if !reflect.DeepEqual(f.Accounts, tt.wantRefs) {
				t.Errorf("accounts\n got %+v\nwant %+v", f.Accounts, tt.wantRefs)
			}
		})
	}
}

// TestParseRefusesForeignSources: only the service itself can send its
// findings and CloudTrail records (the aws. prefix is reserved for AWS).
func TestParseRefusesForeignSources(t *testing.T) {
	ct := func(eventSource string) map[string]any {
		return map[string]any{"eventName": "StopLogging", "eventSource": eventSource, "eventTime": "2026-11-20T11:00:00Z",
			"eventID": "e1", "userIdentity": map[string]any{"type": "Root", "arn": "arn:aws:iam::123456789012:root"}}
	}
	gd := gdDetail("Recon:IAMUser/TorIPCaller", accessKey("AKIA3EXAMPLEALICE001", "p", "alice", "IAMUser"), nil)
	tests := []struct {
		name    string
		event   []byte
		wantErr string // "" accepted
	}{
		{"guardduty_from_custom_source", envelopeOf(t, "custom.guardduty", DetailTypeGuardDuty, gd), `source "custom.guardduty": only aws.guardduty`},
		{"guardduty_from_cloudtrail_source", envelopeOf(t, "aws.cloudtrail", DetailTypeGuardDuty, gd), "only aws.guardduty"},
		{"cloudtrail_from_custom_source", envelopeOf(t, "my.app", DetailTypeAPICall, ct("cloudtrail.amazonaws.com")), `want aws.cloudtrail`},
		{"cloudtrail_from_other_service_source", envelopeOf(t, "aws.iam", DetailTypeAPICall, ct("cloudtrail.amazonaws.com")), `want aws.cloudtrail`},
		{"iam_event_from_aws_iam", envelopeOf(t, "aws.iam", DetailTypeAPICall, ct("iam.amazonaws.com")), ""},
		{"console_sign_in_from_aws_signin", envelopeOf(t, "aws.signin", DetailTypeConsoleSignIn, ct("signin.amazonaws.com")), ""},
		{"console_sign_in_from_aws_cloudtrail", envelopeOf(t, "aws.cloudtrail", DetailTypeConsoleSignIn, ct("signin.amazonaws.com")), "want aws.signin"},
		{"event_source_not_an_aws_service", envelopeOf(t, "aws.evil", DetailTypeAPICall, ct("evil.example.com")), "aws.<service>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.event)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr != "" && errors.Is(err, ErrUnsupported):
				t.Errorf("a spoofed source is marked unsupported (ignorable): %v", err)
			}
		})
	}
}

// TestParseRefusesAmbiguousKeys: a repeated key, or keys that differ only
// in case (encoding/json matches field names case-insensitively, the last
// one winning), would let an event say two things at once.
func TestParseRefusesAmbiguousKeys(t *testing.T) {
	valid := string(gdEvent(t, gdDetail("Recon:IAMUser/TorIPCaller", accessKey("AKIA3EXAMPLEALICE001", "p", "alice", "IAMUser"), apiCall("185.220.101.42", ""))))
	if _, err := Parse([]byte(valid)); err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		if !strings.Contains(valid, old) {
			t.Fatalf("%q not in %s", old, valid)
		}
		return []byte(strings.Replace(valid, old, new, 1))
	}
	tests := []struct {
		name    string
		event   []byte
		wantErr string
	}{
		{"duplicate_envelope_source", replace(`"source":"aws.guardduty"`, `"source":"aws.guardduty","source":"custom"`), `key "source" appears twice in the event`},
		{"duplicate_account_id", replace(`"accountId":"123456789012"`, `"accountId":"123456789012","accountId":"210987654321"`), `key "accountId" appears twice in detail`},
		{"case_folded_account_id", replace(`"accountId":"123456789012"`, `"accountId":"123456789012","AccountID":"210987654321"`), `keys "accountId" and "AccountID" in detail differ only in case`},
		{"case_folded_user_name_deep", replace(`"userName":"alice"`, `"userName":"alice","USERNAME":"bob"`), `in detail.resource.accessKeyDetails differ only in case`},
		{"kelvin_sign_folds_to_k", replace(`"accessKeyId":"AKIA3EXAMPLEALICE001"`, `"accessKeyId":"AKIA3EXAMPLEALICE001","access\u212aeyId":"AKIA3EXAMPLEBOB00001"`), "differ only in case"},
		{"duplicate_inside_array", replace(`"action":{`, `"action":{"list":[{"a":1,"a":2}],`), `appears twice in detail.service.action.list[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.event)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestParseRefusesInvalidUTF8: encoding/json would replace invalid bytes and
// lone surrogates with U+FFFD, so two different names would read the same.
func TestParseRefusesInvalidUTF8(t *testing.T) {
	valid := string(gdEvent(t, gdDetail("Recon:IAMUser/TorIPCaller", accessKey("AKIA3EXAMPLEALICE001", "p", "alice", "IAMUser"), nil)))
	ctValid := string(ctEvent(t, DetailTypeAPICall, map[string]any{"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com",
		"eventTime": "2026-11-20T11:00:00Z", "eventID": "e1", "userIdentity": map[string]any{"type": "AssumedRole",
			"arn": "arn:aws:sts::123456789012:assumed-role/deploy/s", "accessKeyId": "ASIA3EXAMPLEPIPE0001",
			"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws:iam::123456789012:role/deploy", "userName": "deploy"}}}}))
	tests := []struct {
		name    string
		event   string
		wantErr string
	}{
		{"invalid_byte_in_user_name", strings.Replace(valid, `"alice"`, "\"ali\xffce\"", 1), "not valid UTF-8"},
		{"invalid_byte_anywhere", strings.Replace(valid, `"schemaVersion":"2.0"`, "\"schemaVersion\":\"2.\xc0\"", 1), "not valid UTF-8"},
		{"lone_surrogate_in_user_name", strings.Replace(valid, `"alice"`, `"ali\ud800ce"`, 1), "detail.resource.accessKeyDetails.userName"},
		{"replacement_char_in_account", strings.Replace(valid, `"accountId":"123456789012"`, `"accountId":"12345678901\ufffd"`, 1), "detail.accountId"},
		{"lone_surrogate_in_role_name", strings.Replace(ctValid, `"userName":"deploy"`, `"userName":"dep\udfffloy"`, 1), "sessionIssuer.userName"},
		{"lone_surrogate_in_arn", strings.Replace(ctValid, `assumed-role/deploy/s`, `assumed-role/deploy/\ud834`, 1), "detail.userIdentity.arn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.event == valid || tt.event == ctValid {
				t.Fatal("the replacement did not apply")
			}
			_, err := Parse([]byte(tt.event))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEventBridgeSource(t *testing.T) {
	for in, want := range map[string]string{
		"cloudtrail.amazonaws.com": "aws.cloudtrail", "signin.amazonaws.com": "aws.signin", "iam.amazonaws.com": "aws.iam",
		"monitoring.amazonaws.com": "aws.monitoring", "evil.example.com": "", ".amazonaws.com": "", "": "",
	} {
		if got := EventBridgeSource(in); got != want {
			t.Errorf("EventBridgeSource(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPartitionOfRegion(t *testing.T) {
	for in, want := range map[string]string{
		"us-east-1": "aws", "eu-west-3": "aws", "us-gov-west-1": "aws-us-gov", "cn-northwest-1": "aws-cn",
		"us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "eusc-de-east-1": "aws-eusc", "mars-1": "", "": "",
	} {
		if got := PartitionOfRegion(in); got != want {
			t.Errorf("PartitionOfRegion(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseDeepNestingIsCheap: an event of nested arrays as deep as an event
// can hold is refused at once. The key check once built each value's path
// as it went, which cost time quadratic in the depth (about 20 s for 80,000
// levels, more than a Lambda invocation's timeout for a full-size event).
func TestParseDeepNestingIsCheap(t *testing.T) {
	head := `{"version":"0","source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":`
	n := (MaxEventSize - len(head) - 1) / 2
	raw := []byte(head + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	done := make(chan error, 1)
	go func() {
		_, err := Parse(raw)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("an event whose detail is nested arrays was accepted")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Parse of %d nested arrays took more than 5 s", n)
	}
}

// TestParseTime: the timestamps AWS writes are read, to the nanosecond and
// in UTC; everything else is refused with an error naming the field.
func TestParseTime(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	accepted := []struct{ in, want string }{
		{"2026-11-20T11:02:37Z", "2026-11-20T11:02:37Z"},
		{"2026-11-20T11:02:37.1Z", "2026-11-20T11:02:37.1Z"},
		{"2026-11-20T11:02:37.123Z", "2026-11-20T11:02:37.123Z"},
		{"2026-11-20T11:02:37.123456789Z", "2026-11-20T11:02:37.123456789Z"},
		// RFC 3339 allows any number of fractional digits; past
		// nanoseconds they are dropped.
		{"2026-11-20T11:02:37.1234567891Z", "2026-11-20T11:02:37.123456789Z"},
		{"2026-11-20T12:02:37+01:00", "2026-11-20T11:02:37Z"},
		{"2026-11-20T06:02:37.5-05:00", "2026-11-20T11:02:37.5Z"},
		{"2026-11-20T11:02:37-00:00", "2026-11-20T11:02:37Z"},
		// RFC 3339 section 5.6: t and z may be lower case.
		{"2026-11-20t11:02:37z", "2026-11-20T11:02:37Z"},
		{"2026-11-20T11:02:37.25z", "2026-11-20T11:02:37.25Z"},
		{"2026-11-20t11:02:37+01:00", "2026-11-20T10:02:37Z"},
	}
	for _, tt := range accepted {
		got, err := parseTime("detail.updatedAt", tt.in)
		if err != nil || !got.Equal(at(tt.want)) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %s in UTC", tt.in, got, err, tt.want)
		}
	}
	refused := []string{
		"2026-11-20T11:02:37",      // no zone
		"2026-11-20 11:02:37Z",     // space for T
		"2026-11-20T11:02:37,5Z",   // decimal comma: ISO 8601, not RFC 3339
		"2026-11-20T11:02:37+0100", // offset without colon
		"2026-11-20T11:02Z",        // no seconds
		"2026-11-20T11:02:37.Z",    // empty fraction
		"20261120T110237Z",         // ISO 8601 basic format
		"2026-11-20T23:59:60Z",     // leap second
		"2026-11-20T11:02:37 Z",    // space before the zone
		" 2026-11-20T11:02:37Z",    // leading space
		"2026-11-20T11:02:37Zz",    // trailing junk
		"1763636557",               // epoch seconds
		"Fri, 20 Nov 2026 11:02:37 GMT",
	}
	for _, in := range refused {
		got, err := parseTime("detail.updatedAt", in)
		if err == nil || !strings.Contains(err.Error(), "detail.updatedAt") || !strings.Contains(err.Error(), "not an RFC 3339 time") {
			t.Errorf("parseTime(%q) = %v, %v; want an error naming the field", in, got, err)
		}
	}
	if _, err := parseTime("detail.eventTime", ""); err == nil || err.Error() != "detail.eventTime is missing" {
		t.Errorf("empty time: %v", err)
	}
}

// TestParseCloudTrailOutcomeAndService: whether the call failed, and the
// service it was made through, are read from the record.
func TestParseCloudTrailOutcomeAndService(t *testing.T) {
	role := map[string]any{"type": "AssumedRole", "principalId": "AROA1:s", "arn": "arn:aws:sts::123456789012:assumed-role/deployer/s",
		"accountId": "123456789012", "accessKeyId": "ASIA3EXAMPLEPIPE0001"}
	with := func(id map[string]any, kv ...any) map[string]any {
		d := map[string]any{
			"eventTime": "2026-11-20T11:00:00Z", "eventSource": "cloudtrail.amazonaws.com", "eventName": "DeleteTrail",
			"eventID": "e1", "recipientAccountId": "123456789012", "sourceIPAddress": "194.26.29.113",
		}
		ident := map[string]any{}
		for k, v := range id {
			ident[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if k := kv[i].(string); strings.HasPrefix(k, "userIdentity.") {
				ident[strings.TrimPrefix(k, "userIdentity.")] = kv[i+1]
			} else {
				d[k] = kv[i+1]
			}
		}
		d["userIdentity"] = ident
		return d
	}
	tests := []struct {
		name      string
		detail    map[string]any
		failed    bool
		errorCode string
		via       string
	}{
		{"succeeded_directly", with(role), false, "", ""},
		{"access_denied", with(role, "errorCode", "AccessDenied", "errorMessage", "User: … is not authorized"), true, "AccessDenied", ""},
		{"invalid_trail_name", with(role, "errorCode", "InvalidTrailNameException"), true, "InvalidTrailNameException", ""},
		{"console_sign_in_failure_has_no_error_code", with(map[string]any{"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"},
			"eventSource", "signin.amazonaws.com", "eventName", "ConsoleLogin", "errorMessage", "Failed authentication",
			"responseElements", map[string]any{"ConsoleLogin": "Failure"}), true, "", ""},
		{"console_sign_in_success", with(map[string]any{"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"},
			"eventSource", "signin.amazonaws.com", "eventName", "ConsoleLogin", "responseElements", map[string]any{"ConsoleLogin": "Success"}), false, "", ""},
		{"invoked_by_cloudformation", with(role, "userIdentity.invokedBy", "cloudformation.amazonaws.com",
			"sourceIPAddress", "cloudformation.amazonaws.com"), false, "", "cloudformation.amazonaws.com"},
		{"source_is_a_service_name", with(role, "sourceIPAddress", "servicecatalog.amazonaws.com"), false, "", "servicecatalog.amazonaws.com"},
		{"source_is_aws_internal", with(role, "sourceIPAddress", "AWS Internal"), false, "", "AWS Internal"},
		{"china_service_name", with(role, "sourceIPAddress", "cloudformation.amazonaws.com.cn"), false, "", "cloudformation.amazonaws.com.cn"},
		{"invoked_by_wins_over_source", with(role, "userIdentity.invokedBy", "AWS Internal", "sourceIPAddress", "10.0.0.1"), false, "", "AWS Internal"},
		{"console_is_the_person", with(role, "userIdentity.invokedBy", "signin.amazonaws.com", "sourceIPAddress", "203.0.113.64"), false, "", ""},
		{"empty_invoked_by_is_direct", with(role, "userIdentity.invokedBy", ""), false, "", ""},
		{"failed_through_a_service", with(role, "userIdentity.invokedBy", "cloudformation.amazonaws.com", "errorCode", "AccessDenied"),
			true, "AccessDenied", "cloudformation.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "aws.cloudtrail"
			if tt.detail["eventSource"] == "signin.amazonaws.com" {
				src = "aws.signin"
			}
			f, err := Parse(envelopeOf(t, src, DetailTypeAPICall, tt.detail))
			if err != nil {
				t.Fatal(err)
			}
			if f.Failed != tt.failed || f.ErrorCode != tt.errorCode || f.ViaService != tt.via {
				t.Errorf("failed %v, errorCode %q, viaService %q; want %v, %q, %q", f.Failed, f.ErrorCode, f.ViaService, tt.failed, tt.errorCode, tt.via)
			}
			var want []string
			if tt.failed {
				want = append(want, strings.TrimSuffix("failed: "+tt.errorCode, ": "))
			}
			if tt.via != "" {
				want = append(want, "made through "+tt.via)
			}
			if got := f.Call(); got != strings.Join(want, ", ") {
				t.Errorf("Call() = %q, want %q", got, strings.Join(want, ", "))
			}
		})
	}
}
