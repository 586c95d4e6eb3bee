# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_needroleshere_global_optspecs
    string join \n log-format= h/help V/version
end

function __fish_needroleshere_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_needroleshere_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_needroleshere_using_subcommand
    set -l cmd (__fish_needroleshere_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c needroleshere -n "__fish_needroleshere_needs_command" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -s V -l version -d 'Print version'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "credential-process" -d 'Print credentials for a role as `credential_process` JSON (for ~/.aws/config)'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "bind" -d 'Create or replace a role binding served by `serve` (run before the consuming service)'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "unbind" -d 'Remove a role binding and its env and token files. Succeeds when already gone'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "update" -d 'Write credentials into a profile of the shared credentials file, and keep them fresh'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "check" -d 'Check a binding or an identity locally, and with --remote against IAM Roles Anywhere'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "read-certificate-data" -d 'Print the first certificate of a file as the official helper does (JSON with the key type, the base64 DER and the decimal serial number)'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "sign-string" -d 'Sign the official helper\'s fixed test string with a key, to prove it can sign'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "exec" -d 'Run a command with an AWS profile\'s credentials and region in its environment'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "login" -d 'Sign an AWS profile in to its identity provider from this terminal'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "serve" -d 'Serve credentials for role bindings over the ECS container credentials protocol'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "status" -d 'Show every binding, its certificate and, from a running serve, its credentials'
complete -c needroleshere -n "__fish_needroleshere_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l certificate -d 'Certificate file (PEM or DER; may hold the full chain), or a pkcs11: URI of certificates in a token. Repeat for several' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l intermediates -d 'File of intermediate CA certificates, added to the chain after the certificate files' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l private-key -d 'Private key: a file (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, or a TPM\'s TSS2 key file), a pkcs11: URI, or a persistent TPM handle (handle:0x81000001). RSA, P-256 or P-384' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l pkcs8-password -d 'Password of an encrypted PKCS#8 private key; NEEDROLESHERE_PKCS8_PASSWORD in the environment is preferred (a flag shows in `ps`)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l trust-anchor-arn -d 'ARN of the trust anchor that issued the certificate' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l profile-arn -d 'ARN of the Roles Anywhere profile' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l role-arn -d 'ARN of the role to assume' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l session-duration -d 'Lifetime of the credentials in seconds (900 to 43200) [default: 3600]' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l role-session-name -l session-name -d 'Role session name (2 to 64 characters of letters, digits and +=,.@_-)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l pkcs11-lib -d 'PKCS#11 module to load; a URI\'s module-path wins [default: p11-kit\'s proxy module]' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l pkcs11-pin -d 'The token\'s user PIN. Shows in `ps`: prefer --pkcs11-pin-source or NEEDROLESHERE_PKCS11_PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l pkcs11-pin-source -d 'Where to read the PIN when it is needed: credential:NAME (a systemd credential, e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this, never the PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l tpm-key-password -d 'Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or NEEDROLESHERE_TPM_KEY_PASSWORD' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l tpm-key-password-source -d 'Where to read the TPM key\'s password: credential:NAME, file:PATH or env:VARIABLE' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l region -d 'Region to call. credential-process, bind and update default to the trust anchor\'s region; serve uses each binding\'s, then this, then AWS_REGION, then the trust anchor\'s' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l endpoint -d 'CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE, AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l reuse-pin -d 'Log in again with the same PIN before each signature, for keys that ask for it (CKA_ALWAYS_AUTHENTICATE)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l no-tpm-key-password -d 'The TPM key has no password (the default when none is given; accepted for compatibility with aws_signing_helper)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l with-proxy -d 'Accepted for compatibility with aws_signing_helper; proxies are always taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l no-cache -d 'Call CreateSession on every run, neither reading nor writing the credentials that runs share (in $XDG_RUNTIME_DIR/needroleshere/credential-process, else ~/.cache/needroleshere/credential-process)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -l debug -d 'Log each step (signing details, endpoint, status) to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand credential-process" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l certificate -d 'Certificate file (PEM or DER; may hold the full chain), or a pkcs11: URI of certificates in a token. Repeat for several' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l intermediates -d 'File of intermediate CA certificates, added to the chain after the certificate files' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l private-key -d 'Private key: a file (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, or a TPM\'s TSS2 key file), a pkcs11: URI, or a persistent TPM handle (handle:0x81000001). RSA, P-256 or P-384' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l pkcs8-password -d 'Password of an encrypted PKCS#8 private key; NEEDROLESHERE_PKCS8_PASSWORD in the environment is preferred (a flag shows in `ps`)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l trust-anchor-arn -d 'ARN of the trust anchor that issued the certificate' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l profile-arn -d 'ARN of the Roles Anywhere profile' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l role-arn -d 'ARN of the role to assume' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l session-duration -d 'Lifetime of the credentials in seconds (900 to 43200) [default: 3600]' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l role-session-name -l session-name -d 'Role session name (2 to 64 characters of letters, digits and +=,.@_-)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l pkcs11-lib -d 'PKCS#11 module to load; a URI\'s module-path wins [default: p11-kit\'s proxy module]' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l pkcs11-pin -d 'The token\'s user PIN. Shows in `ps`: prefer --pkcs11-pin-source or NEEDROLESHERE_PKCS11_PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l pkcs11-pin-source -d 'Where to read the PIN when it is needed: credential:NAME (a systemd credential, e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this, never the PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l tpm-key-password -d 'Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or NEEDROLESHERE_TPM_KEY_PASSWORD' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l tpm-key-password-source -d 'Where to read the TPM key\'s password: credential:NAME, file:PATH or env:VARIABLE' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l region -d 'Region to call. credential-process, bind and update default to the trust anchor\'s region; serve uses each binding\'s, then this, then AWS_REGION, then the trust anchor\'s' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l endpoint -d 'CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE, AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l mode -d 'How consumers reach `serve` and present the token' -r -f -a "ecs-full\t'`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`'
ecs-full-query\t'`AWS_CONTAINER_CREDENTIALS_FULL_URI` carrying `?access_token=`'
ecs-relative\t'`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (169.254.170.2) + the token header'
ecs-relative-query\t'`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` carrying `?access_token=`'
imds\t'`AWS_EC2_METADATA_SERVICE_ENDPOINT`: served by an IMDS listener dedicated to this binding (socket named `imds-NAME` or `serve --listen-imds ADDR=NAME`); no token'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l url -d 'Base URL of `serve` for the full-URI modes, e.g. http://127.0.0.1:7224 (the ECS listener); for imds mode, the binding\'s IMDS listener, e.g. http://169.254.169.254' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l allow-uid -d 'Serve the binding only to connections made by this user (a uid or a user name); repeat it, or separate several by commas or spaces, for more. Root is not implied. An empty value adds nobody (for unit templates)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l configuration-directory -d 'Directory holding bindings/, env/ and token/; defaults to $RUNTIME_DIRECTORY' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l reuse-pin -d 'Log in again with the same PIN before each signature, for keys that ask for it (CKA_ALWAYS_AUTHENTICATE)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l no-tpm-key-password -d 'The TPM key has no password (the default when none is given; accepted for compatibility with aws_signing_helper)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l with-proxy -d 'Accepted for compatibility with aws_signing_helper; proxies are always taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l no-validate -d 'Do not call CreateSession to check the binding before writing it'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l token-file -d 'Write the token to DIR/token/NAME (for the consumer\'s LoadCredential=, read through AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) instead of into the env file, which then holds only the URI and no secret'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -l debug -d 'Log each step to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand bind" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand unbind" -l configuration-directory -d 'Directory holding bindings/, env/ and token/; defaults to $RUNTIME_DIRECTORY' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand unbind" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand unbind" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l certificate -d 'Certificate file (PEM or DER; may hold the full chain), or a pkcs11: URI of certificates in a token. Repeat for several' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l intermediates -d 'File of intermediate CA certificates, added to the chain after the certificate files' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l private-key -d 'Private key: a file (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, or a TPM\'s TSS2 key file), a pkcs11: URI, or a persistent TPM handle (handle:0x81000001). RSA, P-256 or P-384' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l pkcs8-password -d 'Password of an encrypted PKCS#8 private key; NEEDROLESHERE_PKCS8_PASSWORD in the environment is preferred (a flag shows in `ps`)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l trust-anchor-arn -d 'ARN of the trust anchor that issued the certificate' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l profile-arn -d 'ARN of the Roles Anywhere profile' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l role-arn -d 'ARN of the role to assume' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l session-duration -d 'Lifetime of the credentials in seconds (900 to 43200) [default: 3600]' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l role-session-name -l session-name -d 'Role session name (2 to 64 characters of letters, digits and +=,.@_-)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l pkcs11-lib -d 'PKCS#11 module to load; a URI\'s module-path wins [default: p11-kit\'s proxy module]' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l pkcs11-pin -d 'The token\'s user PIN. Shows in `ps`: prefer --pkcs11-pin-source or NEEDROLESHERE_PKCS11_PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l pkcs11-pin-source -d 'Where to read the PIN when it is needed: credential:NAME (a systemd credential, e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this, never the PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l tpm-key-password -d 'Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or NEEDROLESHERE_TPM_KEY_PASSWORD' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l tpm-key-password-source -d 'Where to read the TPM key\'s password: credential:NAME, file:PATH or env:VARIABLE' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l region -d 'Region to call. credential-process, bind and update default to the trust anchor\'s region; serve uses each binding\'s, then this, then AWS_REGION, then the trust anchor\'s' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l endpoint -d 'CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE, AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l profile -d 'Profile (section) of the credentials file to write' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l reuse-pin -d 'Log in again with the same PIN before each signature, for keys that ask for it (CKA_ALWAYS_AUTHENTICATE)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l no-tpm-key-password -d 'The TPM key has no password (the default when none is given; accepted for compatibility with aws_signing_helper)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l with-proxy -d 'Accepted for compatibility with aws_signing_helper; proxies are always taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l once -d 'Write once and exit instead of refreshing until stopped'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -l debug -d 'Log each step to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l certificate -d 'Certificate file (PEM or DER; may hold the full chain), or a pkcs11: URI of certificates in a token. Repeat for several' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l intermediates -d 'File of intermediate CA certificates, added to the chain after the certificate files' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l private-key -d 'Private key: a file (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, or a TPM\'s TSS2 key file), a pkcs11: URI, or a persistent TPM handle (handle:0x81000001). RSA, P-256 or P-384' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l pkcs8-password -d 'Password of an encrypted PKCS#8 private key; NEEDROLESHERE_PKCS8_PASSWORD in the environment is preferred (a flag shows in `ps`)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l trust-anchor-arn -d 'ARN of the trust anchor that issued the certificate' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l profile-arn -d 'ARN of the Roles Anywhere profile' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l role-arn -d 'ARN of the role to assume' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l session-duration -d 'Lifetime of the credentials in seconds (900 to 43200) [default: 3600]' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l role-session-name -l session-name -d 'Role session name (2 to 64 characters of letters, digits and +=,.@_-)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l pkcs11-lib -d 'PKCS#11 module to load; a URI\'s module-path wins [default: p11-kit\'s proxy module]' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l pkcs11-pin -d 'The token\'s user PIN. Shows in `ps`: prefer --pkcs11-pin-source or NEEDROLESHERE_PKCS11_PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l pkcs11-pin-source -d 'Where to read the PIN when it is needed: credential:NAME (a systemd credential, e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this, never the PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l tpm-key-password -d 'Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or NEEDROLESHERE_TPM_KEY_PASSWORD' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l tpm-key-password-source -d 'Where to read the TPM key\'s password: credential:NAME, file:PATH or env:VARIABLE' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l region -d 'Region to call. credential-process, bind and update default to the trust anchor\'s region; serve uses each binding\'s, then this, then AWS_REGION, then the trust anchor\'s' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l endpoint -d 'CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE, AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l configuration-directory -d 'Directory holding bindings/, env/ and token/; defaults to $RUNTIME_DIRECTORY' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l reuse-pin -d 'Log in again with the same PIN before each signature, for keys that ask for it (CKA_ALWAYS_AUTHENTICATE)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l no-tpm-key-password -d 'The TPM key has no password (the default when none is given; accepted for compatibility with aws_signing_helper)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l with-proxy -d 'Accepted for compatibility with aws_signing_helper; proxies are always taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l remote -d 'Also call CreateSession, to check the trust anchor, profile and role'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -l debug -d 'Log each step to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l certificate -d 'Certificate file (PEM or DER), or a pkcs11: URI; the first certificate is read' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l pkcs11-lib -d 'PKCS#11 module to load; a URI\'s module-path wins [default: p11-kit\'s proxy module]' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l pkcs11-pin -d 'The token\'s user PIN. Shows in `ps`: prefer --pkcs11-pin-source or NEEDROLESHERE_PKCS11_PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l pkcs11-pin-source -d 'Where to read the PIN when it is needed: credential:NAME (a systemd credential, e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this, never the PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l tpm-key-password -d 'Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or NEEDROLESHERE_TPM_KEY_PASSWORD' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l tpm-key-password-source -d 'Where to read the TPM key\'s password: credential:NAME, file:PATH or env:VARIABLE' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l reuse-pin -d 'Log in again with the same PIN before each signature, for keys that ask for it (CKA_ALWAYS_AUTHENTICATE)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -l no-tpm-key-password -d 'The TPM key has no password (the default when none is given; accepted for compatibility with aws_signing_helper)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand read-certificate-data" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l private-key -d 'The key: a file, a pkcs11: URI, a TPM key file or handle:0x81…' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l certificate -d 'Accepted for compatibility with aws_signing_helper; the key alone is used' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l pkcs8-password -d 'Password of an encrypted PKCS#8 key; NEEDROLESHERE_PKCS8_PASSWORD is preferred' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l pkcs11-lib -d 'PKCS#11 module to load; a URI\'s module-path wins [default: p11-kit\'s proxy module]' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l pkcs11-pin -d 'The token\'s user PIN. Shows in `ps`: prefer --pkcs11-pin-source or NEEDROLESHERE_PKCS11_PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l pkcs11-pin-source -d 'Where to read the PIN when it is needed: credential:NAME (a systemd credential, e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this, never the PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l tpm-key-password -d 'Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or NEEDROLESHERE_TPM_KEY_PASSWORD' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l tpm-key-password-source -d 'Where to read the TPM key\'s password: credential:NAME, file:PATH or env:VARIABLE' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l digest -d 'The digest to sign' -r -f -a "SHA256\t''
SHA384\t''
SHA512\t''"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l format -d 'How to print the signature: a JSON string of hex, hex, or raw bytes' -r -f -a "json\t''
text\t''
bin\t''"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l reuse-pin -d 'Log in again with the same PIN before each signature, for keys that ask for it (CKA_ALWAYS_AUTHENTICATE)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l no-tpm-key-password -d 'The TPM key has no password (the default when none is given; accepted for compatibility with aws_signing_helper)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -l debug -d 'Accepted for compatibility; nothing secret is ever printed'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand sign-string" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -l mfa-code -d 'The MFA code, when one is needed and no terminal can be asked' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -l ecs -d 'Serve the credentials to the command from a private ECS endpoint (refreshed during long runs) instead of putting them in its environment'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -l imds -d 'Serve the credentials to the command from a private IMDS endpoint instead'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -l debug -d 'Log each step to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand login" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand login" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand login" -l no-browser -d 'Do not open a browser: only print the address and the code'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand login" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand login" -l debug -d 'Log each step to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l configuration-directory -d 'Directory holding bindings/, env/ and token/; defaults to $RUNTIME_DIRECTORY' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l region -d 'Region to call. credential-process, bind and update default to the trust anchor\'s region; serve uses each binding\'s, then this, then AWS_REGION, then the trust anchor\'s' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l endpoint -d 'CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE, AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l certificate -d 'Certificate file (PEM or DER; may hold the full chain), or a pkcs11: URI of certificates in a token. Repeat for several' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l intermediates -d 'File of intermediate CA certificates, added to the chain after the certificate files' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l private-key -d 'Private key: a file (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, or a TPM\'s TSS2 key file), a pkcs11: URI, or a persistent TPM handle (handle:0x81000001). RSA, P-256 or P-384' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l pkcs8-password -d 'Password of an encrypted PKCS#8 private key; NEEDROLESHERE_PKCS8_PASSWORD in the environment is preferred (a flag shows in `ps`)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l trust-anchor-arn -d 'ARN of the trust anchor that issued the certificate' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l profile-arn -d 'ARN of the Roles Anywhere profile' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l role-arn -d 'ARN of the role to assume' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l session-duration -d 'Lifetime of the credentials in seconds (900 to 43200) [default: 3600]' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l role-session-name -l session-name -d 'Role session name (2 to 64 characters of letters, digits and +=,.@_-)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l pkcs11-lib -d 'PKCS#11 module to load; a URI\'s module-path wins [default: p11-kit\'s proxy module]' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l pkcs11-pin -d 'The token\'s user PIN. Shows in `ps`: prefer --pkcs11-pin-source or NEEDROLESHERE_PKCS11_PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l pkcs11-pin-source -d 'Where to read the PIN when it is needed: credential:NAME (a systemd credential, e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this, never the PIN' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l tpm-key-password -d 'Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or NEEDROLESHERE_TPM_KEY_PASSWORD' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l tpm-key-password-source -d 'Where to read the TPM key\'s password: credential:NAME, file:PATH or env:VARIABLE' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l listen -d 'Address to listen on when not socket-activated: IP:PORT or unix:/path. Repeatable. Serves the ECS endpoint for bindings, or IMDS for the identity given by flags' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l listen-imds -d 'IMDS endpoint for binding NAME (in imds mode): ADDR=NAME. Repeatable. A socket passed by systemd with FileDescriptorName=imds-NAME does the same' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l listen-metrics -d 'Serve Prometheus metrics (GET /metrics) on ADDR (IP:PORT or unix:/path), a listener of their own. A socket passed by systemd with FileDescriptorName=metrics does the same' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l listen-status -d 'Answer `needroleshere status` (GET /status) on the Unix socket PATH, made mode 0600. A Unix socket passed by systemd with FileDescriptorName=status does the same' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l certificate-check-interval -d 'How often the bindings\' certificates are checked for expiry (warnings at 30, 14, 7 and 1 day left)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l hop-limit -d 'IP TTL of IMDS answers (the token hop limit)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l port -d 'Port on 127.0.0.1 for the single-identity IMDS server (with the identity flags and no --listen)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l with-proxy -d 'Accepted for compatibility with aws_signing_helper; proxies are always taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l reuse-pin -d 'Log in again with the same PIN before each signature, for keys that ask for it (CKA_ALWAYS_AUTHENTICATE)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l no-tpm-key-password -d 'The TPM key has no password (the default when none is given; accepted for compatibility with aws_signing_helper)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l imds-v1 -d 'Answer IMDS requests that carry no session token (IMDSv1). Off by default'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -l debug -d 'Log every request to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -f -a "ec2" -d 'An EC2 instance metadata service (IMDSv1 and v2) for an AWS profile'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -f -a "ecs" -d 'An ECS container credentials endpoint for an AWS profile, on 127.0.0.1:12319'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and not __fish_seen_subcommand_from ec2 ecs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -s p -l port -d 'Port on 127.0.0.1 (ecs: 12319 by default; ec2: 169.254.169.254:80 without it)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l mock-metadata-config -d 'Serve the profiles of an aws-mock-metadata configuration file (its `config` or `server.conf`) instead of ~/.aws: read by default when ~/.aws-mock-metadata/config exists. Its [metadata] host and port (default 169.254.169.254:45000) are where ec2 listens without -p; ecs listens on 127.0.0.1 at its port' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l token-file -d '(ecs) Where the Authorization token is kept across restarts [default: $XDG_RUNTIME_DIR/needroleshere/ecs-token, else ~/.config/needroleshere/ecs-token]. It must be a regular file of yours with mode 0600; it is made so when missing' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l new-token -d '(ecs) Make a new Authorization token instead of reusing the kept one'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l allow-other-users -d 'Serve every local user. By default only the user running the server (and root) is answered: other users\' connections get 403, since IMDS has no token and the management API switches the profile everyone gets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -l debug -d 'Log each step to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ec2" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -s p -l port -d 'Port on 127.0.0.1 (ecs: 12319 by default; ec2: 169.254.169.254:80 without it)' -r
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l mock-metadata-config -d 'Serve the profiles of an aws-mock-metadata configuration file (its `config` or `server.conf`) instead of ~/.aws: read by default when ~/.aws-mock-metadata/config exists. Its [metadata] host and port (default 169.254.169.254:45000) are where ec2 listens without -p; ecs listens on 127.0.0.1 at its port' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l token-file -d '(ecs) Where the Authorization token is kept across restarts [default: $XDG_RUNTIME_DIR/needroleshere/ecs-token, else ~/.config/needroleshere/ecs-token]. It must be a regular file of yours with mode 0600; it is made so when missing' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l ca-bundle -d 'Extra trust roots (PEM) for the endpoint\'s TLS certificate; defaults to AWS_CA_BUNDLE' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l new-token -d '(ecs) Make a new Authorization token instead of reusing the kept one'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l allow-other-users -d 'Serve every local user. By default only the user running the server (and root) is answered: other users\' connections get 403, since IMDS has no token and the management API switches the profile everyone gets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l no-verify-ssl -d 'Do not verify the endpoint\'s TLS certificate. Dangerous: for testing only'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -l debug -d 'Log each step to stderr; never logs secrets'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from ecs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from help" -f -a "ec2" -d 'An EC2 instance metadata service (IMDSv1 and v2) for an AWS profile'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from help" -f -a "ecs" -d 'An ECS container credentials endpoint for an AWS profile, on 127.0.0.1:12319'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand serve; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand status" -l configuration-directory -d 'Directory holding bindings/, env/ and token/; defaults to $RUNTIME_DIRECTORY' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand status" -l status-socket -d 'serve\'s status socket (serve --listen-status, or the socket named status)' -r -F
complete -c needroleshere -n "__fish_needroleshere_using_subcommand status" -l log-format -d 'Log line format on stderr' -r -f -a "text\t'Human-readable lines (with syslog priorities under journald)'
json\t'One JSON object per line'"
complete -c needroleshere -n "__fish_needroleshere_using_subcommand status" -l json -d 'Print the report as JSON'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "credential-process" -d 'Print credentials for a role as `credential_process` JSON (for ~/.aws/config)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "bind" -d 'Create or replace a role binding served by `serve` (run before the consuming service)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "unbind" -d 'Remove a role binding and its env and token files. Succeeds when already gone'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "update" -d 'Write credentials into a profile of the shared credentials file, and keep them fresh'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "check" -d 'Check a binding or an identity locally, and with --remote against IAM Roles Anywhere'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "read-certificate-data" -d 'Print the first certificate of a file as the official helper does (JSON with the key type, the base64 DER and the decimal serial number)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "sign-string" -d 'Sign the official helper\'s fixed test string with a key, to prove it can sign'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "exec" -d 'Run a command with an AWS profile\'s credentials and region in its environment'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "login" -d 'Sign an AWS profile in to its identity provider from this terminal'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "serve" -d 'Serve credentials for role bindings over the ECS container credentials protocol'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "status" -d 'Show every binding, its certificate and, from a running serve, its credentials'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and not __fish_seen_subcommand_from credential-process bind unbind update check read-certificate-data sign-string exec login serve status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and __fish_seen_subcommand_from serve" -f -a "ec2" -d 'An EC2 instance metadata service (IMDSv1 and v2) for an AWS profile'
complete -c needroleshere -n "__fish_needroleshere_using_subcommand help; and __fish_seen_subcommand_from serve" -f -a "ecs" -d 'An ECS container credentials endpoint for an AWS profile, on 127.0.0.1:12319'
