package finding

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ctRecord holds the fields of a CloudTrail record that autocontain reads
// (CloudTrail User Guide, "CloudTrail record contents").
type ctRecord struct {
	EventID            string       `json:"eventID"`
	EventTime          string       `json:"eventTime"`
	EventSource        string       `json:"eventSource"`
	EventName          string       `json:"eventName"`
	AWSRegion          string       `json:"awsRegion"`
	SourceIPAddress    string       `json:"sourceIPAddress"`
	ErrorCode          string       `json:"errorCode"`
	RecipientAccountID string       `json:"recipientAccountId"`
	UserIdentity       *ctIdentity  `json:"userIdentity"`
	ResponseElements   *ctResponses `json:"responseElements"`
}

type ctResponses struct {
	// ConsoleLogin is Success or Failure in console sign-in records.
	ConsoleLogin string `json:"ConsoleLogin"`
}

type ctIdentity struct {
	Type           string `json:"type"`
	PrincipalID    string `json:"principalId"`
	ARN            string `json:"arn"`
	AccountID      string `json:"accountId"`
	AccessKeyID    string `json:"accessKeyId"`
	UserName       string `json:"userName"`
	InvokedBy      string `json:"invokedBy"`
	SessionContext *struct {
		SessionIssuer *struct {
			Type      string `json:"type"`
			ARN       string `json:"arn"`
			AccountID string `json:"accountId"`
			UserName  string `json:"userName"`
		} `json:"sessionIssuer"`
	} `json:"sessionContext"`
}

func parseCloudTrail(env envelope) (Finding, error) {
	var r ctRecord
	if err := json.Unmarshal(env.Detail, &r); err != nil {
		return Finding{}, fmt.Errorf("CloudTrail record: %w", describe(prefixField(err, "detail")))
	}
	switch {
	case r.EventName == "":
		return Finding{}, errors.New("CloudTrail record: detail.eventName is missing")
	case r.EventSource == "":
		return Finding{}, errors.New("CloudTrail record: detail.eventSource is missing")
	case r.UserIdentity == nil:
		return Finding{}, errors.New("CloudTrail record: detail.userIdentity is missing")
	}
	// Only the service itself sends its CloudTrail events with its own
	// source (aws.<service>); a custom source with this detail-type is
	// anyone's PutEvents.
	if want := EventBridgeSource(r.EventSource); want == "" || env.Source != want {
		return Finding{}, fmt.Errorf("CloudTrail record of %s from source %q: want %s, the service's own; refused",
			r.EventSource, env.Source, firstNonEmpty(want, "aws.<service> for a <service>.amazonaws.com event source"))
	}
	if err := checkIdentityText(r); err != nil {
		return Finding{}, fmt.Errorf("CloudTrail record: %w", err)
	}
	t, err := parseTime("detail.eventTime", r.EventTime)
	if err != nil {
		return Finding{}, fmt.Errorf("CloudTrail record: %w", err)
	}
	region := firstNonEmpty(r.AWSRegion, env.Region)
	pr, refs := cloudTrailPrincipal(r.UserIdentity)
	// Every place the record names an account is kept: the envelope's
	// (the bus owner), recipientAccountId (where the call was recorded),
	// and the principal's own (userIdentity.accountId, its ARN, the
	// session issuer's ARN). A call from another account's principal is
	// recorded in this one with that principal's account.
	all := accountRefs{}
	all.add("account", env.Account, "")
	all.add("detail.recipientAccountId", r.RecipientAccountID, "")
	all = append(all, refs...)
	f := Finding{
		Source:      SourceCloudTrail,
		ID:          firstNonEmpty(r.EventID, env.ID),
		Type:        r.EventName,
		EventSource: r.EventSource,
		Account:     firstNonEmpty(r.RecipientAccountID, env.Account),
		Partition:   firstNonEmpty(pr.Partition, PartitionOfRegion(region)),
		Accounts:    all,
		Region:      region,
		UpdatedAt:   t,
		ErrorCode:   r.ErrorCode,
		Failed:      r.ErrorCode != "" || (r.ResponseElements != nil && r.ResponseElements.ConsoleLogin == "Failure"),
		ViaService:  viaService(r.UserIdentity.InvokedBy, r.SourceIPAddress),
		Principal:   pr,
	}
	if f.ID == "" {
		return Finding{}, errors.New("CloudTrail record: detail.eventID is missing")
	}
	if r.ResponseElements != nil && r.ResponseElements.ConsoleLogin != "" {
		f.Title = r.EventName + " " + r.ResponseElements.ConsoleLogin
	}
	// sourceIPAddress is an address only for calls from outside AWS; AWS
	// services appear by name (ec2.amazonaws.com) or as "AWS Internal"
	// (CloudTrail User Guide, record contents).
	if a, err := netip.ParseAddr(r.SourceIPAddress); err == nil && a.Zone() == "" {
		f.Addresses = []netip.Addr{a.Unmap()}
	}
	return f, nil
}

// Call describes how a CloudTrail call went, for plans and audit
// records: "failed: AccessDenied", "made through
// cloudformation.amazonaws.com", both, or "" for a call that succeeded
// and was made directly (and for every GuardDuty finding).
func (f Finding) Call() string {
	var parts []string
	switch {
	case f.Failed && f.ErrorCode != "":
		parts = append(parts, "failed: "+f.ErrorCode)
	case f.Failed:
		parts = append(parts, "failed")
	}
	if f.ViaService != "" {
		parts = append(parts, "made through "+f.ViaService)
	}
	return strings.Join(parts, ", ")
}

