//! What SAML 2.0 sign-in reads and writes: the identity provider's `Response` and the AWS
//! attributes of its assertion, the ECP request and answer (the SAML 2.0 Enhanced Client or
//! Proxy profile, SOAP over HTTP with Basic authentication), and the HTML pages of a sign-in
//! by form. The conversation itself is [`super::saml_session`]'s.
//!
//! Nothing here checks the assertion's signature: STS does that with the identity
//! provider's certificate (AssumeRoleWithSAML), and an assertion this process cannot trust
//! gives it nothing but a refusal. What is read here is only what chooses the call: the
//! roles offered, their providers, the session's length, and when the assertion expires.
//!
//! Every reader here takes outside input (a provider's pages and answers) and has a fuzz
//! target: `saml_response`, `saml_page`.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use url::Url;

use crate::arn::{RoleArn, SamlProviderArn};
use crate::secret::Secret;

/// The attribute naming the roles: values `role_arn,provider_arn` (in either order).
pub const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
/// The attribute giving the longest session the provider allows, in seconds.
pub const SESSION_DURATION_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/SessionDuration";
/// The attribute naming the role session (the user, as the provider knows them).
pub const ROLE_SESSION_NAME_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
/// AWS as a service provider: its entity ID and where assertions for it are posted.
pub const AWS_ENTITY_ID: &str = "urn:amazon:webservices";
pub const AWS_ACS_URL: &str = "https://signin.aws.amazon.com/saml";

const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// Largest `Response` read (assertions are a few kilobytes; a provider's page is not).
const MAX_XML: usize = 1 << 20;
/// Largest page read for forms.
pub const MAX_PAGE: usize = 4 << 20;

/// Why a provider's answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("the SAMLResponse is not base64: {0}")]
    NotBase64(String),
    #[error("the SAML response is not XML: {0}")]
    NotXml(String),
    #[error("the SAML response is {0} bytes; at most {MAX_XML} are read")]
    TooLarge(usize),
    #[error("expected a SAML 2.0 Response, found <{0}>")]
    NotAResponse(String),
    /// The provider says the sign-in failed (its status code and message).
    #[error("the identity provider did not sign you in: {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Status {
        code: String,
        message: Option<String>,
    },
    #[error(
        "the assertion is encrypted, so the roles it offers cannot be read: have the identity provider sign but not encrypt assertions for AWS"
    )]
    Encrypted,
    #[error("the SAML response holds {0} assertions; expected one")]
    AssertionCount(usize),
    #[error("the assertion offers no AWS role (attribute {ROLE_ATTRIBUTE}){0}")]
    NoRoles(String),
    #[error("{what} {value:?} is not a time: {reason}")]
    BadTime {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("SessionDuration {0:?} is not a number of seconds")]
    BadDuration(String),
    /// A SOAP answer of the ECP profile that holds no Response.
    #[error("the ECP answer holds no SAML Response{0}")]
    NoEcpResponse(String),
}

/// A role the assertion offers and the SAML provider that vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePair {
    pub role_arn: RoleArn,
    pub provider_arn: SamlProviderArn,
}

impl RolePair {
    /// Reads one value of the Role attribute: two ARNs split by a comma, in either order.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut parts = value.split(',').map(str::trim);
        let (Some(first), Some(second), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{value:?} is not two ARNs split by a comma"));
        };
        let pair = |role: &str, provider: &str| -> Option<Self> {
            Some(Self {
                role_arn: RoleArn::from_str(role).ok()?,
                provider_arn: SamlProviderArn::from_str(provider).ok()?,
            })
        };
        pair(first, second)
            .or_else(|| pair(second, first))
            .ok_or_else(|| format!("{value:?} is not a role ARN and a SAML provider ARN"))
    }
}

