// Package status answers an operator's first question, "what has
// autocontain done to my account?", from the ledger: every principal (or
// instance) it holds contained, with what holds it, the findings behind
// each hold and how to undo them; the addresses each IP set blocks; the
// breakers' counts; the latest decisions. It reads the ledger once
// (ledger.Snapshot) and changes nothing. Access key ids leave it masked.
package status

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
)

// DefaultLast is how many decisions a status lists unless told otherwise.
const DefaultLast = 20

// MaxLast is the most decisions a status lists: the function's answer
// stays far under Lambda's 6 MB response limit.
const MaxLast = 1000

// Status is what the ledger holds right now.
type Status struct {
	// At is when the ledger was read.
	At time.Time `json:"at"`
	// Ledger names the ledger's table.
	Ledger string `json:"ledger,omitempty"`
	// Held are the principals (and instances) held contained.
	Held []Principal `json:"held"`
	// IPSets are the addresses each IP set should block.
	IPSets []IPSet `json:"ipSets"`
	// Breakers are the blast-radius breakers' counts in their current
	// window: the account's and, in organization mode, the organization's.
	Breakers []Breaker `json:"breakers"`
	// Decisions are the latest decisions, newest first: one per finding,
	// its latest delivery's. Only deliveries that held or blocked
	// something reach the ledger; the audit log has every decision.
	Decisions []Decision `json:"decisions"`
	// Requests is how many DynamoDB requests reading the ledger took.
	Requests int `json:"requests"`
}

// Principal is a user, role or instance that findings hold contained.
type Principal struct {
	Account string `json:"account"`
	// Kind is "user", "role", "instance", or whatever the holding action
	// names; Name is its name (or id).
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Since is when the first finding that still holds it contained it.
	Since time.Time `json:"since"`
	// Holds are what holds it contained.
	Holds []Hold `json:"holds"`
	// Findings are the findings that hold it, the oldest first.
	Findings []HeldBy `json:"findings"`
}

// Hold is one thing that holds a principal contained.
type Hold struct {
	// Action is the playbook action that holds it; What says it for
	// people ("key Inactive", "deny policy").
	Action string `json:"action"`
	What   string `json:"what"`
	// Resource is what the action changed, in its terms ("key/AKIA…7Q2M",
	// "policy/NAME"), key ids masked.
	Resource string `json:"resource"`
	// Changed: autocontain changed it; false means it already was as
	// containment wants it, by someone else's hand, and undo leaves it.
	Changed bool `json:"changed"`
	// Findings are the findings that hold it.
	Findings []string `json:"findings"`
}

// HeldBy is one finding that holds a principal, and how to release it.
type HeldBy struct {
	Finding string    `json:"finding"`
	Since   time.Time `json:"since"`
	// Undo is the command that restores what the finding changed.
	Undo string `json:"undo"`
}

// IPSet is what the ledger says one IP set should block.
type IPSet struct {
	ARN     string `json:"arn"`
	Name    string `json:"name"`
	Account string `json:"account,omitempty"`
	// Blocked counts the addresses a finding wants blocked and whose
	// block has not expired; Limit is WAF's limit on a set, and Over how
	// many of them the set cannot hold (the oldest sightings stay out).
	Blocked int `json:"blocked"`
	Limit   int `json:"limit"`
	Over    int `json:"over,omitempty"`
	// Expired and Unwanted count the blocks whose time ran out, or that
	// no finding wants any more (undone): the set's writer takes them out
	// on its next run.
	Expired  int `json:"expired,omitempty"`
	Unwanted int `json:"unwanted,omitempty"`
	// Newest is the address blocked last, NextExpiry the one whose block
	// ends first.
	Newest     *Address `json:"newest,omitempty"`
	NextExpiry *Address `json:"nextExpiry,omitempty"`
	// Pending: the set's writer has recorded work not yet applied.
	Pending bool `json:"pending,omitempty"`
}

// Address is one blocked address and a time: when it was first blocked,
// or when its block ends.
type Address struct {
	Address string    `json:"address"`
	At      time.Time `json:"at"`
}

// Breaker is one breaker's current window.
type Breaker struct {
	// Account is the account it counts; Organization is set instead for
	// the organization's breaker. Both empty: no account's window has
	// begun.
	Account      string `json:"account,omitempty"`
	Organization string `json:"organization,omitempty"`
	// Count principals were contained in the window that began at
	// WindowStart and ends at WindowEnd; past Max, principals are
	// reported instead.
	Count       int       `json:"count"`
	Max         int       `json:"max"`
	WindowStart time.Time `json:"windowStart"`
	WindowEnd   time.Time `json:"windowEnd"`
}

// Full reports whether the breaker admits no new principal.
func (b Breaker) Full() bool { return b.Count >= b.Max }

