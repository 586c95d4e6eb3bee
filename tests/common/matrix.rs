//! The compatibility matrix of `tests/matrix.rs`: which real AWS SDK gets, and can use,
//! credentials from which needroleshere front.
//!
//! * [`Client`]: the SDK programs of `tests/clients/` (installed by scripts/test.sh into
//!   `build/`), each run with `prove`: after resolving credentials it signs STS
//!   `GetCallerIdentity` with them against the strict STS double, which verifies the SigV4
//!   signature made with the vended secret key and session token.
//! * [`Front`]: how needroleshere hands the credentials over, and [`expectation`]: whether a
//!   client is expected to work with a front and, where it cannot, why. A claim that a client
//!   cannot is checked too, by running it and finding the evidence in what it printed,
//!   except where its provider does not read that kind of front at all.
//! * [`column`] runs every client against one front; [`record`] puts the column into the
//!   generated `COMPATIBILITY.md` (cumulatively, in `build/COMPATIBILITY.md`), compares it
//!   with the committed file and fails the test on any failed cell or difference.
//!
//! Clients run with a clean environment (no host AWS setting leaks in), an empty HOME, and
//! instance metadata disabled on every front that is not IMDS, so nothing is ever sent to a
//! link-local address outside a network namespace of the test's own, nor anywhere but
//! loopback: the client programs refuse an STS endpoint (or, for the AWS CLI v2, which calls
//! AWS's own host names, an `HTTPS_PROXY`) that is not loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fake_aws::World;
use fake_aws::proxy::ConnectProxy;
use fake_aws::rolesanywhere::{ACCOUNT_ID, REGION, Running};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

use super::daemon::python;
use super::pki;

/// The start of every front's role session name.
const SESSION_NAME: &str = "needroleshere-matrix";

/// The role session name `front` asks for: its own, so the ARN GetCallerIdentity answers
/// proves which front served the credentials.
pub(crate) fn session_name(front: Front) -> String {
    format!("{SESSION_NAME}-{}", front.id())
}

/// What GetCallerIdentity must answer for credentials from IAM Roles Anywhere via `front`.
pub(crate) fn roles_anywhere_arn(front: Front) -> String {
    format!(
        "arn:aws:sts::{ACCOUNT_ID}:assumed-role/needroleshere-test/{}",
        session_name(front)
    )
}

/// What GetCallerIdentity must answer for the desktop servers' `developer` profile via
/// `front`.
pub(crate) fn developer_arn(front: Front) -> String {
    format!(
        "arn:aws:sts::{ACCOUNT_ID}:assumed-role/developer/{}",
        session_name(front)
    )
}

/// How long one client run may take (resolution and proof) before it counts as failed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// `path` under the repository root.
pub(crate) fn repo_path(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ------------------------------------------------------------------------------------------
// Clients.

/// A real SDK program of `tests/clients/`, in one of its modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Client {
    Boto3,
    AwsCli,
    AwsCliV2,
    JsV3Chain,
    JsV3Http,
    JsV3ContainerMetadata,
    JsV3InstanceMetadata,
    JsV3Process,
    JsV2Chain,
    RustChain,
    GoV2Chain,
    GoV1Chain,
    MinioChain,
    JavaV2Chain,
    JavaV1Chain,
    CrtChain,
    CrtNodeChain,
    RubySdkChain,
    FogAws,
    AsyncAwsChain,
    RusotoChain,
}

impl Client {
    pub(crate) const ALL: [Client; 21] = [
        Client::Boto3,
        Client::AwsCli,
        Client::AwsCliV2,
        Client::JsV3Chain,
        Client::JsV3Http,
        Client::JsV3ContainerMetadata,
        Client::JsV3InstanceMetadata,
        Client::JsV3Process,
        Client::JsV2Chain,
        Client::RustChain,
        Client::GoV2Chain,
        Client::GoV1Chain,
        Client::MinioChain,
        Client::JavaV2Chain,
        Client::JavaV1Chain,
        Client::CrtChain,
        Client::CrtNodeChain,
        Client::RubySdkChain,
        Client::FogAws,
        Client::AsyncAwsChain,
        Client::RusotoChain,
    ];

