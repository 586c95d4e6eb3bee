#!/usr/bin/env bash
# SimpleSAMLphp for the SAML tests: a second real identity provider, different from Keycloak
# (tests/saml_simplesamlphp.rs). Debian's package (bookworm: 1.19.x), run by PHP's built-in
# server on loopback (no Apache, though the package pulls it in: it is never started), with a
# configuration of its own under STATE_DIR (SIMPLESAMLPHP_CONFIG_DIR; /etc/simplesamlphp is
# never read or changed):
#   * the IdP (saml20-idp-hosted), signing with a key and certificate made for this run;
#   * users from exampleauth:UserPass, each with the AWS attributes (URI names): dave with two
#     roles, erin with one (account 123456789012, provider saml-provider/simplesamlphp);
#   * AWS as the service provider (urn:amazon:webservices, ACS
#     https://signin.aws.amazon.com/saml, transient NameID), signed in IdP-first at
#     /saml2/idp/SSOService.php?spentityid=urn:amazon:webservices.
#
# Usage:
#   scripts/simplesamlphp.sh install          apt-get installs simplesamlphp and the PHP it
#                                             needs (once); prints its version
#   scripts/simplesamlphp.sh start STATE_DIR  writes the configuration, starts `php -S` on
#                                             127.0.0.1 (port SIMPLESAMLPHP_PORT, else a free
#                                             one) with its log and pid under STATE_DIR, waits
#                                             until the IdP's metadata answers, prints
#                                             http://127.0.0.1:PORT. With
#                                             SIMPLESAMLPHP_PARENT_PID, a watchdog ends it when
#                                             that process is gone (and removes STATE_DIR if
#                                             SIMPLESAMLPHP_REMOVE_STATE=1).
#   scripts/simplesamlphp.sh stop STATE_DIR   stops the one `start` left in STATE_DIR
#   scripts/simplesamlphp.sh wait URL [STATE_DIR]
#                                             waits until that one is ready (or its `start`
#                                             failed)
#
# scripts/test.sh starts one for the whole test command and exports
# NEEDROLESHERE_TEST_SIMPLESAMLPHP; tests/common/simplesamlphp.rs uses it, or runs `start`.
set -euo pipefail
# shellcheck source=scripts/lib/service.sh
. "$(dirname "$0")/lib/service.sh"
SERVICE_NAME=SimpleSAMLphp SERVICE_ID=simplesamlphp SERVICE_LOG=php.log SERVICE_POLL=0.2
SERVICE_PROBE=/saml2/idp/metadata.php
SERVICE_TIMEOUT=${SIMPLESAMLPHP_START_TIMEOUT:-120}
SERVICE_COMMANDS=install

SSP=/usr/share/simplesamlphp
# The users (tests/common/simplesamlphp.rs has the same).
ACCOUNT=123456789012
PROVIDER_ARN=arn:aws:iam::$ACCOUNT:saml-provider/simplesamlphp

install() {
  # The modules are read whole (grep -q would end the pipe early: pipefail then fails it).
  local modules=
  command -v php >/dev/null && modules=$(php -m)
  if ! [ -f "$SSP/www/saml2/idp/SSOService.php" ] || ! grep -qx dom <<<"$modules" \
    || ! grep -qx mbstring <<<"$modules"; then
    echo "==> apt-get install simplesamlphp php-cli php-xml php-mbstring" >&2
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    # The package depends on a web server (Apache, by default): installed, never started. A
    # policy-rc.d that refuses every start keeps its postinst from taking port 80 (only for
    # this install, and only when the machine has no policy of its own).
    local policy=/usr/sbin/policy-rc.d added=
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
      $sudo chmod 755 "$policy"
      added=1
    fi
    local status=0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      simplesamlphp php-cli php-xml php-mbstring >&2 || status=$?
    [ -z "$added" ] || $sudo rm -f "$policy"
    [ "$status" -eq 0 ] || exit "$status"
  fi
  dpkg-query -W -f='simplesamlphp ${Version}\n' simplesamlphp
}

# A PHP string literal of $1 (single-quoted; the values here hold no quote or backslash).
php_str() {
  case $1 in *"'"* | *'\'*) echo "php_str: unexpected quote in $1" >&2; exit 1 ;; esac
  printf "'%s'" "$1"
}

role() {
  printf "'arn:aws:iam::%s:role/%s,%s'" "$ACCOUNT" "$1" "$PROVIDER_ARN"
}

