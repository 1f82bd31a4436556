// Command infra is the CDK app that deploys autocontain to an account:
// cdk.json runs it (`go run ./infra`). It reads its options from CDK context
// (see Config and infra/README.md), builds the function's binary for
// linux/arm64 with the local Go toolchain, and synthesizes the stack.
package main

import (
	"fmt"
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
	var props *awscdk.AppProps
	if os.Getenv("CDK_OUTDIR") == "" {
		props = &awscdk.AppProps{Outdir: jsii.String("cdk.out")}
	}
	app := awscdk.NewApp(props)
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	text, pb, err := cfg.PlaybookJSON()
	if err != nil {
		return err
	}
	if err := checkPatterns(pb, cfg); err != nil {
		return err
	}
	outdir := *app.Outdir()
	assets := filepath.Join(outdir, "autocontain-function")
	if err := buildFunction(assets); err != nil {
		return err
	}
	if text != "" {
		if err := os.WriteFile(filepath.Join(assets, "playbook.json"), []byte(text), 0o644); err != nil {
			return err
		}
	}
	NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("autocontain: automatic containment of abused AWS credentials and addresses"),
			Env:         env(),
		},
		Config:   cfg,
		AssetDir: assets,
		Playbook: pb,
	})
	app.Synth(nil)
	return nil
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
