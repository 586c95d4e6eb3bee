//! SAML 2.0 responses as STS `AssumeRoleWithSAML` checks them: the account's SAML providers
//! (an IAM SAML provider: an ARN, the IdP's entity id and signing certificates, read from the
//! IdP's metadata as IAM does) and the checks of one response, for the fake STS
//! ([`super::sts`]).
//!
//! Contract:
//! * [`SamlProvider::from_metadata`] reads an `md:EntityDescriptor` (or the first of an
//!   `md:EntitiesDescriptor`): `entityID` and the `ds:X509Certificate`s of the
//!   `md:IDPSSODescriptor`'s `md:KeyDescriptor`s whose `use` is absent or `signing`.
//! * [`check_response`] takes `SAMLAssertion` (base64 of a `samlp:Response`) and checks, in
//!   order, each failure a [`SamlProblem`] the fake answers as AWS does:
//!   1. base64, UTF-8, well-formed XML without a DTD, root `samlp:Response`, exactly one
//!      `saml:Assertion` in the whole document and no `saml:EncryptedAssertion`;
//!   2. the XML signature(s), by libxmlsec1 against the provider's certificates only (never
//!      a key from the document's `KeyInfo`): every `ds:Signature` in the document must verify,
//!      with RSA or ECDSA over SHA-256/384/512; at least one must sign the `Response` (root)
//!      or the `Assertion`;
//!   3. everything below is read from **what was signed**: xmlsec's pre-digest bytes (the
//!      canonical form of the signed element, which is what the digest covers), parsed
//!      again; its root must be the document's `Response` or its one `Assertion`, with the
//!      same `ID` (no signature wrapping: a forged assertion beside or inside the signed one is
//!      refused by step 1 or never read);
//!   4. the `Response`'s `samlp:StatusCode` is `Success` when the Response is signed (an
//!      unsigned Response's status is read from the document, as it carries no claim);
//!   5. the assertion's `Issuer` is the provider's entity id; a `Subject/NameID`; a bearer
//!      `SubjectConfirmationData` with `Recipient` (`https://signin.aws.amazon.com/saml` or a
//!      regional `https://REGION.signin.aws.amazon.com/saml`) and `NotOnOrAfter` after now;
//!      `Conditions` `NotBefore` ≤ now < `NotOnOrAfter`; every `AudienceRestriction` names an
//!      accepted audience (the sign-in URLs above or `urn:amazon:webservices`);
//!      `IssueInstant` no more than 5 minutes old;
//!   6. the `https://aws.amazon.com/SAML/Attributes/Role` values hold the requested
//!      role/provider pair (either order), `RoleSessionName` is present and valid (2 to 64 of
//!      `[\w+=,.@-]`), `SessionDuration`, when present, an integer in 900..=43200.
//! * Replay (an assertion ID accepted before) and the role's trust are the fake STS's checks.
//!
//! Why libxmlsec1 (through `samael`'s binding) and not hand-written XML-DSig: exclusive
//! canonicalisation (namespace rendering, attribute order, escaping), the enveloped-signature
//! transform and same-document references by ID are where signature-wrapping bugs live; the
//! reference implementation decides what was signed, and this module only reads that.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider as _, ReduceMode, XmlSec,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The SAML 2.0 assertion namespace.
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// The SAML 2.0 protocol namespace.
pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The SAML 2.0 metadata namespace.
pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The assertion consumer service of the AWS sign-in (global endpoint).
pub const AWS_SIGNIN_SAML: &str = "https://signin.aws.amazon.com/saml";
/// The audience AWS also accepts (the entity id of AWS as a service provider).
pub const AWS_ENTITY_ID: &str = "urn:amazon:webservices";
/// The attribute naming role/provider pairs.
pub const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
/// The attribute naming the role session.
pub const ROLE_SESSION_NAME_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
/// The attribute bounding the session (seconds).
pub const SESSION_DURATION_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/SessionDuration";
/// How long after its `IssueInstant` an assertion may be redeemed.
pub const REDEEM_WITHIN_SECONDS: i64 = 300;

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const NAMEID_FORMAT_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";
const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// An IAM SAML provider: who may sign assertions for `arn`.
#[derive(Clone, PartialEq, Eq)]
pub struct SamlProvider {
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub arn: String,
    /// The IdP's entity id (the metadata's `entityID`), compared with the assertion's
    /// `Issuer`.
    pub entity_id: String,
    /// The IdP's signing certificates (DER).
    pub certificates: Vec<Vec<u8>>,
}