write_config() {
  local state=$1 url=$2
  mkdir -p "$state/config" "$state/metadata" "$state/cert" "$state/tmp" "$state/log" \
    "$state/data" "$state/sessions" || return 1
  # The IdP's signing key: RSA 2048, self-signed, made for this run.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=simplesamlphp-test-idp" \
    -keyout "$state/cert/idp.key" -out "$state/cert/idp.crt" 2>/dev/null || return 1
  local salt admin
  salt=$(openssl rand -hex 24)
  admin=$(openssl rand -hex 12)
  cat >"$state/config/config.php" <<EOF
<?php
\$config = [
    'baseurlpath' => $(php_str "$url/"),
    'certdir' => $(php_str "$state/cert/"),
    'loggingdir' => $(php_str "$state/log/"),
    'datadir' => $(php_str "$state/data/"),
    'tempdir' => $(php_str "$state/tmp"),
    'metadatadir' => $(php_str "$state/metadata/"),
    'metadata.sources' => [['type' => 'flatfile', 'directory' => $(php_str "$state/metadata")]],
    'secretsalt' => $(php_str "$salt"),
    'auth.adminpassword' => $(php_str "$admin"),
    'admin.protectindexpage' => true,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'technicalcontact_name' => 'needroleshere tests',
    'technicalcontact_email' => 'tests@example.invalid',
    'timezone' => 'UTC',
    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'showerrors' => true,
    'errorreporting' => false,
    'logging.level' => SimpleSAML\Logger::INFO,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'statistics.out' => [],
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => $(php_str "$state/sessions"),
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,
    'production' => true,
];
EOF
  cat >"$state/config/authsources.php" <<EOF
<?php
\$config = [
    'admin' => ['core:AdminPassword'],
    'aws-users' => [
        'exampleauth:UserPass',
        'dave:dave-Password-1' => [
            'uid' => ['dave'],
            'https://aws.amazon.com/SAML/Attributes/Role' => [$(role simplesamlphp-admin), $(role simplesamlphp-readonly)],
            'https://aws.amazon.com/SAML/Attributes/RoleSessionName' => ['dave'],
            'https://aws.amazon.com/SAML/Attributes/SessionDuration' => ['3600'],
        ],
        'erin:erin-Password-1' => [
            'uid' => ['erin'],
            'https://aws.amazon.com/SAML/Attributes/Role' => [$(role simplesamlphp-readonly)],
            'https://aws.amazon.com/SAML/Attributes/RoleSessionName' => ['erin'],
            'https://aws.amazon.com/SAML/Attributes/SessionDuration' => ['1800'],
        ],
    ],
];
EOF
  cat >"$state/metadata/saml20-idp-hosted.php" <<EOF
<?php
\$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'aws-users',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
];
EOF
  cat >"$state/metadata/saml20-sp-remote.php" <<'EOF'
<?php
$metadata['urn:amazon:webservices'] = [
    'AssertionConsumerService' => 'https://signin.aws.amazon.com/saml',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
    'attributes' => [
        'https://aws.amazon.com/SAML/Attributes/Role',
        'https://aws.amazon.com/SAML/Attributes/RoleSessionName',
        'https://aws.amazon.com/SAML/Attributes/SessionDuration',
    ],
    'saml20.sign.assertion' => true,
    'saml20.sign.response' => true,
];
EOF
}

start() {
  local state=$1
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  install >/dev/null || service_fail "$state" "SimpleSAMLphp could not be installed"
  local port=${SIMPLESAMLPHP_PORT:-$(free_port)}
  local url=http://127.0.0.1:$port
  echo "$url" >"$state/url"
  write_config "$state" "$url" || service_fail "$state" "could not write SimpleSAMLphp's configuration"
  # PHP's built-in server, loopback only, serving the package's www/ (so /saml2/idp/... and
  # /module.php/... are its scripts). A few workers: a sign-in's requests overlap little, but
  # tests run in parallel.
  service_start "$state" "$url" "${SIMPLESAMLPHP_PARENT_PID:-}" "${SIMPLESAMLPHP_REMOVE_STATE:-0}" \
    env SIMPLESAMLPHP_CONFIG_DIR="$state/config" PHP_CLI_SERVER_WORKERS=4 \
    php -S "127.0.0.1:$port" -t "$SSP/www" \
    || service_fail "$state" "SimpleSAMLphp did not start (log: $state/php.log, $state/log/simplesamlphp.log)"
  echo "$url"
}

service_main "$@"
