"""`python credentials.py boto3|awscli|awscli-v2 [prove]`: resolves AWS credentials the way boto3,
the AWS CLI v1 or the AWS CLI v2 does, and prints one JSON line on stdout:
{"sdk":…,"version":…,"provider":METHOD,"access_key_id":…,"secret_sha256":…,"token_sha256":…,"expiration":UNIX}.
The secret key and session token appear only as SHA-256 hex digests.

* boto3: `boto3.Session().get_credentials()`, the default chain of every boto3 client.
* awscli: the botocore session the `aws` command itself builds (`awscli.clidriver.
  create_clidriver().session`). AWS CLI v1 ships its own copy of botocore (awscli/botocore,
  which it installs as `botocore` in sys.modules), so this resolves credentials with the
  CLI's code, not boto3's. (AWS CLI v1 has no `aws configure export-credentials`; its
  `aws configure list` shows only the last four characters of the key.)
* awscli-v2: the same for the AWS CLI v2 as Debian packages it (run with /usr/bin/python3,
  where its `awscli` package and bundled botocore live).

Without `prove`, no AWS service is called. With `prove`, the credentials just resolved are
used for STS GetCallerIdentity at the endpoint AWS_ENDPOINT_URL_STS names (which must be a
loopback http(s) URL: this program never calls real AWS), and the JSON gains
"caller":{"arn":…,"account":…,"user_id":…}:

* boto3: `session.client("sts", endpoint_url=…).get_caller_identity()` on the same session;
* awscli: the CLI's own `aws sts get-caller-identity --output json --endpoint-url …`, run by
  the same driver (`driver.main([...])`, what the `aws` script runs), its output captured.
* awscli-v2: the same without `--endpoint-url`, as a user would run it: the AWS CLI v2 2.9
  ignores AWS_ENDPOINT_URL_*, so it calls https://sts.REGION.amazonaws.com, which
  HTTPS_PROXY (required to be a loopback URL here) tunnels to the test double, whose
  certificate AWS_CA_BUNDLE trusts.

Errors go to stderr with exit status 1 (2 for a bad command line).
"""

import contextlib
import hashlib
import io
import json
import os
import sys
import urllib.parse


def session_credentials(mode):
    if mode == "boto3":
        import boto3

        session = boto3.Session()
        return boto3.__version__, session, session.get_credentials()
    if mode in ("awscli", "awscli-v2"):
        import awscli
        from awscli.clidriver import create_clidriver

        driver = create_clidriver()
        return awscli.__version__, driver, driver.session.get_credentials()
    return None, None, None


def sts_endpoint():
    """AWS_ENDPOINT_URL_STS, which must point at this machine's loopback."""
    url = os.environ.get("AWS_ENDPOINT_URL_STS", "")
    host = urllib.parse.urlsplit(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise ValueError(f"AWS_ENDPOINT_URL_STS must be a loopback URL, not {url!r}")
    return url


def loopback_proxy():
    """HTTPS_PROXY, which must point at this machine's loopback."""
    url = os.environ.get("HTTPS_PROXY", "")
    host = urllib.parse.urlsplit(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise ValueError(f"HTTPS_PROXY must be a loopback URL, not {url!r}")
    return url


def prove(mode, handle):
    """GetCallerIdentity with the credentials the session resolved."""
    if mode == "boto3":
        answer = handle.client("sts", endpoint_url=sts_endpoint()).get_caller_identity()
    else:
        args = ["sts", "get-caller-identity", "--output", "json"]
        if mode == "awscli":
            args += ["--endpoint-url", sts_endpoint()]
        else:
            loopback_proxy()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = handle.main(args)
        if status != 0:
            raise RuntimeError(f"aws sts get-caller-identity exited {status}")
        answer = json.loads(out.getvalue())
    return {
        "arn": answer["Arn"],
        "account": answer["Account"],
        "user_id": answer["UserId"],
    }


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    extra = sys.argv[2:]
    if mode not in ("boto3", "awscli", "awscli-v2") or extra not in ([], ["prove"]):
        sys.stderr.write("usage: credentials.py boto3|awscli|awscli-v2 [prove]\n")
        return 2
    try:
        version, handle, credentials = session_credentials(mode)
        if credentials is None:
            sys.stderr.write(f"{mode}: no credentials found\n")
            return 1
        frozen = credentials.get_frozen_credentials()
    except Exception as error:  # the SDK's own error classes differ between the two
        sys.stderr.write(f"{mode}: no credentials: {type(error).__name__}: {error}\n")
        return 1
    expiry = getattr(credentials, "_expiry_time", None)
    result = {
        "sdk": mode,
        "version": version,
        "provider": credentials.method,
        "access_key_id": frozen.access_key,
        "secret_sha256": sha256(frozen.secret_key),
        "token_sha256": sha256(frozen.token) if frozen.token else None,
        "expiration": int(expiry.timestamp()) if expiry else None,
    }
    if extra == ["prove"]:
        try:
            result["caller"] = prove(mode, handle)
        except Exception as error:
            sys.stderr.write(
                f"{mode}: GetCallerIdentity failed: {type(error).__name__}: {error}\n"
            )
            return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
