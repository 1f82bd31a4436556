package contain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
)

// Undoer releases a finding's holds, as the ledger recorded them, and
// restores a resource only when no other finding still holds it: it
// reactivates a key autocontain deactivated, deletes a deny policy that is
// autocontain's own, and has the IP sets' writer take out the addresses no
// finding wants any more, unless they were in the set before autocontain
// wanted them.
type Undoer struct {
	Ledger *ledger.Ledger
	Writer *blocklist.Writer
	// Actions restore what they held, and contain it again when a finding
	// took hold of it while undo was restoring it (see release): the
	// registry's Reverters, by name (Executor.Reverters).
	Actions map[string]Reverter
	Now     func() time.Time
	// Account is the account the IAM client reaches. A hold in another
	// account is left alone and reported; empty means unchecked.
	Account string
	// In, when set, gives the actions that act in another account
	// (organization mode: through its member role); a hold in an account
	// it cannot reach fails the undo, to be retried.
	In func(ctx context.Context, account string) (map[string]Reverter, error)
}

// UndoReport says what undo restored and what it left, and why.
type UndoReport struct {
	Finding  string   `json:"finding"`
	Restored []string `json:"restored"`
	Left     []string `json:"left,omitempty"`
}

// Undo's refusals, matched with errors.Is.
var (
	// ErrNothingToUndo: the ledger holds no containment of the finding.
	ErrNothingToUndo = failure.Permanent(errors.New("the ledger has no containment of it"))
	// ErrAlreadyUndone: the finding's containment was already undone.
	ErrAlreadyUndone = failure.Permanent(errors.New("it was already undone"))
)

// Undo releases finding id's holds and marks it undone, so later
// deliveries of the same finding do not contain it again.
func (u *Undoer) Undo(ctx context.Context, id string) (UndoReport, error) {
	rep := UndoReport{Finding: id}
	h, ok, err := u.Ledger.History(ctx, id)
	switch {
	case err != nil:
		return rep, err
	case !ok || (len(h.Holds) == 0 && len(h.Blocks) == 0):
		return rep, fmt.Errorf("undo: finding %s: %w", id, ErrNothingToUndo)
	case h.Undone:
		return rep, fmt.Errorf("undo: finding %s: %w", id, ErrAlreadyUndone)
	}
	var errs []error
	for _, hd := range h.Holds {
		done, left, err := u.release(ctx, hd, id)
		if done != "" {
			rep.Restored = append(rep.Restored, done)
		}
		if left != "" {
			rep.Left = append(rep.Left, left)
		}
		errs = append(errs, err)
	}
	sets := make([]string, 0, len(h.Blocks))
	for set := range h.Blocks {
		sets = append(sets, set)
	}
	sort.Strings(sets)
	for _, set := range sets {
		done, left, err := u.unblock(ctx, set, h.Blocks[set], id)
		if done != "" {
			rep.Restored = append(rep.Restored, done)
		}
		rep.Left = append(rep.Left, left...)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	return rep, u.Ledger.MarkUndone(ctx, id)
}

// release gives up finding id's hold of a resource and restores it when no
// finding holds it any more and autocontain changed it. If a finding took
// hold of it while undo restored it, undo contains it again.
func (u *Undoer) release(ctx context.Context, hd ledger.Hold, id string) (done, left string, err error) {
	what := finding.MaskKeys(hd.String())
	act, ok := u.Actions[hd.Action]
	if !ok {
		// A hold of an action this version does not have: never guessed at.
		return "", "", failure.Permanent(fmt.Errorf("undo: %s is held by action %q, which this version of autocontain does not have: restore it by hand", what, hd.Action))
	}
	if u.Account != "" && hd.Account != "" && hd.Account != u.Account {
		if u.In == nil {
			return "", fmt.Sprintf("%s is in account %s, not %s that this undo reaches: left as it is", what, hd.Account, u.Account), nil
		}
		in, err := u.In(ctx, hd.Account)
		if err != nil {
			return "", "", fmt.Errorf("undo: %s: %w", what, err)
		}
		if act, ok = in[hd.Action]; !ok {
			return "", "", failure.Permanent(fmt.Errorf("undo: %s is held by action %q, which this version of autocontain does not have: restore it by hand", what, hd.Action))
		}
	}
	r, err := u.Ledger.ReleaseHold(ctx, hd, id)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("undo: %w", err)
	case r.Missing:
		return "", what + ": nothing held any more (already restored)", nil
	case len(r.Holders) > 0:
		return "", fmt.Sprintf("%s stays contained: still held by finding %s", what, strings.Join(r.Holders, ", ")), nil
	case !r.Changed:
		if _, err := u.Ledger.ForgetHold(ctx, hd); err != nil {
			return "", "", fmt.Errorf("undo: %w", err)
		}
		return "", what + " was already so before autocontain held it: left as it was", nil
	}
	// What the resource was before, as the first change recorded it.
	hd.Prior = r.Prior
	done, left, err = act.Undo(ctx, hd)
	if err != nil {
		return done, left, err
	}
	forgot, err := u.Ledger.ForgetHold(ctx, hd)
	if err != nil {
		return done, left, fmt.Errorf("undo: %w", err)
	}
	if !forgot && done != "" {
		// A finding took hold of it while it was being restored: contain
		// it again, now.
		if err := u.recontain(ctx, act, hd); err != nil {
			return done, left, fmt.Errorf("undo: %s was restored while another finding took hold of it, and containing it again failed: %w", what, err)
		}
		return "", what + " stays contained: another finding took hold of it during undo", nil
	}
	return done, left, nil
}

// recontain applies the hold's containment again.
func (u *Undoer) recontain(ctx context.Context, act Reverter, hd ledger.Hold) error {
	now := time.Now().UTC()
	if u.Now != nil {
		now = u.Now()
	}
	step, err := act.Step(hd)
	if err != nil {
		return err
	}
	_, err = act.Execute(ctx, Request{Step: step, Now: now, Account: hd.Account})
	return err
}

// unblock gives up finding id's reasons to block addrs in set and has the
// set's writer take out those no finding wants any more.
func (u *Undoer) unblock(ctx context.Context, set string, addrs []string, id string) (done string, left []string, err error) {
	done, left, err = u.Writer.Unblock(ctx, set, addrs, id)
	if err != nil {
		return "", nil, fmt.Errorf("undo: %w", err)
	}
	return done, left, nil
}
