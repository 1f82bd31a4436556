package finding

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// gdFinding holds only the fields of a GuardDuty finding that autocontain
// reads. AWS's own types.Finding is not used: older real findings carry
// numbers where its model says strings (launchTime, organization.asn) and it
// drops the sample marker in additionalInfo.
type gdFinding struct {
	ID        string   `json:"id"`
	AccountID string   `json:"accountId"`
	Partition string   `json:"partition"`
	Region    string   `json:"region"`
	Type      string   `json:"type"`
	Severity  *float64 `json:"severity"`
	UpdatedAt string   `json:"updatedAt"`
	Title     string   `json:"title"`
	Resource  struct {
		ResourceType     string            `json:"resourceType"`
		AccessKeyDetails *accessKeyDetails `json:"accessKeyDetails"`
		// InstanceDetails is read only for an Instance finding: other
		// findings may carry a dummy block (GuardDuty's samples do).
		InstanceDetails json.RawMessage `json:"instanceDetails"`
	} `json:"resource"`
	Service struct {
		Archived       bool            `json:"archived"`
		Count          int             `json:"count"`
		ResourceRole   string          `json:"resourceRole"`
		AdditionalInfo json.RawMessage `json:"additionalInfo"`
		Action         gdAction        `json:"action"`
		Detection      *struct {
			Sequence *gdSequence `json:"sequence"`
		} `json:"detection"`
	} `json:"service"`
}

type accessKeyDetails struct {
	AccessKeyID string `json:"accessKeyId"`
	PrincipalID string `json:"principalId"`
	UserName    string `json:"userName"`
	UserType    string `json:"userType"`
}

type remoteIP struct {
	IPAddressV4 string `json:"ipAddressV4"`
	IPAddressV6 string `json:"ipAddressV6"`
}

type withRemoteIP struct {
	RemoteIPDetails *remoteIP `json:"remoteIpDetails"`
}

type gdAction struct {
	ActionType              string        `json:"actionType"`
	AwsAPICallAction        *withRemoteIP `json:"awsApiCallAction"`
	NetworkConnectionAction *withRemoteIP `json:"networkConnectionAction"`
	RdsLoginAttemptAction   *withRemoteIP `json:"rdsLoginAttemptAction"`
	KubernetesAPICallAction *struct {
		withRemoteIP
		SourceIPs []string `json:"sourceIPs"`
	} `json:"kubernetesApiCallAction"`
	PortProbeAction *struct {
		PortProbeDetails []withRemoteIP `json:"portProbeDetails"`
	} `json:"portProbeAction"`
}

func parseGuardDuty(env envelope) (Finding, error) {
	var d gdFinding
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return Finding{}, fmt.Errorf("GuardDuty finding: %w", describe(prefixField(err, "detail")))
	}
	if k := d.Resource.AccessKeyDetails; k != nil {
		const base = "detail.resource.accessKeyDetails."
		if err := checkText([2]string{base + "accessKeyId", k.AccessKeyID}, [2]string{base + "principalId", k.PrincipalID},
			[2]string{base + "userName", k.UserName}, [2]string{base + "userType", k.UserType}); err != nil {
			return Finding{}, fmt.Errorf("GuardDuty finding: %w", err)
		}
	}
	if err := checkText([2]string{"detail.accountId", d.AccountID}, [2]string{"detail.partition", d.Partition}); err != nil {
		return Finding{}, fmt.Errorf("GuardDuty finding: %w", err)
	}
	region := firstNonEmpty(env.Region, d.Region)
	// The envelope's account is the bus's owner: a GuardDuty administrator
	// receives its members' findings with its own account there and the
	// member's in detail.accountId. Both are kept for the planner.
	var refs accountRefs
	refs.add("account", env.Account, "")
	refs.add("detail.accountId", d.AccountID, d.Partition)
	f := Finding{
		Source:       SourceGuardDuty,
		ID:           d.ID,
		Type:         d.Type,
		Account:      firstNonEmpty(d.AccountID, env.Account),
		Partition:    firstNonEmpty(d.Partition, PartitionOfRegion(region)),
		Accounts:     refs,
		Region:       region,
		Title:        d.Title,
		Count:        d.Service.Count,
		Archived:     d.Service.Archived,
		ResourceType: d.Resource.ResourceType,
		Resource:     guardDutyResource(env.Detail),
		ResourceRole: d.Service.ResourceRole,
		Sample:       isSample(d.Service.AdditionalInfo),
	}
	switch {
	case f.ID == "":
		return Finding{}, errors.New("GuardDuty finding: detail.id is missing")
	case f.Type == "":
		return Finding{}, errors.New("GuardDuty finding: detail.type is missing")
	case d.Severity == nil:
		return Finding{}, errors.New("GuardDuty finding: detail.severity is missing")
	case *d.Severity < 0 || *d.Severity > 10:
		return Finding{}, fmt.Errorf("GuardDuty finding: detail.severity %g is outside 0–10", *d.Severity)
	}
	f.Severity = *d.Severity
	t, err := parseTime("detail.updatedAt", d.UpdatedAt)
	if err != nil {
		return Finding{}, fmt.Errorf("GuardDuty finding: %w", err)
	}
	f.UpdatedAt = t
	if f.ResourceType == ResourceInstance {
		in, err := parseInstance(d.Resource.InstanceDetails)
		switch {
		case err != nil && f.Sample:
			// GuardDuty's sample findings name placeholders
			// (arn:aws:iam::123456789012:example/instance/profile): a
			// sample is not failed for them, and names no instance.
		case err != nil:
			return Finding{}, fmt.Errorf("GuardDuty finding: %w", err)
		case in != nil:
			f.Instance = in
			refs.addARN(instanceField+".iamInstanceProfile.arn", in.ProfileARN)
			f.Accounts = refs
		}
	}
	f.Principal = guardDutyPrincipal(d.Resource.AccessKeyDetails, f.Partition, f.Account)
	var addrs addressList
	if err := guardDutyAddresses(&addrs, d.Service.Action); err != nil {
		return Finding{}, fmt.Errorf("GuardDuty finding: %w", err)
	}
	if det := d.Service.Detection; det != nil && det.Sequence != nil {
		if err := f.addSequence(&addrs, det.Sequence, "detail.service.detection.sequence"); err != nil {
			return Finding{}, fmt.Errorf("GuardDuty finding: %w", err)
		}
	}
	f.Addresses = addrs.addrs
	return f, nil
}

