#!/usr/bin/env python3
"""Generate the AWS4-X509 request-signing test vectors in tests/vectors/.

Run from anywhere (it finds its own directory):

    python3 tests/vectors/generate.py          # rewrite the vectors
    python3 tests/vectors/generate.py --check  # fail if they differ (CI)

It reads the fixed test certificates and keys in tests/vectors/pki/ and
rewrites one tests/vectors/NAME.json per vector (and removes *.json files
that no vector produces any more). Output is deterministic for RSA keys, so
running it again without changing anything leaves the RSA vectors unchanged.
ECDSA signatures are randomized, so ECDSA vectors record everything except the
signature itself; the generator still signs and verifies once to prove the
process works with that key.

This is an implementation of the AWS IAM Roles Anywhere (AWS4-X509) signing
process that is deliberately independent of the Rust code in src/: it was
written from the written description of the process, uses only the Python
standard library, and does the cryptography with the openssl command line
tool. The Rust tests compare the Rust signer against these files, so a bug
would have to be made twice, the same way, in two languages to go unnoticed.

Requirements: Python 3.8+ and an `openssl` binary on PATH (1.1.1 or 3.x).
"""

import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

SERVICE = "rolesanywhere"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# A time inside the validity period of the leaf certificates in pki/.
DEFAULT_TIME = "2027-01-02T03:04:05Z"
DEFAULT_REGION = "us-east-1"
DEFAULT_HOST = "rolesanywhere.us-east-1.amazonaws.com"
JSON_HEADERS = [["Content-Type", "application/json"]]

ACCOUNT = "123456789012"
PROFILE_ARN = (
    "arn:aws:rolesanywhere:us-east-1:" + ACCOUNT
    + ":profile/3a8c2f1e-5b7d-4e09-9c61-0d2b4f6a8e13"
)
ROLE_ARN = "arn:aws:iam::" + ACCOUNT + ":role/needroleshere-test"
TRUST_ANCHOR_ARN = (
    "arn:aws:rolesanywhere:us-east-1:" + ACCOUNT
    + ":trust-anchor/9e4d7c2b-1a3f-4b58-8d06-7f5e3c1b2a90"
)

# ---------------------------------------------------------------------------
# openssl helpers


def openssl(*args, data=None):
    """Run openssl with the given arguments and return its stdout (bytes)."""
    proc = subprocess.run(
        ["openssl", *args],
        input=data,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(
            "openssl %s failed (exit %d):\n%s"
            % (" ".join(args), proc.returncode, proc.stderr.decode(errors="replace"))
        )
    return proc.stdout


def fixture(rel):
    path = os.path.join(HERE, rel)
    if not os.path.isfile(path):
        sys.exit("missing fixture: " + path)
    return path


def cert_der(rel):
    """DER bytes of the (first) certificate in a PEM file."""
    der = openssl("x509", "-in", fixture(rel), "-outform", "DER")
    # Cross-check against a plain PEM decode: the signer must send the bytes
    # that are in the file, not a re-encoding.
    with open(fixture(rel), "rb") as f:
        text = f.read().decode("ascii")
    begin = "-----BEGIN CERTIFICATE-----"
    end = "-----END CERTIFICATE-----"
    body = text[text.index(begin) + len(begin):text.index(end)]
    if base64.b64decode("".join(body.split())) != der:
        sys.exit("DER from openssl differs from the PEM contents of " + rel)
    return der


def cert_serial_decimal(rel):
    out = openssl("x509", "-in", fixture(rel), "-noout", "-serial").decode()
    name, _, value = out.strip().partition("=")
    if name.lower() != "serial":
        sys.exit("unexpected serial output: " + out)
    return str(int(value, 16))


def key_algorithm(rel):
    """'RSA' or 'EC' for a private key file, asked of openssl."""
    text = openssl("pkey", "-in", fixture(rel), "-noout", "-text").decode()
    if "\nmodulus:" in text and "publicExponent:" in text:
        return "RSA"
    if "\nASN1 OID: " in text:
        return "EC"
    sys.exit("unsupported key type in %s: %s" % (rel, text.splitlines()[0]))


def sign_sha256(key_rel, data):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data")
        with open(path, "wb") as f:
            f.write(data)
        return openssl("dgst", "-sha256", "-sign", fixture(key_rel), path)


def verify_sha256(cert_rel, data, signature):
    with tempfile.TemporaryDirectory() as tmp:
        pub = os.path.join(tmp, "pub.pem")
        sig = os.path.join(tmp, "sig.bin")
        dat = os.path.join(tmp, "data")
        with open(pub, "wb") as f:
            f.write(openssl("x509", "-in", fixture(cert_rel), "-noout", "-pubkey"))
        with open(sig, "wb") as f:
            f.write(signature)
        with open(dat, "wb") as f:
            f.write(data)
        out = openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, dat)
        if out.strip() != b"Verified OK":
            sys.exit("signature did not verify: " + out.decode(errors="replace"))


