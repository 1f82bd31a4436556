package account

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"

	"github.com/autocontain/autocontain/internal/failure"
)

// ErrUnreachable marks (errors.Is) a failure to reach a member account:
// its member role could not be assumed (the errorType
// "AccountUnreachable"). Such a failure is transient (Retrieve).
var ErrUnreachable = errors.New("the member account could not be reached through its role")

// MemberCredentials are the credentials of one member account's role,
// cached for their lifetime (aws.CredentialsCache over stscreds'
// AssumeRoleProvider): the SDK's single-flight refresh means one AssumeRole
// per account per credential lifetime, however many deliveries ask at once.
// It is an aws.CredentialsProvider.
type MemberCredentials struct {
	// Role is the member role's ARN.
	Role  string
	cache *aws.CredentialsCache

	mu sync.Mutex
	// sessions names the role session of each set of credentials it got,
	// by access key id: the one the audit record names.
	sessions map[string]string
}

var _ aws.CredentialsProvider = (*MemberCredentials)(nil)

// Member returns account id's member credentials, the same value for
// every call: their cache is shared by every delivery of the process.
func (o *Organization) Member(id string) *MemberCredentials {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c, ok := o.creds[id]; ok {
		return c
	}
	c := &MemberCredentials{Role: o.RoleARN(id), sessions: map[string]string{}}
	c.cache = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		// The session is named after the finding whose delivery needed the
		// credentials (WithFinding), so CloudTrail in the member shows why
		// autocontain acted; later deliveries in the credentials' lifetime
		// act through the same session, and their audit records name it.
		session := SessionName(findingOf(ctx))
		creds, err := stscreds.NewAssumeRoleProvider(o.STS, c.Role, func(ao *stscreds.AssumeRoleOptions) {
			ao.RoleSessionName = session
		}).Retrieve(ctx)
		if err != nil {
			return aws.Credentials{}, err
		}
		c.mu.Lock()
		c.sessions = map[string]string{creds.AccessKeyID: session}
		c.mu.Unlock()
		return creds, nil
	}), func(co *aws.CredentialsCacheOptions) { co.ExpiryWindow = credentialWindow })
	if o.creds == nil {
		o.creds = map[string]*MemberCredentials{}
	}
	o.creds[id] = c
	return c
}

// Retrieve implements aws.CredentialsProvider: the cached credentials, or
// new ones from AssumeRole. A failure is transient: the member role may not
// be deployed yet, or its trust may be being fixed; the delivery is
// retried, never skipped.
func (c *MemberCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.cache.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, failure.Mark(failure.Transient(fmt.Errorf("assume the member role %s: %w", c.Role, err)), ErrUnreachable)
	}
	return creds, nil
}

// Session gets the credentials (so a failure to assume the role surfaces
// here, before anything is done) and returns the name of the role session
// they belong to.
func (c *MemberCredentials) Session(ctx context.Context) (string, error) {
	creds, err := c.Retrieve(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[creds.AccessKeyID], nil
}

type findingKey struct{}

// WithFinding carries the id of the finding being handled, which names the
// role session of credentials assumed for it.
func WithFinding(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, findingKey{}, id)
}

func findingOf(ctx context.Context) string {
	id, _ := ctx.Value(findingKey{}).(string)
	return id
}

// SessionName is the role session name for finding id: "autocontain-" and
// the id, with what STS does not allow replaced and cut to STS's 64
// characters (STS API Reference, AssumeRole, RoleSessionName).
func SessionName(id string) string {
	name := "autocontain-" + sessionUnsafe.ReplaceAllString(id, "-")
	if id == "" {
		name = "autocontain"
	}
	return name[:min(len(name), 64)]
}
