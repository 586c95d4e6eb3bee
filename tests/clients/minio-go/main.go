// minio-go-client chain prove: resolves AWS credentials the way a program using minio-go v7
// does with the AWS providers of its own credential chain (credentials.NewChainCredentials:
// EnvAWS, FileAWSCredentials, then IAM, which reads the container endpoint variables or asks
// EC2 instance metadata at its default address), then proves them. minio-go has no STS
// client, so the proof signs STS GetCallerIdentity with minio-go's own SigV4 signer
// (pkg/signer.SignV4WithServiceType, service "sts", with the session token) and posts it to
// the endpoint AWS_ENDPOINT_URL_STS names, which must be a loopback http(s) URL (this program
// never calls real AWS).
//
// minio-go ignores AWS_EC2_METADATA_DISABLED: where the environment sets it to "true", the
// IAM provider's HTTP client refuses to connect to instance metadata's address (the test
// harness sets it wherever 169.254.169.254 is not an address of the test's own).
//
// It prints one JSON line on stdout:
// {"sdk":"minio-go","provider":"chain","access_key_id":…,"caller":{"arn":…,"account":…,"user_id":…}}
// No secret is printed. Errors go to stderr with exit status 1 (2 for a bad command line).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
)

type caller struct {
	Arn     string `json:"arn" xml:"GetCallerIdentityResult>Arn"`
	Account string `json:"account" xml:"GetCallerIdentityResult>Account"`
	UserID  string `json:"user_id" xml:"GetCallerIdentityResult>UserId"`
}

type printed struct {
	SDK         string  `json:"sdk"`
	Provider    string  `json:"provider"`
	AccessKeyID string  `json:"access_key_id"`
	Caller      *caller `json:"caller,omitempty"`
}

func main() {
	if len(os.Args) != 3 || os.Args[1] != "chain" || os.Args[2] != "prove" {
		fmt.Fprintln(os.Stderr, "usage: minio-go-client chain prove")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "minio-go-client chain: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	endpoint, err := stsEndpoint()
	if err != nil {
		return err
	}
	chain := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
		&credentials.IAM{Client: &http.Client{Transport: guardedTransport()}},
	})
	value, err := chain.GetWithContext(&credentials.CredContext{Client: http.DefaultClient})
	if err != nil {
		return fmt.Errorf("no credentials: %w", err)
	}
	if value.AccessKeyID == "" {
		// The chain hides why each provider failed; the IAM provider's reason is the useful one.
		_, iamErr := (&credentials.IAM{Client: &http.Client{Transport: guardedTransport()}}).
			RetrieveWithCredContext(&credentials.CredContext{Client: http.DefaultClient})
		return fmt.Errorf("no credentials: the chain gave anonymous ones (IAM provider: %v)", iamErr)
	}
	who, err := getCallerIdentity(endpoint, value)
	if err != nil {
		return fmt.Errorf("GetCallerIdentity failed: %w", err)
	}
	line, err := json.Marshal(printed{
		SDK:         "minio-go",
		Provider:    "chain",
		AccessKeyID: value.AccessKeyID,
		Caller:      who,
	})
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}

// guardedTransport is the default transport, but refusing instance metadata's addresses when
// AWS_EC2_METADATA_DISABLED is "true" (see the comment at the top).
func guardedTransport() http.RoundTripper {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	dialer := &net.Dialer{}
	disabled := strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true")
	transport.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if disabled && (host == "169.254.169.254" || host == "fd00:ec2::254") {
			return nil, fmt.Errorf("refusing %s: AWS_EC2_METADATA_DISABLED=true and minio-go does not honour it", address)
		}
		return dialer.DialContext(ctx, network, address)
	}
	return transport
}

// getCallerIdentity posts GetCallerIdentity to endpoint, signed by minio-go's SigV4 signer.
func getCallerIdentity(endpoint string, value credentials.Value) (*caller, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	req, err := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The signer takes the payload hash from this header and, for service "sts", removes it
	// (STS does not expect it), as minio-go's own STS requests do.
	digest := sha256.Sum256([]byte(body))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(digest[:]))
	req = signer.SignV4WithServiceType(*req, value.AccessKeyID, value.SecretAccessKey,
		value.SessionToken, region, "sts")
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, answer)
	}
	var result struct {
		XMLName xml.Name `xml:"GetCallerIdentityResponse"`
		caller
	}
	if err := xml.Unmarshal(answer, &result); err != nil {
		return nil, fmt.Errorf("unreadable answer: %w", err)
	}
	return &result.caller, nil
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
