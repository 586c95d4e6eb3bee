// `node credentials.cjs chain prove`: the AWS Common Runtime's default credential chain
// (npm aws-crt, its aws-c-auth: environment, profile files with `credential_process`, web
// identity, the container endpoint, instance metadata), the providers of the CRT-based
// clients. The CRT for Node.js gives no access to the credentials themselves: a provider is
// only ever used to sign. So the proof is the resolution: the chain signs STS
// GetCallerIdentity (SigV4 with the session token, its own signer) and the request goes to
// AWS_ENDPOINT_URL_STS, which must be a loopback http(s) URL (this program never calls real
// AWS). It prints one JSON line:
// {"sdk":"aws-crt","version":…,"provider":"default chain","access_key_id":…,"caller":{"arn":…,"account":…,"user_id":…}}
// where the access key id is the one the signature names. Nothing secret is printed.
// Errors go to stderr with exit status 1 (2 for a bad command line). The package is found
// in NEEDROLESHERE_NODE_CRT_MODULES (build/node-crt/node_modules).
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");

function stsEndpoint() {
  const raw = process.env.AWS_ENDPOINT_URL_STS || "";
  let url;
  try {
    url = new URL(raw);
  } catch {
    url = null;
  }
  const host = url ? url.hostname : "";
  if (!url || !["http:", "https:"].includes(url.protocol) || !(host === "localhost" || host.startsWith("127."))) {
    throw new Error(`AWS_ENDPOINT_URL_STS must be a loopback URL, not ${JSON.stringify(raw)}`);
  }
  return url;
}

function textOf(xml, name) {
  const match = xml.match(new RegExp(`<${name}>([^<]*)</${name}>`));
  return match ? match[1] : null;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 2 || args[0] !== "chain" || args[1] !== "prove") {
    process.stderr.write("usage: credentials.cjs chain prove\n");
    return 2;
  }
  const modules = process.env.NEEDROLESHERE_NODE_CRT_MODULES || "";
  const crt = require(path.join(modules, "aws-crt"));
  const version = require(path.join(modules, "aws-crt", "package.json")).version;
  const url = stsEndpoint();
  const body = "Action=GetCallerIdentity&Version=2011-06-15";
  const request = new crt.http.HttpRequest(
    "POST",
    url.pathname || "/",
    new crt.http.HttpHeaders([
      ["host", url.host],
      ["content-type", "application/x-www-form-urlencoded; charset=utf-8"],
      ["content-length", String(Buffer.byteLength(body))],
    ]),
  );
  const provider = crt.auth.AwsCredentialsProvider.newDefault();
  let signed;
  try {
    signed = await crt.auth.aws_sign_request(request, {
      algorithm: crt.auth.AwsSigningAlgorithm.SigV4,
      signature_type: crt.auth.AwsSignatureType.HttpRequestViaHeaders,
      provider,
      region: process.env.AWS_REGION || "us-east-1",
      service: "sts",
      signed_body_value: crypto.createHash("sha256").update(body).digest("hex"),
    });
  } catch (error) {
    process.stderr.write(`aws-crt: no credentials: ${error && error.message ? error.message : error}\n`);
    return 1;
  }
  const headers = {};
  for (const [name, value] of signed.headers) {
    if (name.toLowerCase() !== "host") headers[name] = value;
  }
  const authorization = headers.authorization || headers.Authorization || "";
  const keyId = (authorization.match(/Credential=([^/]+)\//) || [])[1];
  if (!keyId) {
    process.stderr.write("aws-crt: the signed request names no access key id\n");
    return 1;
  }
  const answer = await fetch(url, { method: "POST", headers, body });
  const text = await answer.text();
  if (!answer.ok) {
    process.stderr.write(`aws-crt: GetCallerIdentity failed: HTTP ${answer.status}: ${text}\n`);
    return 1;
  }
  console.log(JSON.stringify({
    sdk: "aws-crt",
    version,
    provider: "default chain",
    access_key_id: keyId,
    caller: { arn: textOf(text, "Arn"), account: textOf(text, "Account"), user_id: textOf(text, "UserId") },
  }));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`aws-crt: ${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
