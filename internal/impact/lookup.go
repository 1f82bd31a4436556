package impact

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/finding"
)

// PolicyReader is the part of the IAM API the lookup needs: read-only.
type PolicyReader interface {
	ListAttachedUserPolicies(ctx context.Context, in *iam.ListAttachedUserPoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedUserPoliciesOutput, error)
	ListUserPolicies(ctx context.Context, in *iam.ListUserPoliciesInput, opts ...func(*iam.Options)) (*iam.ListUserPoliciesOutput, error)
	GetUserPolicy(ctx context.Context, in *iam.GetUserPolicyInput, opts ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error)
	ListGroupsForUser(ctx context.Context, in *iam.ListGroupsForUserInput, opts ...func(*iam.Options)) (*iam.ListGroupsForUserOutput, error)
	ListAttachedGroupPolicies(ctx context.Context, in *iam.ListAttachedGroupPoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedGroupPoliciesOutput, error)
	ListGroupPolicies(ctx context.Context, in *iam.ListGroupPoliciesInput, opts ...func(*iam.Options)) (*iam.ListGroupPoliciesOutput, error)
	GetGroupPolicy(ctx context.Context, in *iam.GetGroupPolicyInput, opts ...func(*iam.Options)) (*iam.GetGroupPolicyOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput, opts ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput, opts ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
}

var _ PolicyReader = (*iam.Client)(nil)

// Permissions lists the IAM actions a lookup needs.
func Permissions() []string {
	return []string{
		"iam:GetGroupPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRolePolicy", "iam:GetUserPolicy",
		"iam:ListAttachedGroupPolicies", "iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies",
		"iam:ListGroupPolicies", "iam:ListGroupsForUser", "iam:ListRolePolicies", "iam:ListUserPolicies",
	}
}

// MaxReads bounds the IAM calls one principal's lookup makes. IAM allows a
// user 20 managed policies and 10 groups of 10 each, and caps inline
// policies by size, so a real principal needs far fewer; past the bound
// the class is unknown.
const MaxReads = 150

// adminPolicy is the AWS managed policy that grants everything; its ARN
// decides without reading its document.
const adminPolicy = ":iam::aws:policy/AdministratorAccess"

// isAdministratorAccess reports whether arn is AWS's AdministratorAccess,
// in any partition (arn:aws:iam::aws:policy/AdministratorAccess), not a
// customer's policy of the same name or another path.
func isAdministratorAccess(arn string) bool {
	part, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return false
	}
	part, ok = strings.CutSuffix(part, adminPolicy)
	return ok && part != "" && !strings.ContainsAny(part, ":/")
}

// Lookup reads principals' privilege classes from IAM. It caches what it
// read (each managed policy's verdict, each principal's impact), so make
// one per invocation: policies change, and a cache that outlived the
// invocation would keep an old answer.
type Lookup struct {
	IAM PolicyReader
	// PageSize, when not zero, is the MaxItems of every list call (tests
	// use it to make IAM page).
	PageSize int32

	managed map[string]verdictOrErr
	seen    map[string]finding.Impact
}

type verdictOrErr struct {
	v   Verdict
	err error
}

// New returns a lookup with empty caches.
func New(api PolicyReader) *Lookup { return &Lookup{IAM: api} }

// Principal returns the impact of the IAM user or role whose credentials
// pr is: a user for the user kinds (and the user a federated session came
// from), the role of an assumed-role session. A principal that is neither
// gets the zero Impact (nothing to read). It never fails: what could not be
// read makes the class unknown, with the reason in Why.
func (l *Lookup) Principal(ctx context.Context, pr finding.Principal) finding.Impact {
	var kind, name string
	switch pr.Kind {
	case finding.KindIAMUserKey, finding.KindIAMUserSession, finding.KindFederated:
		kind, name = "user", pr.UserName
	case finding.KindAssumedRole:
		kind, name = "role", pr.RoleName
	}
	if name == "" {
		return finding.Impact{}
	}
	return l.Entity(ctx, kind, name)
}

// Entity returns the impact of the IAM user or role (kind "user" or
// "role") called name.
func (l *Lookup) Entity(ctx context.Context, kind, name string) finding.Impact {
	key := kind + "/" + name
	if imp, ok := l.seen[key]; ok {
		return imp
	}
	r := &reading{l: l, ctx: ctx, best: Verdict{Class: finding.ImpactScoped}}
	var err error
	if kind == "role" {
		err = r.role(name)
	} else {
		err = r.user(name)
	}
	imp := finding.Impact{Class: r.best.Class, Why: r.best.Why}
	switch {
	case r.best.Class == finding.ImpactAdmin:
		// Nothing can raise it, and denies never lower it: what was not
		// read cannot change it.
	case err != nil:
		imp = finding.Impact{Class: finding.ImpactUnknown, Why: finding.MaskKeys(fmt.Sprintf("could not read the policies of %s %s: %v", kind, name, err))}
	case len(r.unread) > 0:
		imp = finding.Impact{Class: finding.ImpactUnknown, Why: finding.MaskKeys(strings.Join(r.unread, "; "))}
	case imp.Why == "":
		imp.Why = "no policy grants admin, escalation or account-wide listing"
	}
	if l.seen == nil {
		l.seen = map[string]finding.Impact{}
	}
	l.seen[key] = imp
	return imp
}