// Decision is a finding's latest delivery.
type Decision struct {
	At      time.Time `json:"at"`
	Finding string    `json:"finding"`
	Type    string    `json:"type,omitempty"`
	Account string    `json:"account,omitempty"`
	Subject string    `json:"subject,omitempty"`
	// Outcome is the audit outcome (contained, reported, no-change,
	// failed), "in-progress" while a delivery runs, or, for records
	// written before deliveries recorded it, the claim's state.
	Outcome string `json:"outcome"`
	// Undone is when undo released the finding's holds.
	Undone time.Time `json:"undone,omitzero"`
}

// Options are what a status is built with besides the ledger.
type Options struct {
	// Settings give the breakers' maximum and window, and the IP sets
	// configured (shown even when empty).
	Settings playbook.Settings
	// Home is the account the responder serves: its breaker is shown even
	// when its window holds nothing. Organization, when set, is
	// organization mode: the organization's breaker is shown too.
	Home, Organization string
	// Undo is how the undo command reaches the ledger: "-table NAME" or
	// "-function NAME".
	Undo string
	// Last is how many decisions to list (0: DefaultLast).
	Last int
	// Table names the ledger's table.
	Table string
	Now   time.Time
}

// Read reads the ledger and builds its status.
func Read(ctx context.Context, l *ledger.Ledger, o Options) (Status, error) {
	snap, err := l.Snapshot(ctx)
	if err != nil {
		return Status{}, err
	}
	return Build(snap, o), nil
}

// Build makes the status of what snap read.
func Build(snap ledger.Snapshot, o Options) Status {
	if o.Last <= 0 {
		o.Last = DefaultLast
	}
	o.Last = min(o.Last, MaxLast)
	s := Status{At: o.Now.UTC(), Ledger: o.Table, Requests: snap.Requests}
	findings := make(map[string]ledger.FindingState, len(snap.Findings))
	for _, f := range snap.Findings {
		findings[f.ID] = f
	}
	s.Held = held(snap.Holds, findings, o.Undo)
	s.IPSets = ipSets(snap.Sets, o)
	s.Breakers = breakers(snap.Breakers, o)
	s.Decisions = decisions(snap.Findings, o)
	return s
}

// words say what each known action's hold is, for people; another
// action's hold is shown by its action's name.
var words = map[string]string{
	playbook.ActionDeactivateKey:   "key Inactive",
	playbook.ActionRevokeSessions:  "deny policy",
	playbook.ActionQuarantine:      "quarantine",
	playbook.ActionRestrictSource:  "source restriction",
	playbook.ActionIsolateInstance: "isolation",
}

// What says what a hold of action is, for people.
func What(action string) string { return cmp.Or(words[action], action) }

// UndoCommand is the CLI's command that undoes finding id, reaching the
// ledger as via says ("-table NAME", "-function NAME").
func UndoCommand(via, id string) string {
	return strings.Join(strings.Fields("autocontain undo "+via), " ") + " " + id
}

func held(holds []ledger.HoldState, findings map[string]ledger.FindingState, undo string) []Principal {
	m := finding.MaskKeys
	byKey := map[string]*Principal{}
	since := map[string]map[string]time.Time{} // principal -> finding -> since
	var order []string
	for _, h := range holds {
		if len(h.Holders) == 0 {
			continue // released by undo, about to be forgotten
		}
		k := h.PrincipalKey()
		p := byKey[k]
		if p == nil {
			kind, name, _ := strings.Cut(h.Principal, "/")
			p = &Principal{Account: h.Account, Kind: kind, Name: m(name)}
			byKey[k], since[k] = p, map[string]time.Time{}
			order = append(order, k)
		}
		p.Holds = append(p.Holds, Hold{Action: h.Action, What: What(h.Action), Resource: m(h.Resource), Changed: h.Changed,
			Findings: masked(h.Holders)})
		for _, id := range h.Holders {
			t := heldSince(h, findings[id])
			if old, ok := since[k][id]; !ok || t.Before(old) {
				since[k][id] = t
			}
		}
	}
	out := make([]Principal, 0, len(order))
	for _, k := range order {
		p := byKey[k]
		for id, t := range since[k] {
			p.Findings = append(p.Findings, HeldBy{Finding: m(id), Since: t, Undo: m(UndoCommand(undo, id))})
		}
		slices.SortFunc(p.Findings, func(a, b HeldBy) int {
			return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.Finding, b.Finding))
		})
		p.Since = p.Findings[0].Since
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Principal) int {
		return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
	})
	return out
}

// heldSince is when finding f contained what h holds: when its action was
// first done for f (the finding's record keeps that by action and target:
// plan.DoneKey, or the bare action in older records), else when f was
// last decided, else when a finding last took hold of it.
func heldSince(h ledger.HoldState, f ledger.FindingState) time.Time {
	for _, k := range []string{h.Action + " " + h.Resource, h.Action + " " + h.Principal, h.Action} {
		if t, ok := f.Done[k]; ok {
			return t.UTC()
		}
	}
	if !f.DecidedAt.IsZero() {
		return f.DecidedAt
	}
	return h.Touched
}

