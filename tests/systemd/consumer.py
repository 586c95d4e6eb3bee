# A consuming service of tests/systemd/run.sh: boto3's default credential chain, with
# nothing but what systemd gave the service (EnvironmentFile=, Environment=, LoadCredential=),
# proven against the fake STS with GetCallerIdentity (which checks the SigV4 signature made
# with the secret and session token it got). Prints "method=PROVIDER arn=ARN"; argv[1] is the
# provider expected. With argv[2] "stay" it then waits to be stopped, so that the scenario
# can look at the running process.
import os
import signal
import sys

import boto3

session = boto3.Session(region_name="us-east-1")
credentials = session.get_credentials()
if credentials is None:
    sys.exit("boto3 found no credentials")
if credentials.method != sys.argv[1]:
    sys.exit(f"credentials came from {credentials.method}, not {sys.argv[1]}")
sts = session.client("sts", endpoint_url=os.environ["STS_ENDPOINT"])
identity = sts.get_caller_identity()
print(f"method={credentials.method} arn={identity['Arn']}", flush=True)
if sys.argv[2:] == ["stay"]:
    signal.pause()
