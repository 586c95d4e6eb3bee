//! The pages of a SAML sign-in by form (a provider's HTML): reading never panics, and a form
//! found goes only to http(s), names fields it really has, and sends the password typed, once,
//! whatever the page carried under its name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::signin::saml::{FormKind, Page, read_page};

fuzz_target!(|data: &[u8]| {
    let Ok(html) = std::str::from_utf8(data) else {
        return;
    };
    let url = url::Url::parse("https://idp.example/realms/r/protocol/saml?x=1").expect("url");
    if let Page::Form(form) = read_page(html, &url) {
        assert!(matches!(form.action.scheme(), "http" | "https"), "{}", form.action);
        match form.kind {
            FormKind::Password => assert!(form.password_field.is_some()),
            FormKind::Code => assert!(form.code_field.is_some()),
            FormKind::Username => assert!(form.username_field.is_some()),
            FormKind::Hidden => assert!(!form.fields.is_empty()),
        }
        if let Some(password) = &form.password_field {
            // The password typed replaces anything of that name the page carried.
            let filled = form.filled(&[(password.as_str(), "typed")]);
            let sent: Vec<_> = filled.iter().filter(|(name, _)| name == password).collect();
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].1, "typed");
        }
        let filled = form.filled(&[("x", "y")]);
        assert_eq!(filled.iter().filter(|(name, _)| name == "x").count(), 1);
    }
});
