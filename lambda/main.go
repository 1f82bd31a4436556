// Command autocontain is both the Lambda function and the operator CLI.
// Started by the Lambda runtime (AWS_LAMBDA_RUNTIME_API is set) it serves
// EventBridge events; started by a person it plans, applies or re-invokes
// sample events. It only wires: configuration, clients, then start.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/autocontain/autocontain/internal/contain"
)

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		runLambda()
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runCLI(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// loadConfig loads the default credential chain and region. It makes no
// network call; AWS_ENDPOINT_URL points every client at an emulator.
func loadConfig(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx)
}

// clients builds the AWS clients the actions need from cfg. The WAF client
// follows each IP set's region, one client per region.
func clients(cfg aws.Config) contain.Clients {
	var mu sync.Mutex
	waf := map[string]*wafv2.Client{}
	return contain.Clients{
		IAM: iam.NewFromConfig(cfg),
		SNS: sns.NewFromConfig(cfg),
		WAF: func(region string) contain.IPSetAPI {
			mu.Lock()
			defer mu.Unlock()
			if c, ok := waf[region]; ok {
				return c
			}
			c := wafv2.NewFromConfig(cfg, func(o *wafv2.Options) { o.Region = region })
			waf[region] = c
			return c
		},
		Sleep: contain.SleepContext,
	}
}

// now is the clock, in UTC.
func now() time.Time { return time.Now().UTC() }
