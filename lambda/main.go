// Command autocontain is both the Lambda function and the operator CLI.
// Started by the Lambda runtime (AWS_LAMBDA_RUNTIME_API is set) it serves
// EventBridge events; started by a person it plans, applies or re-invokes
// sample events. It only wires: configuration, clients, then start.
package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/engine"
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
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// engineOptions reads the engine's settings from the environment.
func engineOptions() engine.Options {
	return engine.Options{SelfRoleARN: os.Getenv(engine.EnvSelfRoleARN), LedgerTable: os.Getenv(engine.EnvLedgerTable),
		// Set by the Lambda runtime; empty from the CLI.
		FunctionName: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}
}

// orgSettings reads organization mode's settings from the environment:
// the organization's id ("" in single-account mode) and the member role's
// name. The error says what is wrong with them.
func orgSettings() (id, role string, err error) {
	id = os.Getenv(account.EnvOrganizationID)
	role = cmp.Or(os.Getenv(account.EnvMemberRoleName), account.DefaultMemberRoleName)
	if id == "" {
		return "", "", nil
	}
	return id, role, account.CheckOrganization(id, role)
}

// withOrganization sets organization mode on opts, for the home account,
// when the environment asks for it (orgSettings, checked before).
func withOrganization(opts *engine.Options, cfg aws.Config, id, role string) {
	if id == "" {
		return
	}
	opts.Organization = &account.Organization{Home: opts.Home, ID: id, RoleName: role,
		Orgs: organizations.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg)}
}