/// A signed-in person's assertion, as read here (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The base64 `Response` as the provider issued it: what AssumeRoleWithSAML takes.
    pub encoded: Secret,
    /// The roles offered, in the provider's order.
    pub roles: Vec<RolePair>,
    /// Values of the Role attribute that are not a role and provider pair (skipped).
    pub unreadable_roles: Vec<String>,
    /// `SessionDuration`, seconds.
    pub session_duration: Option<u32>,
    /// `RoleSessionName`.
    pub session_name: Option<String>,
    /// The subject's name ID.
    pub subject: Option<String>,
    /// The earliest `NotOnOrAfter` of the conditions and the subject confirmation: STS
    /// refuses the assertion from then on.
    pub not_on_or_after: Option<OffsetDateTime>,
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertion")
            .field("roles", &self.roles)
            .field("session_duration", &self.session_duration)
            .field("session_name", &self.session_name)
            .field("not_on_or_after", &self.not_on_or_after)
            .finish_non_exhaustive()
    }
}

impl Assertion {
    /// Reads the value of a `SAMLResponse` form field (base64 of the Response XML).
    pub fn from_form_value(value: &str) -> Result<Self, SamlError> {
        // Form values may carry line breaks; base64 ignores none, so drop the whitespace.
        let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if compact.len() > MAX_XML * 4 / 3 + 4 {
            return Err(SamlError::TooLarge(compact.len() * 3 / 4));
        }
        let xml = STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| SamlError::NotBase64(e.to_string()))?;
        let xml = String::from_utf8(xml).map_err(|e| SamlError::NotXml(e.to_string()))?;
        Self::read(&xml, Secret::new(compact))
    }

    /// Reads a Response's XML (an ECP answer's), encoding it for STS.
    pub fn from_xml(xml: &str) -> Result<Self, SamlError> {
        Self::read(xml, Secret::new(STANDARD.encode(xml.as_bytes())))
    }

    fn read(xml: &str, encoded: Secret) -> Result<Self, SamlError> {
        if xml.len() > MAX_XML {
            return Err(SamlError::TooLarge(xml.len()));
        }
        let document = parse_xml(xml)?;
        let response = document.root_element();
        if !is(response, NS_PROTOCOL, "Response") {
            return Err(SamlError::NotAResponse(
                response.tag_name().name().to_owned(),
            ));
        }
        check_status(response)?;
        if response
            .children()
            .any(|n| is(n, NS_ASSERTION, "EncryptedAssertion"))
        {
            return Err(SamlError::Encrypted);
        }
        let assertions: Vec<_> = response
            .children()
            .filter(|n| is(*n, NS_ASSERTION, "Assertion"))
            .collect();
        let [assertion] = assertions[..] else {
            return Err(SamlError::AssertionCount(assertions.len()));
        };

        let mut roles = Vec::new();
        let mut unreadable_roles = Vec::new();
        let mut session_duration = None;
        let mut session_name = None;
        for attribute in assertion
            .children()
            .filter(|n| is(*n, NS_ASSERTION, "AttributeStatement"))
            .flat_map(|s| s.children())
            .filter(|n| is(*n, NS_ASSERTION, "Attribute"))
        {
            let values = attribute
                .children()
                .filter(|n| is(*n, NS_ASSERTION, "AttributeValue"))
                .map(|v| text_of(v).trim().to_owned());
            match attribute.attribute("Name") {
                Some(ROLE_ATTRIBUTE) => {
                    for value in values {
                        match RolePair::parse(&value) {
                            Ok(pair) if !roles.contains(&pair) => roles.push(pair),
                            Ok(_) => {}
                            Err(_) => unreadable_roles.push(value),
                        }
                    }
                }
                Some(SESSION_DURATION_ATTRIBUTE) => {
                    if let Some(value) = values.into_iter().next() {
                        session_duration = Some(
                            value
                                .parse::<u32>()
                                .map_err(|_| SamlError::BadDuration(value))?,
                        );
                    }
                }
                Some(ROLE_SESSION_NAME_ATTRIBUTE) => session_name = values.into_iter().next(),
                _ => {}
            }
        }
        if roles.is_empty() {
            let skipped = if unreadable_roles.is_empty() {
                String::new()
            } else {
                format!(
                    "; unreadable values: {}",
                    unreadable_roles
                        .iter()
                        .map(|v| format!("{v:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(SamlError::NoRoles(skipped));
        }

        let subject = assertion
            .children()
            .find(|n| is(*n, NS_ASSERTION, "Subject"));
        let mut not_on_or_after: Option<OffsetDateTime> = None;
        let conditions = assertion
            .children()
            .filter(|n| is(*n, NS_ASSERTION, "Conditions"));
        let confirmations = subject
            .into_iter()
            .flat_map(|s| s.children())
            .filter(|n| is(*n, NS_ASSERTION, "SubjectConfirmation"))
            .flat_map(|c| c.children())
            .filter(|n| is(*n, NS_ASSERTION, "SubjectConfirmationData"));
        for node in conditions.chain(confirmations) {
            if let Some(value) = node.attribute("NotOnOrAfter") {
                let at =
                    crate::credentials::parse_rfc3339(value).map_err(|e| SamlError::BadTime {
                        what: "NotOnOrAfter",
                        value: value.to_owned(),
                        reason: e.to_string(),
                    })?;
                not_on_or_after = Some(not_on_or_after.map_or(at, |t| t.min(at)));
            }
        }
        Ok(Self {
            encoded,
            roles,
            unreadable_roles,
            session_duration,
            session_name,
            subject: subject
                .and_then(|s| s.children().find(|n| is(*n, NS_ASSERTION, "NameID")))
                .map(|n| text_of(n).trim().to_owned()),
            not_on_or_after,
        })
    }

    /// Whether STS would still take it at `now`, with `margin` to spare.
    pub fn usable_at(&self, now: OffsetDateTime, margin: time::Duration) -> bool {
        self.not_on_or_after.is_none_or(|end| now + margin < end)
    }

    /// The offered pair for `role`, if the assertion offers it.
    pub fn pair_for(&self, role: &RoleArn) -> Option<&RolePair> {
        self.roles.iter().find(|p| p.role_arn == *role)
    }
}

fn parse_xml(xml: &str) -> Result<roxmltree::Document<'_>, SamlError> {
    // No DTDs (so no entity expansion) and a bound on the tree: a provider's answer has no
    // use for either.
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 100_000,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(xml, options)
        .map_err(|e| SamlError::NotXml(e.to_string()))
}

fn is(node: roxmltree::Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

/// The text of an element and its descendants.
fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// Fails unless the Response's top-level status is Success.
fn check_status(response: roxmltree::Node<'_, '_>) -> Result<(), SamlError> {
    let status = response.children().find(|n| is(*n, NS_PROTOCOL, "Status"));
    let codes: Vec<&str> = status
        .into_iter()
        .flat_map(|s| s.descendants())
        .filter(|n| is(*n, NS_PROTOCOL, "StatusCode"))
        .filter_map(|n| n.attribute("Value"))
        .collect();
    if codes.first() == Some(&"urn:oasis:names:tc:SAML:2.0:status:Success") {
        return Ok(());
    }
    let code = if codes.is_empty() {
        "no status".to_owned()
    } else {
        let short: Vec<&str> = codes
            .iter()
            .map(|c| c.rsplit(':').next().unwrap_or(c))
            .collect();
        short.join("/").chars().take(200).collect()
    };
    Err(SamlError::Status {
        code,
        message: status
            .and_then(|s| s.children().find(|n| is(*n, NS_PROTOCOL, "StatusMessage")))
            .map(|m| text_of(m).trim().chars().take(300).collect()),
    })
}

/// The SOAP request of the ECP profile: an AuthnRequest on AWS's behalf, to be POSTed to
/// the provider's ECP endpoint with HTTP Basic authentication.
pub fn ecp_request(id: &str, now: OffsetDateTime) -> String {
    let instant = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        concat!(
            r#"<S:Envelope xmlns:S="{soap}"><S:Body>"#,
            r#"<samlp:AuthnRequest xmlns:samlp="{protocol}" xmlns:saml="{assertion}" ID="{id}" Version="2.0" IssueInstant="{instant}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS">"#,
            r#"<saml:Issuer>{entity}</saml:Issuer>"#,
            r#"<samlp:NameIDPolicy AllowCreate="true"/>"#,
            r#"</samlp:AuthnRequest></S:Body></S:Envelope>"#
        ),
        soap = NS_SOAP11,
        protocol = NS_PROTOCOL,
        assertion = NS_ASSERTION,
        id = id,
        instant = instant,
        acs = AWS_ACS_URL,
        entity = AWS_ENTITY_ID,
    )
}

/// What an ECP endpoint answered.
#[derive(Debug)]
pub enum EcpAnswer {
    /// The Response, as XML that stands alone (namespaces it inherited in the envelope are
    /// declared on it), ready to be encoded for STS.
    Response(String),
    /// A SOAP fault: the provider refused (its fault string).
    Fault(String),
}

/// Reads an ECP endpoint's SOAP answer. `Err(None)`-like cases (not SOAP at all) are
/// [`SamlError::NotXml`] or [`SamlError::NoEcpResponse`]: the caller then knows the URL
/// does not speak ECP.
pub fn read_ecp_answer(body: &str) -> Result<EcpAnswer, SamlError> {
    if body.len() > MAX_XML {
        return Err(SamlError::TooLarge(body.len()));
    }
    let document = parse_xml(body)?;
    let envelope = document.root_element();
    let soap = [NS_SOAP11, NS_SOAP12]
        .into_iter()
        .find(|ns| is(envelope, ns, "Envelope"))
        .ok_or_else(|| SamlError::NoEcpResponse(": the answer is not a SOAP envelope".into()))?;
    let body_node = envelope
        .children()
        .find(|n| is(*n, soap, "Body"))
        .ok_or_else(|| SamlError::NoEcpResponse(": the envelope has no Body".into()))?;
    if let Some(fault) = body_node.children().find(|n| is(*n, soap, "Fault")) {
        let reason = fault
            .descendants()
            .find(|n| n.is_element() && matches!(n.tag_name().name(), "faultstring" | "Text"))
            .map(|n| text_of(n).trim().chars().take(300).collect::<String>())
            .unwrap_or_else(|| "no reason given".into());
        return Ok(EcpAnswer::Fault(reason));
    }
    let response = body_node
        .children()
        .find(|n| is(*n, NS_PROTOCOL, "Response"))
        .ok_or_else(|| SamlError::NoEcpResponse(": the Body holds no Response".into()))?;
    Ok(EcpAnswer::Response(standalone(body, response)))
}

/// The text of `element` with the namespace declarations it inherits from its ancestors
/// added to its start tag, so it means the same on its own. Declarations it makes itself are
/// kept as they are; unused ones change no exclusive canonical form, so no signature.
fn standalone(text: &str, element: roxmltree::Node<'_, '_>) -> String {
    let range = element.range();
    let own = &text[range.clone()];
    let parent_namespaces: Vec<(Option<&str>, &str)> = element
        .parent_element()
        .map(|p| p.namespaces().map(|ns| (ns.name(), ns.uri())).collect())
        .unwrap_or_default();
    let mut added = String::new();
    for ns in element.namespaces() {
        let inherited = parent_namespaces.contains(&(ns.name(), ns.uri()));
        let attribute = match ns.name() {
            Some(prefix) => format!("xmlns:{prefix}"),
            None => "xmlns".to_owned(),
        };
        // Declared on the element itself (perhaps the same as the parent's): already there.
        let declared_here = own
            .split_once('>')
            .map(|(start, _)| start)
            .is_some_and(|start| start.contains(&format!("{attribute}=")));
        if inherited && !declared_here && ns.name() != Some("xml") {
            added.push_str(&format!(" {attribute}=\"{}\"", escape_attribute(ns.uri())));
        }
    }
    // The start tag's name ends at the first whitespace, '/' or '>' after '<'.
    let name_end = own
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_ascii_whitespace() || *c == '>' || *c == '/')
        .map_or(own.len(), |(i, _)| i);
    format!("{}{added}{}", &own[..name_end], &own[name_end..])
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// What a page of a sign-in by form asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The auto-submitting form that carries the assertion (its `SAMLResponse` value).
    Assertion(String),
    /// A form to submit.
    Form(Form),
    /// Nothing this program can act on.
    Unknown,
}

/// What a form wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// A username (perhaps) and a password.
    Password,
    /// A username alone (a provider that asks for it first).
    Username,
    /// A one-time code.
    Code,
    /// Nothing from a person: hidden fields only (often submitted by a script).
    Hidden,
}