    /// A name without version.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Client::Boto3 => "boto3",
            Client::AwsCli => "AWS CLI v1",
            Client::AwsCliV2 => "AWS CLI v2",
            Client::JsV3Chain => "JS v3 fromNodeProviderChain",
            Client::JsV3Http => "JS v3 fromHttp",
            Client::JsV3ContainerMetadata => "JS v3 fromContainerMetadata",
            Client::JsV3InstanceMetadata => "JS v3 fromInstanceMetadata",
            Client::JsV3Process => "JS v3 fromProcess",
            Client::JsV2Chain => "JS v2 default chain",
            Client::RustChain => "Rust aws-config default chain",
            Client::GoV2Chain => "Go v2 default chain",
            Client::GoV1Chain => "Go v1 default chain",
            Client::MinioChain => "minio-go IAM chain",
            Client::JavaV2Chain => "Java v2 default chain",
            Client::JavaV1Chain => "Java v1 default chain",
            Client::CrtChain => "AWS CRT default chain (Python)",
            Client::CrtNodeChain => "AWS CRT default chain (Node.js)",
            Client::RubySdkChain => "Ruby aws-sdk-core default chain",
            Client::FogAws => "fog-aws `use_iam_profile` (third-party)",
            Client::AsyncAwsChain => "AsyncAws PHP default chain (third-party)",
            Client::RusotoChain => "Rusoto ChainProvider (deprecated)",
        }
    }

    /// The name and the version of the package that resolves the credentials: the row label.
    pub(crate) fn label(self) -> String {
        let v = versions();
        let version = match self {
            Client::Boto3 => format!("boto3 {}", v.boto3),
            Client::AwsCli => format!("awscli {}", v.awscli),
            Client::AwsCliV2 => format!("Debian awscli {}", v.awscli_v2),
            Client::JsV3Chain
            | Client::JsV3Http
            | Client::JsV3ContainerMetadata
            | Client::JsV3InstanceMetadata
            | Client::JsV3Process => format!("credential-providers {}", v.js_v3_providers),
            Client::JsV2Chain => format!("aws-sdk {}", v.js_v2),
            Client::RustChain => format!("aws-config {}", v.rust_aws_config),
            Client::GoV2Chain => format!("aws-sdk-go-v2/config {}", v.go_v2_config),
            Client::GoV1Chain => format!("aws-sdk-go {}", v.go_v1),
            Client::MinioChain => format!("minio-go {}", v.minio),
            Client::JavaV2Chain => format!("AWS SDK for Java {}", v.java_v2),
            Client::JavaV1Chain => format!("AWS SDK for Java {}", v.java_v1),
            Client::CrtChain => format!("Debian python3-awscrt {}", v.awscrt),
            Client::CrtNodeChain => format!("npm aws-crt {}", v.aws_crt_node),
            Client::RubySdkChain => format!("Debian ruby-aws-sdk-core {}", v.ruby_sdk),
            Client::FogAws => format!("Debian ruby-fog-aws {}", v.fog_aws),
            Client::AsyncAwsChain => format!("Debian php-async-aws-core {}", v.async_aws),
            Client::RusotoChain => format!("rusoto_credential {}", v.rusoto),
        };
        format!("{} ({version})", self.name())
    }

    /// What resolves the credentials.
    pub(crate) fn resolution(self) -> &'static str {
        match self {
            Client::Boto3 => "`boto3.Session().get_credentials()`, the default chain",
            Client::AwsCli => "the `aws` command's own session (its bundled botocore)",
            Client::AwsCliV2 => {
                "the `aws` command's own session (Debian's `/usr/bin/aws`, its bundled botocore)"
            }
            Client::JsV3Chain => "`fromNodeProviderChain()`, the default chain of v3 clients",
            Client::JsV3Http => "`fromHttp()`, the container provider of the default chain",
            Client::JsV3ContainerMetadata => {
                "`fromContainerMetadata()`, the older container provider"
            }
            Client::JsV3InstanceMetadata => "`fromInstanceMetadata()`",
            Client::JsV3Process => "`fromProcess()`: the profile's `credential_process`",
            Client::JsV2Chain => {
                "`AWS.config.getCredentials()`, the default chain, with `AWS_SDK_LOAD_CONFIG=1` \
                 (v2 reads `~/.aws/config` only then)"
            }
            Client::RustChain => "`aws_config::load_defaults(BehaviorVersion::latest())`",
            Client::GoV2Chain => "`config.LoadDefaultConfig(ctx)`, then `cfg.Credentials.Retrieve`",
            Client::GoV1Chain => {
                "`session.NewSessionWithOptions` with `SharedConfigEnable` (v1 reads \
                 `~/.aws/config` only then), then `sess.Config.Credentials.Get()`"
            }
            Client::JavaV2Chain => {
                "`DefaultCredentialsProvider.builder().build().resolveCredentials()`"
            }
            Client::JavaV1Chain => "`new DefaultAWSCredentialsProviderChain().getCredentials()`",
            Client::CrtChain => {
                "`awscrt.auth.AwsCredentialsProvider.new_default_chain()` (aws-c-auth: \
                 environment, profile, container endpoint, instance metadata), the providers of \
                 the CRT-based clients"
            }
            Client::CrtNodeChain => {
                "`auth.AwsCredentialsProvider.newDefault()`, the same chain in the current \
                 aws-c-auth; the Node.js CRT never hands credentials out, a provider only signs"
            }
            Client::RubySdkChain => {
                "`Aws::STS::Client.new`: its `config.credentials`, from \
                 `Aws::CredentialProviderChain`"
            }
            Client::FogAws => {
                "`Fog::AWS::STS.new(use_iam_profile: true)`: `Fog::AWS::CredentialFetcher` \
                 (the container endpoint, else instance metadata), as every fog-aws service"
            }
            Client::AsyncAwsChain => {
                "`ChainProvider::createDefaultChain()`, what every AsyncAws client uses; it \
                 ignores `AWS_EC2_METADATA_DISABLED`, so where the test sets it the program runs \
                 the same chain without its last provider, instance metadata"
            }
            Client::RusotoChain => {
                "`rusoto_credential::ChainProvider::new().credentials()`; it ignores \
                 `AWS_EC2_METADATA_DISABLED`, so where the test sets it the program runs the \
                 same chain without its last provider, instance metadata"
            }
            Client::MinioChain => {
                "`credentials.NewChainCredentials` of `EnvAWS`, `FileAWSCredentials` and `IAM` \
                 (the container endpoint, else instance metadata)"
            }
        }
    }

    /// The call that proves the credentials, and the package that makes it.
    pub(crate) fn proof(self) -> String {
        let v = versions();
        match self {
            Client::Boto3 => format!(
                "`client(\"sts\").get_caller_identity()` (botocore {})",
                v.botocore
            ),
            Client::AwsCli => format!(
                "`aws sts get-caller-identity` (bundled botocore {})",
                v.awscli_botocore
            ),
            Client::AwsCliV2 => format!(
                "`aws sts get-caller-identity` (bundled botocore {}) at \
                 `https://sts.us-east-1.amazonaws.com`: it ignores `AWS_ENDPOINT_URL_*`, so \
                 `HTTPS_PROXY` tunnels it to the double, whose certificate `AWS_CA_BUNDLE` \
                 trusts",
                v.awscli_v2_botocore
            ),
            Client::JsV3Chain
            | Client::JsV3Http
            | Client::JsV3ContainerMetadata
            | Client::JsV3InstanceMetadata
            | Client::JsV3Process => format!(
                "`@aws-sdk/client-sts` {} `GetCallerIdentityCommand`",
                v.js_v3_sts
            ),
            Client::JsV2Chain => "`new AWS.STS().getCallerIdentity()`".to_owned(),
            Client::RustChain => format!("`aws-sdk-sts` {} `get_caller_identity()`", v.rust_sts),
            Client::GoV2Chain => format!("`service/sts` {} `GetCallerIdentity`", v.go_v2_sts),
            Client::GoV1Chain => "`sts.New(sess).GetCallerIdentity`".to_owned(),
            Client::JavaV2Chain => format!("`sts` {} `getCallerIdentity()`", v.java_v2),
            Client::JavaV1Chain => {
                format!("`aws-java-sdk-sts` {} `getCallerIdentity()`", v.java_v1)
            }
            Client::CrtChain => "`GetCallerIdentity` signed by the CRT's own SigV4 signer \
                 (`awscrt.auth.aws_sign_request`, session token included), sent with urllib"
                .to_owned(),
            Client::CrtNodeChain => {
                "`GetCallerIdentity` signed by `auth.aws_sign_request` with the chain itself \
                 (the access key id is the one the signature names), sent with `fetch`"
                    .to_owned()
            }
            Client::RubySdkChain => "`Aws::STS::Client#get_caller_identity`".to_owned(),
            Client::FogAws => {
                "fog-aws has no `GetCallerIdentity` request: its STS service's own signed \
                 request (`Fog::AWS.signed_params_v4`, session token included) with \
                 `Action=GetCallerIdentity`"
                    .to_owned()
            }
            Client::AsyncAwsChain => {
                "`AsyncAws\\Core\\Sts\\StsClient::getCallerIdentity()`".to_owned()
            }
            Client::RusotoChain => format!("`rusoto_sts` {} `get_caller_identity`", v.rusoto),
            Client::MinioChain => {
                "minio-go has no STS client: `GetCallerIdentity` signed by its own \
                 `signer.SignV4WithServiceType(…, \"sts\")` with the session token"
                    .to_owned()
            }
        }
    }

    /// The program, its mode and `prove`.
    fn argv(self) -> Vec<OsString> {
        let python_client = |mode: &str| {
            vec![
                python().as_os_str().to_owned(),
                repo_path("tests/clients/python/credentials.py").into(),
                mode.into(),
                "prove".into(),
            ]
        };
        let node_client = |file: &str, mode: &str| {
            vec![
                "node".into(),
                repo_path("tests/clients/node").join(file).into(),
                mode.into(),
                "prove".into(),
            ]
        };
        match self {
            Client::Boto3 => python_client("boto3"),
            Client::AwsCli => python_client("awscli"),
            // Debian's python3, where its awscli package lives.
            Client::AwsCliV2 => vec![
                "/usr/bin/python3".into(),
                repo_path("tests/clients/python/credentials.py").into(),
                "awscli-v2".into(),
                "prove".into(),
            ],
            Client::JsV3Chain => node_client("credentials.cjs", "chain"),
            Client::JsV3Http => node_client("credentials.cjs", "http"),
            Client::JsV3ContainerMetadata => node_client("credentials.cjs", "container-metadata"),
            Client::JsV3InstanceMetadata => node_client("credentials.cjs", "instance-metadata"),
            Client::JsV3Process => node_client("credentials.cjs", "process"),
            Client::JsV2Chain => node_client("credentials-v2.cjs", "chain"),
            Client::RustChain => vec![
                repo_path("build/rust-client-target/debug/rust-client").into(),
                "chain".into(),
                "prove".into(),
            ],
            Client::GoV2Chain => go_client("go-v2-client"),
            Client::GoV1Chain => go_client("go-v1-client"),
            Client::MinioChain => go_client("minio-go-client"),
            // A quick start matters more than peak speed for one call.
            Client::JavaV2Chain => vec![
                "java".into(),
                "-XX:TieredStopAtLevel=1".into(),
                "-XX:+UseSerialGC".into(),
                "-cp".into(),
                format!(
                    "{}:{}",
                    repo_path("build/java-client/target/java-v2-client.jar").display(),
                    repo_path("build/java-client/target/lib/*").display()
                )
                .into(),
                "needroleshere.Client".into(),
                "chain".into(),
                "prove".into(),
            ],
            Client::JavaV1Chain => vec![
                "java".into(),
                "-XX:TieredStopAtLevel=1".into(),
                "-XX:+UseSerialGC".into(),
                "-cp".into(),
                format!(
                    "{}:{}",
                    repo_path("build/java-client/target-v1/java-v1-client.jar").display(),
                    repo_path("build/java-client/target-v1/lib/*").display()
                )
                .into(),
                "needroleshere.Client".into(),
                "chain".into(),
                "prove".into(),
            ],
            // Debian's python3, where python3-awscrt lives.
            Client::CrtChain => vec![
                "/usr/bin/python3".into(),
                repo_path("tests/clients/python/crt.py").into(),
                "chain".into(),
                "prove".into(),
            ],
            Client::CrtNodeChain => vec![
                "node".into(),
                repo_path("tests/clients/node-crt/credentials.cjs").into(),
                "chain".into(),
                "prove".into(),
            ],
            Client::RubySdkChain | Client::FogAws => vec![
                "/usr/bin/ruby".into(),
                repo_path("tests/clients/ruby/credentials.rb").into(),
                if self == Client::FogAws { "fog" } else { "sdk" }.into(),
                "prove".into(),
            ],
            Client::AsyncAwsChain => vec![
                "/usr/bin/php".into(),
                repo_path("tests/clients/php/credentials.php").into(),
                "chain".into(),
                "prove".into(),
            ],
            Client::RusotoChain => vec![
                repo_path("build/rust-client-target/debug/rusoto-client").into(),
                "chain".into(),
                "prove".into(),
            ],
        }
    }

    /// Whether the client ignores `AWS_ENDPOINT_URL_*` (the AWS CLI v2 of Debian, 2.9.19), so
    /// it must reach the double under AWS's host names through [`Setup::https_proxy`].
    fn ignores_endpoint_variables(self) -> bool {
        self == Client::AwsCliV2
    }

    /// Variables this client needs whatever the front.
    fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Client::JsV2Chain => &[("AWS_SDK_LOAD_CONFIG", "1")],
            // Its notice that Node.js 20 support ends (stderr, once per run) says nothing here.
            Client::CrtNodeChain => &[("NODE_NO_WARNINGS", "1")],
            _ => &[],
        }
    }
}

/// The versions of the installed clients, read once.
#[derive(Debug)]
pub(crate) struct Versions {
    pub boto3: String,
    pub botocore: String,
    pub awscli: String,
    pub awscli_botocore: String,
    pub awscli_v2: String,
    pub awscli_v2_botocore: String,
    pub js_v3_providers: String,
    pub js_v3_sts: String,
    pub js_v2: String,
    pub rust_aws_config: String,
    pub rust_sts: String,
    pub go_v2_config: String,
    pub go_v2_sts: String,
    pub go_v1: String,
    pub minio: String,
    pub java_v2: String,
    pub java_v1: String,
    pub awscrt: String,
    pub aws_crt_node: String,
    pub ruby_sdk: String,
    pub fog_aws: String,
    pub async_aws: String,
    pub rusoto: String,
}

/// A Go client program of `tests/clients/go-*` and `tests/clients/minio-go`, built by
/// scripts/test.sh into `build/go-clients/bin`, with `chain prove`.
fn go_client(name: &str) -> Vec<OsString> {
    vec![
        repo_path("build/go-clients/bin").join(name).into(),
        "chain".into(),
        "prove".into(),
    ]
}

