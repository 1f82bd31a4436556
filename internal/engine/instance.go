package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
)

// instanceProfileReader is the part of the IAM API that finds the role of
// an instance profile.
type instanceProfileReader interface {
	GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, opts ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
}

var _ instanceProfileReader = (*iam.Client)(nil)

// instanceReader is the part of the EC2 API that reads an instance's
// current tags.
type instanceReader interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

var _ instanceReader = (*ec2.Client)(nil)

// instanceRolePermissions are the actions withInstanceRole calls, in the
// account of the finding's instance (isolate-instance declares
// ec2:DescribeInstances too).
func instanceRolePermissions() []string {
	return []string{"iam:GetInstanceProfile", "ec2:DescribeInstances"}
}

// withInstanceRole reads, for a finding about an instance, the role of
// the instance's profile (iam:GetInstanceProfile, in the instance's
// account, through the side's IAM client) and plans again with it, so
// that the role's sessions are revoked as any role's: the profile's name
// says nothing certain about its role's, so the role is never guessed from
// it. First it reads the instance's current tags (ec2:DescribeInstances):
// an instance tagged protected since the finding was written keeps its
// role too (Facts.InstanceProtected). It reads only when the planner
// would contain that role
// (plan.InstanceProfile) and the run is not a dry run, which makes no AWS
// call. A profile that cannot be read fails the delivery, to be retried
// (the error is transient whatever its cause), but stops nothing else: the
// plan it returns then says the role was not read, and isolates the
// instance all the same, which needs no role.
func (e *Engine) withInstanceRole(ctx context.Context, p plan.Plan, facts *plan.Facts, in *side) (plan.Plan, error) {
	f := p.Finding
	s := e.Playbook.Settings
	if p.DryRun || f.Sample && !s.ActOnSamples || f.Archived && !s.ActOnArchived {
		return p, nil
	}
	rule, ok := e.Playbook.Match(f)
	if !ok {
		return p, nil
	}
	profile := plan.InstanceProfile(f, rule, *facts)
	if profile == "" {
		return p, nil
	}
	// The side's account: a profile of another account is not this
	// client's to read (the account rule already said it is reachable, so
	// this is a side chosen wrongly: fail rather than read elsewhere).
	reads := e.Home.ID
	if in.account != "" {
		reads = in.account
	}
	unread := func(err error) (plan.Plan, error) {
		facts.InstanceRoleUnread = err.Error()
		return plan.BuildWith(f, e.Playbook, *facts), failure.Transient(err)
	}
	if _, acct, _ := finding.SplitARN(profile); acct != reads {
		return unread(fmt.Errorf("read the role of instance profile %s: the delivery acts in account %s, not the profile's", profile, reads))
	}
	// The finding's tags may be older than the instance's: one tagged
	// protected since keeps its role too (isolate-instance reads them
	// again itself).
	if in.instances == nil {
		return unread(fmt.Errorf("read the tags of instance %s: no EC2 client to read them with", f.Instance.ID))
	}
	protected, err := instanceProtected(ctx, in.instances, f.Instance.ID)
	if err != nil {
		return unread(err)
	}
	if protected {
		facts.InstanceProtected = true
		return plan.BuildWith(f, e.Playbook, *facts), nil
	}
	r, ok := in.impact.(instanceProfileReader)
	if !ok {
		return unread(fmt.Errorf("read the role of instance profile %s: no IAM client to read it with", profile))
	}
	role, err := instanceRole(ctx, r, profile)
	if err != nil {
		return unread(err)
	}
	facts.InstanceRoles = map[string]string{profile: role}
	return plan.BuildWith(f, e.Playbook, *facts), nil
}

// instanceRole returns the ARN of the role of the instance profile arn,
// "" when it has none (a profile holds at most one role: IAM User Guide,
// "IAM and AWS STS quotas", roles in an instance profile).
func instanceRole(ctx context.Context, r instanceProfileReader, arn string) (string, error) {
	name := finding.Instance{ProfileARN: arn}.ProfileName()
	out, err := r.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("read the role of instance profile %s (iam:GetInstanceProfile): %w", arn, err)
	}
	ip := out.InstanceProfile
	if ip == nil {
		return "", errors.New("read the role of instance profile " + arn + ": IAM returned no profile")
	}
	if got := aws.ToString(ip.Arn); got != "" && got != arn {
		// A name is unique in its account, whatever the path: a profile
		// of that name on another path was made after the finding's.
		return "", fmt.Errorf("read the role of instance profile %s: IAM's profile of that name is %s, not the finding's", arn, got)
	}
	if len(ip.Roles) == 0 {
		return "", nil
	}
	return aws.ToString(ip.Roles[0].Arn), nil
}

// instanceProtected reads whether instance id is tagged protected now
// (contain.InstanceProtected, as isolate-instance reads it). An instance EC2 does not know is not
// protected: isolate-instance then refuses it on its own.
func instanceProtected(ctx context.Context, r instanceReader, id string) (bool, error) {
	out, err := r.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "InvalidInstanceID.NotFound" {
			return false, nil
		}
		return false, fmt.Errorf("read the tags of instance %s (ec2:DescribeInstances): %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if contain.InstanceProtected(in.Tags) {
				return true, nil
			}
		}
	}
	return false, nil
}
