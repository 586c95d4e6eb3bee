// `node credentials.cjs MODE [prove]`: resolves AWS credentials with the AWS SDK for
// JavaScript v3 and prints one JSON line on stdout:
// {"sdk":"js-v3","provider":MODE,"access_key_id":…,"secret_sha256":…,"token_sha256":…,"expiration":UNIX}.
// The secret key and session token appear only as SHA-256 hex digests.
//
// MODE is the credential provider of `@aws-sdk/credential-providers`:
// * instance-metadata: `fromInstanceMetadata()` (IMDS; honours
//   AWS_EC2_METADATA_SERVICE_ENDPOINT and AWS_EC2_METADATA_V1_DISABLED).
// * chain: `fromNodeProviderChain()`, the default chain of every v3 client.
// * http: `fromHttp()`, the container provider for AWS_CONTAINER_CREDENTIALS_FULL_URI and
//   _RELATIVE_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN or _TOKEN_FILE (what the default
//   chain uses for containers).
// * container-metadata: `fromContainerMetadata()`, the older container provider.
// * process: `fromProcess()`, the `credential_process` of the profile AWS_PROFILE names.
//
// Without `prove`, no AWS service is called. With `prove`, the credentials just resolved sign
// STS GetCallerIdentity (`@aws-sdk/client-sts`) at the endpoint AWS_ENDPOINT_URL_STS names,
// which must be a loopback http(s) URL (this program never calls real AWS), and the JSON
// gains "caller":{"arn":…,"account":…,"user_id":…}.
//
// The SDK is loaded from NEEDROLESHERE_NODE_MODULES (default: build/node/node_modules of
// this repository, where scripts/test.sh runs `npm ci` with this directory's lock file).
// Errors go to stderr with exit status 1 (2 for a bad command line).
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const { createRequire } = require("node:module");

const modules =
  process.env.NEEDROLESHERE_NODE_MODULES ||
  path.join(__dirname, "..", "..", "..", "build", "node", "node_modules");
const load = createRequire(path.join(modules, "..", "package.json"));
const providers = load("@aws-sdk/credential-providers");

const mode = process.argv[2];
const extra = process.argv.slice(3);
const factories = {
  "instance-metadata": () => providers.fromInstanceMetadata(),
  chain: () => providers.fromNodeProviderChain(),
  http: () => providers.fromHttp({}),
  "container-metadata": () => providers.fromContainerMetadata(),
  process: () => providers.fromProcess(),
};

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

async function prove(credentials) {
  const { STSClient, GetCallerIdentityCommand } = load("@aws-sdk/client-sts");
  const client = new STSClient({
    region: process.env.AWS_REGION || "us-east-1",
    endpoint: stsEndpoint(),
    credentials,
  });
  const answer = await client.send(new GetCallerIdentityCommand({}));
  return { arn: answer.Arn, account: answer.Account, user_id: answer.UserId };
}

async function main() {
  const factory = factories[mode];
  const proving = extra.length === 1 && extra[0] === "prove";
  if (!factory || !(extra.length === 0 || proving)) {
    process.stderr.write(`usage: node credentials.cjs ${Object.keys(factories).join("|")} [prove]\n`);
    return 2;
  }
  let credentials;
  try {
    credentials = await factory()();
  } catch (error) {
    // The HTTP status, when the provider kept it, says which side refused.
    const status = error && error.statusCode ? ` (HTTP ${error.statusCode})` : "";
    process.stderr.write(`js-v3 ${mode}: no credentials: ${error && error.message}${status}\n`);
    return 1;
  }
  const version = load("@aws-sdk/credential-providers/package.json").version;
  const result = {
    sdk: "js-v3",
    version,
    provider: mode,
    access_key_id: credentials.accessKeyId,
    secret_sha256: sha256(credentials.secretAccessKey),
    token_sha256: credentials.sessionToken ? sha256(credentials.sessionToken) : null,
    expiration: credentials.expiration
      ? Math.floor(credentials.expiration.getTime() / 1000)
      : null,
  };
  if (proving) {
    try {
      result.caller = await prove({
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        sessionToken: credentials.sessionToken,
      });
    } catch (error) {
      process.stderr.write(`js-v3 ${mode}: GetCallerIdentity failed: ${error && error.message}\n`);
      return 1;
    }
  }
  process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`js-v3 ${mode}: ${error && error.stack}\n`);
    process.exit(1);
  },
);
