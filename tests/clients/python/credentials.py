"""`python credentials.py boto3|awscli`: resolves AWS credentials the way boto3 or the AWS CLI
v1 does, and prints one JSON line on stdout:
{"sdk":…,"version":…,"provider":METHOD,"access_key_id":…,"secret_sha256":…,"token_sha256":…,"expiration":UNIX}.
The secret key and session token appear only as SHA-256 hex digests.

* boto3: `boto3.Session().get_credentials()`, the default chain of every boto3 client.
* awscli: the botocore session the `aws` command itself builds (`awscli.clidriver.
  create_clidriver().session`). AWS CLI v1 ships its own copy of botocore (awscli/botocore,
  which it installs as `botocore` in sys.modules), so this resolves credentials with the
  CLI's code, not boto3's. (AWS CLI v1 has no `aws configure export-credentials`; its
  `aws configure list` shows only the last four characters of the key.)

No AWS service is called. Errors go to stderr with exit status 1 (2 for a bad command line).
"""

import hashlib
import json
import sys


def session_credentials(mode):
    if mode == "boto3":
        import boto3

        return boto3.__version__, boto3.Session().get_credentials()
    if mode == "awscli":
        import awscli
        from awscli.clidriver import create_clidriver

        driver = create_clidriver()
        return awscli.__version__, driver.session.get_credentials()
    return None, None


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("boto3", "awscli"):
        sys.stderr.write("usage: credentials.py boto3|awscli\n")
        return 2
    try:
        version, credentials = session_credentials(mode)
        if credentials is None:
            sys.stderr.write(f"{mode}: no credentials found\n")
            return 1
        frozen = credentials.get_frozen_credentials()
    except Exception as error:  # the SDK's own error classes differ between the two
        sys.stderr.write(f"{mode}: no credentials: {type(error).__name__}: {error}\n")
        return 1
    expiry = getattr(credentials, "_expiry_time", None)
    print(
        json.dumps(
            {
                "sdk": mode,
                "version": version,
                "provider": credentials.method,
                "access_key_id": frozen.access_key,
                "secret_sha256": sha256(frozen.secret_key),
                "token_sha256": sha256(frozen.token) if frozen.token else None,
                "expiration": int(expiry.timestamp()) if expiry else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
