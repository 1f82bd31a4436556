package playbook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
)

// EnvSafetyNet overrides settings.safetyNet: a severity 0–10, or "off".
const EnvSafetyNet = "AUTOCONTAIN_SAFETY_NET"

// CatchAll is the one type pattern that matches every finding type. Only a
// safety net may use it (Rule.IsSafetyNet).
const CatchAll Pattern = "*"

// SafetyNet is settings.safetyNet: a severity floor (0–10) under the own
// minSeverity of the playbook's safety-net rules, or SafetyNetOff, which
// switches them off. In JSON and as text it is a number or "off". The zero
// value adds no floor: each safety net acts from its own minSeverity.
type SafetyNet float64

// SafetyNetOff switches every safety-net rule off.
const SafetyNetOff SafetyNet = -1

// Off reports whether the safety net is switched off.
func (n SafetyNet) Off() bool { return n == SafetyNetOff }

// String is the setting as text: "off" or the floor.
func (n SafetyNet) String() string {
	if n.Off() {
		return "off"
	}
	return strconv.FormatFloat(float64(n), 'g', -1, 64)
}

// MarshalJSON writes "off" or the floor.
func (n SafetyNet) MarshalJSON() ([]byte, error) {
	if n.Off() {
		return []byte(`"off"`), nil
	}
	return json.Marshal(float64(n))
}

// UnmarshalJSON reads a number 0–10 or "off".
func (n *SafetyNet) UnmarshalJSON(data []byte) error {
	bad := pathError{errors.New(`settings.safetyNet: want a severity 0–10, or "off"`)}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte(`"`)) {
		var s string
		if json.Unmarshal(data, &s) != nil || !strings.EqualFold(strings.TrimSpace(s), "off") {
			return bad
		}
		*n = SafetyNetOff
		return nil
	}
	var f float64
	if json.Unmarshal(data, &f) != nil || f < 0 || f > 10 {
		return bad
	}
	*n = SafetyNet(f)
	return nil
}

// parse reads text ("off" or a number); empty text leaves n unchanged, as
// it does every number.
func (n *SafetyNet) parse(text string) error {
	switch {
	case text == "":
		return nil
	case strings.EqualFold(text, "off"):
		*n = SafetyNetOff
		return nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return fmt.Errorf("%q is not a severity 0–10 or off", text)
	}
	if f < 0 {
		// Not SafetyNetOff: a negative number is a mistake, not "off".
		return fmt.Errorf("%g is outside 0–10 (write off to switch the safety net off)", f)
	}
	*n = SafetyNet(f)
	return nil
}

func checkSafetyNet(s *Settings) error {
	if n := s.SafetyNet; !n.Off() && (n < 0 || n > 10) {
		return fmt.Errorf("%g is outside 0–10 (write off to switch the safety net off)", float64(n))
	}
	return nil
}

// IsSafetyNet reports whether r is a safety net: a GuardDuty rule for every
// finding type (types ["*"]), which only notifies. Put it last: it takes
// every finding at or above its severity floor that no rule before it took.
func (r Rule) IsSafetyNet() bool {
	return len(r.Types) == 1 && r.Types[0] == CatchAll
}

// validateCatchAll checks a rule that names the type "*": only a safety net
// may, since a rule for every finding that contained something would act on
// findings nobody has read about.
func (r *Rule) validateCatchAll() error {
	if r.Source != finding.SourceGuardDuty || len(r.Types) != 1 {
		return fmt.Errorf("types: %q matches everything: only a GuardDuty safety net (types [\"*\"] alone, actions [\"notify\"]) may use it; name the finding families instead", CatchAll)
	}
	for i, a := range r.Actions {
		if CategoryOf(a) != OnTopic {
			return fmt.Errorf("actions[%d]: %q in a rule for every finding type (\"*\"): a safety net only notifies; contain findings in rules that name their types", i, a)
		}
	}
	return nil
}

// MinSeverity returns the lowest GuardDuty severity at which r acts under
// p's settings: the rule's own minSeverity, settings.minSeverity and, for a
// safety net, settings.safetyNet. on is false when r is a safety net and
// settings.safetyNet is off: the rule then matches nothing.
func (p *Playbook) MinSeverity(r Rule) (min float64, on bool) {
	min = max(r.MinSeverity, p.Settings.MinSeverity)
	if r.IsSafetyNet() {
		if p.Settings.SafetyNet.Off() {
			return 0, false
		}
		min = max(min, float64(p.Settings.SafetyNet))
	}
	return min, true
}
