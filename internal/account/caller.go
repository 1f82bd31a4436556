package account

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// CallerIdentityAPI is the part of the STS API that OfCaller needs.
type CallerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var _ CallerIdentityAPI = (*sts.Client)(nil)

// OfCaller returns the account the credentials act in, from one
// sts:GetCallerIdentity (which needs no permission: STS API Reference,
// GetCallerIdentity). The partition comes from the caller's ARN.
func OfCaller(ctx context.Context, api CallerIdentityAPI) (Account, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Account{}, fmt.Errorf("find the account of the credentials (sts:GetCallerIdentity): %w", err)
	}
	a, err := FromARN(aws.ToString(out.Arn))
	if err != nil {
		return Account{}, fmt.Errorf("find the account of the credentials: %w", err)
	}
	if id := aws.ToString(out.Account); id != "" && id != a.ID {
		return Account{}, fmt.Errorf("find the account of the credentials: GetCallerIdentity says account %s but ARN %s", id, aws.ToString(out.Arn))
	}
	return a, nil
}