/// The version `tests/clients/DIR/go.mod` requires of `module`.
fn go_module_version(dir: &str, module: &str) -> String {
    let path = repo_path("tests/clients").join(dir).join("go.mod");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let binary = repo_path("build/go-clients/bin").join(format!("{dir}-client"));
    assert!(
        binary.exists(),
        "{} is missing: run scripts/test.sh (it builds tests/clients/{dir})",
        binary.display()
    );
    text.lines()
        .map(|line| line.trim().trim_start_matches("require").trim())
        .find_map(|line| {
            let (name, version) = line.split_once(' ')?;
            (name == module).then(|| version.split_whitespace().next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("{} requires no {module}", path.display()))
}

/// The AWS SDK for Java BOM version `tests/clients/DIR/pom.xml` imports (artifact `bom`), the
/// client built into `build/java-client/TARGET/DIR-client.jar`.
fn java_sdk_version(dir: &str, target: &str, bom: &str) -> String {
    let path = repo_path("tests/clients").join(dir).join("pom.xml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let jar = repo_path("build/java-client")
        .join(target)
        .join(format!("{dir}-client.jar"));
    assert!(
        jar.exists(),
        "{} is missing: run scripts/test.sh (it builds tests/clients/{dir})",
        jar.display()
    );
    let bom = text
        .find(&format!("<artifactId>{bom}</artifactId>"))
        .unwrap_or_else(|| panic!("{} imports no {bom}", path.display()));
    let rest = &text[bom..];
    let start = rest.find("<version>").expect("the BOM's version") + "<version>".len();
    let end = rest[start..].find('<').expect("the BOM's version") + start;
    rest[start..end].to_owned()
}

/// The installed version of Debian package `package`.
fn debian_version(package: &str) -> String {
    let output = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .stdin(Stdio::null())
        .output()
        .expect("run dpkg-query");
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success() && !version.is_empty(),
        "Debian's {package} must be installed (run scripts/test.sh): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    version
}

/// The aws-crt version installed in `build/node-crt` (pinned by
/// `tests/clients/node-crt/package-lock.json`).
fn node_crt_version() -> String {
    let path = repo_path("build/node-crt/node_modules/aws-crt/package.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run scripts/test.sh (it runs npm ci in build/node-crt)",
            path.display()
        )
    });
    let json: serde_json::Value = serde_json::from_str(&text).expect("package.json");
    json["version"].as_str().expect("a version").to_owned()
}

/// The rusoto_credential version `tests/clients/rusoto/Cargo.lock` pins; the program must be
/// built.
fn rusoto_version() -> String {
    let program = repo_path("build/rust-client-target/debug/rusoto-client");
    assert!(
        program.exists(),
        "{} is missing: run scripts/test.sh (it builds tests/clients/rusoto)",
        program.display()
    );
    let lock = std::fs::read_to_string(repo_path("tests/clients/rusoto/Cargo.lock"))
        .expect("tests/clients/rusoto/Cargo.lock");
    let marker = "name = \"rusoto_credential\"\nversion = \"";
    let start = lock
        .find(marker)
        .expect("rusoto_credential is in tests/clients/rusoto/Cargo.lock")
        + marker.len();
    lock[start..]
        .split('"')
        .next()
        .expect("a version")
        .to_owned()
}

/// The installed clients' versions; panics, saying how to fix it, when one is missing.
pub(crate) fn versions() -> &'static Versions {
    static VERSIONS: OnceLock<Versions> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        let output = std::process::Command::new(python())
            .args([
                "-c",
                "import boto3, botocore; print(boto3.__version__, botocore.__version__)\n\
                 import awscli, awscli.botocore; print(awscli.__version__, awscli.botocore.__version__)",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "boto3 and awscli must be installed in build/venv (run scripts/test.sh): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words.len(), 4, "python printed {text:?}");
        let output = std::process::Command::new("/usr/bin/python3")
            .args([
                "-c",
                "import awscli, awscli.botocore; print(awscli.__version__, awscli.botocore.__version__)",
            ])
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .expect("run /usr/bin/python3");
        assert!(
            output.status.success(),
            "Debian's awscli (the AWS CLI v2) must be installed (run scripts/test.sh): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let v2: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(v2.len(), 2, "/usr/bin/python3 printed {text:?}");
        let node_version = |package: &str| {
            let path = repo_path("build/node/node_modules")
                .join(package)
                .join("package.json");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}: run scripts/test.sh (it runs npm ci in build/node)",
                    path.display()
                )
            });
            let json: serde_json::Value = serde_json::from_str(&text).expect("package.json");
            json["version"].as_str().expect("a version").to_owned()
        };
        let lock = std::fs::read_to_string(repo_path("tests/clients/rust/Cargo.lock"))
            .expect("tests/clients/rust/Cargo.lock");
        let crate_version = |name: &str| {
            let marker = format!("name = \"{name}\"\nversion = \"");
            let start = lock
                .find(&marker)
                .unwrap_or_else(|| panic!("{name} is not in tests/clients/rust/Cargo.lock"))
                + marker.len();
            lock[start..]
                .split('"')
                .next()
                .expect("a version")
                .to_owned()
        };
        let program = repo_path("build/rust-client-target/debug/rust-client");
        assert!(
            program.exists(),
            "{} is missing: run scripts/test.sh (it builds tests/clients/rust)",
            program.display()
        );
        Versions {
            boto3: words[0].to_owned(),
            botocore: words[1].to_owned(),
            awscli: words[2].to_owned(),
            awscli_botocore: words[3].to_owned(),
            awscli_v2: v2[0].to_owned(),
            awscli_v2_botocore: v2[1].to_owned(),
            js_v3_providers: node_version("@aws-sdk/credential-providers"),
            js_v3_sts: node_version("@aws-sdk/client-sts"),
            js_v2: node_version("aws-sdk"),
            rust_aws_config: crate_version("aws-config"),
            rust_sts: crate_version("aws-sdk-sts"),
            go_v2_config: go_module_version("go-v2", "github.com/aws/aws-sdk-go-v2/config"),
            go_v2_sts: go_module_version("go-v2", "github.com/aws/aws-sdk-go-v2/service/sts"),
            go_v1: go_module_version("go-v1", "github.com/aws/aws-sdk-go"),
            minio: go_module_version("minio-go", "github.com/minio/minio-go/v7"),
            java_v2: java_sdk_version("java-v2", "target", "bom"),
            java_v1: java_sdk_version("java-v1", "target-v1", "aws-java-sdk-bom"),
            awscrt: debian_version("python3-awscrt"),
            aws_crt_node: node_crt_version(),
            ruby_sdk: debian_version("ruby-aws-sdk-core"),
            fog_aws: debian_version("ruby-fog-aws"),
            async_aws: debian_version("php-async-aws-core"),
            rusoto: rusoto_version(),
        }
    })
}

// ------------------------------------------------------------------------------------------
// Fronts and expectations.

/// One way needroleshere hands credentials to programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Front {
    CredentialProcess,
    EcsFull,
    EcsFullTokenFile,
    EcsFullQuery,
    EcsFullOtherLoopback,
    EcsRelative,
    EcsRelativeQuery,
    EcsRelativeTokenFile,
    ImdsDefaultAddress,
    ImdsDefaultAddressV1,
    ImdsEndpoint,
    ImdsV1Fallback,
    DesktopEcs,
    DesktopEc2,
    Update,
    Exec,
}

impl Front {
    pub(crate) const ALL: [Front; 16] = [
        Front::CredentialProcess,
        Front::EcsFull,
        Front::EcsFullTokenFile,
        Front::EcsFullQuery,
        Front::EcsFullOtherLoopback,
        Front::EcsRelative,
        Front::EcsRelativeQuery,
        Front::EcsRelativeTokenFile,
        Front::ImdsDefaultAddress,
        Front::ImdsDefaultAddressV1,
        Front::ImdsEndpoint,
        Front::ImdsV1Fallback,
        Front::DesktopEcs,
        Front::DesktopEc2,
        Front::Update,
        Front::Exec,
    ];

