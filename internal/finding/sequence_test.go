package finding

import (
	"reflect"
	"strings"
	"testing"
)

// sequenceDetail is an attack-sequence finding with the given actors and endpoints.
func sequenceDetail(actors, endpoints []map[string]any) map[string]any {
	return gdDetail("AttackSequence:IAM/CompromisedCredentials", map[string]any{"resourceType": "AttackSequence"},
		map[string]any{"featureName": "Correlation", "resourceRole": "TARGET", "detection": map[string]any{"sequence": map[string]any{
			"uid": "seq-1", "description": "d", "actors": actors, "endpoints": endpoints,
			"signals": []map[string]any{{"uid": "s1", "type": "FINDING", "name": "n", "count": 1, "createdAt": 1763600000}},
		}}})
}

func actor(id, typ, name, uid, cred, issuer, account string) map[string]any {
	u := map[string]any{"name": name, "uid": uid, "type": typ}
	if cred != "" {
		u["credentialUid"] = cred
	}
	if account != "" {
		u["account"] = map[string]any{"uid": account, "account": "production"}
	}
	a := map[string]any{"id": id, "user": u}
	if issuer != "" {
		a["session"] = map[string]any{"uid": uid, "mfaStatus": "DISABLED", "createdTime": 1763600000, "issuer": issuer}
	}
	return a
}

