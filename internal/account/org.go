package account

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
)

// Organization mode's settings, from the function's environment (the CDK
// stack sets them in organization mode only).
const (
	// EnvOrganizationID switches organization mode on: the organization's
	// id, o-....
	EnvOrganizationID = "AUTOCONTAIN_ORGANIZATION_ID"
	// EnvMemberRoleName names the role the member stack creates in every
	// member account; DefaultMemberRoleName when unset.
	EnvMemberRoleName     = "AUTOCONTAIN_MEMBER_ROLE_NAME"
	DefaultMemberRoleName = "autocontain-member"
)

var (
	// Organizations API Reference, Organization.Id: ^o-[a-z0-9]{10,32}$.
	orgIDPattern = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// IAM API Reference, CreateRole.RoleName: [\w+=,.@-]+, 1 to 64.
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	// STS API Reference, AssumeRole.RoleSessionName: [\w+=,.@-]*, 2 to 64.
	sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)
)

// How long an answer of the organization is kept. A member stays one for
// a quarter of an hour: an account that leaves loses its member role too
// (the StackSet removes its stack instance), so a stale "member" fails at
// AssumeRole, never acts in an outsider. "Not a member" is kept a minute
// only: an account that just joined is served soon.
const (
	memberTTL    = 15 * time.Minute
	nonMemberTTL = time.Minute
	// credentialWindow: cached member credentials are renewed this long
	// before they expire, so that no call starts with credentials about
	// to lapse.
	credentialWindow = time.Minute
)

// ErrMembershipUnknown marks (errors.Is) a failure of the organization to
// say whether an account is one of its own (Lookup): the errorType
// "OrganizationUnavailable". Such a failure is transient.
var ErrMembershipUnknown = errors.New("the organization could not say whether the account is a member")

// OrganizationsAPI is the part of the Organizations API membership needs.
type OrganizationsAPI interface {
	DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, opts ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
}

var _ OrganizationsAPI = (*organizations.Client)(nil)

// Organization is organization mode: the responder, in its home account
// (the GuardDuty delegated administrator), also acts in the accounts of
// one AWS Organization, each through the member role the member stack
// created there.
//
// Membership is asked of Organizations (DescribeAccount, which the
// management account and any delegated administrator may call), one
// account at a time and cached: a finding names one account, so one small
// call answers it, where ListAccounts would page through the whole
// organization. Credentials are cached per account for their lifetime.
type Organization struct {
	Home Account
	// ID is the organization's id, o-....
	ID string
	// RoleName is the member role's name.
	RoleName string
	Orgs     OrganizationsAPI
	STS      stscreds.AssumeRoleAPIClient
	Now      func() time.Time

	mu      sync.Mutex
	members map[string]cachedMembership
	creds   map[string]*MemberCredentials
}

type cachedMembership struct {
	m     Membership
	until time.Time
}

// Membership is what the organization says of one account.
type Membership struct {
	Member bool
	// Why the account is not a member, for the plan.
	Why string
}

// CheckOrganization validates organization mode's settings.
func CheckOrganization(id, roleName string) error {
	if !orgIDPattern.MatchString(id) {
		return fmt.Errorf("%s %q is not an organization id (o- and 10 to 32 lower-case letters or digits)", EnvOrganizationID, id)
	}
	if !roleNamePattern.MatchString(roleName) {
		return fmt.Errorf("%s %q is not an IAM role name", EnvMemberRoleName, roleName)
	}
	return nil
}

// RoleARN is the member role of account id, in the home partition.
func (o *Organization) RoleARN(id string) string {
	return RoleARN(o.Home.Partition, id, o.RoleName)
}

// RoleARN is arn:PARTITION:iam::ACCOUNT:role/NAME.
func RoleARN(partition, id, name string) string {
	return "arn:" + partition + ":iam::" + id + ":role/" + name
}

func (o *Organization) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Lookup asks the organization whether account id is one of its active
// accounts, or answers from the cache. The error is non-nil only when the
// organization could not answer (throttling, AccessDenied): the caller
// must then fail the delivery, not guess.
func (o *Organization) Lookup(ctx context.Context, id string) (Membership, error) {
	now := o.now()
	o.mu.Lock()
	c, ok := o.members[id]
	o.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.m, nil
	}
	out, err := o.Orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
	var notFound *orgtypes.AccountNotFoundException
	var m Membership
	switch {
	case errors.As(err, &notFound):
		m.Why = fmt.Sprintf("account %s is not an account of organization %s (organizations:DescribeAccount: AccountNotFound)", id, o.ID)
	case err != nil:
		// Not permanent whatever the code: an AccessDenied here is the
		// stack's misconfiguration or a delegation not yet in place, and
		// the finding must wait for it, not be dropped.
		return Membership{}, failure.Mark(failure.Transient(fmt.Errorf("ask organization %s about account %s (organizations:DescribeAccount): %w", o.ID, id, err)), ErrMembershipUnknown)
	default:
		m = membership(out.Account, o.ID, id)
	}
	ttl := memberTTL
	if !m.Member {
		ttl = nonMemberTTL
	}
	o.mu.Lock()
	if o.members == nil {
		o.members = map[string]cachedMembership{}
	}
	o.members[id] = cachedMembership{m: m, until: now.Add(ttl)}
	o.mu.Unlock()
	return m, nil
}

