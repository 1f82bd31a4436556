package testenv

// These tests pin down what moto 5.2.5 does where the product depends on
// it, including where it differs from AWS. docs/moto-notes.md explains
// each; when one fails after a moto upgrade, update both.

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go"
)

// account is moto's default account ID.
const account = "123456789012"

// wantCode fails the test unless err is an API error with code (and, if
// status is not 0, that HTTP status).
func wantCode(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != code {
		t.Errorf("%s: %v, want error code %s", what, err, code)
		return
	}
	var resp *awshttp.ResponseError
	if status != 0 && (!errors.As(err, &resp) || resp.HTTPStatusCode() != status) {
		t.Errorf("%s: %v, want HTTP status %d", what, err, status)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestMotoIAM(t *testing.T) {
	emu := Moto(t)
	c := iam.NewFromConfig(emu.Config(t))
	ctx := context.Background()
	tags := []iamtypes.Tag{{Key: aws.String("autocontain:protected"), Value: aws.String("true")}}
	must[*iam.CreateUserOutput](t, "CreateUser")(c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/ops/"), Tags: tags}))
	must[*iam.CreateUserOutput](t, "CreateUser")(c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")}))

	t.Run("access_keys", func(t *testing.T) {
		key := must[*iam.CreateAccessKeyOutput](t, "CreateAccessKey")(c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})).AccessKey
		if key.Status != iamtypes.StatusTypeActive || !strings.HasPrefix(*key.AccessKeyId, "AKIA") {
			t.Errorf("new key %s is %s, want AKIA… Active", *key.AccessKeyId, key.Status)
		}
		update := func(user, id string, status iamtypes.StatusType) error {
			in := &iam.UpdateAccessKeyInput{AccessKeyId: &id, Status: status}
			if user != "" {
				in.UserName = &user
			}
			_, err := c.UpdateAccessKey(ctx, in)
			return err
		}
		status := func() iamtypes.StatusType {
			out := must[*iam.ListAccessKeysOutput](t, "ListAccessKeys")(c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")}))
			return out.AccessKeyMetadata[0].Status
		}
		for range 2 { // deactivating twice is fine
			if err := update("alice", *key.AccessKeyId, iamtypes.StatusTypeInactive); err != nil {
				t.Fatalf("UpdateAccessKey: %v", err)
			}
		}
		if s := status(); s != iamtypes.StatusTypeInactive {
			t.Errorf("status %s after deactivation, want Inactive", s)
		}
		wantCode(t, "key of another user", update("bob", *key.AccessKeyId, iamtypes.StatusTypeInactive), "NoSuchEntity", 404)
		wantCode(t, "unknown key", update("alice", "AKIAUNKNOWN000000000", iamtypes.StatusTypeInactive), "NoSuchEntity", 404)
		wantCode(t, "unknown user", update("nobody", *key.AccessKeyId, iamtypes.StatusTypeInactive), "NoSuchEntity", 404)
		_, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")})
		wantCode(t, "ListAccessKeys of an unknown user", err, "NoSuchEntity", 404)
		// Unlike IAM: no UserName means the key's owner (IAM: the caller),
		// and any status string is stored (IAM: ValidationError).
		if err := update("", *key.AccessKeyId, iamtypes.StatusTypeActive); err != nil || status() != iamtypes.StatusTypeActive {
			t.Errorf("UpdateAccessKey without UserName: %v, status %s; want the owner's key updated", err, status())
		}
		if err := update("alice", *key.AccessKeyId, "Bogus"); err != nil || status() != "Bogus" {
			t.Errorf("UpdateAccessKey with status Bogus: %v, status %s; want it stored", err, status())
		}
		must[*iam.CreateAccessKeyOutput](t, "second key")(c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")}))
		_, err = c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
		wantCode(t, "third key", err, "LimitExceeded", 409)
	})

	t.Run("inline_policies", func(t *testing.T) {
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",` +
			`"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}}]}`
		trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
		role := must[*iam.CreateRoleOutput](t, "CreateRole")(c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("web"), Path: aws.String("/app/"),
			AssumeRolePolicyDocument: &trust, Tags: tags})).Role
		must[*iam.PutUserPolicyOutput](t, "PutUserPolicy")(c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p"), PolicyDocument: &doc}))
		must[*iam.PutRolePolicyOutput](t, "PutRolePolicy")(c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("web"), PolicyName: aws.String("p"), PolicyDocument: &doc}))
		user := must[*iam.GetUserPolicyOutput](t, "GetUserPolicy")(c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p")}))
		rolep := must[*iam.GetRolePolicyOutput](t, "GetRolePolicy")(c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("web"), PolicyName: aws.String("p")}))
		getRole := must[*iam.GetRoleOutput](t, "GetRole")(c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("web")}))
		// Every document comes back URL-encoded, as from IAM; the SDK does
		// not decode it. Decoded, it is the JSON that was sent, with moto's
		// spacing (compare parsed, never as text).
		for what, got := range map[string]struct{ encoded, sent string }{
			"GetUserPolicy":    {*user.PolicyDocument, doc},
			"GetRolePolicy":    {*rolep.PolicyDocument, doc},
			"CreateRole trust": {*role.AssumeRolePolicyDocument, trust},
			"GetRole trust":    {*getRole.Role.AssumeRolePolicyDocument, trust},
		} {
			if !strings.HasPrefix(got.encoded, "%7B") {
				t.Errorf("%s: %.40q… is not URL-encoded", what, got.encoded)
			}
			dec, err := url.QueryUnescape(got.encoded)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			var a, b any
			if json.Unmarshal([]byte(dec), &a) != nil || json.Unmarshal([]byte(got.sent), &b) != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("%s decodes to %s, want %s", what, dec, got.sent)
			}
		}
		_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("bad"), PolicyDocument: aws.String("not json")})
		wantCode(t, "malformed document", err, "MalformedPolicyDocument", 400)
		_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("nobody"), PolicyName: aws.String("p"), PolicyDocument: &doc})
		wantCode(t, "policy of an unknown user", err, "NoSuchEntity", 404)
		_, err = c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("none")})
		wantCode(t, "missing policy", err, "NoSuchEntity", 404)
		_, err = c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("web"), PolicyName: aws.String("none")})
		wantCode(t, "delete missing policy", err, "NoSuchEntity", 404)
		// IAM limits a user's inline policies to 2,048 characters in all;
		// moto does not.
		big := `{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("a", 11000) + `","Effect":"Deny","Action":"*","Resource":"*"}]}`
		if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("big"), PolicyDocument: &big}); err != nil {
			t.Errorf("11,000-character user policy: %v, want it accepted", err)
		}
	})

	t.Run("tags_paths_identity", func(t *testing.T) {
		user := must[*iam.GetUserOutput](t, "GetUser")(c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})).User
		if *user.Arn != "arn:aws:iam::"+account+":user/ops/alice" || *user.Path != "/ops/" || len(user.Tags) != 1 {
			t.Errorf("GetUser: %s path %s tags %d", *user.Arn, *user.Path, len(user.Tags))
		}
		ut := must[*iam.ListUserTagsOutput](t, "ListUserTags")(c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("alice")}))
		rt := must[*iam.ListRoleTagsOutput](t, "ListRoleTags")(c.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String("web")}))
		for what, got := range map[string][]iamtypes.Tag{"user": ut.Tags, "role": rt.Tags} {
			if len(got) != 1 || *got[0].Key != "autocontain:protected" || *got[0].Value != "true" {
				t.Errorf("%s tags %v", what, got)
			}
		}
		if none := must[*iam.ListUserTagsOutput](t, "ListUserTags")(c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("bob")})); len(none.Tags) != 0 {
			t.Errorf("untagged user has tags %v", none.Tags)
		}
		_, err := c.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String("nobody")})
		wantCode(t, "tags of an unknown role", err, "NoSuchEntity", 404)
		me := must[*iam.GetUserOutput](t, "GetUser of the caller")(c.GetUser(ctx, &iam.GetUserInput{}))
		if *me.User.Arn != "arn:aws:iam::"+account+":user/default_user" {
			t.Errorf("caller is %s", *me.User.Arn)
		}
	})
}

