package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// runLambda serves invocations. Init reads configuration only: the playbook
// (validated, so a bad one fails the init rather than the first event) and
// the SDK's configuration. Clients are built on the first invocation, and
// nothing touches the network before one arrives.
func runLambda() {
	// Every log line goes through the masking handler: an AWS error that
	// quotes an access key id never reaches the log whole.
	log := slog.New(audit.MaskingHandler(lambdacontext.NewLogHandler()))
	pb, err := playbook.FromEnv(os.LookupEnv)
	if err != nil {
		initFailed(log, "Playbook.Invalid", err)
	}
	cfg, err := loadConfig(context.Background())
	if err != nil {
		initFailed(log, "Config.Invalid", err)
	}
	orgID, memberRole, err := orgSettings()
	if err != nil {
		initFailed(log, "Organization.Invalid", err)
	}
	log.Info("autocontain ready", slog.Bool("dryRun", pb.Settings.DryRun), slog.Int("rules", len(pb.Rules)), slog.String("organization", orgID))
	engines := &engineCache{build: func(home account.Account) *engine.Engine {
		opts := engineOptions()
		opts.Home = home
		withOrganization(&opts, cfg, orgID, memberRole)
		return engine.New(cfg, pb, log, opts)
	}}
	lambda.Start(func(ctx context.Context, event json.RawMessage) (any, error) {
		home, err := homeOf(ctx)
		if err != nil {
			// Without its own account the function cannot tell a foreign
			// principal from its own: fail the delivery rather than guess.
			log.Error("autocontain cannot tell its account", slog.String("error", err.Error()))
			return nil, invokeError(failure.Mark(err, engine.ErrHomeUnknown))
		}
		eng, err := engines.get(home)
		if err != nil {
			return nil, invokeError(failure.Mark(err, engine.ErrHomeUnknown))
		}
		out, err := eng.Handle(ctx, event)
		return out, invokeError(err)
	})
}

// invokeError is err as Lambda reports it: errorType names its class
// (engine.ErrorType; README, "Error types"), where aws-lambda-go would
// name the Go type of the outermost wrapper (its lambdaErrorResponse
// reports an InvokeResponse_Error as it is), and errorMessage says what
// failed, key ids masked. nil stays nil.
func invokeError(err error) error {
	if err == nil {
		return nil
	}
	return messages.InvokeResponse_Error{Type: engine.ErrorType(err), Message: finding.MaskKeys(err.Error())}
}

// homeOf returns the account the function serves: the partition and
// account of its own ARN, which the Runtime API gives with every invocation
// (Lambda-Runtime-Invoked-Function-Arn), so it costs no API call.
func homeOf(ctx context.Context) (account.Account, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return account.Account{}, errors.New("the invocation carries no Lambda context: the function's account is unknown")
	}
	home, err := account.FromFunctionARN(lc.InvokedFunctionArn)
	if err != nil {
		return account.Account{}, fmt.Errorf("the function's account: %w", err)
	}
	return home, nil
}

// engineCache builds the engine on the first invocation, when the
// function's account is first known, and keeps it.
type engineCache struct {
	mu    sync.Mutex
	build func(account.Account) *engine.Engine
	eng   *engine.Engine
}

func (c *engineCache) get(home account.Account) (*engine.Engine, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eng == nil {
		c.eng = c.build(home)
	}
	if c.eng.Home != home {
		// One function lives in one account; an ARN naming another is
		// not to be believed.
		return nil, fmt.Errorf("this invocation names account %s, earlier ones %s: refused", home, c.eng.Home)
	}
	return c.eng, nil
}

// initFailed reports an initialization error to the Runtime API
// (POST /runtime/init/error), so Lambda shows why, and exits.
func initFailed(log *slog.Logger, kind string, err error) {
	log.Error("autocontain cannot start", slog.String("error", err.Error()))
	body, _ := json.Marshal(map[string]any{"errorMessage": finding.MaskKeys(err.Error()), "errorType": kind})
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	req, rerr := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if rerr == nil {
		req.Header.Set("Lambda-Runtime-Function-Error-Type", kind)
		req.Header.Set("Content-Type", "application/json")
		c := http.Client{Timeout: 2 * time.Second}
		if resp, perr := c.Do(req); perr == nil {
			resp.Body.Close()
		}
	}
	os.Exit(1)
}
