package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// maxBootstrapSize is the budget for the deployed binary: a smaller zip
// uploads faster and starts no slower. Organization mode's Organizations
// client (membership, organizations:DescribeAccount) costs 0.6 MB: 12.45 MB
// before it, 13.04 MB with it. Status, chat notifications and Security
// Hub input took it to 13.44 MB, and isolate-instance's EC2 client to
// 14.42 MB (13.75 MiB; BenchmarkBootstrapSize).
const maxBootstrapSize = 14 << 20

// buildBootstrap builds the function into out with the Makefile's
// BUILD_FLAGS, statically linked, with env added (GOOS, GOARCH).
func buildBootstrap(out string, env ...string) error {
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	return nil
}

// buildDeployed builds the binary exactly as deployed: linux/arm64,
// provided.al2023, Makefile BUILD_FLAGS.
func buildDeployed(tb testing.TB) int64 {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "bootstrap")
	if err := buildBootstrap(out, "GOOS=linux", "GOARCH=arm64"); err != nil {
		tb.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

func TestBootstrapSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the deployed binary")
	}
	if size := buildDeployed(t); size > maxBootstrapSize {
		t.Errorf("bootstrap is %d bytes, over the %d budget", size, maxBootstrapSize)
	}
}

// BenchmarkBootstrapSize reports the deployed binary's size (bytes/op is
// not meaningful here; read the "bytes" metric).
func BenchmarkBootstrapSize(b *testing.B) {
	size := buildDeployed(b)
	for b.Loop() {
	}
	b.ReportMetric(float64(size), "bytes")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}
