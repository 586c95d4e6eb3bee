#!/usr/bin/env bash
# Generate a throwaway test PKI for needroleshere's tests.
#
# Usage: bash tests/pki/generate.sh OUTDIR
#
# Needs only the openssl CLI (tested with OpenSSL 3.0). Every run creates new
# keys and certificates (OUTDIR is created if missing; files of the same name
# are overwritten). Certificates get validity periods relative to "now",
# except expired.cert.pem (2020-01-01 .. 2021-01-01) and not-yet-valid.cert.pem
# (2099-01-01 .. 2100-01-01).
#
# Everything produced here is for tests only: the private keys are not
# protected by anything and must never be trusted for anything else.
#
# Files written to OUTDIR:
#   root-ca.{pem,key}             self-signed root CA (P-256)
#   intermediate-ca.{pem,key}     CA signed by the root, pathlen:0 (P-256)
#   For TYPE in rsa2048 rsa4096 p256 p384 (leaf CN=TYPE-leaf, issued by the
#   intermediate):
#     TYPE.cert.pem               the leaf certificate alone
#     TYPE.fullchain.pem          leaf + intermediate, each preceded by the
#                                 "Bag Attributes"/subject=/issuer= lines that
#                                 `openssl pkcs12 -nokeys` prints, and two
#                                 trailing blank lines
#     TYPE.reversed-chain.pem     intermediate, then leaf
#     TYPE.pkcs1.key              (RSA) "RSA PRIVATE KEY"
#     TYPE.sec1.key               (EC)  "EC PRIVATE KEY", named curve
#     TYPE.sec1-params.key        (EC)  "EC PARAMETERS" + "EC PRIVATE KEY"
#     TYPE.pkcs8.key              "PRIVATE KEY"
#     TYPE.pkcs8-encrypted.key    "ENCRYPTED PRIVATE KEY", PBES2 / PBKDF2
#                                 (HMAC-SHA256) / AES-256-CBC, password
#                                 "correct horse battery staple"
#   expired.cert.pem, expired.key               P-256, 2020-01-01..2021-01-01
#   not-yet-valid.cert.pem, not-yet-valid.key   P-256, 2099-01-01..2100-01-01
#   untrusted-root-ca.{pem,key}   a second, unrelated root CA (P-256)
#   untrusted.cert.pem, untrusted.key           P-256 leaf issued by it
#   ed25519.{key,cert.pem}, p521.{key,cert.pem}, rsa1024.{key,cert.pem}
#                                 leaves with unsupported key types (PKCS#8
#                                 keys), issued by the intermediate
#   tls-ca.{pem,key}              separate root CA for a fake AWS endpoint
#   tls-server.pem, tls-server.key  TLS server leaf (P-256, PKCS#8) with SANs
#                                 rolesanywhere.us-east-1.amazonaws.com,
#                                 sts.us-east-1.amazonaws.com,
#                                 oidc.us-east-1.amazonaws.com,
#                                 portal.sso.us-east-1.amazonaws.com, localhost,
#                                 127.0.0.1
#
# All *.key files are mode 0600, all *.pem files 0644.

set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

