//! Keys and certificates in PKCS#11 tokens (HSMs, smart cards, SoftHSM), through `cryptoki`.
//!
//! * The module: the URI's `module-path`, then `--pkcs11-lib`, then p11-kit's proxy module
//!   (which reaches every module p11-kit knows). A module is loaded and initialised once per
//!   process and kept.
//! * One session per token, logged in once and kept ([`Token`]): every key of the token signs
//!   through it, one signature at a time. A session the token reports closed, or a token that
//!   was removed, is opened again at the next use; meanwhile signing fails as *unavailable*.
//! * **A PIN the token refused is never offered again**: tokens lock after a few wrong PINs.
//!   Its hash is remembered for the life of the process; a new PIN (the file or credential
//!   changed) is tried once.
//! * Keys with `CKA_ALWAYS_AUTHENTICATE` log in for each signature with the same PIN only when
//!   `--reuse-pin` allows it; nothing here ever prompts.

mod uri;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use sha2::{Digest as _, Sha256};

pub use uri::{ObjectType, Pkcs11Uri, UriError};

use super::certificate::{Certificate, PublicKey};
use super::device::{self, DeviceKey, DeviceOptions, Digest};
use super::{IdentityError, KeyAlgorithm, OID_P256, OID_P384};
use crate::secret::{Secret, SecretSource};

/// Where p11-kit's proxy module is on the systems we know, in order.
const PROXY_MODULES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
    "/usr/lib/p11-kit-proxy.so",
    "/usr/local/lib/p11-kit-proxy.so",
];

/// A loaded, initialised module.
struct Module {
    path: PathBuf,
    context: Pkcs11,
    /// Counts re-initialisations: sessions opened before the last one are gone.
    generation: std::sync::atomic::AtomicU64,
    last_reset: Mutex<Option<std::time::Instant>>,
}

impl Module {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The slots with a token. A module that fails to list them is finalised and
    /// initialised again once: a module whose device went away and came back (a reader
    /// unplugged, p11-kit's client losing its server) answers only after that.
    fn slots(&self) -> Result<Vec<Slot>, CkError> {
        match self.context.get_slots_with_token() {
            Ok(slots) => Ok(slots),
            Err(_) => {
                self.reinitialize()?;
                self.context.get_slots_with_token()
            }
        }
    }

    /// Re-initialises the module unless that was done less than a second ago; whether it
    /// did.
    fn reinitialize_now(&self) -> bool {
        let mut last = self.last_reset.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1)) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        drop(last);
        self.reinitialize().is_ok()
    }

    fn reinitialize(&self) -> Result<(), CkError> {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Finalising a clone finalises the module; the context stays usable for the next
        // C_Initialize (the library stays loaded while any clone lives).
        let _ = self.context.clone().finalize();
        self.context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
    }
}

/// One token: its identity and the one session we keep with it.
pub(crate) struct Token {
    module: Arc<Module>,
    label: String,
    serial: String,
    manufacturer: String,
    model: String,
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    slot: Option<Slot>,
    session: Option<Session>,
    /// The module's generation when `session` was opened.
    generation: u64,
    logged_in: bool,
    /// SHA-256 of every PIN this token refused.
    refused_pins: Vec<[u8; 32]>,
    /// Object handles found in the current session, by object URI.
    handles: HashMap<String, ObjectHandle>,
}

fn modules() -> MutexGuard<'static, HashMap<PathBuf, Arc<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    // Only loaded modules live here; a panic elsewhere leaves them usable.
    MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Tokens by module, label and serial number.
type TokenMap = HashMap<(PathBuf, String, String), Arc<Token>>;

fn tokens() -> MutexGuard<'static, TokenMap> {
    static TOKENS: OnceLock<Mutex<TokenMap>> = OnceLock::new();
    TOKENS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The module a URI and the options name.
fn module_path(uri: &Pkcs11Uri, options: &DeviceOptions) -> Result<PathBuf, IdentityError> {
    if let Some(path) = uri.module_path.as_ref().or(options.pkcs11_module.as_ref()) {
        return Ok(path.clone());
    }
    if let Some(name) = &uri.module_name {
        return Err(device_error(
            uri,
            format!("module-name={name} is not supported; give module-path or --pkcs11-lib"),
        ));
    }
    PROXY_MODULES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            device_error(
                uri,
                "no PKCS#11 module: give --pkcs11-lib PATH or module-path in the URI, or \
                 install p11-kit's proxy module (p11-kit-modules)"
                    .to_owned(),
            )
        })
}

