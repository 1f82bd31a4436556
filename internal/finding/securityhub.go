package finding

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The EventBridge event of Security Hub CSPM's imported findings (Security
// Hub User Guide, "EventBridge event formats for Security Hub CSPM"):
// detail.findings[] in the AWS Security Finding Format (ASFF).
const (
	DetailTypeSecurityHub   = "Security Hub Findings - Imported"
	SourceSecurityHubEvents = "aws.securityhub"
)

// ViaSecurityHub is Finding.Via for a GuardDuty finding that arrived as a
// Security Hub finding.
const ViaSecurityHub = "securityhub"

// MaxSecurityHubFindings bounds the findings one event may carry. AWS
// documents one per event ("Each event sends a single finding"); the field
// is a list, and the bound keeps one event from fanning out without end.
const MaxSecurityHubFindings = 100

// guardDutyProduct is the ProductArn of GuardDuty's findings in Security
// Hub: arn:PARTITION:securityhub:REGION::product/aws/guardduty.
var guardDutyProduct = regexp.MustCompile(`^arn:[a-z0-9-]+:securityhub:[a-z0-9-]+::product/aws/guardduty$`)

// guardDutyFindingARN is the ASFF Id of a GuardDuty finding: the finding's
// own ARN, whose last segment is GuardDuty's finding id.
var guardDutyFindingARN = regexp.MustCompile(`^arn:[a-z0-9-]+:guardduty:[a-z0-9-]+:[0-9]{12}:detector/[^/]+/finding/([^/]+)$`)

// asffFinding holds the part of an ASFF finding (aws-sdk-go-v2
// service/securityhub types.AwsSecurityFinding; the event uses the same
// PascalCase names) that autocontain reads from a GuardDuty finding.
type asffFinding struct {
	ID                    string        `json:"Id"`
	ProductArn            string        `json:"ProductArn"`
	AwsAccountID          string        `json:"AwsAccountId"`
	Region                string        `json:"Region"`
	Types                 []string      `json:"Types"`
	UpdatedAt             string        `json:"UpdatedAt"`
	Title                 string        `json:"Title"`
	Sample                bool          `json:"Sample"`
	RecordState           string        `json:"RecordState"`
	Severity              *asffSeverity `json:"Severity"`
	FindingProviderFields *struct {
		Types    []string      `json:"Types"`
		Severity *asffSeverity `json:"Severity"`
	} `json:"FindingProviderFields"`
	ProductFields map[string]string `json:"ProductFields"`
	Resources     []asffResource    `json:"Resources"`
	Network       *struct {
		Direction  string `json:"Direction"`
		SourceIPV4 string `json:"SourceIpV4"`
		SourceIPV6 string `json:"SourceIpV6"`
	} `json:"Network"`
	Detection *struct {
		Sequence *gdSequence `json:"Sequence"`
	} `json:"Detection"`
	Action *struct {
		AwsAPICallAction        *asffRemote `json:"AwsApiCallAction"`
		NetworkConnectionAction *asffRemote `json:"NetworkConnectionAction"`
		PortProbeAction         *struct {
			PortProbeDetails []asffRemote `json:"PortProbeDetails"`
		} `json:"PortProbeAction"`
	} `json:"Action"`
}

type asffSeverity struct {
	Label    string   `json:"Label"`
	Original *string  `json:"Original"`
	Product  *float64 `json:"Product"`
}

type asffRemote struct {
	RemoteIPDetails *struct {
		IPAddressV4 string `json:"IpAddressV4"`
	} `json:"RemoteIpDetails"`
}

type asffResource struct {
	Type      string `json:"Type"`
	ID        string `json:"Id"`
	Partition string `json:"Partition"`
	// Tags are the resource's tags, as Security Hub copies them.
	Tags    map[string]string `json:"Tags"`
	Details struct {
		AwsIamAccessKey *asffAccessKey `json:"AwsIamAccessKey"`
		AwsEc2Instance  *asffInstance  `json:"AwsEc2Instance"`
	} `json:"Details"`
}

// asffInstance is AwsEc2InstanceDetails: less than GuardDuty's own
// instanceDetails (no security groups, no state), and the instance id is
// in the resource's Id ARN.
type asffInstance struct {
	IamInstanceProfileArn string `json:"IamInstanceProfileArn"`
	VpcID                 string `json:"VpcId"`
	NetworkInterfaces     []struct {
		NetworkInterfaceID string `json:"NetworkInterfaceId"`
	} `json:"NetworkInterfaces"`
}

