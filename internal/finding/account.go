package finding

import (
	"regexp"
	"strings"
)

// SplitARN returns the partition and account of an ARN
// (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE). ok is false when s is not
// shaped as an ARN; account may be "" for ARNs that carry none (an S3
// bucket's).
func SplitARN(s string) (partition, account string, ok bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[1], parts[4], true
}

// regionPartitions maps region names to partitions, in the order the SDK
// tries them (aws-sdk-go-v2 internal/endpoints/awsrulesfn/partitions.json,
// regionRegex). A region that matches none has no known partition.
var regionPartitions = []struct {
	partition string
	re        *regexp.Regexp
}{
	{"aws-cn", regexp.MustCompile(`^cn-\w+-\d+$`)},
	{"aws-us-gov", regexp.MustCompile(`^us-gov-\w+-\d+$`)},
	{"aws-iso", regexp.MustCompile(`^us-iso-\w+-\d+$`)},
	{"aws-iso-b", regexp.MustCompile(`^us-isob-\w+-\d+$`)},
	{"aws-iso-e", regexp.MustCompile(`^eu-isoe-\w+-\d+$`)},
	{"aws-iso-f", regexp.MustCompile(`^us-isof-\w+-\d+$`)},
	{"aws-eusc", regexp.MustCompile(`^eusc-de-\w+-\d+$`)},
	{"aws", regexp.MustCompile(`^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$`)},
}

// PartitionOfRegion returns the partition a region belongs to, or "".
func PartitionOfRegion(region string) string {
	for _, p := range regionPartitions {
		if p.re.MatchString(region) {
			return p.partition
		}
	}
	return ""
}

// EventBridgeSource is the source EventBridge gives the events a service
// sends through CloudTrail: "aws." and the service's name, so
// signin.amazonaws.com arrives as aws.signin and monitoring.amazonaws.com as
// aws.monitoring (EventBridge events reference, each service's "events
// delivered via AWS CloudTrail"). It returns "" for an eventSource that is
// not an AWS service's.
func EventBridgeSource(eventSource string) string {
	name, ok := strings.CutSuffix(eventSource, ".amazonaws.com")
	if !ok || name == "" {
		return ""
	}
	return "aws." + name
}

// accountRefs collects the places an event names an account.
type accountRefs []AccountRef

// add records a plain account id field; empty ones are not recorded.
func (r *accountRefs) add(field, account, partition string) {
	if account == "" && partition == "" {
		return
	}
	*r = append(*r, AccountRef{Field: field, Account: account, Partition: partition})
}

// addARN records the partition and account of an ARN field. An ARN that
// cannot be read is recorded with no account, so the planner sees that the
// principal's account is unknown rather than nothing at all.
func (r *accountRefs) addARN(field, arn string) (partition, account string) {
	if arn == "" {
		return "", ""
	}
	partition, account, _ = SplitARN(arn)
	*r = append(*r, AccountRef{Field: field, Account: account, Partition: partition})
	return partition, account
}
