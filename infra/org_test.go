package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/infra/patterns"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
	"github.com/autocontain/autocontain/internal/testenv"
)

// Organization mode's test values.
const (
	testOrg      = "o-abcdef1234"
	testMember   = "210987654321"
	testOU1      = "ou-ab12-abcdefgh"
	testOU2      = "ou-ab12-ijklmnop"
	testOtherReg = "eu-west-1"
)

// orgContext is the context of an organization-mode deploy.
func orgContext() map[string]any {
	return map[string]any{
		"organizationId": testOrg, "memberTargets": testOU1 + "," + testOU2, "regions": testRegion + "," + testOtherReg,
	}
}

// configFromMap reads a Config from a context map.
func configFromMap(ctx map[string]any) (Config, error) {
	return configFrom(func(k string) (any, bool) { v, ok := ctx[k]; return v, ok })
}

// orgSynth is an organization-mode app: the central stack, its member
// template (the StackSet's body) and its GuardDuty forwarders.
type orgSynth struct {
	central    *synthesized
	member     *synthesized
	forwarders map[string]*synthesized // by Region
}

var (
	orgOnce   sync.Once
	orgCached *orgSynth
)

// synthOrg synthesizes the organization-mode app once, pinned to
// testAccount in testRegion, as the app does (main.go).
func synthOrg(t *testing.T) *orgSynth {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	orgOnce.Do(func() {
		cfg, err := configFromMap(orgContext())
		if err != nil {
			t.Fatalf("organization context: %v", err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
		central := NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{
			StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}},
			Config:     cfg, AssetDir: dir,
		})
		// Every stack before the first synthesis.
		forwarders := NewForwarderStacks(app, central, cfg)
		out := &orgSynth{central: newSynthesized(t, central, dir), forwarders: map[string]*synthesized{}}
		for _, f := range forwarders {
			out.forwarders[*f.Region()] = templateOf(t, f)
		}
		sets := out.central.resources("AWS::CloudFormation::StackSet")
		for _, s := range sets {
			out.member = &synthesized{}
			if err := json.Unmarshal([]byte(props(s)["TemplateBody"].(string)), &out.member.json); err != nil {
				t.Fatalf("the StackSet's template body: %v", err)
			}
		}
		if out.member == nil {
			t.Fatalf("%d StackSets", len(sets))
		}
		orgCached = out
	})
	if orgCached == nil {
		t.Fatal("the organization-mode app did not synthesize")
	}
	return orgCached
}

// templateOf is a stack's template without a bundled playbook.
func templateOf(t *testing.T, stack awscdk.Stack) *synthesized {
	t.Helper()
	tpl := assertions.Template_FromStack(stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	s := &synthesized{tpl: tpl}
	if err := json.Unmarshal(raw, &s.json); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOrgContext: organization mode's keys, read and validated; bad
// values are clear errors naming the key.
func TestOrgContext(t *testing.T) {
	with := func(kv ...string) map[string]any {
		ctx := orgContext()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(ctx, kv[i])
			} else {
				ctx[kv[i]] = kv[i+1]
			}
		}
		return ctx
	}
	for _, tc := range []struct {
		name    string
		ctx     map[string]any
		wantErr string
	}{
		{"valid", orgContext(), ""},
		{"list_from_cdk_json", with("memberTargets", ""), "context memberTargets: organization mode needs the OUs"},
		{"bad_organization_id", with("organizationId", "o-SHORT"), `context organizationId: "o-SHORT" is not an organization id`},
		{"account_is_no_organization", with("organizationId", "123456789012"), "is not an organization id"},
		{"bad_ou", with("memberTargets", testOU1+",r-ab12"), `context memberTargets: "r-ab12" is not an OU id`},
		{"no_regions", with("regions", ""), "context regions: organization mode needs the Regions"},
		{"bad_region", with("regions", "us-east-1,Frankfurt"), `context regions: "Frankfurt" is not a Region name`},
		{"region_twice", with("regions", "us-east-1,eu-west-1,us-east-1"), "us-east-1 is listed twice"},
		{"global_events_need_us_east_1", with("regions", "eu-west-1"), "signin.amazonaws.com, which only us-east-1 receives: add us-east-1"},
		{"bad_role_name", with("memberRoleName", "autocontain member"), `context memberRoleName: "autocontain member" is not an IAM role name`},
		{"targets_without_organization", map[string]any{"memberTargets": testOU1}, "context memberTargets: organization mode's options need context organizationId"},
		{"role_name_without_organization", map[string]any{"memberRoleName": "x"}, "context memberRoleName: organization mode's options need"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configFromMap(tc.ctx)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "":
				if !cfg.Org.On() || cfg.Org.ID != testOrg || !slices.Equal(cfg.Org.MemberTargets, []string{testOU1, testOU2}) ||
					!slices.Equal(cfg.Org.Regions, []string{testRegion, testOtherReg}) || cfg.Org.MemberRoleName != DefaultMemberRoleName {
					t.Errorf("read %+v", cfg.Org)
				}
			}
		})
	}
	// A list from cdk.json arrives as a JSON list.
	cfg, err := configFromMap(with("memberTargets", "", "regions", ""))
	if err == nil {
		t.Fatal("no targets, no Regions: want an error")
	}
	ctx := orgContext()
	ctx["memberTargets"], ctx["regions"] = []any{testOU1}, []any{"us-east-1"}
	if cfg, err = configFromMap(ctx); err != nil || !slices.Equal(cfg.Org.MemberTargets, []string{testOU1}) || !slices.Equal(cfg.Org.Regions, []string{"us-east-1"}) {
		t.Errorf("lists from cdk.json: %+v, %v", cfg.Org, err)
	}
	// The stack's own Region must be one of the Regions.
	if cfg, err := configFromMap(orgContext()); err != nil || cfg.CheckRegion("ap-south-1") == nil || cfg.CheckRegion(testRegion) != nil {
		t.Errorf("CheckRegion: the home Region must be one of the regions (%v)", err)
	}
}

