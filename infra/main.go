// Command infra is the CDK app that deploys autocontain to an account:
// cdk.json runs it (`go run ./infra`). It reads its options from CDK context
// (see Config and infra/README.md), builds the function's binary for
// linux/arm64 with the local Go toolchain, and synthesizes the stack.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "autocontain infra:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run() error {
	// The cdk CLI says where to write (CDK_OUTDIR); `go run ./infra` alone
	// writes to cdk.out, as the CLI would.
	props := &awscdk.AppProps{}
	if os.Getenv("CDK_OUTDIR") == "" {
		props.Outdir = jsii.String("cdk.out")
	}
	ctx, err := directContext(os.LookupEnv, ".")
	if err != nil {
		return err
	}
	if ctx != nil {
		props.Context = &ctx
	}
	app := awscdk.NewApp(props)
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	stackEnv := env()
	if stackEnv != nil {
		// Before anything is built: a clear error, never a panic.
		if err := cfg.CheckRegion(*stackEnv.Region); err != nil {
			return err
		}
	}
	if cfg.Org.On() && stackEnv == nil {
		// The forwarders name the home Region, and each is pinned to a
		// Region of the central account.
		return fmt.Errorf("context organizationId: organization mode deploys to the central account's Regions: run with its credentials and Region (CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, which the CDK CLI sets)")
	}
	if err := checkPatterns(cfg); err != nil {
		return err
	}
	outdir := *app.Outdir()
	assets := filepath.Join(outdir, "autocontain-function")
	if err := buildFunction(assets); err != nil {
		return err
	}
	central := NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("autocontain: automatic containment of abused AWS credentials and addresses"),
			Env:         stackEnv,
		},
		Config:   cfg,
		AssetDir: assets,
	})
	if cfg.Org.On() {
		NewForwarderStacks(app, central, cfg)
	}
	app.Synth(nil)
	return nil
}

// directContext is the context the CDK CLI would pass, for a run without
// the CLI (`make synth`, `go run ./infra`): cdk.json's "context", then
// cdk.context.json over it, both in dir, as the CLI merges them. Under the
// CLI, which sets CDK_CONTEXT_JSON (or CONTEXT_OVERFLOW_LOCATION_ENV when
// the context is large) with those files and -c values already merged, it
// returns nil and the App reads the CLI's context itself. The CLI's
// ~/.cdk.json defaults are not read.
func directContext(lookup func(string) (string, bool), dir string) (map[string]any, error) {
	for _, k := range []string{"CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV"} {
		if _, ok := lookup(k); ok {
			return nil, nil
		}
	}
	ctx := map[string]any{}
	for _, f := range []struct {
		name   string
		nested bool
	}{{"cdk.json", true}, {"cdk.context.json", false}} {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.name, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s is not a JSON object: %w", f.name, err)
		}
		values := doc
		if f.nested {
			c, ok := doc["context"]
			if !ok {
				continue
			}
			if values, ok = c.(map[string]any); !ok {
				return nil, fmt.Errorf("%s: \"context\" is not a JSON object", f.name)
			}
		}
		for k, v := range values {
			ctx[k] = v
		}
	}
	return ctx, nil
}

// env pins the stack to the account and region of the CLI's credentials when
// there are any (CDK_DEFAULT_*), and leaves it environment-agnostic otherwise,
// so synth needs no credentials.
func env() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}

// buildFunction builds the Lambda binary exactly as deployed into dir.
func buildFunction(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", filepath.Join(dir, "bootstrap"), "./lambda")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the function (go build ./lambda for linux/arm64): %w", err)
	}
	return nil
}
