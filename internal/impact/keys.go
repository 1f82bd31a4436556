package impact

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/finding"
)

// KeyReader is the part of the IAM API that Keys needs: read-only.
type KeyReader interface {
	PolicyReader
	ListUsers(ctx context.Context, in *iam.ListUsersInput, opts ...func(*iam.Options)) (*iam.ListUsersOutput, error)
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, opts ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

var _ KeyReader = (*iam.Client)(nil)

// Key is one access key of an IAM user, with its owner's impact.
type Key struct {
	User string `json:"user"`
	// AccessKey is the key id, masked to its last four characters.
	AccessKey string    `json:"accessKey"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created"`
	AgeDays   int       `json:"ageDays"`
	// LastUsed is when the key last signed a request; nil when never
	// (GetAccessKeyLastUsed: IAM has tracked it since April 2015).
	LastUsed        *time.Time `json:"lastUsed,omitempty"`
	LastUsedService string     `json:"lastUsedService,omitempty"`
	LastUsedRegion  string     `json:"lastUsedRegion,omitempty"`
	// Impact is the privilege class of the user's policies.
	Impact finding.Impact `json:"impact"`
}

// Keys lists every IAM user's access keys, the highest impact first (see
// Less). Each user's policies are read once; a user whose policies cannot
// be read is listed with impact unknown. A failure to list users, keys or
// a key's last use is an error.
func (l *Lookup) Keys(ctx context.Context, api KeyReader, now time.Time) ([]Key, error) {
	var out []Key
	users := iam.NewListUsersPaginator(api, &iam.ListUsersInput{}, func(o *iam.ListUsersPaginatorOptions) { o.Limit = l.PageSize })
	for users.HasMorePages() {
		page, err := users.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list IAM users: %w", err)
		}
		for _, u := range page.Users {
			name := aws.ToString(u.UserName)
			keys, err := userKeys(ctx, api, name, l.PageSize, now)
			if err != nil {
				return nil, err
			}
			if len(keys) == 0 {
				continue
			}
			imp := l.Entity(ctx, "user", name)
			for i := range keys {
				keys[i].Impact = imp
			}
			out = append(out, keys...)
		}
	}
	slices.SortStableFunc(out, compareKeys)
	return out, nil
}

// userKeys lists one user's access keys with their last use.
func userKeys(ctx context.Context, api KeyReader, user string, pageSize int32, now time.Time) ([]Key, error) {
	var out []Key
	pages := iam.NewListAccessKeysPaginator(api, &iam.ListAccessKeysInput{UserName: aws.String(user)}, func(o *iam.ListAccessKeysPaginatorOptions) { o.Limit = pageSize })
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list access keys of user %s: %w", user, err)
		}
		for _, k := range page.AccessKeyMetadata {
			id := aws.ToString(k.AccessKeyId)
			key := Key{User: user, AccessKey: finding.MaskKey(id), Status: string(k.Status)}
			if k.CreateDate != nil {
				key.Created = k.CreateDate.UTC()
				key.AgeDays = int(now.Sub(key.Created).Hours() / 24)
			}
			used, err := api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
			if err != nil {
				return nil, finding.MaskError(fmt.Errorf("read the last use of key %s of user %s: %w", id, user, err))
			}
			if lu := used.AccessKeyLastUsed; lu != nil && lu.LastUsedDate != nil {
				t := lu.LastUsedDate.UTC()
				key.LastUsed, key.LastUsedService, key.LastUsedRegion = &t, aws.ToString(lu.ServiceName), aws.ToString(lu.Region)
			}
			out = append(out, key)
		}
	}
	return out, nil
}

// keyRank orders classes for the listing: admin first, then unknown (it
// may be anything), then escalation, list-all and scoped.
func keyRank(c finding.ImpactClass) int {
	if c == finding.ImpactUnknown {
		return 35
	}
	return rank(c) * 10
}

// compareKeys ranks keys: by class, then active before inactive, then the
// most recently used first (never used last), then by user and key.
func compareKeys(a, b Key) int {
	if c := cmp.Compare(keyRank(b.Impact.Class), keyRank(a.Impact.Class)); c != 0 {
		return c
	}
	if c := cmp.Compare(active(b), active(a)); c != 0 {
		return c
	}
	switch {
	case a.LastUsed != nil && b.LastUsed != nil:
		if c := b.LastUsed.Compare(*a.LastUsed); c != 0 {
			return c
		}
	case a.LastUsed != nil:
		return -1
	case b.LastUsed != nil:
		return 1
	}
	return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.AccessKey, b.AccessKey))
}

func active(k Key) int {
	if k.Status == "Active" {
		return 1
	}
	return 0
}