/// An HTML form of a sign-in page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub kind: FormKind,
    /// Where it goes (resolved against the page's address).
    pub action: Url,
    pub post: bool,
    /// The fields a browser would send as they are (hidden ones, a submit button's).
    pub fields: Vec<(String, String)>,
    /// The field for the username, the password, the code.
    pub username_field: Option<String>,
    pub password_field: Option<String>,
    pub code_field: Option<String>,
    /// What the page says in its error or alert elements (a refused password, say).
    pub alert: Option<String>,
}

impl Form {
    /// The fields to send: the form's own plus `extra` (which replace any of the same name).
    pub fn filled(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        fields.extend(
            extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        fields
    }
}

/// Reads a page of a sign-in by form at `url` (see [`Page`]). The first form that carries a
/// `SAMLResponse` wins; then one with a password field; then one asking for a code or a
/// username; then one with only hidden fields.
pub fn read_page(html: &str, url: &Url) -> Page {
    use scraper::{Html, Selector};
    let document = Html::parse_document(html);
    let (Ok(forms), Ok(inputs), Ok(alerts)) = (
        Selector::parse("form"),
        Selector::parse("input, button"),
        Selector::parse(
            r#"[role=alert], .alert, .error, .alert-error, [id*=error], [class*=error], [class*=alert]"#,
        ),
    ) else {
        return Page::Unknown;
    };
    let alert = document
        .select(&alerts)
        .map(|e| e.text().collect::<Vec<_>>().join(" "))
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|t| !t.is_empty())
        .map(|t| t.chars().take(200).collect::<String>());

