// Package protect decides whether a principal is exempt from containment:
// the responder's own role, service-linked roles, principals whose ARN
// matches a protect pattern, and users and roles tagged
// autocontain:protected = true. A protected principal is never contained;
// the plan says so and the notification carries it.
package protect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// TagKey and TagValue mark a user, role or instance as never to be
// contained (finding.IsProtectValue reads the value).
const (
	TagKey   = finding.ProtectTag
	TagValue = "true"
)

// serviceLinkedPath is the path of every service-linked role; AWS owns them
// and IAM refuses changes to them (IAM User Guide, "Using service-linked roles").
const serviceLinkedPath = "/aws-service-role/"

// IAMReader is the part of the IAM API the guard needs: read-only.
type IAMReader interface {
	GetUser(ctx context.Context, in *iam.GetUserInput, opts ...func(*iam.Options)) (*iam.GetUserOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, opts ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListUserTags(ctx context.Context, in *iam.ListUserTagsInput, opts ...func(*iam.Options)) (*iam.ListUserTagsOutput, error)
	ListRoleTags(ctx context.Context, in *iam.ListRoleTagsInput, opts ...func(*iam.Options)) (*iam.ListRoleTagsOutput, error)
}

var _ IAMReader = (*iam.Client)(nil)

// Permissions lists the IAM actions the guard needs.
func Permissions() []string {
	return []string{"iam:GetRole", "iam:GetUser", "iam:ListRoleTags", "iam:ListUserTags"}
}

// Guard checks principals against the protect list.
type Guard struct {
	IAM IAMReader
	// SelfRoleARN is the responder's own role: never contained, whatever a
	// finding says, so that autocontain cannot lock itself out.
	SelfRoleARN string
	// Patterns are ARN globs from the playbook (settings.protect).
	Patterns []playbook.Pattern
	// Roles are role names never contained in any account: in
	// organization mode, OrganizationRoles.
	Roles []string
}

// OrganizationRoles are the roles organization mode never contains, in any
// account: the member role autocontain acts through (containing it would
// lock autocontain out of the account), the role Organizations creates for
// the management account (OrganizationAccountAccessRole) and Control
// Tower's (AWSControlTowerExecution), which administrators use to repair a
// member account.
func OrganizationRoles(memberRole string) []string {
	return []string{memberRole, "OrganizationAccountAccessRole", "AWSControlTowerExecution"}
}

// Check returns why p is protected, or "" when it is not. The error is
// non-nil when protection could not be verified; the caller must then not
// contain p.
func (g *Guard) Check(ctx context.Context, p finding.Principal) (string, error) {
	user, role := containedEntity(p)
	switch {
	case role != "":
		return g.checkRole(ctx, role, p.RoleARN)
	case user != "":
		return g.checkUser(ctx, user)
	}
	return "", nil
}

// containedEntity names the IAM user or role that containment of p would change.
func containedEntity(p finding.Principal) (user, role string) {
	switch p.Kind {
	case finding.KindAssumedRole:
		return "", p.RoleName
	case finding.KindIAMUserKey, finding.KindIAMUserSession, finding.KindFederated:
		return p.UserName, ""
	}
	return "", ""
}

func (g *Guard) checkRole(ctx context.Context, name, arn string) (string, error) {
	if self := roleName(g.SelfRoleARN); self != "" && self == name {
		return "it is autocontain's own role", nil
	}
	for _, r := range g.Roles {
		if r == name {
			return fmt.Sprintf("role %s is one that organization mode never contains (autocontain's member role, or an organization administrator's)", name), nil
		}
	}
	if strings.HasPrefix(name, "AWSServiceRoleFor") || strings.Contains(arn, ":role"+serviceLinkedPath) {
		return "it is a service-linked role, owned by AWS", nil
	}
	out, err := g.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("check protection of role %s: %w", name, notFound(err))
	}
	r := out.Role
	if strings.HasPrefix(aws.ToString(r.Path), serviceLinkedPath) {
		return "it is a service-linked role, owned by AWS", nil
	}
	if why := g.matchPattern(aws.ToString(r.Arn)); why != "" {
		return why, nil
	}
	// GetRole returns the role's tags, but ListRoleTags pages past 50.
	tags := iam.NewListRoleTagsPaginator(g.IAM, &iam.ListRoleTagsInput{RoleName: aws.String(name)})
	for tags.HasMorePages() {
		page, err := tags.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("read tags of role %s: %w", name, err)
		}
		if tagged(page.Tags) {
			return fmt.Sprintf("role %s is tagged %s=%s", name, TagKey, TagValue), nil
		}
	}
	return "", nil
}

func (g *Guard) checkUser(ctx context.Context, name string) (string, error) {
	out, err := g.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("check protection of user %s: %w", name, notFound(err))
	}
	if why := g.matchPattern(aws.ToString(out.User.Arn)); why != "" {
		return why, nil
	}
	tags := iam.NewListUserTagsPaginator(g.IAM, &iam.ListUserTagsInput{UserName: aws.String(name)})
	for tags.HasMorePages() {
		page, err := tags.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("read tags of user %s: %w", name, err)
		}
		if tagged(page.Tags) {
			return fmt.Sprintf("user %s is tagged %s=%s", name, TagKey, TagValue), nil
		}
	}
	return "", nil
}

// matchPattern matches the entity's full ARN, path included, which the
// finding alone may not carry.
func (g *Guard) matchPattern(arn string) string {
	for _, p := range g.Patterns {
		if p.Match(arn) {
			return fmt.Sprintf("%s matches the protect pattern %q", arn, p)
		}
	}
	return ""
}

func tagged(tags []iamtypes.Tag) bool {
	for _, t := range tags {
		if finding.IsProtectTag(aws.ToString(t.Key), aws.ToString(t.Value)) {
			return true
		}
	}
	return false
}

// notFound makes a missing entity's error say so plainly.
func notFound(err error) error {
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return fmt.Errorf("it does not exist: %w", err)
	}
	return err
}

// roleName returns the last path segment of a role ARN.
func roleName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":role/")
	if !ok {
		return ""
	}
	return rest[strings.LastIndex(rest, "/")+1:]
}