// asffAccessKey is AwsIamAccessKeyDetails. UserName is deprecated for
// PrincipalName; GuardDuty puts the key id in the resource's Id
// (AWS::IAM::AccessKey:ASIA...) and may leave AccessKeyId out.
type asffAccessKey struct {
	AccessKeyID    string `json:"AccessKeyId"`
	AccountID      string `json:"AccountId"`
	PrincipalID    string `json:"PrincipalId"`
	PrincipalName  string `json:"PrincipalName"`
	PrincipalType  string `json:"PrincipalType"`
	UserName       string `json:"UserName"`
	SessionContext *struct {
		SessionIssuer *struct {
			Arn      string `json:"Arn"`
			UserName string `json:"UserName"`
		} `json:"SessionIssuer"`
	} `json:"SessionContext"`
}

// ASFF resource types of GuardDuty's findings, as GuardDuty's own
// resource.resourceType names them.
var asffResourceTypes = map[string]string{
	"AwsIamAccessKey":   "AccessKey",
	"AwsEc2Instance":    "Instance",
	"AwsS3Bucket":       "S3Bucket",
	"AwsS3Object":       "S3Object",
	"AwsEksCluster":     "EKSCluster",
	"AwsEcsCluster":     "ECSCluster",
	"Container":         "Container",
	"AwsLambdaFunction": "Lambda",
	"AwsRdsDbInstance":  "RDSDBInstance",
}

// pfService prefixes the flattened GuardDuty service fields in ProductFields.
const pfService = "aws/guardduty/service/"