    /// A stable short name: the column header and the section marker.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Front::CredentialProcess => "credential-process",
            Front::EcsFull => "ecs-full",
            Front::EcsFullTokenFile => "ecs-full-token-file",
            Front::EcsFullQuery => "ecs-full-query",
            Front::EcsFullOtherLoopback => "ecs-full-127.0.0.2",
            Front::EcsRelative => "ecs-relative",
            Front::EcsRelativeQuery => "ecs-relative-query",
            Front::EcsRelativeTokenFile => "ecs-relative-token-file",
            Front::ImdsDefaultAddress => "imds-169.254.169.254",
            Front::ImdsDefaultAddressV1 => "imds-169.254.169.254-v1",
            Front::ImdsEndpoint => "imds-endpoint",
            Front::ImdsV1Fallback => "imds-v1-fallback",
            Front::DesktopEcs => "serve-ecs",
            Front::DesktopEc2 => "serve-ec2",
            Front::Update => "update",
            Front::Exec => "exec",
        }
    }

    /// What the client is given, in a sentence.
    pub(crate) fn description(self) -> &'static str {
        match self {
            Front::CredentialProcess => {
                "`credential_process = needroleshere credential-process …` in a profile of the \
                 AWS config file, `AWS_PROFILE` naming it"
            }
            Front::EcsFull => {
                "`bind --mode ecs-full`: `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/ecs/credentials` \
                 and `AWS_CONTAINER_AUTHORIZATION_TOKEN` from the env file; `serve` socket-activated"
            }
            Front::EcsFullTokenFile => {
                "`bind --mode ecs-full --token-file`: the full URI and \
                 `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`"
            }
            Front::EcsFullQuery => {
                "`bind --mode ecs-full-query`: the token in the full URI's `access_token` \
                 parameter, no header"
            }
            Front::EcsFullOtherLoopback => {
                "`bind --mode ecs-full --url http://127.0.0.2:PORT`: a loopback address other \
                 than 127.0.0.1, header token"
            }
            Front::EcsRelative => {
                "`bind --mode ecs-relative`: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` and the \
                 header token, `serve` on 169.254.170.2:80 inside a network namespace"
            }
            Front::EcsRelativeQuery => {
                "`bind --mode ecs-relative-query`: the token in the relative URI, `serve` on \
                 169.254.170.2:80 inside a network namespace"
            }
            Front::EcsRelativeTokenFile => {
                "`bind --mode ecs-relative --token-file`: the relative URI and \
                 `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, `serve` on 169.254.170.2:80 inside a \
                 network namespace"
            }
            Front::ImdsDefaultAddressV1 => {
                "the same with `serve --imds-v1`: IMDSv2 still, and IMDSv1 for clients that ask \
                 without a token; `AWS_EC2_METADATA_V1_DISABLED` unset"
            }
            Front::ImdsDefaultAddress => {
                "`bind --mode imds`, `serve` on 169.254.169.254:80 inside a network namespace, \
                 no endpoint variable (the SDK's default address), \
                 `AWS_EC2_METADATA_V1_DISABLED=true`"
            }
            Front::ImdsEndpoint => {
                "`bind --mode imds`, `serve --listen-imds 127.0.0.1:PORT=NAME`: the env file's \
                 `AWS_EC2_METADATA_SERVICE_ENDPOINT` and `AWS_EC2_METADATA_V1_DISABLED=true` \
                 (IMDSv2)"
            }
            Front::ImdsV1Fallback => {
                "`serve --imds-v1 --listen-imds …` reached through a forwarding proxy that adds \
                 `X-Forwarded-For`, so the token request is refused (403, as on EC2) and the SDK \
                 must fall back to IMDSv1; `AWS_EC2_METADATA_V1_DISABLED` unset"
            }
            Front::DesktopEcs => {
                "`serve ecs -p PORT developer` (an AWS profile: user keys → AssumeRole at the \
                 STS double): the variables it prints"
            }
            Front::DesktopEc2 => {
                "`serve ec2 -p PORT developer`: the `AWS_EC2_METADATA_SERVICE_ENDPOINT` it prints"
            }
            Front::Update => {
                "`update --once --profile matrix …`: the keys and session token in `[matrix]` of \
                 the file `AWS_SHARED_CREDENTIALS_FILE` names, `AWS_PROFILE=matrix`"
            }
            Front::Exec => {
                "`exec developer -- CLIENT` (the desktop servers' `developer` profile): \
                 `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` in the \
                 client's environment"
            }
        }
    }

    fn is_imds(self) -> bool {
        matches!(
            self,
            Front::ImdsDefaultAddress
                | Front::ImdsDefaultAddressV1
                | Front::ImdsEndpoint
                | Front::ImdsV1Fallback
                | Front::DesktopEc2
        )
    }

    /// An ECS front with a relative URI (served at 169.254.170.2).
    fn is_relative(self) -> bool {
        matches!(
            self,
            Front::EcsRelative | Front::EcsRelativeQuery | Front::EcsRelativeTokenFile
        )
    }

    fn is_container(self) -> bool {
        matches!(
            self,
            Front::EcsFull
                | Front::EcsFullTokenFile
                | Front::EcsFullQuery
                | Front::EcsFullOtherLoopback
                | Front::EcsRelative
                | Front::EcsRelativeQuery
                | Front::EcsRelativeTokenFile
                | Front::DesktopEcs
        )
    }
}

/// What a client is expected to do with a front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Get credentials and prove them.
    Works,
    /// Fail, for `reason`; checked by running it: it must fail and print `evidence`.
    Refuses {
        reason: &'static str,
        evidence: &'static str,
    },
    /// Its provider does not read this kind of front at all; not run.
    NotApplicable { reason: &'static str },
}