fn module(path: &Path) -> Result<Arc<Module>, IdentityError> {
    let mut modules = modules();
    if let Some(module) = modules.get(path) {
        return Ok(module.clone());
    }
    let failed = |reason: String| IdentityError::Device {
        key: path.display().to_string(),
        reason,
    };
    if !path.is_file() {
        return Err(failed("no such PKCS#11 module".to_owned()));
    }
    let context = Pkcs11::new(path).map_err(|e| failed(format!("cannot load: {e}")))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(failed(format!("C_Initialize failed: {e}"))),
    }
    let module = Arc::new(Module {
        path: path.to_owned(),
        context,
        generation: Default::default(),
        last_reset: Mutex::default(),
    });
    modules.insert(path.to_owned(), module.clone());
    Ok(module)
}

/// Every token of the module that the URI's token attributes select. A token this process
/// used before that is not there now is *unavailable* (it may come back: the module is asked
/// afresh, at most once a second), not a mistake in the URI.
fn matching_tokens(
    uri: &Pkcs11Uri,
    options: &DeviceOptions,
) -> Result<Vec<Arc<Token>>, IdentityError> {
    let module = module(&module_path(uri, options)?)?;
    let listed = |module: &Arc<Module>| {
        select_tokens(module, uri)
            .map_err(|e| unavailable(uri, format!("cannot list the module's slots: {e}")))
    };
    let (mut found, mut seen) = listed(&module)?;
    if found.is_empty() && known_token(&module, uri) {
        if module.reinitialize_now() {
            (found, seen) = listed(&module)?;
        }
        if found.is_empty() {
            return Err(unavailable(
                uri,
                "the token is not present (it was before)".to_owned(),
            ));
        }
    }
    if found.is_empty() {
        let present = if seen.is_empty() {
            "the module has no token".to_owned()
        } else {
            format!("the module has {}", seen.join(", "))
        };
        return Err(device_error(uri, format!("no token matches; {present}")));
    }
    Ok(found)
}

/// Whether the URI selects a token of `module` this process has used.
fn known_token(module: &Module, uri: &Pkcs11Uri) -> bool {
    tokens()
        .iter()
        .any(|((path, _, _), token)| *path == module.path && token_selected(uri, token, None))
}

fn token_selected(uri: &Pkcs11Uri, token: &Token, slot: Option<Slot>) -> bool {
    let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    wanted(&uri.token, &token.label)
        && wanted(&uri.serial, &token.serial)
        && wanted(&uri.manufacturer, &token.manufacturer)
        && wanted(&uri.model, &token.model)
        && uri
            .slot_id
            .is_none_or(|id| slot.is_none_or(|slot| slot.id() == id))
}

/// The tokens the module has now that the URI selects, and a URI of every token it has.
fn select_tokens(
    module: &Arc<Module>,
    uri: &Pkcs11Uri,
) -> Result<(Vec<Arc<Token>>, Vec<String>), CkError> {
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for slot in module.slots()? {
        let Ok(info) = module.context.get_token_info(slot) else {
            continue;
        };
        let candidate = Token {
            module: module.clone(),
            label: info.label().trim_end().to_owned(),
            serial: info.serial_number().trim_end().to_owned(),
            manufacturer: info.manufacturer_id().trim_end().to_owned(),
            model: info.model().trim_end().to_owned(),
            state: Mutex::default(),
        };
        seen.push(format!(
            "pkcs11:token={};serial={}",
            candidate.label, candidate.serial
        ));
        if !token_selected(uri, &candidate, Some(slot)) {
            continue;
        }
        let key = (
            module.path.clone(),
            candidate.label.clone(),
            candidate.serial.clone(),
        );
        let token = tokens()
            .entry(key)
            .or_insert_with(|| Arc::new(candidate))
            .clone();
        token.lock().slot = Some(slot);
        found.push(token);
    }
    Ok((found, seen))
}

/// Where the PIN for `uri` comes from: the URI's `pin-value`, its `pin-source`, then the
/// options.
fn pin_source(uri: &Pkcs11Uri, options: &DeviceOptions) -> Option<SecretSource> {
    if let Some(value) = &uri.pin_value {
        return Some(SecretSource::Given(value.clone()));
    }
    if let Some(path) = &uri.pin_source {
        return Some(SecretSource::File(path.clone()));
    }
    options.pkcs11_pin.clone()
}