out=$1
mkdir -p -- "$out"
out=$(cd -- "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/needroleshere-pki.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
log=$work/openssl.log

umask 077

readonly PASSWORD='correct horse battery staple'

# Run openssl quietly; on failure show what it said and stop.
ossl() {
    if ! openssl "$@" >"$log" 2>&1; then
        echo "generate.sh: openssl $* failed:" >&2
        cat -- "$log" >&2
        exit 1
    fi
}

# A random positive serial number of exactly 16 bytes, as hex: the top bit of
# the first byte is cleared (so the DER INTEGER is positive without a leading
# zero byte) and the next bit set (so it is never shorter than 16 bytes).
rand_serial() {
    local hex
    hex=$(openssl rand -hex 16)
    printf '%02X%s\n' $(((0x${hex:0:2} & 0x7f) | 0x40)) "${hex:2}"
}

# ---------------------------------------------------------------------------
# Configuration (written to the scratch directory so that the system's
# openssl.cnf does not matter).

cat >"$work/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
prompt             = no
utf8               = yes
string_mask        = utf8only

[ req_dn ]
CN = placeholder

[ v3_root ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_intermediate ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_tls_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = DNS:rolesanywhere.us-east-1.amazonaws.com, DNS:sts.us-east-1.amazonaws.com, DNS:oidc.us-east-1.amazonaws.com, DNS:portal.sso.us-east-1.amazonaws.com, DNS:localhost, IP:127.0.0.1

# Used only by `openssl ca` for the certificates with fixed dates.
[ ca ]
default_ca = fixed_dates_ca

[ fixed_dates_ca ]
dir             = WORKDIR/ca
database        = $dir/index.txt
serial          = $dir/serial
new_certs_dir   = $dir/newcerts
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
email_in_dn     = no

[ policy_any ]
commonName = supplied
EOF
sed -i "s|WORKDIR|$work|" "$work/openssl.cnf"
cnf=$work/openssl.cnf

mkdir -p "$work/ca/newcerts"

# ---------------------------------------------------------------------------
# Key generation helpers. Each writes PKCS#8 (unencrypted) to the given path.

gen_ec_pkcs8() { # curve out
    ossl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$1" \
        -pkeyopt ec_param_enc:named_curve -out "$2"
}

gen_rsa_pkcs8() { # bits out
    ossl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$1" -out "$2"
}

# ---------------------------------------------------------------------------
# Certificate helpers.

self_signed_ca() { # key cn out
    ossl req -config "$cnf" -new -x509 -sha256 -key "$1" -subj "/CN=$2" \
        -days 3650 -set_serial "0x$(rand_serial)" -extensions v3_root -out "$3"
}

# Issue a certificate for the key $1 with subject CN=$2, signed by CA cert $3
# and key $4, with extension section $5, valid for $6 days from now.
issue() { # key cn ca-cert ca-key section days out
    local csr=$work/req.csr
    ossl req -config "$cnf" -new -sha256 -key "$1" -subj "/CN=$2" -out "$csr"
    ossl x509 -req -in "$csr" -CA "$3" -CAkey "$4" -sha256 \
        -set_serial "0x$(rand_serial)" -days "$6" \
        -extfile "$cnf" -extensions "$5" -out "$7"
}

# Like issue, but with fixed dates (YYYYMMDDHHMMSSZ), using `openssl ca`
# because `openssl x509 -req` in OpenSSL 3.0 cannot set notBefore.
issue_fixed_dates() { # key cn ca-cert ca-key startdate enddate out
    local csr=$work/req.csr
    ossl req -config "$cnf" -new -sha256 -key "$1" -subj "/CN=$2" -out "$csr"
    : >"$work/ca/index.txt"
    rand_serial >"$work/ca/serial"
    ossl ca -config "$cnf" -batch -notext -in "$csr" -cert "$3" -keyfile "$4" \
        -startdate "$5" -enddate "$6" -extfile "$cnf" -extensions v3_leaf \
        -out "$7"
}

# ---------------------------------------------------------------------------
# Root and intermediate.

gen_ec_pkcs8 P-256 "$out/root-ca.key"
self_signed_ca "$out/root-ca.key" "needroleshere Test Root CA" "$out/root-ca.pem"

gen_ec_pkcs8 P-256 "$out/intermediate-ca.key"
issue "$out/intermediate-ca.key" "needroleshere Test Intermediate CA" \
    "$out/root-ca.pem" "$out/root-ca.key" v3_intermediate 3650 \
    "$out/intermediate-ca.pem"

ica=$out/intermediate-ca.pem
ica_key=$out/intermediate-ca.key

# ---------------------------------------------------------------------------
# Supported leaves in every key encoding.

for type in rsa2048 rsa4096 p256 p384; do
    pkcs8=$out/$type.pkcs8.key
    case $type in
    rsa*)
        gen_rsa_pkcs8 "${type#rsa}" "$pkcs8"
        ossl rsa -in "$pkcs8" -traditional -out "$out/$type.pkcs1.key"
        ;;
    p256 | p384)
        if [[ $type == p256 ]]; then curve=prime256v1; else curve=secp384r1; fi
        ossl ecparam -name "$curve" -genkey -noout -out "$out/$type.sec1.key"
        ossl ecparam -name "$curve" -out "$work/params.pem"
        cat "$work/params.pem" "$out/$type.sec1.key" >"$out/$type.sec1-params.key"
        ossl pkcs8 -topk8 -nocrypt -in "$out/$type.sec1.key" -out "$pkcs8"
        ;;
    esac
    ossl pkcs8 -topk8 -in "$pkcs8" -v2 aes-256-cbc -v2prf hmacWithSHA256 \
        -passout "pass:$PASSWORD" -out "$out/$type.pkcs8-encrypted.key"

    cert=$out/$type.cert.pem
    issue "$pkcs8" "$type-leaf" "$ica" "$ica_key" v3_leaf 365 "$cert"

    cat "$ica" "$cert" >"$out/$type.reversed-chain.pem"

    # Round-trip through PKCS#12 so that the chain carries the text lines
    # `openssl pkcs12 -nokeys` puts before each certificate.
    ossl pkcs12 -export -in "$cert" -inkey "$pkcs8" -certfile "$ica" \
        -name "$type-leaf" -passout pass:test -out "$work/bundle.p12"
    ossl pkcs12 -in "$work/bundle.p12" -nokeys -passin pass:test \
        -out "$out/$type.fullchain.pem"
    printf '\n\n' >>"$out/$type.fullchain.pem"
