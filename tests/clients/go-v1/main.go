// go-v1-client chain prove: resolves AWS credentials the way a Go program using the AWS SDK
// for Go v1 does (session.NewSessionWithOptions with SharedConfigEnable, the default chain:
// environment, shared files with credential_process, web identity, then the container
// endpoint or EC2 instance metadata), then proves them: it signs STS GetCallerIdentity with
// them at the endpoint AWS_ENDPOINT_URL_STS names, which must be a loopback http(s) URL (this
// program never calls real AWS; SDK v1 itself does not read AWS_ENDPOINT_URL_*).
//
// It prints one JSON line on stdout:
// {"sdk":"aws-sdk-go","provider":PROVIDER,"access_key_id":…,"caller":{"arn":…,"account":…,"user_id":…}}
// No secret is printed. Errors go to stderr with exit status 1 (2 for a bad command line).
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/sts"
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
		fmt.Fprintln(os.Stderr, "usage: go-v1-client chain prove")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "go-v1-client chain: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	endpoint, err := stsEndpoint()
	if err != nil {
		return err
	}
	sess, err := session.NewSessionWithOptions(session.Options{
		SharedConfigState: session.SharedConfigEnable,
	})
	if err != nil {
		return fmt.Errorf("new session: %w", err)
	}
	creds, err := sess.Config.Credentials.Get()
	if err != nil {
		return fmt.Errorf("no credentials: %w", err)
	}
	// Sign with exactly the credentials just resolved.
	client := sts.New(sess, &aws.Config{
		Endpoint:    aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsFromCreds(creds),
	})
	answer, err := client.GetCallerIdentity(&sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("GetCallerIdentity failed: %w", err)
	}
	line, err := json.Marshal(printed{
		SDK:         "aws-sdk-go",
		Provider:    creds.ProviderName,
		AccessKeyID: creds.AccessKeyID,
		Caller: &caller{
			Arn:     aws.StringValue(answer.Arn),
			Account: aws.StringValue(answer.Account),
			UserID:  aws.StringValue(answer.UserId),
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
