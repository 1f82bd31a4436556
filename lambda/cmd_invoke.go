package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// runInvoke sends an event to the deployed function and prints its answer.
func runInvoke(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	function := fs.String("function", "", "`NAME` or ARN of the deployed autocontain function (required)")
	region := fs.String("region", "", "`REGION` of the function (default: the configured region)")
	const want = "name the function with -function and exactly one event file"
	if err := parseArgs(fs, args, 1, 1, want); err != nil {
		return err
	}
	if *function == "" {
		fs.Usage()
		return usagef(want)
	}
	// Refuse what the function would refuse, before the round trip.
	events, err := readEvents(fs.Args())
	if err != nil {
		return err
	}
	return invokeFunction(ctx, *function, *region, events[0], stdout)
}

// invoker is the part of the Lambda API that invoke needs.
type invoker interface {
	Invoke(ctx context.Context, in *lambdasvc.InvokeInput, opts ...func(*lambdasvc.Options)) (*lambdasvc.InvokeOutput, error)
}

var _ invoker = (*lambdasvc.Client)(nil)

// invokeFunction invokes function, in region if not empty, with the
// default credential chain, and prints its answer.
func invokeFunction(ctx context.Context, function, region string, event []byte, stdout io.Writer) error {
	out, err := callFunction(ctx, function, region, event)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out.Payload, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out.Payload)
	}
	fmt.Fprintln(stdout, pretty.String())
	if out.FunctionError != nil {
		return fmt.Errorf("function %s returned an error (%s)", function, aws.ToString(out.FunctionError))
	}
	return nil
}

// callFunction invokes function, in region if not empty, with the default
// credential chain, and returns its answer.
func callFunction(ctx context.Context, function, region string, event []byte) (*lambdasvc.InvokeOutput, error) {
	cfg, err := loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if region != "" {
		cfg.Region = region
	}
	return invoke(ctx, lambdasvc.NewFromConfig(cfg), function, event)
}

// invoke runs the function synchronously and returns its answer.
func invoke(ctx context.Context, api invoker, function string, event []byte) (*lambdasvc.InvokeOutput, error) {
	out, err := api.Invoke(ctx, &lambdasvc.InvokeInput{
		FunctionName:   aws.String(function),
		InvocationType: lambdatypes.InvocationTypeRequestResponse,
		Payload:        event,
	})
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", function, err)
	}
	return out, nil
}
