package finding

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Instance is the EC2 instance a finding is about, as GuardDuty saw it
// when it wrote the finding (resource.instanceDetails). It is what the
// planner decides on and what the plan shows; the instance's current
// state (interfaces, groups, tags) may differ by the time anything is
// done, so the action reads it again.
type Instance struct {
	// ID is the instance id, i- and 8 or 17 hex digits.
	ID string `json:"id"`
	// State is instanceState as GuardDuty gave it (running, stopped, ...).
	State string `json:"state,omitempty"`
	// ProfileARN is the instance profile's ARN
	// (iamInstanceProfile.arn); "" when the instance has none.
	ProfileARN string `json:"profileArn,omitempty"`
	// ProfileID is the instance profile's unique id (AIPA...).
	ProfileID  string      `json:"profileId,omitempty"`
	Interfaces []Interface `json:"interfaces,omitempty"`
	Tags       []Tag       `json:"tags,omitempty"`
}

// Interface is one network interface of an instance.
type Interface struct {
	ID             string          `json:"id"`
	VPC            string          `json:"vpc,omitempty"`
	Subnet         string          `json:"subnet,omitempty"`
	SecurityGroups []SecurityGroup `json:"securityGroups,omitempty"`
	PrivateIP      string          `json:"privateIp,omitempty"`
	PublicIP       string          `json:"publicIp,omitempty"`
	IPv6           []string        `json:"ipv6,omitempty"`
}

// SecurityGroup is a security group of an interface.
type SecurityGroup struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Tag is one tag of an instance.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tags an instance carries that decide whether it may be isolated.
const (
	// ProtectTag exempts an instance, as it exempts a user or role, when
	// its value is true (package protect).
	ProtectTag = "autocontain:protected"
	// AutoScalingTag names the Auto Scaling group an instance belongs to;
	// EC2 Auto Scaling adds it to every instance it launches (EC2 Auto
	// Scaling User Guide, "Tag Auto Scaling groups and instances").
	AutoScalingTag = "aws:autoscaling:groupName"
)

