// Package faultproxy is an HTTP reverse proxy for tests that stands in front
// of the moto server and makes it misbehave the way real AWS can: it injects
// throttling, server errors, delays, lost replies and WAF lock-token
// conflicts into chosen operations, enforces per-operation rate quotas, and
// counts every call so tests can prove how many were made. It also refuses
// an SNS message over 262,144 bytes, as SNS does and moto does not quite
// (MaxSNSMessage).
//
// Name an operation by its AWS name: "UpdateIPSet", "PutItem",
// "UpdateAccessKey", "Publish". A name matches the operation of every
// service with that name. The proxy records operations as the SDK sends
// them (Counts): by the X-Amz-Target header for JSON-protocol services
// ("AWSWAF_20190729.UpdateIPSet", "DynamoDB_20120810.PutItem"), by the
// Action form field for query-protocol services ("UpdateAccessKey"), and
// otherwise (REST services such as Lambda) by "METHOD /path"; a JSON
// target's full name, to single out one service, and "METHOD /path" are
// accepted too.
//
// Each fault answers the way the SDK expects of the protocol, so the SDK
// decodes it into the same typed error as AWS's own: see Fault.
package faultproxy

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is how the proxy answers a call instead of (or besides) forwarding
// it unchanged.
type Fault int

// Faults.
const (
	// Throttling answers HTTP 400 with the protocol's throttling error:
	// {"__type":"ThrottlingException"} for JSON protocols, an
	// ErrorResponse with code Throttling for the query protocol, and EC2's
	// RequestLimitExceeded for EC2. The SDK's standard retryer retries
	// them.
	Throttling Fault = iota
	// ServerError answers HTTP 500 InternalFailure (retried by the SDK).
	ServerError
	// Unavailable answers HTTP 503 ServiceUnavailable (retried by the SDK).
	Unavailable
	// StaleLock answers HTTP 400 WAFOptimisticLockException, as WAF does
	// when a lock token is stale; the SDK decodes it to
	// *types.WAFOptimisticLockException and does not retry it.
	StaleLock
	// LostReply forwards the call, so the server applies it, then closes
	// the connection without an answer: the client sees a connection
	// error and cannot know the call took effect. The SDK retries it, so
	// a non-idempotent call is made twice.
	LostReply
	// Pass forwards the call unchanged. Queued before another fault, it
	// aims that fault at a later call: Inject(op, Pass, 2) then
	// Inject(op, LostReply, 1) loses the reply of the third call of op.
	Pass
	// AccessDenied answers HTTP 403 with the error AWS gives when IAM
	// denies the call: AccessDeniedException for JSON and REST-JSON
	// protocols (Lambda's Invoke: "Status Code: 403; Error Code:
	// AccessDeniedException"), AccessDenied for the query protocol (IAM's
	// and STS's code; SNS says AuthorizationError, not imitated here), and
	// UnauthorizedOperation for EC2 (EC2 API Reference, "Error codes for
	// the Amazon EC2 API"). The SDK does not retry it.
	AccessDenied
)

