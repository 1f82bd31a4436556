// Package faultproxy is an HTTP proxy for tests that stands in front of the
// moto server and makes it behave like real AWS where moto does not: it
// injects throttling, server errors, delays and WAF lock-token conflicts into
// chosen operations, enforces per-operation rate quotas, and counts every
// call so tests can prove how many were made.
package faultproxy

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is an answer the proxy gives instead of forwarding a call.
type Fault int

// Faults.
const (
	// Throttling answers HTTP 400 with the protocol's throttling error,
	// which the SDK's standard retryer retries.
	Throttling Fault = iota
	// ServerError answers HTTP 500 (retried by the SDK).
	ServerError
	// Unavailable answers HTTP 503 (retried by the SDK).
	Unavailable
	// StaleLock answers WAFOptimisticLockException, as WAF does when the
	// lock token is stale (the SDK does not retry it).
	StaleLock
	// Delay holds the call for the proxy's delay, then forwards it: with a
	// client timeout below the delay, a timeout.
	Delay
)

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	rules map[string][]Fault
	count map[string]int
	limit map[string]*window
	delay time.Duration
}

// window counts calls within the current second, for a quota.
type window struct {
	perSecond int
	start     time.Time
	n         int
}

// New starts a proxy that forwards to target (the moto server's URL).
func New(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil {
		panic(fmt.Sprintf("faultproxy: target %q: %v", target, err))
	}
	p := &Proxy{rules: map[string][]Fault{}, count: map[string]int{}, limit: map[string]*window{}, delay: 2 * time.Second}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, query := operation(r)
		fault, inject := p.next(op)
		if inject {
			if fault == Delay {
				time.Sleep(p.delay)
			} else {
				writeFault(w, fault, query)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	return p
}

// URL is the proxy's endpoint, to use as the SDK's BaseEndpoint.
func (p *Proxy) URL() string { return p.srv.URL }

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// Inject makes the next times calls of op (see Count for names) answer fault.
func (p *Proxy) Inject(op string, fault Fault, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range times {
		p.rules[op] = append(p.rules[op], fault)
	}
}

// SetDelay sets how long a Delay fault holds a call.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Limit enforces a quota of perSecond calls of op per wall-clock second;
// calls past it answer Throttling, as AWS's fixed API quotas do (WAF: one
// UpdateIPSet per second per account and Region).
func (p *Proxy) Limit(op string, perSecond int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit[op] = &window{perSecond: perSecond}
}

// Count returns how many calls of op reached the proxy, faults included.
// op is the X-Amz-Target of JSON-protocol services
// ("AWSWAF_20190729.UpdateIPSet") or the Action of query-protocol services
// ("UpdateAccessKey").
func (p *Proxy) Count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[op]
}

// Counts returns a copy of every operation's count.
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.count))
	for k, v := range p.count {
		out[k] = v
	}
	return out
}

// Reset forgets counts, pending faults and quotas.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.count, p.limit = map[string][]Fault{}, map[string]int{}, map[string]*window{}
}

// next counts a call of op and returns the fault to answer it with, if any.
func (p *Proxy) next(op string) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count[op]++
	if q := p.rules[op]; len(q) > 0 {
		p.rules[op] = q[1:]
		return q[0], true
	}
	if w := p.limit[op]; w != nil {
		now := time.Now()
		if now.Sub(w.start) >= time.Second {
			w.start, w.n = now, 0
		}
		w.n++
		if w.n > w.perSecond {
			return Throttling, true
		}
	}
	return 0, false
}

// operation names the AWS operation of r, and whether r uses the query
// protocol (IAM, SNS, STS, SQS's older form) rather than JSON.
func operation(r *http.Request) (string, bool) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t, false
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return v.Get("Action"), true
		}
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a, true
	}
	return r.Method + " " + r.URL.Path, false
}

func writeFault(w http.ResponseWriter, f Fault, query bool) {
	code, status, msg := "ThrottlingException", http.StatusBadRequest, "Rate exceeded"
	switch f {
	case Throttling:
		if query {
			code = "Throttling"
		}
	case ServerError:
		code, status, msg = "InternalFailure", http.StatusInternalServerError, "injected server error"
	case Unavailable:
		code, status, msg = "ServiceUnavailable", http.StatusServiceUnavailable, "injected unavailability"
	case StaleLock:
		code, msg = "WAFOptimisticLockException", "AWS WAF couldn’t save your changes because someone changed the resource after you started to edit it. Reapply your changes."
	}
	if query {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>faultproxy</RequestId></ErrorResponse>`,
			map[bool]string{true: "Receiver", false: "Sender"}[status >= 500], code, msg)
		return
	}
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, code, strings.ReplaceAll(msg, `"`, `'`))
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	// DynamoDB's clients check every answer's CRC32, as AWS sends it.
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	w.WriteHeader(status)
	io.WriteString(w, body)
}
