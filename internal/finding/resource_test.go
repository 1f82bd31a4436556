package finding

import (
	"encoding/json"
	"testing"
)

// TestGuardDutyResource: the identity of each resource type, read where
// GuardDuty puts it; nothing for an AccessKey finding (its dummy instance
// details included) or an unreadable detail; control characters dropped.
func TestGuardDutyResource(t *testing.T) {
	tests := []struct {
		name, resource, want string
	}{
		{"instance", `{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0abc"}}`, "i-0abc"},
		{"access_key_ignores_dummy_instance", `{"resourceType":"AccessKey","instanceDetails":{"instanceId":"i-99999999"}}`, ""},
		{"buckets", `{"resourceType":"S3Bucket","s3BucketDetails":[{"name":"a"},{"name":"b"}]}`, "a, b"},
		{"object", `{"resourceType":"S3Object","s3BucketDetails":[{"name":"a","s3ObjectDetails":[{"key":"x/y.exe"}]}]}`, "a/x/y.exe"},
		{"eks", `{"resourceType":"EKSCluster","eksClusterDetails":{"name":"prod-eks"}}`, "prod-eks"},
		{"ecs", `{"resourceType":"ECSCluster","ecsClusterDetails":{"name":"web"}}`, "web"},
		{"container_by_id", `{"resourceType":"Container","containerDetails":{"id":"9a8b"}}`, "9a8b"},
		{"lambda", `{"resourceType":"Lambda","lambdaDetails":{"functionName":"f"}}`, "f"},
		{"rds", `{"resourceType":"RDSDBInstance","rdsDbInstanceDetails":{"dbInstanceIdentifier":"db-1"}}`, "db-1"},
		{"rds_limitless", `{"resourceType":"RDSLimitlessDB","rdsLimitlessDbDetails":{"dbShardGroupIdentifier":"sg-1"}}`, "sg-1"},
		{"unknown_type_takes_what_it_names", `{"resourceType":"Ec2Image","lambdaDetails":{"functionName":"f"}}`, "f"},
		{"missing_details", `{"resourceType":"Instance"}`, ""},
		{"control_characters_dropped", `{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0\nabc\u001b[2J"}}`, "i-0abc[2J"},
		{"wrong_shape", `{"resourceType":"Instance","instanceDetails":{"instanceId":7}}`, ""},
		{"not_an_object", `"Instance"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, _ := json.Marshal(map[string]json.RawMessage{"resource": json.RawMessage(tt.resource)})
			if got := guardDutyResource(detail); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