fn read_pin(source: &SecretSource, options: &DeviceOptions) -> Result<Secret, IdentityError> {
    source
        .read(options.credentials_directory.as_deref())
        .map_err(|e| IdentityError::Secret {
            what: "PKCS#11 PIN",
            source_name: source.to_string(),
            source: e,
        })
}

/// The errors after which the session (or the token) is gone and a new one may work.
fn session_lost(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn
                | RvError::DeviceError
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

impl Token {
    fn lock(&self) -> MutexGuard<'_, TokenState> {
        // The state is a session handle and a few caches, valid whatever panicked.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn name(&self) -> String {
        format!("token \"{}\" (serial {})", self.label, self.serial)
    }

    fn object_uri(&self, class: ObjectType, label: Option<&str>, id: &[u8]) -> Pkcs11Uri {
        Pkcs11Uri {
            token: Some(self.label.clone()),
            // Label and serial number name a token; manufacturer and model only lengthen
            // every message.
            serial: Some(self.serial.clone()),
            object: label.map(str::to_owned),
            id: (!id.is_empty()).then(|| id.to_vec()),
            object_type: Some(class),
            ..Pkcs11Uri::default()
        }
    }

    /// Runs `work` in this token's session, logged in when `pin` is given, opening the
    /// session (again) as needed. A lost session is opened once more and `work` retried.
    fn with_session<T>(
        &self,
        pin: Option<(&SecretSource, &DeviceOptions)>,
        work: impl Fn(&Session, &mut TokenState) -> Result<T, CkError>,
        what: &str,
    ) -> Result<T, IdentityError> {
        let mut state = self.lock();
        for attempt in 0..2 {
            self.open(&mut state, pin)?;
            let session = state.session.take().expect("open() leaves a session");
            let outcome = work(&session, &mut state);
            match outcome {
                Ok(value) => {
                    state.session = Some(session);
                    return Ok(value);
                }
                Err(error) if session_lost(&error) => {
                    // The session is gone with the token's state: start over. Closing it
                    // would only fail again.
                    std::mem::forget(session);
                    state.logged_in = false;
                    state.handles.clear();
                    if attempt == 1 {
                        return Err(IdentityError::DeviceUnavailable {
                            key: self.name(),
                            reason: format!("{what} failed: {error}"),
                        });
                    }
                }
                Err(error) => {
                    state.session = Some(session);
                    return Err(IdentityError::Device {
                        key: self.name(),
                        reason: format!("{what} failed: {error}"),
                    });
                }
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Opens a session if there is none, and logs in if a PIN is given and it is not.
    fn open(
        &self,
        state: &mut TokenState,
        pin: Option<(&SecretSource, &DeviceOptions)>,
    ) -> Result<(), IdentityError> {
        if state.generation != self.module.generation() {
            // The module was initialised again: the session's handle means nothing now, and
            // closing it would only fail.
            if let Some(session) = state.session.take() {
                std::mem::forget(session);
            }
            state.slot = None;
        }
        if state.session.is_none() {
            let generation = self.module.generation();
            let slot = self.find_slot(state)?;
            let session = self.module.context.open_ro_session(slot).map_err(|e| {
                state.slot = None;
                IdentityError::DeviceUnavailable {
                    key: self.name(),
                    reason: format!("cannot open a session: {e}"),
                }
            })?;
            state.session = Some(session);
            state.generation = generation;
            state.logged_in = false;
            state.handles.clear();
        }
        let Some((source, options)) = pin else {
            return Ok(());
        };
        if state.logged_in {
            return Ok(());
        }
        let pin = read_pin(source, options)?;
        let hash: [u8; 32] = Sha256::digest(pin.expose().as_bytes()).into();
        if state.refused_pins.contains(&hash) {
            return Err(IdentityError::Device {
                key: self.name(),
                reason: format!(
                    "the PIN from {source} was refused before; not trying it again (tokens \
                     lock after a few wrong PINs): fix the PIN and restart"
                ),
            });
        }
        let session = state.session.as_ref().expect("opened above");
        let auth = cryptoki::types::AuthPin::from(pin.expose().to_owned());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                state.logged_in = true;
                Ok(())
            }
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                state.refused_pins.push(hash);
                Err(IdentityError::Device {
                    key: self.name(),
                    reason: format!(
                        "the token refused the PIN from {source}; it will not be tried again"
                    ),
                })
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(IdentityError::Device {
                key: self.name(),
                reason: "the PIN is locked: unlock the token with its SO PIN".to_owned(),
            }),
            Err(e) if session_lost(&e) => {
                state.session = None;
                Err(IdentityError::DeviceUnavailable {
                    key: self.name(),
                    reason: format!("login failed: {e}"),
                })
            }
            Err(e) => Err(IdentityError::Device {
                key: self.name(),
                reason: format!("login failed: {e}"),
            }),
        }
    }

    /// The slot holding this token now (it may have moved if it was taken out).
    fn find_slot(&self, state: &mut TokenState) -> Result<Slot, IdentityError> {
        if let Some(slot) = state.slot {
            return Ok(slot);
        }
        let gone = |reason: String| IdentityError::DeviceUnavailable {
            key: self.name(),
            reason,
        };
        let slots = self
            .module
            .slots()
            .map_err(|e| gone(format!("cannot list slots: {e}")))?;
        for slot in slots {
            if let Ok(info) = self.module.context.get_token_info(slot)
                && info.label().trim_end() == self.label
                && info.serial_number().trim_end() == self.serial
            {
                state.slot = Some(slot);
                return Ok(slot);
            }
        }
        Err(gone("the token is not present".to_owned()))
    }
}

/// What a search for objects found: the token, the handle, and its URI.
struct Found {
    token: Arc<Token>,
    uri: Pkcs11Uri,
    attributes: Vec<Attribute>,
}

fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    template
}

