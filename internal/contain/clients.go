package contain

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/autocontain/autocontain/internal/ipset"
)

// NewClients builds the real AWS clients from cfg. It makes no network call.
// The WAF client follows each IP set's region, one client per region; the
// EC2 client reaches cfg's Region.
func NewClients(cfg aws.Config) Clients {
	var mu sync.Mutex
	waf := map[string]*wafv2.Client{}
	return Clients{
		IAM:    iam.NewFromConfig(cfg),
		EC2:    ec2.NewFromConfig(cfg),
		Region: cfg.Region,
		SNS:    sns.NewFromConfig(cfg),
		WAF: func(region string) ipset.API {
			mu.Lock()
			defer mu.Unlock()
			if c, ok := waf[region]; ok {
				return c
			}
			c := wafv2.NewFromConfig(cfg, func(o *wafv2.Options) { o.Region = region })
			waf[region] = c
			return c
		},
	}
}