// String names the fault.
func (f Fault) String() string {
	switch f {
	case Throttling:
		return "Throttling"
	case ServerError:
		return "ServerError"
	case Unavailable:
		return "Unavailable"
	case StaleLock:
		return "StaleLock"
	case LostReply:
		return "LostReply"
	case Pass:
		return "Pass"
	case AccessDenied:
		return "AccessDenied"
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// Proxy is a running fault-injecting proxy. Its methods are safe for
// concurrent use, including while calls are in flight.
type Proxy struct {
	srv *httptest.Server
	rp  *httputil.ReverseProxy

	mu    sync.Mutex
	rules map[string][]rule
	count map[string]int
	limit map[string]*window
	log   []Call
}

// Call is one call of a query-protocol operation, in the order calls
// reached the proxy (Log): its name and its form fields.
type Call struct {
	Op   string
	Form url.Values
}

// rule is one pending fault.
type rule struct {
	fault Fault
	delay time.Duration // InjectDelay's: how long a Pass holds the call
}

// window counts calls within the current one-second window, for a quota,
// per caller and Region (scope).
type window struct {
	perSecond int
	slots     map[string]*slot
}

type slot struct {
	start time.Time
	n     int
}

// New starts a proxy on 127.0.0.1 that forwards to target, the moto
// server's URL. It panics if target is not a URL, like httptest.NewServer
// on failure. Close it when done (t.Cleanup(p.Close)).
func New(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		panic(fmt.Sprintf("faultproxy: target %q is not a URL (%v)", target, err))
	}
	p := &Proxy{rules: map[string][]rule{}, count: map[string]int{}, limit: map[string]*window{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Context().Err() != nil {
			return // the client is gone
		}
		http.Error(w, fmt.Sprintf("faultproxy: forward to %s: %v", target, err), http.StatusBadGateway)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// URL is the proxy's endpoint, to use as the SDK's BaseEndpoint
// (testenv.ConfigAt(t, p.URL())).
func (p *Proxy) URL() string { return p.srv.URL }

// Close stops the proxy, waiting for calls in flight.
func (p *Proxy) Close() { p.srv.Close() }

// Inject makes the next times calls of op answer fault, one call each, in
// the order injected. Injected faults come before any quota set by Limit.
func (p *Proxy) Inject(op string, fault Fault, times int) {
	p.add(op, rule{fault: fault}, times)
}

// Clear drops every fault and delay still pending (those Inject and
// InjectDelay queued that no call has met yet). Quotas set by Limit stay.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = map[string][]rule{}
}

// InjectDelay makes the next times calls of op wait d before they are
// forwarded, one call each, queued with Inject's faults. If the client
// gives up first (a timeout shorter than d), the call is dropped without
// reaching the server.
func (p *Proxy) InjectDelay(op string, d time.Duration, times int) {
	p.add(op, rule{fault: Pass, delay: d}, times)
}

func (p *Proxy) add(op string, r rule, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range times {
		p.rules[op] = append(p.rules[op], r)
	}
}

// Limit enforces a quota of perSecond calls of op in each one-second
// window (a window opens with the first call after the last one closed);
// calls past it answer Throttling, as AWS's API quotas do. WAF allows one
// UpdateIPSet per second and five GetIPSet per account and Region, and past
// that answers the generic ThrottlingException ("Rate exceeded", HTTP 400),
// not WAFLimitsExceededException, which is about resource counts (WAF
// Developer Guide, "AWS WAF quotas"; the wafv2 model has no throttling
// error of its own). The quota is kept per caller and Region, as AWS keeps
// it per account and Region: the caller is the access key id of the
// request's signature, which stands for its account (each account's
// credentials are their own, an assumed role's included), and the Region
// is the signature's too:
//
//	p.Limit("UpdateIPSet", 1)
//
// A perSecond of 0 or less removes the quota.
func (p *Proxy) Limit(op string, perSecond int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if perSecond <= 0 {
		delete(p.limit, op)
		return
	}
	p.limit[op] = &window{perSecond: perSecond, slots: map[string]*slot{}}
}

// Count returns how many calls of op reached the proxy, those answered
// with a fault included (an SDK call retried three times counts three).
func (p *Proxy) Count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, v := range p.count {
		if k == op || short(k) == op {
			n += v
		}
	}
	return n
}

// Counts returns a copy of every operation's count, by full name.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.count))
	for k, v := range p.count {
		out[k] = v
	}
	return out
}

// Reset forgets counts, pending faults and delays, and quotas.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.count, p.limit, p.log = map[string][]rule{}, map[string]int{}, map[string]*window{}, nil
}

// Log returns the calls of query-protocol operations (IAM, STS, SNS, EC2)
// that reached the proxy, in order, those answered with a fault included:
// a test reads from it the order of calls to different resources.
func (p *Proxy) Log() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.log...)
}

// serve answers one call.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	// Reading the whole body first also lets the server notice a client
	// that hangs up during a delay (it watches the connection only once
	// the body has been read).
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, fmt.Sprintf("faultproxy: read request: %v", err), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	op, query := operation(r, body)
	if query {
		form, _ := url.ParseQuery(string(body))
		p.mu.Lock()
		p.log = append(p.log, Call{Op: op, Form: form})
		p.mu.Unlock()
	}
	if query && op == "Publish" && publishTooLarge(body) {
		p.mu.Lock()
		p.count[op]++
		p.mu.Unlock()
		writeError(w, "InvalidParameter", http.StatusBadRequest, "Invalid parameter: Message too long", true)
		return
	}
	rl, inject := p.next(op, scope(r))
	if !inject {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch rl.fault {
	case Pass: // next returns a Pass only with InjectDelay's delay
		t := time.NewTimer(rl.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client gave up: the call never reaches the server
		}
		p.rp.ServeHTTP(w, r)
	case LostReply:
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "faultproxy: reply lost", http.StatusGatewayTimeout)
	default:
		writeFault(w, rl.fault, query, query && signedService(r) == "ec2")
	}
}

// credential is the SigV4 credential scope of a signed request, split:
// AKID, DATE, REGION, SERVICE, aws4_request (nil when unsigned).
func credential(r *http.Request) []string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return nil
	}
	cred, _, _ = strings.Cut(cred, ",")
	return strings.Split(cred, "/")
}