/// Whether `client` works with `front`, and if not, why.
pub(crate) fn expectation(client: Client, front: Front) -> Expect {
    use Client::*;
    use Front::*;
    let container_only = Expect::NotApplicable {
        reason: "reads only the container endpoint variables",
    };
    match (client, front) {
        (JsV3Http | JsV3ContainerMetadata, f) if !f.is_container() => container_only,
        (JsV3InstanceMetadata, f) if !f.is_imds() => Expect::NotApplicable {
            reason: "reads only instance metadata",
        },
        (JsV3Process, f) if f != CredentialProcess => Expect::NotApplicable {
            reason: "runs only a profile's `credential_process`",
        },
        (JsV3ContainerMetadata, EcsFullTokenFile | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "never reads `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (only \
                     `AWS_CONTAINER_AUTHORIZATION_TOKEN`), so it sends no token; use `fromHttp`",
            // serve answers 400 to a request without a token.
            evidence: "Error response received from instance metadata service (HTTP 400)",
        },
        (JsV3ContainerMetadata, EcsFullOtherLoopback) => Expect::Refuses {
            reason: "accepts only `localhost` and `127.0.0.1` as the host of an http full URI",
            evidence: "127.0.0.2 is not a valid container metadata service hostname",
        },
        (JsV2Chain, EcsFullOtherLoopback) => Expect::Refuses {
            reason: "accepts only `localhost`, `127.0.0.1` and `169.254.170.23` as the host of \
                     an http full URI",
            evidence: "RemoteCredentials: Unsupported hostname: AWS.RemoteCredentials only \
                       supports localhost,127.0.0.1,169.254.170.23 for http:",
        },
        (JsV2Chain, EcsRelative) => Expect::Refuses {
            reason: "sends `AWS_CONTAINER_AUTHORIZATION_TOKEN` only with a full URI, so with a \
                     relative URI the endpoint gets no token; `ecs-relative-token-file` and \
                     `ecs-relative-query` work",
            // serve answers 400 to a request without a token.
            evidence: "RemoteCredentials: (HTTP 400)",
        },
        (MinioChain, ImdsEndpoint | ImdsV1Fallback | DesktopEc2) => Expect::NotApplicable {
            reason: "ignores `AWS_EC2_METADATA_SERVICE_ENDPOINT`: its IAM provider asks \
                     `http://169.254.169.254` unless the program sets `IAM.Endpoint` \
                     (minio-go v7.4.1 `pkg/credentials/iam_aws.go:400`, `getCredentials`); not \
                     run, as it would ask the link-local address outside a namespace of the \
                     test's own",
        },
        (AwsCliV2, EcsFullOtherLoopback) => Expect::Refuses {
            reason: "accepts only `169.254.170.2`, `localhost` and `127.0.0.1` as the host of a \
                     full URI (Debian awscli 2.9.19 `awscli/botocore/utils.py:2587`, \
                     `ContainerMetadataFetcher._ALLOWED_HOSTS`)",
            evidence: "Unsupported host '127.0.0.2'.  Can only retrieve metadata from these \
                       hosts: 169.254.170.2, localhost, 127.0.0.1",
        },
        (AwsCliV2, EcsFullTokenFile | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "never reads `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, only \
                     `AWS_CONTAINER_AUTHORIZATION_TOKEN` (Debian awscli 2.9.19 \
                     `awscli/botocore/credentials.py:1788`, `ContainerProvider.ENV_VAR_AUTH_TOKEN`), \
                     so it sends no token; the header and query modes work",
            // serve answers 400 to a request without a token.
            evidence: "Received non 200 response (400) from ECS metadata",
        },
        (AwsCliV2, ImdsEndpoint | ImdsV1Fallback | DesktopEc2) => Expect::Refuses {
            reason: "joins `AWS_EC2_METADATA_SERVICE_ENDPOINT` and `latest/api/token` without a \
                     slash (Debian awscli 2.9.19 `awscli/botocore/utils.py:374`, \
                     `url = self._base_url + self._TOKEN_PATH`), so `http://127.0.0.1:PORT` \
                     becomes `http://127.0.0.1:PORTlatest/api/token`. A trailing slash in the \
                     variable would suit it, but the JS v2 SDK then asks for \
                     `//latest/api/token` (aws-sdk 2.1693.0 `lib/metadata_service.js:109`, \
                     `this.endpoint + path`), so `bind` and `serve ec2` write none; the default \
                     address (`imds-169.254.169.254`) works",
            evidence: "Invalid endpoint EC2 Instance Metadata endpoint: http://127.0.0.1:",
        },
        (MinioChain, EcsRelativeTokenFile) => Expect::Refuses {
            reason: "reads `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` only with a full URI (minio-go \
                     v7.4.1 `pkg/credentials/iam_aws.go:224`); with a relative URI it sends only \
                     `AWS_CONTAINER_AUTHORIZATION_TOKEN` (`iam_aws.go:222`), so no token here; \
                     `ecs-relative` and `ecs-relative-query` work",
            // serve answers 400 to a request without a token; minio-go says only its status.
            evidence: "(IAM provider: 400 Bad Request)",
        },
        (CrtChain, CredentialProcess) => Expect::Refuses {
            reason: "its default chain runs no `credential_process`: environment, a profile's keys \
                     or `role_arn`, web identity, then the container endpoint or instance \
                     metadata (aws-c-auth as python3-awscrt 0.16.8 bundles it, \
                     `source/credentials_provider_default_chain.c:309`, \
                     `source/credentials_provider_profile.c:406`)",
            // The profile provider's last error: no shared credentials file.
            evidence: "awscrt: no credentials: FileNotFoundError",
        },
        (JavaV1Chain, CredentialProcess | Update) => Expect::Refuses {
            reason: "reads profiles only from `AWS_CREDENTIAL_PROFILES_FILE`, else \
                     `~/.aws/credentials`, else `~/.aws/config`, never the file `AWS_CONFIG_FILE` \
                     names (aws-java-sdk-core 1.12.780 \
                     `com/amazonaws/profile/path/AwsProfileFileLocationProvider.java:39`); \
                     `AWS_CREDENTIAL_PROFILES_FILE` naming the same file is what it needs",
            evidence: "profile file cannot be null",
        },
        (CrtChain, EcsFullTokenFile | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "never reads `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, only \
                     `AWS_CONTAINER_AUTHORIZATION_TOKEN` (aws-c-auth as python3-awscrt 0.16.8 \
                     bundles it, `source/credentials_provider_default_chain.c:30`), so it sends \
                     no token; the header and query modes work",
            // serve answers 400 to a request without a token.
            evidence: "AWS_AUTH_CREDENTIALS_PROVIDER_HTTP_STATUS_FAILURE",
        },
        (JavaV1Chain, EcsRelative | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "sends a token only with a full URI: its relative-URI endpoint has no \
                     headers (aws-java-sdk-core 1.12.780 \
                     `com/amazonaws/auth/ContainerCredentialsProvider.java:124`, \
                     `ECSCredentialsEndpointProvider`; the full URI's `getHeaders` is at `:168`); \
                     `ecs-relative-query` works",
            evidence: "Bad Request (Service",
        },
        (
            RubySdkChain,
            EcsFull | EcsFullTokenFile | EcsFullQuery | EcsFullOtherLoopback | DesktopEcs,
        ) => Expect::Refuses {
            reason: "reads only `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, never a full URI \
                         (aws-sdk-core 3.168.1 `lib/aws-sdk-core/credential_provider_chain.rb:164`, \
                         `lib/aws-sdk-core/ecs_credentials.rb:60`)",
            evidence: "sdk: RuntimeError: no credentials found",
        },
        (RubySdkChain, EcsRelative | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "sends no token at all: a bare GET of the relative URI (aws-sdk-core 3.168.1 \
                     `lib/aws-sdk-core/ecs_credentials.rb:131`); `ecs-relative-query` works",
            // serve answers 400 to a request without a token; the provider then has nothing.
            evidence: "sdk: RuntimeError: no credentials found",
        },
        (RubySdkChain, ImdsEndpoint | ImdsV1Fallback | DesktopEc2) => Expect::Refuses {
            reason: "ignores the port of `AWS_EC2_METADATA_SERVICE_ENDPOINT`: it connects to \
                     port 80 of its host (aws-sdk-core 3.168.1 \
                     `lib/aws-sdk-core/instance_profile_credentials.rb:79`, \
                     `@port = options[:port] || 80`, and `:240`, `@port || uri.port`); the \
                     default address (`imds-169.254.169.254`) works",
            evidence: "sdk: RuntimeError: no credentials found",
        },
        (FogAws, EcsRelative | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "sends no token at all: a bare GET of the relative URI (fog-aws 3.15.0 \
                     `lib/fog/aws/credential_fetcher.rb:29`); `ecs-relative-query` works",
            evidence: "Unable to fetch credentials: Expected(200) <=> Actual(400 Bad Request)",
        },
        (AsyncAwsChain, EcsRelative | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "sends no token at all: a bare GET of the relative URI (async-aws/core \
                     1.18.1 `Credentials/ContainerProvider.php:48`); `ecs-relative-query` works",
            evidence: "HTTP/1.1 400 Bad Request returned for \"http://169.254.170.2/",
        },
        (AsyncAwsChain, ImdsDefaultAddress) => Expect::Refuses {
            reason: "IMDSv1 only: it asks for the role without a token (async-aws/core 1.18.1 \
                     `Credentials/InstanceProvider.php:47`), which `serve` refuses unless \
                     started with `--imds-v1` (`imds-169.254.169.254-v1` works)",
            evidence: "HTTP/1.1 401 Unauthorized returned for \"http://169.254.169.254/",
        },
        (RusotoChain, EcsFullTokenFile) => Expect::Refuses {
            reason: "never reads `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, only \
                     `AWS_CONTAINER_AUTHORIZATION_TOKEN` (rusoto_credential 0.48.0 \
                     `src/container.rs:107`), so it sends no token; `ecs-full` and \
                     `ecs-full-query` work",
            // serve's 400 answer, read as credentials.
            evidence: "missing field `AccessKeyId`",
        },
        (RusotoChain, EcsRelative | EcsRelativeTokenFile) => Expect::Refuses {
            reason: "sends a token only with a full URI (rusoto_credential 0.48.0 \
                     `src/container.rs:103`, and `:107` for the full URI); \
                     `ecs-relative-query` works",
            evidence: "missing field `AccessKeyId`",
        },
        (RusotoChain, ImdsDefaultAddress) => Expect::Refuses {
            reason: "IMDSv1 only: it asks for the role without a token (rusoto_credential 0.48.0 \
                     `src/instance_metadata.rs:102`, `get_role_name`), which `serve` refuses \
                     unless started with `--imds-v1` (`imds-169.254.169.254-v1` works)",
            // It reads serve's 401 answer as a role name (it checks no status).
            evidence: "the instance metadata provider alone: Could not get credentials from \
                       iam: invalid uri character",
        },
        (CrtChain, ImdsEndpoint | ImdsV1Fallback | DesktopEc2) => Expect::NotApplicable {
            reason: "ignores `AWS_EC2_METADATA_SERVICE_ENDPOINT`: its IMDS client always asks \
                     `169.254.169.254` (aws-c-auth as python3-awscrt 0.16.8 bundles it, \
                     `source/aws_imds_client.c:160`); not run, as it would ask the link-local \
                     address outside a namespace of the test's own",
        },
        (RusotoChain, ImdsEndpoint | ImdsV1Fallback | DesktopEc2) => Expect::NotApplicable {
            reason: "ignores `AWS_EC2_METADATA_SERVICE_ENDPOINT`: its instance metadata provider \
                     always asks `169.254.169.254` (rusoto_credential 0.48.0 \
                     `src/instance_metadata.rs:12`); not run, as it would ask the link-local \
                     address outside a namespace of the test's own",
        },
        (FogAws, Exec) => Expect::NotApplicable {
            reason: "with `use_iam_profile` it ignores the keys in the environment: it fetches \
                     from the container endpoint or instance metadata (fog-aws 3.15.0 \
                     `lib/fog/aws/credential_fetcher.rb:21`), else takes the keys the program \
                     passes; not run, as it would ask `169.254.169.254` outside a namespace of \
                     the test's own",
        },
        (FogAws, ImdsEndpoint | ImdsV1Fallback | DesktopEc2) => Expect::NotApplicable {
            reason: "ignores `AWS_EC2_METADATA_SERVICE_ENDPOINT`: it always asks \
                     `http://169.254.169.254` (fog-aws 3.15.0 `lib/fog/aws/credential_fetcher.rb:9`); \
                     not run, as it would ask the link-local address outside a namespace of the \
                     test's own",
        },
        (FogAws, f)
            if !matches!(
                f,
                EcsRelative
                    | EcsRelativeQuery
                    | EcsRelativeTokenFile
                    | ImdsDefaultAddress
                    | ImdsDefaultAddressV1
            ) =>
        {
            Expect::NotApplicable {
                reason: "reads neither the AWS config files nor a full URI: with \
                         `use_iam_profile` it reads only `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, \
                         else asks instance metadata at `169.254.169.254` whatever \
                         `AWS_EC2_METADATA_DISABLED` says (fog-aws 3.15.0 \
                         `lib/fog/aws/credential_fetcher.rb:26` and `:69`); not run, as it would \
                         ask the link-local address outside a namespace of the test's own",
            }
        }
        (AsyncAwsChain, ImdsEndpoint | ImdsV1Fallback | DesktopEc2) => Expect::NotApplicable {
            reason: "ignores `AWS_EC2_METADATA_SERVICE_ENDPOINT`: it always asks \
                     `http://169.254.169.254` (async-aws/core 1.18.1 \
                     `Credentials/InstanceProvider.php:28`); not run, as it would ask the \
                     link-local address outside a namespace of the test's own",
        },
        (AsyncAwsChain, CredentialProcess) => Expect::Refuses {
            reason: "no `credential_process`: its ini file provider reads only keys and \
                     `role_arn` (async-aws/core 1.18.1 `Credentials/IniFileProvider.php:70` and \
                     `:78`)",
            evidence: "async-aws: no credentials found",
        },
        (AsyncAwsChain, f) if f.is_container() && !f.is_relative() => Expect::Refuses {
            reason: "reads only `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, never the full URI \
                     (async-aws/core 1.18.1 `Credentials/ContainerProvider.php:40`)",
            evidence: "async-aws: no credentials found",
        },
        (RustChain, ImdsV1Fallback) => Expect::Refuses {
            reason: "IMDSv2 only: no fallback to IMDSv1 when the token request is refused",
            evidence: "failed to load IMDS session token: service error: request forbidden",
        },
        _ => Expect::Works,
    }
}

// ------------------------------------------------------------------------------------------
// Running clients.

/// A front, ready for clients.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The variables the front gives programs (env file, printed exports…) and the STS
    /// endpoint of the double; the client's own defaults are added.
    pub env: BTreeMap<String, String>,
    /// The AWS config file every client gets, if any.
    pub config: Option<String>,
    /// The network namespace the clients run in, if any.
    pub netns: Option<String>,
    /// The ARN GetCallerIdentity must answer.
    pub expected_arn: String,
    /// A program and arguments the client runs under (`needroleshere exec …`), if any.
    pub wrapper: Vec<OsString>,
    /// A CONNECT proxy (`http://127.0.0.1:PORT`, where the clients run) to the same double
    /// over HTTPS, for clients that ignore `AWS_ENDPOINT_URL_STS` and call AWS's own host
    /// names ([`Client::ignores_endpoint_variables`]).
    pub https_proxy: String,
}