func masked(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = finding.MaskKeys(id)
	}
	return out
}

func ipSets(sets []ledger.SetState, o Options) []IPSet {
	byARN := map[string]ledger.SetState{}
	for _, s := range sets {
		byARN[s.Set] = s
	}
	for _, arn := range []string{o.Settings.IPSets.IPv4, o.Settings.IPSets.IPv6} {
		if _, ok := byARN[arn]; arn != "" && !ok {
			byARN[arn] = ledger.SetState{Set: arn}
		}
	}
	out := make([]IPSet, 0, len(byARN))
	for arn, s := range byARN {
		out = append(out, ipSet(arn, s.Blocks, s.Pending, o.Now))
	}
	slices.SortFunc(out, func(a, b IPSet) int {
		return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(a.ARN, b.ARN))
	})
	return out
}

func ipSet(arn string, blocks []ledger.Block, pending bool, now time.Time) IPSet {
	s := IPSet{ARN: arn, Name: arn, Limit: ipset.MaxAddresses, Pending: pending}
	if ref, err := ipset.Parse(arn); err == nil {
		s.Name, s.Account = ref.Name, ref.Account
	}
	for _, b := range blocks {
		switch {
		case len(b.Findings) == 0:
			s.Unwanted++
			continue
		case !b.Until.After(now):
			s.Expired++
			continue
		}
		s.Blocked++
		if s.Newest == nil || b.FirstSeen.After(s.Newest.At) {
			s.Newest = &Address{Address: b.Address, At: b.FirstSeen}
		}
		if s.NextExpiry == nil || b.Until.Before(s.NextExpiry.At) {
			s.NextExpiry = &Address{Address: b.Address, At: b.Until}
		}
	}
	s.Over = max(0, s.Blocked-s.Limit)
	return s
}

func breakers(windows []ledger.BreakerWindow, o Options) []Breaker {
	max, window := o.Settings.Breaker()
	start := o.Now.UTC().Truncate(window)
	end := start.Add(window)
	var out []Breaker
	seen := map[string]bool{}
	add := func(account, org string, count int) {
		if seen[account+"#"+org] {
			return
		}
		seen[account+"#"+org] = true
		b := Breaker{Account: account, Organization: org, Count: count, Max: max, WindowStart: start, WindowEnd: end}
		if org != "" {
			b.Max = o.Settings.OrgBreaker()
		}
		out = append(out, b)
	}
	for _, w := range windows {
		// The window now running: the breaker's key is its start, as the
		// breaker truncates now to its window.
		if w.Start.Equal(start) {
			add(w.Account, w.Organization, len(w.Principals))
		}
	}
	if o.Home != "" {
		add(o.Home, "", 0)
	}
	if o.Organization != "" {
		add("", o.Organization, 0)
	}
	if !slices.ContainsFunc(out, func(b Breaker) bool { return b.Organization == "" }) {
		add("", "", 0) // no account's window has begun
	}
	slices.SortFunc(out, func(a, b Breaker) int {
		return cmp.Or(strings.Compare(a.Organization, b.Organization), strings.Compare(a.Account, b.Account))
	})
	return out
}

func decisions(fs []ledger.FindingState, o Options) []Decision {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b ledger.FindingState) int {
		return cmp.Or(b.DecidedAt.Compare(a.DecidedAt), strings.Compare(a.ID, b.ID))
	})
	m := finding.MaskKeys
	out := make([]Decision, 0, min(len(fs), o.Last))
	for _, f := range fs[:min(len(fs), o.Last)] {
		out = append(out, Decision{At: f.DecidedAt, Finding: m(f.ID), Type: m(f.Type), Account: f.Account, Subject: m(f.Subject),
			Outcome: outcome(f, o.Now), Undone: f.Undone})
	}
	return out
}

// outcome is f's latest delivery's outcome as status shows it.
func outcome(f ledger.FindingState, now time.Time) string {
	switch {
	case f.State == ledger.StateRunning && f.ClaimUntil.After(now):
		return "in-progress"
	case f.State == ledger.StateRunning:
		// Its claim ran out unfinished: the function died or timed out.
		return "interrupted"
	case f.Outcome != "":
		return f.Outcome
	case f.State == ledger.StateDone:
		return "handled"
	}
	return cmp.Or(f.State, "unknown")
}

// String is the status as the table WriteTable prints.
func (s Status) String() string {
	var b strings.Builder
	_ = WriteTable(&b, s)
	return b.String()
}

// CheckLast says what is wrong with n as a number of decisions to list.
func CheckLast(n int) error {
	if n < 0 || n > MaxLast {
		return fmt.Errorf("the number of decisions to list must be between 0 and %d, not %d", MaxLast, n)
	}
	return nil
}
