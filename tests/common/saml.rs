//! Getting real SAML responses from Keycloak for tests (see [`super::keycloak`] for the
//! realm's SAML clients and users): ECP (a SOAP `AuthnRequest` with HTTP Basic
//! authentication) and the IdP-initiated browser sign-in (its HTML forms filled by Python's
//! standard `html.parser`, cookies kept, carol's one-time code entered), and the surgery the
//! refusal tests do on a response (with a real XML parser: element ranges from roxmltree).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sts::{Role, SamlProvider};

use super::keycloak;
use super::profiles::World;

const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// A SOAP envelope with an `AuthnRequest` from `sp` (a SAML client id) for the PAOS binding,
/// asking for the response at [`keycloak::SAML_ACS`].
pub(crate) fn ecp_authn_request(sp: &str) -> String {
    use fake_aws::clock::Clock as _;
    let now = fake_aws::sigv4::format_rfc3339(fake_aws::clock::SystemClock.now());
    let id = format!("_needroleshere-test-{}", uuid_like());
    format!(
        "<S:Envelope xmlns:S=\"{SOAP_NS}\"><S:Body>\
         <samlp:AuthnRequest xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" \
         ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\" \
         ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:PAOS\" \
         AssertionConsumerServiceURL=\"{}\"><saml:Issuer>{sp}</saml:Issuer>\
         </samlp:AuthnRequest></S:Body></S:Envelope>",
        keycloak::SAML_ACS
    )
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// ECP sign-in of `user` to the SAML client `sp`: the `samlp:Response` as a standalone
/// document ([`standalone_response`]).
pub(crate) async fn ecp_response(sp: &str, user: &str, password: &str) -> String {
    let response = keycloak::http()
        .post(keycloak::saml_endpoint())
        .basic_auth(user, Some(password))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(ecp_authn_request(sp))
        .send()
        .await
        .expect("Keycloak's SAML endpoint answers");
    let status = response.status().as_u16();
    let body = response.text().await.expect("a SOAP body");
    assert_eq!(status, 200, "ECP sign-in of {user}: {body}");
    standalone_response(&body)
}

/// The `samlp:Response` of a SOAP envelope as a document of its own: its text, with the
/// namespace declarations it inherits from the envelope added to its start tag (exclusive
/// canonicalisation makes the signature indifferent to where they are declared).
pub(crate) fn standalone_response(envelope: &str) -> String {
    let document = roxmltree::Document::parse(envelope).expect("a SOAP envelope");
    let response = document
        .descendants()
        .find(|node| is_element(node, PROTOCOL_NS, "Response"))
        .expect("a samlp:Response in the envelope");
    let text = &envelope[response.range()];
    let name_end = text
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .expect("a start tag");
    let start_tag_end = text.find('>').expect("a start tag");
    let start_tag = &text[..start_tag_end];
    let parent = response.parent_element().expect("the SOAP body");
    let mut declarations = String::new();
    for namespace in parent.namespaces() {
        let attribute = match namespace.name() {
            Some(prefix) => format!("xmlns:{prefix}="),
            None => "xmlns=".to_owned(),
        };
        if !start_tag.contains(&attribute) {
            declarations.push_str(&format!(" {attribute}\"{}\"", namespace.uri()));
        }
    }
    format!("{}{declarations}{}", &text[..name_end], &text[name_end..])
}

/// The IdP-initiated browser sign-in of `user` at `url` (one of the realm's IdP-initiated SSO
/// URLs), with `otp` when Keycloak asks for one: the `SAMLResponse` the last page's form
/// posts, decoded, and that form's action.
pub(crate) async fn form_response(
    url: &str,
    user: &str,
    password: &str,
    otp: Option<&str>,
) -> (String, String) {
    let output = tokio::process::Command::new(super::daemon::python())
        .args(["-c", FORM_SIGN_IN])
        .env("START", url)
        .env("SAML_USER", user)
        .env("SAML_PASSWORD", password)
        .env("SAML_OTP", otp.unwrap_or_default())
        .output()
        .await
        .expect("run python");
    super::daemon::assert_success(&output, "the form sign-in");
    let answer: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the form sign-in's JSON");
    let encoded = answer["SAMLResponse"].as_str().expect("a SAMLResponse");
    let xml = String::from_utf8(STANDARD.decode(encoded).expect("base64")).expect("UTF-8");
    (
        xml,
        answer["action"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The browser sign-in: follow redirects, keep cookies (Secure ones too, on loopback), fill the login form (and the
/// one-time code form), stop at the form carrying `SAMLResponse`.
const FORM_SIGN_IN: &str = r#"
import html.parser, http.cookiejar, json, os, sys, urllib.parse, urllib.request

class Forms(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "inputs": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"][attrs["name"]] = attrs.get("value") or ""

# Keycloak marks its cookies Secure; browsers send those to http://127.0.0.1 (a potentially
# trustworthy origin), Python only over https unless told. The test talks to loopback only.
policy = http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "wss", "http"))
opener = urllib.request.build_opener(
    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar(policy)),
    urllib.request.ProxyHandler({}))

def forms_of(response):
    parser = Forms()
    parser.feed(response.read().decode())
    return parser.forms

forms = forms_of(opener.open(os.environ["START"], timeout=60))
for _ in range(4):
    if not forms:
        sys.exit("no form on the page")
    form = forms[0]
    fields = dict(form["inputs"])
    if "SAMLResponse" in fields:
        print(json.dumps({"SAMLResponse": fields["SAMLResponse"], "action": form["action"]}))
        sys.exit(0)
    if "username" in fields or "password" in fields:
        fields.update(username=os.environ["SAML_USER"], password=os.environ["SAML_PASSWORD"])
    elif "otp" in fields:
        fields["otp"] = os.environ["SAML_OTP"]
    else:
        sys.exit("a form this sign-in does not know: " + json.dumps(form))
    body = urllib.parse.urlencode(fields).encode()
    forms = forms_of(opener.open(form["action"], body, timeout=60))
sys.exit("no SAMLResponse after four forms")
"#;

/// `xml` with every `ds:Signature` element removed.
pub(crate) fn without_signatures(xml: &str) -> String {
    let document = roxmltree::Document::parse(xml).expect("XML");
    let mut ranges: Vec<_> = document
        .descendants()
        .filter(|node| is_element(node, DSIG_NS, "Signature"))
        .map(|node| node.range())
        .collect();
    // Outermost first when nested; remove from the end so earlier ranges stay valid.
    ranges.sort_by_key(|range| std::cmp::Reverse(range.start));
    let mut out = xml.to_owned();
    let mut removed_up_to = usize::MAX;
    for range in ranges {
        if range.end <= removed_up_to {
            out.replace_range(range.clone(), "");
            removed_up_to = range.start;
        }
    }
    out
}

/// `xml` with only the `samlp:Response`'s own `ds:Signature` removed (the assertion's stays).
pub(crate) fn without_response_signature(xml: &str) -> String {
    let document = roxmltree::Document::parse(xml).expect("XML");
    let signature = document
        .root_element()
        .children()
        .find(|node| is_element(node, DSIG_NS, "Signature"))
        .expect("a signed Response");
    let mut out = xml.to_owned();
    out.replace_range(signature.range(), "");
    out
}

/// Whether `node` is the element `name` of namespace `ns`.
fn is_element(node: &roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

/// The range of the response's `saml:Assertion` element in `xml`.
pub(crate) fn assertion_range(xml: &str) -> std::ops::Range<usize> {
    let document = roxmltree::Document::parse(xml).expect("XML");
    document
        .descendants()
        .find(|node| is_element(node, ASSERTION_NS, "Assertion"))
        .expect("an assertion")
        .range()
}

/// The `ID` of the response's `saml:Assertion`.
pub(crate) fn assertion_id(xml: &str) -> String {
    let document = roxmltree::Document::parse(xml).expect("XML");
    document
        .descendants()
        .find(|node| node.is_element() && node.tag_name().name() == "Assertion")
        .and_then(|node| node.attribute("ID"))
        .expect("an assertion ID")
        .to_owned()
}

/// The identity provider's session that `encoded` (a response in base64, as `SAMLResponse`
/// carries it) was issued in: its `AuthnStatement`'s `SessionIndex`. Keycloak's names its
/// user session (`SESSION::CLIENT`): an assertion from that session's cookies carries the same
/// one, a sign-in with the password starts a new session and carries another.
pub(crate) fn session_index(encoded: &str) -> String {
    let xml = String::from_utf8(STANDARD.decode(encoded).expect("base64")).expect("UTF-8");
    let document = roxmltree::Document::parse(&xml).expect("XML");
    document
        .descendants()
        .find(|node| is_element(node, ASSERTION_NS, "AuthnStatement"))
        .and_then(|node| node.attribute("SessionIndex"))
        .expect("an AuthnStatement with a SessionIndex")
        .to_owned()
}

/// base64 of `xml`, as `SAMLAssertion` carries it.
pub(crate) fn encode(xml: &str) -> String {
    STANDARD.encode(xml)
}

// ---------------------------------------------------------------------------------------------
// A world whose profiles sign in to Keycloak, with the strict STS double verifying Keycloak's
// assertions (tests/saml_signin.rs, tests/saml_page.rs)
// ---------------------------------------------------------------------------------------------

/// Keycloak's base URL, once it is up (starting it blocks, so not on this runtime's worker).
pub(crate) async fn keycloak_url() -> String {
    tokio::task::spawn_blocking(|| keycloak::base_url().to_owned())
        .await
        .unwrap()
}

/// The IdP-initiated sign-in URL for AWS: a sign-in by form.
pub(crate) fn form_url(base: &str) -> url::Url {
    format!(
        "{base}/realms/{}/protocol/saml/clients/amazon-aws",
        keycloak::REALM
    )
    .parse()
    .unwrap()
}

/// The realm's SAML endpoint, which speaks ECP.
pub(crate) fn ecp_url(base: &str) -> url::Url {
    format!("{base}/realms/{}/protocol/saml", keycloak::REALM)
        .parse()
        .unwrap()
}

pub(crate) const TARGET_ROLE: &str = "arn:aws:iam::123456789012:role/saml-target";

/// The STS double trusting Keycloak's SAML provider for the realm's roles (and a target role
/// for jump chains), and a home whose profiles sign in to Keycloak.
pub(crate) async fn world(base: &str, clock: Option<Arc<dyn fake_aws::clock::Clock>>) -> World {
    let metadata = keycloak::saml_metadata().await;
    let provider = SamlProvider::from_metadata(keycloak::SAML_PROVIDER_ARN, &metadata).unwrap();
    let world = World::with_sts(|config| {
        config.saml_providers.push(provider);
        config.roles.extend([
            Role::trusting_saml(
                keycloak::SAML_DEVELOPER_ROLE_ARN,
                keycloak::SAML_PROVIDER_ARN,
            ),
            Role::trusting_saml(
                keycloak::SAML_READONLY_ROLE_ARN,
                keycloak::SAML_PROVIDER_ARN,
            ),
            Role::trusting_account(TARGET_ROLE, ACCOUNT_ID),
        ]);
        if let Some(clock) = clock {
            config.clock = clock;
        }
    })
    .await;
    let config = world.home.path().join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile saml-form]\nsaml_auth_url = {form}\nrole_arn = {developer}\n\n\
         [profile saml-ecp]\nsaml_auth_url = {ecp}\nsaml_username = alice\n\n\
         [profile saml-jump]\nsaml_auth_url = {ecp}\nsaml_username = bob\n\
         jump_role_arn = {readonly}\nrole_arn = {TARGET_ROLE}\n\n\
         [profile saml-not-offered]\nsaml_auth_url = {ecp}\nsaml_username = bob\n\
         role_arn = {developer}\n\n\
         [profile saml-no-form]\nsaml_auth_url = {base}/realms/{realm}/account/\n\
         role_arn = {developer}\n\n\
         [profile saml-down]\nsaml_auth_url = http://127.0.0.1:9/idp\nrole_arn = {developer}\n",
        form = form_url(base),
        ecp = ecp_url(base),
        developer = keycloak::SAML_DEVELOPER_ROLE_ARN,
        readonly = keycloak::SAML_READONLY_ROLE_ARN,
        realm = keycloak::REALM,
    ));
    std::fs::write(&config, text).unwrap();
    world
}

pub(crate) fn assumed(role: &str, session: &str) -> String {
    let name = role.rsplit('/').next().unwrap();
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/{session}")
}