/// What a client printed.
#[derive(Debug, Clone, serde::Deserialize)]
struct Printed {
    provider: String,
    access_key_id: String,
    caller: Option<Caller>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Caller {
    arn: String,
}

/// One client's run against a front.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// `Ok(provider)` when the credentials were proved, else what went wrong.
    pub result: Result<String, String>,
    /// Everything the client printed on stderr.
    pub stderr: String,
}

/// A cell of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Pass,
    Fail,
    NotSupported(&'static str),
}

impl Cell {
    /// The text in the per-front tables.
    pub(crate) fn text(&self) -> String {
        match self {
            Cell::Pass => "pass".to_owned(),
            Cell::Fail => "**fail**".to_owned(),
            Cell::NotSupported(reason) => format!("not supported: {reason}"),
        }
    }
}

/// Checks what the front's doubles saw of a client that proved credentials with access key id
/// `ACCESS_KEY_ID`: that the test's fake issued them, and whatever else the front needs.
pub(crate) type Verify<'a> = &'a (dyn Fn(&str) -> Result<(), String> + Sync);

/// Runs `client` against the front `setup` describes; `verify` checks the doubles' side.
pub(crate) async fn run(client: Client, setup: &Setup, verify: Verify<'_>) -> Run {
    let home = tempfile::tempdir().expect("temporary HOME");
    let config = home.path().join("config");
    if let Some(text) = &setup.config {
        std::fs::write(&config, text).expect("write the AWS config file");
    }
    let mut argv = setup.wrapper.clone();
    argv.extend(client.argv());
    let mut command = match &setup.netns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]).args(&argv);
            command
        }
        None => {
            let mut command = Command::new(&argv[0]);
            command.args(&argv[1..]);
            command
        }
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env(
            "NEEDROLESHERE_NODE_MODULES",
            repo_path("build/node/node_modules"),
        )
        .env(
            "NEEDROLESHERE_NODE_CRT_MODULES",
            repo_path("build/node-crt/node_modules"),
        )
        .envs(client.env().iter().copied())
        .envs(&setup.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if client.ignores_endpoint_variables() {
        // Only the STS call goes through the proxy: the fronts are on loopback or link-local
        // addresses, never proxied. Without the endpoint variable (which 2.9 ignores anyway),
        // the proxy is the client's only way to the double.
        command
            .env_remove("AWS_ENDPOINT_URL_STS")
            .env("HTTPS_PROXY", &setup.https_proxy)
            .env("AWS_CA_BUNDLE", super::pki_file("tls-ca.pem"))
            .env(
                "NO_PROXY",
                "localhost,127.0.0.1,127.0.0.2,169.254.169.254,169.254.170.2",
            );
    }
    let started = Instant::now();
    let output = match tokio::time::timeout(CLIENT_TIMEOUT, command.output()).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}")),
        Err(_) => {
            return Run {
                result: Err(format!("timed out after {CLIENT_TIMEOUT:?}")),
                stderr: String::new(),
            };
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let elapsed = started.elapsed();
    let result = if output.status.success() {
        judge(&output.stdout, setup, verify)
    } else {
        Err(format!("exited with {}", output.status))
    };
    eprintln!(
        "  {} ({:.1} s): {}",
        client.name(),
        elapsed.as_secs_f64(),
        match &result {
            Ok(provider) => format!("proved, via {provider}"),
            Err(e) => format!("{e}; stderr: {}", stderr.trim()),
        }
    );
    Run { result, stderr }
}

fn judge(stdout: &[u8], setup: &Setup, verify: Verify<'_>) -> Result<String, String> {
    let printed: Printed = serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "printed no JSON ({e}): {}",
            String::from_utf8_lossy(stdout).trim()
        )
    })?;
    let caller = printed
        .caller
        .ok_or_else(|| "printed no caller identity".to_owned())?;
    if caller.arn != setup.expected_arn {
        return Err(format!(
            "GetCallerIdentity answered {}, not {}",
            caller.arn, setup.expected_arn
        ));
    }
    verify(&printed.access_key_id)?;
    Ok(printed.provider)
}

/// A client's outcome on a front: the cell, and a complaint when it is not as expected.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub client: Client,
    pub cell: Cell,
    pub problem: Option<String>,
}

