package engine

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// Environment variables the engine reads besides the playbook's. The CDK
// stack sets both.
const (
	// EnvSelfRoleARN names the responder's own role, which is never contained.
	EnvSelfRoleARN = "AUTOCONTAIN_SELF_ROLE_ARN"
	// EnvLedgerTable names the ledger's DynamoDB table. Without it there is
	// no deduplication, breaker, single IP-set writer, expiry or undo.
	EnvLedgerTable = "AUTOCONTAIN_LEDGER_TABLE"
)

// Options are the engine's settings that are not the playbook's.
type Options struct {
	SelfRoleARN string
	LedgerTable string
	// Home is the account the responder serves (see Engine.Home).
	Home account.Account
	// FunctionName is the Lambda function's name (see Engine.FunctionName).
	FunctionName string
	// Organization, when set, is organization mode (see Engine.Org). Its
	// Home must be Home.
	Organization *account.Organization
}

// New returns an engine that acts on the account cfg reaches, with the
// real AWS clients. It makes no network call.
func New(cfg aws.Config, pb *playbook.Playbook, log *slog.Logger, opts Options) *Engine {
	now := func() time.Time { return time.Now().UTC() }
	clients := contain.NewClients(cfg)
	iamc := iam.NewFromConfig(cfg)
	e := &Engine{
		Playbook:  pb,
		Guard:     &protect.Guard{IAM: iamc, SelfRoleARN: opts.SelfRoleARN, Patterns: pb.Settings.Protect},
		Impact:    iamc,
		Instances: clients.EC2,
		Home:      opts.Home,

		FunctionName: opts.FunctionName,
		Log:          log,
		Now:          now,
	}
	if opts.LedgerTable != "" {
		e.Ledger = &ledger.Ledger{DB: dynamodb.NewFromConfig(cfg), Table: opts.LedgerTable, Now: now}
		e.Writer = &blocklist.Writer{
			WAF: clients.WAF, Ledger: e.Ledger, Owner: owner(), Now: now,
			MinInterval: time.Second, Lease: 30 * time.Second, TTL: pb.Settings.TTL(),
		}
	}
	e.UndoCommand = undoCommand(cfg.Region, opts)
	e.Executor = e.executor(clients)
	if e.Ledger != nil {
		e.Undoer = &contain.Undoer{Ledger: e.Ledger, Writer: e.Writer, Actions: e.Executor.Reverters(), Now: now, Account: opts.Home.ID}
	}
	if opts.Organization != nil {
		e.newOrg(cfg, opts.Organization, clients)
	}
	return e
}

// executor runs the registry's actions with clients, in whichever account
// they reach (the home account, or a member's in organization mode).
func (e *Engine) executor(clients contain.Clients) *contain.Executor {
	actions := contain.Registry(clients, e.Writer)
	for _, a := range actions {
		switch r := a.(type) {
		case *contain.SourceRestrictor:
			// What undo's re-containment of a restriction allows.
			r.Networks = e.Playbook.Settings.AllowCIDRs
		case *contain.Notifier:
			r.Format, r.Undo = e.Playbook.Settings.NotificationFormat, e.UndoCommand
		}
	}
	return contain.NewExecutor(e.Now, actions...)
}

// undoCommand is the operator CLI's command line that undoes a finding's
// containment (README, "The operator CLI"), but for the finding's id:
// through the function when the engine runs in one, else against the
// ledger's table; in the engine's Region, which the CLI takes from
// AWS_REGION. Empty without a ledger, which undo needs.
func undoCommand(region string, opts Options) string {
	if opts.LedgerTable == "" {
		return ""
	}
	cmd := "autocontain undo -table " + opts.LedgerTable
	if opts.FunctionName != "" {
		cmd = "autocontain undo -function " + opts.FunctionName
	}
	if region != "" {
		cmd = "AWS_REGION=" + region + " " + cmd
	}
	return cmd
}

// owner names this process as an IP set writer.
func owner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
