package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Organization mode's contract with the function (the function half reads
// the same names in internal/account): the variables the stack sets in
// organization mode only, and the names the member stack gives its role
// and IP sets, by which the function finds them.
const (
	// EnvOrganizationID switches the function's organization mode on.
	EnvOrganizationID = account.EnvOrganizationID
	// EnvMemberRoleName names the member role the function assumes.
	EnvMemberRoleName = account.EnvMemberRoleName
	// DefaultMemberRoleName is the member role's name without context
	// memberRoleName.
	DefaultMemberRoleName = account.DefaultMemberRoleName
	// MemberIPSetV4 and MemberIPSetV6 are the names of each member's
	// REGIONAL IP sets, in each Region the StackSet deploys to.
	MemberIPSetV4 = plan.IPSetV4Name
	MemberIPSetV6 = plan.IPSetV6Name
)

// OrgConfig is organization mode's options: context organizationId
// switches it on; the others are refused without it.
type OrgConfig struct {
	// ID is the organization's id, o-....
	ID string
	// MemberTargets are the OUs the member StackSet deploys to, accounts
	// that join them later included.
	MemberTargets []string
	// Regions are the Regions of the member stacks, and of the GuardDuty
	// forwarders (every one but the central stack's).
	Regions []string
	// MemberRoleName is the role the member stack creates and the function
	// assumes.
	MemberRoleName string
}

// On reports whether organization mode is on.
func (o OrgConfig) On() bool { return o.ID != "" }

// Formats from the APIs that define them.
var (
	// Organizations API Reference, Organization.Id: ^o-[a-z0-9]{10,32}$.
	orgIDFormat = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// Organizations API Reference, OrganizationalUnit.Id:
	// ^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$.
	ouIDFormat = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	// A Region's name: partition prefix, area, number (us-east-1,
	// us-gov-west-1, ap-southeast-5, cn-north-1, eu-central-2).
	regionFormat = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	// IAM API Reference, CreateRole.RoleName: [\w+=,.@-]+, 1 to 64.
	roleNameFormat = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

// globalRegion is where the commercial partition's global services
// (IAM, console sign-in) deliver their CloudTrail events to EventBridge
// (/work/shared/reference/aws-facts-detailed.md: "Global services ...
// deliver events only to us-east-1").
const globalRegion = "us-east-1"

// globalEventSources are the CloudTrail event sources whose events only
// globalRegion receives.
var globalEventSources = []string{"iam.amazonaws.com", "signin.amazonaws.com"}

// orgOptions are organization mode's context keys.
func orgOptions() []option {
	return []option{
		{"organizationId", "none (single-account mode)", "the AWS Organization's id, `o-…`: switches organization mode on (a central bus for the organization, the member StackSet, the GuardDuty forwarders; see \"Organization mode\")",
			into(func(c *Config) any { return &c.Org.ID })},
		{"memberTargets", "none", "organization mode: the OUs (`ou-…`, comma-separated) the member StackSet deploys to, accounts that join them later included",
			into(func(c *Config) any { return &c.Org.MemberTargets })},
		{"regions", "none", "organization mode: the Regions (comma-separated) of the member stacks and of the GuardDuty forwarders; they include the stack's own Region, and `us-east-1` when the playbook acts on IAM or sign-in events",
			into(func(c *Config) any { return &c.Org.Regions })},
		{"memberRoleName", "`" + DefaultMemberRoleName + "`", "organization mode: the name of the role the member stack creates in each member account and the function assumes",
			into(func(c *Config) any { return &c.Org.MemberRoleName })},
	}
}

// validate checks organization mode's options; pb is the effective
// playbook, whose CloudTrail rules say which Regions must forward.
func (o OrgConfig) validate(pb *playbook.Playbook) error {
	if !o.On() {
		var given []string
		if len(o.MemberTargets) > 0 {
			given = append(given, "memberTargets")
		}
		if len(o.Regions) > 0 {
			given = append(given, "regions")
		}
		if o.MemberRoleName != DefaultMemberRoleName && o.MemberRoleName != "" {
			given = append(given, "memberRoleName")
		}
		if len(given) > 0 {
			return fmt.Errorf("context %s: organization mode's options need context organizationId (o-…)", strings.Join(given, ", "))
		}
		return nil
	}
	var errs []error
	if !orgIDFormat.MatchString(o.ID) {
		errs = append(errs, fmt.Errorf("context organizationId: %q is not an organization id (o- and 10 to 32 lowercase letters or digits)", o.ID))
	}
	if len(o.MemberTargets) == 0 {
		errs = append(errs, errors.New("context memberTargets: organization mode needs the OUs (ou-…) the member stacks go to"))
	}
	for _, ou := range o.MemberTargets {
		if !ouIDFormat.MatchString(ou) {
			errs = append(errs, fmt.Errorf("context memberTargets: %q is not an OU id (ou-<root>-<id>)", ou))
		}
	}
	if len(o.Regions) == 0 {
		errs = append(errs, errors.New("context regions: organization mode needs the Regions the member stacks go to"))
	}
	seen := map[string]bool{}
	for _, r := range o.Regions {
		if !regionFormat.MatchString(r) {
			errs = append(errs, fmt.Errorf("context regions: %q is not a Region name (like us-east-1)", r))
		}
		if seen[r] {
			errs = append(errs, fmt.Errorf("context regions: %s is listed twice", r))
		}
		seen[r] = true
	}
	if src := globalSources(pb); len(src) > 0 && commercial(o.Regions) && !seen[globalRegion] {
		errs = append(errs, fmt.Errorf("context regions: the playbook acts on CloudTrail events of %s, which only %s receives: add %s",
			strings.Join(src, ", "), globalRegion, globalRegion))
	}
	if !roleNameFormat.MatchString(o.MemberRoleName) {
		errs = append(errs, fmt.Errorf("context memberRoleName: %q is not an IAM role name (1 to 64 of letters, digits and +=,.@_-)", o.MemberRoleName))
	}
	return errors.Join(errs...)
}

// checkHomeRegion: the central stack's Region is one of the Regions, so
// that its members' events there reach it.
func (o OrgConfig) checkHomeRegion(region string) error {
	if o.On() && len(o.Regions) > 0 && !slices.Contains(o.Regions, region) {
		return fmt.Errorf("context regions: %s does not include the stack's own Region, %s", strings.Join(o.Regions, ","), region)
	}
	return nil
}

// globalSources are the playbook's CloudTrail event sources that only
// globalRegion receives.
func globalSources(pb *playbook.Playbook) []string {
	var out []string
	for _, r := range pb.Rules {
		if r.Source == finding.SourceCloudTrail && slices.Contains(globalEventSources, r.EventSource) && !slices.Contains(out, r.EventSource) {
			out = append(out, r.EventSource)
		}
	}
	return out
}

// commercial reports whether the Regions are the commercial partition's,
// whose global services deliver to us-east-1 (GovCloud and China have
// their own).
func commercial(regions []string) bool {
	for _, r := range regions {
		if strings.HasPrefix(r, "us-gov-") || strings.HasPrefix(r, "cn-") {
			return false
		}
	}
	return true
}

// memberRoleRegion is the one Region whose member stack creates the member
// role: IAM is global, so a role created by every Region's stack instance
// would collide on its name. us-east-1 when listed (IAM's own Region in
// the commercial partition), else the first Region.
func (o OrgConfig) memberRoleRegion() string {
	if slices.Contains(o.Regions, globalRegion) {
		return globalRegion
	}
	return o.Regions[0]
}
