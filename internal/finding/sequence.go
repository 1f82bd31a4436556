package finding

import (
	"fmt"
	"strings"
)

// AttackSequenceTypes are the attack-sequence finding types GuardDuty
// documents (GuardDuty User Guide, "GuardDuty Extended Threat Detection"
// finding types). Every one starts with AttackSequencePrefix.
var AttackSequenceTypes = []string{
	"AttackSequence:IAM/CompromisedCredentials",
	"AttackSequence:S3/CompromisedData",
	"AttackSequence:EKS/CompromisedCluster",
	"AttackSequence:ECS/CompromisedCluster",
	"AttackSequence:EC2/CompromisedInstanceGroup",
}

// AttackSequencePrefix starts every attack-sequence finding type.
const AttackSequencePrefix = "AttackSequence:"

// gdSequence is the part of a GuardDuty Extended Threat Detection attack
// sequence (detail.service.detection.sequence) that autocontain reads. The
// names are GuardDuty's REST-JSON wire names (aws-sdk-go-v2
// service/guardduty types.Sequence, Actor, User, Session, NetworkEndpoint;
// GuardDuty API Reference, "Sequence"): lower camelCase, and the account's
// name is "account", not "name". Security Hub's ASFF (Detection.Sequence;
// aws-sdk-go-v2 service/securityhub types.Sequence, Actor, ActorUser,
// ActorSession, NetworkEndpoint) names the fields read here the same in
// PascalCase, which encoding/json matches alike.
type gdSequence struct {
	UID       string       `json:"uid"`
	Actors    []gdActor    `json:"actors"`
	Endpoints []gdEndpoint `json:"endpoints"`
}

type gdActor struct {
	ID   string `json:"id"`
	User *struct {
		Name          string `json:"name"`
		UID           string `json:"uid"`
		Type          string `json:"type"`
		CredentialUID string `json:"credentialUid"`
		Account       *struct {
			UID string `json:"uid"`
		} `json:"account"`
	} `json:"user"`
	Session *struct {
		UID    string `json:"uid"`
		Issuer string `json:"issuer"`
	} `json:"session"`
}

type gdEndpoint struct {
	ID string `json:"id"`
	IP string `json:"ip"`
}

// addSequence adds what attack sequence s (at JSON path base) names to f:
// its actors, the first as the principal when f has none, each principal
// once; and its endpoints' addresses to addrs.
func (f *Finding) addSequence(addrs *addressList, s *gdSequence, base string) error {
	actors, err := sequenceActors(s, base, f.Partition, f.Account)
	if err != nil {
		return err
	}
	if f.Principal.Kind == KindNone && len(actors) > 0 {
		f.Principal, actors = actors[0], actors[1:]
	}
	for _, a := range actors {
		if a.identity() != f.Principal.identity() {
			f.Actors = append(f.Actors, a)
		}
	}
	for i, e := range s.Endpoints {
		if err := addrs.add(fmt.Sprintf("%s.endpoints[%d].ip", base, i), e.IP); err != nil {
			return err
		}
	}
	return nil
}