// Tag returns the value of the instance's tag key, and whether it has one.
func (i Instance) Tag(key string) (string, bool) {
	for _, t := range i.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Protected reports whether the instance is tagged autocontain:protected
// with the value true (the value's case and surrounding spaces aside, as
// the protect guard reads the tag of a user or role).
//
// EC2 tag keys are case sensitive, so "Autocontain:Protected" is another
// tag to AWS, and an instance may carry both (Security Hub copies them as
// two keys of Resources[].Tags). The finding's tags cannot steer this
// toward isolation: every tag whose key is the protect tag's, whatever its
// case, and every copy of it (GuardDuty's tags are a list, which may repeat
// a key), is read, and the instance is protected if any says true. A
// report where an isolation was meant costs a person a look; an isolation
// where protection was meant cannot be taken back as easily, and whoever
// can tag the instance could write the exact key anyway.
func (i Instance) Protected() bool {
	for _, t := range i.Tags {
		if IsProtectTag(t.Key, t.Value) {
			return true
		}
	}
	return false
}

// IsProtectTag reports whether the tag key=value exempts the user, role or
// instance that carries it: the key is ProtectTag in any case (IAM's
// condition key names, aws:ResourceTag/KEY included, ignore case, so the
// stack's denies protect such a key too) and the value passes
// IsProtectValue. A resource with several such tags is protected if any of
// them says so. Every reader of the tag decides by this one function.
func IsProtectTag(key, value string) bool {
	return strings.EqualFold(key, ProtectTag) && IsProtectValue(value)
}

// IsProtectValue reports whether v, the value of a ProtectTag on a user,
// role or instance, exempts it: true, whatever its case and surrounding
// spaces.
func IsProtectValue(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

// AutoScalingGroup is the Auto Scaling group the instance's tags name; ""
// when they name none.
func (i Instance) AutoScalingGroup() string {
	v, _ := i.Tag(AutoScalingTag)
	return v
}

// ProfileName is the instance profile's name, the last part of its ARN's
// path; "" when the instance has no profile.
func (i Instance) ProfileName() string {
	if i.ProfileARN == "" {
		return ""
	}
	return i.ProfileARN[strings.LastIndex(i.ProfileARN, "/")+1:]
}

// instanceID is an EC2 instance id: i- and 8 (older) or 17 hex digits
// (EC2 User Guide, "Resource IDs"); 8 to 17 are accepted.
var instanceID = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// instanceProfileARN is an IAM instance profile's ARN, with an optional
// path (IAM User Guide, "IAM identifiers").
var instanceProfileARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:instance-profile/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$`)

// IsInstanceID reports whether s is an EC2 instance id.
func IsInstanceID(s string) bool { return instanceID.MatchString(s) }

// IsInstanceProfileARN reports whether s is an IAM instance profile's ARN.
func IsInstanceProfileARN(s string) bool { return instanceProfileARN.MatchString(s) }

// gdInstance is resource.instanceDetails as GuardDuty writes it (aws-sdk-go-v2
// service/guardduty types.InstanceDetails, in lower camelCase). Only what
// autocontain reads is decoded: launchTime, which older findings write as
// a number where the model says a string, is not.
type gdInstance struct {
	InstanceID         string `json:"instanceId"`
	InstanceState      string `json:"instanceState"`
	IamInstanceProfile *struct {
		ARN string `json:"arn"`
		ID  string `json:"id"`
	} `json:"iamInstanceProfile"`
	NetworkInterfaces []struct {
		NetworkInterfaceID string `json:"networkInterfaceId"`
		VpcID              string `json:"vpcId"`
		SubnetID           string `json:"subnetId"`
		SecurityGroups     []struct {
			GroupID   string `json:"groupId"`
			GroupName string `json:"groupName"`
		} `json:"securityGroups"`
		PrivateIPAddress string   `json:"privateIpAddress"`
		PublicIP         string   `json:"publicIp"`
		Ipv6Addresses    []string `json:"ipv6Addresses"`
	} `json:"networkInterfaces"`
	Tags []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"tags"`
}

const instanceField = "detail.resource.instanceDetails"

// parseInstance reads resource.instanceDetails. It returns nil, and no
// error, when the finding carries none or names no instance id (GuardDuty
// leaves the details out when the instance was already terminated). An
// id that is not an instance id, a profile ARN that is not an instance
// profile's, or an identity field holding an invalid character is an
// error naming its JSON path.
func parseInstance(raw json.RawMessage) (*Instance, error) {
	if !isObject(raw) {
		if len(raw) == 0 || string(raw) == "null" {
			return nil, nil
		}
		return nil, fmt.Errorf("%s is not an object", instanceField)
	}
	var d gdInstance
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, describe(prefixField(err, instanceField))
	}
	if d.InstanceID == "" {
		return nil, nil
	}
	in := &Instance{ID: d.InstanceID, State: d.InstanceState}
	fields := [][2]string{{instanceField + ".instanceId", d.InstanceID}, {instanceField + ".instanceState", d.InstanceState}}
	if p := d.IamInstanceProfile; p != nil {
		in.ProfileARN, in.ProfileID = p.ARN, p.ID
		fields = append(fields, [2]string{instanceField + ".iamInstanceProfile.arn", p.ARN}, [2]string{instanceField + ".iamInstanceProfile.id", p.ID})
	}
	for i, n := range d.NetworkInterfaces {
		base := fmt.Sprintf("%s.networkInterfaces[%d].", instanceField, i)
		ni := Interface{ID: n.NetworkInterfaceID, VPC: n.VpcID, Subnet: n.SubnetID, PrivateIP: n.PrivateIPAddress, PublicIP: n.PublicIP, IPv6: n.Ipv6Addresses}
		fields = append(fields, [2]string{base + "networkInterfaceId", n.NetworkInterfaceID}, [2]string{base + "vpcId", n.VpcID}, [2]string{base + "subnetId", n.SubnetID})
		for j, g := range n.SecurityGroups {
			ni.SecurityGroups = append(ni.SecurityGroups, SecurityGroup{ID: g.GroupID, Name: g.GroupName})
			fields = append(fields, [2]string{fmt.Sprintf("%ssecurityGroups[%d].groupId", base, j), g.GroupID},
				[2]string{fmt.Sprintf("%ssecurityGroups[%d].groupName", base, j), g.GroupName})
		}
		in.Interfaces = append(in.Interfaces, ni)
	}
	for i, t := range d.Tags {
		in.Tags = append(in.Tags, Tag(t))
		fields = append(fields, [2]string{fmt.Sprintf("%s.tags[%d].key", instanceField, i), t.Key}, [2]string{fmt.Sprintf("%s.tags[%d].value", instanceField, i), t.Value})
	}
	if err := checkText(fields...); err != nil {
		return nil, err
	}
	return in, in.check(instanceField+".instanceId", instanceField+".iamInstanceProfile.arn")
}

// check refuses an instance whose id is not an instance id, or whose
// profile ARN is not an instance profile's, naming the JSON path each
// was read from.
func (i *Instance) check(idPath, profilePath string) error {
	if !IsInstanceID(i.ID) {
		return fmt.Errorf("%s %q is not an EC2 instance id (i- and 8 to 17 lower-case hex digits)", idPath, i.ID)
	}
	if i.ProfileARN != "" && !IsInstanceProfileARN(i.ProfileARN) {
		return fmt.Errorf("%s %q is not an instance profile's ARN (arn:aws:iam::123456789012:instance-profile/NAME)", profilePath, i.ProfileARN)
	}
	return nil
}