    let mut found: Vec<Form> = Vec::new();
    for form in document.select(&forms) {
        let action = form
            .value()
            .attr("action")
            .filter(|a| !a.trim().is_empty())
            .map_or_else(|| Ok(url.clone()), |a| url.join(a.trim()));
        let Ok(action) = action else { continue };
        if !matches!(action.scheme(), "http" | "https") {
            continue;
        }
        let post = form
            .value()
            .attr("method")
            .is_some_and(|m| m.eq_ignore_ascii_case("post"));
        let mut fields = Vec::new();
        let mut username_field = None;
        let mut password_field = None;
        let mut code_field = None;
        let mut visible_text = Vec::new();
        let mut submit_taken = false;
        for input in form.select(&inputs) {
            let element = input.value();
            let name = element.attr("name").unwrap_or_default();
            let value = element.attr("value").unwrap_or_default();
            let kind = element
                .attr("type")
                .unwrap_or(if element.name() == "button" {
                    "submit"
                } else {
                    "text"
                })
                .to_ascii_lowercase();
            if name == "SAMLResponse" {
                return Page::Assertion(value.to_owned());
            }
            if name.is_empty() {
                continue;
            }
            match kind.as_str() {
                "hidden" => fields.push((name.to_owned(), value.to_owned())),
                "password" if password_field.is_none() => {
                    password_field = Some(name.to_owned());
                }
                // A browser sends the button pressed: the first one.
                "submit" if !submit_taken => {
                    fields.push((name.to_owned(), value.to_owned()));
                    submit_taken = true;
                }
                "checkbox" | "radio" if element.attr("checked").is_some() => {
                    fields.push((name.to_owned(), value.to_owned()));
                }
                "text" | "email" | "tel" | "number" | "" => {
                    let autocomplete = element.attr("autocomplete").unwrap_or_default();
                    let lower = name.to_ascii_lowercase();
                    if autocomplete == "one-time-code"
                        || ["otp", "code", "totp", "token", "passcode"]
                            .iter()
                            .any(|w| lower.contains(w))
                    {
                        code_field.get_or_insert_with(|| name.to_owned());
                    } else {
                        visible_text.push(name.to_owned());
                    }
                }
                _ => {}
            }
        }
        // The username: the visible text field that looks like one, else the only one.
        let looks_like_user = |n: &&String| {
            let lower = n.to_ascii_lowercase();
            ["user", "login", "email", "name", "account", "principal"]
                .iter()
                .any(|w| lower.contains(w))
        };
        username_field = username_field.or_else(|| {
            visible_text
                .iter()
                .find(looks_like_user)
                .or_else(|| (visible_text.len() == 1).then(|| &visible_text[0]))
                .cloned()
        });
        let kind = if password_field.is_some() {
            FormKind::Password
        } else if code_field.is_some() {
            FormKind::Code
        } else if username_field.is_some() {
            FormKind::Username
        } else if visible_text.is_empty() && !fields.is_empty() {
            FormKind::Hidden
        } else {
            continue;
        };
        found.push(Form {
            kind,
            action,
            post,
            fields,
            username_field,
            password_field,
            code_field,
            alert: alert.clone(),
        });
    }
    let rank = |kind: FormKind| match kind {
        FormKind::Password => 0,
        FormKind::Code => 1,
        FormKind::Username => 2,
        FormKind::Hidden => 3,
    };
    found
        .into_iter()
        .min_by_key(|f| rank(f.kind))
        .map_or(Page::Unknown, Page::Form)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::111122223333:role/Developer";
    const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/corp";