/// Runs every client against `setup`, one after another (ECS clients time out after 1–2 s;
/// running them in parallel on two cores would make that flaky), and judges each.
/// `before_each` runs before each client (to forget what the doubles saw of the last one).
pub(crate) async fn column(
    front: Front,
    setup: &Setup,
    before_each: &(dyn Fn() + Sync),
    verify: Verify<'_>,
) -> Vec<Outcome> {
    eprintln!("matrix {}:", front.id());
    let mut outcomes = Vec::new();
    for client in Client::ALL {
        let expect = expectation(client, front);
        if !matches!(expect, Expect::NotApplicable { .. }) {
            before_each();
        }
        let outcome = match expect {
            Expect::NotApplicable { reason } => Outcome {
                client,
                cell: Cell::NotSupported(reason),
                problem: None,
            },
            Expect::Works => {
                let run = run(client, setup, verify).await;
                match run.result {
                    Ok(_) => Outcome {
                        client,
                        cell: Cell::Pass,
                        problem: None,
                    },
                    Err(error) => Outcome {
                        client,
                        cell: Cell::Fail,
                        problem: Some(format!(
                            "{error}\n    stderr: {}",
                            run.stderr.trim().replace('\n', "\n    ")
                        )),
                    },
                }
            }
            Expect::Refuses { reason, evidence } => {
                let run = run(client, setup, verify).await;
                match run.result {
                    Ok(_) => Outcome {
                        client,
                        cell: Cell::Pass,
                        problem: Some(format!(
                            "expected not to work ({reason}) but it did: update \
                             tests/common/matrix.rs expectation()"
                        )),
                    },
                    Err(_) if run.stderr.contains(evidence) => Outcome {
                        client,
                        cell: Cell::NotSupported(reason),
                        problem: None,
                    },
                    Err(error) => Outcome {
                        client,
                        cell: Cell::Fail,
                        problem: Some(format!(
                            "expected to fail for '{reason}', printing {evidence:?}, but: \
                             {error}\n    stderr: {}",
                            run.stderr.trim().replace('\n', "\n    ")
                        )),
                    },
                }
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

// ------------------------------------------------------------------------------------------
// COMPATIBILITY.md.

const BEGIN: &str = "<!-- front: ";
const END: &str = "<!-- /front: ";

/// The per-front section between its markers.
fn block(front: Front, outcomes: &[Outcome]) -> String {
    let mut text = String::from("| client | result |\n| --- | --- |\n");
    for outcome in outcomes {
        text.push_str(&format!(
            "| {} | {} |\n",
            outcome.client.label(),
            outcome.cell.text()
        ));
    }
    debug_assert!(!text.contains(BEGIN) && !text.contains(END), "{front:?}");
    text
}

/// The sections of a generated file, by front id.
fn parse_blocks(document: &str) -> BTreeMap<String, String> {
    let mut blocks = BTreeMap::new();
    let mut rest = document;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(close) = after.find(" -->\n") else {
            break;
        };
        let id = after[..close].to_owned();
        let body_start = close + " -->\n".len();
        let end_marker = format!("{END}{id} -->");
        let Some(end) = after[body_start..].find(&end_marker) else {
            break;
        };
        blocks.insert(id, after[body_start..body_start + end].to_owned());
        rest = &after[body_start + end..];
    }
    blocks
}

/// The grid cell of `client` in a section: ✅, ❌ or —; `?` when not known.
fn grid_cell(block: Option<&String>, client: Client) -> &'static str {
    let Some(block) = block else { return "?" };
    let prefix = format!("| {} | ", client.label());
    match block.lines().find_map(|l| l.strip_prefix(&prefix)) {
        Some(text) if text.starts_with("pass") => "✅",
        Some(text) if text.starts_with("not supported") => "—",
        Some(_) => "❌",
        None => "?",
    }
}

/// An official AWS SDK that cannot be installed here, and what its source says.
pub(crate) struct Untested {
    pub name: &'static str,
    /// (kind of front, what the source says, with file and line).
    pub claims: &'static [(&'static str, &'static str)],
}

/// The official SDKs the matrix cannot run, read with the code search tools.
pub(crate) const UNTESTED: &[Untested] = &[
    Untested {
        name: "AWS SDK for .NET",
        claims: &[
            (
                "credential_process",
                "a profile's `credential_process` is read (aws/aws-sdk-net \
                 `sdk/src/Core/Amazon.Runtime/CredentialManagement/SharedCredentialsFile.cs:46`)",
            ),
            (
                "ECS",
                "the relative URI, the full URI, `AWS_CONTAINER_AUTHORIZATION_TOKEN` and \
                 `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (the file first) \
                 (`sdk/src/Core/Amazon.Runtime/Credentials/GenericContainerCredentials.cs:47`-`51`); \
                 an http full URI must be loopback (`:203`, `IsLoopback`, so 127.0.0.2 too); the \
                 relative URI is set as a `UriBuilder` path (`:183`), which escapes a `?`, so \
                 `ecs-relative-query` probably does not work",
            ),
            (
                "IMDS",
                "`AWS_EC2_METADATA_SERVICE_ENDPOINT` is read \
                 (`sdk/src/Core/Amazon.Runtime/Internal/InternalConfiguration.cs:98`)",
            ),
        ],
    },
    Untested {
        name: "AWS SDK for PHP",
        claims: &[
            (
                "credential_process",
                "the default chain runs `credential_process` from the `AWS_PROFILE` profile of \
                 the shared credentials file, but from the config file only for \
                 `[profile default]` of `~/.aws/config` (aws/aws-sdk-php \
                 `src/Credentials/CredentialProvider.php:61`-`64`, `defaultProvider`)",
            ),
            (
                "ECS",
                "the provider reads the relative URI, the full URI, the token and the token file \
                 (`src/Credentials/EcsCredentialProvider.php:20`-`23`), but the default chain \
                 uses it only when `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is set \
                 (`CredentialProvider.php`, `defaultProvider`), so the relative modes are the \
                 ones to use",
            ),
            (
                "IMDS",
                "`AWS_EC2_METADATA_SERVICE_ENDPOINT` is read \
                 (`src/Credentials/InstanceProfileProvider.php:27`)",
            ),
        ],
    },
    Untested {
        name: "AWS SDK for C++",
        claims: &[
            (
                "credential_process",
                "the default chain has a process provider (aws/aws-sdk-cpp \
                 `src/aws-cpp-sdk-core/source/auth/AWSCredentialsProviderChain.cpp:48`)",
            ),
            (
                "ECS",
                "the relative URI, the full URI, `AWS_CONTAINER_AUTHORIZATION_TOKEN` and \
                 `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` \
                 (`AWSCredentialsProviderChain.cpp:65`-`68`, \
                 `source/auth/GeneralHTTPCredentialsProvider.cpp:20`-`23`); an http full URI must \
                 be 127.0.0.x (`GeneralHTTPCredentialsProvider.cpp:43`)",
            ),
            (
                "IMDS",
                "only when no container variable is set (`AWSCredentialsProviderChain.cpp:82`); \
                 `AWS_EC2_METADATA_SERVICE_ENDPOINT` is read \
                 (`source/internal/AWSHttpResourceClient.cpp`, `InitEC2MetadataClient`; line not \
                 pinned)",
            ),
        ],
    },
];

/// What the matrix says in short: which tested clients each front serves, and which fronts
/// each client works with. COMPATIBILITY.md and README.md carry it.
pub(crate) fn summary(blocks: &BTreeMap<String, String>) -> String {
    let total = Client::ALL.len();
    let mut out = format!("Fronts, by the tested clients (of {total}) that work with them:\n\n");
    let mut fronts: Vec<(usize, Front, Vec<Client>)> = Front::ALL
        .iter()
        .map(|&front| {
            let passing: Vec<Client> = Client::ALL
                .iter()
                .copied()
                .filter(|&c| grid_cell(blocks.get(front.id()), c) == "✅")
                .collect();
            (passing.len(), front, passing)
        })
        .collect();
    fronts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let names = |clients: &[Client]| {
        clients
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (count, front, passing) in &fronts {
        let others: Vec<Client> = Client::ALL
            .iter()
            .copied()
            .filter(|c| !passing.contains(c))
            .collect();
        let who = if others.is_empty() {
            "all".to_owned()
        } else if others.len() <= passing.len() {
            format!("all but {}", names(&others))
        } else if passing.is_empty() {
            "none".to_owned()
        } else {
            format!("only {}", names(passing))
        };
        out.push_str(&format!("* `{}`: {count} — {who}\n", front.id()));
    }
    out.push_str("\nClients, by the fronts they work with:\n\n");
    for client in Client::ALL {
        let working: Vec<String> = Front::ALL
            .iter()
            .filter(|f| grid_cell(blocks.get(f.id()), client) == "✅")
            .map(|f| format!("`{}`", f.id()))
            .collect();
        out.push_str(&format!(
            "* {}: {}\n",
            client.name(),
            if working.is_empty() {
                "none".to_owned()
            } else {
                working.join(", ")
            }
        ));
    }
    out
}

/// The whole document from the sections.
fn render(blocks: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    out.push_str(
        "<!-- GENERATED by tests/matrix.rs: do not edit by hand. Regenerate with\n     \
         NEEDROLESHERE_UPDATE_MATRIX=1 cargo test --all-features --test matrix -->\n\n",
    );
    out.push_str("# Compatibility matrix\n\n");
    out.push_str(
        "**This file is generated by `tests/matrix.rs` and never edited by hand.** The test \
         suite regenerates it on every run and fails when the result differs from this \
         committed copy (the new one is then in `build/COMPATIBILITY.md`); \
         `NEEDROLESHERE_UPDATE_MATRIX=1 cargo test --all-features --test matrix` rewrites it.\n\n",
    );
    out.push_str(
        "Each cell is a real AWS SDK program (`tests/clients/`) given credentials by one \
         needroleshere front, which then **proves** them: it signs STS `GetCallerIdentity` \
         with them against the strict STS test double, which verifies the SigV4 signature made \
         with the vended secret key and session token. A cell passes only when the answer \
         names the expected assumed role \
         (`assumed-role/needroleshere-test/needroleshere-matrix-FRONT` from the IAM Roles \
         Anywhere double, `assumed-role/developer/needroleshere-matrix-FRONT` for the desktop \
         servers: each front asks for a role session name of its own, so the answer proves \
         which front served the credentials) and the access key id is one the test's double \
         issued. \
         \"Not supported\" says why a client cannot use a front; where the client could \
         have tried, it was run and its failure checked.\n\n",
    );
    out.push_str("## Clients\n\n| client | credentials | proof |\n| --- | --- | --- |\n");
    for client in Client::ALL {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            client.label(),
            client.resolution(),
            client.proof()
        ));
    }
    out.push_str("\n## Fronts\n\n| front | what the client is given |\n| --- | --- |\n");
    for front in Front::ALL {
        out.push_str(&format!("| `{}` | {} |\n", front.id(), front.description()));
    }
    out.push_str(
        "\n## Matrix\n\n✅ pass, ❌ fail, — not supported (the reason is in the front's section \
         below), · not tested here (an SDK this machine cannot install: what its source says is \
         under [SDKs not tested here](#sdks-not-tested-here)).\n\n",
    );
    out.push_str("| client |");
    for front in Front::ALL {
        out.push_str(&format!(" `{}` |", front.id()));
    }
    out.push_str("\n| --- |");
    for _ in Front::ALL {
        out.push_str(" :-: |");
    }
    out.push('\n');
    for client in Client::ALL {
        out.push_str(&format!("| {} |", client.name()));
        for front in Front::ALL {
            out.push_str(&format!(" {} |", grid_cell(blocks.get(front.id()), client)));
        }
        out.push('\n');
    }
    for sdk in UNTESTED {
        out.push_str(&format!("| {} (not tested here) |", sdk.name));
        for _ in Front::ALL {
            out.push_str(" · |");
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\n## Summary\n\nDerived from the matrix above (README.md carries the same text).\n\n{}",
        summary(blocks)
    ));
    out.push_str("\n## SDKs not tested here\n\n");
    out.push_str(
        "No package of these SDKs can be installed on the test machines, so no cell of theirs is \
         tested and none is ever counted as passing. What their source says about each kind of \
         front, with the file and line it says it in (the versions the code search index \
         holds):\n",
    );
    for sdk in UNTESTED {
        out.push_str(&format!("\n### {}\n\n", sdk.name));
        for (what, says) in sdk.claims {
            out.push_str(&format!("* {what}: {says}\n"));
        }
    }
    out.push_str("\n## Results by front\n");
    for front in Front::ALL {
        out.push_str(&format!(
            "\n### `{}`\n\n{}\n\n{BEGIN}{} -->\n",
            front.id(),
            front.description(),
            front.id()
        ));
        match blocks.get(front.id()) {
            Some(text) => out.push_str(text),
            None => out.push_str("(not run yet)\n"),
        }
        out.push_str(&format!("{END}{} -->\n", front.id()));
    }
    out
}

/// What this process knows of the document: the committed file, and the sections so far
/// (committed ones replaced by those of fronts run here).
struct Document {
    committed: Option<String>,
    blocks: BTreeMap<String, String>,
    run: BTreeSet<Front>,
}

fn document() -> &'static Mutex<Document> {
    static DOCUMENT: OnceLock<Mutex<Document>> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let committed = std::fs::read_to_string(repo_path("COMPATIBILITY.md")).ok();
        let blocks = committed.as_deref().map(parse_blocks).unwrap_or_default();
        Mutex::new(Document {
            committed,
            blocks,
            run: BTreeSet::new(),
        })
    })
}

fn write_atomically(path: &Path, text: &str) {
    let dir = path.parent().expect("a parent directory");
    std::fs::create_dir_all(dir).expect("create the directory");
    let tmp = tempfile::NamedTempFile::new_in(dir).expect("temporary file");
    std::fs::write(tmp.path(), text).expect("write the matrix");
    tmp.persist(path).expect("rename the matrix into place");
}

const README_BEGIN: &str =
    "<!-- matrix-summary: generated by tests/matrix.rs from the matrix; do not edit -->\n";
const README_END: &str = "<!-- /matrix-summary -->";

/// Checks (or, with `update`, rewrites) README.md's copy of the summary, between
/// [`README_BEGIN`] and [`README_END`]; says what is wrong, if anything.
fn readme_summary(summary: &str, update: bool) -> Option<String> {
    let path = repo_path("README.md");
    let readme = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    let Some(start) = readme.find(README_BEGIN).map(|i| i + README_BEGIN.len()) else {
        return Some(format!("README.md has no {README_BEGIN:?} marker"));
    };
    let Some(end) = readme[start..].find(README_END).map(|i| i + start) else {
        return Some(format!("README.md has no {README_END:?} marker"));
    };
    if &readme[start..end] == summary {
        return None;
    }
    if update {
        let mut text = readme[..start].to_owned();
        text.push_str(summary);
        text.push_str(&readme[end..]);
        write_atomically(&path, &text);
        return None;
    }
    Some(format!(
        "README.md's matrix summary differs from the generated one:\n--- README.md\n{}--- \
         generated\n{summary}Copy it into README.md (or run with NEEDROLESHERE_UPDATE_MATRIX=1).",
        &readme[start..end]
    ))
}