fn label_and_id(attributes: &[Attribute]) -> (Option<String>, Vec<u8>) {
    let mut label = None;
    let mut id = Vec::new();
    for attribute in attributes {
        match attribute {
            Attribute::Label(bytes) => label = Some(String::from_utf8_lossy(bytes).into_owned()),
            Attribute::Id(bytes) => id = bytes.clone(),
            _ => {}
        }
    }
    (label, id)
}

/// Finds the objects of `class` the URI selects in every matching token.
fn find(
    uri: &Pkcs11Uri,
    options: &DeviceOptions,
    class: ObjectClass,
    object_type: ObjectType,
    login: bool,
    wanted: &[AttributeType],
) -> Result<Vec<Found>, IdentityError> {
    let pin = pin_source(uri, options);
    let mut found = Vec::new();
    for token in matching_tokens(uri, options)? {
        let login = match (&pin, login) {
            (Some(source), true) => Some((source, options)),
            (None, true) => {
                return Err(device_error(
                    uri,
                    format!(
                        "{} needs its PIN to show its keys: give --pkcs11-pin-source \
                         credential:NAME, file:PATH or env:VARIABLE, pin-source in the URI, \
                         or --pkcs11-pin",
                        token.name()
                    ),
                ));
            }
            (_, false) => None,
        };
        let mut attribute_types = vec![AttributeType::Label, AttributeType::Id];
        attribute_types.extend_from_slice(wanted);
        let objects = token.with_session(
            login,
            |session, _| {
                let handles = session.find_objects(&template(uri, class))?;
                handles
                    .into_iter()
                    .map(|h| session.get_attributes(h, &attribute_types))
                    .collect::<Result<Vec<_>, CkError>>()
            },
            "searching the token",
        )?;
        for attributes in objects {
            let (label, id) = label_and_id(&attributes);
            found.push(Found {
                uri: token.object_uri(object_type, label.as_deref(), &id),
                token: token.clone(),
                attributes,
            });
        }
    }
    Ok(found)
}