// membership reads DescribeAccount's answer: the account's ARN names its
// organization (arn:PARTITION:organizations::MANAGEMENT:account/o-ID/ACCOUNT),
// and only an active account is served.
func membership(a *orgtypes.Account, org, id string) Membership {
	if a == nil {
		return Membership{Why: fmt.Sprintf("organizations:DescribeAccount said nothing of account %s", id)}
	}
	if arn := aws.ToString(a.Arn); !strings.Contains(arn, ":account/"+org+"/"+id) {
		return Membership{Why: fmt.Sprintf("account %s is not an account of organization %s (its ARN is %s)", id, org, arn)}
	}
	state := string(a.State)
	if state == "" {
		state = string(a.Status)
	}
	if state != string(orgtypes.AccountStateActive) {
		return Membership{Why: fmt.Sprintf("account %s of organization %s is %s, not ACTIVE", id, org, state)}
	}
	return Membership{Member: true}
}

// Reacher returns the decision of organization mode for f, after looking
// up the membership of the account f is about; the decision itself makes
// no call (Org).
func (o *Organization) Reacher(ctx context.Context, f finding.Finding) (Reacher, error) {
	r := o.Unchecked()
	if o.Home.IsZero() || f.Account == "" || f.Account == o.Home.ID || !idPattern.MatchString(f.Account) {
		return r, nil
	}
	m, err := o.Lookup(ctx, f.Account)
	if err != nil {
		return nil, err
	}
	r.Members = map[string]Membership{f.Account: m}
	return r, nil
}

// Unchecked is the decision of organization mode before any membership
// is looked up: a finding about a member account contains nothing (a dry
// run, the CLI's plan).
func (o *Organization) Unchecked() Org {
	return Org{Home: o.Home, ID: o.ID, RoleName: o.RoleName}
}

// Org is organization mode's Reacher: the home account, reached with the
// responder's own credentials, and each active account of the
// organization, reached through its member role. It makes no call: the
// membership of the finding's account was looked up before (Members).
type Org struct {
	Home     Account
	ID       string
	RoleName string
	// Members says what the organization said of the accounts looked up.
	Members map[string]Membership
	// Session is the role session the responder acts through, once its
	// credentials are in hand; the decision names it.
	Session string
}

var _ Reacher = Org{}

// envelopeField is the event's own account field (finding.AccountRef.Field):
// the account whose bus received the event, the home account's when
// GuardDuty's administrator aggregated a member's finding.
const envelopeField = "account"

// Reach allows a finding about an account of the organization when every
// account the event names is that account (the envelope's may also be the
// home account, whose bus received the event) and every partition is
// Home's: the member role is in the home partition. A finding about Home
// is decided as in single-account mode.
func (o Org) Reach(f finding.Finding) Decision {
	home := o.Home
	target := f.Account
	if home.IsZero() || target == "" || target == home.ID {
		return Single{Home: home}.Reach(f)
	}
	var foreign []string
	note := func(field, partition, id string) {
		switch {
		case id == "" && partition == "":
			foreign = append(foreign, field+" names no account")
		case partition != "" && partition != home.Partition:
			foreign = append(foreign, field+" names "+describe(partition, id))
		case id != "" && id != target && !(id == home.ID && field == envelopeField):
			foreign = append(foreign, field+" names "+describe(partition, id))
		}
	}
	for _, r := range f.Accounts {
		note(r.Field, r.Partition, r.Account)
	}
	if p := f.Partition; p != "" && p != home.Partition && !mentions(foreign, p) {
		foreign = append(foreign, "the finding is in partition "+p)
	}
	pr := f.Principal
	if pr.Account != "" && pr.Account != target && !mentions(foreign, pr.Account) {
		note("the principal", "", pr.Account)
	}
	if p := pr.Partition; p != "" && p != home.Partition && !mentions(foreign, p) {
		foreign = append(foreign, "the principal is in partition "+p)
	}
	if len(foreign) > 0 {
		return Decision{Reason: fmt.Sprintf("the finding is about account %s but %s: the responder acts only in the one account a finding is about",
			target, strings.Join(foreign, ", "))}
	}
	m, known := o.Members[target]
	switch {
	case !known:
		return Decision{Unchecked: true, Reason: fmt.Sprintf("whether account %s is an account of organization %s was not looked up", target, o.ID)}
	case !m.Member:
		return Decision{Reason: m.Why + "; the responder serves organization " + o.ID + " only"}
	}
	how := "via role " + RoleARN(home.Partition, target, o.RoleName)
	if o.Session != "" {
		how += ", session " + o.Session
	}
	return Decision{OK: true, Account: Account{Partition: home.Partition, ID: target}, How: how}
}
