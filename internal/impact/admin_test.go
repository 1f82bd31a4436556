package impact

import "testing"

// TestIsAdministratorAccess: AWS's policy in any partition decides admin
// without reading it; a customer's policy of the same name does not.
func TestIsAdministratorAccess(t *testing.T) {
	for arn, want := range map[string]bool{
		"arn:aws:iam::aws:policy/AdministratorAccess":              true,
		"arn:aws-us-gov:iam::aws:policy/AdministratorAccess":       true,
		"arn:aws-cn:iam::aws:policy/AdministratorAccess":           true,
		"arn:aws:iam::123456789012:policy/AdministratorAccess":     false,
		"arn:aws:iam::aws:policy/job-function/AdministratorAccess": false,
		"arn:aws:iam::aws:policy/AdministratorAccess-Amplify":      false,
		"arn::iam::aws:policy/AdministratorAccess":                 false,
		"xarn:aws:iam::aws:policy/AdministratorAccess":             false,
		"arn:a:b:iam::aws:policy/AdministratorAccess":              false,
	} {
		if got := isAdministratorAccess(arn); got != want {
			t.Errorf("isAdministratorAccess(%q) = %v, want %v", arn, got, want)
		}
	}
}
