//! `pkcs11:` URIs (from flags and binding files) and secret sources: parsing never panics;
//! a URI that parses prints (never its `pin-value`) a canonical form that parses back to
//! the same URI less the `pin-value`; a location that parses prints what a binding stores,
//! which parses back to the same location.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::identity::Location;
use needroleshere::identity::pkcs11::Pkcs11Uri;
use needroleshere::secret::SecretSource;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = Pkcs11Uri::parse(text) {
        let printed = uri.to_string();
        if let Some(pin) = &uri.pin_value
            && !pin.expose().is_empty()
        {
            assert!(
                !printed.contains(&format!("pin-value={}", pin.expose())),
                "the pin-value is printed: {printed}"
            );
        }
        let again = Pkcs11Uri::parse(&printed).expect("the canonical form parses");
        let without_pin = Pkcs11Uri {
            pin_value: None,
            ..uri
        };
        assert_eq!(again, without_pin, "{printed}");
    }
    if let Ok(location) = Location::parse(std::ffi::OsStr::new(text))
        && !matches!(&location, Location::Pkcs11(uri) if uri.pin_value.is_some())
    {
        let stored = location.to_os_string();
        let back = Location::parse(&stored).expect("stored form parses");
        assert_eq!(back, location, "{stored:?}");
    }
    if let Ok(source) = SecretSource::parse(text)
        && let Some(stored) = source.to_stored()
    {
        assert_eq!(SecretSource::parse(&stored).ok(), Some(source), "{stored}");
    }
});
