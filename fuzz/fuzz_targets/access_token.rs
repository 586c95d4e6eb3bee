//! Token parsing: `AccessToken::parse` and `secret_hash` on any text never panic; a parsed
//! token prints back as the text it came from; and only the one right text opens the
//! binding.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use needroleshere::binding::{AccessToken, Binding, Mode};

fn binding() -> &'static (Binding, String) {
    static BINDING: OnceLock<(Binding, String)> = OnceLock::new();
    BINDING.get_or_init(|| {
        let (binding, token) = needroleshere_fuzz::samples::sample_binding(Mode::EcsFull);
        let text = token.to_secret_string().expose().to_owned();
        (binding, text)
    })
}

fuzz_target!(|data: &[u8]| {
    let (binding, right) = binding();
    // Mostly arbitrary text; sometimes the right token with a suffix of the input, which
    // lets the fuzzer explore near-misses.
    let text = match data.split_first() {
        Some((0, rest)) => {
            let mut text = right[..right.len().saturating_sub(rest.len().min(8))].to_owned();
            text.push_str(&String::from_utf8_lossy(rest));
            text
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    let Ok(token) = AccessToken::parse(&text) else {
        return;
    };
    assert_eq!(token.to_secret_string().expose(), text);
    let _ = token.secret_hash();
    if binding.accepts(&token) {
        assert_eq!(&text, right, "another text opened the binding");
    }
});