impl fmt::Debug for SamlProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamlProvider")
            .field("arn", &self.arn)
            .field("entity_id", &self.entity_id)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl SamlProvider {
    /// A provider from its parts.
    pub fn new(arn: &str, entity_id: &str, certificates: Vec<Vec<u8>>) -> Self {
        SamlProvider {
            arn: arn.to_owned(),
            entity_id: entity_id.to_owned(),
            certificates,
        }
    }

    /// A provider from the IdP's SAML metadata document, as IAM's `CreateSAMLProvider`
    /// takes it. Refused: not XML, no entity descriptor with an `entityID`, no IdP SSO
    /// descriptor, no signing certificate, a certificate that is not base64 DER X.509.
    pub fn from_metadata(arn: &str, metadata: &str) -> Result<Self, String> {
        let document = roxmltree::Document::parse(metadata)
            .map_err(|error| format!("the SAML metadata is not XML: {error}"))?;
        let entity = document
            .descendants()
            .find(|node| is(node, METADATA_NS, "EntityDescriptor"))
            .ok_or("the SAML metadata has no md:EntityDescriptor")?;
        let entity_id = entity
            .attribute("entityID")
            .filter(|id| !id.is_empty())
            .ok_or("the SAML metadata's md:EntityDescriptor has no entityID")?;
        let idp = entity
            .children()
            .find(|node| is(node, METADATA_NS, "IDPSSODescriptor"))
            .ok_or("the SAML metadata has no md:IDPSSODescriptor")?;
        let mut certificates = Vec::new();
        for key in idp
            .children()
            .filter(|node| is(node, METADATA_NS, "KeyDescriptor"))
            .filter(|node| matches!(node.attribute("use"), None | Some("signing")))
        {
            for certificate in key
                .descendants()
                .filter(|node| is(node, DSIG_NS, "X509Certificate"))
            {
                let text: String = certificate
                    .text()
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                let der = STANDARD.decode(text.as_bytes()).map_err(|_| {
                    "a ds:X509Certificate of the SAML metadata is not base64".to_owned()
                })?;
                x509_parser::parse_x509_certificate(&der).map_err(|_| {
                    "a ds:X509Certificate of the SAML metadata is not an X.509 certificate"
                        .to_owned()
                })?;
                certificates.push(der);
            }
        }
        if certificates.is_empty() {
            return Err(
                "the SAML metadata's md:IDPSSODescriptor has no signing certificate".into(),
            );
        }
        Ok(SamlProvider::new(arn, entity_id, certificates))
    }

    /// The provider's name (the last `/` segment of the ARN).
    pub fn name(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

/// Why a response was refused, in the terms STS answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlProblem {
    /// `InvalidIdentityToken` (400): malformed, unknown provider, bad signature, wrong
    /// issuer, audience or recipient, not yet valid, the role not in the assertion.
    #[error("{0}")]
    Invalid(String),
    /// `ExpiredTokenException` (400): past `NotOnOrAfter`, or older than five minutes.
    #[error("{0}")]
    Expired(String),
    /// `IDPRejectedClaim` (403): the IdP's status is not `Success`.
    #[error("{0}")]
    Rejected(String),
}

fn invalid(message: impl Into<String>) -> SamlProblem {
    SamlProblem::Invalid(message.into())
}

/// What a verified assertion says. Read from the signed bytes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion's `ID` (what replay protection remembers).
    pub assertion_id: String,
    /// The assertion's `Issuer`.
    pub issuer: String,
    /// `Subject/NameID`.
    pub subject: String,
    /// `SubjectType` as STS answers it: the `NameID` `Format` without the SAML 2.0 prefix
    /// (`persistent`, `transient`), another format as it is, `unspecified` when absent.
    pub subject_type: String,
    /// The accepted audience.
    pub audience: String,
    /// The `RoleSessionName` attribute.
    pub session_name: String,
    /// The `SessionDuration` attribute.
    pub session_duration: Option<u32>,
    /// The `AuthnStatement`'s `SessionNotOnOrAfter`, if any.
    pub session_not_on_or_after: Option<OffsetDateTime>,
    /// The earliest `NotOnOrAfter` of the conditions and the subject confirmation.
    pub not_on_or_after: OffsetDateTime,
    /// Which elements the signatures covered: `Response`, `Assertion`, or both.
    pub signed: SignedParts,
}

/// Which elements of a response were signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedParts {
    /// The `samlp:Response` (the whole message).
    pub response: bool,
    /// The `saml:Assertion`.
    pub assertion: bool,
}

fn is(node: &roxmltree::Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    namespace: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|child| is(child, namespace, name))
}

fn children<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    namespace: &'a str,
    name: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> {
    node.children()
        .filter(move |child| is(child, namespace, name))
}

fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(roxmltree::Node::is_text)
        .filter_map(|text| text.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

fn instant(
    node: roxmltree::Node<'_, '_>,
    attribute: &str,
) -> Result<Option<OffsetDateTime>, SamlProblem> {
    node.attribute(attribute)
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                invalid(format!(
                    "Invalid SAML response: {}/@{attribute} '{text}' is not an xs:dateTime in UTC",
                    node.tag_name().name()
                ))
            })
        })
        .transpose()
}