// guardDutyAddresses adds to l every remote address the action carries, in
// every place GuardDuty puts one (aws-sdk-go-v2 service/guardduty types.Action).
func guardDutyAddresses(l *addressList, a gdAction) error {
	remote := func(field string, r *remoteIP) error {
		if r == nil {
			return nil
		}
		if err := l.add(field+".ipAddressV4", r.IPAddressV4); err != nil {
			return err
		}
		return l.add(field+".ipAddressV6", r.IPAddressV6)
	}
	const base = "detail.service.action."
	if a.AwsAPICallAction != nil {
		if err := remote(base+"awsApiCallAction.remoteIpDetails", a.AwsAPICallAction.RemoteIPDetails); err != nil {
			return err
		}
	}
	if a.NetworkConnectionAction != nil {
		if err := remote(base+"networkConnectionAction.remoteIpDetails", a.NetworkConnectionAction.RemoteIPDetails); err != nil {
			return err
		}
	}
	if k := a.KubernetesAPICallAction; k != nil {
		if err := remote(base+"kubernetesApiCallAction.remoteIpDetails", k.RemoteIPDetails); err != nil {
			return err
		}
		for i, s := range k.SourceIPs {
			if err := l.add(fmt.Sprintf("%skubernetesApiCallAction.sourceIPs[%d]", base, i), s); err != nil {
				return err
			}
		}
	}
	if a.RdsLoginAttemptAction != nil {
		if err := remote(base+"rdsLoginAttemptAction.remoteIpDetails", a.RdsLoginAttemptAction.RemoteIPDetails); err != nil {
			return err
		}
	}
	if p := a.PortProbeAction; p != nil {
		for i, d := range p.PortProbeDetails {
			if err := remote(fmt.Sprintf("%sportProbeAction.portProbeDetails[%d].remoteIpDetails", base, i), d.RemoteIPDetails); err != nil {
				return err
			}
		}
	}
	return nil
}

// guardDutyPrincipal classifies resource.accessKeyDetails. GuardDuty gives
// userType IAMUser, AssumedRole (userName is the role's name, principalId
// AROA...:session), Root, FederatedUser or AWSService.
//
// The access key is a resource of the finding's account, so the principal's
// account and partition are the finding's.
func guardDutyPrincipal(k *accessKeyDetails, partition, account string) Principal {
	if k == nil {
		return Principal{Kind: KindNone}
	}
	// GuardDuty does not say which IAM user minted a federation token;
	// sample findings say GeneratedFindingAccessKeyId, not a key at all
	// (unknown).
	return classify(k.UserType, k.UserName, k.PrincipalID, k.AccessKeyID, "", partition, account)
}

// isSample reports GuardDuty's sample marker: additionalInfo.sample = true, or
// the same inside the JSON string additionalInfo.value (newer API output).
func isSample(info json.RawMessage) bool {
	if !isObject(info) {
		return false
	}
	var ai struct {
		Sample any    `json:"sample"`
		Value  string `json:"value"`
	}
	if json.Unmarshal(info, &ai) != nil {
		return false
	}
	if b, ok := ai.Sample.(bool); ok && b {
		return true
	}
	if s, ok := ai.Sample.(string); ok && strings.EqualFold(s, "true") {
		return true
	}
	if ai.Value != "" && isObject(json.RawMessage(ai.Value)) {
		return isSample(json.RawMessage(ai.Value))
	}
	return false
}

// prefixField prefixes an UnmarshalTypeError's field path, so errors read as
// JSON paths from the envelope.
func prefixField(err error, prefix string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		te.Field = prefix + "." + te.Field
	}
	return err
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// iamARN derives a user's or role's ARN; "" when the partition, the
// account or the name is unknown (no ARN is better than a wrong one).
func iamARN(partition, account, kind, name string) string {
	if partition == "" || account == "" || name == "" {
		return ""
	}
	return "arn:" + partition + ":iam::" + account + ":" + kind + "/" + name
}

func rootARN(partition, account string) string {
	if partition == "" || account == "" {
		return ""
	}
	return "arn:" + partition + ":iam::" + account + ":root"
}