// sequenceActors turns every actor of an attack sequence that names a user
// into a principal, each once, in the order GuardDuty lists them. An actor
// without a user (a process) names no principal. An actor's account is its
// ARN's (the session issuer's, or a uid that is an ARN), else the account
// its activity took place in (user.account.uid); an actor with neither is
// unknown, and reported.
func sequenceActors(s *gdSequence, path, partition, account string) ([]Principal, error) {
	var out []Principal
	seen := map[string]bool{}
	for i, a := range s.Actors {
		u := a.User
		if u == nil {
			continue
		}
		base := fmt.Sprintf("%s.actors[%d].", path, i)
		fields := [][2]string{{base + "user.name", u.Name}, {base + "user.uid", u.UID},
			{base + "user.type", u.Type}, {base + "user.credentialUid", u.CredentialUID}}
		if u.Account != nil {
			fields = append(fields, [2]string{base + "user.account.uid", u.Account.UID})
		}
		if a.Session != nil {
			fields = append(fields, [2]string{base + "session.uid", a.Session.UID}, [2]string{base + "session.issuer", a.Session.Issuer})
		}
		if err := checkText(fields...); err != nil {
			return nil, err
		}
		issuer := ""
		if a.Session != nil {
			issuer = a.Session.Issuer
		}
		// The actor's own account: its ARN's (classify reads it), else the
		// account its activity took place in. With neither, the same name
		// could be another account's principal: it is not guessed.
		acct := ""
		if u.Account != nil {
			acct = u.Account.UID
		}
		_, _, issuerARN := SplitARN(issuer)
		_, _, uidARN := SplitARN(u.UID)
		p := classify(u.Type, u.Name, u.UID, u.CredentialUID, issuer, partition, firstNonEmpty(acct, account))
		if acct == "" && !issuerARN && !uidARN && p.Kind != KindNone {
			p.Kind, p.Account, p.ARN = KindUnknown, "", ""
		}
		if k := p.identity(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// classify makes a principal of what GuardDuty says of a user: its type,
// name, unique id (or ARN), credential (access key id) and, for a session,
// its issuer. It reads both resource.accessKeyDetails and an attack
// sequence's actors. The sequence model leaves the type's values open: the
// CloudTrail spellings (IAMUser, AssumedRole, Root, FederatedUser,
// AWSService) and their upper snake case (ASSUMED_ROLE) are both read. The credential decides between a key and a session, as for
// single findings; anything that does not add up is unknown, and reported.
//
// A role is named by the session's issuer (the role's ARN, which
// CloudTrail calls sessionContext.sessionIssuer.arn) when there is one,
// else by the user's name. The principal's account and partition are its
// ARN's when it has one (the issuer, or a uid that is an ARN), else the
// finding's.
func classify(typ, name, uid, cred, issuer, partition, account string) Principal {
	p := Principal{Type: typ, PrincipalID: uid, AccessKeyID: cred, Account: account, Partition: partition}
	arn := issuer
	if _, _, ok := SplitARN(uid); ok && arn == "" {
		arn = uid
		p.PrincipalID = ""
	}
	if ap, aa, ok := SplitARN(arn); ok {
		p.Partition, p.Account = ap, aa
	}
	longTerm, temporary := accessKeyKind(cred)
	switch strings.ToLower(strings.ReplaceAll(typ, "_", "")) {
	case "iamuser":
		p.UserName = firstNonEmpty(iamName(arn, "user"), name)
		p.ARN = firstNonEmpty(arn, iamARN(p.Partition, p.Account, "user", p.UserName))
		switch {
		case p.UserName == "":
			p.Kind = KindUnknown
		case longTerm:
			p.Kind = KindIAMUserKey
		case temporary:
			p.Kind = KindIAMUserSession
		default:
			p.Kind = KindUnknown
		}
	case "assumedrole":
		p.RoleName = firstNonEmpty(iamName(arn, "role"), name)
		if strings.Contains(arn, ":role/") {
			p.RoleARN = arn
		}
		if _, session, ok := strings.Cut(uid, ":"); ok && p.PrincipalID != "" {
			p.SessionName = session
		}
		p.Kind = KindAssumedRole
		if p.RoleName == "" || !temporary {
			p.Kind = KindUnknown
		}
	case "root":
		p.Kind = KindRoot
		p.ARN = rootARN(p.Partition, p.Account)
	case "federateduser":
		p.Kind = KindFederated
	case "awsservice":
		p.Kind = KindService
	default:
		p.Kind = KindUnknown
	}
	return p
}

// iamName returns the name of the IAM user or role (kind) an ARN names,
// without its path; "" when the ARN names no such entity.
func iamName(arn, kind string) string {
	_, rest, ok := strings.Cut(arn, ":"+kind+"/")
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return ""
	}
	return rest[strings.LastIndex(rest, "/")+1:]
}

// identity tells two principals apart: the same entity with the same
// credential is named once.
func (p Principal) identity() string {
	return strings.Join([]string{string(p.Kind), p.Account, p.Entity(), p.AccessKeyID, p.ARN}, "\x00")
}