// parseSecurityHub reads every finding of a Security Hub event. Each must
// be a well-formed GuardDuty finding: one that is not (malformed, or
// another product's) rejects the whole event, which then changes nothing.
func parseSecurityHub(env envelope) ([]Finding, error) {
	var d struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return nil, fmt.Errorf("ASFF event: %w", describe(prefixField(err, "detail")))
	}
	switch {
	case len(d.Findings) == 0:
		return nil, errors.New("ASFF event: detail.findings is missing or empty")
	case len(d.Findings) > MaxSecurityHubFindings:
		return nil, fmt.Errorf("ASFF event: detail.findings holds %d findings, more than the %d autocontain reads from one event", len(d.Findings), MaxSecurityHubFindings)
	}
	out := make([]Finding, 0, len(d.Findings))
	for i, raw := range d.Findings {
		base := fmt.Sprintf("detail.findings[%d]", i)
		f, err := parseASFF(env, base, raw)
		if err != nil {
			return nil, fmt.Errorf("ASFF finding %s: %w", base, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// parseASFF reads one ASFF finding at JSON path base.
func parseASFF(env envelope, base string, raw json.RawMessage) (Finding, error) {
	if !isObject(raw) {
		return Finding{}, errors.New("is not a JSON object")
	}
	var a asffFinding
	if err := json.Unmarshal(raw, &a); err != nil {
		return Finding{}, describe(prefixField(err, base))
	}
	if !guardDutyProduct.MatchString(a.ProductArn) {
		// Inspector, Macie, Config, partners: their findings name no
		// principal autocontain could contain, and their fields mean
		// other things.
		return Finding{}, fmt.Errorf("%w: %s.ProductArn %q is not GuardDuty's (arn:PARTITION:securityhub:REGION::product/aws/guardduty): autocontain reads only GuardDuty's findings from Security Hub",
			ErrUnsupported, base, a.ProductArn)
	}
	m := guardDutyFindingARN.FindStringSubmatch(a.ID)
	if m == nil {
		return Finding{}, fmt.Errorf("%s.Id %q is not a GuardDuty finding's ARN (arn:PARTITION:guardduty:REGION:ACCOUNT:detector/ID/finding/ID)", base, a.ID)
	}
	typ, err := asffGuardDutyType(base, a)
	if err != nil {
		return Finding{}, err
	}
	sev, changeable, err := asffSeverityOf(base, a)
	if err != nil {
		return Finding{}, err
	}
	t, err := parseTime(base+".UpdatedAt", a.UpdatedAt)
	if err != nil {
		return Finding{}, err
	}
	if a.AwsAccountID == "" {
		return Finding{}, fmt.Errorf("%s.AwsAccountId is missing", base)
	}
	if err := checkText([2]string{base + ".AwsAccountId", a.AwsAccountID}, [2]string{base + ".Id", a.ID}); err != nil {
		return Finding{}, err
	}
	pf := a.ProductFields
	count := 0
	if s := pf[pfService+"count"]; s != "" {
		if count, err = strconv.Atoi(s); err != nil || count < 0 {
			return Finding{}, fmt.Errorf("%s.ProductFields[%q] %q is not a count", base, pfService+"count", s)
		}
	}
	archived := false
	switch s := pf[pfService+"archived"]; s {
	case "", "false":
	case "true":
		archived = true
	default:
		return Finding{}, fmt.Errorf("%s.ProductFields[%q] %q is not true or false", base, pfService+"archived", s)
	}
	// Archived by GuardDuty (RecordState, which only the provider sets):
	// reported, not acted on. Workflow.Status is not read: any Security
	// Hub user or automation rule sets it (BatchUpdateFindings), and a
	// copy decided on it would get another plan than its GuardDuty
	// original, which the ledger then skips as the same finding.
	if a.RecordState == "ARCHIVED" {
		archived = true
	}

	var refs accountRefs
	refs.add("account", env.Account, "")
	refs.add(base+".AwsAccountId", a.AwsAccountID, "")
	partition, _ := refs.addARN(base+".Id", a.ID)
	region := firstNonEmpty(a.Region, env.Region)
	f := Finding{
		Source:       SourceGuardDuty,
		Via:          ViaSecurityHub,
		ID:           m[1],
		Type:         typ,
		Severity:     sev,
		Account:      a.AwsAccountID,
		Partition:    firstNonEmpty(partition, PartitionOfRegion(region)),
		Region:       region,
		UpdatedAt:    t,
		Title:        a.Title,
		Count:        count,
		Archived:     archived,
		ResourceRole: pf[pfService+"resourceRole"],
		Sample:       a.Sample || asffSample(pf),
	}
	if changeable {
		f.SeverityFloor = SeverityFloorOf(sev)
	}
	if len(a.Resources) > 0 {
		r := a.Resources[0]
		f.ResourceType = firstNonEmpty(asffResourceTypes[r.Type], r.Type)
		if f.ResourceType != "AccessKey" {
			f.Resource = printable(resourceName(r.ID))
		}
	}
	if f.ResourceType == ResourceInstance {
		in, err := asffInstanceOf(base+".Resources[0]", a.Resources[0])
		switch {
		case err != nil && f.Sample:
			// A sample's placeholders name no instance, as in GuardDuty's own event.
		case err != nil:
			return Finding{}, fmt.Errorf("GuardDuty finding from Security Hub: %w", err)
		case in != nil:
			f.Instance = in
			refs.addARN(base+".Resources[0].Details.AwsEc2Instance.IamInstanceProfileArn", in.ProfileARN)
		}
	}
	f.Principal = Principal{Kind: KindNone}
	for i, r := range a.Resources {
		if r.Type != "AwsIamAccessKey" {
			continue
		}
		pr, acct, err := asffPrincipal(fmt.Sprintf("%s.Resources[%d]", base, i), r, f.Partition, f.Account)
		if err != nil {
			return Finding{}, err
		}
		if acct != "" {
			refs.add(fmt.Sprintf("%s.Resources[%d].Details.AwsIamAccessKey.AccountId", base, i), acct, "")
		}
		f.Principal = pr
		break
	}
	f.Accounts = refs
	addrs, err := asffAddresses(base, a)
	if err != nil {
		return Finding{}, err
	}
	if det := a.Detection; det != nil && det.Sequence != nil {
		// An attack sequence, as GuardDuty's own event names its resource.
		f.ResourceType, f.Resource = "AttackSequence", ""
		if err := f.addSequence(&addrs, det.Sequence, base+".Detection.Sequence"); err != nil {
			return Finding{}, err
		}
	}
	f.Addresses = addrs.addrs
	return f, nil
}

// asffGuardDutyType recovers GuardDuty's finding type from the ASFF types
// GuardDuty gave (GuardDuty User Guide, "Interpreting GuardDuty finding
// names in Security Hub"): a namespace and category, then the type with
// its slash written as a dash ("TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"
// is UnauthorizedAccess:EC2/SSHBruteForce); a few keep the slash
// ("TTPs/PenTest:IAMUser/KaliLinux"). Only FindingProviderFields.Types is
// read: the top-level Types may be changed by any Security Hub user
// (BatchUpdateFindings, automation rules), FindingProviderFields only by
// GuardDuty, and Security Hub fills it from the top-level fields when a
// provider leaves it empty (Security Hub API Reference, FindingProviderFields).
func asffGuardDutyType(base string, a asffFinding) (string, error) {
	field := base + ".FindingProviderFields.Types"
	if a.FindingProviderFields == nil || len(a.FindingProviderFields.Types) == 0 {
		return "", fmt.Errorf("%s is missing: the type GuardDuty gave cannot be told from one changed in Security Hub (Types)", field)
	}
	typ := ""
	for i, s := range a.FindingProviderFields.Types {
		t, ok := guardDutyTypeOf(s)
		switch {
		case !ok:
		case typ == "":
			typ = t
		case t != typ:
			return "", fmt.Errorf("%s[%d] %q names GuardDuty type %s, another entry %s: refused, as either could decide", field, i, s, t, typ)
		}
	}
	if typ == "" {
		return "", fmt.Errorf("%s %q holds no GuardDuty finding type (Namespace/…/ThreatPurpose:Resource-Variant)", field, a.FindingProviderFields.Types)
	}
	return typ, nil
}

// gdType is the shape of a GuardDuty finding type,
// ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.Variant.
var gdType = regexp.MustCompile(`^[A-Za-z0-9]+:[A-Za-z0-9]+/[^/\s]+$`)

// guardDutyTypeOf turns one ASFF type into GuardDuty's type, if it is one.
func guardDutyTypeOf(s string) (string, bool) {
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		purpose, rest, ok := strings.Cut(seg, ":")
		if !ok {
			continue
		}
		var t string
		switch tail := segs[i+1:]; len(tail) {
		case 0:
			resource, variant, ok := strings.Cut(rest, "-")
			if !ok {
				return "", false
			}
			t = purpose + ":" + resource + "/" + variant
		case 1:
			t = seg + "/" + tail[0]
		default:
			return "", false
		}
		return t, gdType.MatchString(t)
	}
	return "", false
}

// asffSeverityOf reads GuardDuty's own severity number (1.0–10.0), not
// Security Hub's Normalized (0–100, which does not follow it: a 2.0 finding
// is Normalized 40). The number is Original or the older Product, first
// from FindingProviderFields, which only GuardDuty can change. The
// top-level Severity may be changed by a Security Hub user: when it is
// read, it must agree with the label GuardDuty gave in FindingProviderFields,
// or the finding is refused rather than acted on with a severity GuardDuty
// did not give. Even then it may have been moved within that band, so
// changeable says it was read there: decisions then use the band's floor
// (Finding.SeverityFloor).
func asffSeverityOf(base string, a asffFinding) (sev float64, changeable bool, err error) {
	var provider *asffSeverity
	if a.FindingProviderFields != nil {
		provider = a.FindingProviderFields.Severity
	}
	read := func(field string, s *asffSeverity) (float64, bool, error) {
		if s == nil {
			return 0, false, nil
		}
		if s.Original != nil {
			v, err := strconv.ParseFloat(*s.Original, 64)
			if err != nil {
				return 0, false, fmt.Errorf("%s.Original %q is not a number", field, *s.Original)
			}
			return v, true, nil
		}
		if s.Product != nil {
			return *s.Product, true, nil
		}
		return 0, false, nil
	}
	sev, ok, err := read(base+".FindingProviderFields.Severity", provider)
	field := base + ".FindingProviderFields.Severity"
	if err == nil && !ok {
		field, changeable = base+".Severity", true
		sev, ok, err = read(field, a.Severity)
		if ok && provider != nil && provider.Label != "" && !strings.EqualFold(asffLabel(sev), provider.Label) {
			return 0, false, fmt.Errorf("%s says %g (%s) but GuardDuty's label %s.FindingProviderFields.Severity.Label is %s: the severity was changed in Security Hub; refused",
				field, sev, asffLabel(sev), base, provider.Label)
		}
	}
	switch {
	case err != nil:
		return 0, false, err
	case !ok:
		return 0, false, fmt.Errorf("%s.Severity has neither Original nor Product: GuardDuty's severity is missing", base)
	case sev < 0 || sev > 10 || sev != sev:
		return 0, false, fmt.Errorf("%s %g is outside 0–10", field, sev)
	}
	return sev, changeable, nil
}

// asffLabel is the ASFF label of a GuardDuty severity: GuardDuty's own
// bands (SeverityLabel), upper case, INFORMATIONAL below 1.
func asffLabel(sev float64) string {
	if l := SeverityLabel(sev); l != "none" {
		return strings.ToUpper(l)
	}
	return "INFORMATIONAL"
}

// asffSample reads GuardDuty's sample marker from the flattened
// additionalInfo: its sample field, or sample inside its JSON value.
func asffSample(pf map[string]string) bool {
	info, _ := json.Marshal(map[string]string{"sample": pf[pfService+"additionalInfo/sample"], "value": pf[pfService+"additionalInfo/value"]})
	return isSample(info)
}

// asffPrincipal classifies an AwsIamAccessKey resource as
// resource.accessKeyDetails is, with the session's issuer when the
// resource names one. acct is the key's own AccountId, when given.
func asffPrincipal(base string, r asffResource, partition, account string) (p Principal, acct string, err error) {
	k := r.Details.AwsIamAccessKey
	if k == nil {
		return Principal{}, "", fmt.Errorf("%s is an AwsIamAccessKey without Details.AwsIamAccessKey", base)
	}
	d := base + ".Details.AwsIamAccessKey."
	keyID := k.AccessKeyID
	if fromID, ok := strings.CutPrefix(r.ID, "AWS::IAM::AccessKey:"); ok {
		if keyID != "" && keyID != fromID {
			return Principal{}, "", fmt.Errorf("%sAccessKeyId %q and %s.Id %q name two keys", d, keyID, base, r.ID)
		}
		keyID = fromID
	}
	issuer, issuerName := "", ""
	if sc := k.SessionContext; sc != nil && sc.SessionIssuer != nil {
		issuer, issuerName = sc.SessionIssuer.Arn, sc.SessionIssuer.UserName
	}
	if err := checkText([2]string{d + "AccessKeyId", keyID}, [2]string{d + "PrincipalId", k.PrincipalID}, [2]string{d + "PrincipalName", k.PrincipalName},
		[2]string{d + "PrincipalType", k.PrincipalType}, [2]string{d + "UserName", k.UserName}, [2]string{d + "AccountId", k.AccountID},
		[2]string{d + "SessionContext.SessionIssuer.Arn", issuer}, [2]string{d + "SessionContext.SessionIssuer.UserName", issuerName}); err != nil {
		return Principal{}, "", err
	}
	if r.Partition != "" && partition != "" && r.Partition != partition {
		return Principal{}, "", fmt.Errorf("%s.Partition %q is not the finding's partition %q", base, r.Partition, partition)
	}
	name := firstNonEmpty(k.PrincipalName, k.UserName)
	if strings.EqualFold(k.PrincipalType, "AssumedRole") && issuerName != "" && issuer == "" {
		name = issuerName
	}
	return classify(k.PrincipalType, name, k.PrincipalID, keyID, issuer, partition, account), k.AccountID, nil
}

// asffAddresses collects the remote addresses of a GuardDuty finding in
// ASFF, in the order the GuardDuty parser reads them: each action's
// remote address from Action (which has only IPv4) and from ProductFields
// (GuardDuty's flattened service.action, IPv4 and IPv6), then the port
// probes', then the retired Network object's source (not of an outbound
// connection, whose source is the account's own resource).
func asffAddresses(base string, a asffFinding) (addressList, error) {
	var l addressList
	pf := a.ProductFields
	fromPF := func(key string) error {
		return l.add(fmt.Sprintf("%s.ProductFields[%q]", base, key), pf[key])
	}
	act := a.Action
	for _, kind := range []string{"awsApiCallAction", "networkConnectionAction", "kubernetesApiCallAction", "rdsLoginAttemptAction"} {
		if act != nil {
			var r *asffRemote
			field := ""
			switch kind {
			case "awsApiCallAction":
				r, field = act.AwsAPICallAction, "AwsApiCallAction"
			case "networkConnectionAction":
				r, field = act.NetworkConnectionAction, "NetworkConnectionAction"
			}
			if r != nil && r.RemoteIPDetails != nil {
				if err := l.add(base+".Action."+field+".RemoteIpDetails.IpAddressV4", r.RemoteIPDetails.IPAddressV4); err != nil {
					return l, err
				}
			}
		}
		prefix := pfService + "action/" + kind + "/remoteIpDetails/"
		for _, v := range []string{"ipAddressV4", "ipAddressV6"} {
			if err := fromPF(prefix + v); err != nil {
				return l, err
			}
		}
		if kind == "kubernetesApiCallAction" {
			for _, key := range indexedKeys(pf, pfService+"action/kubernetesApiCallAction/sourceIPs", "") {
				if err := fromPF(key); err != nil {
					return l, err
				}
			}
		}
	}
	if act != nil && act.PortProbeAction != nil {
		for i, d := range act.PortProbeAction.PortProbeDetails {
			if d.RemoteIPDetails != nil {
				if err := l.add(fmt.Sprintf("%s.Action.PortProbeAction.PortProbeDetails[%d].RemoteIpDetails.IpAddressV4", base, i), d.RemoteIPDetails.IPAddressV4); err != nil {
					return l, err
				}
			}
		}
	}
	for _, v := range []string{"ipAddressV4", "ipAddressV6"} {
		for _, key := range indexedKeys(pf, pfService+"action/portProbeAction/portProbeDetails", "/remoteIpDetails/"+v) {
			if err := fromPF(key); err != nil {
				return l, err
			}
		}
	}
	if n := a.Network; n != nil && n.Direction != "OUT" {
		if err := l.add(base+".Network.SourceIpV4", n.SourceIPV4); err != nil {
			return l, err
		}
		if err := l.add(base+".Network.SourceIpV6", n.SourceIPV6); err != nil {
			return l, err
		}
	}
	return l, nil
}

// indexedKeys returns the ProductFields keys PREFIX/N SUFFIX (a flattened
// list), by N, and PREFIX SUFFIX itself when present.
func indexedKeys(pf map[string]string, prefix, suffix string) []string {
	type entry struct {
		n   int
		key string
	}
	var es []entry
	for k := range pf {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if rest == suffix {
			es = append(es, entry{-1, k})
			continue
		}
		num, ok := strings.CutSuffix(strings.TrimPrefix(rest, "/"), suffix)
		if n, err := strconv.Atoi(num); ok && err == nil && strings.HasPrefix(rest, "/") {
			es = append(es, entry{n, k})
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].n < es[j].n })
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.key
	}
	return out
}