// errEnough stops the reads once admin is found.
var errEnough = errors.New("admin found")

// reading is one principal's lookup in progress.
type reading struct {
	l     *Lookup
	ctx   context.Context
	reads int
	best  Verdict
	// unread lists documents that could not be parsed.
	unread []string
}

// read counts one IAM call against MaxReads.
func (r *reading) read() error {
	r.reads++
	if r.reads > MaxReads {
		return fmt.Errorf("more than %d IAM reads needed: not read further", MaxReads)
	}
	return nil
}

func (r *reading) maxItems() *int32 {
	if r.l.PageSize == 0 {
		return nil
	}
	return aws.Int32(r.l.PageSize)
}

// consider takes the verdict of one document, named where.
func (r *reading) consider(where string, v Verdict, err error) error {
	if err != nil {
		r.unread = append(r.unread, fmt.Sprintf("%s could not be read: %v", where, err))
		return nil
	}
	if rank(v.Class) > rank(r.best.Class) {
		r.best = Verdict{v.Class, where + ": " + v.Why}
	}
	if r.best.Class == finding.ImpactAdmin {
		return errEnough
	}
	return nil
}

// page is one page of a list call: its items, and the marker of the next
// page (nil after the last).
type page[T any] struct {
	items []T
	next  *string
}

func pageOf[T any](items []T, truncated bool, marker *string) page[T] {
	if !truncated || aws.ToString(marker) == "" {
		return page[T]{items: items}
	}
	return page[T]{items, marker}
}

// calls are how one kind of IAM entity lists and reads its policies.
type calls struct {
	attached func(marker *string) (page[iamtypes.AttachedPolicy], error)
	inline   func(marker *string) (page[string], error)
	get      func(policy string) (*string, error)
}