func TestMotoWAFv2(t *testing.T) {
	emu := Moto(t)
	w := wafv2.NewFromConfig(emu.Config(t))
	ctx := context.Background()
	create := func(name string, scope waftypes.Scope) *waftypes.IPSetSummary {
		return must[*wafv2.CreateIPSetOutput](t, "CreateIPSet")(w.CreateIPSet(ctx, &wafv2.CreateIPSetInput{Name: &name, Scope: scope,
			IPAddressVersion: waftypes.IPAddressVersionIpv4, Addresses: []string{"192.0.2.1/32"}})).Summary
	}
	set := create("blocked", waftypes.ScopeRegional)
	get := func(name string, id *string, scope waftypes.Scope) (*wafv2.GetIPSetOutput, error) {
		return w.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: &name, Id: id, Scope: scope})
	}
	update := func(token string, addrs ...string) (string, error) {
		out, err := w.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{Name: aws.String("blocked"), Id: set.Id, Scope: waftypes.ScopeRegional,
			LockToken: &token, Addresses: append([]string{}, addrs...)})
		if err != nil {
			return token, err
		}
		return *out.NextLockToken, nil
	}

	t.Run("arns", func(t *testing.T) {
		uuid := `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
		if re := regexp.MustCompile(`^arn:aws:wafv2:us-east-1:` + account + `:regional/ipset/blocked/` + uuid + `$`); !re.MatchString(*set.ARN) || !strings.HasSuffix(*set.ARN, *set.Id) {
			t.Errorf("regional ARN %s", *set.ARN)
		}
		edge := create("edge", waftypes.ScopeCloudfront)
		if re := regexp.MustCompile(`^arn:aws:wafv2:us-east-1:` + account + `:global/ipset/edge/` + uuid + `$`); !re.MatchString(*edge.ARN) {
			t.Errorf("CLOUDFRONT ARN %s", *edge.ARN)
		}
		if _, err := get("edge", edge.Id, waftypes.ScopeCloudfront); err != nil {
			t.Errorf("GetIPSet CLOUDFRONT: %v", err)
		}
		_, err := get("edge", edge.Id, waftypes.ScopeRegional)
		wantCode(t, "CLOUDFRONT set asked for as REGIONAL", err, "WAFNonexistentItemException", 400)
		_, err = get("other-name", set.Id, waftypes.ScopeRegional)
		wantCode(t, "right ID, wrong name", err, "WAFNonexistentItemException", 400)
		// WAF refuses a second set of the same name and scope; moto makes it.
		if _, err := w.CreateIPSet(ctx, &wafv2.CreateIPSetInput{Name: aws.String("blocked"), Scope: waftypes.ScopeRegional,
			IPAddressVersion: waftypes.IPAddressVersionIpv4, Addresses: []string{}}); err != nil {
			t.Errorf("duplicate name: %v, want it accepted", err)
		}
	})

	t.Run("lock_token_enforced", func(t *testing.T) {
		cur := must[*wafv2.GetIPSetOutput](t, "GetIPSet")(get("blocked", set.Id, waftypes.ScopeRegional))
		tok := *cur.LockToken
		// moto's tokens are 6 hex characters (WAF's are UUIDs).
		if !regexp.MustCompile(`^[0-9a-f]{6}$`).MatchString(tok) || tok != *set.LockToken {
			t.Errorf("lock token %q (CreateIPSet's %q)", tok, *set.LockToken)
		}
		next, err := update(tok, "192.0.2.1/32")
		if err != nil || next == tok {
			t.Fatalf("update with the current token: %v; next token %q (was %q), want a new one even for no change", err, next, tok)
		}
		_, err = update(tok, "203.0.113.9/32")
		var lock *waftypes.WAFOptimisticLockException
		if !errors.As(err, &lock) {
			t.Errorf("update with a stale token: %v, want *types.WAFOptimisticLockException", err)
		}
		wantCode(t, "stale token", err, "WAFOptimisticLockException", 400)
		if _, err := update("", "203.0.113.9/32"); !errors.As(err, &lock) {
			t.Errorf("update with an empty token: %v, want WAFOptimisticLockException", err)
		}
		after := must[*wafv2.GetIPSetOutput](t, "GetIPSet")(get("blocked", set.Id, waftypes.ScopeRegional))
		if *after.LockToken != next || !slices.Equal(after.IPSet.Addresses, []string{"192.0.2.1/32"}) {
			t.Errorf("after refused updates: token %s, addresses %v", *after.LockToken, after.IPSet.Addresses)
		}
	})

	t.Run("addresses_not_validated", func(t *testing.T) {
		// WAF rejects all of these (WAFInvalidParameterException) except
		// duplicates, which it folds; moto stores them verbatim, in order.
		tok := *must[*wafv2.GetIPSetOutput](t, "GetIPSet")(get("blocked", set.Id, waftypes.ScopeRegional)).LockToken
		for _, addrs := range [][]string{
			{"not-an-ip"}, {"192.0.2.7"}, {"0.0.0.0/0"}, {"192.0.2.7/24"}, {"2001:db8::1/128"},
			{"198.51.100.2/32", "192.0.2.1/32", "192.0.2.1/32"},
		} {
			var err error
			if tok, err = update(tok, addrs...); err != nil {
				t.Errorf("%v: %v, want it accepted", addrs, err)
				continue
			}
			if got := must[*wafv2.GetIPSetOutput](t, "GetIPSet")(get("blocked", set.Id, waftypes.ScopeRegional)).IPSet.Addresses; !slices.Equal(got, addrs) {
				t.Errorf("stored %v, sent %v", got, addrs)
			}
		}
		many := make([]string, 10001) // WAF's limit is 10,000 per set
		for i := range many {
			many[i] = fmt.Sprintf("10.%d.%d.%d/32", i/65536, i/256%256, i%256)
		}
		if _, err := update(tok, many...); err != nil {
			t.Errorf("10,001 addresses: %v, want them accepted", err)
		}
	})
}

// queue makes an SQS queue and returns its URL and ARN.
func queue(t *testing.T, q *sqs.Client, name string) (string, string) {
	t.Helper()
	ctx := context.Background()
	u := must[*sqs.CreateQueueOutput](t, "CreateQueue")(q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})).QueueUrl
	attrs := must[*sqs.GetQueueAttributesOutput](t, "GetQueueAttributes")(q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}}))
	return *u, attrs.Attributes["QueueArn"]
}

// receive returns the bodies of the messages waiting in the queue.
func receive(t *testing.T, q *sqs.Client, u string) []string {
	t.Helper()
	var bodies []string
	for {
		out := must[*sqs.ReceiveMessageOutput](t, "ReceiveMessage")(q.ReceiveMessage(context.Background(),
			&sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 10, VisibilityTimeout: 30}))
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, *m.Body)
		}
	}
}

func TestMotoSNS(t *testing.T) {
	emu := Moto(t)
	cfg := emu.Config(t)
	s, q := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	ctx := context.Background()
	topic := must[*sns.CreateTopicOutput](t, "CreateTopic")(s.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})).TopicArn
	if *topic != "arn:aws:sns:us-east-1:"+account+":alerts" {
		t.Errorf("topic ARN %s", *topic)
	}
	if again := must[*sns.CreateTopicOutput](t, "CreateTopic")(s.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})).TopicArn; *again != *topic {
		t.Errorf("CreateTopic again made %s", *again)
	}
	rawURL, rawARN := queue(t, q, "raw")
	envURL, envARN := queue(t, q, "envelope")
	for arn, raw := range map[string]string{rawARN: "true", envARN: "false"} {
		must[*sns.SubscribeOutput](t, "Subscribe")(s.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic, Protocol: aws.String("sqs"),
			Endpoint: aws.String(arn), Attributes: map[string]string{"RawMessageDelivery": raw}}))
	}
	msg := `{"action":"contained"}`
	id := must[*sns.PublishOutput](t, "Publish")(s.Publish(ctx, &sns.PublishInput{TopicArn: topic, Message: &msg, Subject: aws.String("Contained")})).MessageId
	_, err := s.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:" + account + ":missing"), Message: &msg})
	wantCode(t, "Publish to a missing topic", err, "NotFound", 404)

	if got := receive(t, q, rawURL); !slices.Equal(got, []string{msg}) {
		t.Errorf("raw delivery: %q, want the message alone", got)
	}
	env := receive(t, q, envURL)
	var n struct{ Type, MessageId, TopicArn, Subject, Message string }
	if len(env) != 1 || json.Unmarshal([]byte(env[0]), &n) != nil ||
		n.Type != "Notification" || n.MessageId != *id || n.TopicArn != *topic || n.Subject != "Contained" || n.Message != msg {
		t.Errorf("envelope delivery: %q", env)
	}

	got := emu.Published(t, *topic)
	if len(got) != 1 || got[0].ID != *id || got[0].Message != msg || got[0].Subject != "Contained" {
		t.Errorf("Published: %+v", got)
	}
	emu.Reset(t)
	if got := emu.Published(t, *topic); len(got) != 0 {
		t.Errorf("Published after a reset: %+v", got)
	}
}

func TestMotoEventBridge(t *testing.T) {
	emu := Moto(t)
	cfg := emu.Config(t)
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	ctx := context.Background()
	event := func(source string, detail string) string {
		return fmt.Sprintf(`{"version":"0","id":"1","detail-type":"GuardDuty Finding","source":%q,"account":%q,"time":"2026-01-01T00:00:00Z",`+
			`"region":"us-east-1","resources":[],"detail":%s}`, source, account, detail)
	}

	t.Run("test_event_pattern_not_implemented", func(t *testing.T) {
		// EventBridge answers Result true here; moto answers 200 with an
		// empty body, which the SDK reads as false, without an error.
		out, err := eb.TestEventPattern(ctx, &eventbridge.TestEventPatternInput{
			EventPattern: aws.String(`{"source":["aws.guardduty"]}`), Event: aws.String(event("aws.guardduty", "{}"))})
		if err != nil || out.Result {
			t.Errorf("TestEventPattern of a matching event: %+v, %v; want false, no error", out, err)
		}
	})

	t.Run("rule_matching", func(t *testing.T) {
		u, arn := queue(t, q, "matched")
		cases := []struct {
			name, pattern string // pattern of detail
			match, miss   string // details that match and do not
		}{
			{"exact", `{"severity":[8]}`, `{"severity":8}`, `{"severity":5}`},
			{"exact_in_array", `{"ids":["b"]}`, `{"ids":["a","b"]}`, `{"ids":["a"]}`},
			{"prefix", `{"type":[{"prefix":"UnauthorizedAccess:"}]}`, `{"type":"UnauthorizedAccess:EC2/SSHBruteForce"}`, `{"type":"Recon:EC2/PortProbe"}`},
			{"suffix", `{"type":[{"suffix":"BruteForce"}]}`, `{"type":"UnauthorizedAccess:EC2/SSHBruteForce"}`, `{"type":"Recon:EC2/PortProbe"}`},
			{"equals_ignore_case", `{"type":[{"equals-ignore-case":"recon"}]}`, `{"type":"ReCoN"}`, `{"type":"recon2"}`},
			{"numeric_range", `{"severity":[{"numeric":[">=",7,"<",9]}]}`, `{"severity":7.5}`, `{"severity":9}`},
			{"numeric_not_string", `{"severity":[{"numeric":[">",1]}]}`, `{"severity":2}`, `{"severity":"2"}`},
			{"wildcard", `{"arn":[{"wildcard":"arn:aws:iam::*:user/*"}]}`, `{"arn":"arn:aws:iam::1:user/a"}`, `{"arn":"arn:aws:iam::1:role/a"}`},
			{"anything_but", `{"type":[{"anything-but":["Test"]}]}`, `{"type":"Real"}`, `{"type":"Test"}`},
			{"anything_but_prefix", `{"type":[{"anything-but":{"prefix":"Test"}}]}`, `{"type":"Real"}`, `{"type":"Test:1"}`},
			{"exists", `{"ip":[{"exists":true}]}`, `{"ip":"1.2.3.4"}`, `{"other":1}`},
			{"not_exists", `{"ip":[{"exists":false}]}`, `{"other":1}`, `{"ip":"1.2.3.4"}`},
			{"cidr", `{"ip":[{"cidr":"10.0.0.0/8"}]}`, `{"ip":"10.1.2.3"}`, `{"ip":"11.1.2.3"}`},
			{"nested", `{"resource":{"type":["AccessKey"]}}`, `{"resource":{"type":"AccessKey"}}`, `{"resource":{"type":"Instance"}}`},
			{"or", `{"$or":[{"a":["x"]},{"b":["y"]}]}`, `{"b":"y"}`, `{"a":"y"}`},
			// An operator moto does not know matches every event that has the field.
			{"unknown_operator_matches", `{"type":[{"no-such-operator":1}]}`, `{"type":"anything"}`, `{"other":1}`},
		}
		for i, c := range cases {
			name := fmt.Sprintf("r%d", i)
			pattern := fmt.Sprintf(`{"source":["case.%d"],"detail":%s}`, i, c.pattern)
			if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: &name, EventPattern: &pattern}); err != nil {
				t.Fatalf("%s: PutRule %s: %v", c.name, pattern, err)
			}
			must[*eventbridge.PutTargetsOutput](t, "PutTargets")(eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: &name,
				Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: &arn}}}))
		}
		var entries []ebtypes.PutEventsRequestEntry
		for i, c := range cases {
			for _, d := range []string{c.match, c.miss} {
				entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String(fmt.Sprintf("case.%d", i)),
					DetailType: aws.String("probe"), Detail: aws.String(d)})
			}
		}
		for chunk := range slices.Chunk(entries, 10) {
			if out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: chunk}); err != nil || out.FailedEntryCount != 0 {
				t.Fatalf("PutEvents: %v, %+v", err, out)
			}
		}
		got := map[string]bool{}
		for _, body := range receive(t, q, u) {
			var e struct {
				Source string          `json:"source"`
				Detail json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("delivered event %s: %v", body, err)
			}
			got[e.Source+" "+compact(t, string(e.Detail))] = true
		}
		for i, c := range cases {
			src := fmt.Sprintf("case.%d ", i)
			if !got[src+compact(t, c.match)] {
				t.Errorf("%s: pattern %s did not match %s", c.name, c.pattern, c.match)
			}
			if got[src+compact(t, c.miss)] {
				t.Errorf("%s: pattern %s matched %s", c.name, c.pattern, c.miss)
			}
		}
	})

	t.Run("put_rule_and_events_checks", func(t *testing.T) {
		_, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("bad"), EventPattern: aws.String(`{"source":"aws.guardduty"}`)})
		wantCode(t, "pattern with a bare value", err, "InvalidEventPatternException", 400)
		// EventBridge refuses aws.* sources from PutEvents; moto takes them.
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String("aws.guardduty"), DetailType: aws.String("GuardDuty Finding"), Detail: aws.String(`{}`)}}})
		if err != nil || out.FailedEntryCount != 0 {
			t.Errorf("PutEvents from aws.guardduty: %v, %+v; want it accepted", err, out)
		}
	})
}

// compact returns the JSON s without insignificant space.
func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %s: %v", s, err)
	}
	return b.String()
}

func TestMotoLambda(t *testing.T) {
	emu := Moto(t)
	cfg := emu.Config(t)
	ctx := context.Background()
	role := must[*iam.CreateRoleOutput](t, "CreateRole")(iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("fn"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})).Role
	var code bytes.Buffer
	zw := zip.NewWriter(&code)
	f := must[io.Writer](t, "zip")(zw.Create("bootstrap"))
	must[int](t, "zip")(f.Write([]byte("#!/bin/sh\n")))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	l := lambda.NewFromConfig(cfg)
	must[*lambda.CreateFunctionOutput](t, "CreateFunction")(l.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("f"),
		Role: role.Arn, Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: code.Bytes()}}))
	payload := []byte(`{"finding":1}`)
	invoke := func(name string) (*lambda.InvokeOutput, error) {
		return l.Invoke(ctx, &lambda.InvokeInput{FunctionName: &name, Payload: payload})
	}

	t.Run("docker_mode", func(t *testing.T) {
		_, err := invoke("missing")
		wantCode(t, "Invoke of a missing function", err, "ResourceNotFoundException", 404)
		if dockerAvailable() {
			t.Skip("a Docker daemon is reachable: moto would run the function")
		}
		// Without a Docker daemon the call succeeds (200) with a handled
		// function error whose payload is moto's Docker error.
		out, err := invoke("f")
		if err != nil || out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Handled" || !strings.HasPrefix(string(out.Payload), "error running docker") {
			t.Errorf("Invoke without Docker: %+v, %v", out, err)
		}
	})

	t.Run("echo_mode", func(t *testing.T) {
		post := func(path, body string) {
			resp := must[*http.Response](t, "POST "+path)(http.Post(emu.URL+path, "application/json", strings.NewReader(body)))
			resp.Body.Close()
		}
		post("/moto-api/config", `{"lambda":{"use_docker":false}}`)
		for _, name := range []string{"f", "missing"} { // even a missing function answers
			out, err := invoke(name)
			if err != nil || out.StatusCode != 200 || out.FunctionError != nil || string(out.Payload) != string(payload) {
				t.Errorf("Invoke %s with use_docker off: %+v, %v; want the payload echoed", name, out, err)
			}
		}
		// moto's own reset keeps its configuration; Reset restores it.
		post("/moto-api/reset", "")
		if !strings.Contains(motoConfig(t, emu), `"lambda": {"use_docker": false}`) {
			t.Errorf("moto's reset changed its configuration: %s", motoConfig(t, emu))
		}
		emu.Reset(t)
		if got := motoConfig(t, emu); !strings.Contains(got, `"lambda": {"use_docker": true}`) {
			t.Errorf("configuration after Reset: %s", got)
		}
	})
}

func motoConfig(t *testing.T, emu *Emulator) string {
	t.Helper()
	b, err := emu.srv.Get(context.Background(), "/moto-api/config")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerAvailable reports whether a Docker daemon may be reachable.
func dockerAvailable() bool {
	if os.Getenv("DOCKER_HOST") != "" {
		return true
	}
	_, err := os.Stat("/var/run/docker.sock")
	return err == nil
}

func TestMotoDynamoDB(t *testing.T) {
	emu := Moto(t)
	d := dynamodb.NewFromConfig(emu.Config(t))
	ctx := context.Background()
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	n := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: v} }
	table := aws.String("ledger")
	must[*dynamodb.CreateTableOutput](t, "CreateTable")(d.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: table, BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}}}))
	key := map[string]ddbtypes.AttributeValue{"pk": s("claim")}
	expired := fmt.Sprint(time.Now().Add(-time.Hour).Unix())
	claim := func() error {
		_, err := d.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]ddbtypes.AttributeValue{"pk": s("claim"), "v": n("1"), "exp": n(expired)},
			ConditionExpression: aws.String("attribute_not_exists(pk)"), ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld})
		return err
	}
	if err := claim(); err != nil {
		t.Fatalf("first conditional PutItem: %v", err)
	}
	var ccf *ddbtypes.ConditionalCheckFailedException
	if err := claim(); !errors.As(err, &ccf) || len(ccf.Item) != 3 {
		t.Errorf("second conditional PutItem: %v, want ConditionalCheckFailedException with the old item", err)
	}
	bump := func(from string) error {
		_, err := d.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key,
			UpdateExpression:    aws.String("SET v = v + :one, l = list_append(if_not_exists(l, :empty), :x) ADD s :set"),
			ConditionExpression: aws.String("v = :v"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": n("1"), ":v": n(from), ":empty": &ddbtypes.AttributeValueMemberL{},
				":x": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{s("x")}}, ":set": &ddbtypes.AttributeValueMemberSS{Value: []string{"p"}}}})
		return err
	}
	if err := bump("1"); err != nil {
		t.Errorf("conditional UpdateItem: %v", err)
	}
	if err := bump("1"); !errors.As(err, &ccf) {
		t.Errorf("UpdateItem on a stale version: %v, want ConditionalCheckFailedException", err)
	}
	_, err := d.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{{Put: &ddbtypes.Put{
		TableName: table, Item: key, ConditionExpression: aws.String("attribute_not_exists(pk)")}}}})
	var cancelled *ddbtypes.TransactionCanceledException
	if !errors.As(err, &cancelled) || len(cancelled.CancellationReasons) != 1 || aws.ToString(cancelled.CancellationReasons[0].Code) != "ConditionalCheckFailed" {
		t.Errorf("TransactWriteItems with a failing condition: %v", err)
	}
	must[*dynamodb.UpdateTimeToLiveOutput](t, "UpdateTimeToLive")(d.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: table,
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(true)}}))
	ttl := must[*dynamodb.DescribeTimeToLiveOutput](t, "DescribeTimeToLive")(d.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: table}))
	if ttl.TimeToLiveDescription.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled {
		t.Errorf("TTL status %s", ttl.TimeToLiveDescription.TimeToLiveStatus)
	}
	// An item past its TTL stays readable: moto never expires items (AWS
	// deletes them within days, not at once).
	item := must[*dynamodb.GetItemOutput](t, "GetItem")(d.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)})).Item
	if v, ok := item["v"].(*ddbtypes.AttributeValueMemberN); !ok || v.Value != "2" || item["l"] == nil || item["s"] == nil {
		t.Errorf("item after updates: %v", item)
	}
}

func TestMotoReset(t *testing.T) {
	emu := Moto(t)
	cfg := emu.Config(t)
	ctx := context.Background()
	i, w, d := iam.NewFromConfig(cfg), wafv2.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg)
	must[*iam.CreateUserOutput](t, "CreateUser")(i.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")}))
	must[*wafv2.CreateIPSetOutput](t, "CreateIPSet")(w.CreateIPSet(ctx, &wafv2.CreateIPSetInput{Name: aws.String("s"), Scope: waftypes.ScopeRegional,
		IPAddressVersion: waftypes.IPAddressVersionIpv4, Addresses: []string{}}))
	must[*dynamodb.CreateTableOutput](t, "CreateTable")(d.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("t"), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}}}))

	resp := must[*http.Response](t, "GET reset")(http.Get(emu.URL + "/moto-api/reset"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /moto-api/reset: %s, want 400 (it takes POST)", resp.Status)
	}
	start := time.Now()
	resp = must[*http.Response](t, "POST reset")(http.Post(emu.URL+"/moto-api/reset", "", nil))
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body["status"] != "ok" {
		t.Errorf("POST /moto-api/reset: %s %v %v", resp.Status, body, err)
	}
	resp.Body.Close()
	t.Logf("reset took %v", time.Since(start))
	users := must[*iam.ListUsersOutput](t, "ListUsers")(i.ListUsers(ctx, &iam.ListUsersInput{}))
	sets := must[*wafv2.ListIPSetsOutput](t, "ListIPSets")(w.ListIPSets(ctx, &wafv2.ListIPSetsInput{Scope: waftypes.ScopeRegional}))
	tables := must[*dynamodb.ListTablesOutput](t, "ListTables")(d.ListTables(ctx, &dynamodb.ListTablesInput{}))
	if len(users.Users)+len(sets.IPSets)+len(tables.TableNames) != 0 {
		t.Errorf("after reset: %d users, %d IP sets, %d tables", len(users.Users), len(sets.IPSets), len(tables.TableNames))
	}
}

// TestMotoEC2 pins what isolate-instance relies on: groups of a network
// interface replaced by ModifyNetworkInterfaceAttribute; a new group's
// default outbound rule; InvalidGroup.Duplicate for a name taken; tags at
// creation; the owner of a reservation; InvalidInstanceID.NotFound. And a
// gap: DeleteTags without tags deletes nothing (AWS deletes every tag).
func TestMotoEC2(t *testing.T) {
	emu := Moto(t)
	cfg := emu.Config(t)
	c := ec2.NewFromConfig(cfg)
	ctx := context.Background()
	in := RunInstance(t, cfg)
	tags := []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}
	sg := must[*ec2.CreateSecurityGroupOutput](t, "CreateSecurityGroup")(c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("iso"), Description: aws.String("iso"), VpcId: aws.String(in.VPC), TagSpecifications: tags}))
	_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("iso"), Description: aws.String("iso"), VpcId: aws.String(in.VPC)})
	wantCode(t, "CreateSecurityGroup of a name taken", err, "InvalidGroup.Duplicate", 0)
	got := must[*ec2.DescribeSecurityGroupsOutput](t, "DescribeSecurityGroups")(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(sg.GroupId)}}))
	g := got.SecurityGroups[0]
	if len(g.IpPermissions) != 0 || len(g.IpPermissionsEgress) != 1 || aws.ToString(g.IpPermissionsEgress[0].IpProtocol) != "-1" ||
		len(g.IpPermissionsEgress[0].IpRanges) != 1 || aws.ToString(g.IpPermissionsEgress[0].IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Errorf("a new group's rules: in %v, out %v; want none in, all traffic out to 0.0.0.0/0", g.IpPermissions, g.IpPermissionsEgress)
	}
	if len(g.Tags) != 1 || aws.ToString(g.Tags[0].Key) != "k" {
		t.Errorf("tags at creation: %v", g.Tags)
	}
	must[*ec2.ModifyNetworkInterfaceAttributeOutput](t, "ModifyNetworkInterfaceAttribute")(c.ModifyNetworkInterfaceAttribute(ctx,
		&ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(in.ENIs[0]), Groups: []string{aws.ToString(sg.GroupId)}}))
	enis := must[*ec2.DescribeNetworkInterfacesOutput](t, "DescribeNetworkInterfaces")(c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{in.ENIs[0]}}))
	if gs := enis.NetworkInterfaces[0].Groups; len(gs) != 1 || aws.ToString(gs[0].GroupId) != aws.ToString(sg.GroupId) {
		t.Errorf("groups after ModifyNetworkInterfaceAttribute: %v", gs)
	}
	inst := must[*ec2.DescribeInstancesOutput](t, "DescribeInstances")(c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{in.ID}}))
	if o := aws.ToString(inst.Reservations[0].OwnerId); o != account {
		t.Errorf("reservation owner %q, want %s", o, account)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantCode(t, "DescribeInstances of an unknown id", err, "InvalidInstanceID.NotFound", 0)
	must[*ec2.DeleteTagsOutput](t, "DeleteTags")(c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{aws.ToString(sg.GroupId)}}))
	left := must[*ec2.DescribeTagsOutput](t, "DescribeTags")(c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{aws.ToString(sg.GroupId)}}}}))
	if len(left.Tags) != 1 {
		t.Errorf("DeleteTags without tags left %v; moto deleted them (AWS does)", left.Tags)
	}
}