    fn response(attributes: &str, extra: &str) -> String {
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0">
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1">
    <saml:Subject><saml:NameID>alice</saml:NameID>
      <saml:SubjectConfirmation><saml:SubjectConfirmationData NotOnOrAfter="2026-12-03T20:05:00Z"/></saml:SubjectConfirmation>
    </saml:Subject>
    <saml:Conditions NotBefore="2026-12-03T19:59:00Z" NotOnOrAfter="2026-12-03T20:10:00.500Z"/>
    <saml:AttributeStatement>{attributes}</saml:AttributeStatement>
  </saml:Assertion>{extra}
</samlp:Response>"#
        )
    }

    fn roles(values: &[&str]) -> String {
        let values: String = values
            .iter()
            .map(|v| format!("<saml:AttributeValue>{v}</saml:AttributeValue>"))
            .collect();
        format!(r#"<saml:Attribute Name="{ROLE_ATTRIBUTE}">{values}</saml:Attribute>"#)
    }

    #[test]
    fn reads_roles_in_either_order_duration_and_the_earliest_expiry() {
        let attributes = format!(
            r#"{}<saml:Attribute Name="{SESSION_DURATION_ATTRIBUTE}"><saml:AttributeValue>7200</saml:AttributeValue></saml:Attribute>
            <saml:Attribute Name="{ROLE_SESSION_NAME_ATTRIBUTE}"><saml:AttributeValue>alice</saml:AttributeValue></saml:Attribute>"#,
            roles(&[
                &format!("{ROLE},{PROVIDER}"),
                &format!(" {PROVIDER} , arn:aws:iam::111122223333:role/ReadOnly"),
                "not-a-pair",
            ])
        );
        let xml = response(&attributes, "");
        let assertion = Assertion::from_form_value(&STANDARD.encode(&xml)).unwrap();
        assert_eq!(assertion.roles.len(), 2);
        assert_eq!(assertion.roles[0].role_arn.as_str(), ROLE);
        assert_eq!(assertion.roles[1].provider_arn.as_str(), PROVIDER);
        assert_eq!(
            assertion.roles[1].role_arn.as_str(),
            "arn:aws:iam::111122223333:role/ReadOnly"
        );
        assert_eq!(assertion.unreadable_roles, ["not-a-pair"]);
        assert_eq!(assertion.session_duration, Some(7200));
        assert_eq!(assertion.session_name.as_deref(), Some("alice"));
        assert_eq!(assertion.subject.as_deref(), Some("alice"));
        assert_eq!(
            assertion.not_on_or_after,
            Some(time::macros::datetime!(2026-12-03 20:05:00 UTC))
        );
        // What STS gets is the provider's bytes, untouched.
        assert_eq!(assertion.encoded.expose(), STANDARD.encode(&xml));
    }

    #[test]
    fn refusals_name_the_problem() {
        let failed = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>bad user</samlp:StatusMessage></samlp:Status></samlp:Response>"#;
        let err = Assertion::from_xml(failed).unwrap_err().to_string();
        assert!(
            err.contains("Responder/AuthnFailed") && err.contains("bad user"),
            "{err}"
        );

        let none = response(&roles(&["arn:aws:iam::111122223333:user/x,y"]), "");
        let err = Assertion::from_xml(&none).unwrap_err().to_string();
        assert!(
            err.contains("offers no AWS role") && err.contains("user/x"),
            "{err}"
        );

        let two = response(
            &roles(&[&format!("{ROLE},{PROVIDER}")]),
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"/>",
        );
        assert_eq!(
            Assertion::from_xml(&two).unwrap_err(),
            SamlError::AssertionCount(2)
        );

        let encrypted = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/></samlp:Response>"#;
        assert_eq!(
            Assertion::from_xml(encrypted).unwrap_err(),
            SamlError::Encrypted
        );

        let dtd = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>";
        assert!(matches!(
            Assertion::from_xml(dtd),
            Err(SamlError::NotXml(_))
        ));
        assert!(matches!(
            Assertion::from_form_value("%%%"),
            Err(SamlError::NotBase64(_))
        ));
        assert!(matches!(
            Assertion::from_xml("<html/>"),
            Err(SamlError::NotAResponse(_))
        ));
    }

    #[test]
    fn usable_until_its_earliest_expiry_less_the_margin() {
        let xml = response(&roles(&[&format!("{ROLE},{PROVIDER}")]), "");
        let assertion = Assertion::from_xml(&xml).unwrap();
        let minute = time::Duration::minutes(1);
        assert!(assertion.usable_at(time::macros::datetime!(2026-12-03 20:03:59 UTC), minute));
        assert!(!assertion.usable_at(time::macros::datetime!(2026-12-03 20:04:00 UTC), minute));
    }

    #[test]
    fn an_ecp_response_stands_alone_with_the_namespaces_it_inherited() {
        let inner = response(&roles(&[&format!("{ROLE},{PROVIDER}")]), "");
        // Keycloak-like: the Response uses a prefix the envelope declares.
        let body = format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:x="urn:x"><soap:Header/><soap:Body>{}</soap:Body></soap:Envelope>"#,
            inner.replacen(
                r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol""#,
                r#"<samlp:Response x:a="1""#,
                1
            )
        )
        .replace(
            "soap:Envelope xmlns:soap",
            "soap:Envelope xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:soap",
        );
        let EcpAnswer::Response(xml) = read_ecp_answer(&body).unwrap() else {
            panic!("no response");
        };
        assert!(xml.starts_with("<samlp:Response xmlns:"), "{xml}");
        let assertion = Assertion::from_xml(&xml).unwrap();
        assert_eq!(assertion.roles.len(), 1);

        let fault = r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><S:Fault><faultcode>S:Server</faultcode><faultstring>Authentication failed</faultstring></S:Fault></S:Body></S:Envelope>"#;
        assert!(
            matches!(read_ecp_answer(fault).unwrap(), EcpAnswer::Fault(f) if f == "Authentication failed")
        );
        assert!(read_ecp_answer("<html><body>hi</body></html>").is_err());
        assert!(read_ecp_answer("not xml").is_err());
    }

    #[test]
    fn the_ecp_request_is_an_authn_request_for_aws() {
        let request = ecp_request("_abc", time::macros::datetime!(2026-12-03 20:00:00.25 UTC));
        let document = roxmltree::Document::parse(&request).unwrap();
        let authn = document
            .descendants()
            .find(|n| is(*n, NS_PROTOCOL, "AuthnRequest"))
            .unwrap();
        assert_eq!(authn.attribute("ID"), Some("_abc"));
        assert_eq!(
            authn.attribute("IssueInstant"),
            Some("2026-12-03T20:00:00Z")
        );
        assert_eq!(
            authn.attribute("AssertionConsumerServiceURL"),
            Some(AWS_ACS_URL)
        );
    }

    fn page(html: &str) -> Page {
        read_page(
            html,
            &Url::parse("https://idp.example/realms/r/login?x=1").unwrap(),
        )
    }

    #[test]
    fn a_login_form_names_its_fields_and_keeps_hidden_ones() {
        let html = r#"<html><body><form id="kc-form-login" action="/realms/r/login-actions/authenticate?session_code=abc" method="post">
            <input id="username" name="username" type="text" autocomplete="username">
            <input id="password" name="password" type="password">
            <input type="hidden" id="id-hidden-input" name="credentialId" value="">
            <input type="checkbox" name="rememberMe">
            <input class="pf-c-button" name="login" id="kc-login" type="submit" value="Sign In"/>
            <span id="input-error" class="kc-feedback-text" aria-live="polite">Invalid username or password.</span>
        </form></body></html>"#;
        let Page::Form(form) = page(html) else {
            panic!()
        };
        assert_eq!(form.kind, FormKind::Password);
        assert!(form.post);
        assert_eq!(
            form.action.as_str(),
            "https://idp.example/realms/r/login-actions/authenticate?session_code=abc"
        );
        assert_eq!(form.username_field.as_deref(), Some("username"));
        assert_eq!(form.password_field.as_deref(), Some("password"));
        assert_eq!(
            form.fields,
            [
                ("credentialId".to_owned(), String::new()),
                ("login".to_owned(), "Sign In".to_owned())
            ]
        );
        assert_eq!(form.alert.as_deref(), Some("Invalid username or password."));
        let filled = form.filled(&[("username", "alice"), ("credentialId", "c")]);
        assert!(filled.contains(&("credentialId".into(), "c".into())));
        assert_eq!(
            filled.iter().filter(|(n, _)| n == "credentialId").count(),
            1
        );
    }

    #[test]
    fn code_username_hidden_and_assertion_pages() {
        let otp = r#"<form action="otp" method="post"><input id="otp" name="otp" autocomplete="one-time-code" type="text"><input type="submit" name="login" value="Sign In"></form>"#;
        let Page::Form(form) = page(otp) else {
            panic!()
        };
        assert_eq!(form.kind, FormKind::Code);
        assert_eq!(form.code_field.as_deref(), Some("otp"));
        assert_eq!(form.action.as_str(), "https://idp.example/realms/r/otp");

        let user = r#"<form method="post"><input name="identifier" type="email"><button type="submit">Next</button></form>"#;
        let Page::Form(form) = page(user) else {
            panic!()
        };
        assert_eq!(form.kind, FormKind::Username);
        assert_eq!(form.username_field.as_deref(), Some("identifier"));
        assert!(!form.post || form.action.as_str().ends_with("x=1"));

        let hidden = r#"<form method="post" action="https://idp.example/next"><input type="hidden" name="state" value="s"></form>"#;
        assert!(matches!(
            page(hidden),
            Page::Form(Form {
                kind: FormKind::Hidden,
                ..
            })
        ));

        let done = r#"<body onload="document.forms[0].submit()"><form method="post" action="https://signin.aws.amazon.com/saml"><input type="hidden" name="SAMLResponse" value="PHg+"/><input type="hidden" name="RelayState" value=""/></form></body>"#;
        assert_eq!(page(done), Page::Assertion("PHg+".into()));

        assert_eq!(page("<p>Something went wrong</p>"), Page::Unknown);
        let script =
            r#"<form action="javascript:go()"><input type="hidden" name="a" value="b"></form>"#;
        assert_eq!(page(script), Page::Unknown);
    }
}