fn list(found: &[Found]) -> String {
    found
        .iter()
        .map(|f| f.uri.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn device_error(uri: &Pkcs11Uri, reason: String) -> IdentityError {
    IdentityError::Device {
        key: uri.to_string(),
        reason,
    }
}

fn unavailable(uri: &Pkcs11Uri, reason: String) -> IdentityError {
    IdentityError::DeviceUnavailable {
        key: uri.to_string(),
        reason,
    }
}

/// The certificates the URI selects (type `cert`), in token order.
pub(super) fn read_certificates(
    uri: &Pkcs11Uri,
    options: &DeviceOptions,
) -> Result<Vec<Certificate>, IdentityError> {
    if uri
        .object_type
        .is_some_and(|t| t != ObjectType::Certificate)
    {
        return Err(device_error(
            uri,
            "this URI names no certificate (type is not cert)".into(),
        ));
    }
    let found = find(
        uri,
        options,
        ObjectClass::CERTIFICATE,
        ObjectType::Certificate,
        false,
        &[AttributeType::Value],
    )?;
    if found.is_empty() {
        return Err(device_error(
            uri,
            "no certificate in the token matches".into(),
        ));
    }
    found
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let der = f
                .attributes
                .iter()
                .find_map(|a| match a {
                    Attribute::Value(der) => Some(der.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            Certificate::parse(der, Path::new(&f.uri.to_string()), index + 1)
        })
        .collect()
}

/// Opens the one private key the URI selects.
pub(super) fn open_key(
    uri: &Pkcs11Uri,
    options: &DeviceOptions,
) -> Result<Arc<dyn DeviceKey>, IdentityError> {
    if uri.object_type.is_some_and(|t| t != ObjectType::PrivateKey) {
        return Err(device_error(
            uri,
            "this URI names no private key (type is not private)".into(),
        ));
    }
    let keys = find(
        uri,
        options,
        ObjectClass::PRIVATE_KEY,
        ObjectType::PrivateKey,
        true,
        &[
            AttributeType::KeyType,
            AttributeType::Sign,
            AttributeType::AlwaysAuthenticate,
            AttributeType::Sensitive,
            AttributeType::NeverExtractable,
            AttributeType::Extractable,
            AttributeType::Modulus,
            AttributeType::PublicExponent,
            AttributeType::EcParams,
        ],
    )?;
    let key = match keys.as_slice() {
        [one] => one,
        [] => {
            let everything = Pkcs11Uri {
                object: None,
                id: None,
                ..uri.clone()
            };
            let all = find(
                &everything,
                options,
                ObjectClass::PRIVATE_KEY,
                ObjectType::PrivateKey,
                true,
                &[],
            )?;
            let present = if all.is_empty() {
                "the token holds no private key".to_owned()
            } else {
                format!("the token holds {}", list(&all))
            };
            return Err(device_error(
                uri,
                format!("no private key matches; {present}"),
            ));
        }
        many => {
            return Err(device_error(
                uri,
                format!(
                    "{} private keys match; name one with object= or id=: {}",
                    many.len(),
                    list(many)
                ),
            ));
        }
    };
    TokenKey::new(key, uri, options).map(|k| Arc::new(k) as Arc<dyn DeviceKey>)
}

/// A private key in a token.
struct TokenKey {
    token: Arc<Token>,
    /// Names the object in messages and finds it again in a new session.
    uri: Pkcs11Uri,
    algorithm: KeyAlgorithm,
    public: PublicKey,
    always_authenticate: bool,
    reuse_pin: bool,
    pin: Option<SecretSource>,
    options: DeviceOptions,
    facts: Vec<String>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("uri", &self.uri)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    fn new(found: &Found, uri: &Pkcs11Uri, options: &DeviceOptions) -> Result<Self, IdentityError> {
        let name = found.uri.to_string();
        let bad = |reason: String| IdentityError::Device {
            key: name.clone(),
            reason,
        };
        let mut key_type = None;
        let (mut sign, mut always) = (true, false);
        let (mut modulus, mut exponent, mut ec_params) = (None, None, None);
        for attribute in &found.attributes {
            match attribute {
                Attribute::KeyType(t) => key_type = Some(*t),
                Attribute::Sign(b) => sign = *b,
                Attribute::AlwaysAuthenticate(b) => always = *b,
                Attribute::Modulus(m) => modulus = Some(m.clone()),
                Attribute::PublicExponent(e) => exponent = Some(e.clone()),
                Attribute::EcParams(p) => ec_params = Some(p.clone()),
                _ => {}
            }
        }
        if !sign {
            return Err(bad("the key may not sign (CKA_SIGN is false)".into()));
        }
        let algorithm = match key_type {
            Some(KeyType::RSA) => {
                let bits = modulus.as_ref().map_or(0, |m| {
                    let start = m.iter().position(|&b| b != 0).unwrap_or(m.len());
                    (m.len() - start) * 8
                });
                if !(super::RSA_MIN_BITS..=super::RSA_MAX_BITS).contains(&bits) {
                    return Err(bad(format!(
                        "RSA-{bits} is not supported (use RSA 2048-4096, P-256 or P-384)"
                    )));
                }
                KeyAlgorithm::Rsa { bits }
            }
            Some(KeyType::EC) => match ec_params.as_deref().and_then(curve_of) {
                Some(OID_P256) => KeyAlgorithm::EcdsaP256,
                Some(OID_P384) => KeyAlgorithm::EcdsaP384,
                _ => return Err(bad("the EC key is not on P-256 or P-384".into())),
            },
            other => return Err(bad(format!("unsupported key type {other:?}"))),
        };
        let public = match algorithm {
            KeyAlgorithm::Rsa { .. } => device::public_key_from_parts(
                algorithm,
                modulus.as_deref().zip(exponent.as_deref()),
                None,
            ),
            _ => ec_point_of(found, uri, options)?
                .and_then(|point| device::public_key_from_parts(algorithm, None, Some(&point))),
        }
        .ok_or_else(|| {
            bad("cannot find its public key (no public-key object with its id)".into())
        })?;
        let mut facts = protection(&found.attributes);
        if always {
            facts.push("asks for the PIN at each signature (CKA_ALWAYS_AUTHENTICATE)".to_owned());
        }
        if always && !options.reuse_pin {
            return Err(bad(
                "the key asks for the PIN at every signature (CKA_ALWAYS_AUTHENTICATE); give \
                 --reuse-pin to log in again with the same PIN"
                    .into(),
            ));
        }
        Ok(Self {
            token: found.token.clone(),
            uri: found.uri.clone(),
            algorithm,
            public,
            always_authenticate: always,
            reuse_pin: options.reuse_pin,
            pin: pin_source(uri, options),
            options: options.clone(),
            facts,
        })
    }
}

/// What protects a private key, from its `CKA_SENSITIVE`, `CKA_EXTRACTABLE` and
/// `CKA_NEVER_EXTRACTABLE` (a token that does not say is taken at its weakest).
fn protection(attributes: &[Attribute]) -> Vec<String> {
    let (mut sensitive, mut extractable, mut never_extractable) = (false, true, false);
    for attribute in attributes {
        match attribute {
            Attribute::Sensitive(b) => sensitive = *b,
            Attribute::Extractable(b) => extractable = *b,
            Attribute::NeverExtractable(b) => never_extractable = *b,
            _ => {}
        }
    }
    let sensitive = if sensitive {
        "sensitive"
    } else {
        "NOT sensitive"
    };
    let extractable = match (extractable, never_extractable) {
        (false, true) => "never extractable",
        (false, false) => "not extractable (but was once)",
        (true, _) => "EXTRACTABLE",
    };
    vec![sensitive.to_owned(), extractable.to_owned()]
}

/// The named curve's OID in `CKA_EC_PARAMS` (DER `ECParameters`).
fn curve_of(params: &[u8]) -> Option<&'static str> {
    use pkcs8::der::Decode as _;
    let oid = pkcs8::ObjectIdentifier::from_der(params).ok()?.to_string();
    [OID_P256, OID_P384].into_iter().find(|known| *known == oid)
}

/// The EC point of the public-key object with the private key's id, unwrapped from its DER
/// OCTET STRING.
fn ec_point_of(
    key: &Found,
    uri: &Pkcs11Uri,
    options: &DeviceOptions,
) -> Result<Option<Vec<u8>>, IdentityError> {
    use pkcs8::der::Decode as _;
    let (_, id) = label_and_id(&key.attributes);
    let public_uri = Pkcs11Uri {
        object: None,
        id: Some(id),
        object_type: None,
        ..uri.clone()
    };
    let publics = find(
        &public_uri,
        options,
        ObjectClass::PUBLIC_KEY,
        ObjectType::PublicKey,
        pin_source(uri, options).is_some(),
        &[AttributeType::EcPoint],
    )?;
    Ok(publics
        .iter()
        .filter(|f| Arc::ptr_eq(&f.token, &key.token))
        .find_map(|f| {
            f.attributes.iter().find_map(|a| match a {
                Attribute::EcPoint(der) => Some(
                    pkcs8::der::asn1::OctetString::from_der(der)
                        .map(|o| o.as_bytes().to_vec())
                        .unwrap_or_else(|_| der.clone()),
                ),
                _ => None,
            })
        }))
}

impl DeviceKey for TokenKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn location(&self) -> String {
        self.uri.to_string()
    }

    fn facts(&self) -> Vec<String> {
        self.facts.clone()
    }

    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, IdentityError> {
        let pin = self.pin.as_ref().map(|p| (p, &self.options));
        let algorithm = self.algorithm;
        let object_uri = self.uri.to_string();
        let template = template(&self.uri, ObjectClass::PRIVATE_KEY);
        // A key that wants the PIN at each signature gets it through a context-specific
        // login between C_SignInit and the signature, which only multi-part signing allows.
        let context_pin = match (self.always_authenticate && self.reuse_pin, &self.pin) {
            (true, Some(source)) => Some(read_pin(source, &self.options)?),
            _ => None,
        };
        let raw = self.token.with_session(
            pin,
            |session, state| {
                let handle = match state.handles.get(&object_uri) {
                    Some(handle) => *handle,
                    None => {
                        let handles = session.find_objects(&template)?;
                        let [handle] = handles[..] else {
                            return Err(CkError::Pkcs11(
                                RvError::KeyHandleInvalid,
                                cryptoki::context::Function::FindObjects,
                            ));
                        };
                        state.handles.insert(object_uri.clone(), handle);
                        handle
                    }
                };
                match &context_pin {
                    Some(pin) => {
                        let mechanism = hashing_mechanism(algorithm, digest);
                        session.sign_init(&mechanism, handle)?;
                        let auth = cryptoki::types::AuthPin::from(pin.expose().to_owned());
                        session.login(UserType::ContextSpecific, Some(&auth))?;
                        session.sign_update(message)?;
                        session.sign_final()
                    }
                    None => match algorithm {
                        KeyAlgorithm::Rsa { .. } => {
                            let mut info = digest.digest_info_prefix().to_vec();
                            info.extend(digest.hash(message));
                            session.sign(&Mechanism::RsaPkcs, handle, &info)
                        }
                        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                            session.sign(&Mechanism::Ecdsa, handle, &digest.hash(message))
                        }
                    },
                }
            },
            "signing",
        )?;
        match algorithm {
            KeyAlgorithm::Rsa { .. } => Ok(raw),
            _ => device::ecdsa_der_from_raw(algorithm, &raw).map_err(|reason| {
                IdentityError::Device {
                    key: self.location(),
                    reason: reason.to_owned(),
                }
            }),
        }
    }
}