done

# ---------------------------------------------------------------------------
# Leaves with fixed validity periods.

gen_ec_pkcs8 P-256 "$out/expired.key"
issue_fixed_dates "$out/expired.key" expired-leaf "$ica" "$ica_key" \
    20200101000000Z 20210101000000Z "$out/expired.cert.pem"

gen_ec_pkcs8 P-256 "$out/not-yet-valid.key"
issue_fixed_dates "$out/not-yet-valid.key" not-yet-valid-leaf "$ica" "$ica_key" \
    20990101000000Z 21000101000000Z "$out/not-yet-valid.cert.pem"

# ---------------------------------------------------------------------------
# An unrelated root and a leaf issued by it.

gen_ec_pkcs8 P-256 "$out/untrusted-root-ca.key"
self_signed_ca "$out/untrusted-root-ca.key" "needroleshere Untrusted Root CA" \
    "$out/untrusted-root-ca.pem"
gen_ec_pkcs8 P-256 "$out/untrusted.key"
issue "$out/untrusted.key" untrusted-leaf "$out/untrusted-root-ca.pem" \
    "$out/untrusted-root-ca.key" v3_leaf 365 "$out/untrusted.cert.pem"

# ---------------------------------------------------------------------------
# Leaves with key types the signer does not support.

ossl genpkey -algorithm ED25519 -out "$out/ed25519.key"
gen_ec_pkcs8 P-521 "$out/p521.key"
gen_rsa_pkcs8 1024 "$out/rsa1024.key"
for type in ed25519 p521 rsa1024; do
    issue "$out/$type.key" "$type-leaf" "$ica" "$ica_key" v3_leaf 365 \
        "$out/$type.cert.pem"
done

# ---------------------------------------------------------------------------
# TLS for a fake AWS endpoint.

gen_ec_pkcs8 P-256 "$out/tls-ca.key"
self_signed_ca "$out/tls-ca.key" "needroleshere Test TLS CA" "$out/tls-ca.pem"
gen_ec_pkcs8 P-256 "$out/tls-server.key"
issue "$out/tls-server.key" rolesanywhere.us-east-1.amazonaws.com \
    "$out/tls-ca.pem" "$out/tls-ca.key" v3_tls_server 365 "$out/tls-server.pem"

# ---------------------------------------------------------------------------

chmod 0600 "$out"/*.key
chmod 0644 "$out"/*.pem

echo "generated test PKI in $out"
