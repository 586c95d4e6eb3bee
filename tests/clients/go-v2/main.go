// go-v2-client chain prove: resolves AWS credentials the way a Go program using the AWS SDK
// for Go v2 does (config.LoadDefaultConfig, the default chain: environment, shared files with
// credential_process, web identity, the container endpoint, IMDS), then proves them: it signs
// STS GetCallerIdentity with them (service/sts) at the endpoint AWS_ENDPOINT_URL_STS names,
// which must be a loopback http(s) URL (this program never calls real AWS).
//
// It prints one JSON line on stdout:
// {"sdk":"aws-sdk-go-v2","provider":SOURCE,"access_key_id":…,"caller":{"arn":…,"account":…,"user_id":…}}
// No secret is printed. Errors go to stderr with exit status 1 (2 for a bad command line).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type caller struct {
	Arn     string `json:"arn"`
	Account string `json:"account"`
	UserID  string `json:"user_id"`
}

type printed struct {
	SDK         string  `json:"sdk"`
	Provider    string  `json:"provider"`
	AccessKeyID string  `json:"access_key_id"`
	Caller      *caller `json:"caller,omitempty"`
}

func main() {
	if len(os.Args) != 3 || os.Args[1] != "chain" || os.Args[2] != "prove" {
		fmt.Fprintln(os.Stderr, "usage: go-v2-client chain prove")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "go-v2-client chain: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	endpoint, err := stsEndpoint()
	if err != nil {
		return err
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load the default configuration: %w", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("no credentials: %w", err)
	}
	// Sign with exactly the credentials just resolved.
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(
			func(context.Context) (aws.Credentials, error) { return creds, nil }))
	})
	answer, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("GetCallerIdentity failed: %w", err)
	}
	line, err := json.Marshal(printed{
		SDK:         "aws-sdk-go-v2",
		Provider:    creds.Source,
		AccessKeyID: creds.AccessKeyID,
		Caller: &caller{
			Arn:     aws.ToString(answer.Arn),
			Account: aws.ToString(answer.Account),
			UserID:  aws.ToString(answer.UserId),
		},
	})
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}

// stsEndpoint is AWS_ENDPOINT_URL_STS, which must point at this machine's loopback.
func stsEndpoint() (string, error) {
	raw := os.Getenv("AWS_ENDPOINT_URL_STS")
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return strings.TrimSuffix(raw, "/"), nil
		}
	}
	return "", fmt.Errorf("AWS_ENDPOINT_URL_STS must be a loopback URL, not %q", raw)
}