// consoleService is the invokedBy (and userAgent) of the calls a person
// makes in the AWS console, whose sourceIPAddress is the person's own
// address (CloudTrail User Guide, "CloudTrail log event reference": the
// StartLogging example). A console call is the person's, not a service's.
const consoleService = "signin.amazonaws.com"

// viaService returns the AWS service through which a CloudTrail call was
// made: userIdentity.invokedBy, else a sourceIPAddress that names a
// service ("For services in AWS, only the DNS name is displayed",
// CloudTrail User Guide, record contents: cloudformation.amazonaws.com,
// or "AWS Internal"). A console call is made by no service.
func viaService(invokedBy, sourceIP string) string {
	switch {
	case invokedBy == consoleService:
		return ""
	case invokedBy != "":
		return invokedBy
	case sourceIP == consoleService:
		return ""
	case sourceIP == "AWS Internal", strings.HasSuffix(sourceIP, ".amazonaws.com"), strings.HasSuffix(sourceIP, ".amazonaws.com.cn"):
		return sourceIP
	}
	return ""
}

// checkIdentityText refuses identity fields that were altered in decoding.
func checkIdentityText(r ctRecord) error {
	u := r.UserIdentity
	const base = "detail.userIdentity."
	fields := [][2]string{
		{"detail.recipientAccountId", r.RecipientAccountID}, {"detail.eventSource", r.EventSource},
		{"detail.sourceIPAddress", r.SourceIPAddress},
		{base + "type", u.Type}, {base + "principalId", u.PrincipalID}, {base + "arn", u.ARN},
		{base + "accountId", u.AccountID}, {base + "accessKeyId", u.AccessKeyID}, {base + "userName", u.UserName},
		{base + "invokedBy", u.InvokedBy},
	}
	if u.SessionContext != nil && u.SessionContext.SessionIssuer != nil {
		i := u.SessionContext.SessionIssuer
		const ib = base + "sessionContext.sessionIssuer."
		fields = append(fields, [2]string{ib + "type", i.Type}, [2]string{ib + "arn", i.ARN},
			[2]string{ib + "accountId", i.AccountID}, [2]string{ib + "userName", i.UserName})
	}
	return checkText(fields...)
}

// cloudTrailPrincipal classifies a userIdentity element (CloudTrail User
// Guide, "CloudTrail userIdentity element"), and returns the places it
// names the principal's account.
func cloudTrailPrincipal(u *ctIdentity) (Principal, accountRefs) {
	p := Principal{
		Type:        u.Type,
		ARN:         u.ARN,
		PrincipalID: u.PrincipalID,
		AccessKeyID: u.AccessKeyID,
		InvokedBy:   u.InvokedBy,
	}
	longTerm, temporary := accessKeyKind(u.AccessKeyID)
	var issuerType, issuerARN, issuerAccountID, issuerName string
	if u.SessionContext != nil && u.SessionContext.SessionIssuer != nil {
		i := u.SessionContext.SessionIssuer
		issuerType, issuerARN, issuerAccountID, issuerName = i.Type, i.ARN, i.AccountID, i.UserName
	}
	var refs accountRefs
	refs.add("detail.userIdentity.accountId", u.AccountID, "")
	arnPartition, arnAccount := refs.addARN("detail.userIdentity.arn", u.ARN)
	issuerPartition, issuerAccount := refs.addARN("detail.userIdentity.sessionContext.sessionIssuer.arn", issuerARN)
	refs.add("detail.userIdentity.sessionContext.sessionIssuer.accountId", issuerAccountID, "")
	p.Account = firstNonEmpty(u.AccountID, arnAccount, issuerAccount)
	p.Partition = firstNonEmpty(arnPartition, issuerPartition)
	switch u.Type {
	case "IAMUser":
		p.UserName = u.UserName
		switch {
		case u.UserName == "":
			p.Kind = KindUnknown
		case longTerm:
			p.Kind = KindIAMUserKey
		case temporary, u.AccessKeyID == "":
			// ASIA: GetSessionToken credentials. No key at all: a console
			// sign-in, which also makes a session.
			p.Kind = KindIAMUserSession
		default:
			p.Kind = KindUnknown
		}
	case "AssumedRole":
		p.Kind = KindAssumedRole
		p.RoleARN, p.RoleName = issuerARN, issuerName
		role, session, ok := assumedRoleFromARN(u.ARN)
		if p.RoleName == "" && ok {
			p.RoleName = role
		}
		if ok {
			p.SessionName = session
		}
		if p.RoleName == "" {
			p.Kind = KindUnknown
		}
	case "FederatedUser":
		p.Kind = KindFederated
		// The session issuer is the IAM user (or root) that called
		// GetFederationToken: where a session deny must go.
		if issuerType == "IAMUser" {
			p.UserName = issuerName
		}
	case "Root":
		p.Kind = KindRoot
	case "AWSService":
		p.Kind = KindService
	default:
		// AWSAccount, IdentityCenterUser, SAMLUser, WebIdentityUser, Unknown, ...
		p.Kind = KindUnknown
	}
	return p, refs
}

// assumedRoleFromARN splits arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func assumedRoleFromARN(arn string) (role, session string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sts" {
		return "", "", false
	}
	rest, found := strings.CutPrefix(parts[5], "assumed-role/")
	if !found {
		return "", "", false
	}
	role, session, ok = strings.Cut(rest, "/")
	if !ok || role == "" || session == "" {
		return "", "", false
	}
	return role, session, true
}