// resourceName is the name at the end of a resource's ARN or id: an
// instance id, a bucket, a cluster, a function.
func resourceName(id string) string {
	if i := strings.LastIndexAny(id, "/:"); i >= 0 {
		return id[i+1:]
	}
	return id
}

// asffInstanceOf reads the instance of an AwsEc2Instance resource, as
// parseInstance reads GuardDuty's instanceDetails and with its checks:
// the id from the resource's Id (arn:aws:ec2:REGION:ACCOUNT:instance/ID),
// the profile, the interfaces (each in the instance's VPC; ASFF names no
// group of theirs) and the tags, in key order. It returns nil when the
// resource names no instance.
func asffInstanceOf(base string, r asffResource) (*Instance, error) {
	_, id, ok := strings.Cut(r.ID, ":instance/")
	if !ok || r.Details.AwsEc2Instance == nil {
		return nil, nil
	}
	d := r.Details.AwsEc2Instance
	in := &Instance{ID: id, ProfileARN: d.IamInstanceProfileArn}
	fields := [][2]string{{base + ".Id", id}, {base + ".Details.AwsEc2Instance.IamInstanceProfileArn", d.IamInstanceProfileArn},
		{base + ".Details.AwsEc2Instance.VpcId", d.VpcID}}
	for i, n := range d.NetworkInterfaces {
		in.Interfaces = append(in.Interfaces, Interface{ID: n.NetworkInterfaceID, VPC: d.VpcID})
		fields = append(fields, [2]string{fmt.Sprintf("%s.Details.AwsEc2Instance.NetworkInterfaces[%d].NetworkInterfaceId", base, i), n.NetworkInterfaceID})
	}
	keys := make([]string, 0, len(r.Tags))
	for k := range r.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in.Tags = append(in.Tags, Tag{Key: k, Value: r.Tags[k]})
		fields = append(fields, [2]string{base + ".Tags key", k}, [2]string{base + ".Tags." + k, r.Tags[k]})
	}
	if err := checkText(fields...); err != nil {
		return nil, err
	}
	return in, in.check(base+".Id", base+".Details.AwsEc2Instance.IamInstanceProfileArn")
}