// TestSingleAccountHasNoOrganizationResources: without organizationId the
// stack is single-account mode's, as before organization mode existed (the
// other template tests pin it): no bus, no bus policy, no StackSet, no
// organization variables, no AssumeRole.
func TestSingleAccountHasNoOrganizationResources(t *testing.T) {
	for name, s := range map[string]*synthesized{"default": defaultStack(t), "cdk_json": synthCDKJSON(t)} {
		for _, typ := range []string{"AWS::Events::EventBus", "AWS::Events::EventBusPolicy", "AWS::CloudFormation::StackSet"} {
			if n := len(s.resources(typ)); n != 0 {
				t.Errorf("%s: %d %s", name, n, typ)
			}
		}
		env, tokens := s.functionEnv(t)
		for _, k := range []string{EnvOrganizationID, EnvMemberRoleName} {
			if _, ok := env[k]; ok || slices.Contains(tokens, k) {
				t.Errorf("%s: the function has $%s", name, k)
			}
		}
		// Not a word of it anywhere, metadata (cdk-nag's suppressions)
		// included: the template is single-account mode's as it was.
		raw, _ := json.Marshal(s.json)
		for _, word := range []string{"organization", "member"} {
			if strings.Contains(strings.ToLower(string(raw)), word) {
				t.Errorf("%s: the template mentions %q", name, word)
			}
		}
		allow, _ := policyStatements(t, s)
		for _, st := range allow {
			for _, a := range asList(st["Action"]) {
				if strings.HasPrefix(a.(string), "sts:") || strings.HasPrefix(a.(string), "organizations:") {
					t.Errorf("%s: the role is granted %s", name, a)
				}
			}
		}
	}
}

