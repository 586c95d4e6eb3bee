"""`python3 crt.py chain [prove]`: resolves AWS credentials with the AWS Common Runtime's
default provider chain (aws-c-auth, through Debian's python3-awscrt:
`AwsCredentialsProvider.new_default_chain()`: environment, profile — `credential_process`
included —, the container endpoint, instance metadata), the credential providers the AWS
CLI v2, the Java and the C++ SDKs' CRT clients use. Prints one JSON line on stdout:
{"sdk":"awscrt","version":…,"provider":…,"access_key_id":…,"secret_sha256":…,"token_sha256":…}.
The secret key and session token appear only as SHA-256 hex digests.

Run with Debian's /usr/bin/python3, where python3-awscrt lives.

With `prove`, the credentials just resolved sign STS GetCallerIdentity with the CRT's own
SigV4 signer (`aws_sign_request`, session token included), sent to AWS_ENDPOINT_URL_STS,
which must be a loopback http(s) URL: this program never calls real AWS. The JSON then gains
"caller":{"arn":…,"account":…,"user_id":…}.

Errors go to stderr with exit status 1 (2 for a bad command line).
"""

import hashlib
import json
import os
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

# How long resolution may take; the test gives the whole run 30 s.
TIMEOUT = 20
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sts_endpoint():
    """AWS_ENDPOINT_URL_STS, which must point at this machine's loopback."""
    url = os.environ.get("AWS_ENDPOINT_URL_STS", "")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not (
        host == "localhost" or host.startswith("127.") or host == "::1"
    ):
        raise ValueError(f"AWS_ENDPOINT_URL_STS must be a loopback URL, not {url!r}")
    return url.rstrip("/") + "/"


def prove(credentials):
    """GetCallerIdentity signed by the CRT's signer with `credentials`."""
    from awscrt.auth import (
        AwsCredentialsProvider,
        AwsSignatureType,
        AwsSigningAlgorithm,
        AwsSigningConfig,
        aws_sign_request,
    )
    from awscrt.http import HttpHeaders, HttpRequest

    url = sts_endpoint()
    parts = urllib.parse.urlsplit(url)
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    request = HttpRequest(
        method="POST",
        path=parts.path or "/",
        headers=HttpHeaders(
            [
                ("Host", parts.netloc),
                ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ]
        ),
    )
    config = AwsSigningConfig(
        algorithm=AwsSigningAlgorithm.V4,
        signature_type=AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=AwsCredentialsProvider.new_static(
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token,
        ),
        region=os.environ.get("AWS_REGION", "us-east-1"),
        service="sts",
    )
    # The body's hash is part of the signature: the signer reads it from the stream.
    import io

    request.body_stream = io.BytesIO(body)
    aws_sign_request(request, config).result(TIMEOUT)
    headers = {name: value for name, value in request.headers}
    headers.pop("Host", None)
    answer = urllib.request.urlopen(
        urllib.request.Request(url, data=body, headers=headers, method="POST"),
        timeout=TIMEOUT,
    )
    root = ElementTree.fromstring(answer.read())
    result = root.find(f"{STS_NS}GetCallerIdentityResult")
    if result is None:
        raise RuntimeError("GetCallerIdentity answered no GetCallerIdentityResult")
    return {
        "arn": result.findtext(f"{STS_NS}Arn"),
        "account": result.findtext(f"{STS_NS}Account"),
        "user_id": result.findtext(f"{STS_NS}UserId"),
    }


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    extra = sys.argv[2:]
    if mode != "chain" or extra not in ([], ["prove"]):
        sys.stderr.write("usage: crt.py chain [prove]\n")
        return 2
    try:
        from awscrt.auth import AwsCredentialsProvider

        provider = AwsCredentialsProvider.new_default_chain()
        credentials = provider.get_credentials().result(TIMEOUT)
    except Exception as error:
        sys.stderr.write(f"awscrt: no credentials: {type(error).__name__}: {error}\n")
        return 1
    result = {
        "sdk": "awscrt",
        "version": crt_version(),
        "provider": "default chain",
        "access_key_id": credentials.access_key_id,
        "secret_sha256": sha256(credentials.secret_access_key),
        "token_sha256": sha256(credentials.session_token)
        if credentials.session_token
        else None,
    }
    if extra == ["prove"]:
        try:
            result["caller"] = prove(credentials)
        except Exception as error:
            sys.stderr.write(
                f"awscrt: GetCallerIdentity failed: {type(error).__name__}: {error}\n"
            )
            return 1
    print(json.dumps(result))
    return 0


def crt_version():
    """The Debian package's version: the module says only 1.0.0.dev0."""
    try:
        with open("/usr/share/doc/python3-awscrt/changelog.Debian.gz", "rb") as f:
            import gzip

            first = gzip.decompress(f.read()).decode("utf-8").split("\n", 1)[0]
        return first.split("(", 1)[1].split(")", 1)[0]
    except (OSError, IndexError):
        return None


if __name__ == "__main__":
    sys.exit(main())
