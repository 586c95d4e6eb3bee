// `node credentials-v2.cjs chain [prove]`: resolves AWS credentials with the AWS SDK for
// JavaScript v2 (npm `aws-sdk`) and prints one JSON line on stdout:
// {"sdk":"js-v2","version":…,"provider":CLASS,"access_key_id":…,"secret_sha256":…,"token_sha256":…,"expiration":UNIX}.
// The secret key and session token appear only as SHA-256 hex digests; CLASS is the class of
// the provider the chain settled on (ECSCredentials, ProcessCredentials, EC2MetadataCredentials…).
//
// * chain: `AWS.config.getCredentials()`, the default provider chain every v2 client uses
//   (`AWS.CredentialProviderChain.defaultProviders`). v2 reads ~/.aws/config (and so a
//   profile's credential_process) only with AWS_SDK_LOAD_CONFIG=1.
//
// Without `prove`, no AWS service is called. With `prove`, the resolved credentials sign
// `new AWS.STS({endpoint}).getCallerIdentity()` at the endpoint AWS_ENDPOINT_URL_STS names
// (v2 does not read that variable itself), which must be a loopback http(s) URL: this program
// never calls real AWS. The JSON then gains "caller":{"arn":…,"account":…,"user_id":…}.
//
// The SDK is loaded from NEEDROLESHERE_NODE_MODULES (default: build/node/node_modules of
// this repository, where scripts/test.sh runs `npm ci` with this directory's lock file).
// Errors go to stderr with exit status 1 (2 for a bad command line); when the chain finds
// nothing, each provider's own reason follows.
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const { createRequire } = require("node:module");

// v2 prints an end-of-support notice on load; it is not what the tests read.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = "1";

const modules =
  process.env.NEEDROLESHERE_NODE_MODULES ||
  path.join(__dirname, "..", "..", "..", "build", "node", "node_modules");
const load = createRequire(path.join(modules, "..", "package.json"));
const AWS = load("aws-sdk");

const mode = process.argv[2];
const extra = process.argv.slice(3);

function sha256(text) {
  return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

// AWS_ENDPOINT_URL_STS, which must point at this machine's loopback.
function stsEndpoint() {
  const url = process.env.AWS_ENDPOINT_URL_STS || "";
  let host = "";
  try {
    host = new URL(url).hostname;
  } catch (_) {
    // reported below
  }
  if (!(host === "localhost" || host.startsWith("127.") || host === "[::1]")) {
    throw new Error(`AWS_ENDPOINT_URL_STS must be a loopback URL, not ${JSON.stringify(url)}`);
  }
  return url;
}

function getCredentials() {
  return new Promise((resolve, reject) => {
    AWS.config.getCredentials((error) => (error ? reject(error) : resolve(AWS.config.credentials)));
  });
}

// The chain reports only that every provider failed; ask each one again, alone, why it did.
async function diagnose() {
  let text = "js-v2: what each provider of the default chain says:\n";
  for (const make of AWS.CredentialProviderChain.defaultProviders) {
    let provider;
    try {
      provider = make();
    } catch (error) {
      text += `  (constructor failed): ${error && error.message}\n`;
      continue;
    }
    const error = await new Promise((resolve) => provider.get((e) => resolve(e)));
    let reason = "ok";
    if (error) {
      const parts = [];
      if (error.message) parts.push(error.message);
      if (error.statusCode) parts.push(`(HTTP ${error.statusCode})`);
      reason = parts.join(" ") || String(error.code || "failed");
    }
    text += `  ${provider.constructor.name}: ${reason}\n`;
  }
  return text;
}

async function main() {
  const proving = extra.length === 1 && extra[0] === "prove";
  if (mode !== "chain" || !(extra.length === 0 || proving)) {
    process.stderr.write("usage: node credentials-v2.cjs chain [prove]\n");
    return 2;
  }
  let credentials;
  try {
    credentials = await getCredentials();
  } catch (error) {
    process.stderr.write(`js-v2 ${mode}: no credentials: ${error && error.message}\n`);
    process.stderr.write(await diagnose());
    return 1;
  }
  const result = {
    sdk: "js-v2",
    version: AWS.VERSION,
    provider: credentials.constructor.name,
    access_key_id: credentials.accessKeyId,
    secret_sha256: sha256(credentials.secretAccessKey),
    token_sha256: credentials.sessionToken ? sha256(credentials.sessionToken) : null,
    expiration: credentials.expireTime
      ? Math.floor(credentials.expireTime.getTime() / 1000)
      : null,
  };
  if (proving) {
    try {
      const sts = new AWS.STS({
        endpoint: stsEndpoint(),
        region: process.env.AWS_REGION || "us-east-1",
        credentials,
      });
      const answer = await sts.getCallerIdentity({}).promise();
      result.caller = { arn: answer.Arn, account: answer.Account, user_id: answer.UserId };
    } catch (error) {
      process.stderr.write(`js-v2 ${mode}: GetCallerIdentity failed: ${error && error.message}\n`);
      return 1;
    }
  }
  process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`js-v2 ${mode}: ${error && error.stack}\n`);
    process.exit(1);
  },
);