// scope is the caller and Region of a signed request: the access key id
// and the Region of the SigV4 credential scope.
func scope(r *http.Request) string {
	parts := credential(r)
	if len(parts) < 3 {
		return strings.Join(parts, "/")
	}
	return parts[0] + "/" + parts[2]
}

// signedService is the service of a signed request's SigV4 credential
// scope ("ec2").
func signedService(r *http.Request) string {
	if parts := credential(r); len(parts) > 3 {
		return parts[3]
	}
	return ""
}

// next counts a call of op from scope (the caller and Region) and returns
// the fault to answer it with, if any.
func (p *Proxy) next(op, scope string) (rule, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count[op]++
	for _, k := range []string{op, short(op)} {
		if q := p.rules[k]; len(q) > 0 {
			p.rules[k] = q[1:]
			r := q[0]
			if r.fault == Pass && r.delay <= 0 {
				return rule{}, false
			}
			return r, true
		}
	}
	for _, k := range []string{op, short(op)} {
		w := p.limit[k]
		if w == nil {
			continue
		}
		sl := w.slots[scope]
		if sl == nil {
			sl = &slot{}
			w.slots[scope] = sl
		}
		now := time.Now()
		if now.Sub(sl.start) >= time.Second {
			sl.start, sl.n = now, 0
		}
		sl.n++
		if sl.n > w.perSecond {
			return rule{fault: Throttling}, true
		}
		break
	}
	return rule{}, false
}

// short is the operation name of a JSON target ("UpdateIPSet" of
// "AWSWAF_20190729.UpdateIPSet"); other names are their own short name.
func short(op string) string {
	if strings.Contains(op, " ") {
		return op
	}
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		return op[i+1:]
	}
	return op
}

// operation names the AWS operation of r, whose body is body, and reports
// whether r uses the query protocol (IAM, SNS, STS) rather than JSON.
func operation(r *http.Request, body []byte) (string, bool) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t, false
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return v.Get("Action"), true
		}
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a, true
	}
	return r.Method + " " + r.URL.Path, false
}

// MaxSNSMessage is SNS's limit on a published message: "at most 256 KB in
// size (262,144 bytes, not 262,144 characters)" (SNS API Reference,
// Publish). moto checks the length in characters, so it accepts a message
// of multi-byte characters that SNS refuses; the proxy refuses every
// Publish whose message is longer in bytes, with SNS's answer.
const MaxSNSMessage = 262144

// publishTooLarge reports whether a Publish call's form body carries a
// message over MaxSNSMessage bytes.
func publishTooLarge(body []byte) bool {
	if len(body) <= MaxSNSMessage {
		return false
	}
	v, err := url.ParseQuery(string(body))
	return err == nil && len(v.Get("Message")) > MaxSNSMessage
}

// faultRequestID is the request id of the proxy's answers.
const faultRequestID = "00000000-0000-0000-0000-00000000fa17"

// writeFault answers f in the shape of the protocol: EC2's query protocol
// (ec2) has codes and an error document of its own.
func writeFault(w http.ResponseWriter, f Fault, query, ec2 bool) {
	code, status, msg := "ThrottlingException", http.StatusBadRequest, "Rate exceeded"
	switch f {
	case Throttling:
		if query {
			code = "Throttling"
		}
		if ec2 {
			code = "RequestLimitExceeded"
		}
	case ServerError:
		code, status, msg = "InternalFailure", http.StatusInternalServerError, "injected server error"
	case Unavailable:
		code, status, msg = "ServiceUnavailable", http.StatusServiceUnavailable, "injected unavailability"
	case StaleLock:
		code, msg = "WAFOptimisticLockException", "AWS WAF couldn't save your changes because someone changed the resource after you started to edit it. Reapply your changes."
	case AccessDenied:
		code, status, msg = "AccessDeniedException", http.StatusForbidden, "injected: not authorized to perform this operation"
		if query {
			code = "AccessDenied"
		}
		if ec2 {
			code = "UnauthorizedOperation"
		}
	}
	if ec2 {
		writeEC2Error(w, code, status, msg)
		return
	}
	writeError(w, code, status, msg, query)
}

// writeEC2Error answers an AWS error as EC2 does, which the SDK's ec2query
// decoder reads (Response/Errors/Error).
func writeEC2Error(w http.ResponseWriter, code string, status int, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
		code, msg, faultRequestID)
}

// writeError answers an AWS error in the shape of the protocol.
func writeError(w http.ResponseWriter, code string, status int, msg string, query bool) {
	w.Header().Set("X-Amzn-RequestId", faultRequestID)
	if query {
		typ := "Sender"
		if status >= 500 {
			typ = "Receiver"
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			typ, code, msg, faultRequestID)
		return
	}
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	// DynamoDB's clients check every answer's CRC32, as AWS sends it.
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