// TestOrgCentralStack: the central stack keeps single-account mode's
// resources and adds the organization's bus, open to the organization
// only, its rules, the StackSet, the function's organization variables
// and the AssumeRole grant.
func TestOrgCentralStack(t *testing.T) {
	o := synthOrg(t)
	s := o.central
	for typ, n := range map[string]int{
		"AWS::Lambda::Function": 1, "AWS::DynamoDB::Table": 1, "AWS::SNS::Topic": 1, "AWS::CloudWatch::Alarm": 4, "AWS::WAFv2::IPSet": 2,
		"AWS::Events::EventBus": 1, "AWS::Events::EventBusPolicy": 1, "AWS::CloudFormation::StackSet": 1,
		// default bus: GuardDuty, CloudTrail, reconcile; organization bus: GuardDuty, CloudTrail.
		"AWS::Events::Rule": 5,
	} {
		s.tpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n)))
	}
	env, _ := s.functionEnv(t)
	if env[EnvOrganizationID] != testOrg || env[EnvMemberRoleName] != DefaultMemberRoleName {
		t.Errorf("the function's organization variables: %v", env)
	}

	// The bus policy: PutEvents by a principal of the organization only.
	var busPolicy []map[string]any
	for _, p := range s.resources("AWS::Events::EventBusPolicy") {
		busPolicy = append(busPolicy, props(p)["Statement"].(map[string]any))
	}
	var busARN string
	for id := range s.resources("AWS::Events::EventBus") {
		busARN = "getatt:" + id + ".Arn"
	}
	for _, tc := range []struct {
		what string
		req  request
		want bool
	}{
		{"a member of the organization", request{action: "events:PutEvents", resource: busARN, context: map[string]string{"aws:PrincipalOrgID": testOrg}}, true},
		{"another organization", request{action: "events:PutEvents", resource: busARN, context: map[string]string{"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}, false},
		{"an account in no organization", request{action: "events:PutEvents", resource: busARN, context: map[string]string{}}, false},
		{"a member, another action", request{action: "events:PutRule", resource: busARN, context: map[string]string{"aws:PrincipalOrgID": testOrg}}, false},
	} {
		if got, why := s.evaluate(t, busPolicy, tc.req); got != tc.want {
			t.Errorf("bus policy, %s: allowed=%v (%s), want %v", tc.what, got, why, tc.want)
		}
	}

	// The StackSet: service-managed, deploying automatically to the OUs and
	// Regions of the context, with the central role and bus as parameters.
	s.tpl.HasResourceProperties(jsii.String("AWS::CloudFormation::StackSet"), map[string]any{
		"PermissionModel": "SERVICE_MANAGED",
		"CallAs":          "DELEGATED_ADMIN",
		"AutoDeployment":  map[string]any{"Enabled": true, "RetainStacksOnAccountRemoval": false},
		"Capabilities":    []any{"CAPABILITY_NAMED_IAM"},
		"StackInstancesGroup": []any{map[string]any{
			"DeploymentTargets": map[string]any{"OrganizationalUnitIds": []any{testOU1, testOU2}},
			"Regions":           []any{testRegion, testOtherReg},
		}},
	})
	for _, set := range s.resources("AWS::CloudFormation::StackSet") {
		params := map[string]string{}
		for _, p := range props(set)["Parameters"].([]any) {
			p := p.(map[string]any)
			params[p["ParameterKey"].(string)] = s.resolve(t, p["ParameterValue"])
		}
		if !strings.HasPrefix(params[memberParamRole], "getatt:Role") || !strings.HasPrefix(params[memberParamBus], "getatt:OrganizationBus") {
			t.Errorf("StackSet parameters %v: want the function's role and the organization bus", params)
		}
		if n := len(props(set)["TemplateBody"].(string)); n > maxTemplateBody {
			t.Errorf("member template body %d bytes", n)
		}
	}

	// The role may assume the member role of the organization's accounts,
	// and no other role.
	allow, deny := policyStatements(t, s)
	policy := append(allow, deny...)
	inOrg := map[string]string{"aws:ResourceOrgID": testOrg}
	for _, tc := range []struct {
		what     string
		resource string
		ctx      map[string]string
		want     bool
	}{
		{"a member's member role", "arn:aws:iam::" + testMember + ":role/" + DefaultMemberRoleName, inOrg, true},
		{"another role of a member", "arn:aws:iam::" + testMember + ":role/OrganizationAccountAccessRole", inOrg, false},
		{"the member role of an account outside", "arn:aws:iam::" + testMember + ":role/" + DefaultMemberRoleName, map[string]string{"aws:ResourceOrgID": "o-zzzzzzzzzz"}, false},
		{"a role whose organization is not known", "arn:aws:iam::" + testMember + ":role/" + DefaultMemberRoleName, map[string]string{}, false},
	} {
		if got, why := s.evaluate(t, policy, request{action: "sts:AssumeRole", resource: tc.resource, context: tc.ctx}); got != tc.want {
			t.Errorf("sts:AssumeRole on %s: allowed=%v (%s), want %v", tc.what, got, why, tc.want)
		}
	}
	for _, name := range []string{DefaultMemberRoleName, "OrganizationAccountAccessRole", "AWSControlTowerExecution"} {
		for _, action := range mutatingIAMActions() {
			res := "arn:aws:iam::" + testAccount + ":role/" + name
			if got, why := s.evaluate(t, policy, request{action: action, resource: res, context: map[string]string{"iam:PolicyARN": playbook.DefaultQuarantinePolicy("aws")}}); got {
				t.Errorf("the central role may %s on %s (%s)", action, res, why)
			}
		}
	}
	for _, tc := range []struct {
		resource string
		want     bool
	}{
		{"arn:aws:organizations::999999999999:account/" + testOrg + "/" + testMember, true},
		{"arn:aws:organizations::999999999999:account/o-zzzzzzzzzz/" + testMember, false},
	} {
		if got, why := s.evaluate(t, policy, request{action: "organizations:DescribeAccount", resource: tc.resource}); got != tc.want {
			t.Errorf("organizations:DescribeAccount on %s: allowed=%v (%s), want %v", tc.resource, got, why, tc.want)
		}
	}
	cfnLint(t, "organization_central", s)
}

// memberPolicy returns the member role and its inline policy's statements.
func memberPolicy(t *testing.T, m *synthesized) (map[string]any, []map[string]any) {
	t.Helper()
	roles := m.resources("AWS::IAM::Role")
	var role map[string]any
	for _, r := range roles {
		if props(r)["RoleName"] == DefaultMemberRoleName {
			role = r
		}
	}
	if role == nil {
		t.Fatalf("no role named %s in the member template", DefaultMemberRoleName)
	}
	var out []map[string]any
	for _, p := range props(role)["Policies"].([]any) {
		for _, st := range p.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	return role, out
}

// TestMemberTemplate: the member role trusts the central function's role
// only, exists in one Region, and may do in its own account exactly what
// the code declares (IAM and WAF), with the central role's denies; the two
// IP sets carry the contract's names.
func TestMemberTemplate(t *testing.T) {
	m := synthOrg(t).member
	role, policy := memberPolicy(t, m)
	if role["Condition"] != "MemberRoleRegion" {
		t.Errorf("the member role is created in every Region: condition %v", role["Condition"])
	}
	cond, _ := json.Marshal(m.json["Conditions"].(map[string]any)["MemberRoleRegion"])
	if !strings.Contains(string(cond), `"`+testRegion+`"`) {
		t.Errorf("the member role's Region: %s, want %s", cond, testRegion)
	}
	trust := props(role)["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
	if len(trust) != 1 {
		t.Fatalf("trust policy %v", trust)
	}
	tr := trust[0].(map[string]any)
	if tr["Action"] != "sts:AssumeRole" || tr["Effect"] != "Allow" || m.resolve(t, tr["Principal"].(map[string]any)["AWS"]) != "ref:"+memberParamRole {
		t.Errorf("the member role trusts %v, want only the central function's role (parameter %s)", tr, memberParamRole)
	}

	ctx := map[string]string{"iam:PolicyARN": playbook.DefaultQuarantinePolicy("aws")}
	own, other := "arn:aws:iam::"+testAccount+":", "arn:aws:iam::"+testMember+":"
	memberRole := own + "role/" + DefaultMemberRoleName
	declared := engine.Permissions()
	for _, action := range declared {
		svc, _, _ := strings.Cut(action, ":")
		var resource, elsewhere string
		cctx := ctx
		switch svc {
		case "iam":
			resource, elsewhere = own+"role/app", other+"role/app"
		case "wafv2":
			resource = "arn:aws:wafv2:" + testOtherReg + ":" + testAccount + ":regional/ipset/" + MemberIPSetV4 + "/1111"
			elsewhere = "arn:aws:wafv2:" + testOtherReg + ":" + testAccount + ":regional/ipset/someone-elses/2222"
		case "ec2":
			resource = ec2Call(action, testAccount).resource
			if e := ec2Call(action, testMember).resource; e != resource {
				elsewhere = e
			}
			cctx = ec2Call(action, testAccount).context
		default: // the ledger and the topic are the central account's
			resource = "arn:aws:" + svc + ":" + testRegion + ":" + testAccount + ":anything"
		}
		got, why := m.evaluate(t, policy, request{action: action, resource: resource, context: cctx})
		if want := svc == "iam" || svc == "wafv2" || svc == "ec2"; got != want {
			t.Errorf("%s on %s: allowed=%v (%s), want %v", action, resource, got, why, want)
		}
		if elsewhere != "" {
			if got, why := m.evaluate(t, policy, request{action: action, resource: elsewhere, context: cctx}); got {
				t.Errorf("%s on %s: allowed (%s): outside the member's account or its sets", action, elsewhere, why)
			}
		}
	}
	// Everything the function does inside a member is granted there.
	for _, action := range engine.MemberPermissions() {
		svc, _, _ := strings.Cut(action, ":")
		resource := own + "user/alice"
		mctx := ctx
		switch {
		case svc == "ec2":
			resource, mctx = ec2Call(action, testAccount).resource, ec2Call(action, testAccount).context
		case action == "wafv2:ListIPSets":
			resource = "*"
		case svc == "wafv2":
			resource = "arn:aws:wafv2:" + testOtherReg + ":" + testAccount + ":regional/ipset/" + MemberIPSetV6 + "/3333"
		}
		if got, why := m.evaluate(t, policy, request{action: action, resource: resource, context: mctx}); !got {
			t.Errorf("the function needs %s in a member, on %s: denied (%s)", action, resource, why)
		}
	}
	for _, tc := range []struct {
		what   string
		req    request
		want   bool
		reason string
	}{
		{"find the IP sets", request{action: "wafv2:ListIPSets", resource: "*"}, true, ""},
		{"delete a key", request{action: "iam:DeleteAccessKey", resource: own + "user/alice"}, false, "NeverDeleteAccessKeys"},
		{"change itself", request{action: "iam:PutRolePolicy", resource: memberRole}, false, "NeverChangeOwnRole"},
		{"change its trust", request{action: "iam:UpdateAssumeRolePolicy", resource: memberRole}, false, "NeverChangeOwnRole"},
		{"change a tagged principal", request{action: "iam:PutUserPolicy", resource: own + "user/alice",
			context: map[string]string{"iam:ResourceTag/" + protect.TagKey: "true"}}, false, sidDenyProtectedTag},
		{"attach another policy", request{action: "iam:AttachUserPolicy", resource: own + "user/alice",
			context: map[string]string{"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}}, false, ""},
		{"attach the quarantine policy", request{action: "iam:AttachUserPolicy", resource: own + "user/alice", context: ctx}, true, ""},
		{"assume a role", request{action: "sts:AssumeRole", resource: other + "role/x"}, false, ""},
		{"change the management account's role", request{action: "iam:PutRolePolicy", resource: own + "role/OrganizationAccountAccessRole"}, false, sidDenyOrganizationRoles},
		{"change Control Tower's role", request{action: "iam:UpdateAccessKey", resource: own + "role/AWSControlTowerExecution"}, false, ""},
	} {
		got, why := m.evaluate(t, policy, tc.req)
		if got != tc.want || (tc.reason != "" && !strings.Contains(why, tc.reason)) {
			t.Errorf("%s: allowed=%v (%s), want %v %s", tc.what, got, why, tc.want, tc.reason)
		}
	}
	// Protect patterns reach the member role's denies too.
	ctxP := orgContext()
	ctxP["protect"] = "arn:aws:iam::*:role/break-glass-*"
	cfg, err := configFromMap(ctxP)
	if err != nil {
		t.Fatal(err)
	}
	body, err := memberTemplate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withProtect := &synthesized{}
	if err := json.Unmarshal([]byte(body), &withProtect.json); err != nil {
		t.Fatal(err)
	}
	_, pp := memberPolicy(t, withProtect)
	// Every IAM change the role holds is denied on a tagged principal
	// (padded values included) and on a protect pattern's; every EC2
	// change on a tagged instance: the central role's denies, evaluated
	// as TestRoleCannotChangeProtectedPrincipals and
	// TestRoleIsolatesOnlyAsDeclared evaluate them.
	for _, action := range mutatingIAMActions() {
		for _, principal := range []string{"user/alice", "role/app"} {
			for _, v := range paddedProtectValues {
				req := request{action: action, resource: own + principal, context: map[string]string{
					"iam:PolicyARN": playbook.DefaultQuarantinePolicy("aws"), "iam:ResourceTag/" + protect.TagKey: v}}
				if got, why := m.evaluate(t, policy, req); got || !strings.Contains(why, sidDenyProtectedTag) {
					t.Errorf("%s on %s tagged %s=%q: allowed=%v (%s), want denied by %s", action, principal, protect.TagKey, v, got, why, sidDenyProtectedTag)
				}
			}
		}
		req := request{action: action, resource: own + "role/break-glass-1", context: ctx}
		if got, why := withProtect.evaluate(t, pp, req); got || !strings.Contains(why, sidDenyProtectedPatterns) {
			t.Errorf("%s on a protect pattern's role: allowed=%v (%s), want denied by %s", action, got, why, sidDenyProtectedPatterns)
		}
		if got, why := withProtect.evaluate(t, pp, request{action: action, resource: own + "role/app", context: ctx}); !got {
			t.Errorf("%s on an ordinary role with protect patterns: denied (%s)", action, why)
		}
	}
	instance := "arn:aws:ec2:" + testOtherReg + ":" + testAccount + ":instance/i-0123456789abcdef0"
	for _, action := range []string{"ec2:ModifyNetworkInterfaceAttribute", "ec2:CreateTags", "ec2:DeleteTags"} {
		keys := map[string]string{"aws:TagKeys": contain.TagIsolatedBy + "," + contain.TagIsolatedAt}
		if got, why := m.evaluate(t, policy, request{action: action, resource: instance, context: keys}); !got {
			t.Errorf("%s on an instance: denied (%s)", action, why)
		}
		for _, v := range paddedProtectValues {
			req := request{action: action, resource: instance, context: map[string]string{
				"aws:TagKeys": contain.TagIsolatedBy + "," + contain.TagIsolatedAt, "aws:ResourceTag/" + protect.TagKey: v}}
			if got, why := m.evaluate(t, policy, req); got || !strings.Contains(why, sidDenyProtectedInstance) {
				t.Errorf("%s on an instance tagged %s=%q: allowed=%v (%s), want denied by %s", action, protect.TagKey, v, got, why, sidDenyProtectedInstance)
			}
		}
	}

	// The IP sets the function finds by name.
	for name, version := range map[string]string{MemberIPSetV4: "IPV4", MemberIPSetV6: "IPV6"} {
		found := false
		for _, set := range m.resources("AWS::WAFv2::IPSet") {
			p := props(set)
			found = found || (p["Name"] == name && p["IPAddressVersion"] == version && p["Scope"] == "REGIONAL")
		}
		if !found {
			t.Errorf("no REGIONAL %s IP set named %s", version, name)
		}
	}
	// No CDK bootstrap artifacts: the members are not bootstrapped.
	if _, ok := m.json["Rules"]; ok {
		t.Errorf("the member template checks a CDK bootstrap version")
	}
	for name := range m.json["Parameters"].(map[string]any) {
		if name != memberParamRole && name != memberParamBus {
			t.Errorf("the member template has parameter %s", name)
		}
	}
	raw, _ := json.Marshal(m.json)
	t.Logf("member template: %d bytes (CloudFormation takes %d)", len(raw), maxTemplateBody)
	cfnLint(t, "organization_member", m)
}

// TestOrgForwarders: a forwarder in each Region but the home one; every
// forwarding rule's target is the organization bus, through a role that
// may put events there only, with a dead-letter queue of its own template
// that EventBridge may write to and an alarm watches (forwardsToDeadLetters),
// in the forwarders and the member template.
func TestOrgForwarders(t *testing.T) {
	o := synthOrg(t)
	if len(o.forwarders) != 1 || o.forwarders[testOtherReg] == nil {
		t.Fatalf("forwarders in %v, want only %s", slices.Collect(mapsKeys(o.forwarders)), testOtherReg)
	}
	for name, s := range map[string]*synthesized{"forwarder": o.forwarders[testOtherReg], "member": o.member} {
		rules := s.resources("AWS::Events::Rule")
		if len(rules) == 0 {
			t.Fatalf("%s: no forwarding rule", name)
		}
		for id, r := range rules {
			tg := props(r)["Targets"].([]any)[0].(map[string]any)
			arn := s.resolve(t, tg["Arn"])
			want := "ref:" + memberParamBus
			if name == "forwarder" {
				want = "arn:aws:events:" + testRegion + ":" + testAccount + ":event-bus/" + orgBusName("Autocontain")
			}
			if arn != want || tg["RoleArn"] == nil {
				t.Errorf("%s rule %s forwards to %s (role %v), want %s through a role", name, id, arn, tg["RoleArn"], want)
			}
			forwardsToDeadLetters(t, name, s, id, tg)
		}
		allow, deny := policyStatements(t, s)
		want := "ref:" + memberParamBus
		if name == "forwarder" {
			want = "arn:aws:events:" + testRegion + ":" + testAccount + ":event-bus/" + orgBusName("Autocontain")
		}
		if got, why := s.evaluate(t, append(allow, deny...), request{action: "events:PutEvents", resource: want}); !got {
			t.Errorf("%s: the forwarding role may not put events on the bus (%s)", name, why)
		}
		if got, _ := s.evaluate(t, append(allow, deny...), request{action: "events:PutEvents", resource: "arn:aws:events:" + testRegion + ":" + testAccount + ":event-bus/default"}); got {
			t.Errorf("%s: the forwarding role may put events on another bus", name)
		}
	}
	cfnLint(t, "organization_forwarder", o.forwarders[testOtherReg])
}

// forwardsToDeadLetters: the target tg of rule id sends what the bus
// refuses to an SQS queue of the same template, encrypted, kept 14 days,
// TLS only, that EventBridge may write to for this rule only; an alarm
// fires on one message in it.
func forwardsToDeadLetters(t *testing.T, name string, s *synthesized, id string, tg map[string]any) {
	t.Helper()
	dlc, _ := tg["DeadLetterConfig"].(map[string]any)
	arn, _ := dlc["Arn"].(map[string]any)
	ga, _ := arn["Fn::GetAtt"].([]any)
	if len(ga) != 2 || ga[1] != "Arn" {
		t.Errorf("%s rule %s: target without a dead-letter queue of this template (%v): a refused event is dropped", name, id, tg["DeadLetterConfig"])
		return
	}
	qid := ga[0].(string)
	q, ok := s.resources("AWS::SQS::Queue")[qid]
	if !ok {
		t.Errorf("%s rule %s: dead-letter queue %s is not in the template", name, id, qid)
		return
	}
	if p := props(q); p["SqsManagedSseEnabled"] != true || p["MessageRetentionPeriod"] != float64(14*24*3600) {
		t.Errorf("%s: dead-letter queue %s: %v, want SQS-managed encryption and 14 days", name, qid, p)
	}
	queue := s.resolve(t, dlc["Arn"])
	var policy []map[string]any
	for _, qp := range s.resources("AWS::SQS::QueuePolicy") {
		for _, ref := range asList(props(qp)["Queues"]) {
			if r, _ := ref.(map[string]any); r["Ref"] == qid {
				for _, st := range props(qp)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					policy = append(policy, st.(map[string]any))
				}
			}
		}
	}
	send := func(rule, secure string) request {
		return request{service: "events.amazonaws.com", action: "sqs:SendMessage", resource: queue,
			context: map[string]string{"aws:SourceArn": "getatt:" + rule + ".Arn", "aws:SecureTransport": secure}}
	}
	if got, why := s.evaluate(t, policy, send(id, "true")); !got {
		t.Errorf("%s rule %s: EventBridge may not send to dead-letter queue %s (%s)", name, id, qid, why)
	}
	if got, why := s.evaluate(t, policy, send("SomeoneElsesRule", "true")); got {
		t.Errorf("%s: another rule may send to dead-letter queue %s (%s)", name, qid, why)
	}
	if got, why := s.evaluate(t, policy, send(id, "false")); got {
		t.Errorf("%s: dead-letter queue %s takes messages without TLS (%s)", name, qid, why)
	}
	watched := false
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		p := props(a)
		for _, d := range asList(p["Dimensions"]) {
			v, _ := d.(map[string]any)["Value"].(map[string]any)
			ref, _ := v["Fn::GetAtt"].([]any)
			watched = watched || (len(ref) == 2 && ref[0] == qid && ref[1] == "QueueName" &&
				p["MetricName"] == "ApproximateNumberOfMessagesVisible" && p["Namespace"] == "AWS/SQS" &&
				p["Threshold"] == float64(1) && p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold")
		}
	}
	if !watched {
		t.Errorf("%s: no alarm on a message in dead-letter queue %s", name, qid)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// rulePatternsOf returns a template's rules' patterns by rule id, with
// the account reference replaced by account.
func rulePatternsOf(t *testing.T, s *synthesized, account string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, r := range s.resources("AWS::Events::Rule") {
		if p, ok := props(r)["EventPattern"]; ok {
			raw, err := patterns.Compact(p.(map[string]any))
			if err != nil {
				t.Fatal(err)
			}
			out[id] = strings.ReplaceAll(raw, accountRef, `"`+account+`"`)
		}
	}
	return out
}

// onBus splits the central stack's patterns by bus: the default bus's and
// the organization bus's.
func onBus(t *testing.T, s *synthesized) (defaultBus, orgBus map[string]string) {
	t.Helper()
	all := rulePatternsOf(t, s, testAccount)
	defaultBus, orgBus = map[string]string{}, map[string]string{}
	for id, r := range s.resources("AWS::Events::Rule") {
		if _, ok := all[id]; !ok {
			continue
		}
		if props(r)["EventBusName"] == nil {
			defaultBus[id] = all[id]
		} else {
			orgBus[id] = all[id]
		}
	}
	return defaultBus, orgBus
}

// asAccount is raw with its envelope's account (and, for GuardDuty,
// detail.accountId when detail is set) changed, and its detail-type.
func asAccount(t *testing.T, raw []byte, envelope, detail string) (string, string) {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["account"] = envelope
	if d, ok := ev["detail"].(map[string]any); ok && detail != "" {
		d["accountId"] = detail
	}
	out, _ := json.Marshal(ev)
	return string(out), ev["detail-type"].(string)
}

// TestOrgEventRuler runs every bus's patterns through event-ruler with the
// sample events as each bus receives them: the default bus, the central
// account's own events and its members' GuardDuty findings (GuardDuty's
// administrator aggregation); the organization bus, the members'
// forwarded CloudTrail events and the central account's GuardDuty findings
// forwarded from other Regions; a member's default bus, its own events,
// whose CloudTrail part is forwarded; the forwarder's, the findings of its
// Region. Each must be matched exactly when the playbook acts on it, by one
// rule.
func TestOrgEventRuler(t *testing.T) {
	o := synthOrg(t)
	acts := map[string]bool{} // by sample, as single-account mode decides
	for name, r := range sampleEvents(t, DefaultConfig()) {
		acts[name] = r.Want
	}
	defaultBus, orgBus := onBus(t, o.central)
	cases := map[string]struct {
		ps     map[string]string
		events map[string]ruled
	}{
		"default_bus": {defaultBus, map[string]ruled{}}, "organization_bus": {orgBus, map[string]ruled{}},
		"member":    {rulePatternsOf(t, o.member, testMember), map[string]ruled{}},
		"forwarder": {rulePatternsOf(t, o.forwarders[testOtherReg], testAccount), map[string]ruled{}},
	}
	for _, ev := range testenv.SampleEvents(t) {
		name := filepath.Base(ev.Path)
		if strings.HasPrefix(name, "member:") {
			continue
		}
		own, detailType := asAccount(t, ev.Raw, testAccount, "")
		guardDuty := detailType == "GuardDuty Finding"
		ofMember, _ := asAccount(t, ev.Raw, testMember, testMember)
		aggregated, _ := asAccount(t, ev.Raw, testAccount, testMember)
		want := acts[name]
		cases["default_bus"].events["own:"+name] = ruled{own, want}
		cases["organization_bus"].events["own:"+name] = ruled{own, want && guardDuty}
		cases["member"].events["own:"+name] = ruled{ofMember, want && !guardDuty}
		cases["forwarder"].events["own:"+name] = ruled{own, want && guardDuty}
		if guardDuty {
			cases["default_bus"].events["aggregated:"+name] = ruled{aggregated, want}
			cases["forwarder"].events["aggregated:"+name] = ruled{aggregated, want}
			cases["organization_bus"].events["aggregated:"+name] = ruled{aggregated, want}
		} else {
			cases["default_bus"].events["member:"+name] = ruled{ofMember, false}
			cases["organization_bus"].events["member:"+name] = ruled{ofMember, want}
			// The central account's events of another Region, forwarded
			// by its own member stack: no default-bus rule here sees them.
			var ev map[string]any
			_ = json.Unmarshal([]byte(own), &ev)
			ev["region"] = testOtherReg
			elsewhere, _ := json.Marshal(ev)
			cases["organization_bus"].events["own-elsewhere:"+name] = ruled{string(elsewhere), want}
		}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if len(c.ps) == 0 {
				t.Fatal("no patterns")
			}
			t.Logf("pattern sizes: %v", eventRuler(t, c.ps, c.events))
		})
	}
}
