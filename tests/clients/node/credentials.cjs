// `node credentials.cjs instance-metadata|chain`: resolves AWS credentials with the AWS SDK
// for JavaScript v3 and prints one JSON line on stdout:
// {"sdk":"js-v3","provider":MODE,"access_key_id":…,"secret_sha256":…,"token_sha256":…,"expiration":UNIX}.
// The secret key and session token appear only as SHA-256 hex digests.
//
// * instance-metadata: `fromInstanceMetadata()` (IMDS; honours
//   AWS_EC2_METADATA_SERVICE_ENDPOINT and AWS_EC2_METADATA_V1_DISABLED).
// * chain: `fromNodeProviderChain()`, the default chain of every v3 client.
//
// The SDK is loaded from NEEDROLESHERE_NODE_MODULES (default: build/node/node_modules of
// this repository, where scripts/test.sh runs `npm ci` with this directory's lock file).
// No AWS service is called. Errors go to stderr with exit status 1 (2 for a bad command line).
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
const factories = {
  "instance-metadata": () => providers.fromInstanceMetadata(),
  chain: () => providers.fromNodeProviderChain(),
};

function sha256(text) {
  return crypto.createHash("sha256").update(text, "utf8").digest("hex");
}

async function main() {
  const factory = factories[mode];
  if (!factory) {
    process.stderr.write("usage: node credentials.cjs instance-metadata|chain\n");
    return 2;
  }
  let credentials;
  try {
    credentials = await factory()();
  } catch (error) {
    process.stderr.write(`js-v3 ${mode}: no credentials: ${error && error.message}\n`);
    return 1;
  }
  const version = load("@aws-sdk/credential-providers/package.json").version;
  process.stdout.write(
    JSON.stringify({
      sdk: "js-v3",
      version,
      provider: mode,
      access_key_id: credentials.accessKeyId,
      secret_sha256: sha256(credentials.secretAccessKey),
      token_sha256: credentials.sessionToken ? sha256(credentials.sessionToken) : null,
      expiration: credentials.expiration
        ? Math.floor(credentials.expiration.getTime() / 1000)
        : null,
    }) + "\n",
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`js-v3 ${mode}: ${error && error.stack}\n`);
    process.exit(1);
  },
);