func (r *reading) user(name string) error {
	u := aws.String(name)
	err := r.policies("user "+name, calls{
		attached: func(m *string) (page[iamtypes.AttachedPolicy], error) {
			out, err := r.l.IAM.ListAttachedUserPolicies(r.ctx, &iam.ListAttachedUserPoliciesInput{UserName: u, Marker: m, MaxItems: r.maxItems()})
			if err != nil {
				return page[iamtypes.AttachedPolicy]{}, err
			}
			return pageOf(out.AttachedPolicies, out.IsTruncated, out.Marker), nil
		},
		inline: func(m *string) (page[string], error) {
			out, err := r.l.IAM.ListUserPolicies(r.ctx, &iam.ListUserPoliciesInput{UserName: u, Marker: m, MaxItems: r.maxItems()})
			if err != nil {
				return page[string]{}, err
			}
			return pageOf(out.PolicyNames, out.IsTruncated, out.Marker), nil
		},
		get: func(policy string) (*string, error) {
			out, err := r.l.IAM.GetUserPolicy(r.ctx, &iam.GetUserPolicyInput{UserName: u, PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
	})
	if err == nil {
		err = r.pages(func(m *string) (*string, error) {
			out, err := r.l.IAM.ListGroupsForUser(r.ctx, &iam.ListGroupsForUserInput{UserName: u, Marker: m, MaxItems: r.maxItems()})
			if err != nil {
				return nil, fmt.Errorf("list groups of user %s: %w", name, err)
			}
			for _, g := range out.Groups {
				if err := r.group(aws.ToString(g.GroupName)); err != nil {
					return nil, err
				}
			}
			return pageOf(out.Groups, out.IsTruncated, out.Marker).next, nil
		})
	}
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

func (r *reading) group(name string) error {
	g := aws.String(name)
	return r.policies("group "+name, calls{
		attached: func(m *string) (page[iamtypes.AttachedPolicy], error) {
			out, err := r.l.IAM.ListAttachedGroupPolicies(r.ctx, &iam.ListAttachedGroupPoliciesInput{GroupName: g, Marker: m, MaxItems: r.maxItems()})
			if err != nil {
				return page[iamtypes.AttachedPolicy]{}, err
			}
			return pageOf(out.AttachedPolicies, out.IsTruncated, out.Marker), nil
		},
		inline: func(m *string) (page[string], error) {
			out, err := r.l.IAM.ListGroupPolicies(r.ctx, &iam.ListGroupPoliciesInput{GroupName: g, Marker: m, MaxItems: r.maxItems()})
			if err != nil {
				return page[string]{}, err
			}
			return pageOf(out.PolicyNames, out.IsTruncated, out.Marker), nil
		},
		get: func(policy string) (*string, error) {
			out, err := r.l.IAM.GetGroupPolicy(r.ctx, &iam.GetGroupPolicyInput{GroupName: g, PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
	})
}

func (r *reading) role(name string) error {
	n := aws.String(name)
	err := r.policies("role "+name, calls{
		attached: func(m *string) (page[iamtypes.AttachedPolicy], error) {
			out, err := r.l.IAM.ListAttachedRolePolicies(r.ctx, &iam.ListAttachedRolePoliciesInput{RoleName: n, Marker: m, MaxItems: r.maxItems()})
			if err != nil {
				return page[iamtypes.AttachedPolicy]{}, err
			}
			return pageOf(out.AttachedPolicies, out.IsTruncated, out.Marker), nil
		},
		inline: func(m *string) (page[string], error) {
			out, err := r.l.IAM.ListRolePolicies(r.ctx, &iam.ListRolePoliciesInput{RoleName: n, Marker: m, MaxItems: r.maxItems()})
			if err != nil {
				return page[string]{}, err
			}
			return pageOf(out.PolicyNames, out.IsTruncated, out.Marker), nil
		},
		get: func(policy string) (*string, error) {
			out, err := r.l.IAM.GetRolePolicy(r.ctx, &iam.GetRolePolicyInput{RoleName: n, PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}

// pages calls list with each page's marker, one read each, until it
// returns no next marker or an error.
func (r *reading) pages(list func(marker *string) (next *string, err error)) error {
	var marker *string
	for {
		if err := r.read(); err != nil {
			return err
		}
		next, err := list(marker)
		if err != nil || next == nil {
			return err
		}
		marker = next
	}
}

// policies considers every managed policy attached to owner (each one's
// default version) and every inline policy of it, through c, every page.
func (r *reading) policies(owner string, c calls) error {
	err := r.pages(func(m *string) (*string, error) {
		pg, err := c.attached(m)
		if err != nil {
			return nil, fmt.Errorf("list managed policies of %s: %w", owner, err)
		}
		for _, a := range pg.items {
			v, err := r.managed(aws.ToString(a.PolicyArn))
			if err := r.consider(fmt.Sprintf("managed policy %s of %s", aws.ToString(a.PolicyName), owner), v, err); err != nil {
				return nil, err
			}
		}
		return pg.next, nil
	})
	if err != nil {
		return err
	}
	return r.pages(func(m *string) (*string, error) {
		pg, err := c.inline(m)
		if err != nil {
			return nil, fmt.Errorf("list inline policies of %s: %w", owner, err)
		}
		for _, name := range pg.items {
			if err := r.read(); err != nil {
				return nil, err
			}
			doc, err := c.get(name)
			if err != nil {
				return nil, fmt.Errorf("read inline policy %s of %s: %w", name, owner, err)
			}
			v, perr := ClassifyDocument(aws.ToString(doc))
			if err := r.consider(fmt.Sprintf("inline policy %s of %s", name, owner), v, perr); err != nil {
				return nil, err
			}
		}
		return pg.next, nil
	})
}

// managed returns the verdict of a managed policy's default version,
// cached by ARN. A document that cannot be parsed is an error returned to
// consider; an IAM failure stops the lookup.
func (r *reading) managed(arn string) (Verdict, error) {
	if c, ok := r.l.managed[arn]; ok {
		return c.v, c.err
	}
	if isAdministratorAccess(arn) {
		return Verdict{finding.ImpactAdmin, "AdministratorAccess, AWS's policy that allows * on *"}, nil
	}
	if err := r.read(); err != nil {
		return Verdict{}, err
	}
	pol, err := r.l.IAM.GetPolicy(r.ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return Verdict{}, fmt.Errorf("read managed policy %s: %w", arn, err)
	}
	if err := r.read(); err != nil {
		return Verdict{}, err
	}
	ver, err := r.l.IAM.GetPolicyVersion(r.ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
	if err != nil {
		return Verdict{}, fmt.Errorf("read the default version of managed policy %s: %w", arn, err)
	}
	var doc string
	if ver.PolicyVersion != nil {
		doc = aws.ToString(ver.PolicyVersion.Document)
	}
	v, err := ClassifyDocument(doc)
	if r.l.managed == nil {
		r.l.managed = map[string]verdictOrErr{}
	}
	r.l.managed[arn] = verdictOrErr{v, err}
	return v, err
}
