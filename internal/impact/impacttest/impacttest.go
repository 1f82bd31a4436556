// Package impacttest builds, in the emulator, IAM users and roles of every
// impact class, granted through every kind of policy (attached managed,
// inline, a group's attached and inline), for the tests of package impact
// and of the keys command.
package impacttest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/finding"
)

// Policy documents of each class.
const (
	Admin      = `{"Version":"2012-10-17","Statement":[{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"}]}`
	Escalation = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["iam:PassRole","ec2:RunInstances"],"Resource":"*"}}`
	ListAll    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`
	Scoped     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::app-data/*"}]}`
	trust      = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

// Want is what the lookup must say of one user or role.
type Want struct {
	Kind, Name string
	Class      finding.ImpactClass
	// Why is a part of the reason: the policy that decided.
	Why string
	// Keys is how many access keys the user has.
	Keys int
}

// Account is what Seed built.
type Account struct {
	Wants []Want
	// KeyIDs are each user's access key ids.
	KeyIDs map[string][]string
}

// Seed creates the users and roles of Wants in the emulator cfg reaches.
// Every user but "no-keys" has an access key; "scoped-sam" has two, the
// second inactive.
func Seed(t testing.TB, cfg aws.Config) Account {
	t.Helper()
	ctx := context.Background()
	c := iam.NewFromConfig(cfg)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	managed := map[string]string{}
	for name, doc := range map[string]string{"all": Admin, "lister": ListAll, "scoped-a": Scoped, "scoped-b": Scoped, "scoped-c": Scoped} {
		out, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
		must("CreatePolicy "+name, err)
		managed[name] = aws.ToString(out.Policy.Arn)
	}
	groups := map[string]func(g *string){
		"admins": func(g *string) {
			_, err := c.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: g, PolicyArn: aws.String(managed["all"])})
			must("attach all", err)
		},
		"deployers": func(g *string) {
			_, err := c.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: g, PolicyName: aws.String("pass"), PolicyDocument: aws.String(Escalation)})
			must("put pass", err)
		},
		"readers": func(g *string) {
			_, err := c.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: g, PolicyArn: aws.String(managed["scoped-a"])})
			must("attach scoped", err)
		},
	}
	for name, grant := range groups {
		_, err := c.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(name)})
		must("CreateGroup "+name, err)
		grant(aws.String(name))
	}
	acct := Account{KeyIDs: map[string][]string{}}
	user := func(name string, keys int, grant func(u *string)) {
		u := aws.String(name)
		_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: u})
		must("CreateUser "+name, err)
		grant(u)
		for i := range keys {
			out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: u})
			must("CreateAccessKey", err)
			acct.KeyIDs[name] = append(acct.KeyIDs[name], aws.ToString(out.AccessKey.AccessKeyId))
			if i == 1 {
				_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: u, AccessKeyId: out.AccessKey.AccessKeyId, Status: "Inactive"})
				must("UpdateAccessKey", err)
			}
		}
	}
	inline := func(doc string) func(u *string) {
		return func(u *string) {
			_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: u, PolicyName: aws.String("inline"), PolicyDocument: aws.String(doc)})
			must("PutUserPolicy", err)
		}
	}
	attach := func(names ...string) func(u *string) {
		return func(u *string) {
			for _, n := range names {
				_, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: u, PolicyArn: aws.String(managed[n])})
				must("AttachUserPolicy "+n, err)
			}
		}
	}
	join := func(groups ...string) func(u *string) {
		return func(u *string) {
			for _, g := range groups {
				_, err := c.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: u, GroupName: aws.String(g)})
				must("AddUserToGroup "+g, err)
			}
		}
	}
	both := func(fs ...func(u *string)) func(u *string) {
		return func(u *string) {
			for _, f := range fs {
				f(u)
			}
		}
	}
	user("admin-inline", 1, inline(Admin))
	// Three scoped managed policies before the one that decides: with a
	// page size of one, the lookup must follow the markers to find it.
	user("admin-managed", 1, attach("scoped-a", "scoped-b", "scoped-c", "all"))
	user("admin-by-group", 1, join("readers", "admins"))
	user("escalator", 1, join("readers", "deployers"))
	user("lister", 1, both(attach("lister"), inline(Scoped)))
	user("scoped-sam", 2, both(inline(Scoped), attach("scoped-b"), join("readers")))
	user("no-keys", 0, inline(Admin))

	for name, grant := range map[string]func(r *string){
		"ops": func(r *string) {
			_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: r, PolicyName: aws.String("pass"), PolicyDocument: aws.String(Escalation)})
			must("PutRolePolicy", err)
		},
		"reader": func(r *string) {
			_, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: r, PolicyArn: aws.String(managed["lister"])})
			must("AttachRolePolicy", err)
		},
		"boss": func(r *string) {
			_, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: r, PolicyArn: aws.String(managed["all"])})
			must("AttachRolePolicy", err)
		},
	} {
		_, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
		must("CreateRole "+name, err)
		grant(aws.String(name))
	}
	acct.Wants = []Want{
		{"user", "admin-inline", finding.ImpactAdmin, "inline policy inline of user admin-inline: statement 1 (Everything) allows * on *", 1},
		{"user", "admin-managed", finding.ImpactAdmin, "managed policy all of user admin-managed", 1},
		{"user", "admin-by-group", finding.ImpactAdmin, "managed policy all of group admins", 1},
		{"user", "escalator", finding.ImpactEscalation, "inline policy pass of group deployers: statement 1 allows iam:PassRole on *", 1},
		{"user", "lister", finding.ImpactListAll, "managed policy lister of user lister", 1},
		{"user", "scoped-sam", finding.ImpactScoped, "no policy grants", 2},
		{"user", "no-keys", finding.ImpactAdmin, "", 0},
		{"role", "ops", finding.ImpactEscalation, "inline policy pass of role ops", 0},
		{"role", "reader", finding.ImpactListAll, "managed policy lister of role reader", 0},
		{"role", "boss", finding.ImpactAdmin, "managed policy all of role boss", 0},
	}
	return acct
}