# ---------------------------------------------------------------------------
# The signing process


UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
)


def uri_encode(text):
    """RFC 3986 percent-encoding of the UTF-8 bytes; uppercase hex."""
    out = []
    for byte in text.encode("utf-8"):
        if byte in UNRESERVED:
            out.append(chr(byte))
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def canonical_uri(path):
    if path == "":
        return "/"
    return "/".join(uri_encode(segment) for segment in path.split("/"))


def canonical_query(pairs):
    encoded = sorted((uri_encode(k), uri_encode(v)) for k, v in pairs)
    return "&".join(k + "=" + v for k, v in encoded)


def canonical_header_value(value):
    # Trim, and collapse each internal run of whitespace to one space.
    return " ".join(value.split())


def sign(vector):
    req = vector["request"]
    when = datetime.datetime.strptime(vector["time"], TIME_FORMAT)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope = "%s/%s/%s/aws4_request" % (
        when.strftime("%Y%m%d"),
        vector["region"],
        SERVICE,
    )

    leaf_der = cert_der(vector["certificate"])
    x509 = base64.b64encode(leaf_der).decode("ascii")
    chain = None
    if vector["chain"]:
        chain = ",".join(
            base64.b64encode(cert_der(c)).decode("ascii") for c in vector["chain"]
        )

    key_type = key_algorithm(vector["private_key"])
    algorithm = {"RSA": "AWS4-X509-RSA-SHA256", "EC": "AWS4-X509-ECDSA-SHA256"}[
        key_type
    ]

    headers = [(name, value) for name, value in req["headers"]]
    headers.append(("Host", req["host"]))
    headers.append(("X-Amz-Date", amz_date))
    headers.append(("X-Amz-X509", x509))
    if chain is not None:
        headers.append(("X-Amz-X509-Chain", chain))

    canonical = {}
    for name, value in headers:
        lname = name.lower()
        if lname in canonical:
            sys.exit("%s: duplicate header %s" % (vector["name"], lname))
        canonical[lname] = canonical_header_value(value)
    names = sorted(canonical)
    canonical_headers = "".join("%s:%s\n" % (n, canonical[n]) for n in names)
    signed_headers = ";".join(names)

    body = req["body"].encode("utf-8")
    canonical_request = "\n".join(
        [
            req["method"],
            canonical_uri(req["path"]),
            canonical_query(req["query"]),
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    string_to_sign = "\n".join(
        [
            algorithm,
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )

    signature_bytes = sign_sha256(vector["private_key"], string_to_sign.encode("utf-8"))
    verify_sha256(vector["certificate"], string_to_sign.encode("utf-8"), signature_bytes)

    prefix = "%s Credential=%s/%s, SignedHeaders=%s, Signature=" % (
        algorithm,
        cert_serial_decimal(vector["certificate"]),
        scope,
        signed_headers,
    )
    if key_type == "RSA":
        # PKCS#1 v1.5 is deterministic: a second signature must be identical.
        again = sign_sha256(vector["private_key"], string_to_sign.encode("utf-8"))
        if again != signature_bytes:
            sys.exit("%s: RSA signature is not deterministic" % vector["name"])
        signature = signature_bytes.hex()
        authorization = prefix + signature
    else:
        signature = None
        authorization = None

    return {
        "algorithm": algorithm,
        "x_amz_date": amz_date,
        "x_amz_x509": x509,
        "x_amz_x509_chain": chain,
        "signed_headers": signed_headers,
        "canonical_request": canonical_request,
        "string_to_sign": string_to_sign,
        "signature": signature,
        "authorization": authorization,
        "authorization_prefix": prefix,
    }


# ---------------------------------------------------------------------------
# The vectors


def vector(
    name,
    description,
    cert,
    key,
    chain=("pki/intermediate-ca.pem",),
    region=DEFAULT_REGION,
    time=DEFAULT_TIME,
    method="POST",
    host=DEFAULT_HOST,
    path="/sessions",
    query=(),
    headers=JSON_HEADERS,
    body='{"durationSeconds":3600}',
):
    return {
        "name": name,
        "description": description,
        "certificate": cert,
        "chain": list(chain),
        "private_key": key,
        "region": region,
        "time": time,
        "request": {
            "method": method,
            "host": host,
            "path": path,
            "query": [list(p) for p in query],
            "headers": [list(h) for h in headers],
            "body": body,
        },
    }


CREATE_SESSION_QUERY = [
    ["profileArn", PROFILE_ARN],
    ["roleArn", ROLE_ARN],
    ["trustAnchorArn", TRUST_ANCHOR_ARN],
]

CREATE_SESSION_BODY = json.dumps(
    {
        "durationSeconds": 3600,
        "profileArn": PROFILE_ARN,
        "roleArn": ROLE_ARN,
        "trustAnchorArn": TRUST_ANCHOR_ARN,
        "roleSessionName": "needroleshere-test-session",
    },
    separators=(",", ":"),
)

VECTORS = [
    vector(
        "rsa2048-basic",
        "RSA 2048 leaf (PKCS#1 key) with the intermediate as chain, no query.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
    ),
    vector(
        "rsa2048-no-chain",
        "RSA 2048 leaf without chain certificates, so no X-Amz-X509-Chain header is sent or signed.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        chain=(),
    ),
    vector(
        "rsa2048-two-chain",
        "RSA 2048 leaf with a chain of two certificates (intermediate, then root), comma-separated in order.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        chain=("pki/intermediate-ca.pem", "pki/root-ca.pem"),
    ),
    vector(
        "rsa2048-pkcs8-key",
        "Same request, certificate and key as rsa2048-basic, with the key read from PKCS#8; the signature must be identical.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs8.key",
    ),
    vector(
        "rsa4096-basic",
        "RSA 4096 leaf (PKCS#1 key) with the intermediate as chain.",
        "pki/rsa4096.cert.pem",
        "pki/rsa4096.pkcs1.key",
    ),
    vector(
        "rsa4096-pkcs8-key",
        "Same as rsa4096-basic with the key read from PKCS#8; the signature must be identical.",
        "pki/rsa4096.cert.pem",
        "pki/rsa4096.pkcs8.key",
    ),
    vector(
        "p256-basic",
        "P-256 leaf (SEC1 key) with the intermediate as chain; ECDSA with SHA-256.",
        "pki/p256.cert.pem",
        "pki/p256.sec1.key",
    ),
    vector(
        "p256-pkcs8-key",
        "Same as p256-basic with the key read from PKCS#8; everything but the randomized signature must be identical.",
        "pki/p256.cert.pem",
        "pki/p256.pkcs8.key",
    ),
    vector(
        "p384-basic",
        "P-384 leaf (SEC1 key) with the intermediate as chain; ECDSA over a SHA-256 digest, not SHA-384.",
        "pki/p384.cert.pem",
        "pki/p384.sec1.key",
    ),
    vector(
        "p384-pkcs8-key",
        "Same as p384-basic with the key read from PKCS#8.",
        "pki/p384.cert.pem",
        "pki/p384.pkcs8.key",
    ),
    vector(
        "rsa2048-query-encoding",
        "Query parameters needing RFC 3986 encoding, a repeated key sorted by value, keys whose order changes once encoded, and a key that is a prefix of another.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        query=[
            # ':' and '/' must be encoded.
            ["profileArn", PROFILE_ARN],
            ["roleArn", ROLE_ARN],
            # A space is %20 (never '+'), in keys and values.
            ["space key", "a b"],
            # Unreserved characters stay as they are.
            ["tilde~", "~unreserved-_.~"],
            # Non-ASCII: UTF-8 bytes, uppercase hex.
            ["unicode", "caf\u00e9 \u2713"],
            # A repeated key: sorted by encoded value ("a%2Bb" < "b").
            ["dup", "b"],
            ["dup", "a+b"],
            # Raw "aa" < "a|b", but encoded "a%7Cb" < "aa".
            ["aa", "1"],
            ["a|b", "2"],
            # Sorting (key, value) pairs puts "k" before "k-2"; sorting the
            # joined "k=v" strings would not ('-' < '=').
            ["k-2", "a"],
            ["k", "z"],
            # Reserved characters in a value, and an empty value.
            ["eq", "a=b&c;d,e*f'g(h)!%"],
            ["empty", ""],
        ],
    ),
    vector(
        "rsa2048-header-whitespace",
        "An extra header with a mixed-case name and a value with leading, trailing and repeated internal spaces, which are trimmed and collapsed.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        headers=[
            ["Content-Type", "application/json"],
            ["X-Custom-MixedCase", "  a   b  "],
        ],
    ),
    vector(
        "rsa2048-port",
        "A host with an explicit non-default port, which is part of the signed Host header.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        host="127.0.0.1:8443",
    ),
    vector(
        "rsa2048-other-region",
        "Region eu-west-2, which appears in the credential scope.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        region="eu-west-2",
        host="rolesanywhere.eu-west-2.amazonaws.com",
    ),
    vector(
        "rsa2048-get-empty-body",
        "A GET with no caller headers, a multi-segment path and an empty body.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        method="GET",
        path="/a/b-c_d.e~f/",
        headers=[],
        body="",
    ),
    vector(
        "rsa2048-create-session",
        "A CreateSession-shaped request: the ARNs as query parameters and a JSON body with durationSeconds, profileArn, roleArn, trustAnchorArn and roleSessionName.",
        "pki/rsa2048.cert.pem",
        "pki/rsa2048.pkcs1.key",
        query=CREATE_SESSION_QUERY,
        body=CREATE_SESSION_BODY,
    ),
    vector(
        "p256-create-session",
        "The CreateSession-shaped request of rsa2048-create-session signed with the P-256 leaf.",
        "pki/p256.cert.pem",
        "pki/p256.sec1.key",
        query=CREATE_SESSION_QUERY,
        body=CREATE_SESSION_BODY,
    ),
]


def main():
    names = [v["name"] for v in VECTORS]
    if len(set(names)) != len(names):
        sys.exit("duplicate vector names")

    results = {}
    for v in VECTORS:
        v = dict(v)
        v["expected"] = sign(v)
        results[v["name"]] = v

    # The key format must not change anything that is deterministic.
    for a, b in [
        ("rsa2048-basic", "rsa2048-pkcs8-key"),
        ("rsa4096-basic", "rsa4096-pkcs8-key"),
        ("p256-basic", "p256-pkcs8-key"),
        ("p384-basic", "p384-pkcs8-key"),
    ]:
        if results[a]["expected"] != results[b]["expected"]:
            sys.exit("%s and %s differ" % (a, b))

    rendered = {
        name + ".json": json.dumps(v, indent=2, ensure_ascii=False) + "\n"
        for name, v in results.items()
    }

    if "--check" in sys.argv[1:]:
        # CI: the committed vectors must be exactly what this script produces.
        stale = []
        for entry, text in rendered.items():
            try:
                with open(os.path.join(HERE, entry), encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(entry)
            except FileNotFoundError:
                stale.append(entry + " (missing)")
        extra = [
            e for e in os.listdir(HERE) if e.endswith(".json") and e not in rendered
        ]
        if stale or extra:
            sys.exit(
                "vectors out of date (run python3 tests/vectors/generate.py): "
                + ", ".join(sorted(stale + extra))
            )
        print("all %d vectors match the generator" % len(rendered))
        return

    for entry, text in rendered.items():
        with open(os.path.join(HERE, entry), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    for entry in sorted(os.listdir(HERE)):
        if entry.endswith(".json") and entry not in rendered:
            os.remove(os.path.join(HERE, entry))
            print("removed stale " + entry)

    print("wrote %d vectors to %s" % (len(results), HERE))


if __name__ == "__main__":
    main()