/// Whether `url` is the AWS sign-in's SAML endpoint, global or regional.
fn is_signin_url(url: &str) -> bool {
    if url == AWS_SIGNIN_SAML {
        return true;
    }
    url.strip_prefix("https://")
        .and_then(|rest| rest.strip_suffix(".signin.aws.amazon.com/saml"))
        .is_some_and(|region| {
            !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// Checks `encoded` (the `SAMLAssertion` parameter) for `provider` and the requested
/// `role_arn`, at `now`. See the module documentation for the checks and their order.
pub fn check_response(
    encoded: &str,
    provider: &SamlProvider,
    role_arn: &str,
    now: OffsetDateTime,
) -> Result<VerifiedAssertion, SamlProblem> {
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| invalid("Invalid base64 SAMLResponse"))?;
    let xml = String::from_utf8(bytes)
        .map_err(|_| invalid("Invalid SAML response: the decoded SAMLResponse is not UTF-8"))?;
    let document = roxmltree::Document::parse(&xml).map_err(|error| {
        invalid(format!(
            "Invalid SAML response: not well-formed XML ({error})"
        ))
    })?;
    let root = document.root_element();
    if !is(&root, PROTOCOL_NS, "Response") {
        return Err(invalid(format!(
            "Invalid SAML response: the root element is '{}', not samlp:Response",
            root.tag_name().name()
        )));
    }
    if document
        .descendants()
        .any(|node| is(&node, ASSERTION_NS, "EncryptedAssertion"))
    {
        return Err(invalid(
            "Invalid SAML response: encrypted assertions are not accepted by this provider",
        ));
    }
    let assertions: Vec<_> = document
        .descendants()
        .filter(|node| is(node, ASSERTION_NS, "Assertion"))
        .collect();
    let [document_assertion] = assertions.as_slice() else {
        return Err(invalid(format!(
            "Invalid SAML response: it must contain exactly one saml:Assertion, not {}",
            assertions.len()
        )));
    };
    if document_assertion.parent_element() != Some(root) {
        return Err(invalid(
            "Invalid SAML response: the saml:Assertion is not a child of the samlp:Response",
        ));
    }
    let response_id = root.attribute("ID").unwrap_or_default();
    let assertion_id = document_assertion.attribute("ID").unwrap_or_default();
    if response_id.is_empty() || assertion_id.is_empty() {
        return Err(invalid(
            "Invalid SAML response: the samlp:Response and its saml:Assertion need an ID",
        ));
    }
    if !document
        .descendants()
        .any(|node| is(&node, DSIG_NS, "Signature"))
    {
        return Err(invalid(
            "Response signature invalid: neither the samlp:Response nor the saml:Assertion is \
             signed",
        ));
    }

    // The signatures, by libxmlsec1, against the provider's certificates only: each
    // certificate in turn (rollover), every signature of the document by that one. (One at a
    // time because xmlsec fails, rather than moving on, on a key of another type.)
    let mut failures = Vec::new();
    let mut signed_xml = None;
    for certificate in &provider.certificates {
        match XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
            &xml,
            &[CertificateDer::from(certificate.clone())],
            ReduceMode::PreDigest,
            Some(ALLOWED_ALGORITHMS),
        ) {
            Ok(signed) => {
                signed_xml = Some(signed);
                break;
            }
            Err(error) => failures.push(error.to_string()),
        }
    }
    let signed_xml = signed_xml.ok_or_else(|| {
        invalid(format!(
            "Response signature invalid: it does not verify with the certificate(s) of {} \
             ({})",
            provider.arn,
            failures.join("; ")
        ))
    })?;
    let signed = roxmltree::Document::parse(&signed_xml).map_err(|error| {
        invalid(format!(
            "Response signature invalid: the signed content is not XML ({error})"
        ))
    })?;
    let signed_root = signed.root_element();
    let signed_id = signed_root.attribute("ID").unwrap_or_default();
    let (assertion, parts) =
        if is(&signed_root, PROTOCOL_NS, "Response") && signed_id == response_id {
            let inner: Vec<_> = signed_root
                .children()
                .filter(|node| is(node, ASSERTION_NS, "Assertion"))
                .collect();
            let [inner] = inner.as_slice() else {
                return Err(invalid(
                    "Invalid SAML response: the signed samlp:Response must contain exactly one \
                 saml:Assertion",
                ));
            };
            if inner.attribute("ID") != Some(assertion_id) {
                return Err(invalid(
                    "Response signature invalid: the signed saml:Assertion is not the one in the \
                 response",
                ));
            }
            let assertion_signed = child(*inner, DSIG_NS, "Signature").is_some();
            let status = child(signed_root, PROTOCOL_NS, "Status")
                .and_then(|status| child(status, PROTOCOL_NS, "StatusCode"))
                .and_then(|code| code.attribute("Value"))
                .unwrap_or_default();
            if status != SUCCESS {
                return Err(SamlProblem::Rejected(format!(
                    "The identity provider reported that authentication failed (status '{status}')"
                )));
            }
            (
                *inner,
                SignedParts {
                    response: true,
                    assertion: assertion_signed,
                },
            )
        } else if is(&signed_root, ASSERTION_NS, "Assertion") && signed_id == assertion_id {
            let status = child(root, PROTOCOL_NS, "Status")
                .and_then(|status| child(status, PROTOCOL_NS, "StatusCode"))
                .and_then(|code| code.attribute("Value"))
                .unwrap_or_default();
            if status != SUCCESS {
                return Err(SamlProblem::Rejected(format!(
                    "The identity provider reported that authentication failed (status '{status}')"
                )));
            }
            (
                signed_root,
                SignedParts {
                    response: false,
                    assertion: true,
                },
            )
        } else {
            return Err(invalid(format!(
                "Response signature invalid: the signature covers '{}' (ID '{signed_id}'), not the \
             samlp:Response or its saml:Assertion",
                signed_root.tag_name().name()
            )));
        };
    read_assertion(assertion, provider, role_arn, now, parts)
}

/// Step 5 and 6 of [`check_response`] on the signed assertion.
fn read_assertion(
    assertion: roxmltree::Node<'_, '_>,
    provider: &SamlProvider,
    role_arn: &str,
    now: OffsetDateTime,
    signed: SignedParts,
) -> Result<VerifiedAssertion, SamlProblem> {
    let assertion_id = assertion.attribute("ID").unwrap_or_default().to_owned();
    if assertion.attribute("Version") != Some("2.0") {
        return Err(invalid(
            "Invalid SAML response: the assertion's Version is not 2.0",
        ));
    }
    let issuer = child(assertion, ASSERTION_NS, "Issuer")
        .map(text_of)
        .ok_or_else(|| invalid("Invalid SAML response: the assertion has no Issuer"))?;
    if issuer != provider.entity_id {
        return Err(invalid(format!(
            "Invalid SAML response: the assertion's Issuer '{issuer}' is not the entity id \
             '{}' of {}",
            provider.entity_id, provider.arn
        )));
    }
    let issued = instant(assertion, "IssueInstant")?
        .ok_or_else(|| invalid("Invalid SAML response: the assertion has no IssueInstant"))?;
    if now - issued > time::Duration::seconds(REDEEM_WITHIN_SECONDS) {
        return Err(SamlProblem::Expired(format!(
            "Token must be redeemed within 5 minutes of issuance (issued {}, now {})",
            issued.unix_timestamp(),
            now.unix_timestamp()
        )));
    }

    let subject = child(assertion, ASSERTION_NS, "Subject")
        .ok_or_else(|| invalid("Invalid SAML response: the assertion has no Subject"))?;
    let name_id = child(subject, ASSERTION_NS, "NameID")
        .ok_or_else(|| invalid("Invalid SAML response: the assertion's Subject has no NameID"))?;
    let subject_name = text_of(name_id);
    if subject_name.is_empty() {
        return Err(invalid(
            "Invalid SAML response: the Subject's NameID is empty",
        ));
    }
    let subject_type = match name_id.attribute("Format") {
        None => "unspecified".to_owned(),
        Some(format) => format
            .strip_prefix(NAMEID_FORMAT_PREFIX)
            .unwrap_or(format)
            .to_owned(),
    };
    let missing_confirmation = || {
        invalid("Responses must contain SubjectConfirmatonData with a Recipient and NotOnOrAfter")
    };
    let mut confirmation_expiry = None;
    for confirmation in children(subject, ASSERTION_NS, "SubjectConfirmation")
        .filter(|c| c.attribute("Method") == Some(BEARER))
    {
        let Some(data) = child(confirmation, ASSERTION_NS, "SubjectConfirmationData") else {
            continue;
        };
        let (Some(recipient), Some(expiry)) =
            (data.attribute("Recipient"), instant(data, "NotOnOrAfter")?)
        else {
            continue;
        };
        if !is_signin_url(recipient) {
            return Err(invalid(format!(
                "Invalid SAML response: the SubjectConfirmationData Recipient '{recipient}' is \
                 not {AWS_SIGNIN_SAML}"
            )));
        }
        if let Some(not_before) = instant(data, "NotBefore")?
            && now < not_before
        {
            return Err(invalid(format!(
                "Invalid SAML response: the SubjectConfirmationData is not valid before {}",
                not_before.unix_timestamp()
            )));
        }
        if now >= expiry {
            return Err(SamlProblem::Expired(format!(
                "Expired SAML response: the SubjectConfirmationData NotOnOrAfter {} is past \
                 (now {})",
                expiry.unix_timestamp(),
                now.unix_timestamp()
            )));
        }
        confirmation_expiry = Some(expiry);
        break;
    }
    let confirmation_expiry = confirmation_expiry.ok_or_else(missing_confirmation)?;

    let conditions = child(assertion, ASSERTION_NS, "Conditions")
        .ok_or_else(|| invalid("Invalid SAML response: the assertion has no Conditions"))?;
    if let Some(not_before) = instant(conditions, "NotBefore")?
        && now < not_before
    {
        return Err(invalid(format!(
            "Invalid SAML response: the assertion is not valid before {} (now {})",
            not_before.unix_timestamp(),
            now.unix_timestamp()
        )));
    }
    let mut not_on_or_after = confirmation_expiry;
    if let Some(expiry) = instant(conditions, "NotOnOrAfter")? {
        if now >= expiry {
            return Err(SamlProblem::Expired(format!(
                "Expired SAML response: the assertion's Conditions NotOnOrAfter {} is past (now \
                 {})",
                expiry.unix_timestamp(),
                now.unix_timestamp()
            )));
        }
        not_on_or_after = not_on_or_after.min(expiry);
    }
    let restrictions: Vec<_> = children(conditions, ASSERTION_NS, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err(invalid(
            "Invalid SAML response: the assertion has no AudienceRestriction",
        ));
    }
    let mut audience = String::new();
    for restriction in restrictions {
        let accepted = children(restriction, ASSERTION_NS, "Audience")
            .map(text_of)
            .find(|value| value == AWS_ENTITY_ID || is_signin_url(value));
        match accepted {
            Some(value) => audience = value,
            None => {
                return Err(invalid(format!(
                    "Invalid SAML response: the assertion's audience is not \
                     {AWS_SIGNIN_SAML} or {AWS_ENTITY_ID}"
                )));
            }
        }
    }

    let session_not_on_or_after = children(assertion, ASSERTION_NS, "AuthnStatement")
        .map(|statement| instant(statement, "SessionNotOnOrAfter"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .min();

    let values_of = |name: &str| -> Vec<String> {
        children(assertion, ASSERTION_NS, "AttributeStatement")
            .flat_map(|statement| children(statement, ASSERTION_NS, "Attribute"))
            .filter(|attribute| attribute.attribute("Name") == Some(name))
            .flat_map(|attribute| children(attribute, ASSERTION_NS, "AttributeValue"))
            .map(text_of)
            .collect()
    };
    let offers_role = values_of(ROLE_ATTRIBUTE).iter().any(|value| {
        let mut parts = value.split(',').map(str::trim);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) => {
                (a == role_arn && b == provider.arn) || (a == provider.arn && b == role_arn)
            }
            _ => false,
        }
    });
    if !offers_role {
        return Err(invalid(
            "SAML Assertion doesn't contain the requested Role and Metadata in the attributes",
        ));
    }
    let session_names = values_of(ROLE_SESSION_NAME_ATTRIBUTE);
    let session_name = match session_names.as_slice() {
        [] => return Err(invalid("RoleSessionName is required in AuthnResponse")),
        [name] if valid_session_name(name) => name.clone(),
        [name] => {
            return Err(invalid(format!(
                "Invalid SAML response: RoleSessionName '{name}' must be 2 to 64 characters of \
                 [\\w+=,.@-]"
            )));
        }
        _ => {
            return Err(invalid(
                "Invalid SAML response: RoleSessionName must have exactly one value",
            ));
        }
    };
    let durations = values_of(SESSION_DURATION_ATTRIBUTE);
    let session_duration = match durations.as_slice() {
        [] => None,
        [text] => Some(
            text.parse::<u32>()
                .ok()
                .filter(|seconds| (900..=43_200).contains(seconds))
                .ok_or_else(|| {
                    invalid(format!(
                        "Invalid SAML response: SessionDuration '{text}' must be an integer \
                         from 900 to 43200"
                    ))
                })?,
        ),
        _ => {
            return Err(invalid(
                "Invalid SAML response: SessionDuration must have exactly one value",
            ));
        }
    };
    Ok(VerifiedAssertion {
        assertion_id,
        issuer,
        subject: subject_name,
        subject_type,
        audience,
        session_name,
        session_duration,
        session_not_on_or_after,
        not_on_or_after,
        signed,
    })
}

/// `NameQualifier` as STS answers it: base64 of the SHA-1 of issuer, account id, `/` and
/// provider name (a stable, provider-scoped user id).
pub fn name_qualifier(issuer: &str, account: &str, provider_name: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{issuer}{account}/{provider_name}").as_bytes(),
    );
    STANDARD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    // Real Keycloak 26 output (tests/keycloak/realm.json), captured once: its metadata
    // descriptor, and ECP responses for alice from the realm's two AWS clients, each
    // `samlp:Response` taken out of its SOAP envelope with the namespace declarations it
    // inherited added to its start tag.
    const METADATA: &str = include_str!("../testdata/saml/keycloak-metadata.xml");
    /// Client `urn:amazon:webservices`: Response and Assertion signed.
    const BOTH_SIGNED: &str = include_str!("../testdata/saml/keycloak-response-both-signed.xml");
    /// Client `https://signin.aws.amazon.com/saml`: only the Response signed.
    const RESPONSE_SIGNED: &str =
        include_str!("../testdata/saml/keycloak-response-response-signed.xml");
    const ISSUER: &str = "http://127.0.0.1:57923/realms/needroleshere";
    const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/keycloak";
    const DEVELOPER: &str = "arn:aws:iam::123456789012:role/saml-developer";
    const READONLY: &str = "arn:aws:iam::123456789012:role/saml-readonly";
    /// A minute after the fixtures' IssueInstant.
    const NOW: OffsetDateTime = datetime!(2026-12-03 20:38:55 UTC);

    fn provider() -> SamlProvider {
        SamlProvider::from_metadata(PROVIDER, METADATA).unwrap()
    }

    fn check(xml: &str, role: &str, now: OffsetDateTime) -> Result<VerifiedAssertion, SamlProblem> {
        check_response(&STANDARD.encode(xml), &provider(), role, now)
    }

    fn invalid_with(result: Result<VerifiedAssertion, SamlProblem>, needle: &str) {
        match result {
            Err(SamlProblem::Invalid(message)) => {
                assert!(
                    message.contains(needle),
                    "expected '{needle}' in '{message}'"
                );
            }
            other => panic!("expected an invalid-token refusal naming '{needle}', got {other:?}"),
        }
    }

    /// The ranges of the `ds:Signature` elements of `xml`, the Response's first.
    fn signature_ranges(xml: &str) -> Vec<std::ops::Range<usize>> {
        let document = roxmltree::Document::parse(xml).unwrap();
        document
            .descendants()
            .filter(|node| is(node, DSIG_NS, "Signature"))
            .map(|node| node.range())
            .collect()
    }

    fn without(xml: &str, range: std::ops::Range<usize>) -> String {
        let mut out = xml.to_owned();
        out.replace_range(range, "");
        out
    }

    #[test]
    fn metadata_gives_the_entity_id_and_signing_certificate() {
        let provider = provider();
        assert_eq!(provider.entity_id, ISSUER);
        assert_eq!(provider.certificates.len(), 1);
        assert_eq!(provider.name(), "keycloak");
        assert!(format!("{provider:?}").contains("certificates: 1"));
        for (metadata, needle) in [
            ("not xml", "not XML"),
            ("<a/>", "no md:EntityDescriptor"),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>"#,
                "no entityID",
            ),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>"#,
                "no md:IDPSSODescriptor",
            ),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><IDPSSODescriptor><KeyDescriptor use="encryption"><ds:X509Certificate xmlns:ds="http://www.w3.org/2000/09/xmldsig#">AAAA</ds:X509Certificate></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>"#,
                "no signing certificate",
            ),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><IDPSSODescriptor><KeyDescriptor><ds:X509Certificate xmlns:ds="http://www.w3.org/2000/09/xmldsig#">!!</ds:X509Certificate></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>"#,
                "not base64",
            ),
            (
                r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><IDPSSODescriptor><KeyDescriptor><ds:X509Certificate xmlns:ds="http://www.w3.org/2000/09/xmldsig#">AAAA</ds:X509Certificate></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>"#,
                "not an X.509 certificate",
            ),
        ] {
            let error = SamlProvider::from_metadata(PROVIDER, metadata).unwrap_err();
            assert!(error.contains(needle), "expected '{needle}' in '{error}'");
        }
    }

    #[test]
    fn genuine_responses_of_every_signing_combination_are_accepted() {
        let both = check(BOTH_SIGNED, DEVELOPER, NOW).unwrap();
        assert_eq!(both.issuer, ISSUER);
        assert_eq!(both.session_name, "alice");
        assert_eq!(both.session_duration, Some(7200));
        assert_eq!(both.subject_type, "persistent");
        assert!(both.subject.starts_with("G-"));
        assert_eq!(both.audience, AWS_ENTITY_ID);
        assert_eq!(
            both.signed,
            SignedParts {
                response: true,
                assertion: true
            }
        );
        assert_eq!(both.not_on_or_after, datetime!(2026-12-03 20:42:53.056 UTC));
        assert_eq!(
            both.session_not_on_or_after,
            Some(datetime!(2026-12-04 06:37:55.056 UTC))
        );
        // alice is offered both roles; the pair may be in either order in a value.
        assert!(check(BOTH_SIGNED, READONLY, NOW).is_ok());
        let swapped = BOTH_SIGNED.replace(
            &format!("{DEVELOPER},{PROVIDER}"),
            &format!("{PROVIDER},{DEVELOPER}"),
        );
        assert_ne!(swapped, BOTH_SIGNED);
        // (Changing the order changes the signed bytes: refused, as any edit is.)
        invalid_with(
            check(&swapped, DEVELOPER, NOW),
            "Response signature invalid",
        );

        let response_only = check(RESPONSE_SIGNED, READONLY, NOW).unwrap();
        assert_eq!(response_only.audience, AWS_SIGNIN_SAML);
        assert_eq!(
            response_only.signed,
            SignedParts {
                response: true,
                assertion: false
            }
        );

        let response_signature = signature_ranges(BOTH_SIGNED)[0].clone();
        let assertion_only = without(BOTH_SIGNED, response_signature);
        let verified = check(&assertion_only, READONLY, NOW).unwrap();
        assert_eq!(
            verified.signed,
            SignedParts {
                response: false,
                assertion: true
            }
        );
    }

    #[test]
    fn edits_missing_signatures_and_wrapping_are_refused() {
        // One role changed in the XML.
        let tampered = BOTH_SIGNED.replace("role/saml-readonly", "role/saml-admin");
        invalid_with(
            check(&tampered, "arn:aws:iam::123456789012:role/saml-admin", NOW),
            "Response signature invalid",
        );
        // The same in a response whose only signature is the Response's.
        let tampered = RESPONSE_SIGNED.replace("role/saml-readonly", "role/saml-admin");
        invalid_with(
            check(&tampered, "arn:aws:iam::123456789012:role/saml-admin", NOW),
            "Response signature invalid",
        );
        // The assertion's signature removed, the Response's kept: its digest covered it.
        let ranges = signature_ranges(BOTH_SIGNED);
        invalid_with(
            check(&without(BOTH_SIGNED, ranges[1].clone()), READONLY, NOW),
            "Response signature invalid",
        );
        // No signature at all.
        let unsigned = without(&without(BOTH_SIGNED, ranges[1].clone()), ranges[0].clone());
        invalid_with(check(&unsigned, READONLY, NOW), "neither");

        // Wrapping: the Response's signature removed, a forged unsigned copy of the assertion
        // (another ID, another role) put before the signed one, or in its place with the
        // signed one moved into an Extensions element.
        let assertion_only = without(BOTH_SIGNED, ranges[0].clone());
        let document = roxmltree::Document::parse(&assertion_only).unwrap();
        let assertion = document
            .descendants()
            .find(|node| is(node, ASSERTION_NS, "Assertion"))
            .unwrap();
        let range = assertion.range();
        let id = assertion.attribute("ID").unwrap();
        let signed_text = assertion_only[range.clone()].to_owned();
        let signature = document
            .descendants()
            .find(|node| is(node, DSIG_NS, "Signature"))
            .unwrap()
            .range();
        let forged = without(&assertion_only, signature)[range.start..]
            .split("</saml:Assertion>")
            .next()
            .unwrap()
            .to_owned()
            + "</saml:Assertion>";
        let forged = forged
            .replace(id, "_forged")
            .replace("role/saml-readonly", "role/saml-admin");
        let mut beside = assertion_only.clone();
        beside.insert_str(range.start, &forged);
        invalid_with(
            check(&beside, "arn:aws:iam::123456789012:role/saml-admin", NOW),
            "exactly one saml:Assertion, not 2",
        );
        let mut moved = assertion_only.clone();
        moved.replace_range(
            range.clone(),
            &format!("<samlp:Extensions>{signed_text}</samlp:Extensions>{forged}"),
        );
        invalid_with(
            check(&moved, "arn:aws:iam::123456789012:role/saml-admin", NOW),
            "exactly one saml:Assertion, not 2",
        );
        // An encrypted assertion is not accepted.
        let encrypted = BOTH_SIGNED.replace(
            "</samlp:Response>",
            "<saml:EncryptedAssertion/></samlp:Response>",
        );
        invalid_with(check(&encrypted, READONLY, NOW), "encrypted");
    }

    #[test]
    fn another_certificate_or_issuer_is_refused() {
        let pki = tempfile::tempdir().unwrap();
        crate::generate_pki(pki.path()).unwrap();
        let other = pem::parse(std::fs::read(pki.path().join("root-ca.pem")).unwrap())
            .unwrap()
            .into_contents();
        let impostor = SamlProvider::new(PROVIDER, ISSUER, vec![other.clone()]);
        let encoded = STANDARD.encode(BOTH_SIGNED);
        match check_response(&encoded, &impostor, DEVELOPER, NOW) {
            Err(SamlProblem::Invalid(message)) => {
                assert!(message.contains("Response signature invalid"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Certificate rollover: any of the provider's certificates may have signed.
        let mut rolled = provider();
        rolled.certificates.insert(0, other);
        assert!(check_response(&encoded, &rolled, DEVELOPER, NOW).is_ok());
        let mut renamed = provider();
        renamed.entity_id = "https://idp.example.com/".to_owned();
        match check_response(&encoded, &renamed, DEVELOPER, NOW) {
            Err(SamlProblem::Invalid(message)) => {
                assert!(message.contains("Issuer"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_validity_window_is_the_clocks() {
        let expired = |at| match check(BOTH_SIGNED, DEVELOPER, at) {
            Err(SamlProblem::Expired(message)) => message,
            other => panic!("{other:?}"),
        };
        // Five minutes after issuance (and past NotOnOrAfter).
        assert!(
            expired(datetime!(2026-12-03 20:43:00 UTC))
                .contains("Token must be redeemed within 5 minutes of issuance")
        );
        // Before NotBefore.
        invalid_with(
            check(BOTH_SIGNED, DEVELOPER, datetime!(2026-12-03 20:37:00 UTC)),
            "not valid before",
        );
        // Just inside.
        assert!(check(BOTH_SIGNED, DEVELOPER, datetime!(2026-12-03 20:42:52 UTC)).is_ok());
    }

    #[test]
    fn the_role_must_be_offered_and_the_input_well_formed() {
        invalid_with(
            check(BOTH_SIGNED, "arn:aws:iam::123456789012:role/admin", NOW),
            "doesn't contain the requested Role",
        );
        let other_provider = SamlProvider::new(
            "arn:aws:iam::123456789012:saml-provider/other",
            ISSUER,
            provider().certificates,
        );
        match check_response(
            &STANDARD.encode(BOTH_SIGNED),
            &other_provider,
            DEVELOPER,
            NOW,
        ) {
            Err(SamlProblem::Invalid(message)) => {
                assert!(
                    message.contains("doesn't contain the requested Role"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            check_response("%%%", &provider(), DEVELOPER, NOW),
            Err(invalid("Invalid base64 SAMLResponse"))
        );
        // Line breaks in the base64 (as some clients wrap it) are fine.
        let wrapped: String = STANDARD
            .encode(BOTH_SIGNED)
            .as_bytes()
            .chunks(76)
            .map(|line| format!("{}\n", String::from_utf8_lossy(line)))
            .collect();
        assert!(check_response(&wrapped, &provider(), DEVELOPER, NOW).is_ok());
        for (xml, needle) in [
            ("<a>", "not well-formed"),
            ("<a/>", "not samlp:Response"),
            (
                "<!DOCTYPE r [<!ENTITY e \"x\">]><samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>",
                "not well-formed",
            ),
            (
                "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"r\"/>",
                "exactly one saml:Assertion, not 0",
            ),
        ] {
            invalid_with(check(xml, DEVELOPER, NOW), needle);
        }
    }

    /// A test PKI (tests/pki/generate.sh), made once: its RSA 2048 key signs edited copies of
    /// the Keycloak responses, standing in for an IdP that says other things.
    fn pki() -> &'static std::path::Path {
        static PKI: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        PKI.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            crate::generate_pki(dir.path()).unwrap();
            dir
        })
        .path()
    }

    fn der_of(file: &str) -> Vec<u8> {
        pem::parse(std::fs::read(pki().join(file)).unwrap())
            .unwrap()
            .into_contents()
    }

    /// The provider whose certificate is the test PKI's RSA 2048 one.
    fn test_idp() -> SamlProvider {
        SamlProvider::new(PROVIDER, ISSUER, vec![der_of("rsa2048.cert.pem")])
    }

    /// `BOTH_SIGNED` edited by `edit`, then signed again with the test PKI's key: with
    /// `response` the Response's signature is kept as the template (the Assertion's removed),
    /// otherwise the Assertion's (the Response's removed). The template's `KeyInfo` goes.
    fn resigned(response: bool, edit: impl Fn(&str) -> String) -> String {
        let ranges = signature_ranges(BOTH_SIGNED);
        let (drop, keep) = if response { (1, 0) } else { (0, 1) };
        let kept = &BOTH_SIGNED[ranges[keep].clone()];
        let key_info =
            kept.find("<dsig:KeyInfo>").unwrap()..kept.find("</dsig:Signature>").unwrap();
        let mut template = BOTH_SIGNED.to_owned();
        let kept_range = ranges[keep].clone();
        let stripped = without(kept, key_info);
        // Replace the later range first so the earlier one stays valid.
        if ranges[drop].start > kept_range.start {
            template.replace_range(ranges[drop].clone(), "");
            template.replace_range(kept_range, &stripped);
        } else {
            template.replace_range(kept_range, &stripped);
            template.replace_range(ranges[drop].clone(), "");
        }
        let template = edit(&template);
        XmlSec::sign_xml(template, &der_of("rsa2048.pkcs1.key")).unwrap()
    }

    /// An edit of a response's text.
    type Edit = dyn Fn(&str) -> String;

    fn check_test_idp(xml: &str) -> Result<VerifiedAssertion, SamlProblem> {
        check_response(&STANDARD.encode(xml), &test_idp(), DEVELOPER, NOW)
    }

    #[test]
    fn what_a_signed_assertion_says_is_checked() {
        // The harness: re-signed unchanged, either way, verifies with the test IdP only.
        for response in [true, false] {
            let xml = resigned(response, str::to_owned);
            let verified = check_test_idp(&xml).unwrap();
            assert_eq!(verified.signed.response, response);
            assert_eq!(verified.signed.assertion, !response);
            invalid_with(check(&xml, DEVELOPER, NOW), "Response signature invalid");
        }
        let cases: [(&str, &Edit, &str); 9] = [
            (
                "recipient",
                &|xml: &str| {
                    xml.replace(
                        "Recipient=\"https://signin.aws.amazon.com/saml\"",
                        "Recipient=\"https://sp.example.com/acs\"",
                    )
                },
                "Recipient 'https://sp.example.com/acs'",
            ),
            (
                "no confirmation expiry",
                &|xml: &str| {
                    xml.replace(
                        " NotOnOrAfter=\"2026-12-03T20:42:53.056Z\" Recipient",
                        " Recipient",
                    )
                },
                "Responses must contain SubjectConfirmatonData with a Recipient and NotOnOrAfter",
            ),
            (
                "audience",
                &|xml: &str| {
                    xml.replace(
                        "<saml:Audience>urn:amazon:webservices</saml:Audience>",
                        "<saml:Audience>https://sp.example.com/</saml:Audience>",
                    )
                },
                "audience is not",
            ),
            (
                "no audience restriction",
                &|xml: &str| {
                    let start = xml.find("<saml:AudienceRestriction>").unwrap();
                    let end = xml.find("</saml:AudienceRestriction>").unwrap()
                        + "</saml:AudienceRestriction>".len();
                    without(xml, start..end)
                },
                "no AudienceRestriction",
            ),
            (
                "issuer",
                &|xml: &str| xml.replace(ISSUER, "https://idp.example.com/"),
                "Issuer 'https://idp.example.com/'",
            ),
            (
                "no session name",
                &|xml: &str| xml.replace(ROLE_SESSION_NAME_ATTRIBUTE, "https://example.com/Other"),
                "RoleSessionName is required in AuthnResponse",
            ),
            (
                "bad session name",
                &|xml: &str| {
                    xml.replace(
                        ">alice</saml:AttributeValue>",
                        ">alice smith</saml:AttributeValue>",
                    )
                },
                "RoleSessionName 'alice smith'",
            ),
            (
                "session duration",
                &|xml: &str| {
                    xml.replace(
                        ">7200</saml:AttributeValue>",
                        ">99999</saml:AttributeValue>",
                    )
                },
                "SessionDuration '99999'",
            ),
            (
                "SHA-1",
                &|xml: &str| {
                    xml.replace(
                        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                    )
                    .replace(
                        "http://www.w3.org/2001/04/xmlenc#sha256",
                        "http://www.w3.org/2000/09/xmldsig#sha1",
                    )
                },
                "Response signature invalid",
            ),
        ];
        for (what, edit, needle) in cases {
            for response in [true, false] {
                let xml = resigned(response, edit);
                let result = check_test_idp(&xml);
                match &result {
                    Err(SamlProblem::Invalid(message)) if message.contains(needle) => {}
                    other => panic!("{what} (response signed: {response}): {other:?}"),
                }
            }
        }
        // A failed authentication, in a signed Response.
        let failed = resigned(true, |xml| {
            xml.replace(
                "urn:oasis:names:tc:SAML:2.0:status:Success",
                "urn:oasis:names:tc:SAML:2.0:status:Responder",
            )
        });
        match check_test_idp(&failed) {
            Err(SamlProblem::Rejected(message)) => assert!(message.contains("Responder")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signin_urls_and_name_qualifier() {
        assert!(is_signin_url("https://signin.aws.amazon.com/saml"));
        assert!(is_signin_url(
            "https://eu-west-1.signin.aws.amazon.com/saml"
        ));
        assert!(!is_signin_url(
            "https://evil.example/signin.aws.amazon.com/saml"
        ));
        assert!(!is_signin_url("https://.signin.aws.amazon.com/saml"));
        assert!(!is_signin_url("http://signin.aws.amazon.com/saml"));
        // base64(SHA-1("https://example.com/saml" + "123456789012" + "/MySAMLIdP")),
        // computed apart with Python's hashlib.
        assert_eq!(
            name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP"),
            "1uAJanUnBc2XeUkHURMht+xam2c="
        );
    }
}
