package finding

import (
	"encoding/json"
	"strings"
	"unicode"
)

// gdResource holds the identities of the resources a GuardDuty finding can
// be about (aws-sdk-go-v2 service/guardduty types.Resource; the event uses
// the same names in lower camelCase).
type gdResource struct {
	ResourceType    string `json:"resourceType"`
	InstanceDetails struct {
		InstanceID string `json:"instanceId"`
	} `json:"instanceDetails"`
	S3BucketDetails []struct {
		Name            string `json:"name"`
		S3ObjectDetails []struct {
			Key string `json:"key"`
		} `json:"s3ObjectDetails"`
	} `json:"s3BucketDetails"`
	EksClusterDetails struct {
		Name string `json:"name"`
	} `json:"eksClusterDetails"`
	EcsClusterDetails struct {
		Name string `json:"name"`
	} `json:"ecsClusterDetails"`
	ContainerDetails struct {
		Name string `json:"name"`
		ID   string `json:"id"`
	} `json:"containerDetails"`
	LambdaDetails struct {
		FunctionName string `json:"functionName"`
	} `json:"lambdaDetails"`
	RdsDbInstanceDetails struct {
		DBInstanceIdentifier string `json:"dbInstanceIdentifier"`
	} `json:"rdsDbInstanceDetails"`
	RdsLimitlessDbDetails struct {
		DBShardGroupIdentifier string `json:"dbShardGroupIdentifier"`
	} `json:"rdsLimitlessDbDetails"`
}

// guardDutyResource returns the identity of the resource a GuardDuty
// finding is about, as the finding names it: an instance id, bucket names
// (bucket/key for an object), a cluster, a container, a function, a
// database. It is "" for an AccessKey finding (the principal is the
// resource) and when the finding names none. It never fails: the identity
// is told to a person, and a detail it cannot read leaves it out.
func guardDutyResource(detail json.RawMessage) string {
	var d struct {
		Resource gdResource `json:"resource"`
	}
	if json.Unmarshal(detail, &d) != nil {
		return ""
	}
	r := d.Resource
	byType := map[string]string{
		"AccessKey":      "",
		"Instance":       r.InstanceDetails.InstanceID,
		"S3Bucket":       r.buckets(false),
		"S3Object":       r.buckets(true),
		"EKSCluster":     r.EksClusterDetails.Name,
		"ECSCluster":     r.EcsClusterDetails.Name,
		"Container":      firstNonEmpty(r.ContainerDetails.Name, r.ContainerDetails.ID),
		"Lambda":         r.LambdaDetails.FunctionName,
		"RDSDBInstance":  r.RdsDbInstanceDetails.DBInstanceIdentifier,
		"RDSLimitlessDB": r.RdsLimitlessDbDetails.DBShardGroupIdentifier,
	}
	if id, ok := byType[r.ResourceType]; ok {
		return printable(id)
	}
	// A resource type this version does not know: the first identity the
	// finding carries.
	for _, t := range []string{"EKSCluster", "ECSCluster", "Container", "Lambda", "RDSDBInstance", "RDSLimitlessDB", "S3Object", "Instance"} {
		if id := byType[t]; id != "" {
			return printable(id)
		}
	}
	return ""
}

// buckets names the finding's buckets, comma-separated, or with objects
// their bucket/key.
func (r gdResource) buckets(objects bool) string {
	var names []string
	for _, b := range r.S3BucketDetails {
		if !objects || len(b.S3ObjectDetails) == 0 {
			if b.Name != "" {
				names = append(names, b.Name)
			}
			continue
		}
		for _, o := range b.S3ObjectDetails {
			names = append(names, b.Name+"/"+o.Key)
		}
	}
	return strings.Join(names, ", ")
}

// printable drops control characters, so an identity cannot break the
// lines of a plan or a notification.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
