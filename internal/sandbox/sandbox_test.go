package sandbox

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestCheckLocalRefusesRealEndpoints(t *testing.T) {
	tests := []struct {
		endpoint *string
		ok       bool
	}{
		{aws.String("http://127.0.0.1:5000"), true},
		{aws.String("http://localhost:5000"), true},
		{aws.String("http://[::1]:5000"), true},
		{nil, false},
		{aws.String("https://iam.amazonaws.com"), false},
		{aws.String("http://10.0.0.5:5000"), false},
		{aws.String("http://127.0.0.1.example.com"), false},
	}
	for _, tt := range tests {
		err := CheckLocal(aws.Config{BaseEndpoint: tt.endpoint})
		if (err == nil) != tt.ok {
			t.Errorf("CheckLocal(%v) = %v, want ok=%v", aws.ToString(tt.endpoint), err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "refusing") {
			t.Errorf("error %q does not say it refuses", err)
		}
	}
}