/// The mechanism that hashes and signs in one, for multi-part signing.
fn hashing_mechanism(algorithm: KeyAlgorithm, digest: Digest) -> Mechanism<'static> {
    match (algorithm, digest) {
        (KeyAlgorithm::Rsa { .. }, Digest::Sha256) => Mechanism::Sha256RsaPkcs,
        (KeyAlgorithm::Rsa { .. }, Digest::Sha384) => Mechanism::Sha384RsaPkcs,
        (KeyAlgorithm::Rsa { .. }, Digest::Sha512) => Mechanism::Sha512RsaPkcs,
        (_, Digest::Sha256) => Mechanism::EcdsaSha256,
        (_, Digest::Sha384) => Mechanism::EcdsaSha384,
        (_, Digest::Sha512) => Mechanism::EcdsaSha512,
    }
}

/// One object of a token, for `check` and `read-certificate-data`.
#[derive(Debug, Clone)]
pub struct ObjectSummary {
    pub uri: String,
    /// Facts about a key ("sensitive", "never extractable"), empty for certificates.
    pub facts: Vec<String>,
}

/// The certificates and private keys a URI's token attributes select, for listings.
pub fn list_objects(
    uri: &Pkcs11Uri,
    options: &DeviceOptions,
) -> Result<(Vec<ObjectSummary>, Vec<ObjectSummary>), IdentityError> {
    let broad = Pkcs11Uri {
        object_type: None,
        ..uri.clone()
    };
    let certificates = find(
        &broad,
        options,
        ObjectClass::CERTIFICATE,
        ObjectType::Certificate,
        false,
        &[],
    )?
    .into_iter()
    .map(|f| ObjectSummary {
        uri: f.uri.to_string(),
        facts: Vec::new(),
    })
    .collect();
    let keys = if pin_source(uri, options).is_some() {
        find(
            &broad,
            options,
            ObjectClass::PRIVATE_KEY,
            ObjectType::PrivateKey,
            true,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
            ],
        )?
        .into_iter()
        .map(|f| {
            let facts = protection(&f.attributes);
            ObjectSummary {
                uri: f.uri.to_string(),
                facts,
            }
        })
        .collect()
    } else {
        Vec::new()
    };
    Ok((certificates, keys))
}