func TestParseAttackSequence(t *testing.T) {
	const acct = "123456789012"
	alice := actor("a1", "IAMUser", "alice", "AIDA5EXAMPLEALICE3XQ7", "AKIA5EXAMPLEALICE7Q2", "", acct)
	pipeline := actor("a2", "AssumedRole", "data-pipeline-role", "AROA5EXAMPLEDATAPL9QZ:etl", "ASIA5EXAMPLEDATAP4K2",
		"arn:aws:iam::123456789012:role/service-role/data-pipeline-role", acct)
	process := map[string]any{"id": "a3", "process": map[string]any{"name": "xmrig"}}
	tests := []struct {
		name      string
		actors    []map[string]any
		endpoints []map[string]any
		want      []Principal // Principal, then Actors
		addrs     []string
		refs      int // account references beyond the envelope's and detail.accountId
	}{
		{"a key and a role session, each contained as a single finding's would be", []map[string]any{alice, pipeline}, nil, []Principal{
			{Kind: KindIAMUserKey, Type: "IAMUser", UserName: "alice", PrincipalID: "AIDA5EXAMPLEALICE3XQ7", AccessKeyID: "AKIA5EXAMPLEALICE7Q2",
				ARN: "arn:aws:iam::123456789012:user/alice", Account: acct, Partition: "aws"},
			{Kind: KindAssumedRole, Type: "AssumedRole", RoleName: "data-pipeline-role", RoleARN: "arn:aws:iam::123456789012:role/service-role/data-pipeline-role",
				SessionName: "etl", PrincipalID: "AROA5EXAMPLEDATAPL9QZ:etl", AccessKeyID: "ASIA5EXAMPLEDATAP4K2", Account: acct, Partition: "aws"},
		}, nil, 0},
		{"an actor named twice is one principal; a process names none", []map[string]any{process, alice, alice}, nil, []Principal{
			{Kind: KindIAMUserKey, Type: "IAMUser", UserName: "alice", PrincipalID: "AIDA5EXAMPLEALICE3XQ7", AccessKeyID: "AKIA5EXAMPLEALICE7Q2",
				ARN: "arn:aws:iam::123456789012:user/alice", Account: acct, Partition: "aws"},
		}, nil, 0},
		{"upper snake case types are read", []map[string]any{actor("a", "ASSUMED_ROLE", "r", "AROAX:s", "ASIAXXXXXXXXXXXXXXXX", "", acct)}, nil, []Principal{
			{Kind: KindAssumedRole, Type: "ASSUMED_ROLE", RoleName: "r", SessionName: "s", PrincipalID: "AROAX:s", AccessKeyID: "ASIAXXXXXXXXXXXXXXXX", Account: acct, Partition: "aws"},
		}, nil, 0},
		{"a role with a long-term key does not add up: unknown", []map[string]any{actor("a", "AssumedRole", "r", "AROAX:s", "AKIAXXXXXXXXXXXXXXXX", "", acct)}, nil, []Principal{
			{Kind: KindUnknown, Type: "AssumedRole", RoleName: "r", SessionName: "s", PrincipalID: "AROAX:s", AccessKeyID: "AKIAXXXXXXXXXXXXXXXX", Account: acct, Partition: "aws"},
		}, nil, 0},
		{"a user with no credential is not guessed", []map[string]any{actor("a", "IAMUser", "bob", "AIDAX", "", "", acct)}, nil, []Principal{
			{Kind: KindUnknown, Type: "IAMUser", UserName: "bob", PrincipalID: "AIDAX", ARN: "arn:aws:iam::123456789012:user/bob", Account: acct, Partition: "aws"},
		}, nil, 0},
		{"a Kubernetes identity is unknown", []map[string]any{actor("a", "KubernetesServiceAccount", "system:serviceaccount:x:y", "u", "", "", acct)}, nil, []Principal{
			{Kind: KindUnknown, Type: "KubernetesServiceAccount", PrincipalID: "u", Account: acct, Partition: "aws"},
		}, nil, 0},
		{"another account's role is that account's principal", []map[string]any{actor("a", "AssumedRole", "r", "AROAX:s", "ASIAXXXXXXXXXXXXXXXX", "arn:aws:iam::210987654321:role/r", acct)}, nil, []Principal{
			{Kind: KindAssumedRole, Type: "AssumedRole", RoleName: "r", RoleARN: "arn:aws:iam::210987654321:role/r", SessionName: "s", PrincipalID: "AROAX:s",
				AccessKeyID: "ASIAXXXXXXXXXXXXXXXX", Account: "210987654321", Partition: "aws"},
		}, nil, 0},
		{"a user acting in another account is that account's", []map[string]any{actor("a", "IAMUser", "alice", "AIDAX", "AKIAXXXXXXXXXXXXXXXX", "", "210987654321")}, nil, []Principal{
			{Kind: KindIAMUserKey, Type: "IAMUser", UserName: "alice", PrincipalID: "AIDAX", AccessKeyID: "AKIAXXXXXXXXXXXXXXXX",
				ARN: "arn:aws:iam::210987654321:user/alice", Account: "210987654321", Partition: "aws"},
		}, nil, 0},
		{"an actor whose account nothing tells is not guessed", []map[string]any{actor("a", "IAMUser", "alice", "AIDAX", "ASIAXXXXXXXXXXXXXXXX", "", "")}, nil, []Principal{
			{Kind: KindUnknown, Type: "IAMUser", UserName: "alice", PrincipalID: "AIDAX", AccessKeyID: "ASIAXXXXXXXXXXXXXXXX", Partition: "aws"},
		}, nil, 0},
		{"endpoints are the finding's addresses, each once", nil,
			[]map[string]any{{"id": "e1", "ip": "185.220.101.42"}, {"id": "e2", "ip": "2a0b:f4c2::42"}, {"id": "e3", "ip": "185.220.101.42"}, {"id": "e4", "domain": "pool.example"}},
			[]Principal{{Kind: KindNone}}, []string{"185.220.101.42", "2a0b:f4c2::42"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(gdEvent(t, sequenceDetail(tt.actors, tt.endpoints)))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Principals(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("principals\n got %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(f.Addresses, addrs(tt.addrs...)) {
				t.Errorf("addresses %v, want %v", f.Addresses, tt.addrs)
			}
			if n := len(f.Accounts) - 2; n != tt.refs {
				t.Errorf("%d account references beyond the finding's, want %d: %+v", n, tt.refs, f.Accounts)
			}
		})
	}
}

func TestParseAttackSequenceRejects(t *testing.T) {
	tests := []struct {
		name      string
		actors    []map[string]any
		endpoints []map[string]any
		want      string
	}{
		{"an endpoint that is not an address", nil, []map[string]any{{"id": "e", "ip": "10.0.0.0/8"}}, "endpoints[0].ip"},
		{"invalid UTF-8 in an actor", []map[string]any{actor("a", "IAMUser", "al\ufffdice", "AIDAX", "AKIAXXXXXXXXXXXXXXXX", "", "")}, nil, "actors[0].user.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(gdEvent(t, sequenceDetail(tt.actors, tt.endpoints)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}