/// Puts `front`'s column into the generated document (`build/COMPATIBILITY.md`, and
/// `COMPATIBILITY.md` when `NEEDROLESHERE_UPDATE_MATRIX=1`), then fails the test when a
/// cell is not as expected or the column (or, once every front has run in this process,
/// the whole document) differs from the committed copy.
pub(crate) fn record(front: Front, outcomes: &[Outcome]) {
    let new_block = block(front, outcomes);
    let update = std::env::var("NEEDROLESHERE_UPDATE_MATRIX").is_ok_and(|v| v == "1");
    let generated = repo_path("build/COMPATIBILITY.md");
    let mut problems: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.problem
                .as_ref()
                .map(|p| format!("{} × {}: {p}", o.client.label(), front.id()))
        })
        .collect();
    {
        let mut doc = document().lock().unwrap_or_else(|e| e.into_inner());
        let committed_block = doc
            .committed
            .as_deref()
            .map(parse_blocks)
            .and_then(|mut b| b.remove(front.id()));
        doc.blocks.insert(front.id().to_owned(), new_block.clone());
        doc.run.insert(front);
        let text = render(&doc.blocks);
        write_atomically(&generated, &text);
        if doc.run.len() == Front::ALL.len()
            && let Some(problem) = readme_summary(&summary(&doc.blocks), update)
        {
            problems.push(problem);
        }
        if update {
            write_atomically(&repo_path("COMPATIBILITY.md"), &text);
        } else {
            if committed_block.as_deref() != Some(new_block.as_str()) {
                problems.push(format!(
                    "COMPATIBILITY.md is out of date for `{}`:\n--- committed\n{}--- generated\n{}\
                     The generated matrix is in {}: review it and copy it to COMPATIBILITY.md \
                     (or run with NEEDROLESHERE_UPDATE_MATRIX=1).",
                    front.id(),
                    committed_block.as_deref().unwrap_or("(none)\n"),
                    new_block,
                    generated.display()
                ));
            }
            if doc.run.len() == Front::ALL.len() && doc.committed.as_deref() != Some(text.as_str())
            {
                problems.push(format!(
                    "COMPATIBILITY.md differs from the generated matrix in {}: review it and \
                     copy it to COMPATIBILITY.md (or run with NEEDROLESHERE_UPDATE_MATRIX=1).",
                    generated.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "front {}:\n{}",
        front.id(),
        problems.join("\n")
    );
}

// ------------------------------------------------------------------------------------------
// Doubles and helpers for the fronts.

/// The strict fake IAM Roles Anywhere and the strict fake STS (`fake_aws::World::example`:
/// users alice and bob, role developer…) in this process, sharing one registry (so
/// credentials either issues can call STS), on one loopback listener, as
/// `needroleshere-fake-aws` serves them.
pub(crate) struct FakeAws {
    pub world: World,
    running: Running,
    /// The same world over HTTPS (the test PKI's `tls-server.pem`, AWS host names)…
    _tls: Running,
    /// …behind a CONNECT proxy: see [`Setup::https_proxy`].
    proxy: ConnectProxy,
}

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAws")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl FakeAws {
    pub(crate) async fn start() -> FakeAws {
        let world = World::example(pki(), REGION, "").expect("fake config");
        let running = world
            .spawn("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("start the fake AWS");
        let tls = world
            .spawn_tls(
                "127.0.0.1:0".parse().expect("address"),
                &super::pki_file("tls-server.pem"),
                &super::pki_file("tls-server.key"),
            )
            .await
            .expect("start the fake AWS over HTTPS");
        let proxy = ConnectProxy::spawn(tls.addr)
            .await
            .expect("start the CONNECT proxy");
        FakeAws {
            world,
            running,
            _tls: tls,
            proxy,
        }
    }

    /// `http://127.0.0.1:PORT`: a CONNECT proxy to this world over HTTPS.
    pub(crate) fn https_proxy(&self) -> String {
        self.proxy.url()
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        self.running.url()
    }

    /// Whether either fake issued `access_key_id`.
    pub(crate) fn issued(&self, access_key_id: &str) -> Result<(), String> {
        if self.world.issued(access_key_id) {
            Ok(())
        } else {
            Err(format!(
                "access key id {access_key_id} was not issued by the test's fake"
            ))
        }
    }
}

/// A reverse proxy on a loopback port in front of an IMDS listener, as a sidecar or an
/// HTTP proxy would be: it forwards each request (one per connection) with
/// `X-Forwarded-For: 127.0.0.1`, `Host` naming the upstream and `Connection: close`, so
/// IMDS refuses its token requests (403) as EC2 does. It records every exchange. Stops when
/// dropped.
#[derive(Debug)]
pub(crate) struct ForwardingProxy {
    pub addr: SocketAddr,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    task: tokio::task::JoinHandle<()>,
}

/// One request the proxy forwarded, and the status of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exchange {
    pub method: String,
    pub path: String,
    /// Whether it carried `X-aws-ec2-metadata-token`.
    pub token: bool,
    pub status: u16,
}

impl Drop for ForwardingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ForwardingProxy {
    pub(crate) async fn start(upstream: SocketAddr) -> ForwardingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let record = exchanges.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    match forward(stream, upstream).await {
                        Ok(Some(exchange)) => record
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(exchange),
                        Ok(None) => {}
                        Err(e) => eprintln!("forwarding proxy: {e}"),
                    }
                });
            }
        });
        ForwardingProxy {
            addr,
            exchanges,
            task,
        }
    }

    /// The exchanges since the last call.
    pub(crate) fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.exchanges.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

async fn forward(
    mut client: tokio::net::TcpStream,
    upstream: SocketAddr,
) -> std::io::Result<Option<Exchange>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || client.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let mut out = format!("{request_line}\r\n");
    let mut length = 0usize;
    let mut token = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = line[name.len() + 1..].trim().parse().unwrap_or(0);
        }
        token |= name.eq_ignore_ascii_case("x-aws-ec2-metadata-token");
        if ["host", "connection", "x-forwarded-for", "keep-alive"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Host: {upstream}\r\nX-Forwarded-For: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ));
    let mut body = vec![0u8; length.min(64 * 1024)];
    client.read_exact(&mut body).await?;
    let mut server = tokio::net::TcpStream::connect(upstream).await?;
    server.write_all(out.as_bytes()).await?;
    server.write_all(&body).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    client.write_all(&answer).await?;
    client.shutdown().await?;
    let status = String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Some(Exchange {
        method,
        path,
        token,
        status,
    }))
}

/// An AWS config where profile `developer` is role developer assumed (with a given session
/// name) with user bob's keys, as the desktop servers and `exec` read it. Removed when
/// dropped.
#[derive(Debug)]
pub(crate) struct DeveloperProfiles {
    dir: tempfile::TempDir,
}

impl DeveloperProfiles {
    pub(crate) fn write(session_name: &str) -> DeveloperProfiles {
        use fake_aws::sts::{BOB_ACCESS_KEY_ID, BOB_SECRET_ACCESS_KEY, DEVELOPER_ROLE_ARN};
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            dir.path().join("config"),
            format!(
                "[default]\nregion = us-east-1\n\n\
                 [profile developer]\nrole_arn = {DEVELOPER_ROLE_ARN}\nsource_profile = bob\n\
                 role_session_name = {session_name}\n"
            ),
        )
        .expect("write config");
        std::fs::write(
            dir.path().join("credentials"),
            format!(
                "[bob]\naws_access_key_id = {BOB_ACCESS_KEY_ID}\n\
                 aws_secret_access_key = {BOB_SECRET_ACCESS_KEY}\n"
            ),
        )
        .expect("write credentials");
        DeveloperProfiles { dir }
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub(crate) fn credentials(&self) -> PathBuf {
        self.dir.path().join("credentials")
    }

    /// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` naming them.
    pub(crate) fn env(&self) -> BTreeMap<String, String> {
        [
            (
                "AWS_CONFIG_FILE".to_owned(),
                self.config().display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
                self.credentials().display().to_string(),
            ),
        ]
        .into()
    }
}

/// A running `needroleshere serve ecs|ec2 -p PORT PROFILE` and the variables it printed.
#[derive(Debug)]
pub(crate) struct Desktop {
    child: tokio::process::Child,
    pub exports: BTreeMap<String, String>,
    home: tempfile::TempDir,
}

impl Desktop {
    /// Starts the server on a free port with an AWS config where profile `developer` is role
    /// developer assumed (session name `session_name`) with user bob's keys, and STS at
    /// `sts_url`.
    pub(crate) async fn start(kind: &str, sts_url: &str, session_name: &str) -> Desktop {
        let profiles = DeveloperProfiles::write(session_name);
        let home = profiles.dir;
        let config = home.path().join("config");
        let credentials = home.path().join("credentials");
        let port = super::daemon::free_port();
        let mut child = Command::new(super::daemon::BIN)
            .args(["serve", kind, "-p", &port.to_string(), "developer"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_ENDPOINT_URL_STS", sts_url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "*")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(home.path().join("serve.log")).expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("start needroleshere serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let wanted = if kind == "ecs" { 2 } else { 1 };
        let mut exports = BTreeMap::new();
        while exports.len() < wanted {
            let line = tokio::time::timeout(super::daemon::STEP, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("serve {kind} printed no variables"))
                .expect("read stdout")
                .unwrap_or_else(|| panic!("serve {kind} exited"));
            if let Some((name, value)) =
                line.strip_prefix("export ").and_then(|l| l.split_once('='))
            {
                exports.insert(name.to_owned(), value.to_owned());
            }
        }
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Desktop {
            child,
            exports,
            home,
        }
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.home.path().join("serve.log"));
            eprintln!("serve's log:\n{}", log.unwrap_or_default());
        }
    }
}
